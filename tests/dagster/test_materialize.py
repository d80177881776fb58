"""In-process materialisation: status files, resolved configs, cache hits, failures, leases."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import fsspec
import pytest
from pipelines import chain, counting, lineage

from marin_dagster import (
    ExecutorStep,
    StepContext,
    StepRef,
    build_definitions,
    compute_output_path,
    step,
    versioned,
)
from marin_dagster.core.runner import RunOptions
from marin_dagster.core.status import StepStatus, read_info, read_status
from marin_dagster.io_manager import IO_MANAGER_KEY, MarinPathIOManager

Calls = Callable[[], list[str]]


def run_all(defs: dg.Definitions, instance: dg.DagsterInstance | None = None) -> Any:
    job = defs.resolve_job_def("all_steps")
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=False
    )


def materializations(result: Any) -> dict[str, dict[str, Any]]:
    """Materialisation metadata by step name (``/``-joined asset key)."""
    out: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        out["/".join(event.asset_key.path)] = dict(event.materialization.metadata)
    return out


def failure_text(result: Any) -> str:
    """Every step failure's message and causes, joined."""
    parts: list[str] = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            parts.append(error.message)
            error = error.cause
    return "\n".join(parts)


def status_file(path: str) -> Path:
    return Path(path) / ".executor_status"


def paths_of(steps: dict[str, ExecutorStep[Any]], prefix: str) -> dict[str, str]:
    return {name: compute_output_path(s, prefix=prefix) for name, s in steps.items()}


# --- success, info files, metadata, cache hits ------------------------------------------------


def test_every_step_succeeds_with_status_info_and_metadata(tmp_path: Path, call_log: Calls) -> None:
    prefix = str(tmp_path / "out")
    steps = counting.build_steps()
    defs = build_definitions([steps["eval/score"]], prefix=prefix)
    paths = paths_of(steps, prefix)

    result = run_all(defs)

    assert result.success
    assert sorted(call_log()) == sorted(counting.ALL_NAMES)
    metas = materializations(result)
    assert set(metas) == set(counting.ALL_NAMES)
    for name, s in steps.items():
        path = paths[name]
        assert status_file(path).read_text().strip() == "SUCCESS"
        info = json.loads((Path(path) / ".executor_info").read_text())
        assert info["name"] == name
        assert "run_stage" in info["fn_name"]
        assert info["output_path"] == path
        assert info["override_output_path"] is None
        assert info["version"]["name"] == name
        assert info["config"]["output_path"] == path
        assert info["config"]["param"] == s.config.param.value
        assert info["dependencies"] == [paths[d.name] for d in _deps(s)]

        meta = metas[name]
        assert str(meta["marin/materialized_path"].path) == path
        assert meta["marin/cache_hit"].value is False
        assert meta["marin/duration_s"].value >= 0
        assert meta["marin/config"].data == info["config"]
    assert Path(paths["eval/score"], "out.txt").read_text() == (
        "data/raw:seed-1\nprep/clean:a\ntrain/model:m\ndata/raw:seed-1\nprep/other:b\neval/score:s\n"
    )


def _deps(s: ExecutorStep[Any]) -> list[ExecutorStep[Any]]:
    return [ref.step for ref in s.config.inputs]


def test_second_run_calls_no_fn_and_reports_cache_hits(tmp_path: Path, call_log: Calls) -> None:
    prefix = str(tmp_path / "out")
    steps = counting.build_steps()
    defs = build_definitions([steps["eval/score"]], prefix=prefix)
    instance = dg.DagsterInstance.ephemeral()
    assert run_all(defs, instance).success
    calls_after_first = call_log()
    assert len(calls_after_first) == len(counting.ALL_NAMES)

    second = run_all(defs, instance)

    assert second.success
    assert call_log() == calls_after_first
    metas = materializations(second)
    assert set(metas) == set(counting.ALL_NAMES)
    assert all(m["marin/cache_hit"].value is True for m in metas.values())
    paths = paths_of(steps, prefix)
    assert all(str(metas[n]["marin/materialized_path"].path) == paths[n] for n in paths)


LEGACY_SUCCESS = (
    '{"date": "2024-05-01T10:00:00", "status": "WAITING", "message": null}\n'
    '{"date": "2024-05-01T10:00:01", "status": "RUNNING", "message": null}\n'
    '{"date": "2024-05-01T10:09:00", "status": "SUCCESS", "message": null}\n'
)


