"""A CPU, a GPU, a single-host and a multi-host TPU step, each recording where it ran.

The steps are ``sleepy``'s: each writes ``{label}.json`` (pid, ``CUDA_VISIBLE_DEVICES``,
``MARIN_TPU_*``, Ray's assigned resources; TPU hosts ``{label}-{slice}-{host}.json``) under
``$MARIN_TEST_SLEEPY_DIR``. ``$MARIN_TEST_MIXED_TPU`` changes the single-host TPU type.
"""

import os
from typing import Any

from marin_dagster import ResourceConfig, StepContext, build_definitions, step, versioned
from pipelines.sleepy import SleepConfig, nap

RESOURCES = {
    "cpu": ResourceConfig.with_cpu(),
    "gpu": ResourceConfig.with_gpu("L4"),
    "tpu1": ResourceConfig.with_tpu(os.environ.get("MARIN_TEST_MIXED_TPU", "v4-8")),
    "tpu4": ResourceConfig.with_tpu("v5e-16"),
}


def _config(ctx: StepContext, label: str) -> SleepConfig:
    return SleepConfig(label, 0.1, versioned("ok"), ctx.output)


def build_steps() -> list[Any]:
    return [
        step(name="mixed/{label}", fn=nap, resources=r)(_config)(label=label)
        for label, r in RESOURCES.items()
    ]


defs = build_definitions(build_steps())
