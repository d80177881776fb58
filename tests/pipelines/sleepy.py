"""Independent steps that sleep, for concurrency tests; each records where and when it ran.

Env: ``MARIN_TEST_SLEEPY_DIR`` (where each step writes ``{label}.json``), ``MARIN_TEST_SLEEPY_N``
(number of sleeping steps, default 3), ``MARIN_TEST_SLEEPY_S`` (seconds each, default 1.0),
``MARIN_TEST_SLEEPY_BEHAVIOUR`` (``ok``, ``raise`` or ``kill-worker`` for the step ``bad``),
``MARIN_TEST_SLEEPY_MAX_CONCURRENT`` (``max_concurrent`` given in code, if set).
"""

import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

from marin_dagster import StepContext, build_definitions, step, versioned
from pipelines._common import log_call

DIR_ENV = "MARIN_TEST_SLEEPY_DIR"


@dataclass(frozen=True)
class SleepConfig:
    label: str
    seconds: float
    behaviour: Any
    output_path: Any


def nap(config: SleepConfig) -> None:
    start = time.time()
    log_call(config.label)
    if config.behaviour == "raise":
        raise ValueError(f"{config.label} could not read its shard")
    if config.behaviour == "kill-worker":
        os.kill(os.getppid(), signal.SIGKILL)  # the step worker that supervises this call
    time.sleep(config.seconds)
    tpu = {k: v for k, v in os.environ.items() if k.startswith("MARIN_TPU_")}
    record = {
        "label": config.label,
        "start": start,
        "end": time.time(),
        "pid": os.getpid(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "tpu_env": tpu,
        "ray_assigned": _ray_assigned_resources(),
    }
    out_dir = os.environ.get(DIR_ENV)
    if out_dir:
        where = f"-{tpu['MARIN_TPU_SLICE_INDEX']}-{tpu['MARIN_TPU_HOST_INDEX']}" if tpu else ""
        with open(os.path.join(out_dir, f"{config.label}{where}.json"), "w") as f:
            json.dump(record, f)


def _ray_assigned_resources() -> dict[str, float] | None:
    """What Ray granted this task, when it runs in a Ray worker (ray already imported)."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return None
    return dict(ray.get_runtime_context().get_assigned_resources())


@step(name="sleepy/{label}", fn=nap)
def sleeper(ctx: StepContext, label: str, seconds: float, behaviour: str = "ok") -> SleepConfig:
    return SleepConfig(label, seconds, versioned(behaviour), ctx.output)


def build_steps() -> list[Any]:
    n = int(os.environ.get("MARIN_TEST_SLEEPY_N", "3"))
    seconds = float(os.environ.get("MARIN_TEST_SLEEPY_S", "1.0"))
    steps = [sleeper(label=f"s{i}", seconds=seconds) for i in range(n)]
    behaviour = os.environ.get("MARIN_TEST_SLEEPY_BEHAVIOUR")
    if behaviour:
        steps.append(sleeper(label="bad", seconds=seconds, behaviour=behaviour))
    return steps


_cap = os.environ.get("MARIN_TEST_SLEEPY_MAX_CONCURRENT")
defs = build_definitions(
    build_steps(),
    executor_settings={"max_concurrent": int(_cap)} if _cap else None,
)
