"""Progress and metrics from inside a step's function: ``report_progress`` and ``log_metrics``.

The function calls them wherever it runs (in the op's thread, a forked worker, a Ray task);
each call appends one JSON line to the call's report file, which the step's supervisor
(:func:`marin_dagster.core.runner.run_step`) tails while it polls the backend: each line shows in
Dagster's event log as it arrives, and the last value of each metric ends up in the step's
materialization metadata. Outside a run (no report file) both are no-ops.

On a Ray cluster the report file must be on a filesystem the task's node shares with the step
worker (one machine, or a shared mount); otherwise the reports are not seen.

Example:
    >>> report_progress(3, 10)  # outside a run: nothing happens
    >>> with reporting_to("/tmp/marin-report-doctest.jsonl"):
    ...     log_metrics({"perplexity": 12.5})
    >>> ReportTail("/tmp/marin-report-doctest.jsonl").read_new()[-1]["metrics"]
    {'perplexity': 12.5}
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
import os
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from marin_dagster.core.scoped import context_value

__all__ = ["ReportTail", "log_metrics", "new_report_path", "report_progress", "reporting_to"]

_PATH: contextvars.ContextVar[str | None] = contextvars.ContextVar("marin_report", default=None)


def new_report_path() -> str:
    """A fresh report file path for one call, under this user's ``marin-reports-{uid}`` temp
    directory (the file is created by the first record and removed after the call).

    Example:
        >>> new_report_path() != new_report_path()
        True
    """
    directory = os.path.join(tempfile.gettempdir(), f"marin-reports-{os.getuid()}")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    return os.path.join(directory, f"{uuid.uuid4().hex}.jsonl")


@contextlib.contextmanager
def reporting_to(path: str | None) -> Iterator[None]:
    """Send this thread's ``report_progress`` / ``log_metrics`` calls to ``path``."""
    with context_value(_PATH, path):
        yield


def report_progress(done: float, total: float | None = None) -> None:
    """Say how far the step is: ``report_progress(300, 1000)`` (a no-op outside a run)."""
    _emit({"kind": "progress", "done": done, "total": total})


def log_metrics(metrics: Mapping[str, float]) -> None:
    """Record numeric metrics, e.g. ``log_metrics({"perplexity": 12.5})``; the last value of
    each becomes materialization metadata (plotted across materializations in the UI)."""
    clean = {str(k): float(v) for k, v in metrics.items()}
    bad = [k for k, v in clean.items() if not math.isfinite(v)]
    if bad:
        raise ValueError(f"log_metrics: values must be finite numbers, got {bad}")
    _emit({"kind": "metrics", "metrics": clean})


def _emit(record: dict[str, Any]) -> None:
    path = _PATH.get()
    if not path:
        return
    line = (json.dumps(record) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)  # one append per record: lines from several processes never mix
    finally:
        os.close(fd)


class ReportTail:
    """Reads the records appended to a report file since the last read."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def read_new(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        records = []
        for line in lines:
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    records.append(record)
        return records
