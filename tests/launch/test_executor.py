"""``marin_executor`` end to end: ``dagster job execute`` subprocesses on a fresh instance.

What is asserted comes from the steps themselves (their own records of when and where they
ran), the status files, and the run's event log read back from the instance.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_runs import (
    dagster_execute,
    overlapping,
    pairwise_disjoint,
    run_events,
    run_events_of_last_run,
    step_records,
)
from pipelines._common import CALL_LOG_ENV, read_calls

from marin_dagster.core.status import StepStatus, read_status


@pytest.fixture
def sleepy_env(subprocess_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    records = tmp_path / "records"
    records.mkdir()
    env = dict(subprocess_env)
    env.update(
        {
            "MARIN_PREFIX": str(tmp_path / "prefix"),
            CALL_LOG_ENV: str(tmp_path / "calls.log"),
            "MARIN_TEST_SLEEPY_DIR": str(records),
            "MARIN_TEST_SLEEPY_N": "3",
            "MARIN_TEST_SLEEPY_S": "1.5",
        }
    )
    return env


def test_independent_steps_run_at_the_same_time(sleepy_env: dict[str, str], tmp_path: Path):
    dagster_execute(sleepy_env, tmp_path=tmp_path)
    records = step_records(tmp_path / "records")
    assert sorted(records) == ["s0", "s1", "s2"]
    assert overlapping(list(records.values())), records
    assert len({r["pid"] for r in records.values()}) == 3  # each in its own worker process
    assert os.getpid() not in {r["pid"] for r in records.values()}


def test_max_concurrent_from_run_config_overrides_code(
    sleepy_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**sleepy_env, "MARIN_TEST_SLEEPY_S": "0.5"}
    dagster_execute(
        env, tmp_path=tmp_path, run_config={"execution": {"config": {"max_concurrent": 1}}}
    )
    assert pairwise_disjoint(list(step_records(tmp_path / "records").values()))


def test_code_settings_apply_and_run_config_wins(sleepy_env: dict[str, str], tmp_path: Path):
    env = {**sleepy_env, "MARIN_TEST_SLEEPY_MAX_CONCURRENT": "1", "MARIN_TEST_SLEEPY_S": "0.5"}
    dagster_execute(env, tmp_path=tmp_path)  # max_concurrent=1 from build_definitions
    first = step_records(tmp_path / "records")
    assert pairwise_disjoint(list(first.values()))

    env["MARIN_PREFIX"] = str(tmp_path / "prefix2")  # a fresh prefix, so the steps run again
    env["MARIN_TEST_SLEEPY_S"] = "1.5"
    run_config = {"execution": {"config": {"max_concurrent": None, "backends": {}}}}
    dagster_execute(env, tmp_path=tmp_path, run_config=run_config)  # null keeps code's value
    assert pairwise_disjoint(list(step_records(tmp_path / "records").values()))

    env["MARIN_PREFIX"] = str(tmp_path / "prefix3")
    dagster_execute(
        env, tmp_path=tmp_path, run_config={"execution": {"config": {"max_concurrent": 3}}}
    )
    assert overlapping(list(step_records(tmp_path / "records").values()))


def test_step_error_fails_the_step_with_its_traceback(sleepy_env: dict[str, str], tmp_path: Path):
    env = {**sleepy_env, "MARIN_TEST_SLEEPY_BEHAVIOUR": "raise", "MARIN_TEST_SLEEPY_S": "0.1"}
    result = dagster_execute(env, tmp_path=tmp_path, expect_ok=False)
    output = result.stdout + result.stderr
    assert "ValueError: bad could not read its shard" in output
    assert "step 'sleepy/bad' failed on backend 'local'" in output
    prefix = Path(env["MARIN_PREFIX"])
    (bad_dir,) = (prefix / "sleepy").glob("bad-*")
    assert read_status(str(bad_dir)) is StepStatus.FAILED
    for good in (prefix / "sleepy").glob("s*-*"):
        assert read_status(str(good)) is StepStatus.SUCCESS  # independent steps still ran
    events = [e.dagster_event for e in run_events(Path(env["DAGSTER_HOME"]))]
    assert [e.step_key for e in events if e and e.is_step_failure] == ["sleepy__bad"]


def test_dead_step_worker_gets_failed_status_and_its_reason(
    sleepy_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**sleepy_env, "MARIN_TEST_SLEEPY_BEHAVIOUR": "kill-worker", "MARIN_TEST_SLEEPY_S": "0.1"}
    result = dagster_execute(env, tmp_path=tmp_path, expect_ok=False)
    output = result.stdout + result.stderr
    assert "was killed by SIGKILL" in output and "FAILED recorded at" in output
    (bad_dir,) = (Path(env["MARIN_PREFIX"]) / "sleepy").glob("bad-*")
    assert read_status(str(bad_dir)) is StepStatus.FAILED
    assert not (bad_dir / ".executor_status.lock").exists()


def test_force_rerun_from_run_config(sleepy_env: dict[str, str], tmp_path: Path) -> None:
    env = {**sleepy_env, "MARIN_TEST_SLEEPY_S": "0.05"}
    dagster_execute(env, tmp_path=tmp_path)
    dagster_execute(env, tmp_path=tmp_path)  # all cache hits
    calls = tmp_path / "calls.log"
    assert sorted(read_calls(calls)) == ["s0", "s1", "s2"]
    run_config = {"resources": {"marin": {"config": {"force_rerun": ["sleepy/s1"]}}}}
    dagster_execute(env, tmp_path=tmp_path, run_config=run_config)
    assert sorted(read_calls(calls)) == ["s0", "s1", "s1", "s2"]


def test_example_sweep_runs_concurrently(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    env = {
        **subprocess_env,
        "MARIN_PREFIX": str(tmp_path / "prefix"),
        "MARIN_EXAMPLE_TRAIN_STEPS": "150",
    }
    dagster_execute(env, module="definitions", tmp_path=tmp_path)
    events = run_events(Path(env["DAGSTER_HOME"]))
    spans: dict[str, list[float]] = {}
    for entry in events:
        event = entry.dagster_event
        if event and event.step_key and event.step_key.startswith("train__"):
            if event.is_step_start or event.is_step_success:
                spans.setdefault(event.step_key, []).append(entry.timestamp)
    assert len(spans) == 3
    starts = [min(s) for s in spans.values()]
    ends = [max(s) for s in spans.values()]
    assert max(starts) < min(ends), spans


def test_a_run_says_what_it_did(sleepy_env: dict[str, str], tmp_path: Path) -> None:
    env = {**sleepy_env, "MARIN_TEST_SLEEPY_S": "0.05"}
    first = dagster_execute(env, tmp_path=tmp_path)
    out = first.stdout + first.stderr
    assert "Marin run summary: 3 ran, 0 cache hits, 0 failed, 0 skipped" in out
    assert all(f"sleepy/s{i}: ran in " in out for i in range(3))

    second = dagster_execute(env, tmp_path=tmp_path)
    out = second.stdout + second.stderr
    assert "Marin run summary: 0 ran, 3 cache hits, 0 failed, 0 skipped" in out
    assert "sleepy/s1: SUCCESS already recorded at " in out and "(cache hit)" in out

    failing = {**env, "MARIN_TEST_SLEEPY_BEHAVIOUR": "raise"}
    third = dagster_execute(failing, tmp_path=tmp_path, expect_ok=False)
    out = third.stdout + third.stderr
    assert "Marin run summary: 0 ran, 3 cache hits, 1 failed, 0 skipped" in out
    assert "failed sleepy/bad: ValueError: bad could not read its shard" in out
    summaries = [
        e.dagster_event.message or ""
        for e in run_events_of_last_run(Path(env["DAGSTER_HOME"]))
        if e.dagster_event and e.dagster_event.is_engine_event
    ]
    assert any(m.startswith("Marin run summary: 0 ran, 3 cache hits, 1 failed") for m in summaries)
