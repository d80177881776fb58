"""Per-run behaviour of Marin steps, settable from the launchpad: ``MarinRunSettings``.

Precedence, later wins, ``None`` meaning unset: Marin's defaults (``RunOptions()``) <
``build_definitions(force_run_failed=..., run_options=...)`` < this resource's run config::

    resources:
      marin:
        config:
          force_rerun: ["train/*"]     # rerun these selected steps even if SUCCESS
          force_run_failed: false      # fail instead of rerunning steps that FAILED before

Example:
    >>> settings = MarinRunSettings(force_rerun=["train/*"])
    >>> settings.options_for("train/lm", RunOptions()).force_rerun
    True
    >>> settings.options_for("eval/lm", RunOptions()).force_rerun
    False
"""

from __future__ import annotations

import dataclasses
import fnmatch

import dagster as dg
from pydantic import Field

from marin_dagster.core.runner import RunOptions

__all__ = ["MarinRunSettings"]


class MarinRunSettings(dg.ConfigurableResource):
    """How this run treats status files; every field unset (null) keeps the code's value."""

    force_run_failed: bool | None = Field(
        default=None,
        description="Rerun steps whose status is FAILED (Marin's default: true). False makes "
        "such a step fail the run instead.",
    )
    force_rerun: list[str] | None = Field(
        default=None,
        description="Step names or glob patterns (e.g. 'train/*', or '*' for every selected "
        "step) to run again even though their status is SUCCESS.",
    )
    heartbeat_interval: float | None = Field(
        default=None, gt=0, description="Seconds between lease refreshes (Marin: 30)."
    )
    lease_timeout: float | None = Field(
        default=None,
        gt=0,
        description="Seconds after which an unrefreshed lease is stale and may be taken over "
        "(Marin: 90).",
    )
    poll_interval: float | None = Field(
        default=None, gt=0, description="Seconds between checks of a step another worker runs."
    )
    max_wait: float | None = Field(
        default=None,
        gt=0,
        description="Give up waiting for a step another worker runs after this many seconds "
        "(null: wait as long as its lease is live).",
    )
    check_upstream: bool | None = Field(
        default=None,
        description="Refuse to run a step whose blocking upstream steps have not succeeded.",
    )

    def options_for(self, step_name: str, base: RunOptions) -> RunOptions:
        """``base`` with this run's set values applied, for the step named ``step_name``."""
        changes: dict[str, object] = {
            name: getattr(self, name)
            for name in (
                "force_run_failed",
                "heartbeat_interval",
                "lease_timeout",
                "poll_interval",
                "max_wait",
                "check_upstream",
            )
            if getattr(self, name) is not None
        }
        if self.force_rerun is not None:
            changes["force_rerun"] = any(
                fnmatch.fnmatchcase(step_name, pattern) for pattern in self.force_rerun
            )
        return dataclasses.replace(base, **changes) if changes else base
