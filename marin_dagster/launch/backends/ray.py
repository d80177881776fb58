"""Run step functions as tasks on an existing Ray cluster.

``fn(config)`` runs in a Ray task; ``fn`` and ``config`` travel by cloudpickle, which pickles
module-level functions *by reference*: the module defining ``fn`` (and ``marin_dagster``) must be
importable on every node (installed, on ``PYTHONPATH``, or shipped with ``runtime_env``).

Resources: a CPU step asks ``num_cpus=cpu``; a GPU step ``num_gpus=count`` plus Ray's
``accelerator_type`` (unless the variant is ``auto``); a TPU step asks, per host, ``TPU`` (chips
per host) and on each slice's first host the ``TPU-{type}-head`` resource that Ray puts on worker
0 of a TPU VM slice (v5e is named ``v5litepod``: ``TPU-v5litepod-16-head``). A TPU task asks only
``tpu_host_cpus`` CPUs, as fray asks 8, not the half host in its ``ResourceConfig``: the ``TPU``
resource is what reserves the host. Memory and disk are not requested (fray neither). Tasks are
never retried by Ray: the runner owns retries. A multi-host request (``hosts_per_slice *
slice_count > 1``) is gang-scheduled with one placement group, one bundle per host, and starts
whole or fails after ``placement_timeout_s``. Each TPU task's environment says where it is:

- ``MARIN_TPU_TYPE``: the TPU type asked for (``v5e-16``)
- ``MARIN_TPU_SLICE_COUNT`` / ``MARIN_TPU_HOSTS_PER_SLICE``: the shape of the request
- ``MARIN_TPU_SLICE_INDEX``: this host's slice, ``0 .. slice_count-1``
- ``MARIN_TPU_HOST_INDEX``: this host within its slice, ``0 .. hosts_per_slice-1`` (0: the head)

Example:
    >>> backend = RayBackend(RayBackendConfig(address="127.0.0.1:6379"))  # doctest: +SKIP
    >>> backend.can_serve(ResourceConfig.with_tpu("v5e-16"))  # doctest: +SKIP
    'tpu v5e-16 x1 (4 hosts, 16 chips) needs TPU (4 per host x 4 hosts) and ...'
"""

from __future__ import annotations

import contextlib
import dataclasses
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
from marin_dagster.core.resources import CpuConfig, GpuConfig, ResourceConfig, TpuConfig

__all__ = ["GPU_ACCELERATOR_TYPES", "RayBackend", "RayBackendConfig", "RayHandle", "tpu_head"]

GPU_ACCELERATOR_TYPES: Mapping[str, str] = {
    gpu: gpu
    for gpu in ("A10", "A10G", "A100-40G", "A100-80G", "B100", "H100", "H200", "L4", "T4", "V100")
}
"""Our GPU variant -> Ray's ``accelerator_type:<X>`` name (``ray.util.accelerators``). Ray
auto-labels A100 nodes only ``A100``; ``A100-40G`` / ``A100-80G`` must be added to nodes by hand."""

_REPORTED_ENV = ("CUDA_VISIBLE_DEVICES", "TPU_VISIBLE_CHIPS", "MARIN_TPU_TYPE",
                 "MARIN_TPU_SLICE_COUNT", "MARIN_TPU_HOSTS_PER_SLICE", "MARIN_TPU_SLICE_INDEX",
                 "MARIN_TPU_HOST_INDEX")  # fmt: skip


