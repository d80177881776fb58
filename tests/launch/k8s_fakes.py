"""A fake of the Kubernetes API objects (BatchV1Api, CoreV1Api) the k8s backend calls.

It stores what it is sent and answers with real ``kubernetes.client`` models, so the backend's
own code runs unchanged; a test sets a Job's conditions to play the cluster.
"""

from __future__ import annotations

from typing import Any


class FakeKubernetes:
    """Both API objects in one: ``batch_api=fake, core_api=fake``."""

    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str], Any] = {}
        self.services: dict[tuple[str, str], Any] = {}
        self.deleted: list[tuple[str, str, str, str | None]] = []
        self.pod_logs: dict[str, str] = {}

    def create_namespaced_job(self, namespace: str, body: Any) -> Any:
        self.jobs[(namespace, body.metadata.name)] = body
        return body

    def create_namespaced_service(self, namespace: str, body: Any) -> Any:
        self.services[(namespace, body.metadata.name)] = body
        return body

    def read_namespaced_job_status(self, name: str, namespace: str) -> Any:
        return self.jobs[(namespace, name)]

    def set_condition(self, namespace: str, name: str, kind: str, reason: str = "", msg: str = ""):
        import kubernetes.client as k8s

        condition = k8s.V1JobCondition(type=kind, status="True", reason=reason, message=msg)
        self.jobs[(namespace, name)].status = k8s.V1JobStatus(conditions=[condition])

    def delete_namespaced_job(self, name: str, namespace: str, propagation_policy: str) -> None:
        self.jobs.pop((namespace, name))
        self.deleted.append(("job", namespace, name, propagation_policy))

    def delete_namespaced_service(self, name: str, namespace: str) -> None:
        self.services.pop((namespace, name))
        self.deleted.append(("service", namespace, name, None))

    def list_namespaced_pod(self, namespace: str, label_selector: str) -> Any:
        import kubernetes.client as k8s

        job = label_selector.removeprefix("job-name=")
        names = [pod for pod in self.pod_logs if pod.startswith(job)]
        return k8s.V1PodList(items=[k8s.V1Pod(metadata=k8s.V1ObjectMeta(name=n)) for n in names])

    def read_namespaced_pod_log(self, name: str, namespace: str, tail_lines: int) -> str:
        return "\n".join(self.pod_logs[name].splitlines()[-tail_lines:])
