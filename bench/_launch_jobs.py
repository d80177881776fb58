"""Jobs for ``bench/launch.py``, importable by worker processes (``dagster.reconstructable``).

Each function builds its job from the environment, so a spawned worker rebuilds the same one:
``BENCH_PREFIX`` (output prefix), ``BENCH_STEPS`` (steps), ``BENCH_SLEEP_S`` (seconds each step
sleeps), ``BENCH_SHAPE`` (``chain`` or ``independent``), ``BENCH_RAY_ADDRESS`` (for ``ray``).
"""

import os
import time
from typing import Any

import dagster as dg
from _graphs import REPO_ROOT  # noqa: F401  (puts this checkout first on sys.path)

from marin_dagster import StepContext, build_definitions, marin_executor, step, versioned


def nap(config: dict[str, Any]) -> None:
    if config["seconds"]:
        time.sleep(config["seconds"])


@step(name="launch/s{index}", fn=nap)
def bench_step(ctx: StepContext, index: int, seconds: float, upstream: list[Any]) -> dict[str, Any]:
    return {
        "inputs": [ctx.require(s) for s in upstream],
        "seconds": seconds,
        "seed": versioned(index),
        "output_path": ctx.output,
    }


def _steps() -> list[Any]:
    n = int(os.environ["BENCH_STEPS"])
    seconds = float(os.environ.get("BENCH_SLEEP_S", "0"))
    chain = os.environ.get("BENCH_SHAPE", "chain") == "chain"
    steps: list[Any] = []
    for i in range(n):
        steps.append(bench_step(i, seconds, [steps[-1]] if chain and steps else []))
    return steps


def _job(executor: dg.ExecutorDefinition, settings: dict[str, Any] | None = None) -> Any:
    defs = build_definitions(
        _steps(),
        prefix=os.environ["BENCH_PREFIX"],
        executor=executor,
        executor_settings=settings,
        group_jobs=False,
    )
    return defs.resolve_job_def("all_steps")


def in_process_job() -> Any:
    return _job(dg.in_process_executor)


def multiprocess_job() -> Any:
    return _job(dg.multiprocess_executor)


def marin_local_job() -> Any:
    return _job(marin_executor)


def marin_ray_job() -> Any:
    address = os.environ["BENCH_RAY_ADDRESS"]
    return _job(marin_executor, {"backends": {"cpu": {"ray": {"address": address}}}})
