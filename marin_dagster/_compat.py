"""Every import from ``dagster._core`` (private API) lives here, in one place to update.

Example:
    >>> UnresolvedAssetJobDefinition.__name__
    'UnresolvedAssetJobDefinition'
"""

from dagster._cli.api import _execute_step_command_body as execute_step_events
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
    "RetryMode",
    "RunLauncher",
    "StepDelegatingExecutor",
    "StepHandler",
    "StepHandlerContext",
    "UnresolvedAssetJobDefinition",
    "WorkerStatus",
    "execute_step_events",
]
