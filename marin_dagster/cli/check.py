"""``marin-dagster check PATH...``: legacy patterns to migrate, file by file (nothing imported).

Example:
    $ marin-dagster check experiments/ --json
"""

import dataclasses
import json
from collections.abc import Sequence

from marin_dagster.core.migration_check import Finding


def render(findings: Sequence[Finding], files: int) -> str:
    """The text report: a header per file, then ``line:col kind: message`` and the replacement.

    Example:
        >>> render([], 3)
        'no legacy patterns in 3 files'
    """
    if not findings:
        return f"no legacy patterns in {files} file{'s' if files != 1 else ''}"
    lines: list[str] = []
    current = None
    for f in findings:
        if f.path != current:
            current = f.path
            lines.append(current)
        lines.append(f"  {f.line}:{f.col} {f.kind}: {f.message}")
        lines.append(f"      -> {f.replacement}")
    touched = len({f.path for f in findings})
    lines.append(
        f"{len(findings)} finding{'s' if len(findings) != 1 else ''} in {touched} of {files} "
        "files (see the README: Migrating from Marin's executor)"
    )
    return "\n".join(lines)


def as_json(findings: Sequence[Finding]) -> str:
    """The findings as a JSON list of objects (path, line, col, kind, message, replacement)."""
    return json.dumps([dataclasses.asdict(f) for f in findings], indent=2)
