"""Where a step's function runs: the one interface every backend (local, Ray, ...) implements.

The status protocol (lease, heartbeat, ``RUNNING`` / ``SUCCESS`` / ``FAILED``) stays with the
caller (:func:`marin_dagster.core.runner.run_step`), in a process that does nothing but supervise;
a backend only runs ``fn(config)`` somewhere and reports how that went. So a backend never
re-implements the status protocol, and a function that holds the GIL for minutes cannot starve
the lease heartbeat.

A backend is polled, not awaited: ``launch`` returns a handle at once, ``poll`` says whether the
call finished, ``terminate`` stops it (on a lost lease or a cancelled run).

Example:
    >>> backend = InlineBackend()
    >>> call = StepCall("demo/hello", print, "hi", ResourceConfig(), "/tmp/demo/hello-abc123")
    >>> backend.can_serve(call.resources) is None
    True
    >>> handle = backend.launch(call)
    hi
    >>> backend.poll(handle).ok
    True
"""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from marin_dagster.core.report import reporting_to
from marin_dagster.core.resources import ResourceConfig

__all__ = [
    "Backend",
    "BackendUnavailableError",
    "InlineBackend",
    "Outcome",
    "StepCall",
]


@dataclasses.dataclass(frozen=True)
class StepCall:
    """One call of a step's function: what to run, with what, on which hardware."""

    step_name: str
    fn: Callable[[Any], Any]
    config: Any
    """The resolved config (plain values and ``str`` paths) passed to ``fn``."""
    resources: ResourceConfig
    output_path: str
    report_path: str | None = None
    """Where ``report_progress`` / ``log_metrics`` append during the call (``None``: nowhere)."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a finished call went. ``error`` carries the backend's message (and traceback).

    ``details`` is JSON-compatible data on where the call ran (backend, host, pid, the resources
    the backend granted, ...), recorded as run metadata.
    """

    ok: bool
    error: str | None = None
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    exception: BaseException | None = None
    """The original exception, when ``fn`` ran in this process (re-raised as it is)."""


class BackendUnavailableError(RuntimeError):
    """A backend cannot serve a step: raised before anything runs or is written."""


@runtime_checkable
class Backend(Protocol):
    """Runs step functions somewhere. Implementations: local (forked worker), Ray, ...

    ``can_serve`` is checked before any step of a run is launched; it returns ``None`` when the
    backend can run a step with these resources, else a sentence saying why not (shown to the
    user with the step's name).
    """

    name: str

    def can_serve(self, resources: ResourceConfig) -> str | None: ...

    def launch(self, call: StepCall) -> Any: ...

    def poll(self, handle: Any) -> Outcome | None:
        """``None`` while the call runs, else its :class:`Outcome`."""
        ...

    def terminate(self, handle: Any) -> None:
        """Stop the call (idempotent); a later ``poll`` reports it as not ok."""
        ...


class InlineBackend:
    """Runs ``fn`` in the calling thread during ``launch``: no isolation, nothing to stop.

    The fallback for in-process execution (``dagster.materialize`` in tests). A lost lease is
    still detected and nothing is recorded, but ``fn`` cannot be stopped early.
    """

    name = "inline"

    def can_serve(self, resources: ResourceConfig) -> str | None:
        return None

    def launch(self, call: StepCall) -> Outcome:
        try:
            with reporting_to(call.report_path):
                call.fn(call.config)
        except Exception as exc:
            return Outcome(False, _describe(exc), {"backend": self.name}, exc)
        return Outcome(True, None, {"backend": self.name})

    def poll(self, handle: Outcome) -> Outcome:
        return handle

    def terminate(self, handle: Outcome) -> None:
        return None


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)).rstrip()
