"""Construction-time references: :class:`StepRef` and the typing markers ``Dep`` / ``Output``.

A ``StepRef`` is one of three kinds, kept apart on purpose:

* ``RefKind.STEP``: another step's output (``ctx.require(step)``, ``step / "sub"``, ``step.ref``);
  it records ``DEP[i]`` in the version and orders execution unless ``.nonblocking()``.
* ``RefKind.OUTPUT``: this step's own output (``ctx.output``, ``ctx.output_subpath("x")``);
  it records nothing in the version.
* ``RefKind.HARDCODED``: a path outside the pipeline (``StepRef.hardcoded("raw/data")``);
  its raw string is versioned; a relative one resolves under the prefix, an absolute path or
  URL is used as is (Marin's ``InputName.hardcoded``).

Example:
    >>> ref = StepRef.hardcoded("raw/corpus") / "train"
    >>> ref.kind, ref.subpath
    (<RefKind.HARDCODED: 'hardcoded'>, 'raw/corpus/train')
"""

import enum
import posixpath
import urllib.parse
from typing import TYPE_CHECKING, Generic, TypeVar, final

if TYPE_CHECKING:
    from marin_dagster.core.steps import ExecutorStep

T_co = TypeVar("T_co", covariant=True)


class Dep(Generic[T_co]):
    """Type of a config field that holds a reference to another step's output.

    While a pipeline is built the field holds a :class:`StepRef`; the step's ``fn`` receives a
    concrete ``T`` (a ``str`` path). A type checker rejects a plain ``str`` here and a ``StepRef``
    where a ``str`` is expected.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True)
        ... class EvalConfig:
        ...     model_path: Dep[str]
    """

    __slots__ = ()

    @staticmethod
    def hardcoded(path: str) -> "StepRef":
        """A path outside the pipeline: relative → under the prefix; absolute or URL → as is.

        Marin's ``InputName.hardcoded``; ``Dep.hardcoded`` and ``StepRef.hardcoded`` are one.

        Example:
            >>> Dep.hardcoded("raw/fineweb").kind.value
            'hardcoded'
        """
        if not isinstance(path, str) or not path:
            raise ValueError(f"hardcoded(path) needs a non-empty str path, got {path!r}")
        return StepRef(RefKind.HARDCODED, None, path, True)


class Output(Generic[T_co]):
    """Type of a config field that holds this step's own output path (``ctx.output``).

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True)
        ... class TrainConfig:
        ...     output_path: Output[str]
    """

    __slots__ = ()


class RefKind(enum.Enum):
    """What a :class:`StepRef` points at."""

    STEP = "step"
    OUTPUT = "output"
    HARDCODED = "hardcoded"


def is_absolute_or_url(path: str) -> bool:
    """Marin's rule (``not _is_relative_path``): any URL scheme, or a leading ``/``.

    Example:
        >>> [is_absolute_or_url(p) for p in ("gs://b/x", "file:/x", "/x", "raw/x")]
        [True, True, True, False]
    """
    return path.startswith("/") or bool(urllib.parse.urlparse(path).scheme)


def escapes_by_dotdot(path: str) -> bool:
    """True for a relative path with a ``..`` part (it could leave the prefix).

    Example:
        >>> escapes_by_dotdot("../shared"), escapes_by_dotdot("/data/../x")
        (True, False)
    """
    return ".." in path.split("/") and not is_absolute_or_url(path)


def join_subpath(base: str | None, sub: str, *, what: str = "subpath") -> str:
    """Join ``sub`` onto ``base`` as Marin does (``os.path.join``), refusing escapes.

    Example:
        >>> join_subpath("data", "train")
        'data/train'
    """
    if not isinstance(sub, str) or not sub:
        raise ValueError(f"{what} must be a non-empty str, got {sub!r}")
    if sub.startswith("/") or "://" in sub or ".." in sub.split("/"):
        raise ValueError(f"{what} {sub!r} must be relative and must not contain '..'")
    return posixpath.join(base, sub) if base else sub


