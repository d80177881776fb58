"""Backends that run step functions: ``local`` (a forked worker), ``ray`` (a Ray cluster),
``k8s`` (a Kubernetes Job per step, via dagster-k8s) and ``fray`` (Marin's job API).

Each is a small module behind :class:`marin_dagster.core.backend.Backend`; engines are
imported only when a backend is used.

Example:
    >>> from marin_dagster.launch.settings import BackendSpec
    >>> make_backend(BackendSpec.model_validate({"local": {}})).name
    'local'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from marin_dagster.core.backend import Backend

if TYPE_CHECKING:
    from marin_dagster.launch.settings import BackendSpec

__all__ = ["make_backend"]


def make_backend(spec: BackendSpec, op_tags: Mapping[str, str] | None = None) -> Backend:
    """The backend ``spec`` describes (engines are imported only here, only when asked for).

    ``op_tags`` are the step's op tags, for backends that read per-step settings from them
    (k8s: ``dagster-k8s/config``).
    """
    if spec.ray is not None:
        from marin_dagster.launch.backends.ray import RayBackend

        return RayBackend(spec.ray)
    if spec.k8s is not None:
        from marin_dagster.launch.backends.k8s import K8sBackend

        return K8sBackend(spec.k8s, op_tags)
    if spec.fray is not None:
        from marin_dagster.launch.backends.fray import FrayBackend

        return FrayBackend(spec.fray)
    from marin_dagster.launch.backends.local import LocalBackend

    return LocalBackend(spec.local)
