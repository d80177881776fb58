"""What asset pages show: current definition values never shadowed, config table, links,
view nodes that are not steps, and the per-step output check."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from pipelines import counting, lineage

from marin_dagster import build_definitions, compute_output_path
from marin_dagster.sync import SYNC_JOB

Calls = Callable[[], list[str]]
CHECK = "output_status_success"


def spec_of(defs: dg.Definitions, name: str) -> dg.AssetSpec:
    key = dg.AssetKey(name.split("/"))
    return defs.resolve_assets_def(key).get_asset_spec(key)


def run_all(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def("all_steps").execute_in_process(instance=instance)


def run_checks_only(
    defs: dg.Definitions, instance: dg.DagsterInstance, *names: str
) -> dg.ExecuteInProcessResult:
    """Execute the output checks of ``names`` alone, as the UI's "Execute" on a check does."""
    checks = {dg.AssetCheckKey(dg.AssetKey(n.split("/")), CHECK) for n in names}
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(), asset_check_selection=checks
    )
    return job.execute_in_process(instance=instance, raise_on_error=False)


def passed_by_step(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {
        e.asset_key.to_user_string(): e.passed
        for e in result.get_asset_check_evaluations()
        if e.check_name == CHECK
    }


def test_no_event_metadata_key_shadows_a_definition_key(tmp_path: Path, call_log: Calls) -> None:
    """The UI shows an event's value in place of a definition's of the same label."""
    prefix = tmp_path / "prefix"
    steps = counting.build_steps()
    defs = build_definitions([steps["eval/score"]], prefix=str(prefix))
    definition_labels = {
        label for name in counting.ALL_NAMES for label in spec_of(defs, name).metadata
    }
    assert {"marin/output_path", "marin/version", "marin/config_summary"} <= definition_labels
    run_labels: set[str] = set()
    for event in run_all(defs, dg.DagsterInstance.ephemeral()).get_asset_materialization_events():
        run_labels |= set(event.materialization.metadata)
    synced = dg.DagsterInstance.ephemeral()  # a fresh instance: the sync records every step
    sync_result = defs.resolve_job_def(SYNC_JOB).execute_in_process(instance=synced)
    sync_labels: set[str] = set()
    for event in sync_result.get_asset_materialization_events():
        sync_labels |= set(event.materialization.metadata)
    assert "marin/materialized_path" in run_labels and "marin/executor_info" in sync_labels
    assert run_labels - {"marin/ran_on"} <= sync_labels  # ran_on: where fn ran (not synced)
    assert definition_labels.isdisjoint(run_labels | sync_labels)


def test_config_summary_is_a_table(tmp_path: Path) -> None:
    steps = counting.build_steps()
    defs = build_definitions([steps["eval/score"]], prefix=str(tmp_path))
    spec = spec_of(defs, "prep/clean")
    table = spec.metadata["marin/config_summary"]
    assert isinstance(table, dg.TableMetadataValue)
    assert [c.name for c in table.schema.columns] == ["field", "value", "note"]
    rows = {r.data["field"]: (r.data["value"], r.data["note"]) for r in table.records}
    assert rows == {
        "label": ("'prep/clean'", ""),
        "inputs.[0]": ("→ data/raw", ""),  # config_summary's own spelling
        "param": ("'a'", "versioned"),
        "output_path": ("<this step's output>", ""),
    }
    assert "Config:" not in (spec.description or "")  # the table replaces the text


def test_gs_output_paths_link_to_the_cloud_console() -> None:
    steps = counting.build_steps()
    defs = build_definitions([steps["eval/score"]], prefix="gs://my-bucket/marin")
    path = compute_output_path(steps["train/model"], prefix="gs://my-bucket/marin")
    metadata = spec_of(defs, "train/model").metadata
    assert str(metadata["marin/output_path"].path) == path
    url = metadata["marin/output_url"]
    assert isinstance(url, dg.UrlMetadataValue)
    assert url.url == (
        "https://console.cloud.google.com/storage/browser/my-bucket/marin/"
        + path.removeprefix("gs://my-bucket/marin/")
    )
    local = build_definitions([steps["eval/score"]], prefix="/data/marin")
    assert "marin/output_url" not in spec_of(local, "train/model").metadata


def test_nonblocking_view_nodes_are_marked_as_views_not_steps(tmp_path: Path) -> None:
    defs = build_definitions(lineage.ROOTS, prefix=str(tmp_path))
    graph = defs.resolve_asset_graph()
    view_key = dg.AssetKey(["train", "model.nonblocking"])
    view = graph.get(view_key)
    assert not view.is_executable and not view.is_materializable
    assert view.kinds == {"view"}
    assert view.tags["marin/node"] == "nonblocking_view"
    assert (view.description or "").startswith("Not a step")
    step = graph.get(dg.AssetKey(["train", "model"]))
    assert "marin" in step.kinds and step.tags["marin/node"] == "step"
    check_keys = {c.asset_key for c in graph.asset_check_keys}
    assert view_key not in check_keys
    assert dg.AssetKey(["train", "model"]) in check_keys


def test_output_check_runs_with_each_step_and_fails_on_missing_or_failed_status(
    tmp_path: Path, call_log: Calls
) -> None:
    prefix = tmp_path / "prefix"
    steps = counting.build_steps()
    defs = build_definitions([steps["eval/score"]], prefix=str(prefix))
    instance = dg.DagsterInstance.ephemeral()

    result = run_all(defs, instance)

    assert result.success
    assert passed_by_step(result) == dict.fromkeys(counting.ALL_NAMES, True)
    # The check ran inside each step's own op (same run, same step).
    evaluations = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert {e.step_key for e in evaluations} == {
        "data__raw",
        "prep__clean",
        "prep__other",
        "train__model",
        "eval__score",
    }
    calls = call_log()

    paths = {n: compute_output_path(s, prefix=str(prefix)) for n, s in steps.items()}
    (Path(paths["prep/clean"]) / ".executor_status").write_text("FAILED")
    shutil.rmtree(paths["train/model"])
    checked = run_checks_only(defs, instance, "prep/clean", "train/model", "data/raw")

    assert passed_by_step(checked) == {"prep/clean": False, "train/model": False, "data/raw": True}
    assert checked.get_asset_materialization_events() == []  # checks alone run no step
    assert call_log() == calls
    descriptions: dict[str, Any] = {
        e.asset_key.to_user_string(): e.description for e in checked.get_asset_check_evaluations()
    }
    assert descriptions["prep/clean"].endswith("FAILED")
    assert descriptions["train/model"].endswith("no status")


@pytest.mark.parametrize("status", ["FAILED", "RUNNING", ""])
def test_output_check_result_for_each_non_success_status(tmp_path: Path, status: str) -> None:
    from marin_dagster.assets import output_check

    path = tmp_path / "step-abc123"
    path.mkdir()
    (path / ".executor_status").write_text(status)
    result = output_check(dg.AssetKey("step"), str(path))
    assert result.passed is False
    (path / ".executor_status").write_text("SUCCESS")
    assert output_check(dg.AssetKey("step"), str(path)).passed is True
