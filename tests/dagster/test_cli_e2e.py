"""End to end: ``dagster job execute`` in a subprocess on a fresh ``DAGSTER_HOME``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_runs import REPO_ROOT, dagster_execute
from pipelines import counting
from pipelines._common import CALL_LOG_ENV, read_calls


def step_dirs(prefix: Path) -> dict[str, list[Path]]:
    """Every directory holding a status file, grouped by step name (``{name}-{hash}``)."""
    out: dict[str, list[Path]] = {}
    for status in prefix.rglob(".executor_status"):
        directory = status.parent
        name = directory.relative_to(prefix).as_posix().rsplit("-", 1)[0]
        out.setdefault(name, []).append(directory)
    return out


def statuses(dirs: list[Path]) -> list[str]:
    return [(d / ".executor_status").read_text().strip() for d in dirs]


@pytest.fixture
def counting_env(subprocess_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    env = dict(subprocess_env)
    env["MARIN_PREFIX"] = str(tmp_path / "prefix")
    env[CALL_LOG_ENV] = str(tmp_path / "calls.log")
    return env


def test_cli_run_rerun_and_versioned_change(counting_env: dict[str, str], tmp_path: Path) -> None:
    prefix = Path(counting_env["MARIN_PREFIX"])
    log = tmp_path / "calls.log"

    # 1. First run: every step once, every status SUCCESS.
    dagster_execute(counting_env, module="pipelines.counting")
    assert sorted(read_calls(log)) == sorted(counting.ALL_NAMES)
    first = step_dirs(prefix)
    assert set(first) == set(counting.ALL_NAMES)
    assert all(len(d) == 1 and statuses(d) == ["SUCCESS"] for d in first.values())

    # 2. Rerun: exit 0, no fn called, nothing new written.
    dagster_execute(counting_env, module="pipelines.counting")
    assert sorted(read_calls(log)) == sorted(counting.ALL_NAMES)
    assert step_dirs(prefix) == first

    # 3. Change exactly one versioned value: only it and its dependents rerun, at new paths.
    calls_before = len(read_calls(log))
    changed_env = {**counting_env, counting.PARAM_ENV: "changed"}
    dagster_execute(changed_env, module="pipelines.counting")
    rerun = read_calls(log)[calls_before:]
    assert sorted(rerun) == sorted(counting.AFFECTED_BY_PARAM)
    after = step_dirs(prefix)
    for name in counting.ALL_NAMES:
        if name in counting.AFFECTED_BY_PARAM:
            assert len(after[name]) == 2, name
            new = [d for d in after[name] if d not in first[name]]
            assert len(new) == 1 and new[0] != first[name][0]
            assert statuses(after[name]) == ["SUCCESS", "SUCCESS"]
        else:
            assert after[name] == first[name], name
    new_clean = next(d for d in after["prep/clean"] if d not in first["prep/clean"])
    assert (new_clean / "out.txt").read_text().endswith("prep/clean:changed\n")


def test_example_code_location_twice(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    env = dict(subprocess_env)
    env["MARIN_PREFIX"] = str(tmp_path / "prefix")
    # The example's own knob: 100 optimiser steps (one checkpoint) instead of 300, for speed.
    env["MARIN_EXAMPLE_TRAIN_STEPS"] = "100"
    prefix = Path(env["MARIN_PREFIX"])

    dagster_execute(env, module="definitions", cwd=REPO_ROOT)
    dirs = step_dirs(prefix)
    expected = {
        "data/corpus",
        "tokenize/corpus",
        *(f"{kind}/lm-lr{lr}" for kind in ("train", "eval") for lr in ("0.01", "0.03", "0.1")),
        "eval/learning-curve",
    }
    assert set(dirs) == expected
    assert all(statuses(d) == ["SUCCESS"] for d in dirs.values())
    (curve_dir,) = dirs["eval/learning-curve"]
    curve = json.loads((curve_dir / "curve.json").read_text())
    (train_dir,) = dirs["train/lm-lr0.03"]
    checkpoints = sorted(
        int(p.name.removeprefix("step-")) for p in (train_dir / "checkpoints").glob("step-*")
    )
    assert checkpoints, "the example's training wrote no checkpoint"
    assert [point["step"] for point in curve["curve"]] == checkpoints
    assert sorted(curve["final_evals"]) == sorted(
        str(d[0]) for n, d in dirs.items() if n.startswith("eval/lm-")
    )
    mtimes = {p: os.stat(p / ".executor_status").st_mtime_ns for ds in dirs.values() for p in ds}

    second = dagster_execute(env, module="definitions", cwd=REPO_ROOT)
    log = second.stdout + second.stderr
    for name in expected:
        assert f"{name}: SUCCESS already recorded" in log, name
    assert step_dirs(prefix) == dirs
    assert {p: os.stat(p / ".executor_status").st_mtime_ns for p in mtimes} == mtimes