@final
class StepRef(Dep[str], Output[str]):
    """An immutable reference to a path that becomes a concrete ``str`` when the step runs.

    Build one with ``ctx.require(step)``, ``step / "sub"``, ``step.ref``, ``ctx.output`` or
    ``StepRef.hardcoded(path)``; never compare it to a path at build time.

    Example:
        >>> StepRef.hardcoded("gs://bucket/raw").subpath
        'gs://bucket/raw'
    """

    __slots__ = ("_blocking", "_kind", "_step", "_subpath")

    _kind: RefKind
    _step: "ExecutorStep | None"
    _subpath: str | None
    _blocking: bool

    def __init__(
        self,
        kind: RefKind,
        step: "ExecutorStep | None" = None,
        subpath: str | None = None,
        blocking: bool = True,
    ) -> None:
        if (kind is RefKind.STEP) != (step is not None):
            raise ValueError("a STEP reference needs a step; other kinds must not have one")
        if kind is RefKind.HARDCODED and not subpath:
            raise ValueError("a hardcoded reference needs a non-empty path")
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_step", step)
        object.__setattr__(self, "_subpath", subpath)
        object.__setattr__(self, "_blocking", blocking)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("StepRef is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("StepRef is immutable")

    def __reduce__(self) -> tuple[object, ...]:
        return (StepRef, (self._kind, self._step, self._subpath, self._blocking))

    @property
    def kind(self) -> RefKind:
        """Which of the three kinds this reference is."""
        return self._kind

    @property
    def step(self) -> "ExecutorStep | None":
        """The referenced step (``None`` unless ``kind`` is ``STEP``)."""
        return self._step

    @property
    def subpath(self) -> str | None:
        """Path below the step's output, the own output, or the hardcoded path itself."""
        return self._subpath

    @property
    def blocking(self) -> bool:
        """Whether the consumer waits for (and forces) the referenced step."""
        return self._blocking

    def __truediv__(self, subpath: str) -> "StepRef":
        """``ref / "sub"``: a reference to a path below this one."""
        if self._kind is RefKind.HARDCODED:
            assert self._subpath is not None
            joined = posixpath.join(self._subpath, join_subpath(None, subpath))
        else:
            joined = join_subpath(self._subpath, subpath)
        return StepRef(self._kind, self._step, joined, self._blocking)

    if not TYPE_CHECKING:  # defined for the message only: a type checker still rejects `+`

        def __add__(self, other: object) -> "StepRef":
            raise TypeError(
                f"cannot add {other!r} to {self!r}: a reference is not a str at build time; "
                f"use `ref / {str(other).lstrip('/')!r}` for a path below it"
            )

        def __radd__(self, other: object) -> "StepRef":
            return self.__add__(other)

    def cd(self, subpath: str) -> "StepRef":
        """Alias of ``ref / subpath`` (Marin's ``InputName.cd``)."""
        return self / subpath

    def nonblocking(self) -> "StepRef":
        """A copy that is hashed and resolved but neither waited on nor forced to run."""
        if self._kind is not RefKind.STEP:
            raise ValueError(f"only a reference to another step can be non-blocking, not {self!r}")
        return StepRef(self._kind, self._step, self._subpath, False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StepRef):
            return NotImplemented
        return (
            self._kind is other._kind
            and self._step is other._step
            and self._subpath == other._subpath
            and self._blocking == other._blocking
        )

    def __hash__(self) -> int:
        return hash((self._kind, id(self._step), self._subpath, self._blocking))

    def __repr__(self) -> str:
        if self._kind is RefKind.STEP:
            assert self._step is not None
            sub = f" / {self._subpath!r}" if self._subpath else ""
            nb = ".nonblocking()" if not self._blocking else ""
            return f"StepRef({self._step.name!r}{sub}){nb}"
        if self._kind is RefKind.OUTPUT:
            return f"StepRef(<own output>{' / ' + repr(self._subpath) if self._subpath else ''})"
        return f"StepRef.hardcoded({self._subpath!r})"

    def __str__(self) -> str:
        raise TypeError(
            f"{self!r} is a build-time reference, not a path: it becomes a str only when the "
            "step runs (put it in the step's config instead of formatting it)"
        )

    def __fspath__(self) -> str:
        return self.__str__()


def output_ref(subpath: str | None = None) -> StepRef:
    """A reference to the current step's own output (what ``ctx.output`` returns)."""
    return StepRef(RefKind.OUTPUT, None, join_subpath(None, subpath) if subpath else None)
