"""``MarinRunLauncher``: sends each run to the run launcher of its most demanding step.

A run whose steps include a TPU step goes to the ``tpu`` launcher, else one with a GPU step to
``gpu``, else to ``default``; a class without a launcher of its own uses ``default``. Each
launcher is an ordinary Dagster run launcher (``DefaultRunLauncher``, dagster-ray's
``RayRunLauncher``, dagster-k8s's ``K8sRunLauncher``, ...), built from ``{module, class,
config}`` exactly as ``dagster.yaml`` takes it, and only when first needed. The chosen class is
recorded on the run as the tag ``marin/run_launcher``; termination and health checks go to the
same launcher.

``dagster.yaml``::

    run_launcher:
      module: marin_dagster
      class: MarinRunLauncher
      config:
        default: {module: dagster.core.launcher, class: DefaultRunLauncher}
        tpu:
          module: dagster_ray
          class: RayRunLauncher
          config: {address: "ray://tpu-head:10001"}

Example:
    >>> MarinRunLauncher.config_type()["tpu"].is_required
    False
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import dagster as dg
import yaml

from marin_dagster import metadata_keys as keys
from marin_dagster._compat import (
    CheckRunHealthResult,
    ConfigurableClass,
    ConfigurableClassData,
    LaunchRunContext,
    RunLauncher,
    WorkerStatus,
)

__all__ = ["MarinRunLauncher"]

RUN_LAUNCHER_TAG = "marin/run_launcher"
LauncherClass = Literal["default", "gpu", "tpu"]
_RANK = {"cpu": 0, "gpu": 1, "tpu": 2}


def _launcher_field(what: str) -> dg.Field:
    return dg.Field(
        {
            "module": dg.Field(str, description="Module of the run launcher class."),
            "class": dg.Field(str, description="Run launcher class name."),
            "config": dg.Field(dg.Permissive(), is_required=False, default_value={}),
        },
        is_required=False,
        description=f"Run launcher for {what}.",
    )


class MarinRunLauncher(RunLauncher, ConfigurableClass):
    """Routes whole runs by their steps' device classes to ordinary run launchers."""

    def __init__(
        self,
        inst_data: ConfigurableClassData | None = None,
        *,
        launchers: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._inst_data = inst_data
        self._specs = {name: spec for name, spec in (launchers or {}).items() if spec}
        self._built: dict[str, RunLauncher] = {}
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict[str, dg.Field]:
        return {
            "default": _launcher_field("runs of CPU steps only, and classes left unset"),
            "gpu": _launcher_field("runs with a GPU step and no TPU step"),
            "tpu": _launcher_field("runs with a TPU step"),
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> MarinRunLauncher:
        return cls(inst_data=inst_data, launchers=config_value)

    def launcher_class_for(self, run: dg.DagsterRun) -> LauncherClass:
        """``tpu``, ``gpu`` or ``default``: the most demanding class with a launcher."""
        wanted = _most_demanding_device(self._instance, run)
        if wanted in ("tpu", "gpu") and wanted in self._specs:
            return wanted
        return "default"

    def _launcher(self, name: str) -> RunLauncher:
        launcher = self._built.get(name)
        if launcher is None:
            spec = self._specs.get(name) or {
                "module": "dagster.core.launcher",
                "class": "DefaultRunLauncher",
            }
            data = ConfigurableClassData(
                spec["module"], spec["class"], yaml.safe_dump(dict(spec.get("config") or {}))
            )
            launcher = data.rehydrate(as_type=RunLauncher)
            launcher.register_instance(self._instance)
            self._built[name] = launcher
        return launcher

    def _launcher_of_run(self, run_id: str) -> RunLauncher:
        run = self._instance.get_run_by_id(run_id)
        name = run.tags.get(RUN_LAUNCHER_TAG, "default") if run is not None else "default"
        return self._launcher(name)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        name = self.launcher_class_for(run)
        self._instance.add_run_tags(run.run_id, {RUN_LAUNCHER_TAG: name})
        self._launcher(name).launch_run(context)

    def terminate(self, run_id: str) -> bool:
        return self._launcher_of_run(run_id).terminate(run_id)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        launcher = self._launcher_of_run(run.run_id)
        if not launcher.supports_check_run_worker_health:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "launcher does not check health")
        return launcher.check_run_worker_health(run)

    def dispose(self) -> None:
        for launcher in self._built.values():
            launcher.dispose()

    def join(self, timeout: int = 30) -> None:
        for launcher in self._built.values():
            launcher.join(timeout)


def _most_demanding_device(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """``tpu``, ``gpu`` or ``cpu``: the most demanding device among the run's steps."""
    if run.execution_plan_snapshot_id is None:
        return "cpu"
    snapshot = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    selected = set(snapshot.step_keys_to_execute)
    devices = [
        step.tags.get(keys.DEVICE_TAG, "cpu") if step.tags else "cpu"
        for step in snapshot.steps
        if step.key in selected
    ]
    return max(devices, key=lambda d: _RANK.get(d, 0), default="cpu")
