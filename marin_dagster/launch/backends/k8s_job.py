"""The Kubernetes Job of one step call, built with dagster-k8s's own Job construction.

From the step's ``ResourceConfig``: CPU / memory / ephemeral-storage requests; a GPU step gets
an ``nvidia.com/gpu`` limit, the ``cloud.google.com/gke-accelerator`` node selector and the GPU
toleration; a TPU step gets a ``google.com/tpu`` limit (chips per host), the
``cloud.google.com/gke-tpu-accelerator`` and ``cloud.google.com/gke-tpu-topology`` node
selectors, the TPU toleration and the ``MARIN_TPU_*`` environment. A multi-host slice is an
Indexed Job (``completions`` = ``parallelism`` = hosts, ``backoff_limit`` 0) with a headless
Service of the Job's name as the pods' ``subdomain``, as GKE's TPU docs ask. Multislice
(``slice_count > 1``) needs a JobSet, which dagster-k8s does not build: refused before launch.

Precedence (later wins, dagster-k8s's DEEP merge: dicts merged, lists appended): what the step's
resources imply < the backend's configuration (image, namespace, service account, env, secrets,
labels, ``k8s_config``) < the op's ``dagster-k8s/config`` tag.

Example:
    >>> config = K8sBackendConfig(image="ghcr.io/acme/marin:1")
    >>> job, service = build_step_job(call, config, {}, "marin-a-1")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marin_dagster.core.backend import StepCall
from marin_dagster.core.resources import GpuConfig, ResourceConfig, TpuConfig
from marin_dagster.launch.backends.k8s_config import K8sBackendConfig
from marin_dagster.launch.backends.k8s_entry import encode_call

__all__ = ["GKE_GPU_ACCELERATORS", "GKE_TPU_ACCELERATORS", "build_step_job", "gke_unsupported"]

GKE_GPU_ACCELERATORS: Mapping[str, str] = {
    "A100-40G": "nvidia-tesla-a100",
    "A100-80G": "nvidia-a100-80gb",
    "H100": "nvidia-h100-80gb",
    "H200": "nvidia-h200-141gb",
    "L4": "nvidia-l4",
    "T4": "nvidia-tesla-t4",
    "V100": "nvidia-tesla-v100",
}
"""Our GPU type -> GKE's ``cloud.google.com/gke-accelerator`` value (``auto``: no selector)."""

GKE_TPU_ACCELERATORS: Mapping[str, str] = {
    "v4": "tpu-v4-podslice",
    "v5e": "tpu-v5-lite-podslice",
    "v5p": "tpu-v5p-slice",
    "v6e": "tpu-v6e-slice",
}
"""TPU family -> GKE's ``cloud.google.com/gke-tpu-accelerator`` value."""

_TOPOLOGY_2D = {1: "1x1", 4: "2x2", 8: "2x4", 16: "4x4", 32: "4x8", 64: "8x8", 128: "8x16",
                256: "16x16"}  # fmt: skip
_TOPOLOGY_3D = {4: "2x2x1", 8: "2x2x2", 16: "2x2x4", 32: "2x4x4", 64: "4x4x4", 128: "4x4x8",
                256: "4x8x8", 512: "8x8x8", 1024: "8x8x16", 2048: "8x16x16", 4096: "16x16x16",
                6144: "16x16x24"}  # fmt: skip


def tpu_topology(device: TpuConfig) -> str:
    """GKE's ``gke-tpu-topology`` of one slice: ``v5e-16`` → ``4x4``, ``v4-32`` → ``2x2x4``."""
    table = _TOPOLOGY_2D if device.family in ("v5e", "v6e") else _TOPOLOGY_3D
    return table[device.chips_per_slice]


def gke_unsupported(resources: ResourceConfig) -> str | None:
    """Why GKE (through this backend) cannot run these resources, or ``None``."""
    device, label = resources.device, resources.summary()
    if isinstance(device, TpuConfig):
        if device.slice_count > 1:
            return (
                f"{label}: a multislice TPU request needs a JobSet (one Indexed Job per slice), "
                "which dagster-k8s does not build; map tpu to the ray or fray backend"
            )
        return None
    if resources.replicas > 1:
        return f"{label}: the k8s backend runs a CPU/GPU step as one pod"
    if isinstance(device, GpuConfig) and device.variant != "auto":
        if device.variant not in GKE_GPU_ACCELERATORS:
            known = ", ".join(GKE_GPU_ACCELERATORS)
            return f"{label}: GKE has no {device.variant} node pools (known: {known}, auto)"
    return None


def _size(value: str) -> str:
    """``4g`` → ``4Gi`` (Kubernetes quantities)."""
    return value[:-1] + {"k": "Ki", "m": "Mi", "g": "Gi", "t": "Ti"}[value[-1]]


