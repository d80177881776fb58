"""A small DAG whose step functions log each call, for rerun-exactly-what-changed tests.

::

    data/raw ─┬─> prep/clean ──> train/model ──┐
              └─> prep/other ──────────────────┴─> eval/score

``prep/clean``'s versioned ``param`` comes from ``$MARIN_TEST_CLEAN_PARAM`` (default ``"a"``):
changing it changes the versions of ``prep/clean``, ``train/model`` and ``eval/score`` only.
"""

import os
from dataclasses import dataclass
from typing import Any

from marin_dagster import (
    ExecutorStep,
    ResourceConfig,
    StepContext,
    build_definitions,
    step,
    versioned,
)
from pipelines._common import log_call, read_output, write_output

PARAM_ENV = "MARIN_TEST_CLEAN_PARAM"

ALL_NAMES = ("data/raw", "prep/clean", "prep/other", "train/model", "eval/score")
AFFECTED_BY_PARAM = ("prep/clean", "train/model", "eval/score")
TRAIN_RESOURCES = ResourceConfig.with_cpu(cpu=2, ram="8g")
"""``train/model``'s request (resources do not enter the version); shown on its asset page."""


@dataclass(frozen=True)
class StageConfig:
    label: str
    inputs: list[Any]  # list[Dep[str]] while built, list[str] when run
    param: Any  # Versioned[str] while built, str when run
    output_path: Any  # Output[str] while built, str when run


def run_stage(config: StageConfig) -> None:
    log_call(config.label)
    upstream = "".join(read_output(p) for p in config.inputs)
    write_output(config.output_path, f"{upstream}{config.label}:{config.param}\n")


def _stage_config(
    ctx: StepContext, name: str, inputs: list[ExecutorStep[Any]], param: str
) -> StageConfig:
    return StageConfig(
        label=name,
        inputs=[ctx.require(s) for s in inputs],
        param=versioned(param),
        output_path=ctx.output,
    )


@step(name="{name}", fn=run_stage, description="Counting stage {name}.")
def stage(ctx: StepContext, name: str, inputs: list[ExecutorStep[Any]], param: str) -> StageConfig:
    return _stage_config(ctx, name, inputs, param)


@step(name="{name}", fn=run_stage, description="Counting stage {name}.", resources=TRAIN_RESOURCES)
def trained_stage(
    ctx: StepContext, name: str, inputs: list[ExecutorStep[Any]], param: str
) -> StageConfig:
    return _stage_config(ctx, name, inputs, param)


def build_steps(clean_param: str = "a") -> dict[str, ExecutorStep[Any]]:
    """The five steps by name; ``clean_param`` is ``prep/clean``'s versioned value."""
    raw = stage("data/raw", [], "seed-1")
    clean = stage("prep/clean", [raw], clean_param)
    other = stage("prep/other", [raw], "b")
    model = trained_stage("train/model", [clean], "m")
    score = stage("eval/score", [model, other], "s")
    return {s.name: s for s in (raw, clean, other, model, score)}


STEPS = build_steps(os.environ.get(PARAM_ENV, "a"))
defs = build_definitions([STEPS["eval/score"]])
