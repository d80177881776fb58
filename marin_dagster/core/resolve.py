"""Resolution: the config a step's ``fn`` receives, with every reference made concrete.

Step references become ``str`` paths, own-output references this step's path, hardcoded paths
are joined to the prefix when relative, ``Versioned`` values are unwrapped. Dataclasses are
rebuilt as the same type through ``__init__`` (frozen ones too, so ``__post_init__`` runs),
lists, tuples, NamedTuples, sets and dicts are rebuilt; other values pass through unchanged.

Example:
    >>> from marin_dagster.core.refs import StepRef
    >>> resolve_config(
    ...     {"raw": StepRef.hardcoded("raw/x"), "n": versioned(3)},
    ...     output_path="/p/s-abc123", path_of=lambda s: "", prefix="/p",
    ... )
    {'raw': '/p/raw/x', 'n': 3}
"""

import dataclasses
import os
import posixpath
from collections.abc import Callable
from typing import Any, TypeVar

from marin_dagster.core.refs import RefKind, StepRef, is_absolute_or_url
from marin_dagster.core.steps import ExecutorStep
from marin_dagster.core.versioned import Versioned
from marin_dagster.core.walk import as_ref

__all__ = ["default_prefix", "prefix_absolute", "resolve_config", "resolve_ref"]

T = TypeVar("T")

DEFAULT_LOCAL_PREFIX = "marin_outputs"


def default_prefix() -> str:
    """``$MARIN_PREFIX`` if set, else ``./marin_outputs`` made absolute.

    Example:
        >>> default_prefix().endswith("marin_outputs") or "MARIN_PREFIX" in os.environ
        True
    """
    env = os.environ.get("MARIN_PREFIX")
    if env:
        return env
    return os.path.abspath(DEFAULT_LOCAL_PREFIX)


def prefix_absolute(prefix: str, path: str) -> str:
    """Marin's ``_make_prefix_absolute_path``: a relative ``path`` goes under ``prefix``."""
    return path if is_absolute_or_url(path) else os.path.join(prefix, path)


def resolve_ref(
    ref: StepRef,
    *,
    output_path: str | None,
    path_of: Callable[[ExecutorStep[Any]], str],
    prefix: str,
) -> str:
    """The concrete path a reference stands for."""
    if ref.kind is RefKind.STEP:
        assert ref.step is not None
        base = path_of(ref.step)
    elif ref.kind is RefKind.OUTPUT:
        if output_path is None:
            raise ValueError("this step's own output path is unknown here")
        base = output_path
    else:
        assert ref.subpath is not None
        return prefix_absolute(prefix, ref.subpath)
    return posixpath.join(base, ref.subpath) if ref.subpath else base


def resolve_config(
    config: T,
    *,
    output_path: str | None,
    path_of: Callable[[ExecutorStep[Any]], str],
    prefix: str,
) -> T:
    """Return ``config`` with every reference and versioned value made concrete."""

    def recurse(obj: Any) -> Any:
        if obj is None or isinstance(obj, str | int | float | bool):
            return obj
        ref = as_ref(obj)
        if ref is not None:
            return resolve_ref(ref, output_path=output_path, path_of=path_of, prefix=prefix)
        if isinstance(obj, Versioned):
            return obj.value
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            changes = {
                f.name: recurse(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init
            }
            return dataclasses.replace(obj, **changes)
        if isinstance(obj, dict):
            return {key: recurse(value) for key, value in obj.items()}
        if isinstance(obj, list):
            return [recurse(item) for item in obj]
        if isinstance(obj, tuple):
            items = [recurse(item) for item in obj]
            if hasattr(obj, "_fields"):  # NamedTuple
                return type(obj)(*items)
            return tuple(items)
        if isinstance(obj, set | frozenset):
            return type(obj)(recurse(item) for item in obj)
        return obj

    return recurse(config)
