"""Marin's version hash, byte for byte: ``md5(json.dumps(version, sort_keys=True))[:6]``.

The encoder mirrors Marin's ``CustomJsonEncoder`` (timedelta → days/seconds/microseconds,
``Path`` → str, dataclass → ``asdict``, anything else → ``str(obj)``). :func:`check_versionable`
(and :func:`versionable_form`, which also returns the value as that encoder writes it)
refuses, before hashing, what that encoding would hash nondeterministically or lossily:

* an object whose ``str`` is its default ``repr`` (a memory address), and sets (iteration order);
* dict keys that are not ``str`` (JSON turns ``{1: x}`` into ``{"1": x}``: one hash for both);
* numpy arrays (``str`` elides items beyond 1000 and rounds floats) and any other object
  without a known lossless text form (its ``str`` may omit state).

Values of the kinds in :data:`TEXT_TYPES` (datetimes, enums, bytes, UUIDs, decimals, numpy
scalars, classes) version as Marin versions them, through ``str``.

Example:
    >>> version_hash({"name": "a", "config": {}, "dependencies": []})[0]
    '{"config": {}, "dependencies": [], "name": "a"}'
"""

import dataclasses
import datetime
import decimal
import enum
import fractions
import hashlib
import json
import pathlib
import re
import reprlib
import sys
import uuid
from typing import Any

# Default reprs of objects, functions, methods, partials...: "<... at 0x7f3a...>".
_MEMORY_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")

JSON_SCALARS: tuple[type, ...] = (str, int, float, bool, type(None))
TEXT_TYPES: tuple[type, ...] = (
    datetime.date,  # datetime.datetime too
    datetime.time,
    enum.Enum,
    uuid.UUID,
    decimal.Decimal,
    fractions.Fraction,
    complex,
    bytes,
    bytearray,
    type,
)
"""Kinds whose ``str`` is lossless: versioned through ``str``, as Marin's encoder does."""


class NondeterministicValueError(TypeError):
    """A value would hash differently from one process to the next."""


class UnversionableValueError(NondeterministicValueError):
    """A value's encoding would lose information, so two different values could share a hash."""


