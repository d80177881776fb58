"""Run step functions as tasks on an existing Ray cluster.

``fn(config)`` runs in a Ray task; ``fn`` and ``config`` travel by cloudpickle, which pickles
module-level functions *by reference*: the module defining ``fn`` (and ``marin_dagster``) must be
importable on every node (installed, on ``PYTHONPATH``, or shipped with ``runtime_env``).

Resources: a CPU step asks ``num_cpus=cpu``; a GPU step also ``num_gpus=count`` and Ray's
``accelerator_type`` (unless ``auto``); a TPU step asks, per host, ``TPU`` (chips per host) and,
on each slice's first host, the ``TPU-{type}-head`` resource Ray puts on worker 0 of a TPU slice
(v5e is named ``v5litepod``: ``TPU-v5litepod-16-head``). A TPU task asks ``tpu_host_cpus`` CPUs
(fray asks 8), not the half host of its ``ResourceConfig``: ``TPU`` is what reserves the host.
Memory and disk are not requested (as in fray); Ray never retries a task (the runner owns
retries). A multi-host request is gang-scheduled: one placement group, one bundle per host,
that starts whole or fails after ``placement_timeout_s``. (Bundles of one slice are not pinned to
the head's slice; Ray's ``ray.util.tpu.SlicePlacementGroup`` does that with node labels.) Each
TPU task's environment says where it is:

- ``MARIN_TPU_TYPE``: the TPU type asked for (``v5e-16``)
- ``MARIN_TPU_SLICE_COUNT``, ``MARIN_TPU_HOSTS_PER_SLICE``: the shape of the request
- ``MARIN_TPU_SLICE_INDEX``: this host's slice, ``0 .. slice_count-1``
- ``MARIN_TPU_HOST_INDEX``: this host within its slice, ``0 .. hosts_per_slice-1`` (0: the head)

Example:
    >>> backend = RayBackend(RayBackendConfig(address="127.0.0.1:6379"))  # doctest: +SKIP
    >>> backend.can_serve(ResourceConfig.with_tpu("v6e-8"))  # doctest: +SKIP
    'tpu v6e-8 x1 (1 host, 8 chips) needs resources TPU (8 per host x 1 hosts) and ...'
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from marin_dagster.core.backend import BackendUnavailableError, Outcome, StepCall
from marin_dagster.core.report import reporting_to
from marin_dagster.core.resources import CpuConfig, GpuConfig, ResourceConfig, TpuConfig

__all__ = ["GPU_ACCELERATOR_TYPES", "RayBackend", "RayBackendConfig", "RayHandle", "tpu_head"]

GPU_ACCELERATOR_TYPES: Mapping[str, str] = {
    gpu: gpu
    for gpu in ("A10", "A10G", "A100-40G", "A100-80G", "B100", "H100", "H200", "L4", "T4", "V100")
}
"""Our GPU variant -> Ray's ``accelerator_type:<X>`` name (``ray.util.accelerators``). Ray
auto-labels A100 nodes only ``A100``; ``A100-40G`` / ``A100-80G`` must be added to nodes by hand."""

_REPORTED_ENV = ("CUDA_VISIBLE_DEVICES", "TPU_VISIBLE_CHIPS", "MARIN_TPU_")
_NO_RAY = "ray is not installed: pip install 'marin-dagster[ray]'"


class RayBackendConfig(BaseModel, frozen=True, extra="forbid"):
    """Where and how to run steps on Ray: ``RayBackendConfig(address="10.0.0.2:6379")``."""

    address: str = Field(min_length=1, description="As ray.init takes it: head HOST:PORT, or auto")
    namespace: str | None = Field(None, description="Ray namespace of the connection")
    runtime_env: dict[str, Any] | None = Field(None, description="Ray runtime_env for every task")
    max_concurrent: int | None = Field(None, ge=1, description="Most steps of a class at once")
    placement_timeout_s: float = Field(600, gt=0, description="Wait to place a multi-host TPU step")
    tpu_host_cpus: float = Field(1, ge=0, description="CPUs per TPU host task (fray asks 8)")
    connect_timeout_s: float = Field(60, gt=0, description="Bound on can_serve's cluster look-up")
    log_to_driver: bool = Field(True, description="Forward task output to the step's process")


def tpu_head(variant: str) -> str:
    """The head resource of a TPU slice, as Ray names it: ``tpu_head("v5e-16")`` is
    ``'TPU-v5litepod-16-head'``; v4, v5p and v6e keep their names."""
    return f"TPU-{variant.replace('v5e-', 'v5litepod-')}-head"


@dataclasses.dataclass
class RayHandle:
    """A launched call: its tasks (with the slice/host each serves) and placement group."""

    call: StepCall
    tasks: list[tuple[dict[str, int], Any]] = dataclasses.field(default_factory=list)
    placement_group: Any = None
    placement_ready: Any = None
    """The placement group's ``ready()`` ref, made once (each call of ``ready()`` makes a task)."""
    deadline: float | None = None
    """While the placement group is pending: when to give up (``time.monotonic``)."""
    results: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    outcome: Outcome | None = None


