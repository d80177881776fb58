"""Run step functions as Fray jobs: Marin's own job API (``marin-fray``, module ``fray``).

Each call becomes one ``fray.JobRequest`` whose entry point calls ``fn(config)``, with the
step's resources translated to Fray's ``ResourceConfig`` (CPU, RAM, disk, GPU type and count,
TPU type with Fray's names, ``v5e-16`` → ``v5litepod-16``; ``replicas`` = TPU hosts, so a
multi-host slice is gang-scheduled as Fray does it). The request goes through the configured
client:

- ``client: local`` — Fray's ``LocalClient``: the function runs in a thread of the step's
  supervising process (development and tests; ``terminate`` cannot stop a running thread);
- ``client: iris`` — Fray's ``FrayIrisClient`` on a Marin cluster's Iris controller
  (``controller_address``), the way Marin's own executor dispatches steps today; the job's
  environment is ``workspace`` (a source tree Iris bundles) or ``docker_image``.

A job that ends ``FAILED`` or ``STOPPED`` is a failed call carrying Fray's error (the function's
traceback for the local client), so the runner records ``FAILED``. Fray's own preemption retries
(``max_retries_preemption``) happen inside the job, while the runner keeps the step's lease.

Example:
    >>> backend = FrayBackend(FrayBackendConfig())  # doctest: +SKIP
    >>> handle = backend.launch(StepCall("demo/hi", print, "hi", ResourceConfig(), "/tmp/x"))
    >>> backend.poll(handle)  # None while running, then an Outcome  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import traceback
import uuid
from collections.abc import Callable
from typing import Any, Literal, cast

from pydantic import BaseModel, Field, model_validator

from marin_dagster.core.backend import BackendUnavailableError, Outcome, StepCall
from marin_dagster.core.report import reporting_to
from marin_dagster.core.resources import GpuConfig, ResourceConfig, TpuConfig

__all__ = ["FrayBackend", "FrayBackendConfig", "fray_resources"]

_NO_FRAY = "fray is not installed: pip install 'marin-dagster[fray]'"


class FrayBackendConfig(BaseModel, frozen=True, extra="forbid"):
    """``backends: {tpu: {fray: {client: iris, controller_address: ..., workspace: ...}}}``."""

    client: Literal["local", "iris"] = Field(
        default="local", description="Fray client: local or iris"
    )
    controller_address: str | None = Field(
        default=None, description="Iris controller (client: iris)"
    )
    workspace: str | None = Field(default=None, description="Source tree Iris ships to the job")
    docker_image: str | None = Field(
        default=None, description="Image for the job (instead of workspace)"
    )
    env_vars: dict[str, str] = Field(default_factory=dict, description="Env of every job (iris)")
    max_threads: int = Field(default=8, ge=1, description="LocalClient threads (client: local)")
    max_retries_preemption: int = Field(
        default=100, ge=0, description="Fray reruns after preemption"
    )
    priority: int = Field(default=0, description="Passed to Fray's JobRequest.priority")
    max_concurrent: int | None = Field(
        default=None, ge=1, description="Most steps of a class at once"
    )

    @model_validator(mode="after")
    def _iris_needs_a_controller(self) -> FrayBackendConfig:
        if self.client == "iris" and not self.controller_address:
            raise ValueError("fray client 'iris' needs controller_address (the Iris controller)")
        if self.workspace and self.docker_image:
            raise ValueError("fray: give workspace or docker_image, not both")
        return self


@dataclasses.dataclass
class FrayHandle:
    """A submitted call: Fray's job handle, and the outcome once known."""

    call: StepCall
    job: Any
    outcome: Outcome | None = None


def fray_resources(resources: ResourceConfig) -> Any:
    """Fray's ``ResourceConfig`` for ours (same fields; TPU types in Fray's spelling).

    Example:
        >>> fray_resources(ResourceConfig.with_tpu("v5e-16")).device.variant  # doctest: +SKIP
        'v5litepod-16'
    """
    import fray

    device = resources.device
    if isinstance(device, TpuConfig):
        fray_device: Any = fray.TpuConfig(variant=cast(Any, _fray_tpu(device.variant)))
    elif isinstance(device, GpuConfig):
        fray_device = fray.GpuConfig(variant=cast(Any, device.variant), count=device.count)
    else:
        fray_device = fray.CpuConfig()
    return fray.ResourceConfig(
        cpu=resources.cpu,
        ram=resources.ram,
        disk=resources.disk,
        device=fray_device,
        preemptible=resources.preemptible,
        regions=list(resources.regions) if resources.regions is not None else None,
        replicas=resources.replicas,
    )