class MarinJsonEncoder(json.JSONEncoder):
    """JSON encoder giving the same bytes as Marin's ``CustomJsonEncoder`` for valid input."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.timedelta):
            return {"days": o.days, "seconds": o.seconds, "microseconds": o.microseconds}
        if isinstance(o, pathlib.PurePath):
            return str(o)
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        if isinstance(o, set | frozenset):
            raise NondeterministicValueError(_set_message(o))
        text = str(o)
        if _MEMORY_ADDRESS.search(text):
            raise NondeterministicValueError(_address_message(o, text))
        return text


def _set_message(value: object) -> str:
    return (
        f"a {type(value).__name__} is hashed in iteration order, which Python does not fix "
        "across processes; use a sorted list or tuple"
    )


def _address_message(value: object, text: str) -> str:
    return (
        f"{type(value).__qualname__} has no stable text form (its str is {reprlib.repr(text)}, "
        "a memory address); give it a __str__, make it a dataclass, or version a plain value"
    )


def _numpy_kinds() -> tuple[type, type] | None:
    numpy = sys.modules.get("numpy")  # a numpy value implies numpy is imported
    return (numpy.ndarray, numpy.generic) if numpy is not None else None


def _text_form_problem(value: Any) -> str | None:
    """Why ``str(value)`` (Marin's fallback) is not a safe version entry, or ``None``."""
    numpy = _numpy_kinds()
    if numpy is not None and isinstance(value, numpy[0]):
        return (
            "a numpy array's str elides items beyond 1000 and rounds floats, so different "
            "arrays would share a hash; version value.tolist() instead"
        )
    text = str(value)
    if _MEMORY_ADDRESS.search(text):
        return _address_message(value, text)
    if isinstance(value, TEXT_TYPES) or (numpy is not None and isinstance(value, numpy[1])):
        return None
    return (
        f"{type(value).__qualname__} would be versioned by its str ({reprlib.repr(text)}), which "
        "may omit part of its state, so different values could share a hash; make it a "
        "dataclass, version plain values, or version str(value) explicitly if that text "
        "identifies it (the hash is then the same as Marin's)"
    )


def check_versionable(value: Any) -> None:
    """Raise :class:`NondeterministicValueError` if ``value`` cannot be versioned reliably.

    Example:
        >>> check_versionable({"lr": 0.1, "path": pathlib.Path("a")})
        >>> check_versionable({1: "x"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        UnversionableValueError: dict key 1 is not a str: ...
    """
    versionable_form(value)


def versionable_form(value: Any) -> Any:
    """``value`` as Marin's encoder writes it (JSON-safe), after :func:`check_versionable`.

    ``Path`` → str, ``timedelta`` → days/seconds/microseconds, dataclass → dict of its fields,
    :data:`TEXT_TYPES` → ``str``; plain JSON values come back as they are (the same object when
    nothing inside needed encoding), so ``json.dumps`` of the result is Marin's text for
    ``value``. A problem raises with where it is inside ``value`` (``(at [2].key)``).

    Example:
        >>> versionable_form({"root": pathlib.Path("a/b"), "n": (1, 2)})
        {'root': 'a/b', 'n': (1, 2)}
    """
    if isinstance(value, JSON_SCALARS):  # the common case: nothing to walk
        return value
    return _Encoding().visit(value, "")


class _Encoding:
    """One :func:`versionable_form` walk (a class, so no closure cycles are left for the GC)."""

    def __init__(self) -> None:
        self.on_path: set[int] = set()

    @staticmethod
    def fail(error: type[NondeterministicValueError], message: str, where: str) -> Any:
        raise error(f"{message} (at {where})" if where else message)

    def visit(self, obj: Any, where: str) -> Any:
        if isinstance(obj, JSON_SCALARS):
            return obj
        if isinstance(obj, datetime.timedelta):
            return {"days": obj.days, "seconds": obj.seconds, "microseconds": obj.microseconds}
        if isinstance(obj, pathlib.PurePath):
            return str(obj)
        if isinstance(obj, set | frozenset):
            return self.fail(NondeterministicValueError, _set_message(obj), where)
        is_dataclass = dataclasses.is_dataclass(obj) and not isinstance(obj, type)
        if not (is_dataclass or isinstance(obj, dict | list | tuple)):
            problem = _text_form_problem(obj)
            if problem is None:
                return str(obj)
            address = _MEMORY_ADDRESS.search(problem) is not None
            error = NondeterministicValueError if address else UnversionableValueError
            return self.fail(error, problem, where)
        if id(obj) in self.on_path:
            return self.fail(UnversionableValueError, "the value contains itself", where)
        self.on_path.add(id(obj))
        try:
            return self.visit_container(obj, where, is_dataclass)
        finally:
            self.on_path.discard(id(obj))

    def visit_container(self, obj: Any, where: str, is_dataclass: bool) -> Any:
        if is_dataclass:  # Marin: dataclasses.asdict
            return {
                f.name: self.visit(getattr(obj, f.name), f"{where}.{f.name}" if where else f.name)
                for f in dataclasses.fields(obj)
            }
        if isinstance(obj, dict):
            out: dict[str, Any] = {}
            for key, item in obj.items():
                if not isinstance(key, str):
                    self.fail(
                        UnversionableValueError,
                        f"dict key {key!r} is not a str: JSON would write it as "
                        f"{json.dumps(str(key))}, so {{{key!r}: ...}} and {{{str(key)!r}: ...}} "
                        "would share a hash; use str keys",
                        where,
                    )
                out[key] = self.visit(item, f"{where}.{key}" if where else key)
            same = all(out[k] is v for k, v in obj.items())
            return obj if same else out
        items = [self.visit(item, f"{where}[{index}]") for index, item in enumerate(obj)]
        return obj if all(a is b for a, b in zip(items, obj, strict=True)) else items


def dumps_version(value: Any) -> str:
    """Serialise exactly as Marin does before hashing (default separators, ASCII, sorted keys)."""
    return json.dumps(value, sort_keys=True, cls=MarinJsonEncoder)


def version_hash(version: dict[str, Any]) -> tuple[str, str]:
    """Return ``(version_str, hash6)`` for a version dict."""
    version_str = dumps_version(version)
    return version_str, hashlib.md5(version_str.encode()).hexdigest()[:6]