@pytest.mark.parametrize("content", ["SUCCESS", LEGACY_SUCCESS], ids=["modern", "legacy"])
def test_hand_written_success_status_is_honoured(
    tmp_path: Path, call_log: Calls, content: str
) -> None:
    prefix = str(tmp_path / "out")
    steps = counting.build_steps()
    paths = paths_of(steps, prefix)
    # As a Marin executor would have left it: the output and a SUCCESS status.
    for name in ("data/raw", "prep/clean"):
        os.makedirs(paths[name])
        Path(paths[name], "out.txt").write_text(f"{name}:by-marin\n")
        status_file(paths[name]).write_text(content)

    result = run_all(build_definitions([steps["eval/score"]], prefix=prefix))

    assert result.success
    assert sorted(call_log()) == sorted(["prep/other", "train/model", "eval/score"])
    metas = materializations(result)
    assert metas["data/raw"]["marin/cache_hit"].value is True
    assert metas["prep/clean"]["marin/cache_hit"].value is True
    assert metas["train/model"]["marin/cache_hit"].value is False
    assert not Path(paths["data/raw"], ".executor_info").exists()
    assert Path(paths["train/model"], "out.txt").read_text().startswith("prep/clean:by-marin\n")


# --- fn receives the resolved config ----------------------------------------------------------


@dataclass(frozen=True)
class Inner:
    path: Any
    scale: Any


@dataclass(frozen=True)
class ConsumerConfig:
    source: Any
    source_sub: Any
    nested: list[Inner]
    table: dict[str, Any]
    raw: Any
    own: Any
    own_sub: Any
    lr: Any
    plain: int


SEEN: list[Any] = []


def record_config(config: Any) -> None:
    SEEN.append(config)


@step(name="resolve/source", fn=record_config)
def source_step(ctx: StepContext) -> dict[str, Any]:
    return {"out": ctx.output, "n": versioned(3)}


@step(name="resolve/consumer", fn=record_config)
def consumer_step(ctx: StepContext, source: ExecutorStep[Any]) -> ConsumerConfig:
    ref = ctx.require(source)
    return ConsumerConfig(
        source=ref,
        source_sub=source / "train",
        nested=[Inner(path=ref / "a", scale=versioned(0.5))],
        table={"k": ref, "v": versioned("x")},
        raw=StepRef.hardcoded("raw/corpus"),
        own=ctx.output,
        own_sub=ctx.output_subpath("ckpt"),
        lr=versioned(1e-3),
        plain=7,
    )


def test_fn_receives_the_resolved_config(tmp_path: Path) -> None:
    SEEN.clear()
    prefix = str(tmp_path / "out")
    source = source_step()
    consumer = consumer_step(source)
    src = compute_output_path(source, prefix=prefix)
    own = compute_output_path(consumer, prefix=prefix)

    assert run_all(build_definitions([consumer], prefix=prefix)).success

    assert len(SEEN) == 2
    assert SEEN[0] == {"out": src, "n": 3}
    got = SEEN[1]
    assert type(got) is ConsumerConfig
    assert got == ConsumerConfig(
        source=src,
        source_sub=f"{src}/train",
        nested=[Inner(path=f"{src}/a", scale=0.5)],
        table={"k": src, "v": "x"},
        raw=os.path.join(prefix, "raw/corpus"),
        own=own,
        own_sub=f"{own}/ckpt",
        lr=1e-3,
        plain=7,
    )
    assert all(type(v) is str for v in (got.source, got.source_sub, got.own, got.raw))
    assert type(got.nested[0]) is Inner


# --- failures -----------------------------------------------------------------------------------


def failing_chain(tmp_path: Path, **kwargs: Any) -> tuple[list[ExecutorStep[Any]], Path]:
    flag = tmp_path / "fixed.flag"
    return chain.build_chain(3, require_file=str(flag), failing_index=1, **kwargs), flag


