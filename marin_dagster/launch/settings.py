"""Which backend serves which device class, and how many steps run at once: one settings model.

The same pydantic model is read from three places and merged, later wins, ``None`` meaning
unset: built-in defaults (every class on the local backend, no concurrency cap) < the executor's
configuration in code (``build_definitions(executor_settings=...)``) < the run's configuration
(``execution: config:`` in the launchpad, ``dagster job execute -c``, ``dg launch``).

Run config::

    execution:
      config:
        max_concurrent: 4              # null: every ready step at once (Marin's default)
        backends:
          gpu: {ray: {address: "10.0.0.2:6379"}}
          tpu: {ray: {address: "10.0.0.2:6379", max_concurrent: 1}}
          # cpu unset: local

Example:
    >>> base = ExecutorSettings(max_concurrent=8)
    >>> run = ExecutorSettings.model_validate({"backends": {"tpu": {"ray": {"address": "auto"}}}})
    >>> merged = base.merge(run)
    >>> merged.max_concurrent, merged.backend_for("tpu").kind, merged.backend_for("cpu").kind
    (8, 'ray', 'local')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from marin_dagster.launch.backends.fray import FrayBackendConfig
from marin_dagster.launch.backends.k8s_config import K8sBackendConfig
from marin_dagster.launch.backends.local import LocalBackendConfig
from marin_dagster.launch.backends.ray import RayBackendConfig

__all__ = ["BackendSpec", "DeviceClass", "ExecutorSettings"]

DeviceClass = Literal["cpu", "gpu", "tpu"]
DEVICE_CLASSES: tuple[DeviceClass, ...] = ("cpu", "gpu", "tpu")
BackendKind = Literal["local", "ray", "k8s", "fray"]
BACKEND_KINDS: tuple[BackendKind, ...] = ("local", "ray", "k8s", "fray")


class BackendSpec(BaseModel, frozen=True, extra="forbid"):
    """Exactly one backend and its settings: ``{local: {...}}``, ``{ray: {address: ...}}``,
    ``{k8s: {image: ...}}`` or ``{fray: {...}}``.

    Example:
        >>> BackendSpec.model_validate({"ray": {"address": "auto"}}).kind
        'ray'
    """

    local: LocalBackendConfig | None = None
    ray: RayBackendConfig | None = None
    k8s: K8sBackendConfig | None = None
    fray: FrayBackendConfig | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> BackendSpec:
        chosen = [name for name in BACKEND_KINDS if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError(
                "a backend is exactly one of {local: {...}}, {ray: {address: ...}}, "
                f"{{k8s: {{image: ...}}}} or {{fray: {{...}}}}, got {chosen or 'none'}"
            )
        return self

    @property
    def kind(self) -> BackendKind:
        return next(name for name in BACKEND_KINDS if getattr(self, name) is not None)

    @property
    def max_concurrent(self) -> int | None:
        return getattr(getattr(self, self.kind), "max_concurrent", None)

    def describe(self) -> str:
        """``local``, ``ray at 10.0.0.2:6379``, ``k8s in namespace ml``, ``fray (local client)``."""
        if self.ray is not None:
            return f"ray at {self.ray.address}"
        if self.k8s is not None:
            return f"k8s in namespace {self.k8s.namespace}"
        if self.fray is not None:
            return f"fray ({self.fray.client} client)"
        return "local"


LOCAL = BackendSpec(local=LocalBackendConfig())


class ExecutorSettings(BaseModel, frozen=True, extra="forbid"):
    """``marin_executor``'s settings; every field optional (``None`` = unset, see ``merge``)."""

    max_concurrent: int | None = Field(
        default=None,
        ge=1,
        description="Most steps running at once in this run (null: every ready step, as Marin).",
    )
    backends: dict[DeviceClass, BackendSpec] = Field(
        default_factory=dict,
        description="Backend per device class (cpu, gpu, tpu); an unset class runs locally.",
    )

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | ExecutorSettings | None) -> ExecutorSettings:
        """Validate executor config (``None`` values dropped, as unset)."""
        if raw is None:
            return cls()
        if isinstance(raw, ExecutorSettings):
            return raw
        data = {k: v for k, v in raw.items() if v is not None}
        if isinstance(data.get("backends"), Mapping):
            data["backends"] = {k: v for k, v in data["backends"].items() if v is not None}
        return cls.model_validate(data)

    def merge(self, override: ExecutorSettings) -> ExecutorSettings:
        """A new settings object: ``override``'s set values win, class by class for backends."""
        return ExecutorSettings(
            max_concurrent=(
                override.max_concurrent
                if override.max_concurrent is not None
                else self.max_concurrent
            ),
            backends={**self.backends, **override.backends},
        )

    def backend_for(self, device: str) -> BackendSpec:
        """The backend that serves ``device`` (``cpu``/``gpu``/``tpu``); local when unset."""
        return self.backends.get(device, LOCAL)  # type: ignore[arg-type]

    def tag_concurrency_limits(self, tag: str) -> list[dict[str, Any]]:
        """Per-class caps from each backend's ``max_concurrent``, as Dagster's executor takes."""
        limits = []
        for device in DEVICE_CLASSES:
            cap = self.backend_for(device).max_concurrent
            if cap is not None:
                limits.append({"key": tag, "value": device, "limit": cap})
        return limits
