"""The Ray backend against a real local Ray cluster with fake GPUs and TPUs (no mocks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pipelines import ray_steps
from ray_cluster import require_ray

from marin_dagster.core.backend import Backend, BackendUnavailableError, Outcome, StepCall
from marin_dagster.core.resources import ResourceConfig
from marin_dagster.launch.backends.ray import RayBackend, RayBackendConfig, RayHandle, tpu_head


@pytest.fixture(scope="module")
def backend(ray_cluster: str) -> Iterator[RayBackend]:
    """One connected backend for the module; the test process disconnects afterwards."""
    ray_backend = RayBackend(RayBackendConfig(address=ray_cluster, placement_timeout_s=30))
    yield ray_backend
    ray_backend.close()


def _call(fn: Callable[[Any], Any], out: Path, resources: ResourceConfig, **kw: Any) -> StepCall:
    return StepCall(f"test/{fn.__name__}", fn, {"out": str(out), **kw}, resources, str(out))


def _wait(backend: RayBackend, handle: RayHandle, timeout: float = 30) -> Outcome:
    deadline = time.monotonic() + timeout
    while (outcome := backend.poll(handle)) is None:
        assert time.monotonic() < deadline, f"no outcome within {timeout} s"
        time.sleep(0.05)
    return outcome


def _seen(out: Path, name: str = "0-0") -> dict[str, Any]:
    return json.loads((out / f"{name}.json").read_text())


def test_tpu_head_names_follow_ray() -> None:
    assert tpu_head("v5e-16") == "TPU-v5litepod-16-head"
    assert [tpu_head(t) for t in ("v4-8", "v5p-64", "v6e-8")] == [
        "TPU-v4-8-head", "TPU-v5p-64-head", "TPU-v6e-8-head",
    ]  # fmt: skip


def test_config_requires_an_address() -> None:
    with pytest.raises(ValueError, match="address"):
        RayBackendConfig()  # type: ignore[call-arg]


def test_cpu_call_runs_on_ray(backend: RayBackend, tmp_path: Path) -> None:
    assert isinstance(backend, Backend)
    outcome = _wait(backend, backend.launch(_call(ray_steps.record, tmp_path, ResourceConfig())))
    assert outcome.ok, outcome.error
    seen = _seen(tmp_path)
    assert seen["assigned"] == {"CPU": 1.0}
    assert seen["pid"] != os.getpid()
    (task,) = outcome.details["tasks"]
    assert task["pid"] == seen["pid"] and task["assigned_resources"] == {"CPU": 1.0}
    assert outcome.details["backend"] == "ray"
    json.dumps(outcome.details)  # JSON-compatible


def test_gpu_call_gets_gpus_and_accelerator_type(backend: RayBackend, tmp_path: Path) -> None:
    resources = ResourceConfig.with_gpu("L4", count=2)
    outcome = _wait(backend, backend.launch(_call(ray_steps.record, tmp_path, resources)))
    assert outcome.ok, outcome.error
    seen = _seen(tmp_path)
    assert seen["assigned"]["GPU"] == 2.0 and "accelerator_type:L4" in seen["assigned"]
    assert sorted(seen["env"]["CUDA_VISIBLE_DEVICES"].split(",")) == ["0", "1"]
    assert outcome.details["tasks"][0]["env"]["CUDA_VISIBLE_DEVICES"]


def test_single_host_tpu_gets_tpu_and_head(backend: RayBackend, tmp_path: Path) -> None:
    outcome = _wait(
        backend, backend.launch(_call(ray_steps.record, tmp_path, ResourceConfig.with_tpu("v4-8")))
    )
    assert outcome.ok, outcome.error
    seen = _seen(tmp_path)
    assert seen["assigned"] == {"TPU": 4.0, "TPU-v4-8-head": 1.0, "CPU": 1.0}
    assert seen["env"]["MARIN_TPU_TYPE"] == "v4-8"
    assert seen["env"]["MARIN_TPU_HOSTS_PER_SLICE"] == "1"
    assert len(seen["env"]["TPU_VISIBLE_CHIPS"].split(",")) == 4


def test_multi_host_tpu_runs_one_task_per_host(backend: RayBackend, tmp_path: Path) -> None:
    resources = ResourceConfig.with_tpu("v5e-16")
    outcome = _wait(backend, backend.launch(_call(ray_steps.record, tmp_path, resources)), 60)
    assert outcome.ok, outcome.error
    seen = {host: _seen(tmp_path, f"0-{host}") for host in range(4)}
    assert len({s["pid"] for s in seen.values()}) == 4
    assert all(s["assigned"]["TPU"] == 4.0 for s in seen.values())
    assert [("TPU-v5litepod-16-head" in seen[h]["assigned"]) for h in range(4)] == [
        True, False, False, False,
    ]  # fmt: skip
    assert {s["env"]["MARIN_TPU_HOSTS_PER_SLICE"] for s in seen.values()} == {"4"}
    assert {s["env"]["MARIN_TPU_SLICE_COUNT"] for s in seen.values()} == {"1"}
    assert [t["host"] for t in outcome.details["tasks"]] == [0, 1, 2, 3]


def test_unplaceable_request_times_out(ray_cluster: str, tmp_path: Path) -> None:
    quick = RayBackend(RayBackendConfig(address=ray_cluster, placement_timeout_s=2))
    resources = ResourceConfig.with_tpu("v4-8", slice_count=2)  # two heads; the cluster has one
    started = time.monotonic()
    outcome = _wait(quick, quick.launch(_call(ray_steps.record, tmp_path, resources)), 20)
    assert not outcome.ok and outcome.error is not None
    assert "could not be placed" in outcome.error and "within 2 s" in outcome.error
    assert "TPU-v4-8-head" in outcome.error
    assert time.monotonic() - started < 15
    assert not list(tmp_path.glob("*.json"))


def test_can_serve_names_the_request_and_the_cluster(backend: RayBackend, ray_cluster: str) -> None:
    for fits in (ResourceConfig(), ResourceConfig.with_gpu("L4", count=2),
                 ResourceConfig.with_gpu("auto"), ResourceConfig.with_tpu("v5e-16"),
                 ResourceConfig.with_tpu("v4-8")):  # fmt: skip
        assert backend.can_serve(fits) is None, fits.summary()
    refusals = {
        "v6e-8": ResourceConfig.with_tpu("v6e-8"),
        "two slices": ResourceConfig.with_tpu("v4-8", slice_count=2),
        "3 GPUs": ResourceConfig.with_gpu("L4", count=3),
        "H100": ResourceConfig.with_gpu("H100"),
        "64 CPUs": ResourceConfig.with_cpu(cpu=64),
    }
    said = {name: backend.can_serve(r) for name, r in refusals.items()}
    assert all(s is not None and ray_cluster in s for s in said.values()), said
    assert said["v6e-8"] == (
        "tpu v6e-8 x1 (1 host, 8 chips) needs resources TPU (8 per host x 1 hosts) and "
        f"TPU-v6e-8-head (one per slice); the Ray cluster at {ray_cluster} has none"
    )
    assert "room for 4 hosts and 1 TPU-v4-8-head" in str(said["two slices"])
    assert "3 GPUs on one node" in str(said["3 GPUs"]) and "at most 2" in str(said["3 GPUs"])
    assert "accelerator_type:H100" in str(said["H100"])
    assert "64 CPUs" in str(said["64 CPUs"])


def test_can_serve_does_not_connect_this_process(ray_cluster: str) -> None:
    import ray

    ray.shutdown()  # as in a supervising process that will fork step workers
    fresh = RayBackend(RayBackendConfig(address=ray_cluster))
    assert fresh.can_serve(ResourceConfig.with_tpu("v5e-16")) is None
    assert "v6e-8" in str(fresh.can_serve(ResourceConfig.with_tpu("v6e-8")))
    assert not ray.is_initialized()


def test_unreachable_cluster_is_a_clear_refusal() -> None:
    require_ray()
    backend = RayBackend(RayBackendConfig(address="127.0.0.1:1", connect_timeout_s=20))
    said = backend.can_serve(ResourceConfig())
    assert said is not None and "127.0.0.1:1" in said


def test_terminate_stops_a_running_call(backend: RayBackend, tmp_path: Path) -> None:
    call = _call(ray_steps.sleep_then_write, tmp_path, ResourceConfig(), seconds=3)
    handle = backend.launch(call)
    deadline = time.monotonic() + 20
    while not (tmp_path / "started").exists():
        assert time.monotonic() < deadline and backend.poll(handle) is None
        time.sleep(0.05)
    backend.terminate(handle)
    backend.terminate(handle)  # idempotent
    outcome = backend.poll(handle)
    assert outcome is not None and not outcome.ok and "terminated" in str(outcome.error)
    time.sleep(4)  # past the sleep: the function would have written "finished"
    assert not (tmp_path / "finished").exists()


def test_exception_comes_back_with_its_traceback(backend: RayBackend, tmp_path: Path) -> None:
    outcome = _wait(backend, backend.launch(_call(ray_steps.fail, tmp_path, ResourceConfig())))
    assert not outcome.ok and outcome.error is not None
    assert "ValueError: boom from a step function" in outcome.error
    assert "in _inner_failure" in outcome.error and "ray_steps.py" in outcome.error
    assert "\x1b[" not in outcome.error


def test_killed_worker_is_reported_with_its_death(backend: RayBackend, tmp_path: Path) -> None:
    outcome = _wait(backend, backend.launch(_call(ray_steps.crash, tmp_path, ResourceConfig())))
    assert not outcome.ok and outcome.error is not None
    assert "test/crash failed on Ray" in outcome.error
    assert "worker" in outcome.error.lower() and "died" in outcome.error.lower()


def test_twenty_noop_calls_and_connect_cost(ray_cluster: str, tmp_path: Path) -> None:
    """Measure (printed with -s): connect in a fresh process, and 20 no-op CPU calls."""
    code = (
        "import sys, time; from marin_dagster.launch.backends.ray import RayBackend, "
        "RayBackendConfig; from marin_dagster.core.backend import StepCall; "
        "from marin_dagster.core.resources import ResourceConfig; from pipelines import ray_steps\n"
        "t0 = time.perf_counter(); b = RayBackend(RayBackendConfig(address=sys.argv[1]))\n"
        "b._connect(); t1 = time.perf_counter()\n"
        "for i in range(20):\n"
        "    h = b.launch(StepCall('noop', ray_steps.noop, None, ResourceConfig(), ''))\n"
        "    while (o := b.poll(h)) is None: time.sleep(0.001)\n"
        "    assert o.ok, o.error\n"
        "print(f'connect {t1 - t0:.2f} s, 20 no-op calls {time.perf_counter() - t1:.2f} s')\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", code, ray_cluster], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    print(done.stdout.strip())
    assert "20 no-op calls" in done.stdout


def test_launch_without_a_cluster_raises(tmp_path: Path) -> None:
    require_ray()
    import ray

    if ray.is_initialized():
        ray.shutdown()
    backend = RayBackend(RayBackendConfig(address="127.0.0.1:1"))
    with pytest.raises(BackendUnavailableError, match=r"127\.0\.0\.1:1"):
        backend.launch(_call(ray_steps.noop, tmp_path, ResourceConfig()))


def _in_forked_child(body: Callable[[], str], timeout: float = 30) -> str:
    """Run ``body`` in a child forked from this process (as the executor forks step workers)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running this process's atexit hooks
        try:
            message = body()
        except BaseException as exc:
            message = f"{type(exc).__name__}: {exc}"
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    deadline = time.monotonic() + timeout
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail(f"forked child did not finish within {timeout} s")
        time.sleep(0.05)
    with os.fdopen(read) as pipe:
        return pipe.read()


