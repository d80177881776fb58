"""``MarinStepsComponent``: a Marin pipeline in a ``dg`` project, from ``defs.yaml`` alone.

The component names the steps by import path and hands them to :func:`build_definitions`; it
adds nothing of its own, so a pipeline loaded through ``dg`` has the same assets, jobs,
executor and output paths as one built in Python.

``defs.yaml``::

    type: marin_dagster.MarinStepsComponent
    attributes:
      steps: my_project.pipeline:STEPS     # or a list of "module:attribute"
      prefix: gs://my-bucket/marin         # optional: $MARIN_PREFIX, else ./marin_outputs
      executor:                             # optional: marin_executor settings
        max_concurrent: 4
        backends:
          tpu: {ray: {address: "auto"}}

Example:
    >>> component = MarinStepsComponent(steps="definitions.pipeline:STEPS")  # doctest: +SKIP
    >>> defs = component.build_defs(context)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import dagster as dg
from pydantic import Field, field_validator

from marin_dagster.definitions_builder import build_definitions
from marin_dagster.launch.settings import ExecutorSettings

__all__ = ["MarinStepsComponent", "load_steps"]

PLACEHOLDER_STEPS = "my_package.pipeline:STEPS"


class MarinStepsScaffolder(dg.Scaffolder):
    """``dg scaffold defs marin_dagster.MarinStepsComponent NAME``: a defs.yaml to fill in."""

    def scaffold(self, request: dg.ScaffoldRequest[Any]) -> None:
        dg.scaffold_component(request, {"steps": PLACEHOLDER_STEPS})


@dg.scaffold_with(MarinStepsScaffolder)
class MarinStepsComponent(dg.Component, dg.Model, dg.Resolvable):
    """Every step reachable from ``steps`` as a Dagster asset, with Marin's jobs and executor."""

    steps: str | list[str] = Field(
        description=(
            'Where the steps are: "module:attribute" (a step, a reference, or a list or dict '
            "of them), or a list of such paths. Upstream steps are included."
        )
    )
    prefix: str | None = Field(
        default=None,
        description="Root of output paths; $MARIN_PREFIX, else ./marin_outputs, when unset.",
    )
    executor: dict[str, Any] | None = Field(
        default=None,
        description=(
            "marin_executor settings (ExecutorSettings): max_concurrent and backends per device "
            "class, e.g. {backends: {tpu: {ray: {address: auto}}}}; run config overrides them."
        ),
    )
    force_run_failed: bool = Field(
        default=True, description="Rerun steps whose status is FAILED (Marin's default)."
    )
    group_jobs: bool = Field(
        default=True, description="Add a {group}_steps job per first name segment."
    )

    @field_validator("steps")
    @classmethod
    def _paths_well_formed(cls, value: str | list[str]) -> str | list[str]:
        for path in [value] if isinstance(value, str) else value:
            _split(path)
        if not value:
            raise ValueError("steps: name at least one 'module:attribute'")
        return value

    @field_validator("executor")
    @classmethod
    def _executor_valid(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        ExecutorSettings.parse(value)  # fails here, at load, naming the bad key
        return value

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        """The pipeline's Definitions, as ``build_definitions`` makes them."""
        settings = None if self.executor is None else ExecutorSettings.parse(self.executor)
        return build_definitions(
            load_steps(self.steps),
            prefix=self.prefix,
            executor_settings=settings,
            force_run_failed=self.force_run_failed,
            group_jobs=self.group_jobs,
        )


def load_steps(paths: str | list[str]) -> list[Any]:
    """Import each ``"module:attribute"`` (dotted attributes allowed); lists, tuples and the
    values of dicts are flattened.

    Example:
        >>> [s.name for s in load_steps("definitions.pipeline:STEPS")][:1]
        ['eval/lm-lr0.01']
    """
    found: list[Any] = []
    for path in [paths] if isinstance(paths, str) else paths:
        module_name, attribute = _split(path)
        try:
            value: Any = importlib.import_module(module_name)
        except ImportError as error:
            raise ValueError(f"steps: cannot import module {module_name!r} ({error})") from error
        for part in attribute.split("."):
            if not hasattr(value, part):
                raise ValueError(f"steps: {module_name!r} has no attribute {attribute!r}")
            value = getattr(value, part)
        if isinstance(value, Mapping):
            value = list(value.values())
        found.extend(value if isinstance(value, list | tuple) else [value])
    return found


def _split(path: str) -> tuple[str, str]:
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"steps: {path!r} is not 'module:attribute' (e.g. my_pkg.pipeline:STEPS)")
    return module_name, attribute
