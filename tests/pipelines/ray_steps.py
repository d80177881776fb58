"""Step functions for the Ray backend tests; importable on Ray workers as ``pipelines.ray_steps``.

Each takes a dict config with ``out``, a folder where it records what it saw.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any


def record(config: dict[str, Any]) -> None:
    """Write what this task saw (assigned resources, env, pid) to ``out/<slice>-<host>.json``."""
    import ray

    name = (
        f"{os.environ.get('MARIN_TPU_SLICE_INDEX', 0)}-{os.environ.get('MARIN_TPU_HOST_INDEX', 0)}"
    )
    seen = {
        "pid": os.getpid(),
        "assigned": ray.get_runtime_context().get_assigned_resources(),
        "env": {
            k: v for k, v in os.environ.items() if k.startswith(("MARIN_TPU_", "CUDA_", "TPU_"))
        },
    }
    Path(config["out"], f"{name}.json").write_text(json.dumps(seen))


def noop(config: Any) -> None:
    """Do nothing."""


def sleep_then_write(config: dict[str, Any]) -> None:
    """Mark ``started``, sleep ``seconds``, then write ``finished``."""
    Path(config["out"], "started").touch()
    time.sleep(config["seconds"])
    Path(config["out"], "finished").touch()


def fail(config: Any) -> None:
    """Raise, deep enough to have a traceback."""
    _inner_failure()


def _inner_failure() -> None:
    raise ValueError("boom from a step function")


def crash(config: Any) -> None:
    """Kill this worker process, as the OOM killer or a segfault would."""
    os.kill(os.getpid(), signal.SIGKILL)
