"""Shared fixtures: the ``pipelines`` fixture package on ``sys.path``, a call log, memory://."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec
import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
if str(TESTS_DIR) not in sys.path:  # makes `import pipelines.counting` work
    sys.path.insert(0, str(TESTS_DIR))

from pipelines._common import CALL_LOG_ENV, read_calls  # noqa: E402


@pytest.fixture
def call_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str]]:
    """Point ``$MARIN_TEST_CALL_LOG`` at a fresh file; return a reader of the calls so far."""
    path = tmp_path / "calls.log"
    monkeypatch.setenv(CALL_LOG_ENV, str(path))
    return lambda: read_calls(path)


@pytest.fixture
def memory_fs() -> Iterator[fsspec.AbstractFileSystem]:
    """fsspec's memory filesystem, emptied before and after the test."""
    fs = fsspec.filesystem("memory")
    fs.store.clear()
    fs.pseudo_dirs[:] = [""]
    yield fs
    fs.store.clear()
    fs.pseudo_dirs[:] = [""]


@pytest.fixture
def restore_recursion_limit() -> Iterator[None]:
    """Undo any ``sys.setrecursionlimit`` made during the test."""
    before = sys.getrecursionlimit()
    yield
    sys.setrecursionlimit(before)


@pytest.fixture
def subprocess_env(tmp_path: Path) -> dict[str, str]:
    """An environment for CLI runs: fresh ``DAGSTER_HOME``, ``pipelines`` importable."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = dict(os.environ)
    env["DAGSTER_HOME"] = str(home)
    paths = [str(TESTS_DIR), str(REPO_ROOT), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    for name in ("MARIN_PREFIX", CALL_LOG_ENV, "MARIN_TEST_CLEAN_PARAM"):
        env.pop(name, None)
    return env
