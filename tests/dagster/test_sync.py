"""``sync_from_storage``: outputs on storage appear materialized; nothing runs or changes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from cli_runs import dagster_execute
from pipelines import counting
from pipelines._common import CALL_LOG_ENV, read_calls

from marin_dagster import build_definitions, compute_output_path
from marin_dagster.io_manager import IO_MANAGER_KEY, MarinPathIOManager
from marin_dagster.sync import SYNC_JOB, SYNC_SENSOR, StorageReadError

Calls = Callable[[], list[str]]
Snapshot = dict[str, tuple[bytes, int] | None]


def snapshot(root: Path) -> Snapshot:
    """Every file (bytes, mtime) and directory under ``root``: what 'unchanged' means here."""
    out: Snapshot = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = (p.read_bytes(), p.stat().st_mtime_ns) if p.is_file() else None
    return out


def marin_info(name: str, path: str, **config: Any) -> dict[str, Any]:
    """``.executor_info`` as Marin's executor writes it (``ExecutorStepInfo``, indent=2)."""
    return {
        "name": name,
        "fn_name": "experiments.counting.run_stage",
        "config": {"output_path": path, **config},
        "description": None,
        "override_output_path": None,
        "version": {"name": name, "config": {}, "dependencies": []},
        "dependencies": [],
        "output_path": path,
    }


def write_marin_step(path: str, status: str, info: dict[str, Any] | None = None) -> None:
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / ".executor_status").write_text(status)
    if info is not None:
        (directory / ".executor_info").write_text(json.dumps(info, indent=2))


