"""A step function for the k8s backend test that runs the pod's command as a subprocess."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def record_env(config: dict[str, Any]) -> None:
    """Write the config and the TPU host index the pod entry point derived."""
    seen = {"config": config, "host_index": os.environ.get("MARIN_TPU_HOST_INDEX")}
    Path(config["out"]).write_text(json.dumps(seen))