def _derived_k8s_config(call: StepCall, job_name: str) -> dict[str, Any]:
    """The dagster-k8s/config the step's resources imply (the lowest precedence)."""
    resources, device = call.resources, call.resources.device
    requests: dict[str, str] = {
        "cpu": f"{resources.cpu:g}",
        "memory": _size(resources.ram),
        "ephemeral-storage": _size(resources.disk),
    }
    limits: dict[str, str] = {}
    selector: dict[str, str] = {}
    tolerations: list[dict[str, str]] = []
    env = [{"name": "MARIN_STEP_NAME", "value": call.step_name},
           {"name": "MARIN_OUTPUT_PATH", "value": call.output_path}]  # fmt: skip
    job_spec: dict[str, Any] = {"backoff_limit": 0}
    pod_spec: dict[str, Any] = {}
    if isinstance(device, GpuConfig):
        limits["nvidia.com/gpu"] = str(device.count)
        if device.variant != "auto":
            selector["cloud.google.com/gke-accelerator"] = GKE_GPU_ACCELERATORS[device.variant]
        tolerations.append({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"})
    elif isinstance(device, TpuConfig):
        limits["google.com/tpu"] = str(device.chips_per_host)
        selector["cloud.google.com/gke-tpu-accelerator"] = GKE_TPU_ACCELERATORS[device.family]
        selector["cloud.google.com/gke-tpu-topology"] = tpu_topology(device)
        tolerations.append({"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"})
        env += [
            {"name": "MARIN_TPU_TYPE", "value": device.variant},
            {"name": "MARIN_TPU_SLICE_COUNT", "value": "1"},
            {"name": "MARIN_TPU_HOSTS_PER_SLICE", "value": str(device.hosts_per_slice)},
            {"name": "MARIN_TPU_SLICE_INDEX", "value": "0"},
        ]
        if device.hosts_per_slice > 1:
            hosts = device.hosts_per_slice
            job_spec.update(completion_mode="Indexed", completions=hosts, parallelism=hosts)
            pod_spec["subdomain"] = job_name  # the headless Service: pods find each other
        else:
            env.append({"name": "MARIN_TPU_HOST_INDEX", "value": "0"})
    if selector:
        pod_spec["node_selector"] = selector
    if tolerations:
        pod_spec["tolerations"] = tolerations
    container: dict[str, Any] = {"resources": {"requests": requests}, "env": env}
    if limits:
        container["resources"]["limits"] = limits
    return {"container_config": container, "pod_spec_config": pod_spec, "job_spec_config": job_spec}


def build_step_job(
    call: StepCall, config: K8sBackendConfig, op_tags: Mapping[str, str], job_name: str
) -> tuple[Any, Any]:
    """``(V1Job, V1Service or None)`` for ``call``; the Service only for a multi-host slice."""
    import kubernetes.client as k8s
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import (
        DagsterK8sJobConfig,
        UserDefinedDagsterK8sConfig,
        construct_dagster_k8s_job,
        get_user_defined_k8s_config,
    )

    derived = K8sContainerContext(
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(_derived_k8s_config(call, job_name))
    )
    raw = dict(config.k8s_config)
    raw["container_config"] = {**raw.get("container_config", {}), "image": config.image}
    configured = K8sContainerContext(
        image_pull_policy=config.image_pull_policy,
        service_account_name=config.service_account_name,
        env_config_maps=config.env_config_maps,
        env_secrets=config.env_secrets,
        env_vars=config.env_vars,
        labels=config.labels,
        namespace=config.namespace,
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(raw),
    )
    tagged = K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(op_tags))
    merged = derived.merge(configured).merge(tagged)
    command = [config.python, "-m", "marin_dagster.launch.backends.k8s_entry"]
    job = construct_dagster_k8s_job(
        DagsterK8sJobConfig(),
        args=[*command, encode_call(call.fn, call.config)],
        job_name=job_name,
        user_defined_k8s_config=merged.run_k8s_config,
        component="marin_step",
        labels={"marin/step": call.step_name},
    )
    metadata = job.metadata
    assert metadata is not None  # construct_dagster_k8s_job always sets it
    metadata.namespace = merged.namespace or config.namespace
    tpu = call.resources.tpu
    if tpu is None or tpu.hosts_per_slice == 1:
        return job, None
    service = k8s.V1Service(
        api_version="v1",
        kind="Service",
        metadata=k8s.V1ObjectMeta(name=job_name, namespace=metadata.namespace),
        spec=k8s.V1ServiceSpec(cluster_ip="None", selector={"job-name": job_name}),
    )
    return job, service
