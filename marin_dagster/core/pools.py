"""Concurrency pool of a step, named after the accelerator it holds.

Every step that asks for a GPU or TPU lands in one Dagster concurrency pool per device type, so
an operator caps what runs at once across all runs with
``dagster instance concurrency set tpu-v5e-16 2`` and sees the slots in the UI. A slot is one
step, whatever its ``slice_count``. CPU steps have no pool (no cap, unless the instance sets a
``concurrency: pools: default_limit`` for unnamed pools: they are not in any pool at all).

Example:
    >>> pool_for(ResourceConfig.with_tpu("v5litepod-16"))
    'tpu-v5e-16'
    >>> pool_for(ResourceConfig.with_gpu("A100-80G", count=8))
    'gpu-a100-80g'
    >>> pool_for(ResourceConfig.with_cpu()) is None
    True
"""

from __future__ import annotations

from marin_dagster.core.resources import CpuConfig, ResourceConfig

__all__ = ["pool_for"]


def pool_for(resources: ResourceConfig | None) -> str | None:
    """``tpu-{type}`` / ``gpu-{type}`` (lower case) for an accelerator step, ``None`` for CPU."""
    if resources is None or isinstance(resources.device, CpuConfig):
        return None
    return f"{resources.device_kind}-{resources.device.variant.lower()}"
