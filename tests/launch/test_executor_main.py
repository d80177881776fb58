"""A Marin script with ``executor_main`` runs unchanged through Dagster (subprocesses)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pipelines._common import CALL_LOG_ENV, read_calls

from marin_dagster.core.status import StepStatus, read_status

TESTS_DIR = Path(__file__).resolve().parents[1]
SCRIPT = TESTS_DIR / "pipelines" / "marin_script.py"


def _script(env: dict[str, str], *args: str, ok: bool = True) -> str:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env, cwd=TESTS_DIR, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert (result.returncode == 0) is ok, output[-4000:]
    return output


@pytest.fixture
def script_env(subprocess_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**subprocess_env, CALL_LOG_ENV: str(tmp_path / "calls.log")}


def _status(prefix: Path, name: str) -> StepStatus | None:
    (directory,) = prefix.glob(f"{name}-*")
    return read_status(str(directory))


def test_marin_script_runs_reruns_and_fails_like_marin(
    script_env: dict[str, str], tmp_path: Path
) -> None:
    prefix = tmp_path / "out"
    out = _script(script_env, "--prefix", str(prefix), "--max_concurrent", "1")
    assert "Marin run summary: 2 ran, 0 cache hits, 0 failed, 0 skipped" in out
    assert "[1/2 steps] data/raw: ran" in out and "[2/2 steps] eval/score: ran" in out
    assert read_calls(tmp_path / "calls.log") == ["data/raw", "eval/score"]
    assert _status(prefix, "eval/score") is StepStatus.SUCCESS

    out = _script(script_env, "--prefix", str(prefix))
    assert "Marin run summary: 0 ran, 2 cache hits" in out
    assert len(read_calls(tmp_path / "calls.log")) == 2

    failing = {**script_env, "MARIN_TEST_SCRIPT_FAIL": "1"}
    other = tmp_path / "other"
    out = _script(failing, "--prefix", str(other), ok=False)
    assert "failed eval/score: RuntimeError: score file is empty" in out
    assert _status(other, "eval/score") is StepStatus.FAILED
    assert _status(other, "data/raw") is StepStatus.SUCCESS


def test_dry_run_writes_nothing(script_env: dict[str, str], tmp_path: Path) -> None:
    prefix = tmp_path / "out"
    out = _script(script_env, "--prefix", str(prefix), "--dry_run", "true")
    assert "[DRY RUN] data/raw: run (no status recorded) -> " in out
    assert f"[DRY RUN] eval/score: run (no status recorded) -> {prefix}/eval/score-" in out
    assert not prefix.exists()
    assert read_calls(tmp_path / "calls.log") == []


def test_without_dagster_home_a_temporary_instance_is_used(
    script_env: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in script_env.items() if k != "DAGSTER_HOME"}
    out = _script(env, "--prefix", str(tmp_path / "out"))
    assert "Marin run summary: 2 ran" in out


def test_unguarded_script_is_browsable_by_dagster(script_env: dict[str, str]) -> None:
    unguarded = TESTS_DIR / "pipelines" / "marin_script_unguarded.py"
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "list", "-f", str(unguarded)],
        env=script_env, cwd=TESTS_DIR, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "data/raw" in result.stdout and "eval/score" in result.stdout
