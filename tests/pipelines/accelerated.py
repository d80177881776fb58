"""Sleeping steps that ask for accelerators, for pool and backend tests; each records its run.

Env: ``MARIN_TEST_SLEEPY_DIR`` (records, as ``sleepy``), ``MARIN_TEST_ACCEL_LABELS``
(comma-separated step labels, default ``t0``), ``MARIN_TEST_ACCEL_TPU`` (TPU type, default
``v5e-16``), ``MARIN_TEST_SLEEPY_S`` (seconds each, default 1.0), ``MARIN_TEST_SLEEPY_BEHAVIOUR``
(``raise`` adds a TPU step ``bad`` that fails).
"""

import os
from typing import Any

from marin_dagster import ResourceConfig, StepContext, build_definitions, step, versioned
from pipelines.sleepy import SleepConfig, nap

_TPU = os.environ.get("MARIN_TEST_ACCEL_TPU", "v5e-16")


@step(name="accelerated/{label}", fn=nap, resources=ResourceConfig.with_tpu(_TPU))
def tpu_sleeper(ctx: StepContext, label: str, seconds: float, behaviour: str = "ok") -> SleepConfig:
    return SleepConfig(label, seconds, versioned(behaviour), ctx.output)


def build_steps() -> list[Any]:
    seconds = float(os.environ.get("MARIN_TEST_SLEEPY_S", "1.0"))
    labels = os.environ.get("MARIN_TEST_ACCEL_LABELS", "t0").split(",")
    steps = [tpu_sleeper(label=label, seconds=seconds) for label in labels]
    if os.environ.get("MARIN_TEST_SLEEPY_BEHAVIOUR") == "raise":
        steps.append(tpu_sleeper(label="bad", seconds=seconds, behaviour="raise"))
    return steps


defs = build_definitions(build_steps())
