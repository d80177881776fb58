"""Typed config fields (``Dep[T]``, ``Output[T]``, ``Versioned[T]``), checked during the walk.

Annotations are read once per class with ``typing.get_type_hints(include_extras=True)`` and
compiled to a small :class:`Spec` tree, cached; the walk then compares each value with its
spec. What a marker demands of the value it annotates:

* ``Dep[T]``: a reference to another step (``ctx.require(step)``, ``step / "sub"``) or a path
  outside the pipeline (``StepRef.hardcoded(path)``), never a plain ``str``;
* ``Output[T]``: this step's own output, ``ctx.output`` or ``ctx.output_subpath(...)``;
* ``Versioned[T]``: a ``versioned(...)`` value.

Containers are followed (``list[Dep[str]]``, ``dict[str, Dep[str]]``, ``tuple[...]``,
``Optional[...]``, ``Annotated[...]``, nested dataclasses, NamedTuples, TypedDicts). A TypeVar
takes the type it is parameterised with in an enclosing annotation (``TrainConfig[Dep[str],
...]``); a bare one whose constraints (or bound) include a marker is that marker, since configs
are built in the marker phase. A union of a marker and a plain type, ``Any`` and unannotated
fields are not checked (Marin's behaviour).

Example:
    >>> compile_spec(list[Dep[str]]).items.marker
    <Marker.DEP: 'Dep'>
"""

import dataclasses
import enum
import sys
import types
import typing
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from marin_dagster.core.refs import Dep, Output
from marin_dagster.core.versioned import Versioned

__all__ = ["Marker", "Spec", "class_specs", "compile_spec", "unreadable_annotations"]


class Marker(enum.Enum):
    """Which typing marker a field carries."""

    DEP = "Dep"
    OUTPUT = "Output"
    VERSIONED = "Versioned"


_MARKERS: dict[Any, Marker] = {Dep: Marker.DEP, Output: Marker.OUTPUT, Versioned: Marker.VERSIONED}

TypeArgs = tuple[tuple[Any, Any], ...]
"""A TypeVar → annotation map, as a hashable tuple of pairs."""


@dataclasses.dataclass(frozen=True, slots=True)
class Spec:
    """What a value at one place in a config must be (only what can be checked is kept)."""

    marker: Marker | None = None
    optional: bool = False
    items: "Spec | None" = None
    """Items of a list, a ``tuple[X, ...]`` or a sequence."""
    tuple_items: "tuple[Spec | None, ...] | None" = None
    """Items of a fixed-length ``tuple[A, B]``."""
    values: "Spec | None" = None
    """Values of a ``dict[str, X]`` / mapping."""
    keys: "dict[str, Spec] | None" = None
    """Per-key specs of a TypedDict."""
    cls: type | None = None
    """A parameterised dataclass / NamedTuple annotation: its class, with ``type_args``."""
    type_args: TypeArgs = ()
    annotation: str = ""
    """The annotation as written, for messages."""


_NONE = type(None)
_spec_cache: dict[Any, Spec | None] = {}
_class_cache: dict[tuple[type, TypeArgs], "dict[str, Spec] | tuple[Spec | None, ...] | None"] = {}
_unreadable: dict[type, str] = {}
_CACHE_LIMIT = 10_000


def _name(annotation: Any) -> str:
    text = annotation.__name__ if isinstance(annotation, type) else repr(annotation)
    return text.replace("marin_dagster.core.refs.", "").replace("marin_dagster.core.versioned.", "")


def _typevar(tv: TypeVar) -> Any:
    """The marker a bare TypeVar stands for while a config is built, else ``None``."""
    options = list(tv.__constraints__) or ([tv.__bound__] if tv.__bound__ is not None else [])
    markers = {_MARKERS.get(get_origin(o) or o) for o in options} - {None}
    if len(markers) != 1:
        return None
    return next(o for o in options if (get_origin(o) or o) in _MARKERS)


