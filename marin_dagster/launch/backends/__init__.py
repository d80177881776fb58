"""Backends that run step functions: ``local`` (a forked worker) and ``ray`` (a Ray cluster).

Each is a small module behind :class:`marin_dagster.core.backend.Backend`; engines are
imported only when a backend is used.

Example:
    >>> from marin_dagster.launch.settings import BackendSpec
    >>> make_backend(BackendSpec.model_validate({"local": {}})).name
    'local'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from marin_dagster.core.backend import Backend

if TYPE_CHECKING:
    from marin_dagster.launch.settings import BackendSpec

__all__ = ["make_backend"]


def make_backend(spec: BackendSpec) -> Backend:
    """The backend ``spec`` describes (Ray is imported only here, and only when asked for)."""
    if spec.ray is not None:
        from marin_dagster.launch.backends.ray import RayBackend

        return RayBackend(spec.ray)
    from marin_dagster.launch.backends.local import LocalBackend

    return LocalBackend(spec.local)
