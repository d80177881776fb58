"""The step model in plain Python (no dagster): references, versions, paths, resolution.

Example:
    >>> from marin_dagster.core import StepRef
    >>> StepRef.hardcoded("raw/data").subpath
    'raw/data'
"""

from marin_dagster.core.errors import StepCycleError, StepDefinitionError
from marin_dagster.core.graph import StepGraph, StepVersion, compute_output_path, step_version
from marin_dagster.core.legacy import (
    InputName,
    OutputName,
    VersionedValue,
    output_path_of,
    this_output_path,
)
from marin_dagster.core.option_c import executor_step, resolved, this_output
from marin_dagster.core.refs import Dep, Output, RefKind, StepRef
from marin_dagster.core.resolve import default_prefix, resolve_config
from marin_dagster.core.resources import ResourceConfig
from marin_dagster.core.steps import ExecutorStep, StepContext, step
from marin_dagster.core.versioned import Versioned, versioned

__all__ = [
    "Dep",
    "ExecutorStep",
    "InputName",
    "Output",
    "OutputName",
    "RefKind",
    "ResourceConfig",
    "StepContext",
    "StepCycleError",
    "StepDefinitionError",
    "StepGraph",
    "StepRef",
    "StepVersion",
    "Versioned",
    "VersionedValue",
    "compute_output_path",
    "default_prefix",
    "executor_step",
    "output_path_of",
    "resolve_config",
    "resolved",
    "step",
    "step_version",
    "this_output",
    "this_output_path",
    "versioned",
]
