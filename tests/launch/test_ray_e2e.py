"""``dagster job execute`` with GPU and TPU steps mapped to a real local Ray cluster.

Each step proves from inside where it ran (the record it writes: Ray's assigned resources,
``CUDA_VISIBLE_DEVICES``, TPU host and slice), and the run's event log carries the same in
``marin/ran_on``. A TPU type the cluster lacks fails the run before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_runs import dagster_execute, run_events, step_records

from marin_dagster.metadata_keys import RAN_ON


@pytest.fixture
def mixed_env(subprocess_env: dict[str, str], tmp_path: Path, ray_cluster: str) -> dict[str, str]:
    records = tmp_path / "records"
    records.mkdir()
    return {
        **subprocess_env,
        "RAY_AUTH_MODE": "disabled",
        "MARIN_PREFIX": str(tmp_path / "prefix"),
        "MARIN_TEST_SLEEPY_DIR": str(records),
    }


def _ray_config(address: str, records: Path, classes: tuple[str, ...]) -> dict[str, Any]:
    ray = {"ray": {"address": address, "runtime_env": {"env_vars": {
        "MARIN_TEST_SLEEPY_DIR": str(records)}}}}  # fmt: skip
    return {"execution": {"config": {"backends": {c: ray for c in classes}}}}


def test_each_step_runs_on_the_resources_it_asked_for(
    mixed_env: dict[str, str], tmp_path: Path, ray_cluster: str
) -> None:
    records_dir = tmp_path / "records"
    run_config = _ray_config(ray_cluster, records_dir, ("gpu", "tpu"))
    dagster_execute(mixed_env, module="pipelines.mixed", run_config=run_config, tmp_path=tmp_path)
    records = step_records(records_dir)

    cpu = records["cpu"]  # cpu unmapped: local, not on Ray
    assert cpu["ray_assigned"] is None and not cpu["tpu_env"]

    gpu = records["gpu"]
    assert gpu["ray_assigned"]["GPU"] == 1.0
    assert gpu["cuda_visible_devices"] in ("0", "1")

    tpu1 = records["tpu1-0-0"]  # v4-8: one host of 4 chips, the slice's head
    assert tpu1["ray_assigned"]["TPU"] == 4.0 and tpu1["ray_assigned"]["TPU-v4-8-head"] == 1.0
    assert tpu1["tpu_env"]["MARIN_TPU_TYPE"] == "v4-8"

    hosts = {k: r for k, r in records.items() if k.startswith("tpu4-")}
    assert sorted(hosts) == ["tpu4-0-0", "tpu4-0-1", "tpu4-0-2", "tpu4-0-3"]  # v5e-16: 4 hosts
    assert all(r["ray_assigned"]["TPU"] == 4.0 for r in hosts.values())
    assert {r["tpu_env"]["MARIN_TPU_HOSTS_PER_SLICE"] for r in hosts.values()} == {"4"}

    ran_on: dict[str, Any] = {}
    for entry in run_events(Path(mixed_env["DAGSTER_HOME"])):
        event = entry.dagster_event
        if event and event.is_step_materialization:
            metadata = event.step_materialization_data.materialization.metadata
            if RAN_ON in metadata:
                ran_on[event.step_key or ""] = metadata[RAN_ON].value
    assert ran_on["mixed__cpu"]["backend"] == "local"
    assert ran_on["mixed__gpu"]["backend"] == "ray"
    assert ran_on["mixed__tpu4"]["backend"] == "ray"


def test_a_tpu_the_cluster_lacks_fails_before_anything_runs(
    mixed_env: dict[str, str], tmp_path: Path, ray_cluster: str
) -> None:
    env = {**mixed_env, "MARIN_TEST_MIXED_TPU": "v6e-8"}
    run_config = _ray_config(ray_cluster, tmp_path / "records", ("tpu",))
    result = dagster_execute(
        env, module="pipelines.mixed", run_config=run_config, tmp_path=tmp_path, expect_ok=False
    )
    output = result.stdout + result.stderr
    assert "step 'mixed/tpu1' asks for tpu v6e-8" in output
    assert f"backend ray at {ray_cluster}, which cannot serve it" in output
    assert "Nothing was run" in output
    assert not list(Path(env["MARIN_PREFIX"]).rglob(".executor_status"))  # nothing written
    assert not list((tmp_path / "records").iterdir())  # no step function ran
