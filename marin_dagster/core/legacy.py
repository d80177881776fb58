"""Marin's pre-tracer API, kept for migration: each name warns ``DeprecationWarning``.

``InputName`` / ``output_path_of`` become :class:`StepRef` to another step (or a hardcoded path),
``OutputName`` / ``this_output_path`` become this step's output, ``VersionedValue`` is
:class:`Versioned`. The same pipeline written either way gets the same output paths.

Example:
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     OutputName("ckpt").name
    'ckpt'
"""

import dataclasses
import posixpath
import warnings
from typing import TYPE_CHECKING, Any, TypeVar

from marin_dagster.core.refs import RefKind, StepRef, join_subpath
from marin_dagster.core.versioned import Versioned

if TYPE_CHECKING:
    from marin_dagster.core.steps import ExecutorStep

T = TypeVar("T")


def _deprecated(old: str, new: str, *, stacklevel: int = 3) -> None:
    warnings.warn(f"{old} is deprecated; use {new}", DeprecationWarning, stacklevel=stacklevel)


@dataclasses.dataclass(frozen=True)
class InputName:
    """Legacy reference: ``step`` output (+ ``name``), or a hardcoded path when ``step`` is None.

    Example:
        >>> InputName.hardcoded("raw/data").name  # doctest: +SKIP
        'raw/data'
    """

    step: "ExecutorStep[Any] | None"
    name: str | None
    block_on_step: bool = True

    def __post_init__(self) -> None:
        # __post_init__ runs inside the generated __init__: the caller is one frame further.
        _deprecated(
            "InputName",
            "step / 'sub' or ctx.require(step) / 'sub', Dep.hardcoded(path)",
            stacklevel=4,
        )

    @staticmethod
    def hardcoded(path: str) -> "InputName":
        """A path outside the pipeline, relative to the prefix unless absolute or a URL."""
        _deprecated("InputName.hardcoded", "Dep.hardcoded(path)")
        return _quiet(InputName, None, path)

    def cd(self, name: str) -> "InputName":
        """A reference to ``name`` below this one."""
        joined = posixpath.join(self.name, name) if self.name else name
        return _quiet(InputName, self.step, joined, self.block_on_step)

    def __truediv__(self, name: str) -> "InputName":
        return self.cd(name)

    def nonblocking(self) -> "InputName":
        """A copy that is hashed but neither waited on nor forced to run."""
        return _quiet(InputName, self.step, self.name, False)

    def to_ref(self) -> StepRef:
        """The equivalent :class:`StepRef`."""
        if self.step is None:
            if not self.name:
                raise ValueError("InputName without a step needs a name (a hardcoded path)")
            return StepRef.hardcoded(self.name)
        sub = join_subpath(None, self.name) if self.name else None
        return StepRef(RefKind.STEP, self.step, sub, self.block_on_step)


@dataclasses.dataclass(frozen=True)
class OutputName:
    """Legacy reference to this step's output (``name`` below it, if given)."""

    name: str | None

    def __post_init__(self) -> None:
        _deprecated("OutputName", "this_output(name) or ctx.output_subpath(name)", stacklevel=4)

    def to_ref(self) -> StepRef:
        """The equivalent :class:`StepRef`."""
        return StepRef(RefKind.OUTPUT, None, join_subpath(None, self.name) if self.name else None)


class VersionedValue(Versioned[T]):
    """Legacy spelling of :class:`Versioned`."""

    __slots__ = ()

    def __init__(self, value: T) -> None:
        _deprecated("VersionedValue", "versioned(value)")
        super().__init__(value)

    def __reduce__(self) -> tuple[object, ...]:
        return (Versioned, (self.value,))


def _quiet(cls: type[T], *args: Any) -> T:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return cls(*args)


def output_path_of(step: "ExecutorStep[Any]", name: str | None = None) -> InputName:
    """Legacy ``output_path_of(step, name)``; use ``ctx.require(step) / name``."""
    _deprecated("output_path_of", "step / name or ctx.require(step) / name")
    return _quiet(InputName, step, name)


def this_output_path(name: str | None = None) -> OutputName:
    """Legacy ``this_output_path(name)``; use ``ctx.output`` / ``ctx.output_subpath(name)``."""
    _deprecated("this_output_path", "this_output(name) or ctx.output")
    return _quiet(OutputName, name)


def legacy_name_in(config: object) -> str | None:
    """The class name of a legacy object (``InputName``...) held in ``config``, else ``None``.

    Example:
        >>> legacy_name_in({"a": [1, "x"]}) is None
        True
    """
    from marin_dagster.core.steps import ExecutorStep  # steps import this module

    legacy = (InputName, OutputName, VersionedValue)
    stack: list[object] = [config]
    seen: set[int] = set()
    while stack:
        value = stack.pop()
        if isinstance(value, legacy):
            return type(value).__name__
        if isinstance(value, str | int | float | bool | StepRef | ExecutorStep) or value is None:
            continue
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list | tuple | set | frozenset):
            stack.extend(value)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            stack.extend(getattr(value, f.name) for f in dataclasses.fields(value))
    return None
