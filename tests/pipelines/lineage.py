"""Mixed resources and non-blocking references, for definition-time tests.

::

    data/raw ──> train/model (TPU v5e-8) ──> eval/gpu (GPU L4)
       │              ┆ (non-blocking)
       ├────────> eval/curve (CPU)
       └────────> eval/peek <┄┄ side/ckpt (reached only through a non-blocking reference)
"""

from dataclasses import dataclass
from typing import Any

from marin_dagster import ExecutorStep, ResourceConfig, StepContext, build_definitions, step
from marin_dagster import versioned as v
from pipelines._common import log_call, write_output

TPU = ResourceConfig.with_tpu("v5e-8")
GPU = ResourceConfig.with_gpu("L4")
CPU = ResourceConfig.with_cpu()


@dataclass(frozen=True)
class Config:
    label: str
    blocking: list[Any]
    nonblocking: list[Any]
    knob: Any
    output_path: Any


def run(config: Config) -> None:
    log_call(config.label)
    write_output(config.output_path, config.label)


def _config(ctx: StepContext, blocking: list[Any], nonblocking: list[Any], knob: Any) -> Config:
    return Config(
        label=ctx.name,
        blocking=[ctx.require(s) for s in blocking],
        nonblocking=[ctx.require_nonblocking(s) for s in nonblocking],
        knob=v(knob),
        output_path=ctx.output,
    )


@step(name="data/raw", fn=run)
def raw_step(ctx: StepContext) -> Config:
    return _config(ctx, [], [], 1)


@step(name="side/ckpt", fn=run)
def side_step(ctx: StepContext) -> Config:
    return _config(ctx, [], [], 2)


@step(name="train/model", fn=run, resources=TPU)
def model_step(ctx: StepContext, raw: ExecutorStep[Any]) -> Config:
    return _config(ctx, [raw], [], 3)


@step(name="eval/gpu", fn=run, resources=GPU)
def gpu_eval_step(ctx: StepContext, model: ExecutorStep[Any]) -> Config:
    return _config(ctx, [model], [], 4)


@step(name="eval/curve", fn=run, resources=CPU)
def curve_step(ctx: StepContext, raw: ExecutorStep[Any], model: ExecutorStep[Any]) -> Config:
    return _config(ctx, [raw], [model], 5)


@step(name="eval/peek", fn=run)
def peek_step(ctx: StepContext, raw: ExecutorStep[Any], side: ExecutorStep[Any]) -> Config:
    return _config(ctx, [raw], [side], 6)


def build_steps() -> dict[str, ExecutorStep[Any]]:
    raw = raw_step()
    model = model_step(raw)
    steps = [
        raw,
        model,
        gpu_eval_step(model),
        curve_step(raw, model),
        side := side_step(),
        peek_step(raw, side),
    ]
    return {s.name: s for s in steps}


STEPS = build_steps()
ROOTS = [STEPS["eval/gpu"], STEPS["eval/curve"], STEPS["eval/peek"]]
defs = build_definitions(ROOTS)
