"""A pipeline whose TPU steps map to Fray's LocalClient, run by ``dagster job execute``."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runs import dagster_execute, run_events, step_records
from engines import require
from pipelines.accelerated import tpu_sleeper

from marin_dagster import compute_output_path
from marin_dagster.core.status import StepStatus, read_status
from marin_dagster.metadata_keys import RAN_ON

FRAY_RUN_CONFIG = {"execution": {"config": {"backends": {"tpu": {"fray": {"max_threads": 4}}}}}}


@pytest.fixture
def fray_env(subprocess_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    require("fray", "fray")
    records = tmp_path / "records"
    records.mkdir()
    return {
        **subprocess_env,
        "MARIN_PREFIX": str(tmp_path / "prefix"),
        "MARIN_TEST_SLEEPY_DIR": str(records),
        "MARIN_TEST_SLEEPY_S": "0.2",
        "MARIN_TEST_ACCEL_LABELS": "a,b",
    }


def test_tpu_steps_run_as_fray_jobs(fray_env: dict[str, str], tmp_path: Path) -> None:
    dagster_execute(
        fray_env, module="pipelines.accelerated", run_config=FRAY_RUN_CONFIG, tmp_path=tmp_path
    )
    assert sorted(step_records(tmp_path / "records")) == ["a", "b"]
    ran_on = {}
    for entry in run_events(Path(fray_env["DAGSTER_HOME"])):
        event = entry.dagster_event
        if event is not None and event.is_step_materialization:
            metadata = event.step_materialization_data.materialization.metadata
            ran_on[event.step_key] = metadata[RAN_ON].value
    assert set(ran_on) == {"accelerated__a", "accelerated__b"}
    for step_key, details in ran_on.items():
        assert isinstance(details, dict)
        assert details["backend"] == "fray" and details["status"] == "succeeded"
        label = step_key.rsplit("__", 1)[1]
        assert details["job_id"].startswith(f"local-marin-accelerated-{label}-")


def test_a_failed_fray_job_records_failed_with_frays_error(
    fray_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**fray_env, "MARIN_TEST_ACCEL_LABELS": "a", "MARIN_TEST_SLEEPY_BEHAVIOUR": "raise"}
    result = dagster_execute(
        env,
        module="pipelines.accelerated",
        run_config=FRAY_RUN_CONFIG,
        tmp_path=tmp_path,
        expect_ok=False,
    )
    output = result.stdout + result.stderr
    assert "failed on backend 'fray'" in output
    assert "Fray job local-marin-accelerated-bad-" in output
    assert "ValueError: bad could not read its shard" in output
    prefix = env["MARIN_PREFIX"]
    bad_step = tpu_sleeper(label="bad", seconds=0.2, behaviour="raise")
    assert read_status(compute_output_path(bad_step, prefix=prefix)) is StepStatus.FAILED
    good = compute_output_path(tpu_sleeper(label="a", seconds=0.2), prefix=prefix)
    assert read_status(good) is StepStatus.SUCCESS
