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
import warnings
from typing import Any

from marin_dagster.core.encoding import NondeterministicValueError, versionable_form
from marin_dagster.core.errors import StepDefinitionError
from marin_dagster.core.legacy import InputName, OutputName
from marin_dagster.core.refs import RefKind, StepRef, escapes_by_dotdot
from marin_dagster.core.steps import STEP_FACTORY_ATTR, ExecutorStep
from marin_dagster.core.typed import (
    Marker,
    Spec,
    class_specs,
    compile_spec,
    describe,
    unreadable_annotations,
)
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


def contains_reference(value: Any, seen: set[int] | None = None) -> bool:
    """Whether ``value`` holds a reference or a versioned value anywhere (a build-phase value).

    Example:
        >>> contains_reference({"a": ["x", 1]}), contains_reference([versioned(1)])
        (False, True)
    """
    if as_ref(value) is not None or isinstance(value, Versioned):
        return True
    if isinstance(value, str | int | float | bool) or value is None:
        return False
    seen = set() if seen is None else seen
    if id(value) in seen:  # a value that contains itself: its parts are checked once
        return False
    seen.add(id(value))
    if isinstance(value, dict):
        return any(contains_reference(v, seen) for v in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(contains_reference(v, seen) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(
            contains_reference(getattr(value, f.name), seen) for f in dataclasses.fields(value)
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


def walk_config(config: Any, *, step_name: str, annotation: Any = None) -> ConfigWalk:
    """Collect the version entries and step references of ``config``.

    Fields annotated ``Dep[T]`` / ``Output[T]`` / ``Versioned[T]`` are checked on the way
    (see :mod:`marin_dagster.core.typed`); ``annotation`` is the config's own type where the
    class of the value does not say it all (the ``@step`` body's return annotation).
    """
    walker = _Walker(step_name)
    walker.recurse(config, "", compile_spec(annotation) if annotation is not None else None)
    return walker.result


def factory_hint(obj: object) -> str | None:
    """For an uncalled ``@step`` factory: "did you mean name()?" text, else ``None``."""
    template = getattr(obj, STEP_FACTORY_ATTR, None)
    if template is None:
        return None
    fn = getattr(obj, "__name__", "the factory")
    return (
        f"got the @step factory {fn} (step {template!r}), not a step; did you mean {fn}()? "
        "Calling the factory builds the step"
    )


_warned_unreadable: set[tuple[str, type]] = set()
_WARNED_LIMIT = 10_000


class _Walker:
    """One config walk (a class, so no closure cycles are left for the cyclic GC)."""

    def __init__(self, step_name: str) -> None:
        self.step_name = step_name
        self.result = ConfigWalk()
        self.on_path: set[int] = set()  # containers being walked: a config must be a tree

    def error(self, message: str, prefix: str) -> StepDefinitionError:
        return StepDefinitionError(message, step=self.step_name, field=_field_name(prefix))

    def record_versioned(self, value: Any, prefix: str) -> None:
        if contains_reference(value):
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

    def check_marker(self, obj: Any, prefix: str, spec: Spec) -> None:
        """Refuse a value of the wrong kind in a field annotated with a typing marker."""
        if obj is None and spec.optional:
            return
        marker = spec.marker
        if marker is Marker.VERSIONED and isinstance(obj, Versioned):
            return
        ref = as_ref(obj)
        kind = ref.kind if ref is not None else None
        if kind is RefKind.OUTPUT and marker is Marker.OUTPUT:
            return
        if (kind is RefKind.STEP or kind is RefKind.HARDCODED) and marker is Marker.DEP:
            return
        held = f"the field is annotated `{spec.annotation}` but holds {describe(obj)}"
        if marker is Marker.DEP:
            if isinstance(obj, str):
                fix = (
                    "a path from another step is `ctx.require(step)` or `step / 'sub'`; a path "
                    f"from outside the pipeline is `StepRef.hardcoded({obj!r})`"
                )
            elif kind is RefKind.OUTPUT:
                fix = (
                    "this step's own output belongs in an `Output[...]` field; a `Dep[...]` "
                    "field takes another step's output (`ctx.require(step)`) or "
                    "`StepRef.hardcoded(path)`"
                )
            else:
                fix = factory_hint(obj) or (
                    "a `Dep[...]` field takes a reference: `ctx.require(step)`, `step / 'sub'` "
                    "or `StepRef.hardcoded(path)`"
                )
        elif marker is Marker.OUTPUT:
            fix = (
                "an `Output[...]` field holds this step's own output: `ctx.output` or "
                "`ctx.output_subpath('sub')`"
            )
            if kind is RefKind.STEP or kind is RefKind.HARDCODED:
                fix += "; another step's output or an outside path belongs in a `Dep[...]` field"
            elif isinstance(obj, str):
                fix += (
                    " (the output path follows from the version; to write elsewhere, pass "
                    "`override_output_path=` to @step)"
                )
        else:
            if ref is not None:
                fix = "a reference is versioned already: annotate the field `Dep[...]` instead"
            else:
                fix = (
                    f"wrap it: `versioned({reprlib.repr(obj)})`; a plain value here does not "
                    "enter the version, so after it changes the old output would still be a "
                    "cache hit"
                )
        raise self.error(f"{held}; {fix}", prefix)

    def warn_unreadable(self, cls: type) -> None:
        """Warn once per step and class when typed annotations could not be resolved."""
        unread = unreadable_annotations(cls)
        if unread is None or (key := (self.step_name, cls)) in _warned_unreadable:
            return
        if len(_warned_unreadable) >= _WARNED_LIMIT:
            _warned_unreadable.clear()
        _warned_unreadable.add(key)
        warnings.warn(
            f"step {self.step_name!r}: the annotations {unread} of {cls.__qualname__} do not "
            "resolve (a forward reference to a name the module does not define?), so these "
            "typed fields are not checked; define the names they use at module level",
            UserWarning,
            stacklevel=2,
        )

    def recurse(self, obj: Any, prefix: str, spec: Spec | None = None) -> None:
        if spec is not None and spec.marker is not None:
            self.check_marker(obj, prefix, spec)
            spec = None
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
            keys = spec.keys if spec is not None else None
            values = spec.values if spec is not None else None
            for key, value in obj.items():
                if not isinstance(key, str):
                    raise self.error(f"dict keys must be strs to be hashed, got {key!r}", prefix)
                self.recurse(value, new_prefix + key, keys.get(key) if keys else values)
            self.on_path.discard(id(obj))
        elif isinstance(obj, list | tuple):
            self.enter(obj, prefix)
            items = spec.items if spec is not None else None
            fixed = spec.tuple_items if spec is not None else None
            cls = type(obj)
            if fixed is None and cls is not list and cls is not tuple and hasattr(cls, "_fields"):
                args = spec.type_args if spec is not None and spec.cls is cls else ()
                named = class_specs(cls, args)  # a NamedTuple: its fields' annotations
                fixed = named if isinstance(named, tuple) else None
                self.warn_unreadable(cls)
            for index, item in enumerate(obj):
                if fixed is not None:
                    items = fixed[index] if index < len(fixed) else None
                self.recurse(item, new_prefix + f"[{index}]", items)
            self.on_path.discard(id(obj))
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            self.enter(obj, prefix)
            cls = type(obj)
            args = spec.type_args if spec is not None and spec.cls is cls else ()
            specs = class_specs(cls, args)
            if not isinstance(specs, dict):
                specs = None
            self.warn_unreadable(cls)
            for field in dataclasses.fields(obj):
                self.recurse(
                    getattr(obj, field.name),
                    new_prefix + field.name,
                    specs.get(field.name) if specs else None,
                )
            self.on_path.discard(id(obj))
        elif isinstance(obj, set | frozenset) and contains_reference(obj):
            raise self.error(
                f"a {type(obj).__name__} holding references or versioned values is walked in "
                "iteration order, which Python does not fix; use a list or tuple",
                prefix,
            )
        elif callable(obj) and (hint := factory_hint(obj)) is not None:
            raise self.error(hint, prefix)
