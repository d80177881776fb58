"""Walk a config exactly as Marin's ``collect_dependencies_and_version`` does.

Depth first, in field order: dataclass fields ``a.b``, dict keys, list/tuple items ``[i]``.
Versioned values record their value, step references ``DEP[i]`` (``i`` counts blocking and
non-blocking references together, in discovery order) plus ``/subpath``, hardcoded paths their
raw string; own-output references and plain values record nothing.

Example:
    >>> walk_config({"lr": versioned(0.1), "batch": 32}, step_name="train").version
    {'lr': 0.1}
"""

import dataclasses
import reprlib
from typing import Any

from marin_dagster.core.encoding import NondeterministicValueError, versionable_form
from marin_dagster.core.errors import StepDefinitionError
from marin_dagster.core.legacy import InputName, OutputName
from marin_dagster.core.refs import RefKind, StepRef, escapes_by_dotdot
from marin_dagster.core.steps import ExecutorStep
from marin_dagster.core.versioned import Versioned

__all__ = ["ConfigWalk", "walk_config"]


@dataclasses.dataclass
class ConfigWalk:
    """What a config contributes to its step's version, and which steps it references."""

    version: dict[str, Any] = dataclasses.field(default_factory=dict)
    dependencies: list[ExecutorStep[Any]] = dataclasses.field(default_factory=list)
    pseudo_dependencies: list[ExecutorStep[Any]] = dataclasses.field(default_factory=list)
    references: list[ExecutorStep[Any]] = dataclasses.field(default_factory=list)
    """Every referenced step in discovery order, so ``DEP[i]`` is ``references[i]``."""


def _field_name(prefix: str) -> str:
    return prefix or "<config>"


def as_ref(obj: object) -> StepRef | None:
    """The :class:`StepRef` an object stands for (legacy forms included), else ``None``."""
    if isinstance(obj, StepRef):
        return obj
    if isinstance(obj, ExecutorStep):
        return obj.ref
    if isinstance(obj, InputName | OutputName):
        return obj.to_ref()
    return None


def _contains_reference(value: Any, seen: set[int] | None = None) -> bool:
    if as_ref(value) is not None or isinstance(value, Versioned):
        return True
    if isinstance(value, str | int | float | bool) or value is None:
        return False
    seen = set() if seen is None else seen
    if id(value) in seen:  # a value that contains itself: its parts are checked once
        return False
    seen.add(id(value))
    if isinstance(value, dict):
        return any(_contains_reference(v, seen) for v in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_contains_reference(v, seen) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(
            _contains_reference(getattr(value, f.name), seen) for f in dataclasses.fields(value)
        )
    return False


def check_hardcoded(path: str, *, step: str | None, field: str | None) -> None:
    """Refuse a relative hardcoded path with a ``..`` part (absolute ones may point anywhere)."""
    if escapes_by_dotdot(path):
        raise StepDefinitionError(
            f"the relative hardcoded path {path!r} has a '..' part and could leave the prefix; "
            "use a path under the prefix, or an absolute path or URL for data elsewhere",
            step=step,
            field=field,
        )


def walk_config(config: Any, *, step_name: str) -> ConfigWalk:
    """Collect the version entries and step references of ``config``."""
    walker = _Walker(step_name)
    walker.recurse(config, "")
    return walker.result


class _Walker:
    """One config walk (a class, so no closure cycles are left for the cyclic GC)."""

    def __init__(self, step_name: str) -> None:
        self.step_name = step_name
        self.result = ConfigWalk()
        self.on_path: set[int] = set()  # containers being walked: a config must be a tree

    def error(self, message: str, prefix: str) -> StepDefinitionError:
        return StepDefinitionError(message, step=self.step_name, field=_field_name(prefix))

    def record_versioned(self, value: Any, prefix: str) -> None:
        if _contains_reference(value):
            raise self.error(
                "versioned(...) holds a step reference or a nested versioned value; references "
                "are versioned already, so put them in the config directly",
                prefix,
            )
        try:
            encoded = versionable_form(value)
        except NondeterministicValueError as exc:
            raise self.error(
                f"versioned value {reprlib.repr(value)} cannot be hashed deterministically and "
                f"without loss: {exc}",
                prefix,
            ) from exc
        self.result.version[prefix] = encoded  # as Marin's encoder writes it: JSON-safe

    def enter(self, obj: Any, prefix: str) -> None:
        if id(obj) in self.on_path:
            raise self.error(
                "the config contains itself here (a container holding itself); a config must "
                "be a tree: insert a copy, not the container itself",
                prefix,
            )
        self.on_path.add(id(obj))

    def recurse(self, obj: Any, prefix: str) -> None:
        if obj is None or isinstance(obj, str | int | float | bool):
            return
        result = self.result
        new_prefix = prefix + "." if prefix else ""
        ref = as_ref(obj)
        if ref is not None:
            if ref.kind is RefKind.STEP:
                assert ref.step is not None
                index = len(result.references)
                result.references.append(ref.step)
                if ref.blocking:
                    result.dependencies.append(ref.step)
                else:
                    result.pseudo_dependencies.append(ref.step)
                sub = ref.subpath
                result.version[prefix] = f"DEP[{index}]/{sub}" if sub else f"DEP[{index}]"
            elif ref.kind is RefKind.HARDCODED:
                assert ref.subpath is not None
                check_hardcoded(ref.subpath, step=self.step_name, field=_field_name(prefix))
                result.version[prefix] = ref.subpath
        elif isinstance(obj, Versioned):
            self.record_versioned(obj.value, prefix)
        elif isinstance(obj, dict):
            self.enter(obj, prefix)
            for key, value in obj.items():
                if not isinstance(key, str):
                    raise self.error(f"dict keys must be strs to be hashed, got {key!r}", prefix)
                self.recurse(value, new_prefix + key)
            self.on_path.discard(id(obj))
        elif isinstance(obj, list | tuple):
            self.enter(obj, prefix)
            for index, item in enumerate(obj):
                self.recurse(item, new_prefix + f"[{index}]")
            self.on_path.discard(id(obj))
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            self.enter(obj, prefix)
            for field in dataclasses.fields(obj):
                self.recurse(getattr(obj, field.name), new_prefix + field.name)
            self.on_path.discard(id(obj))
        elif isinstance(obj, set | frozenset) and _contains_reference(obj):
            raise self.error(
                f"a {type(obj).__name__} holding references or versioned values is walked in "
                "iteration order, which Python does not fix; use a list or tuple",
                prefix,
            )
