"""The CLI's logic in-process, on ``memory://`` storage: explain's lookup, plan's blocked rule."""

from __future__ import annotations

import uuid

from pipelines.counting import build_steps, stage

from marin_dagster.cli.explain import explain, latest_recorded
from marin_dagster.cli.plan import plan
from marin_dagster.core.graph import StepGraph
from marin_dagster.core.runner import RunOptions, step_info
from marin_dagster.core.status import write_info, write_status


def _prefix() -> str:
    return f"memory://cli-{uuid.uuid4().hex[:8]}"


def _record(graph: StepGraph, name: str, status: str = "SUCCESS") -> None:
    step = next(s for s in graph.steps if s.name == name)
    write_info(graph.output_path(step), step_info(step, graph, None))
    write_status(graph.output_path(step), status)


def test_explain_on_memory_names_root_cause_and_downstream() -> None:
    prefix = _prefix()
    old = StepGraph([build_steps("a")["eval/score"]], prefix=prefix)
    for s in old.steps:
        _record(old, s.name)
    new = StepGraph([build_steps("b")["eval/score"]], prefix=prefix)
    model = next(s for s in new.steps if s.name == "train/model")
    assert latest_recorded(new, model) == old.output_path(
        next(s for s in old.steps if s.name == "train/model")
    )
    out = explain(new, model)
    assert "dependencies[prep/clean].config.param: a → b" in out
    assert "root cause: prep/clean" in out
    assert "eval/score: " + new.output_path(new.steps[-1]) in out
    same = next(s for s in new.steps if s.name == "prep/other")
    assert "versions are equal: cache hit" in explain(new, same)


def test_explain_ignores_a_longer_name_sharing_the_prefix() -> None:
    prefix = _prefix()
    longer = stage("x/lm-lr0.1", [], "p")
    graph = StepGraph([longer, stage("x/lm", [], "q")], prefix=prefix)
    _record(graph, "x/lm-lr0.1")
    short = next(s for s in graph.steps if s.name == "x/lm")
    assert latest_recorded(graph, short) is None
    assert "nothing recorded on storage" in explain(graph, short)


def test_failed_without_force_is_blocked_and_blocks_downstream() -> None:
    prefix = _prefix()
    graph = StepGraph([build_steps()["eval/score"]], prefix=prefix)
    _record(graph, "data/raw")
    _record(graph, "prep/clean", "FAILED")
    rows = {r.step: r for r in plan(graph, RunOptions(force_run_failed=False))}
    assert rows["data/raw"].action == "cache_hit"
    assert rows["prep/clean"].action == "blocked"
    assert "force_run_failed is off" in rows["prep/clean"].reason
    assert rows["train/model"].action == "blocked"
    assert rows["eval/score"].action == "blocked"
    assert rows["prep/other"].action == "run"
    forced = {r.step: r.action for r in plan(graph, RunOptions())}
    assert forced["prep/clean"] == "rerun_failed"
    assert forced["eval/score"] == "run"
