"""Marin's version hash, byte for byte: ``md5(json.dumps(version, sort_keys=True))[:6]``.

The encoder mirrors Marin's ``CustomJsonEncoder`` (timedelta → days/seconds/microseconds,
``Path`` → str, dataclass → ``asdict``, anything else → ``str(obj)``) but refuses what Marin
would hash nondeterministically: an object whose ``str`` is its default ``repr`` (a memory
address) and sets, whose iteration order Python does not fix.

Example:
    >>> version_hash({"name": "a", "config": {}, "dependencies": []})[0]
    '{"config": {}, "dependencies": [], "name": "a"}'
"""

import dataclasses
import datetime
import hashlib
import json
import pathlib
import re
from typing import Any

# Default reprs of objects, functions, methods, partials...: "<... at 0x7f3a...>".
_MEMORY_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


class NondeterministicValueError(TypeError):
    """A value would hash differently from one process to the next."""


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
            raise NondeterministicValueError(
                f"a {type(o).__name__} is hashed in iteration order, which Python does not fix "
                "across processes; use a sorted list or tuple"
            )
        text = str(o)
        if _MEMORY_ADDRESS.search(text):
            raise NondeterministicValueError(
                f"{type(o).__qualname__} has no stable text form (its str is {text!r}, a memory "
                "address); give it a __str__, make it a dataclass, or version a plain value"
            )
        return text


def dumps_version(value: Any) -> str:
    """Serialise exactly as Marin does before hashing (default separators, ASCII, sorted keys)."""
    return json.dumps(value, sort_keys=True, cls=MarinJsonEncoder)


def version_hash(version: dict[str, Any]) -> tuple[str, str]:
    """Return ``(version_str, hash6)`` for a version dict."""
    version_str = dumps_version(version)
    return version_str, hashlib.md5(version_str.encode()).hexdigest()[:6]