def test_failed_step_fails_its_op_blocks_downstream_and_reruns_later(
    tmp_path: Path, call_log: Calls
) -> None:
    prefix = str(tmp_path / "out")
    steps, flag = failing_chain(tmp_path)
    paths = [compute_output_path(s, prefix=prefix) for s in steps]
    defs = build_definitions([steps[-1]], prefix=prefix)
    instance = dg.DagsterInstance.ephemeral()

    failed = run_all(defs, instance)

    assert not failed.success
    assert failed.get_failed_step_keys() == {"chain__link_1"}
    assert "required file" in failure_text(failed)
    assert read_status(paths[0]).value == "SUCCESS"
    assert read_status(paths[1]).value == "FAILED"
    assert read_status(paths[2]) is None  # never started
    assert not Path(paths[1], ".executor_status.lock").exists()  # lease released
    assert call_log() == ["chain/link-0", "chain/link-1"]
    assert set(materializations(failed)) == {"chain/link-0"}

    flag.write_text("fixed")
    fixed = run_all(defs, instance)

    assert fixed.success
    assert call_log() == ["chain/link-0", "chain/link-1", "chain/link-1", "chain/link-2"]
    assert [read_status(p).value for p in paths] == ["SUCCESS"] * 3
    metas = materializations(fixed)
    assert metas["chain/link-0"]["marin/cache_hit"].value is True
    assert metas["chain/link-1"]["marin/cache_hit"].value is False


def test_force_run_failed_false_fails_the_op_naming_the_step(
    tmp_path: Path, call_log: Calls
) -> None:
    prefix = str(tmp_path / "out")
    steps, flag = failing_chain(tmp_path)
    paths = [compute_output_path(s, prefix=prefix) for s in steps]
    assert not run_all(build_definitions([steps[-1]], prefix=prefix)).success
    assert read_status(paths[1]).value == "FAILED"
    flag.write_text("fixed")  # fn would now succeed, but FAILED must not be rerun
    calls_before = call_log()

    strict = build_definitions([steps[-1]], prefix=prefix, force_run_failed=False)
    result = run_all(strict)

    assert not result.success
    assert result.get_failed_step_keys() == {"chain__link_1"}
    text = failure_text(result)
    assert "chain/link-1" in text and "FAILED" in text
    assert call_log() == calls_before
    assert read_status(paths[1]).value == "FAILED"
    assert read_status(paths[2]) is None


def write_foreign_lease(path: str, timestamp: float) -> None:
    os.makedirs(path, exist_ok=True)
    status_file(path).write_text("RUNNING")
    lease = {"worker_id": "someone-else-1234", "timestamp": timestamp}
    Path(path, ".executor_status.lock").write_text(json.dumps(lease))


def test_live_foreign_lease_makes_the_step_wait_then_fail(tmp_path: Path, call_log: Calls) -> None:
    prefix = str(tmp_path / "out")
    steps = chain.build_chain(2)
    paths = [compute_output_path(s, prefix=prefix) for s in steps]
    write_foreign_lease(paths[1], time.time())
    options = RunOptions(max_wait=0.3, poll_interval=0.05)
    defs = build_definitions([steps[-1]], prefix=prefix, run_options=options)

    result = run_all(defs)

    assert not result.success
    assert result.get_failed_step_keys() == {"chain__link_1"}
    text = failure_text(result)
    assert "chain/link-1" in text and "Timeout" in text
    assert call_log() == ["chain/link-0"]
    assert read_status(paths[1]).value == "RUNNING"  # still the other worker's
    lease = json.loads(Path(paths[1], ".executor_status.lock").read_text())
    assert lease["worker_id"] == "someone-else-1234"


@pytest.mark.parametrize("lock", ["stale", "missing"])
def test_running_without_a_live_lease_is_taken_over(
    tmp_path: Path, call_log: Calls, lock: str
) -> None:
    prefix = str(tmp_path / "out")
    steps = chain.build_chain(2)
    paths = [compute_output_path(s, prefix=prefix) for s in steps]
    write_foreign_lease(paths[1], time.time() - 3600)
    if lock == "missing":  # a crashed worker whose lock file is gone
        Path(paths[1], ".executor_status.lock").unlink()
    options = RunOptions(max_wait=5.0, poll_interval=0.05)
    defs = build_definitions([steps[-1]], prefix=prefix, run_options=options)

    result = run_all(defs)

    assert result.success
    assert call_log() == ["chain/link-0", "chain/link-1"]
    assert read_status(paths[1]).value == "SUCCESS"
    assert not Path(paths[1], ".executor_status.lock").exists()


# --- memory:// -----------------------------------------------------------------------------------


