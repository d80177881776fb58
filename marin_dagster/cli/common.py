"""Shared pieces of the command line: aligned text tables, step selection, lease reading."""

import fnmatch
from collections.abc import Sequence

import click

from marin_dagster.core.graph import AnyStep, StepGraph
from marin_dagster.core.lease import StepLease
from marin_dagster.core.lease_record import Lease

READER_ID = "marin-dagster-cli"
"""The worker id the CLI's read-only lease objects carry (they never write)."""


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain text columns, left-aligned, two spaces apart.

    Example:
        >>> print(table(["a", "bb"], [["xyz", "1"]]))
        a    bb
        xyz  1
    """
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]
    lines = [headers, *rows]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def select(graph: StepGraph, patterns: Sequence[str]) -> list[AnyStep]:
    """Steps whose name matches a pattern (exact or glob), in graph order; unknown → usage error."""
    chosen: set[int] = set()
    for pattern in patterns:
        hits = [s for s in graph.steps if s.name == pattern or fnmatch.fnmatchcase(s.name, pattern)]
        if not hits:
            names = ", ".join(s.name for s in graph.steps)
            raise click.UsageError(f"no step matches {pattern!r}; steps: {names}")
        chosen.update(id(s) for s in hits)
    return [s for s in graph.steps if id(s) in chosen]


def with_upstream(graph: StepGraph, steps: Sequence[AnyStep]) -> list[AnyStep]:
    """``steps`` and every step they wait for (blocking edges), in graph order."""
    seen: set[int] = set()
    stack = list(steps)
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(graph.blocking_deps(node))
    return [s for s in graph.steps if id(s) in seen]


def read_lease(output_path: str, timeout: float) -> tuple[Lease | None, bool]:
    """The lock's lease (never written) and whether it is live, judged as the runner does."""
    reader = StepLease(output_path, worker_id=READER_ID, timeout=timeout)
    lease = reader.read()
    return lease, lease is not None and not reader.judge.is_stale(lease)