def compile_spec(annotation: Any, type_args: TypeArgs = ()) -> Spec | None:
    """The :class:`Spec` of ``annotation`` (``None``: nothing to check), cached."""
    key = (annotation, type_args)
    try:
        return _spec_cache[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable annotation: compile without the cache
        return _compile(annotation, dict(type_args))
    spec = _spec_cache[key] = _compile(annotation, dict(type_args))
    return spec


def _compile(annotation: Any, args: dict[Any, Any]) -> Spec | None:
    if isinstance(annotation, TypeVar):
        if annotation in args:
            return _compile(args[annotation], {})
        bare = _typevar(annotation)
        return None if bare is None else _compile(bare, {})
    origin = get_origin(annotation)
    if origin is Annotated or origin is typing.Required or origin is typing.NotRequired:
        return _compile(get_args(annotation)[0], args)
    marker = _MARKERS.get(origin or annotation)
    if marker is not None:
        return Spec(marker=marker, annotation=_name(annotation))
    params = get_args(annotation)
    if origin is Union or origin is types.UnionType:
        arms = [a for a in params if a is not _NONE]
        if len(arms) != 1:
            return None  # a marker or a plain value: both are allowed
        inner = _compile(arms[0], args)
        if inner is None:
            return None
        return dataclasses.replace(inner, optional=len(arms) < len(params))
    if origin in (list, set, frozenset) or _is_sequence(origin):
        item = _compile(params[0], args) if params else None
        return None if item is None else Spec(items=item)
    if origin is tuple:
        if len(params) == 2 and params[1] is Ellipsis:
            item = _compile(params[0], args)
            return None if item is None else Spec(items=item)
        fixed = tuple(_compile(p, args) for p in params)
        return None if all(s is None for s in fixed) else Spec(tuple_items=fixed)
    if origin is dict or _is_mapping(origin):
        value = _compile(params[1], args) if len(params) == 2 else None
        return None if value is None else Spec(values=value)
    if _is_typeddict(annotation):
        specs = class_specs(annotation)
        return Spec(keys=specs) if isinstance(specs, dict) else None
    if origin is not None and isinstance(origin, type) and params:
        tvs = getattr(origin, "__parameters__", ())
        resolved = tuple(args.get(p, p) if isinstance(p, TypeVar) else p for p in params)
        if len(tvs) == len(resolved):
            return Spec(cls=origin, type_args=tuple(zip(tvs, resolved, strict=True)))
    return None


def _is_sequence(origin: Any) -> bool:
    import collections.abc as abc

    return origin in (abc.Sequence, abc.MutableSequence, abc.Iterable, abc.Collection)


def _is_mapping(origin: Any) -> bool:
    import collections.abc as abc

    return origin in (abc.Mapping, abc.MutableMapping)


def _is_typeddict(annotation: Any) -> bool:
    return isinstance(annotation, type) and typing.is_typeddict(annotation)


def _hints(cls: type) -> dict[str, Any]:
    """Resolved annotations of ``cls``; fields whose annotation cannot be resolved are left out."""
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except Exception:  # a forward reference that does not resolve: keep what can be read
        pass
    hints: dict[str, Any] = {}
    unread: list[str] = []
    for klass in reversed(cls.__mro__):
        module = sys.modules.get(klass.__module__)
        namespace = dict(vars(module)) if module is not None else {}
        for name, raw in vars(klass).get("__annotations__", {}).items():
            if not isinstance(raw, str):
                hints[name] = raw
                continue
            try:
                hints[name] = eval(raw, namespace, dict(vars(klass)))
            except Exception:
                hints.pop(name, None)
                if any(m.value + "[" in raw for m in Marker):
                    unread.append(f"{name}: {raw}")
    if unread:
        _unreadable[cls] = ", ".join(unread)
    return hints


def unreadable_annotations(cls: type) -> str | None:
    """Typed annotations of ``cls`` that could not be resolved (so were not checked), if any."""
    return _unreadable.get(cls)


def class_specs(
    cls: type, type_args: TypeArgs = ()
) -> "dict[str, Spec] | tuple[Spec | None, ...] | None":
    """Specs of the fields of a dataclass or TypedDict (by name) or a NamedTuple (by index).

    ``None`` when no field has anything to check; cached per class and parameterisation.
    """
    key = (cls, type_args)
    try:
        return _class_cache[key]
    except KeyError:
        pass
    except TypeError:
        return None
    if len(_class_cache) >= _CACHE_LIMIT:  # classes made on the fly must not grow it forever
        _class_cache.clear()
        _spec_cache.clear()
    result: dict[str, Spec] | tuple[Spec | None, ...] | None = None
    hints = _hints(cls)
    if hints:
        specs = {name: compile_spec(hint, type_args) for name, hint in hints.items()}
        if issubclass(cls, tuple) and hasattr(cls, "_fields"):
            fixed = tuple(specs.get(name) for name in cls._fields)  # type: ignore[attr-defined]
            result = None if all(s is None for s in fixed) else fixed
        else:
            kept = {name: s for name, s in specs.items() if s is not None}
            result = kept or None
    _class_cache[key] = result
    return result


def describe(value: object) -> str:
    """A short description of a wrongly placed value, for messages."""
    import reprlib

    return f"{type(value).__name__} {reprlib.repr(value)}"
