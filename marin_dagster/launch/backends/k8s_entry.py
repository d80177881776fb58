"""Inside a step's Kubernetes pod: unpack the call, call ``fn(config)``, exit 0 or 1.

The Job's command is ``python -m marin_dagster.launch.backends.k8s_entry PAYLOAD``; ``PAYLOAD``
is the base64 pickle of ``(fn, config)`` (``fn`` by reference: the image must contain the code
location). In an Indexed Job (a multi-host TPU slice) ``JOB_COMPLETION_INDEX`` becomes
``MARIN_TPU_HOST_INDEX``.

Example:
    >>> payload = encode_call(print, "hi")
    >>> run_call(payload)
    hi
"""

from __future__ import annotations

import base64
import os
import pickle
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["encode_call", "run_call"]


def encode_call(fn: Callable[[Any], Any], config: Any) -> str:
    """The Job argument that carries ``fn`` and its resolved ``config``."""
    return base64.b64encode(pickle.dumps((fn, config))).decode("ascii")


def run_call(payload: str) -> None:
    """Call the encoded ``fn(config)`` (its exception propagates)."""
    if "JOB_COMPLETION_INDEX" in os.environ:
        os.environ.setdefault("MARIN_TPU_HOST_INDEX", os.environ["JOB_COMPLETION_INDEX"])
    fn, config = pickle.loads(base64.b64decode(payload))
    fn(config)


if __name__ == "__main__":  # pragma: no cover - runs in the pod
    run_call(sys.argv[1])
