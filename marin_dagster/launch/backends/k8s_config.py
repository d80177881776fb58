"""Settings of the Kubernetes (GKE) backend: ``backends: {gpu: {k8s: {image: ..., ...}}}``.

Kept apart from ``k8s.py`` so the executor's settings can be read without importing
``kubernetes`` or ``dagster_k8s``.

Example:
    >>> K8sBackendConfig(image="us-docker.pkg.dev/p/r/marin:1", namespace="ml").namespace
    'ml'
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

__all__ = ["K8S_CONFIG_KEYS", "K8sBackendConfig"]

K8S_CONFIG_KEYS = frozenset(
    {"container_config", "pod_template_spec_metadata", "pod_spec_config", "job_config",
     "job_metadata", "job_spec_config", "merge_behavior"}
)  # fmt: skip
"""The keys of a ``dagster-k8s/config`` that apply to a Job."""


class K8sBackendConfig(BaseModel, frozen=True, extra="forbid"):
    """Where and how each step's Kubernetes Job runs (dagster-k8s's names and semantics)."""

    image: str = Field(min_length=1, description="Image with the code location and marin_dagster")
    namespace: str = Field(
        default="default", min_length=1, description="Namespace of the step Jobs"
    )
    service_account_name: str | None = Field(
        default=None, description="Service account of the pods"
    )
    image_pull_policy: str | None = Field(default=None, description="Always, IfNotPresent or Never")
    env_vars: list[str] = Field(
        default_factory=list, description="KEY=VALUE, or KEY to copy from the launching process"
    )
    env_secrets: list[str] = Field(default_factory=list, description="Secrets loaded as env")
    env_config_maps: list[str] = Field(default_factory=list, description="ConfigMaps as env")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels of Jobs and pods")
    k8s_config: dict[str, Any] = Field(
        default_factory=dict,
        description="Raw dagster-k8s/config (container_config, pod_spec_config, job_spec_config, "
        "job_metadata, pod_template_spec_metadata, merge_behavior) for every step Job",
    )
    python: str = Field(default="python", description="Interpreter in the image that runs the step")
    load_incluster_config: bool = Field(default=True, description="Use the pod's service account")
    kubeconfig_file: str | None = Field(default=None, description="Kubeconfig when not in cluster")
    max_concurrent: int | None = Field(
        default=None, ge=1, description="Most steps of a class at once"
    )

    @field_validator("k8s_config")
    @classmethod
    def _known_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - K8S_CONFIG_KEYS)
        if unknown:
            known = ", ".join(sorted(K8S_CONFIG_KEYS))
            raise ValueError(f"k8s_config: unknown keys {unknown}; dagster-k8s/config has {known}")
        return value
