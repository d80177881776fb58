"""A readable, flat ``field = value`` summary of an unresolved config, for people.

References show where they point, versioned values are marked; long values are shortened.

Example:
    >>> config_summary({"lr": versioned(0.1), "batch": 32})
    ['lr = 0.1  (versioned)', 'batch = 32']
"""

import dataclasses
from typing import Any

from marin_dagster.core.refs import RefKind
from marin_dagster.core.versioned import Versioned
from marin_dagster.core.walk import as_ref

__all__ = ["config_summary"]

MAX_VALUE_CHARS = 80


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def config_summary(config: Any, *, max_lines: int = 40) -> list[str]:
    """Flatten ``config`` into at most ``max_lines`` lines of ``path = value``."""
    lines: list[str] = []

    def emit(key: str, text: str) -> None:
        if len(lines) <= max_lines:
            lines.append(f"{key or '<config>'} = {text}")

    def recurse(obj: Any, key: str) -> None:
        if len(lines) > max_lines:
            return
        prefix = key + "." if key else ""
        ref = as_ref(obj)
        if ref is not None:
            sub = f"/{ref.subpath}" if ref.subpath else ""
            if ref.kind is RefKind.STEP:
                assert ref.step is not None
                nb = "  (non-blocking)" if not ref.blocking else ""
                emit(key, f"→ {ref.step.name}{sub}{nb}")
            elif ref.kind is RefKind.OUTPUT:
                emit(key, f"<this step's output>{sub}")
            else:
                emit(key, f"{ref.subpath}  (hardcoded)")
        elif isinstance(obj, Versioned):
            emit(key, f"{_short(obj.value)}  (versioned)")
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
        lines[max_lines:] = ["…"]
    return lines