class RayBackendConfig(BaseModel, frozen=True, extra="forbid"):
    """Where and how to run steps on Ray: ``RayBackendConfig(address="10.0.0.2:6379")``."""

    address: str = Field(
        min_length=1,
        description="The cluster as ray.init takes it: HOST:PORT of the head's GCS, or 'auto'.",
    )
    namespace: str | None = Field(default=None, description="Ray namespace of the connection.")
    runtime_env: dict[str, Any] | None = Field(
        default=None, description="Ray runtime_env for every task (env_vars, py_modules, pip...)."
    )
    max_concurrent: int | None = Field(
        default=None, ge=1, description="Most steps of one device class on Ray at once (executor)."
    )
    placement_timeout_s: float = Field(
        default=600, gt=0, description="How long a multi-host TPU request may wait to be placed."
    )
    tpu_host_cpus: float = Field(
        default=1, ge=0, description="CPUs asked per TPU host (fray asks 8; TPU reserves the host)."
    )
    connect_timeout_s: float = Field(
        default=60, gt=0, description="Bound on can_serve's look at the cluster when not connected."
    )
    log_to_driver: bool = Field(
        default=True, description="Forward the tasks' stdout/stderr to the step's process."
    )


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
    deadline: float | None = None
    """While the placement group is pending: when to give up (``time.monotonic``)."""
    results: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    outcome: Outcome | None = None


def _run_in_task(fn: Callable[[Any], Any], config: Any, env: dict[str, str]) -> dict[str, Any]:
    """Inside the Ray task: set the TPU environment, call ``fn(config)``, say where it ran."""
    import ray

    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        ctx = ray.get_runtime_context()
        details = {
            "node_id": ctx.get_node_id(),
            "node_ip": ray.util.get_node_ip_address(),
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "assigned_resources": ctx.get_assigned_resources(),
            "env": {key: os.environ[key] for key in _REPORTED_ENV if key in os.environ},
        }
        fn(config)
        return details
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_SNAPSHOT_SCRIPT = """
import json, sys, ray
ray.init(address=sys.argv[1], namespace=sys.argv[2] or None, logging_level="ERROR",
         log_to_driver=False)
nodes = [n["Resources"] for n in ray.nodes() if n["Alive"]]
print("SNAPSHOT" + json.dumps(nodes))
"""