def _run_in_task(
    fn: Callable[[Any], Any], config: Any, env: dict[str, str], report_path: str | None = None
) -> dict[str, Any]:
    """Inside the Ray task: set the TPU environment, call ``fn(config)``, say where it ran.

    Only TPU tasks get ``env``; their worker exits after the call (``max_calls=1``), so the
    variables never leak into another step's task.
    """
    import ray

    os.environ.update(env)
    ctx = ray.get_runtime_context()
    details = {
        "node_id": ctx.get_node_id(),
        "node_ip": ray.util.get_node_ip_address(),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "assigned_resources": ctx.get_assigned_resources(),
        "env": {k: v for k, v in os.environ.items() if k.startswith(_REPORTED_ENV)},
    }
    with reporting_to(report_path):
        fn(config)
    return details


_SNAPSHOT = """import json, sys, ray
ray.init(address=sys.argv[1], namespace=sys.argv[2] or None, logging_level="ERROR")
print("NODES" + json.dumps([n["Resources"] for n in ray.nodes() if n["Alive"]]))"""


class RayBackend:
    """Runs each step as Ray task(s) on the cluster at ``config.address``; never starts one.

    Connects on first ``launch`` (``ray.init``, once per process). ``can_serve`` in a process
    not connected reads the cluster's nodes (once) from a short subprocess, so the supervising
    process stays free of Ray and can still fork step workers: a connection does not survive
    ``fork``.
    """

    name = "ray"

    def __init__(self, config: RayBackendConfig) -> None:
        self.config = config
        self._where = f"the Ray cluster at {config.address}"
        self._pid: int | None = None
        self._nodes: list[dict[str, float]] | None = None

    def _connect(self) -> Any:
        if importlib.util.find_spec("ray") is None:
            raise BackendUnavailableError(_NO_RAY)
        import ray

        if ray.is_initialized() and self._pid != os.getpid():
            if self._pid is not None:
                raise BackendUnavailableError("forked from a process connected to Ray")
            gcs = ray.get_runtime_context().gcs_address
            if not _same_address(self.config.address, gcs):
                raise BackendUnavailableError(f"this process is connected to Ray at {gcs}")
        elif not ray.is_initialized():
            _probe(self.config.address)
            try:
                ray.init(
                    address=self.config.address,
                    namespace=self.config.namespace,
                    runtime_env=self.config.runtime_env,
                    log_to_driver=self.config.log_to_driver,
                    logging_level=logging.WARNING,
                )
            except Exception as exc:  # ConnectionError, RuntimeError, ValueError
                raise BackendUnavailableError(f"cannot connect to {self._where}: {exc}") from exc
        self._pid = os.getpid()
        return ray

    def close(self) -> None:
        """Disconnect this process, if this backend connected it."""
        if self._pid == os.getpid():
            sys.modules["ray"].shutdown()
        self._pid = None

    def _cluster_nodes(self) -> list[dict[str, float]]:
        """The alive nodes' resources, read once; from a subprocess when not connected."""
        if self._nodes is not None:
            return self._nodes
        if "ray" in sys.modules and sys.modules["ray"].is_initialized():
            nodes = self._connect().nodes()
        elif importlib.util.find_spec("ray") is None:
            raise BackendUnavailableError(_NO_RAY)
        else:
            _probe(self.config.address)
            argv = [sys.executable, "-c", _SNAPSHOT, self.config.address]
            argv.append(self.config.namespace or "")
            try:
                done = subprocess.run(
                    argv, capture_output=True, text=True, timeout=self.config.connect_timeout_s
                )
            except subprocess.TimeoutExpired as exc:
                raise BackendUnavailableError(f"no answer from {self._where}") from exc
            lines = [line for line in done.stdout.splitlines() if line.startswith("NODES")]
            if not lines:
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                raise BackendUnavailableError(f"cannot connect to {self._where}: {last}")
            nodes = [{"Alive": True, "Resources": r} for r in json.loads(lines[-1][5:])]
        self._nodes = [node["Resources"] for node in nodes if node["Alive"]]
        return self._nodes

    def can_serve(self, resources: ResourceConfig) -> str | None:
        """``None`` when the cluster could run it, else why not; launches nothing."""
        device, label, where = resources.device, resources.summary(), self._where
        if not isinstance(device, TpuConfig) and resources.replicas > 1:
            return f"{label}: the Ray backend runs a CPU/GPU step as one task"
        try:
            nodes = self._cluster_nodes()
        except BackendUnavailableError as exc:
            return str(exc)
        if isinstance(device, TpuConfig):
            head, per_host = tpu_head(device.variant), device.chips_per_host
            need = (
                f"{label} needs resources TPU ({per_host} per host x {device.total_hosts} hosts) "
                f"and {head} (one per slice)"
            )
            hosts = sum(int(node.get("TPU", 0) // per_host) for node in nodes)
            heads = sum(node.get(head, 0) for node in nodes)
            if hosts == 0 or heads == 0:
                return f"{need}; {where} has none"
            if hosts < device.total_hosts or heads < device.slice_count:
                return f"{need}; {where} has room for {hosts} hosts and {heads:g} {head}"
            return None
        if isinstance(device, GpuConfig):
            key = f"accelerator_type:{GPU_ACCELERATOR_TYPES.get(device.variant, device.variant)}"
            auto = device.variant == "auto"
            typed = [node for node in nodes if auto or node.get(key, 0) > 0]
            if not typed:
                return f"{label} needs resource {key}; no node of {where} has it"
            if (most := max(node.get("GPU", 0) for node in typed)) < device.count:
                return (
                    f"{label} needs {device.count} GPUs on one node; the nodes of {where} "
                    f"with {'GPUs' if auto else key} have at most {most:g}"
                )
        if (most := max((node.get("CPU", 0) for node in nodes), default=0)) < resources.cpu:
            return f"{label} needs {resources.cpu:g} CPUs on one node; {where} has {most:g}"
        return None

    def launch(self, call: StepCall) -> RayHandle:
        """Submit the call; a multi-host TPU call waits (in ``poll``) for its placement first."""
        ray = self._connect()
        device, handle = call.resources.device, RayHandle(call)
        if isinstance(device, TpuConfig) and device.total_hosts > 1:
            bundles = [
                _tpu_bundle(device, self.config.tpu_host_cpus, head=index == 0)
                for _ in range(device.slice_count)
                for index in range(device.hosts_per_slice)
            ]
            handle.placement_group = ray.util.placement_group(bundles, strategy="SPREAD")
            handle.placement_ready = handle.placement_group.ready()
            handle.deadline = time.monotonic() + self.config.placement_timeout_s
            return handle
        task, env = _remote_task(ray, device=not isinstance(device, CpuConfig)), {}
        options: dict[str, Any] = {"num_cpus": call.resources.cpu}
        if isinstance(device, GpuConfig):
            options["num_gpus"] = device.count
            if device.variant != "auto":
                options["accelerator_type"] = GPU_ACCELERATOR_TYPES[device.variant]
        elif isinstance(device, TpuConfig):
            options = _tpu_options(device, self.config.tpu_host_cpus, head=True)
            env = _tpu_env(device, 0, 0)
        where = {"slice": 0, "host": 0} if env else {}
        handle.tasks.append(
            (where, task.options(**options).remote(call.fn, call.config, env, call.report_path))
        )
        return handle

    def _start_hosts(self, ray: Any, handle: RayHandle, device: TpuConfig) -> None:
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        for index in range(device.total_hosts):
            slice_index, host = divmod(index, device.hosts_per_slice)
            options = _tpu_options(device, self.config.tpu_host_cpus, head=host == 0)
            strategy = PlacementGroupSchedulingStrategy(handle.placement_group, index)
            ref = (
                _remote_task(ray, device=True)
                .options(scheduling_strategy=strategy, **options)
                .remote(
                    handle.call.fn,
                    handle.call.config,
                    _tpu_env(device, slice_index, host),
                    handle.call.report_path,
                )
            )
            handle.tasks.append(({"slice": slice_index, "host": host}, ref))

    def poll(self, handle: RayHandle) -> Outcome | None:
        """``None`` while running; the first failing task fails the call and stops the others."""
        if handle.outcome is not None:
            return handle.outcome
        ray, call = self._connect(), handle.call
        if handle.deadline is not None and (tpu := call.resources.tpu) is not None:
            if not ray.wait([handle.placement_ready], timeout=0)[0]:
                if time.monotonic() < handle.deadline:
                    return None
                bundles = handle.placement_group.bundle_specs
                return self._finish(handle, False, (
                    f"{call.step_name}: {call.resources.summary()} could not be placed on "
                    f"{self._where} within {self.config.placement_timeout_s:g} s (bundles "
                    f"{bundles}; available now: {ray.available_resources()})"
                ))  # fmt: skip
            handle.deadline = None
            self._start_hosts(ray, handle, tpu)
        refs = [ref for _, ref in handle.tasks]
        ready = ray.wait(refs, num_returns=len(refs), timeout=0)[0]
        for index, (where, ref) in enumerate(handle.tasks):
            if index in handle.results or ref not in ready:
                continue
            try:
                handle.results[index] = {**where, **ray.get(ref)}
            except ray.exceptions.RayError as exc:
                at = f" (slice {where['slice']}, host {where['host']})" if where else ""
                text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # Ray colours the task name
                return self._finish(handle, False, f"{call.step_name} failed on Ray{at}: {text}")
        return None if len(handle.results) < len(refs) else self._finish(handle, True, None)

    def terminate(self, handle: RayHandle) -> None:
        """Force-cancel every task (their workers are killed) and free the placement group."""
        if handle.outcome is None:
            self._connect()
            self._finish(handle, False, f"{handle.call.step_name}: terminated")

    def _finish(self, handle: RayHandle, ok: bool, error: str | None) -> Outcome:
        import ray

        for index, (_, ref) in enumerate(handle.tasks):
            if index not in handle.results:  # never cancel a finished task: its worker is reused
                with contextlib.suppress(Exception):  # the cluster may be gone
                    ray.cancel(ref, force=True)
        if handle.placement_group is not None:
            with contextlib.suppress(Exception):
                ray.util.remove_placement_group(handle.placement_group)
            handle.placement_group = None
        tasks = [handle.results[index] for index in sorted(handle.results)]
        details = {"backend": self.name, "address": self.config.address, "tasks": tasks}
        handle.outcome = Outcome(ok, error, details)
        return handle.outcome


_REMOTE: dict[bool, Any] = {}


def _remote_task(ray: Any, *, device: bool) -> Any:
    """``_run_in_task`` as a Ray remote function, made once. A GPU/TPU task's worker exits after
    the call (``max_calls=1``), which frees the device, as Marin does."""
    if device not in _REMOTE:
        _REMOTE[device] = ray.remote(max_retries=0, max_calls=1 if device else 0)(_run_in_task)
    return _REMOTE[device]


def _tpu_bundle(device: TpuConfig, cpus: float, *, head: bool) -> dict[str, float]:
    bundle: dict[str, float] = {"TPU": device.chips_per_host, "CPU": cpus}
    if head:
        bundle[tpu_head(device.variant)] = 1
    return {key: value for key, value in bundle.items() if value}


def _tpu_options(device: TpuConfig, cpus: float, *, head: bool) -> dict[str, Any]:
    bundle = _tpu_bundle(device, cpus, head=head)
    return {"num_cpus": bundle.pop("CPU", 0), "resources": bundle}


def _tpu_env(device: TpuConfig, slice_index: int, host: int) -> dict[str, str]:
    return {
        "MARIN_TPU_TYPE": device.variant,
        "MARIN_TPU_SLICE_COUNT": str(device.slice_count),
        "MARIN_TPU_HOSTS_PER_SLICE": str(device.hosts_per_slice),
        "MARIN_TPU_SLICE_INDEX": str(slice_index),
        "MARIN_TPU_HOST_INDEX": str(host),
    }


def _probe(address: str, timeout: float = 5) -> None:
    """Fail fast when nothing listens at ``HOST:PORT`` (``ray.init`` would retry for minutes)."""
    host, _, port = address.rpartition(":")
    if port.isdigit():
        try:
            socket.create_connection((host, int(port)), timeout=timeout).close()
        except OSError as exc:
            message = f"cannot connect to the Ray cluster at {address}: nothing answers ({exc})"
            raise BackendUnavailableError(message) from exc


def _same_address(configured: str, connected: str) -> bool:
    """``auto``, an equal address, or the same port on a loopback host name the same cluster."""
    if configured in ("auto", connected):
        return True
    host, _, port = configured.rpartition(":")
    local = host in ("localhost", "127.0.0.1", socket.gethostname())
    return local and port == connected.rpartition(":")[2]
