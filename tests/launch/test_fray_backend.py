"""The Fray backend against Fray's own LocalClient (no mocks): calls, errors, settings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from engines import require

from marin_dagster.core.backend import Backend, Outcome, StepCall
from marin_dagster.core.resources import ResourceConfig
from marin_dagster.launch.backends import make_backend
from marin_dagster.launch.backends.fray import (
    FrayBackend,
    FrayBackendConfig,
    FrayHandle,
    fray_resources,
)
from marin_dagster.launch.settings import BackendSpec, ExecutorSettings


@pytest.fixture(autouse=True)
def _fray() -> None:
    require("fray", "fray")


def write_marker(config: dict[str, Any]) -> None:
    Path(config["out"]).write_text("ran")


def fail_loudly(config: dict[str, Any]) -> None:
    raise ValueError(f"shard {config['shard']} is corrupt")


def _wait(backend: FrayBackend, handle: FrayHandle, timeout: float = 30) -> Outcome:
    deadline = time.monotonic() + timeout
    while (outcome := backend.poll(handle)) is None:
        assert time.monotonic() < deadline, f"no outcome within {timeout} s"
        time.sleep(0.02)
    return outcome


def test_resources_become_frays_own() -> None:
    import fray

    tpu = fray_resources(ResourceConfig.with_tpu("v5e-16"))
    assert isinstance(tpu.device, fray.TpuConfig) and tpu.device.variant == "v5litepod-16"
    assert tpu.replicas == 4 == tpu.device.vm_count()  # one replica per host: gang-scheduled
    assert tpu.device.chip_count() == 4 and (tpu.cpu, tpu.ram) == (56.0, "96g")
    gpu = fray_resources(ResourceConfig.with_gpu("H100", count=8, regions=("us-central1",)))
    assert gpu.device == fray.GpuConfig(variant="H100", count=8)
    assert list(gpu.regions or []) == ["us-central1"]
    cpu = fray_resources(ResourceConfig.with_cpu(cpu=4, ram="16g", preemptible=False))
    assert isinstance(cpu.device, fray.CpuConfig)
    assert (cpu.cpu, cpu.ram, cpu.disk, cpu.preemptible) == (4, "16g", "16g", False)


def test_a_call_runs_as_a_local_fray_job(tmp_path: Path) -> None:
    backend = make_backend(BackendSpec.model_validate({"fray": {}}))
    assert isinstance(backend, FrayBackend) and isinstance(backend, Backend)
    out = tmp_path / "marker"
    call = StepCall("demo/write", write_marker, {"out": str(out)}, ResourceConfig(), str(tmp_path))
    handle = backend.launch(call)
    outcome = _wait(backend, handle)
    assert outcome.ok, outcome.error
    assert out.read_text() == "ran"
    assert outcome.details["backend"] == "fray" and outcome.details["client"] == "local"
    assert outcome.details["job_id"].startswith("local-marin-demo-write-")
    assert outcome.details["status"] == "succeeded"


def test_a_failed_fray_job_carries_frays_error(tmp_path: Path) -> None:
    backend = FrayBackend()
    call = StepCall("demo/bad", fail_loudly, {"shard": 7}, ResourceConfig(), str(tmp_path))
    outcome = _wait(backend, backend.launch(call))
    assert not outcome.ok
    assert outcome.error is not None
    assert "demo/bad: Fray job local-marin-demo-bad-" in outcome.error
    assert "failed" in outcome.error and "ValueError: shard 7 is corrupt" in outcome.error


def test_terminate_stops_the_job_and_fails_the_call(tmp_path: Path) -> None:
    backend = FrayBackend(FrayBackendConfig(max_threads=1))
    blocker = StepCall("demo/sleep", time.sleep, 1.0, ResourceConfig(), str(tmp_path))
    queued = StepCall(
        "demo/queued", write_marker, {"out": str(tmp_path / "m")}, ResourceConfig(), ""
    )
    backend.launch(blocker)
    handle = backend.launch(queued)  # waits for the only thread: terminate cancels it
    backend.terminate(handle)
    outcome = _wait(backend, handle)
    assert not outcome.ok and outcome.error == "demo/queued: terminated"
    assert outcome.details["status"] == "stopped"
    time.sleep(1.2)
    assert not (tmp_path / "m").exists()


def test_settings_accept_fray_and_refuse_bad_input() -> None:
    settings = ExecutorSettings.model_validate(
        {"backends": {"tpu": {"fray": {"client": "iris", "controller_address": "http://c:1"}}}}
    )
    spec = settings.backend_for("tpu")
    assert spec.kind == "fray" and spec.describe() == "fray (iris client)"
    with pytest.raises(ValueError, match="controller_address"):
        BackendSpec.model_validate({"fray": {"client": "iris"}})
    with pytest.raises(ValueError, match="exactly one of"):
        BackendSpec.model_validate({"fray": {}, "local": {}})


def test_can_serve_checks_the_tpu_type_with_fray() -> None:
    backend = FrayBackend()
    assert backend.can_serve(ResourceConfig.with_tpu("v6e-8")) is None
    assert backend.can_serve(ResourceConfig.with_gpu("L4")) is None