def test_memory_prefix_end_to_end(memory_fs: fsspec.AbstractFileSystem, call_log: Calls) -> None:
    prefix = f"memory://marin-test-{uuid.uuid4().hex[:8]}"
    steps = counting.build_steps()
    paths = paths_of(steps, prefix)
    assert all(p.startswith(prefix + "/") for p in paths.values())
    defs = build_definitions([steps["eval/score"]], prefix=prefix)
    instance = dg.DagsterInstance.ephemeral()

    first = run_all(defs, instance)

    assert first.success
    assert sorted(call_log()) == sorted(counting.ALL_NAMES)
    for name, path in paths.items():
        assert read_status(path).value == "SUCCESS"
        assert memory_fs.cat_file(f"{path}/.executor_status").decode().strip() == "SUCCESS"
        info = read_info(path)
        assert info is not None and info["output_path"] == path and info["name"] == name
    score = memory_fs.cat_file(f"{paths['eval/score']}/out.txt").decode()
    assert score.endswith("eval/score:s\n")

    second = run_all(defs, instance)

    assert second.success
    assert len(call_log()) == len(counting.ALL_NAMES)
    assert all(m["marin/cache_hit"].value for m in materializations(second).values())


# --- a plain user @asset downstream of a step ---------------------------------------------------

RECEIVED: list[Any] = []


@dg.asset(
    key=["report", "lengths"],
    ins={"model": dg.AssetIn(key=["train", "model"])},
    io_manager_key=IO_MANAGER_KEY,
)
def model_report(model: Any) -> str:
    RECEIVED.append(model)
    with open(os.path.join(model, "out.txt")) as f:
        assert f.read().endswith("train/model:m\n")
    return "reports/lengths"


def _user_defs(prefix: str) -> tuple[dg.Definitions, dict[str, str]]:
    steps = counting.build_steps()
    defs = build_definitions([steps["eval/score"]], prefix=prefix, assets=[model_report])
    return defs, paths_of(steps, prefix)


def _run_user_asset(defs: dg.Definitions, instance: dg.DagsterInstance, keys: Sequence[Any]) -> Any:
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey(k) for k in keys], raise_on_error=False
    )


def test_plain_asset_receives_the_upstream_path_as_str(tmp_path: Path, call_log: Calls) -> None:
    RECEIVED.clear()
    prefix = str(tmp_path / "out")
    defs, paths = _user_defs(prefix)
    instance = dg.DagsterInstance.ephemeral()
    assert run_all(defs, instance).success
    all_steps = defs.resolve_job_def("all_steps").asset_layer.selected_asset_keys
    assert dg.AssetKey(["report", "lengths"]) not in all_steps

    result = _run_user_asset(defs, instance, [["train", "model"], ["report", "lengths"]])

    assert result.success
    assert RECEIVED == [paths["train/model"]]
    assert type(RECEIVED[0]) is str
    report_meta = materializations(result)["report/lengths"]
    assert str(report_meta["marin/output_path"].path) == os.path.join(prefix, "reports/lengths")

    # Later run, the user asset alone (its upstream materialised in an earlier run).
    calls = call_log()
    alone = _run_user_asset(defs, instance, [["report", "lengths"]])

    assert alone.success
    assert call_log() == calls
    assert RECEIVED == [paths["train/model"]] * 2
    assert type(RECEIVED[1]) is str


def test_plain_asset_alone_on_a_fresh_instance_gets_the_path(
    tmp_path: Path, call_log: Calls
) -> None:
    RECEIVED.clear()
    prefix = str(tmp_path / "out")
    defs, paths = _user_defs(prefix)
    assert run_all(defs).success  # step outputs exist; the new instance has no history

    alone = _run_user_asset(defs, dg.DagsterInstance.ephemeral(), [["report", "lengths"]])

    assert alone.success
    assert RECEIVED == [paths["train/model"]]


# --- non-blocking references at run time; dagster.materialize ----------------------------------


def test_nonblocking_reference_neither_waits_for_nor_runs_its_target(
    tmp_path: Path, call_log: Calls
) -> None:
    prefix = str(tmp_path / "out")
    steps = lineage.build_steps()
    paths = paths_of(steps, prefix)
    defs = build_definitions(
        [steps["eval/gpu"], steps["eval/curve"], steps["eval/peek"]], prefix=prefix
    )

    result = run_all(defs)

    assert result.success
    assert "side/ckpt" not in call_log()
    assert sorted(call_log()) == sorted(n for n in steps if n != "side/ckpt")
    assert read_status(paths["side/ckpt"]) is None
    assert read_status(paths["eval/peek"]).value == "SUCCESS"
    peek_config = materializations(result)["eval/peek"]["marin/config"].data
    assert peek_config["nonblocking"] == [paths["side/ckpt"]]
    curve_config = materializations(result)["eval/curve"]["marin/config"].data
    assert curve_config["nonblocking"] == [paths["train/model"]]