_SUPERVISOR = """
import os, sys, time
from marin_dagster.core.backend import StepCall
from marin_dagster.core.resources import ResourceConfig
from marin_dagster.launch.backends.ray import RayBackend, RayBackendConfig
from pipelines import ray_steps

backend = RayBackend(RayBackendConfig(address=sys.argv[1]))
assert backend.can_serve(ResourceConfig()) is None
assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()
if (pid := os.fork()) == 0:  # the step worker
    call = StepCall("fork/record", ray_steps.record, {"out": sys.argv[2]}, ResourceConfig(), "")
    handle = backend.launch(call)
    while (outcome := backend.poll(handle)) is None:
        time.sleep(0.01)
    os._exit(0 if outcome.ok else 3)
print("worker exit status", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


def test_forked_worker_connects_after_can_serve(ray_cluster: str, tmp_path: Path) -> None:
    """A supervisor that only asked ``can_serve`` stays unconnected; its forked worker runs."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    argv = [sys.executable, "-c", _SUPERVISOR, ray_cluster, str(tmp_path)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "worker exit status 0", done.stderr[-2000:]
    assert _seen(tmp_path)["assigned"] == {"CPU": 1.0}


def test_forked_after_connecting_is_refused(backend: RayBackend, tmp_path: Path) -> None:
    backend.launch(_call(ray_steps.noop, tmp_path, ResourceConfig()))  # connects this process

    def step_worker() -> str:  # fails on a Python-level check, before touching Ray
        backend.launch(_call(ray_steps.noop, tmp_path, ResourceConfig()))
        return "launched"

    assert _in_forked_child(step_worker) == (
        "BackendUnavailableError: forked from a process connected to Ray"
    )
