"""marin_dagster: Marin-style versioned pipeline steps, run as Dagster assets.

``import marin_dagster`` loads only the plain-Python step model; the Dagster side
(``build_definitions`` and friends) is imported on first use.

Example:
    >>> from marin_dagster import StepContext, step, versioned
    >>> def noop(config: dict) -> None: ...
    >>> @step(name="demo/hello", fn=noop)
    ... def hello(ctx: StepContext) -> dict:
    ...     return {"greeting": versioned("hi"), "out": ctx.output}
    >>> hello().name
    'demo/hello'
"""

from typing import TYPE_CHECKING, Any

from marin_dagster.core import (
    Dep,
    ExecutorStep,
    InputName,
    Output,
    OutputName,
    ResourceConfig,
    StepContext,
    StepRef,
    Versioned,
    VersionedValue,
    compute_output_path,
    executor_step,
    output_path_of,
    resolved,
    step,
    this_output,
    this_output_path,
    versioned,
)
from marin_dagster.core.report import log_metrics, report_progress

if TYPE_CHECKING:
    from marin_dagster.component import MarinStepsComponent
    from marin_dagster.definitions_builder import build_definitions
    from marin_dagster.executor_main import executor_main
    from marin_dagster.launch.executor import marin_executor
    from marin_dagster.launch.run_launcher import MarinRunLauncher
    from marin_dagster.run_settings import MarinRunSettings

__version__ = "0.1.0"

__all__ = [
    "Dep",
    "ExecutorStep",
    "InputName",
    "MarinRunLauncher",
    "MarinRunSettings",
    "MarinStepsComponent",
    "Output",
    "OutputName",
    "ResourceConfig",
    "StepContext",
    "StepRef",
    "Versioned",
    "VersionedValue",
    "__version__",
    "build_definitions",
    "compute_output_path",
    "executor_main",
    "executor_step",
    "log_metrics",
    "marin_executor",
    "output_path_of",
    "report_progress",
    "resolved",
    "step",
    "this_output",
    "this_output_path",
    "versioned",
]

_LAZY = {
    "build_definitions": "marin_dagster.definitions_builder",
    "executor_main": "marin_dagster.executor_main",
    "marin_executor": "marin_dagster.launch.executor",
    "MarinRunLauncher": "marin_dagster.launch.run_launcher",
    "MarinRunSettings": "marin_dagster.run_settings",
    "MarinStepsComponent": "marin_dagster.component",
}


def __dir__() -> list[str]:
    """Lazy names included, so tools that list the package (``dg list components``) see them."""
    return sorted({*globals(), *_LAZY})


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'marin_dagster' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
