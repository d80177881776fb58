"""``marin_executor``: every ready step at once, each routed by its resources to a backend.

A step-delegating executor (one process per step, forked from the run process) whose step
handler reads each step's ``marin/resources`` op tag and runs the step's function on the backend
configured for its device class. Before any step runs, every step that will run is checked
against its backend (``can_serve``); a step its backend cannot serve fails the run at once,
naming the step, what it asked for and the backend, with nothing written.

Example:
    >>> defs = build_definitions(steps, executor=marin_executor)  # the default  # doctest: +SKIP
    >>> # run config: {"execution": {"config": {"backends": {"tpu": {"ray": {"address": "auto"}}}}}}
"""

from __future__ import annotations

import types
from collections.abc import Generator, Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin

import dagster as dg
from pydantic import BaseModel

from marin_dagster import metadata_keys as keys
from marin_dagster._compat import (
    DagsterEvent,
    EngineEventData,
    ExecutionPlan,
    PlanOrchestrationContext,
    RetryMode,
    StepDelegatingExecutor,
)
from marin_dagster.core.backend import BackendUnavailableError
from marin_dagster.core.resources import ResourceConfig
from marin_dagster.core.status import StepStatus, read_status
from marin_dagster.launch.backends import make_backend
from marin_dagster.launch.settings import DEVICE_CLASSES, BackendSpec, ExecutorSettings
from marin_dagster.launch.step_handler import MarinStepHandler, resources_from_tags
from marin_dagster.launch.summary import RunSummary
from marin_dagster.launch.worker import run_in_fork

__all__ = ["MarinExecutor", "make_marin_executor", "marin_executor"]

PROGRESS_TAG = "marin/progress"
"""Run tag: ``"true"`` logs ``[k/N steps] name: ran`` as each step settles (``executor_main``)."""
_LOOP_SLEEP_S = 0.02
_HEALTH_CHECK_S = 1
_PROBE_TIMEOUT_S = 120.0


class MarinExecutor(StepDelegatingExecutor):
    """Dagster's step-delegating executor with Marin's routing handler and a pre-launch check."""

    def __init__(self, settings: ExecutorSettings) -> None:
        self.settings = settings
        super().__init__(
            MarinStepHandler(settings),
            retries=RetryMode.DISABLED,
            sleep_seconds=_LOOP_SLEEP_S,
            check_step_health_interval_seconds=_HEALTH_CHECK_S,
            max_concurrent=settings.max_concurrent,
            tag_concurrency_limits=settings.tag_concurrency_limits(keys.DEVICE_TAG),
        )

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Generator[DagsterEvent, Any, None]:
        steps = execution_plan.get_steps_to_execute_in_topo_order()
        check_backends(self.settings, [step.tags for step in steps])
        summary = RunSummary()
        summary.name_steps(
            {s.key: s.tags[keys.STEP_NAME] for s in steps if keys.STEP_NAME in s.tags}
        )
        progress = plan_context.dagster_run.tags.get(PROGRESS_TAG) == "true"
        try:
            for event in super().execute(plan_context, execution_plan):
                outcome = summary.observe(event)
                yield event
                if progress and outcome is not None and event.step_key:
                    name = summary.step_name(event.step_key)
                    line = f"[{summary.settled}/{len(steps)} steps] {name}: {outcome}"
                    DagsterEvent.engine_event(plan_context, line, EngineEventData())
        finally:
            DagsterEvent.engine_event(
                plan_context,
                summary.text(),
                EngineEventData(
                    metadata={
                        "ran": len(summary.ran),
                        "cache_hits": len(summary.cache_hits),
                        "failed": len(summary.failed),
                        "skipped": len(summary.skipped),
                    }
                ),
            )


def check_backends(settings: ExecutorSettings, step_tags: Sequence[Mapping[str, str]]) -> None:
    """Raise :class:`BackendUnavailableError` if a step that will run has no backend for it.

    Steps already ``SUCCESS`` are skipped (they will be cache hits). Backends other than local
    are asked from a forked process, so the run process never connects to a cluster itself.
    """
    requests: list[tuple[str, ResourceConfig, BackendSpec]] = []
    for tags in steps_tags_needing_check(settings, step_tags):
        resources = resources_from_tags(tags)
        spec = settings.backend_for(resources.device_kind)
        requests.append((tags.get(keys.STEP_NAME, "?"), resources, spec))
    if not requests:
        return
    reasons = run_in_fork(_can_serve_all, requests, timeout_s=_PROBE_TIMEOUT_S)
    problems = [
        f"step {name!r} asks for {resources.summary()}, but device class "
        f"{resources.device_kind} maps to backend {spec.describe()}, which cannot serve it: "
        f"{reason}"
        for (name, resources, spec), reason in zip(requests, reasons, strict=True)
        if reason is not None
    ]
    if problems:
        raise BackendUnavailableError(
            "; ".join(problems) + ". Nothing was run. Map the device class to a backend that "
            "has these resources (run config execution: config: backends: {cpu|gpu|tpu: ...}), "
            "or change the step's resources."
        )


