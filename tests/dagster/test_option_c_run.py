"""An Option C pipeline builds, runs through Dagster, and gets the tracer's output paths."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import dagster as dg
import pytest
from pipelines._common import CALL_LOG_ENV, read_calls, read_output
from pipelines.option_c import option_c_steps, tracer_steps

from marin_dagster import build_definitions, compute_output_path
from marin_dagster.cli.explain import explain
from marin_dagster.cli.plan import plan
from marin_dagster.core.graph import StepGraph
from marin_dagster.core.runner import RunOptions


def test_option_c_pipeline_runs_with_the_tracer_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = str(tmp_path / "out")
    monkeypatch.setenv(CALL_LOG_ENV, str(tmp_path / "calls.log"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        steps = option_c_steps()
    tracer = tracer_steps()
    paths = {k: compute_output_path(s, prefix=prefix) for k, s in steps.items()}
    assert paths == {k: compute_output_path(s, prefix=prefix) for k, s in tracer.items()}

    graph = StepGraph([steps["train"]], prefix=prefix)
    assert [r.action for r in plan(graph, RunOptions())] == ["run", "run", "run"]

    defs = build_definitions([steps["train"]], prefix=prefix)
    result = defs.resolve_job_def("all_steps").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert result.success
    assert read_calls(tmp_path / "calls.log") == ["download", "tokenize", "train"]
    assert read_output(paths["tokenize"]) == "meta-llama/Llama-3-8B:train-docs\nval-docs\n"
    assert read_output(paths["train"]).endswith("lr=0.001\n")
    assert os.path.basename(paths["train"]).startswith("tiny-lr-0.001-")

    # The tracer's steps are the same steps: everything is a cache hit for them.
    tracer_graph = StepGraph([tracer["train"]], prefix=prefix)
    assert [r.action for r in plan(tracer_graph, RunOptions())] == ["cache_hit"] * 3
    assert "versions are equal: cache hit" in explain(tracer_graph, tracer["tokenize"])