def test_dagster_materialize_runs_step_assets(tmp_path: Path, call_log: Calls) -> None:
    prefix = str(tmp_path / "out")
    steps = counting.build_steps()
    defs = build_definitions([steps["eval/score"]], prefix=prefix)
    step_assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]

    result = dg.materialize(
        step_assets,
        instance=dg.DagsterInstance.ephemeral(),
        resources={IO_MANAGER_KEY: MarinPathIOManager(prefix=prefix)},
    )

    assert result.success
    assert sorted(call_log()) == sorted(counting.ALL_NAMES)
    paths = paths_of(steps, prefix)
    assert all(read_status(p).value == "SUCCESS" for p in paths.values())


def _run_selected(defs: dg.Definitions, key: str) -> Any:
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=[dg.AssetKey(key.split("/"))],
        raise_on_error=False,
    )


def test_a_step_selected_before_its_upstream_ran_fails_clearly_and_writes_nothing(
    tmp_path: Path, call_log: Calls
) -> None:
    steps = counting.build_steps()
    defs = build_definitions(steps["eval/score"], prefix=str(tmp_path))
    result = _run_selected(defs, "prep/clean")
    assert not result.success
    text = failure_text(result)
    assert "step 'prep/clean' cannot run yet; upstream not succeeded: 'data/raw' (no status" in text
    assert compute_output_path(steps["data/raw"], prefix=str(tmp_path)) in text
    assert call_log() == []
    clean_path = compute_output_path(steps["prep/clean"], prefix=str(tmp_path))
    assert read_status(clean_path) is None
    assert not os.path.exists(os.path.join(clean_path, ".executor_status.lock"))

    # Once the upstream has succeeded, the same selection runs.
    assert _run_selected(defs, "data/raw").success
    assert _run_selected(defs, "prep/clean").success
    assert call_log() == ["data/raw", "prep/clean"]


def test_a_step_selected_alone_lists_every_missing_upstream_in_one_message(
    tmp_path: Path, call_log: Calls
) -> None:
    steps = counting.build_steps()
    defs = build_definitions(steps["eval/score"], prefix=str(tmp_path))
    assert _run_selected(defs, "data/raw").success
    assert _run_selected(defs, "prep/other").success
    result = _run_selected(defs, "eval/score")
    assert not result.success
    lines = [line for line in failure_text(result).splitlines() if "cannot run yet" in line]
    assert len(lines) == 1, lines
    train_path = compute_output_path(steps["train/model"], prefix=str(tmp_path))
    other_path = compute_output_path(steps["prep/other"], prefix=str(tmp_path))
    # prep/other succeeded, so only train/model is named; the message is one line.
    assert f"'train/model' (no status at {train_path})" in lines[0]
    assert other_path not in lines[0]
    assert call_log() == ["data/raw", "prep/other"]


def test_every_missing_upstream_is_named(tmp_path: Path, call_log: Calls) -> None:
    steps = counting.build_steps()
    defs = build_definitions(steps["eval/score"], prefix=str(tmp_path))
    result = _run_selected(defs, "eval/score")
    text = failure_text(result)
    train_path = compute_output_path(steps["train/model"], prefix=str(tmp_path))
    other_path = compute_output_path(steps["prep/other"], prefix=str(tmp_path))
    # In config order, in one message.
    assert (
        "step 'eval/score' cannot run yet; upstream not succeeded: "
        f"'train/model' (no status at {train_path}), 'prep/other' (no status at {other_path})"
    ) in text
    assert call_log() == []


def test_check_upstream_can_be_turned_off(tmp_path: Path, call_log: Calls) -> None:
    steps = counting.build_steps()
    defs = build_definitions(
        steps["eval/score"], prefix=str(tmp_path), run_options=RunOptions(check_upstream=False)
    )
    result = _run_selected(defs, "prep/clean")
    # The function is called (and, its input missing, fails as it would without the check).
    assert call_log() == ["prep/clean"]
    assert not result.success
    assert "cannot run yet" not in failure_text(result)
    clean_path = compute_output_path(steps["prep/clean"], prefix=str(tmp_path))
    assert read_status(clean_path) is StepStatus.FAILED
