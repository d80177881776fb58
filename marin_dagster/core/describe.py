"""A readable, flat ``field = value`` summary of an unresolved config, for people.

References show where they point, versioned values are marked; long values are shortened.

Example:
    >>> config_summary({"lr": versioned(0.1), "batch": 32})
    ['lr = 0.1  (versioned)', 'batch = 32']
    >>> config_rows({"lr": versioned(0.1)})
    [ConfigRow(field='lr', value='0.1', note='versioned')]
"""

import dataclasses
from typing import Any, NamedTuple

from marin_dagster.core.refs import RefKind
from marin_dagster.core.versioned import Versioned
from marin_dagster.core.walk import as_ref

__all__ = ["ConfigRow", "config_rows", "config_summary", "config_summary_of"]

MAX_VALUE_CHARS = 80


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


class ConfigRow(NamedTuple):
    """One leaf of a config: its dotted field, a short value, and a note (``versioned``, ...)."""

    field: str
    value: str
    note: str = ""


CUT = ConfigRow("…", "")
"""The last row when a config has more leaves than shown."""


def config_summary(config: Any, *, max_lines: int = 40) -> list[str]:
    """Flatten ``config`` into at most ``max_lines`` lines of ``path = value``."""
    return config_summary_of(config_rows(config, max_rows=max_lines))


def config_summary_of(rows: list[ConfigRow]) -> list[str]:
    """The ``field = value`` lines of rows from :func:`config_rows`."""
    return [_line(row) for row in rows]


def _line(row: ConfigRow) -> str:
    if row == CUT:
        return "…"
    return f"{row.field} = {row.value}" + (f"  ({row.note})" if row.note else "")


def config_rows(config: Any, *, max_rows: int = 40) -> list[ConfigRow]:
    """Flatten ``config`` into at most ``max_rows`` rows (a last ``…`` row when cut)."""
    lines: list[ConfigRow] = []
    max_lines = max_rows

    def emit(key: str, text: str, note: str = "") -> None:
        if len(lines) <= max_lines:
            lines.append(ConfigRow(key or "<config>", text, note))

    def recurse(obj: Any, key: str) -> None:
        if len(lines) > max_lines:
            return
        prefix = key + "." if key else ""
        ref = as_ref(obj)
        if ref is not None:
            sub = f"/{ref.subpath}" if ref.subpath else ""
            if ref.kind is RefKind.STEP:
                assert ref.step is not None
                emit(key, f"→ {ref.step.name}{sub}", "" if ref.blocking else "non-blocking")
            elif ref.kind is RefKind.OUTPUT:
                emit(key, f"<this step's output>{sub}")
            else:
                emit(key, str(ref.subpath), "hardcoded")
        elif isinstance(obj, Versioned):
            emit(key, _short(obj.value), "versioned")
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            for field in dataclasses.fields(obj):
                recurse(getattr(obj, field.name), prefix + field.name)
        elif isinstance(obj, dict) and obj:
            for k, v in obj.items():
                recurse(v, prefix + str(k))
        elif isinstance(obj, list | tuple) and obj and not hasattr(obj, "_fields"):
            for index, item in enumerate(obj):
                recurse(item, f"{prefix}[{index}]")
        else:
            emit(key, _short(obj))

    recurse(config, "")
    if len(lines) > max_lines:
        lines[max_lines:] = [CUT]
    return lines
