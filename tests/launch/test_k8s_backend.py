"""The k8s backend's Job objects (kubernetes client models, as they would be sent to GKE), and
its launch / poll / terminate against a fake of the Kubernetes API objects only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_runs import REPO_ROOT, TESTS_DIR
from engines import require
from k8s_fakes import FakeKubernetes

from marin_dagster.core.backend import BackendUnavailableError, StepCall
from marin_dagster.core.resources import ResourceConfig
from marin_dagster.launch.backends import make_backend
from marin_dagster.launch.backends.k8s import K8sBackend, K8sBackendConfig, k8s_job_name
from marin_dagster.launch.executor import check_backends
from marin_dagster.launch.settings import BackendSpec, ExecutorSettings
from marin_dagster.metadata_keys import RESOURCES_TAG, STEP_NAME

IMAGE = "us-docker.pkg.dev/acme/ml/marin:7"
CONFIG = K8sBackendConfig(
    image=IMAGE,
    namespace="ml",
    service_account_name="marin-steps",
    env_vars=["WANDB_PROJECT=marin"],
    env_secrets=["hf-token"],
)


@pytest.fixture(autouse=True)
def _k8s() -> None:
    require("dagster_k8s", "k8s")


def write_marker(config: dict[str, Any]) -> None:
    Path(config["out"]).write_text(json.dumps(config))


def _call(resources: ResourceConfig, name: str = "train/lm") -> StepCall:
    return StepCall(name, write_marker, {"out": "/tmp/x"}, resources, "gs://b/train/lm-abc123")


def _sent(obj: Any) -> dict[str, Any]:
    """The JSON body the kubernetes client would send for ``obj``."""
    import kubernetes.client as k8s

    return k8s.ApiClient().sanitize_for_serialization(obj)


def _build(resources: ResourceConfig, tags: dict[str, str] | None = None) -> tuple[Any, Any]:
    return K8sBackend(CONFIG, tags).build(_call(resources), "marin-train-lm-0a1b2c3d")


def _container(job: dict[str, Any]) -> dict[str, Any]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container["env"]}


def test_cpu_step_job() -> None:
    job, service = _build(ResourceConfig.with_cpu(cpu=4, ram="16g"))
    assert service is None
    sent = _sent(job)
    assert (sent["apiVersion"], sent["kind"]) == ("batch/v1", "Job")
    assert sent["metadata"]["name"] == "marin-train-lm-0a1b2c3d"
    assert sent["metadata"]["namespace"] == "ml"
    assert sent["spec"]["backoffLimit"] == 0 and "completionMode" not in sent["spec"]
    pod = sent["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "marin-steps" and pod["restartPolicy"] == "Never"
    assert "nodeSelector" not in pod and "tolerations" not in pod
    container = _container(sent)
    assert container["image"] == IMAGE
    assert container["args"][:3] == ["python", "-m", "marin_dagster.launch.backends.k8s_entry"]
    assert container["resources"] == {
        "requests": {"cpu": "4", "memory": "16Gi", "ephemeral-storage": "16Gi"}
    }
    env = _env(container)
    assert env["MARIN_STEP_NAME"] == "train/lm" and env["WANDB_PROJECT"] == "marin"
    assert env["MARIN_OUTPUT_PATH"] == "gs://b/train/lm-abc123"
    assert not any(name.startswith("MARIN_TPU_") for name in env)
    assert container["envFrom"] == [{"secretRef": {"name": "hf-token"}}]


def test_gpu_step_job() -> None:
    job, _ = _build(ResourceConfig.with_gpu("H100", count=2))
    pod = _sent(job)["spec"]["template"]["spec"]
    assert _container(_sent(job))["resources"]["limits"] == {"nvidia.com/gpu": "2"}
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_single_host_tpu_step_job() -> None:
    job, service = _build(ResourceConfig.with_tpu("v5e-8"))
    assert service is None
    sent = _sent(job)
    pod, container = sent["spec"]["template"]["spec"], _container(sent)
    assert container["resources"]["limits"] == {"google.com/tpu": "8"}
    assert container["resources"]["requests"]["cpu"] == "56"
    assert pod["nodeSelector"] == {
        "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
        "cloud.google.com/gke-tpu-topology": "2x4",
    }
    assert pod["tolerations"] == [
        {"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert "completionMode" not in sent["spec"] and "subdomain" not in pod
    env = _env(container)
    assert env["MARIN_TPU_TYPE"] == "v5e-8" and env["MARIN_TPU_HOST_INDEX"] == "0"
    assert env["MARIN_TPU_HOSTS_PER_SLICE"] == "1"


def test_multi_host_tpu_step_is_an_indexed_job_with_a_headless_service() -> None:
    job, service = _build(ResourceConfig.with_tpu("v4-32"))
    sent = _sent(job)
    spec, pod = sent["spec"], sent["spec"]["template"]["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 4)
    assert spec["backoffLimit"] == 0
    assert pod["subdomain"] == "marin-train-lm-0a1b2c3d"
    assert pod["nodeSelector"] == {
        "cloud.google.com/gke-tpu-accelerator": "tpu-v4-podslice",
        "cloud.google.com/gke-tpu-topology": "2x2x4",
    }
    assert _container(sent)["resources"]["limits"] == {"google.com/tpu": "4"}
    env = _env(_container(sent))
    assert env["MARIN_TPU_HOSTS_PER_SLICE"] == "4" and "MARIN_TPU_HOST_INDEX" not in env
    assert _sent(service) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "marin-train-lm-0a1b2c3d", "namespace": "ml"},
        "spec": {"clusterIP": "None", "selector": {"job-name": "marin-train-lm-0a1b2c3d"}},
    }


def test_multislice_tpu_fails_before_launch_naming_the_step() -> None:
    resources = ResourceConfig.with_tpu("v5e-16", slice_count=2)
    backend = K8sBackend(CONFIG, batch_api=FakeKubernetes(), core_api=FakeKubernetes())
    reason = backend.can_serve(resources)
    assert reason is not None and "needs a JobSet" in reason
    with pytest.raises(BackendUnavailableError, match=r"step 'train/lm'.*JobSet"):
        backend.launch(_call(resources))
    settings = ExecutorSettings.model_validate({"backends": {"tpu": {"k8s": CONFIG.model_dump()}}})
    tags = {STEP_NAME: "train/big", RESOURCES_TAG: resources.to_json()}
    with pytest.raises(BackendUnavailableError, match="step 'train/big' asks for tpu v5e-16 x2"):
        check_backends(settings, [tags])


def test_gpu_types_gke_does_not_offer_are_refused() -> None:
    reason = K8sBackend(CONFIG).can_serve(ResourceConfig.with_gpu("A10G"))
    assert reason is not None and "GKE has no A10G node pools" in reason
    assert K8sBackend(CONFIG).can_serve(ResourceConfig.with_gpu("auto")) is None


def test_precedence_resources_then_configuration_then_op_tag() -> None:
    config = CONFIG.model_copy(
        update={
            "k8s_config": {
                "pod_spec_config": {"node_selector": {"cloud.google.com/gke-spot": "true"}},
                "container_config": {"resources": {"requests": {"memory": "32Gi"}}},
            }
        }
    )
    tag = {
        "container_config": {"image": "ghcr.io/acme/debug:1"},
        "pod_spec_config": {"service_account_name": "debugger"},
    }
    tags = {"dagster-k8s/config": json.dumps(tag)}
    job, _ = K8sBackend(config, tags).build(_call(ResourceConfig.with_gpu("L4")), "marin-x-1")
    sent = _sent(job)
    pod, container = sent["spec"]["template"]["spec"], _container(sent)
    assert container["image"] == "ghcr.io/acme/debug:1"  # tag > configuration
    assert pod["serviceAccountName"] == "debugger"  # tag > configuration
    assert container["resources"]["requests"]["memory"] == "32Gi"  # configuration > resources
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "1"}  # kept (deep merge)
    assert pod["nodeSelector"] == {
        "cloud.google.com/gke-accelerator": "nvidia-l4",
        "cloud.google.com/gke-spot": "true",
    }


def test_the_pod_command_runs_the_step_function(tmp_path: Path) -> None:
    out = tmp_path / "seen.json"
    from pipelines.k8s_steps import record_env

    call = StepCall("demo/pod", record_env, {"out": str(out)}, ResourceConfig(), str(tmp_path))
    job, _ = K8sBackend(CONFIG).build(call, "marin-demo-pod-1")
    args = _container(_sent(job))["args"]
    env = {"PYTHONPATH": f"{TESTS_DIR}:{REPO_ROOT}", "JOB_COMPLETION_INDEX": "2"}
    done = subprocess.run([sys.executable, *args[1:]], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    seen = json.loads(out.read_text())
    assert seen["config"] == {"out": str(out)} and seen["host_index"] == "2"


def test_launch_poll_complete_and_failed_against_a_fake_api() -> None:
    fake = FakeKubernetes()
    backend = K8sBackend(CONFIG, batch_api=fake, core_api=fake)
    handle = backend.launch(_call(ResourceConfig.with_tpu("v5e-16")))
    assert list(fake.jobs) == [("ml", handle.name)] and list(fake.services) == [("ml", handle.name)]
    assert backend.poll(handle) is None  # no condition yet: running
    fake.set_condition("ml", handle.name, "Complete")
    outcome = backend.poll(handle)
    assert outcome is not None and outcome.ok
    assert outcome.details == {"backend": "k8s", "job": handle.name, "namespace": "ml"}
    assert fake.services == {}  # the headless Service goes with the Job

    failing = backend.launch(_call(ResourceConfig.with_gpu("T4"), name="eval/bad"))
    fake.pod_logs[f"{failing.name}-abcde"] = "loading\nValueError: shard 3 is corrupt"
    fake.set_condition("ml", failing.name, "Failed", "BackoffLimitExceeded", "Job has reached")
    outcome = backend.poll(failing)
    assert outcome is not None and not outcome.ok and outcome.error is not None
    assert outcome.error.startswith(f"eval/bad: Job ml/{failing.name} failed")
    assert "BackoffLimitExceeded: Job has reached" in outcome.error
    assert "ValueError: shard 3 is corrupt" in outcome.error


def test_terminate_deletes_the_job_and_fails_the_call() -> None:
    fake = FakeKubernetes()
    backend = K8sBackend(CONFIG, batch_api=fake, core_api=fake)
    handle = backend.launch(_call(ResourceConfig.with_tpu("v4-16")))
    backend.terminate(handle)
    backend.terminate(handle)  # idempotent
    assert fake.deleted == [
        ("job", "ml", handle.name, "Background"),
        ("service", "ml", handle.name, None),
    ]
    outcome = backend.poll(handle)
    assert outcome is not None and not outcome.ok and "terminated" in (outcome.error or "")


def test_job_names_are_dns_labels() -> None:
    name = k8s_job_name("Train/LR-0.001_" + "x" * 80)
    assert name.startswith("marin-train-lr-0-001-x") and len(name) <= 63
    assert name.replace("-", "").isalnum() and name == name.lower()


def test_k8s_spec_from_settings_and_dagster_config() -> None:
    import dagster as dg
    from pipelines.accelerated import defs

    spec = BackendSpec.model_validate({"k8s": {"image": IMAGE, "env_vars": ["A=1"]}})
    assert isinstance(make_backend(spec, {"x": "y"}), K8sBackend)
    assert spec.describe() == "k8s in namespace default"
    with pytest.raises(ValueError, match="image"):
        BackendSpec.model_validate({"k8s": {"namespace": "ml"}})
    with pytest.raises(ValueError, match=r"k8s_config: unknown keys \['pod_spec'\]"):
        BackendSpec.model_validate({"k8s": {"image": IMAGE, "k8s_config": {"pod_spec": {}}}})
    job = defs.resolve_job_def("all_steps")
    run_config = {
        "execution": {"config": {"backends": {"tpu": {"k8s": CONFIG.model_dump(mode="json")}}}}
    }
    validated = dg.validate_run_config(job, run_config)
    assert validated["execution"]["marin"]["backends"]["tpu"]["k8s"]["env_secrets"] == ["hf-token"]


def test_a_translator_sets_the_steps_dagster_k8s_config(monkeypatch, tmp_path: Path) -> None:
    import dagster as dg
    from pipelines.accelerated import tpu_sleeper

    from marin_dagster import build_definitions
    from marin_dagster.translator import MarinStepData, MarinTranslator

    class SpotTranslator(MarinTranslator):
        def get_asset_spec(self, data: MarinStepData) -> dg.AssetSpec:
            spec = super().get_asset_spec(data)
            spot = {"pod_spec_config": {"node_selector": {"cloud.google.com/gke-spot": "true"}}}
            return spec.merge_attributes(metadata={"dagster-k8s/config": spot})

    monkeypatch.setenv("MARIN_PREFIX", str(tmp_path))
    defs = build_definitions([tpu_sleeper(label="a", seconds=0)], translator=SpotTranslator())
    (node,) = defs.resolve_job_def("all_steps").graph.node_dict.values()
    tags = dict(node.definition.tags)
    job, _ = K8sBackend(CONFIG, tags).build(_call(ResourceConfig.with_tpu("v5e-4")), "marin-a-1")
    assert _sent(job)["spec"]["template"]["spec"]["nodeSelector"] == {
        "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
        "cloud.google.com/gke-tpu-topology": "2x2",
        "cloud.google.com/gke-spot": "true",
    }
