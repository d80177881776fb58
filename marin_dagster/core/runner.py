"""Run one step the way Marin's executor does, honouring the status files of a shared prefix.

``SUCCESS`` → cache hit (``fn`` is not called); ``FAILED`` → rerun (``force_run_failed``);
``RUNNING`` under a live lease → wait; stale lease → take over. ``SUCCESS`` is written only when
``fn`` returned normally; an error writes ``FAILED`` and propagates.

``fn`` runs on a :class:`~marin_dagster.core.backend.Backend` (a forked worker, a Ray cluster,
...) while this process only supervises: it keeps the lease alive and polls the backend. If the
lease is lost (the lock file vanished or another worker took it), the call is terminated and
**nothing** is recorded: no ``SUCCESS``, no ``FAILED``; the step raises :class:`LeaseLostError`.
Every final status write is preceded by a lease refresh, so a worker that lost its lease
between two heartbeats records nothing either.

Example:
    >>> graph = StepGraph([my_step], prefix="/tmp/p")  # doctest: +SKIP
    >>> run_step(my_step, graph).cache_hit  # doctest: +SKIP
    False
"""

import contextlib
import dataclasses
import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from marin_dagster.core.backend import Backend, InlineBackend, Outcome, StepCall
from marin_dagster.core.encoding import MarinJsonEncoder
from marin_dagster.core.graph import AnyStep, StepGraph
from marin_dagster.core.lease import LeaseLostError, StepAlreadyDone, StepLease, step_lock
from marin_dagster.core.lease_record import validate_lease_settings
from marin_dagster.core.report import ReportTail, new_report_path
from marin_dagster.core.resources import ResourceConfig
from marin_dagster.core.status import (
    HEARTBEAT_INTERVAL,
    HEARTBEAT_TIMEOUT,
    StepStatus,
    read_status,
    resolve,
    write_info,
    write_status,
)


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How a step is run against its status files (defaults are Marin's)."""

    force_run_failed: bool = True
    heartbeat_interval: float = HEARTBEAT_INTERVAL
    lease_timeout: float = HEARTBEAT_TIMEOUT
    poll_interval: float = 5.0
    max_wait: float | None = None
    check_upstream: bool = True
    """Refuse to run a step whose blocking dependencies are not ``SUCCESS`` yet."""
    force_rerun: bool = False
    """Run the step even if its status is ``SUCCESS`` (Marin's ``force_rerun``)."""

    def __post_init__(self) -> None:
        validate_lease_settings(
            self.heartbeat_interval,
            self.lease_timeout,
            poll_interval=self.poll_interval,
            max_wait=self.max_wait,
        )


class StepFunctionError(RuntimeError):
    """A step's function failed (or its worker died) on its backend; ``FAILED`` was recorded.

    The message names the step and the backend and carries the backend's error text.
    """


class UpstreamNotReadyError(RuntimeError):
    """A step was asked to run before a step it waits for has succeeded."""


def check_upstream(step: AnyStep, graph: StepGraph) -> None:
    """Raise :class:`UpstreamNotReadyError` unless every blocking dependency is ``SUCCESS``.

    Marin's executor only launches a step once its dependencies completed; a Dagster selection
    can ask for a step alone, so the check happens here, before anything is written.
    """
    missing = []
    for dep in graph.blocking_deps(step):
        dep_path = graph.output_path(dep)
        status = read_status(dep_path)
        if status is not StepStatus.SUCCESS:
            state = status.value if status is not None else "no status"
            missing.append(f"{dep.name!r} ({state} at {dep_path})")
    if missing:
        raise UpstreamNotReadyError(
            f"step {step.name!r} cannot run yet; upstream not succeeded: {', '.join(missing)}. "
            "Materialize them first, e.g. select the step with its upstream steps"
        )


@dataclasses.dataclass(frozen=True)
class StepRunResult:
    """What happened when a step was asked to run."""

    output_path: str
    cache_hit: bool
    duration_s: float
    resolved_config: Any
    config_json: Any
    """``resolved_config`` as JSON-compatible data."""
    ran_on: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Where ``fn`` ran, as the backend reported it (empty for cache hits)."""


class _LenientEncoder(MarinJsonEncoder):
    """Marin's encoder, falling back to ``str`` for values it cannot encode (info files only)."""

    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def to_jsonable(value: Any) -> Any:
    """A JSON-compatible copy of ``value`` (for ``.executor_info`` and run metadata)."""
    return json.loads(json.dumps(value, cls=_LenientEncoder))


def step_info(step: AnyStep, graph: StepGraph, config_json: Any) -> dict[str, Any]:
    """Marin's ``ExecutorStepInfo`` record for ``.executor_info`` (description left out)."""
    fn = step.fn
    return {
        "name": step.name,
        "fn_name": getattr(fn, "__qualname__", None) or repr(fn),
        "config": config_json,
        "override_output_path": step.override_output_path,
        "version": graph.version(step).version,
        "dependencies": [graph.output_path(d) for d in graph.blocking_deps(step)],
        "output_path": graph.output_path(step),
    }


def run_step(
    step: AnyStep,
    graph: StepGraph,
    options: RunOptions | None = None,
    backend: Backend | None = None,
    on_report: Callable[[dict[str, Any]], None] | None = None,
) -> StepRunResult:
    """Run ``step`` on ``backend`` unless its output is already ``SUCCESS``.

    ``backend`` defaults to :class:`InlineBackend` (``fn`` in this thread). ``on_report`` gets
    each ``report_progress`` / ``log_metrics`` record of the call as it arrives. Raises
    :class:`StepFunctionError` when ``fn`` failed (``FAILED`` recorded), :class:`LeaseLostError`
    when the lease was lost (nothing recorded; the call was terminated).
    """
    options = options or RunOptions()
    backend = backend or InlineBackend()
    start = time.monotonic()
    path = graph.output_path(step)
    fs_path = resolve(path)
    resolved = graph.resolved_config(step)
    config_json = to_jsonable(resolved)

    def result(cache_hit: bool, outcome: Outcome | None = None) -> StepRunResult:
        details = dict(outcome.details) if outcome is not None else {}
        return StepRunResult(
            path, cache_hit, time.monotonic() - start, resolved, config_json, details
        )

    # Cache hits (the common case on reruns) stop at this one read: no lease object, no lock.
    # should_run reads again under the lease, as Marin does, before deciding to run.
    if not options.force_rerun and read_status(fs_path) is StepStatus.SUCCESS:
        return result(True)
    if step.fn is None:
        raise ValueError(f"step {step.name!r} has no fn to run")
    if options.check_upstream:
        check_upstream(step, graph)
    report_path = new_report_path() if on_report is not None else None
    call = StepCall(
        step.name, step.fn, resolved, step.resources or ResourceConfig(), path, report_path
    )
    tail = _Forwarder(report_path, on_report)
    try:
        with step_lock(
            fs_path,
            step.name,
            force_run_failed=options.force_run_failed,
            force_rerun=options.force_rerun,
            heartbeat_interval=options.heartbeat_interval,
            timeout=options.lease_timeout,
            poll_interval=options.poll_interval,
            max_wait=options.max_wait,
        ) as lease:
            write_info(fs_path, step_info(step, graph, config_json))
            try:
                outcome = _supervise(backend, call, lease, tail)
            except LeaseLostError:
                raise
            except BaseException:
                _record(lease, StepStatus.FAILED)  # interrupted: the call was terminated
                raise
            _record(lease, StepStatus.SUCCESS if outcome.ok else StepStatus.FAILED)
    except StepAlreadyDone:
        return result(True)
    finally:
        if report_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(report_path)
    if not outcome.ok:
        if outcome.exception is not None:
            raise outcome.exception
        raise StepFunctionError(
            f"step {step.name!r} failed on backend {backend.name!r}:\n{outcome.error}"
        )
    return result(False, outcome)


_FIRST_POLL_S = 0.002
_MAX_POLL_S = 0.1


class _Forwarder:
    """Hands the records ``fn`` reports to ``on_report`` (nothing when either is missing)."""

    def __init__(
        self, path: str | None, on_report: Callable[[dict[str, Any]], None] | None
    ) -> None:
        self._tail = ReportTail(path) if path is not None else None
        self._on_report = on_report

    def forward(self) -> None:
        if self._tail is not None and self._on_report is not None:
            for record in self._tail.read_new():
                self._on_report(record)


def _supervise(backend: Backend, call: StepCall, lease: StepLease, tail: _Forwarder) -> Outcome:
    """Launch ``call`` and poll it; terminate it and raise if the lease is lost meanwhile.

    This thread does nothing but poll (and forward ``fn``'s reports), so the heartbeat thread
    beside it is never starved by ``fn`` (which runs elsewhere, unless the backend is inline).
    """
    handle = backend.launch(call)
    delay = _FIRST_POLL_S
    try:
        while True:
            outcome = backend.poll(handle)
            tail.forward()
            if outcome is not None:
                return outcome
            if lease.lost.is_set():
                raise LeaseLostError(
                    f"step {call.step_name!r} lost its lease at {lease.lock_path} while running "
                    f"on backend {backend.name!r}; the call was stopped and nothing was recorded"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, _MAX_POLL_S)
    except BaseException:
        backend.terminate(handle)
        raise


def _record(lease: StepLease, status: StepStatus) -> None:
    """Write a final status only while still holding the lease (a refresh proves it)."""
    if lease.lost.is_set():
        raise LeaseLostError(f"lease lost at {lease.lock_path}; {status.value} not recorded")
    try:
        lease.refresh()
    except LeaseLostError as exc:
        lease.lost.set()
        raise LeaseLostError(f"{exc}; {status.value} not recorded") from exc
    write_status(lease.fs_path, status)


def record_dead_holder(output_path: str, pid: int) -> bool:
    """Record ``FAILED`` for a step whose supervising process ``pid`` died holding its lease.

    Only acts when the lease is held by that process on this host (worker ids are
    ``{host}-{pid}-{thread}``) and the status is still ``RUNNING``; then writes ``FAILED`` and
    removes the lock, so the next run reruns the step at once instead of waiting for the lease
    to go stale. Returns whether it did.

    Example:
        >>> record_dead_holder("memory://p/never-run-000000", 12345)
        False
    """
    fs_path = resolve(output_path)
    current = StepLease(fs_path).read()
    if current is None or not current.holder.startswith(f"{socket.gethostname()}-{pid}-"):
        return False
    if read_status(fs_path) is not StepStatus.RUNNING:
        return False
    write_status(fs_path, StepStatus.FAILED)
    StepLease(fs_path, worker_id=current.holder).release()
    return True
