"""``report_progress`` / ``log_metrics`` from inside a step, on every backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from cli_runs import dagster_execute
from pipelines import reporting

from marin_dagster import build_definitions, log_metrics, report_progress
from marin_dagster.core.graph import StepGraph
from marin_dagster.core.runner import run_step
from marin_dagster.launch.backends.local import LocalBackend
from marin_dagster.launch.backends.ray import RayBackend, RayBackendConfig
from marin_dagster.metadata_keys import METRIC_PREFIX


def test_outside_a_run_they_do_nothing() -> None:
    report_progress(1, 2)
    log_metrics({"loss": 0.5})  # no error, nowhere to write


def _collect(tmp_path: Path, backend: Any) -> list[dict[str, Any]]:
    s = reporting.fit_model(epochs=2, pause_s=0.05)
    graph = StepGraph([s], prefix=str(tmp_path / "out"))
    records: list[dict[str, Any]] = []
    run_step(s, graph, backend=backend, on_report=records.append)
    return records


EXPECTED = [
    {"kind": "progress", "done": 1, "total": 2},
    {"kind": "metrics", "metrics": {"loss": 1.0, "epoch": 1.0}},
    {"kind": "progress", "done": 2, "total": 2},
    {"kind": "metrics", "metrics": {"loss": 0.5, "epoch": 2.0}},
]


def test_local_backend_forwards_every_record_in_order(tmp_path: Path) -> None:
    assert _collect(tmp_path, LocalBackend()) == EXPECTED


def test_ray_backend_forwards_every_record(tmp_path: Path, ray_cluster: str) -> None:
    backend = RayBackend(RayBackendConfig(address=ray_cluster))
    assert _collect(tmp_path, backend) == EXPECTED


def test_in_process_materialization_records_metrics(tmp_path: Path) -> None:
    defs = build_definitions([reporting.fit_model(pause_s=0.0)], prefix=str(tmp_path))
    result = defs.resolve_job_def("all_steps").execute_in_process(
        instance=dg.DagsterInstance.ephemeral()
    )
    (event,) = result.get_asset_materialization_events()
    metadata = event.step_materialization_data.materialization.metadata
    assert metadata[f"{METRIC_PREFIX}loss"].value == 1.0 / 3
    assert metadata[f"{METRIC_PREFIX}epoch"].value == 3.0


def test_reports_show_in_the_event_log_while_the_step_runs(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**subprocess_env, "MARIN_PREFIX": str(tmp_path / "prefix")}
    dagster_execute(env, module="pipelines.reporting", tmp_path=tmp_path)
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        (run,) = instance.get_runs()
        entries = list(instance.all_logs(run.run_id))
    progress = [e.timestamp for e in entries if "fit/model: progress" in (e.user_message or "")]
    assert len(progress) == 3
    (success,) = [
        e.timestamp for e in entries if e.dagster_event and e.dagster_event.is_step_success
    ]
    assert progress[0] < success - 0.4  # logged while the step ran, not all at the end
    (materialized,) = [
        e.dagster_event.step_materialization_data.materialization.metadata
        for e in entries
        if e.dagster_event and e.dagster_event.is_step_materialization
    ]
    assert materialized[f"{METRIC_PREFIX}loss"].value == 1.0 / 3
