"""The one-glance summary a run ends with: what ran, what was a cache hit, what failed.

``marin_executor`` feeds it every event of the run and logs :meth:`RunSummary.text` as the
run's last engine event, so it shows in the Dagster UI and on the terminal of
``dagster job execute``.

Example:
    >>> summary = RunSummary()
    >>> summary.ran.append("train/lm")
    >>> summary.cache_hits.append("data/corpus")
    >>> print(summary.text())
    Marin run summary: 1 ran, 1 cache hit, 0 failed, 0 skipped
"""

from __future__ import annotations

import dataclasses
from typing import Any

from marin_dagster import metadata_keys as keys

__all__ = ["RunSummary", "first_error_line"]


def first_error_line(message: str) -> str:
    """The line that says what went wrong: a traceback's exception line, else the first line.

    Example:
        >>> first_error_line("step 'a' failed:\\nTraceback (most recent call):\\nValueError: x")
        'ValueError: x'
    """
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return ""
    if any(line.startswith("Traceback") for line in lines):
        return lines[-1]
    return lines[0]


@dataclasses.dataclass
class RunSummary:
    """Step outcomes collected from a run's events (names are Marin step names)."""

    ran: list[str] = dataclasses.field(default_factory=list)
    cache_hits: list[str] = dataclasses.field(default_factory=list)
    failed: dict[str, str] = dataclasses.field(default_factory=dict)
    skipped: list[str] = dataclasses.field(default_factory=list)
    _names: dict[str, str] = dataclasses.field(default_factory=dict)

    def name_steps(self, names: dict[str, str]) -> None:
        """Map Dagster step keys (``train__lm``) to Marin step names (``train/lm``)."""
        self._names.update(names)

    def observe(self, event: Any) -> str | None:
        """Record what ``event`` (a ``DagsterEvent``) says about its step.

        Returns ``"ran"``, ``"cache hit"``, ``"failed"`` or ``"skipped"`` when the event
        settles a step, else ``None``.
        """
        key: str | None = event.step_key
        if key is None:
            return None
        name = self._names.get(key, key)
        if event.is_step_materialization:
            metadata = event.step_materialization_data.materialization.metadata
            hit = metadata.get(keys.CACHE_HIT)
            if hit is not None:
                (self.cache_hits if hit.value else self.ran).append(name)
                return "cache hit" if hit.value else "ran"
        elif event.is_step_failure:
            error = event.step_failure_data.error
            while error is not None and error.cause is not None:  # Dagster wraps user errors
                error = error.cause
            self.failed[name] = first_error_line(error.message if error is not None else "")
            return "failed"
        elif event.is_step_skipped:
            self.skipped.append(name)
            return "skipped"
        return None

    @property
    def settled(self) -> int:
        """Steps whose outcome is known so far."""
        return len(self.ran) + len(self.cache_hits) + len(self.failed) + len(self.skipped)

    def step_name(self, step_key: str) -> str:
        return self._names.get(step_key, step_key)

    def text(self) -> str:
        """``Marin run summary: 3 ran, 2 cache hits, 1 failed, 1 skipped`` + failed steps."""
        hits = len(self.cache_hits)
        head = (
            f"Marin run summary: {len(self.ran)} ran, {hits} cache hit{'s' * (hits != 1)}, "
            f"{len(self.failed)} failed, {len(self.skipped)} skipped"
        )
        lines = [head, *(f"  failed {name}: {line}" for name, line in self.failed.items())]
        if self.skipped:
            lines.append(f"  skipped (upstream failed): {', '.join(self.skipped)}")
        return "\n".join(lines)
