"""``Versioned[T]`` / ``versioned(value)``: values that enter a step's version hash.

Only versioned values (plus references and the step name) change a step's output path; every
other config value is free to change without a rerun, as in Marin.

Example:
    >>> v = versioned("meta-llama/Llama-3-8B")
    >>> v.value
    'meta-llama/Llama-3-8B'
"""

import contextvars
from typing import Any, Generic, TypeVar

from marin_dagster.core.errors import StepDefinitionError

T = TypeVar("T")

# Name of the step whose config is being built, so errors raised inside a @step body name it.
current_step_name: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "marin_current_step_name", default=None
)


class Versioned(Generic[T]):
    """A value that contributes to the version hash; the step's ``fn`` receives the bare ``T``.

    A type checker rejects ``Versioned[int]`` where an ``int`` is expected and the reverse.

    Example:
        >>> Versioned(3).value
        3
    """

    __slots__ = ("_value",)
    _value: T

    def __init__(self, value: T) -> None:
        _check_versionable(value)
        object.__setattr__(self, "_value", value)

    @property
    def value(self) -> T:
        """The wrapped value."""
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Versioned is immutable")

    def __reduce__(self) -> tuple[object, ...]:
        return (Versioned, (self._value,))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Versioned):
            return NotImplemented
        return type(self._value) is type(other._value) and self._value == other._value

    def __hash__(self) -> int:
        return hash(("Versioned", repr(self._value)))

    def __repr__(self) -> str:
        return f"versioned({self._value!r})"


def _reference_types() -> tuple[type, ...]:
    from marin_dagster.core.legacy import InputName, OutputName
    from marin_dagster.core.refs import StepRef
    from marin_dagster.core.steps import ExecutorStep

    return (StepRef, ExecutorStep, InputName, OutputName)


def _check_versionable(value: Any) -> None:
    step = current_step_name.get()
    if isinstance(value, Versioned):
        raise StepDefinitionError(
            "Can't nest versioned values: versioned(versioned(...))", step=step
        )
    if isinstance(value, _reference_types()):
        raise StepDefinitionError(
            f"Can't version a reference ({value!r}): references are hashed already; "
            "put the reference in the config directly",
            step=step,
        )


def versioned(value: T) -> Versioned[T]:
    """Mark ``value`` as part of the step's version (Marin's ``versioned``).

    Example:
        >>> versioned(0.001)
        versioned(0.001)
    """
    return Versioned(value)