def steps_tags_needing_check(
    settings: ExecutorSettings, step_tags: Sequence[Mapping[str, str]]
) -> list[Mapping[str, str]]:
    """Tags of steps routed to a non-local backend whose output is not ``SUCCESS`` yet."""
    out = []
    for tags in step_tags:
        if keys.STEP_NAME not in tags:
            continue
        if settings.backend_for(resources_from_tags(tags).device_kind).kind == "local":
            continue
        path = tags.get(keys.OUTPUT_PATH_TAG)
        if path and read_status(path) is StepStatus.SUCCESS:
            continue
        out.append(tags)
    return out


def _can_serve_all(requests: list[tuple[str, ResourceConfig, BackendSpec]]) -> list[str | None]:
    backends: dict[str, Any] = {}
    reasons: list[str | None] = []
    for _, resources, spec in requests:
        key = spec.model_dump_json()
        backend = backends.get(key) or backends.setdefault(key, make_backend(spec))
        try:
            reasons.append(backend.can_serve(resources))
        except Exception as exc:
            reasons.append(f"{type(exc).__name__}: {exc}")
    return reasons


def _dagster_type(annotation: Any) -> Any:
    """The Dagster config type for a (simple) pydantic field annotation."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        inner = [a for a in get_args(annotation) if a is not type(None)]
        if len(inner) == 1:
            return dg.Noneable(_dagster_type(inner[0]))
    if origin is list:
        return [_dagster_type(get_args(annotation)[0])]
    if origin is Literal:
        return dg.String
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return dg.Shape(_dagster_fields(annotation))
    simple = {int: dg.Int, float: dg.Float, str: dg.String, bool: dg.Bool}
    return simple.get(annotation, dg.Permissive())


def _dagster_fields(model: type[BaseModel]) -> dict[str, dg.Field]:
    """Dagster config fields mirroring ``model`` (descriptions included, all optional)."""
    fields = {}
    for name, info in model.model_fields.items():
        fields[name] = dg.Field(
            _dagster_type(info.annotation),
            is_required=info.is_required(),
            description=info.description,
        )
    return fields


def _executor_config_schema() -> dict[str, dg.Field]:
    choices = {}
    for name, info in BackendSpec.model_fields.items():
        model = next(a for a in get_args(info.annotation) if a is not type(None))
        choices[name] = dg.Field(
            dg.Shape(_dagster_fields(model)), description=f"Run step functions on {name}."
        )
    backend = dg.Field(dg.Selector(choices), is_required=False)
    fields = ExecutorSettings.model_fields
    return {
        "max_concurrent": dg.Field(
            dg.Noneable(dg.Int), is_required=False, description=fields["max_concurrent"].description
        ),
        "backends": dg.Field(
            dg.Shape({device: backend for device in DEVICE_CLASSES}),
            is_required=False,
            description=fields["backends"].description,
        ),
    }


def make_marin_executor(
    defaults: ExecutorSettings | Mapping[str, Any] | None = None,
) -> dg.ExecutorDefinition:
    """``marin_executor`` with settings from code; run config still overrides them.

    Example:
        >>> executor = make_marin_executor({"max_concurrent": 4})
        >>> executor.name
        'marin'
    """
    base = ExecutorSettings.parse(defaults)

    @dg.executor(
        name="marin",
        config_schema=_executor_config_schema(),
        requirements=dg.multiple_process_executor_requirements(),
    )
    def _marin_executor(init_context: dg.InitExecutorContext) -> MarinExecutor:
        run_settings = ExecutorSettings.parse(init_context.executor_config)
        return MarinExecutor(base.merge(run_settings))

    return _marin_executor


marin_executor = make_marin_executor()
"""Routes each step by its resources; defaults: every class local, every ready step at once."""