def _fray_tpu(variant: str) -> str:
    """Fray's TPU name: ``v5e-16`` → ``v5litepod-16`` (others unchanged)."""
    return variant.replace("v5e-", "v5litepod-")


def _run_call(fn: Callable[[Any], Any], config: Any, report_path: str | None) -> None:
    """The Fray job's entry point: ``fn(config)``, reporting progress where the runner reads."""
    with reporting_to(report_path):
        fn(config)


class FrayBackend:
    """Submits each call as a Fray job through the configured client (made on first launch)."""

    name = "fray"

    def __init__(self, config: FrayBackendConfig | None = None) -> None:
        self.config = config or FrayBackendConfig()
        self._client: Any = None

    def _fray_client(self) -> Any:
        if importlib.util.find_spec("fray") is None:
            raise BackendUnavailableError(_NO_FRAY)
        if self._client is None:
            if self.config.client == "iris":
                from pathlib import Path

                from fray.iris_backend import FrayIrisClient

                workspace = Path(self.config.workspace) if self.config.workspace else None
                assert self.config.controller_address is not None  # the validator checks it
                self._client = FrayIrisClient(self.config.controller_address, workspace)
            else:
                from fray import LocalClient

                self._client = LocalClient(max_threads=self.config.max_threads)
        return self._client

    def can_serve(self, resources: ResourceConfig) -> str | None:
        """``None`` when Fray is installed and knows the device; launches nothing."""
        if importlib.util.find_spec("fray") is None:
            return _NO_FRAY
        try:
            fray_resources(resources)
        except ValueError as exc:
            return f"{resources.summary()}: Fray rejects it: {exc}"
        return None

    def launch(self, call: StepCall) -> FrayHandle:
        import fray

        client = self._fray_client()
        environment = None
        if self.config.client == "iris":
            environment = fray.create_environment(
                workspace=self.config.workspace,
                docker_image=self.config.docker_image,
                env_vars=dict(self.config.env_vars),
            )
        resources = fray_resources(call.resources)
        request = fray.JobRequest(
            name=job_name(call.step_name),
            entrypoint=fray.Entrypoint.from_callable(
                _run_call, args=(call.fn, call.config, call.report_path)
            ),
            resources=resources,
            environment=environment,
            replicas=resources.replicas,
            max_retries_preemption=self.config.max_retries_preemption,
            priority=self.config.priority,
        )
        return FrayHandle(call, client.submit(request, adopt_existing=False))

    def poll(self, handle: FrayHandle) -> Outcome | None:
        """``None`` until the Fray job finished; ``FAILED``/``STOPPED`` carry Fray's error."""
        if handle.outcome is not None:
            return handle.outcome
        from fray import JobStatus

        status = handle.job.status()
        if not JobStatus.finished(status):
            return None
        error = None
        if status != JobStatus.SUCCEEDED:
            try:
                handle.job.wait(timeout=5, raise_on_failure=True)
                reason = f"ended {status.value}"
            except Exception as exc:
                reason = "".join(traceback.format_exception(exc)).rstrip()
            error = f"{handle.call.step_name}: Fray job {handle.job.job_id} {status.value}:\n"
            error += reason
        return self._finish(handle, status == JobStatus.SUCCEEDED, error)

    def terminate(self, handle: FrayHandle) -> None:
        """Ask Fray to stop the job (the local client cannot stop a thread already running)."""
        if handle.outcome is None:
            handle.job.terminate()
            self._finish(handle, False, f"{handle.call.step_name}: terminated")

    def _finish(self, handle: FrayHandle, ok: bool, error: str | None) -> Outcome:
        details = {
            "backend": self.name,
            "client": self.config.client,
            "job_id": handle.job.job_id,
            "status": str(handle.job.status()),
        }
        handle.outcome = Outcome(ok, error, details)
        return handle.outcome


def job_name(step_name: str) -> str:
    """A Fray job name for a step: ``tokenize/fineweb`` → ``marin-tokenize-fineweb-1a2b3c4d``."""
    slug = re.sub(r"[^a-z0-9]+", "-", step_name.lower()).strip("-")[:40]
    return f"marin-{slug}-{uuid.uuid4().hex[:8]}"
