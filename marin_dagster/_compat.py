"""Every import from ``dagster._core`` (private API) lives here, in one place to update.

Example:
    >>> UnresolvedAssetJobDefinition.__name__
    'UnresolvedAssetJobDefinition'
"""

from collections.abc import Callable
from typing import Any, cast

import dagster as dg
from dagster._cli.api import _execute_step_command_body as execute_step_events
from dagster._core.definitions.data_version import (
    CODE_VERSION_TAG,
    DATA_VERSION_TAG,
    DEFAULT_DATA_VERSION,
    NULL_DATA_VERSION,
    NULL_EVENT_POINTER,
    get_input_data_version_tag,
    get_input_event_pointer_tag,
)
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.execution.context.system import PlanOrchestrationContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.step_delegating import (
    CheckStepHealthResult,
    StepDelegatingExecutor,
    StepHandler,
    StepHandlerContext,
)
from dagster._core.launcher import (
    CheckRunHealthResult,
    LaunchRunContext,
    RunLauncher,
    WorkerStatus,
)
from dagster._grpc.types import ExecuteStepArgs
from dagster._serdes import ConfigurableClass, ConfigurableClassData

__all__ = [
    "CODE_VERSION_TAG",
    "DATA_VERSION_TAG",
    "DEFAULT_DATA_VERSION",
    "NULL_DATA_VERSION",
    "NULL_EVENT_POINTER",
    "CheckRunHealthResult",
    "CheckStepHealthResult",
    "ConfigurableClass",
    "ConfigurableClassData",
    "DagsterEvent",
    "EngineEventData",
    "ExecuteStepArgs",
    "ExecutionPlan",
    "LaunchRunContext",
    "PlanOrchestrationContext",
    "ReconstructableRepository",
    "RetryMode",
    "RunLauncher",
    "StepDelegatingExecutor",
    "StepHandler",
    "StepHandlerContext",
    "UnresolvedAssetJobDefinition",
    "WorkerStatus",
    "execute_step_events",
    "get_input_data_version_tag",
    "get_input_event_pointer_tag",
    "wrap_job_builds",
]

JobBuild = Callable[[], dg.JobDefinition]


def wrap_job_builds(
    repository: dg.RepositoryDefinition, around: Callable[[JobBuild], dg.JobDefinition]
) -> bool:
    """Run every lazy job build of ``repository`` through ``around``; subsets of those jobs too.

    Dagster keeps each job of a ``Definitions`` as a loader until first asked for it (by
    ``resolve_job_def``, ``dagster job execute``, the webserver's snapshot, a run worker);
    the implicit ``__ASSET_JOB`` included. Returns ``False`` (changing nothing) if this Dagster
    version keeps its loaders elsewhere.
    """
    index = getattr(getattr(repository, "_repository_data", None), "_jobs", None)
    loaders = getattr(index, "_definitions", None)
    if not isinstance(loaders, dict):
        return False
    for name, source in list(loaders.items()):
        if callable(source) and not isinstance(source, dg.JobDefinition):
            loaders[name] = _wrapped_build(cast("JobBuild", source), around)
    return True


def _wrapped_build(build: JobBuild, around: Callable[[JobBuild], dg.JobDefinition]) -> JobBuild:
    def scoped_build() -> dg.JobDefinition:
        return _wrap_subsets(around(build), around)

    return scoped_build


def _wrap_subsets(
    job: dg.JobDefinition, around: Callable[[JobBuild], dg.JobDefinition]
) -> dg.JobDefinition:
    original = job.get_subset

    def get_subset(**selection: Any) -> dg.JobDefinition:
        return _wrap_subsets(around(lambda: original(**selection)), around)

    setattr(job, "get_subset", get_subset)  # noqa: B010 (an instance attribute shadows it)
    return job
