"""Run one step the way Marin's executor does, honouring the status files of a shared prefix.

``SUCCESS`` → cache hit (``fn`` is not called); ``FAILED`` → rerun (``force_run_failed``);
``RUNNING`` under a live lease → wait; stale lease → take over. ``SUCCESS`` is written only when
``fn`` returned normally; an exception writes ``FAILED`` and propagates.

Example:
    >>> graph = StepGraph([my_step], prefix="/tmp/p")  # doctest: +SKIP
    >>> run_step(my_step, graph).cache_hit  # doctest: +SKIP
    False
"""

import dataclasses
import json
import time
from typing import Any

from marin_dagster.core.encoding import MarinJsonEncoder
from marin_dagster.core.graph import AnyStep, StepGraph
from marin_dagster.core.lease import StepAlreadyDone, step_lock
from marin_dagster.core.lease_record import validate_lease_settings
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

    def __post_init__(self) -> None:
        validate_lease_settings(
            self.heartbeat_interval,
            self.lease_timeout,
            poll_interval=self.poll_interval,
            max_wait=self.max_wait,
        )


class UpstreamNotReadyError(RuntimeError):
    """A step was asked to run before a step it waits for has succeeded."""


def check_upstream(step: AnyStep, graph: StepGraph) -> None:
    """Raise :class:`UpstreamNotReadyError` unless every blocking dependency is ``SUCCESS``.

    Marin's executor only launches a step once its dependencies completed; a Dagster selection
    can ask for a step alone, so the check happens here, before anything is written.
    """
    for dep in graph.blocking_deps(step):
        dep_path = graph.output_path(dep)
        status = read_status(dep_path)
        if status is not StepStatus.SUCCESS:
            state = status.value if status is not None else "no status"
            raise UpstreamNotReadyError(
                f"step {step.name!r} waits for {dep.name!r}, which has not succeeded ({state} at "
                f"{dep_path}); materialize it first, e.g. select it with its upstream steps"
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


def run_step(step: AnyStep, graph: StepGraph, options: RunOptions | None = None) -> StepRunResult:
    """Run ``step`` unless its output is already ``SUCCESS``; return what happened."""
    options = options or RunOptions()
    start = time.monotonic()
    path = graph.output_path(step)
    fs_path = resolve(path)
    resolved = graph.resolved_config(step)
    config_json = to_jsonable(resolved)
    # Cache hits (the common case on reruns) stop at this one read: no lease object, no lock.
    # should_run reads again under the lease, as Marin does, before deciding to run.
    if read_status(fs_path) is StepStatus.SUCCESS:
        return StepRunResult(path, True, time.monotonic() - start, resolved, config_json)
    if step.fn is None:
        raise ValueError(f"step {step.name!r} has no fn to run")
    if options.check_upstream:
        check_upstream(step, graph)
    try:
        with step_lock(
            fs_path,
            step.name,
            force_run_failed=options.force_run_failed,
            heartbeat_interval=options.heartbeat_interval,
            timeout=options.lease_timeout,
            poll_interval=options.poll_interval,
            max_wait=options.max_wait,
        ):
            write_info(fs_path, step_info(step, graph, config_json))
            try:
                step.fn(resolved)
            except BaseException:
                write_status(fs_path, StepStatus.FAILED)
                raise
            write_status(fs_path, StepStatus.SUCCESS)
    except StepAlreadyDone:
        return StepRunResult(path, True, time.monotonic() - start, resolved, config_json)
    return StepRunResult(path, False, time.monotonic() - start, resolved, config_json)
