"""The routing step handler: each step of a run goes to the backend its resources map to.

The handler reads the step's ``marin/resources`` op tag, picks the backend configured for its
device class (``cpu``/``gpu``/``tpu``), and forks a step worker that runs the Dagster step with
that backend (see ``worker.py``). A worker that dies is reported with its own reason, and the
step's ``FAILED`` status is recorded if the dead worker still held the step's lease.

Example:
    >>> handler = MarinStepHandler(ExecutorSettings())  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from marin_dagster import metadata_keys as keys
from marin_dagster._compat import (
    CheckStepHealthResult,
    DagsterEvent,
    StepHandler,
    StepHandlerContext,
)
from marin_dagster.core.resources import ResourceConfig
from marin_dagster.core.runner import record_dead_holder
from marin_dagster.launch.settings import BackendSpec, ExecutorSettings
from marin_dagster.launch.worker import StepWorker

__all__ = ["MarinStepHandler", "resources_from_tags"]


def resources_from_tags(tags: Mapping[str, str]) -> ResourceConfig:
    """The step's ``ResourceConfig`` from its op tags (CPU when it declared none)."""
    raw = tags.get(keys.RESOURCES_TAG)
    return ResourceConfig.from_json(raw) if raw else ResourceConfig()


class MarinStepHandler(StepHandler):
    """Launches each step in a forked worker bound to the backend of its device class."""

    def __init__(self, settings: ExecutorSettings) -> None:
        self.settings = settings
        self._workers: dict[str, StepWorker] = {}

    @property
    def name(self) -> str:
        return "marin"

    def backend_for(self, tags: Mapping[str, str]) -> BackendSpec:
        return self.settings.backend_for(resources_from_tags(tags).device_kind)

    def launch_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        step_key = _single_step_key(step_handler_context)
        tags = step_handler_context.step_tags[step_key]
        spec = self.backend_for(tags)
        worker = StepWorker.start(step_handler_context.execute_step_args, spec, tags)
        self._workers[step_key] = worker
        resources = resources_from_tags(tags)
        yield DagsterEvent.step_worker_starting(
            step_handler_context.get_step_context(step_key),
            message=(
                f"Executing step {step_key!r} ({resources.summary()}) in worker process "
                f"{worker.pid}, its function on backend {spec.describe()}."
            ),
            metadata={"pid": str(worker.pid), "backend": spec.describe()},
        )

    def check_step_health(self, step_handler_context: StepHandlerContext) -> CheckStepHealthResult:
        step_key = _single_step_key(step_handler_context)
        worker = self._workers.get(step_key)
        if worker is None:
            return CheckStepHealthResult.unhealthy(f"no worker was launched for {step_key!r}")
        reason = worker.exit_reason()
        if reason is None:
            return CheckStepHealthResult.healthy()
        output_path = step_handler_context.step_tags[step_key].get(keys.OUTPUT_PATH_TAG)
        if output_path and record_dead_holder(output_path, worker.pid):
            reason += f"; FAILED recorded at {output_path}"
        return CheckStepHealthResult.unhealthy(reason)

    def terminate_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        step_key = _single_step_key(step_handler_context)
        worker = self._workers.get(step_key)
        if worker is not None:
            worker.terminate()
        yield from ()


def _single_step_key(context: StepHandlerContext) -> str:
    keys_to_execute = context.execute_step_args.step_keys_to_execute or []
    if len(keys_to_execute) != 1:
        raise ValueError(f"marin step handler launches one step at a time, got {keys_to_execute}")
    return keys_to_execute[0]