def sync(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    result = defs.resolve_job_def(SYNC_JOB).execute_in_process(instance=instance)
    assert result.success
    return result


def records(instance: dg.DagsterInstance, name: str, kind: str = "materializations") -> list[Any]:
    fetch = getattr(instance, f"fetch_{kind}")
    return list(fetch(dg.AssetKey(name.split("/")), limit=100).records)


def latest_metadata(instance: dg.DagsterInstance, name: str, kind: str) -> dict[str, Any]:
    (newest, *_) = records(instance, name, kind)
    event = newest.event_log_entry
    data = event.asset_materialization if kind == "materializations" else event.asset_observation
    return dict(data.metadata)


@pytest.fixture
def counting_defs(tmp_path: Path) -> tuple[dg.Definitions, dict[str, str], Path]:
    prefix = tmp_path / "prefix"
    steps = counting.build_steps()
    defs = build_definitions([steps["eval/score"]], prefix=str(prefix))
    paths = {n: compute_output_path(s, prefix=str(prefix)) for n, s in steps.items()}
    return defs, paths, prefix


def test_marin_written_outputs_appear_materialized_without_running(
    counting_defs: tuple[dg.Definitions, dict[str, str], Path], call_log: Calls
) -> None:
    defs, paths, prefix = counting_defs
    raw_info = marin_info("data/raw", paths["data/raw"], param="seed-1")
    write_marin_step(paths["data/raw"], "SUCCESS", raw_info)  # modern single token
    legacy = '{"date": "2024-01-01", "status": "RUNNING"}\n{"date": "x", "status": "SUCCESS"}\n'
    write_marin_step(paths["prep/clean"], legacy)  # Ray-era JSON lines, no info file
    write_marin_step(paths["prep/other"], "RUNNING")
    lock = {"worker_id": "marin-host-1", "timestamp": time.time()}
    (Path(paths["prep/other"]) / ".executor_status.lock").write_text(json.dumps(lock))
    write_marin_step(paths["train/model"], "FAILED")
    before = snapshot(prefix)
    instance = dg.DagsterInstance.ephemeral()

    sync(defs, instance)

    assert call_log() == []
    assert snapshot(prefix) == before
    materialized = {n for n in counting.ALL_NAMES if records(instance, n)}
    assert materialized == {"data/raw", "prep/clean"}
    raw = latest_metadata(instance, "data/raw", "materializations")
    assert str(raw["marin/materialized_path"].path) == paths["data/raw"]
    assert raw["marin/materialized_version"].value == paths["data/raw"].rsplit("-", 1)[1]
    assert raw["marin/executor_info"].data == raw_info
    assert raw["marin/synced_from_storage"].value is True
    assert raw["marin/cache_hit"].value is True
    assert raw["marin/config"].data["param"] == "seed-1"
    assert (
        latest_metadata(instance, "prep/clean", "materializations")["marin/executor_info"].data
        == {}
    )
    # Provenance as a run records it: code and data version (the Marin hash), inputs' versions.
    raw_hash, clean_hash = (paths[n].rsplit("-", 1)[1] for n in ("data/raw", "prep/clean"))
    (event,) = records(instance, "data/raw")
    assert event.event_log_entry.asset_materialization.tags == {
        "dagster/code_version": raw_hash,
        "dagster/data_version": raw_hash,
    }
    (event,) = records(instance, "prep/clean")
    tags = event.event_log_entry.asset_materialization.tags
    assert tags["dagster/data_version"] == clean_hash
    assert tags["dagster/input_data_version/data/raw"] == raw_hash
    running = latest_metadata(instance, "prep/other", "observations")
    assert running["marin/storage_status"].value == "RUNNING"
    assert running["marin/lease_holder"].value == "marin-host-1"
    assert latest_metadata(instance, "train/model", "observations")[
        "marin/storage_status"
    ].value == ("FAILED")
    assert records(instance, "eval/score") == records(instance, "eval/score", "observations") == []

    # A second sync records nothing new: same paths, same statuses.
    def counts() -> dict[str, tuple[int, int]]:
        return {
            n: (len(records(instance, n)), len(records(instance, n, "observations"))) for n in paths
        }

    before_resync = counts()
    sync(defs, instance)
    assert counts() == before_resync

    # The running step finishes on Marin's side: materialized, and its RUNNING is superseded.
    (Path(paths["prep/other"]) / ".executor_status").write_text("SUCCESS")
    sync(defs, instance)
    assert len(records(instance, "prep/other")) == 1
    done = latest_metadata(instance, "prep/other", "observations")
    assert done["marin/storage_status"].value == "SUCCESS"
    assert call_log() == []


def test_outputs_of_another_instance_appear_materialized(
    subprocess_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = tmp_path / "prefix"
    log = tmp_path / "calls.log"
    env = {**subprocess_env, "MARIN_PREFIX": str(prefix), CALL_LOG_ENV: str(log)}
    dagster_execute(env, module="pipelines.counting")  # another DAGSTER_HOME
    assert sorted(read_calls(log)) == sorted(counting.ALL_NAMES)
    monkeypatch.setenv(CALL_LOG_ENV, str(log))  # any fn called from here would be logged
    steps = counting.build_steps()
    defs = build_definitions([steps["eval/score"]], prefix=str(prefix))
    instance = dg.DagsterInstance.ephemeral()
    assert all(records(instance, n) == [] for n in counting.ALL_NAMES)
    before = snapshot(prefix)

    sync(defs, instance)

    assert sorted(read_calls(log)) == sorted(counting.ALL_NAMES)  # no new call
    assert snapshot(prefix) == before
    for name, s in steps.items():
        metadata = latest_metadata(instance, name, "materializations")
        path = compute_output_path(s, prefix=str(prefix))
        assert str(metadata["marin/materialized_path"].path) == path, name
        info = metadata["marin/executor_info"].data
        assert info["output_path"] == path and "run_stage" in info["fn_name"], name
    sync(defs, instance)
    assert all(len(records(instance, n)) == 1 for n in counting.ALL_NAMES)


def test_sync_job_from_the_command_line(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    """``dagster job execute -j sync_from_storage``, as the README says, in a second instance."""
    prefix = tmp_path / "prefix"
    log = tmp_path / "calls.log"
    env = {**subprocess_env, "MARIN_PREFIX": str(prefix), CALL_LOG_ENV: str(log)}
    dagster_execute(env, module="pipelines.counting")
    second_home = tmp_path / "second_home"
    second_home.mkdir()
    second = {**env, "DAGSTER_HOME": str(second_home)}
    before = snapshot(prefix)

    dagster_execute(second, module="pipelines.counting", job=SYNC_JOB)
    dagster_execute(second, module="pipelines.counting", job=SYNC_JOB)  # idempotent

    assert sorted(read_calls(log)) == sorted(counting.ALL_NAMES)  # the first run's calls only
    assert snapshot(prefix) == before
    with dg.DagsterInstance.from_config(str(second_home)) as instance:
        for name in counting.ALL_NAMES:
            (record,) = records(instance, name)
            metadata = record.event_log_entry.asset_materialization.metadata
            assert metadata["marin/synced_from_storage"].value is True, name


def test_sensor_is_off_by_default_and_records_the_same_events(
    counting_defs: tuple[dg.Definitions, dict[str, str], Path], call_log: Calls
) -> None:
    defs, paths, prefix = counting_defs
    for name in ("data/raw", "prep/other"):
        write_marin_step(paths[name], "SUCCESS", marin_info(name, paths[name]))
    sensor = defs.resolve_sensor_def(SYNC_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    instance = dg.DagsterInstance.ephemeral()
    before = snapshot(prefix)

    resources = {IO_MANAGER_KEY: MarinPathIOManager(prefix=str(prefix))}  # as Definitions give
    result = sensor(dg.build_sensor_context(instance=instance, resources=resources))

    assert isinstance(result, dg.SensorResult)
    events = list(result.asset_events or [])
    assert {e.asset_key.to_user_string() for e in events} == {"data/raw", "prep/other"}
    assert all(isinstance(e, dg.AssetMaterialization) for e in events)
    for event in events:
        instance.report_runless_asset_event(event)
    again = sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert isinstance(again, dg.SkipReason)
    assert call_log() == []
    assert snapshot(prefix) == before


def test_a_directory_in_place_of_the_status_names_the_step(
    counting_defs: tuple[dg.Definitions, dict[str, str], Path],
) -> None:
    defs, paths, _ = counting_defs
    (Path(paths["prep/clean"]) / ".executor_status").mkdir(parents=True)
    job = defs.resolve_job_def(SYNC_JOB)
    with pytest.raises(StorageReadError, match=r"step 'prep/clean'.*\.executor_status"):
        job.execute_in_process(instance=dg.DagsterInstance.ephemeral())