class RayBackend:
    """Runs each step as Ray task(s) on the cluster at ``config.address``; never starts one.

    Connects on first ``launch``/``poll`` (``ray.init``, once per process). ``can_serve`` in a
    process not yet connected looks at the cluster from a short subprocess, so the supervising
    process stays free of Ray and can fork step workers (a Ray connection does not survive
    ``fork``).
    """

    name = "ray"

    def __init__(self, config: RayBackendConfig) -> None:
        self.config = config
        self._pid: int | None = None
        self._nodes: list[dict[str, float]] | None = None

    def _connect(self) -> Any:
        try:
            import ray
        except ImportError as exc:
            raise BackendUnavailableError(_NO_RAY) from exc
        if ray.is_initialized():
            if self._pid == os.getpid():
                return ray
            if self._pid is not None:
                raise BackendUnavailableError(
                    "this process was forked from one connected to Ray; connect in the child only"
                )
            gcs = ray.get_runtime_context().gcs_address
            if not _same_address(self.config.address, gcs):
                raise BackendUnavailableError(
                    f"this process is connected to the Ray cluster at {gcs}, "
                    f"not at {self.config.address}"
                )
        else:
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
                raise BackendUnavailableError(
                    f"cannot connect to the Ray cluster at {self.config.address}: {exc}"
                ) from exc
        self._pid = os.getpid()
        return ray

    def close(self) -> None:
        """Disconnect this process, if this backend connected it."""
        if self._pid == os.getpid():
            import ray

            ray.shutdown()
        self._pid = None

    def _cluster_nodes(self) -> list[dict[str, float]]:
        if self._nodes is None:
            try:
                import ray
            except ImportError as exc:
                raise BackendUnavailableError(_NO_RAY) from exc
            if ray.is_initialized() and self._pid in (None, os.getpid()):
                ray = self._connect()
                self._nodes = [n["Resources"] for n in ray.nodes() if n["Alive"]]
            else:
                self._nodes = self._snapshot_in_subprocess()
        return self._nodes

    def _snapshot_in_subprocess(self) -> list[dict[str, float]]:
        _probe(self.config.address)
        argv = [sys.executable, "-c", _SNAPSHOT_SCRIPT, self.config.address]
        argv.append(self.config.namespace or "")
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=self.config.connect_timeout_s
            )
        except subprocess.TimeoutExpired as exc:
            raise BackendUnavailableError(
                f"no answer from the Ray cluster at {self.config.address} "
                f"within {self.config.connect_timeout_s:g} s"
            ) from exc
        for line in done.stdout.splitlines():
            if line.startswith("SNAPSHOT"):
                return json.loads(line.removeprefix("SNAPSHOT"))
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BackendUnavailableError(
            f"cannot connect to the Ray cluster at {self.config.address}: {last}"
        )

    def can_serve(self, resources: ResourceConfig) -> str | None:
        """``None`` when the cluster could run it, else why not; launches nothing."""
        if resources.tpu is None and resources.replicas > 1:
            return f"{resources.summary()}: the Ray backend runs CPU/GPU steps as one task"
        try:
            nodes = self._cluster_nodes()
        except BackendUnavailableError as exc:
            return str(exc)
        where = f"the Ray cluster at {self.config.address}"

        def most(key: str) -> float:
            return max((node.get(key, 0) for node in nodes), default=0)

        device, label = resources.device, resources.summary()
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
        elif isinstance(device, GpuConfig):
            key = f"accelerator_type:{GPU_ACCELERATOR_TYPES.get(device.variant, device.variant)}"
            typed = [n for n in nodes if device.variant == "auto" or n.get(key, 0) > 0]
            if not typed:
                return f"{label} needs resource {key}; no node of {where} has it"
            if max(n.get("GPU", 0) for n in typed) < device.count:
                return (
                    f"{label} needs {device.count} GPUs on one node; the nodes of {where} "
                    f"with {key if device.variant != 'auto' else 'GPUs'} have at most "
                    f"{max(n.get('GPU', 0) for n in typed):g}"
                )
        if resources.tpu is None and most("CPU") < resources.cpu:
            return f"{label} needs {resources.cpu:g} CPUs on one node; {where} has {most('CPU'):g}"
        return None

    def launch(self, call: StepCall) -> RayHandle:
        """Submit the call; a multi-host TPU call first waits (in ``poll``) for its placement."""
        ray = self._connect()
        device, handle = call.resources.device, RayHandle(call)
        task = _remote_task(ray, device=not isinstance(device, CpuConfig))
        if isinstance(device, TpuConfig):
            if device.total_hosts == 1:
                options = _tpu_options(device, self.config.tpu_host_cpus, head=True)
                ref = task.options(**options).remote(call.fn, call.config, _tpu_env(device, 0, 0))
                handle.tasks.append(({"slice": 0, "host": 0}, ref))
            else:
                bundles = [
                    _tpu_bundle(device, self.config.tpu_host_cpus, head=host == 0)
                    for _ in range(device.slice_count)
                    for host in range(device.hosts_per_slice)
                ]
                handle.placement_group = ray.util.placement_group(bundles, strategy="SPREAD")
                handle.deadline = time.monotonic() + self.config.placement_timeout_s
            return handle
        options: dict[str, Any] = {"num_cpus": call.resources.cpu}
        if isinstance(device, GpuConfig):
            options["num_gpus"] = device.count
            if device.variant != "auto":
                options["accelerator_type"] = GPU_ACCELERATOR_TYPES[device.variant]
        handle.tasks.append(({}, task.options(**options).remote(call.fn, call.config, {})))
        return handle

    def _start_hosts(self, ray: Any, handle: RayHandle, device: TpuConfig) -> None:
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        task = _remote_task(ray, device=True)
        for index in range(device.total_hosts):
            slice_index, host = divmod(index, device.hosts_per_slice)
            strategy = PlacementGroupSchedulingStrategy(handle.placement_group, index)
            options = _tpu_options(device, self.config.tpu_host_cpus, head=host == 0)
            env = _tpu_env(device, slice_index, host)
            ref = task.options(scheduling_strategy=strategy, **options).remote(
                handle.call.fn, handle.call.config, env
            )
            handle.tasks.append(({"slice": slice_index, "host": host}, ref))

    def poll(self, handle: RayHandle) -> Outcome | None:
        """``None`` while running; the first failing task fails the call and stops the others."""
        if handle.outcome is not None:
            return handle.outcome
        ray, call = self._connect(), handle.call
        tpu = call.resources.tpu
        if handle.deadline is not None and tpu is not None:
            if not ray.wait([handle.placement_group.ready()], timeout=0)[0]:
                if time.monotonic() < handle.deadline:
                    return None
                return self._finish(handle, False, (
                    f"{call.step_name}: {call.resources.summary()} could not be placed on the "
                    f"Ray cluster at {self.config.address} within "
                    f"{self.config.placement_timeout_s:g} s (bundles "
                    f"{handle.placement_group.bundle_specs}; available now: "
                    f"{ray.available_resources()})"
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
        if len(handle.results) < len(refs):
            return None
        return self._finish(handle, True, None)

    def _finish(self, handle: RayHandle, ok: bool, error: str | None) -> Outcome:
        self._release(handle)
        tasks = [handle.results[i] for i in sorted(handle.results)]
        details = {"backend": self.name, "address": self.config.address, "tasks": tasks}
        handle.outcome = Outcome(ok, error, details)
        return handle.outcome

    def _release(self, handle: RayHandle) -> None:
        import ray

        for index, (_, ref) in enumerate(handle.tasks):
            if index not in handle.results:  # never cancel a finished task's (reused) worker
                with contextlib.suppress(Exception):  # the cluster may be gone
                    ray.cancel(ref, force=True)
        if handle.placement_group is not None:
            with contextlib.suppress(Exception):
                ray.util.remove_placement_group(handle.placement_group)
            handle.placement_group = None

    def terminate(self, handle: RayHandle) -> None:
        """Force-cancel every task (their workers are killed) and free the placement group."""
        if handle.outcome is None:
            self._connect()
            self._finish(handle, False, f"{handle.call.step_name}: terminated")


_NO_RAY = "ray is not installed: pip install 'marin-dagster[ray]'"
_REMOTE: dict[bool, Any] = {}


def _remote_task(ray: Any, *, device: bool) -> Any:
    """``_run_in_task`` as a Ray remote function, made once. A GPU/TPU task's worker exits after
    the call (``max_calls=1``), which frees the device, as Marin does."""
    if device not in _REMOTE:
        _REMOTE[device] = ray.remote(max_retries=0, max_calls=1 if device else 0)(_run_in_task)
    return _REMOTE[device]


def _tpu_bundle(device: TpuConfig, cpus: float, *, head: bool) -> dict[str, float]:
    bundle: dict[str, float] = {"TPU": device.chips_per_host}
    if cpus:
        bundle["CPU"] = cpus
    if head:
        bundle[tpu_head(device.variant)] = 1
    return bundle


def _tpu_options(device: TpuConfig, cpus: float, *, head: bool) -> dict[str, Any]:
    bundle = _tpu_bundle(device, cpus, head=head)
    cpu = bundle.pop("CPU", 0)
    return {"num_cpus": cpu, "resources": bundle}


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
    if address == "auto" or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise BackendUnavailableError(
            f"cannot connect to the Ray cluster at {address}: nothing answers there ({exc})"
        ) from exc


def _same_address(configured: str, connected: str) -> bool:
    """``auto``, an equal address, or the same port on a loopback host name the same cluster."""
    if configured == "auto" or configured == connected:
        return True
    host, _, port = configured.rpartition(":")
    loopback = host in ("localhost", "127.0.0.1", socket.gethostname())
    return loopback and port == connected.rpartition(":")[2]
