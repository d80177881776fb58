"""Run step functions as Kubernetes Jobs (GKE), one Job per step call, via dagster-k8s.

The supervising process (``run_step``) keeps the step's lease and status files; the Job's pod
only calls ``fn(config)`` (``k8s_entry``), so the image must contain the code location and
``marin_dagster``, and step outputs must be on storage the pod reaches (``gs://``). ``poll``
reads the Job's status; ``terminate`` deletes the Job (and its pods). A failed Job's error
carries its condition and the last lines of its pods' logs. The Job itself is built by
``k8s_job.build_step_job`` (resources, GKE selectors, ``dagster-k8s/config`` precedence).

Example:
    >>> backend = K8sBackend(K8sBackendConfig(image="ghcr.io/acme/marin:1"))  # doctest: +SKIP
    >>> backend.can_serve(ResourceConfig.with_tpu("v5e-16", slice_count=2))  # doctest: +SKIP
    'tpu v5e-16 x2 (8 hosts, 32 chips): a multislice TPU request needs a JobSet ...'
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import re
import uuid
from collections.abc import Mapping
from typing import Any

from marin_dagster.core.backend import BackendUnavailableError, Outcome, StepCall
from marin_dagster.core.resources import ResourceConfig
from marin_dagster.launch.backends.k8s_config import K8sBackendConfig
from marin_dagster.launch.backends.k8s_job import build_step_job, gke_unsupported

__all__ = ["K8sBackend", "K8sBackendConfig", "K8sHandle", "k8s_job_name"]

_NO_K8S = "dagster-k8s is not installed: pip install 'marin-dagster[k8s]'"
_LOG_LINES = 40


@dataclasses.dataclass
class K8sHandle:
    """A created Job (and its headless Service, for a multi-host slice)."""

    call: StepCall
    name: str
    namespace: str
    service: bool = False
    outcome: Outcome | None = None


def k8s_job_name(step_name: str) -> str:
    """A DNS-1123 Job name: ``train/lr-0.001`` → ``marin-train-lr-0-001-1a2b3c4d``."""
    slug = re.sub(r"[^a-z0-9]+", "-", step_name.lower()).strip("-")[:40].rstrip("-")
    return f"marin-{slug}-{uuid.uuid4().hex[:8]}"


class K8sBackend:
    """Creates one Job per call; ``batch_api`` / ``core_api`` default to the configured cluster.

    ``op_tags`` are the step's op tags (their ``dagster-k8s/config`` wins over configuration).
    """

    name = "k8s"

    def __init__(
        self,
        config: K8sBackendConfig,
        op_tags: Mapping[str, str] | None = None,
        *,
        batch_api: Any = None,
        core_api: Any = None,
    ) -> None:
        self.config = config
        self.op_tags = dict(op_tags or {})
        self._batch, self._core = batch_api, core_api

    def _apis(self) -> tuple[Any, Any]:
        if self._batch is None or self._core is None:
            if importlib.util.find_spec("dagster_k8s") is None:
                raise BackendUnavailableError(_NO_K8S)
            import kubernetes

            if self.config.load_incluster_config:
                kubernetes.config.load_incluster_config()
            else:
                kubernetes.config.load_kube_config(self.config.kubeconfig_file)
            self._batch = self._batch or kubernetes.client.BatchV1Api()
            self._core = self._core or kubernetes.client.CoreV1Api()
        return self._batch, self._core

    def can_serve(self, resources: ResourceConfig) -> str | None:
        """``None`` when GKE can run it through dagster-k8s; launches nothing, reads nothing."""
        if importlib.util.find_spec("dagster_k8s") is None:
            return _NO_K8S
        return gke_unsupported(resources)

    def build(self, call: StepCall, job_name: str) -> tuple[Any, Any]:
        """The ``(V1Job, V1Service | None)`` that ``launch`` would create."""
        if (reason := gke_unsupported(call.resources)) is not None:
            raise BackendUnavailableError(f"step {call.step_name!r}: {reason}")
        return build_step_job(call, self.config, self.op_tags, job_name)

    def launch(self, call: StepCall) -> K8sHandle:
        batch, core = self._apis()
        job, service = self.build(call, k8s_job_name(call.step_name))
        namespace = job.metadata.namespace
        handle = K8sHandle(call, job.metadata.name, namespace, service is not None)
        if service is not None:
            core.create_namespaced_service(namespace, service)
        batch.create_namespaced_job(namespace, job)
        return handle

    def poll(self, handle: K8sHandle) -> Outcome | None:
        """``None`` while the Job runs; its ``Complete`` / ``Failed`` condition ends the call."""
        if handle.outcome is not None:
            return handle.outcome
        batch, _ = self._apis()
        status = batch.read_namespaced_job_status(handle.name, handle.namespace).status
        for condition in (status.conditions if status is not None else None) or []:
            if condition.status != "True":
                continue
            if condition.type == "Complete":
                return self._finish(handle, True, None)
            if condition.type == "Failed":
                why = f"{condition.reason}: {condition.message}"
                error = f"{handle.call.step_name}: Job {handle.namespace}/{handle.name} failed "
                return self._finish(handle, False, error + f"({why}){self._logs(handle)}")
        return None

    def _logs(self, handle: K8sHandle) -> str:
        """The last lines of each pod's log (empty when they cannot be read)."""
        _, core = self._apis()
        texts = []
        with contextlib.suppress(Exception):
            selector = f"job-name={handle.name}"
            pods = core.list_namespaced_pod(handle.namespace, label_selector=selector)
            for pod in pods.items:
                log = core.read_namespaced_pod_log(
                    pod.metadata.name, handle.namespace, tail_lines=_LOG_LINES
                )
                texts.append(f"\n--- {pod.metadata.name} ---\n{log.rstrip()}")
        return "".join(texts)

    def terminate(self, handle: K8sHandle) -> None:
        """Delete the Job and its pods (idempotent)."""
        if handle.outcome is not None:
            return
        batch, _ = self._apis()
        with contextlib.suppress(Exception):  # already gone
            batch.delete_namespaced_job(
                handle.name, handle.namespace, propagation_policy="Background"
            )
        self._finish(handle, False, f"{handle.call.step_name}: terminated (Job deleted)")

    def _finish(self, handle: K8sHandle, ok: bool, error: str | None) -> Outcome:
        if handle.service:
            _, core = self._apis()
            with contextlib.suppress(Exception):
                core.delete_namespaced_service(handle.name, handle.namespace)
            handle.service = False
        details = {"backend": self.name, "job": handle.name, "namespace": handle.namespace}
        handle.outcome = Outcome(ok, error, details)
        return handle.outcome
