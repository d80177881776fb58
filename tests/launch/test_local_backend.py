"""The local backend and run_step's supervision: failures, deaths and lost leases.

Each step function here runs in a process forked by the local backend, so it can write
markers to disk (the test reads them) and can be killed.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from marin_dagster import StepContext, step
from marin_dagster.core.backend import InlineBackend, StepCall
from marin_dagster.core.graph import StepGraph
from marin_dagster.core.lease import LeaseLostError, StepLease
from marin_dagster.core.resources import ResourceConfig
from marin_dagster.core.runner import (
    RunOptions,
    StepFunctionError,
    record_dead_holder,
    run_step,
)
from marin_dagster.core.status import LOCK_FILE, StepStatus, read_status, write_status
from marin_dagster.launch.backends.local import LocalBackend, LocalBackendConfig

BOUND_S = 20.0


@dataclass(frozen=True)
class MarkerConfig:
    marker_dir: str
    action: str
    seconds: float
    output_path: Any


def act(config: MarkerConfig) -> None:
    """Record the start, do ``action``, record the end."""
    marker = Path(config.marker_dir)
    # Written whole, then renamed: a reader polling for the file never sees it empty.
    (marker / "started.tmp").write_text(str(os.getpid()))
    os.replace(marker / "started.tmp", marker / "started")
    if config.action == "raise":
        raise ValueError("bad tokenizer vocabulary")
    if config.action == "kill-self":
        os.kill(os.getpid(), signal.SIGKILL)
    if config.action == "hold-gil":  # one C call that never releases the GIL: ~0.5 s x 2**n
        re.match(r"(a+)+b", "a" * (24 + max(0, round(math.log2(config.seconds / 0.5)))))
    else:
        time.sleep(config.seconds)
    (marker / "finished").write_text("done")


@step(name="test/marker-{action}", fn=act)
def marker_step(ctx: StepContext, action: str, marker_dir: str, seconds: float) -> MarkerConfig:
    return MarkerConfig(marker_dir, action, seconds, ctx.output)


def _setup(tmp_path: Path, action: str, seconds: float = 0.0) -> tuple[Any, StepGraph, Path]:
    markers = tmp_path / "markers"
    markers.mkdir()
    s = marker_step(action=action, marker_dir=str(markers), seconds=seconds)
    return s, StepGraph([s], prefix=str(tmp_path / "out")), markers


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + BOUND_S
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def test_local_backend_runs_fn_in_another_process(tmp_path: Path) -> None:
    s, graph, markers = _setup(tmp_path, "sleep")
    result = run_step(s, graph, backend=LocalBackend())
    assert not result.cache_hit
    worker_pid = int((markers / "started").read_text())
    assert worker_pid != os.getpid()
    assert result.ran_on["backend"] == "local" and result.ran_on["pid"] == worker_pid
    assert read_status(graph.output_path(s)) is StepStatus.SUCCESS


def test_fn_error_records_failed_with_the_traceback(tmp_path: Path) -> None:
    s, graph, _ = _setup(tmp_path, "raise")
    with pytest.raises(StepFunctionError) as info:
        run_step(s, graph, backend=LocalBackend())
    message = str(info.value)
    assert "test/marker-raise" in message and "backend 'local'" in message
    assert "ValueError: bad tokenizer vocabulary" in message and "Traceback" in message
    assert read_status(graph.output_path(s)) is StepStatus.FAILED
    assert StepLease(graph.output_path(s)).read() is None  # lock released


def test_worker_death_is_reported_with_its_signal(tmp_path: Path) -> None:
    s, graph, _ = _setup(tmp_path, "kill-self")
    with pytest.raises(StepFunctionError, match="killed by SIGKILL"):
        run_step(s, graph, backend=LocalBackend())
    assert read_status(graph.output_path(s)) is StepStatus.FAILED


def _run_in_thread(s: Any, graph: StepGraph, options: RunOptions) -> dict[str, Any]:
    import threading

    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = run_step(s, graph, options, LocalBackend(LocalBackendConfig()))
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    box["thread"] = thread
    return box


@pytest.mark.parametrize("how", ["deleted", "taken-over"])
def test_lost_lease_stops_fn_and_records_nothing(tmp_path: Path, how: str) -> None:
    s, graph, markers = _setup(tmp_path, "sleep", seconds=30.0)
    path = graph.output_path(s)
    options = RunOptions(heartbeat_interval=0.05, lease_timeout=5.0)
    box = _run_in_thread(s, graph, options)
    _wait_for(markers / "started")
    worker_pid = int((markers / "started").read_text())
    if how == "deleted":
        os.unlink(Path(path) / LOCK_FILE)
    else:  # another worker takes the lease and finishes the step first
        (Path(path) / LOCK_FILE).write_text(json.dumps({"worker_id": "other", "timestamp": 9e9}))
        write_status(path, StepStatus.SUCCESS)
    box["thread"].join(BOUND_S)
    assert not box["thread"].is_alive()
    assert isinstance(box.get("error"), LeaseLostError), box
    assert "nothing was recorded" in str(box["error"]) or "not recorded" in str(box["error"])
    assert not (markers / "finished").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(worker_pid, 0)  # the worker was stopped, not left running
    expected = StepStatus.RUNNING if how == "deleted" else StepStatus.SUCCESS
    assert read_status(path) is expected  # neither SUCCESS nor FAILED written by the loser


def test_lost_lease_detected_at_the_final_write(tmp_path: Path) -> None:
    """A lease lost between heartbeats is caught by the refresh before the status write."""
    s, graph, markers = _setup(tmp_path, "sleep", seconds=0.3)
    path = graph.output_path(s)
    options = RunOptions(heartbeat_interval=60.0, lease_timeout=120.0)  # no heartbeat in time
    box = _run_in_thread(s, graph, options)
    _wait_for(markers / "started")
    os.unlink(Path(path) / LOCK_FILE)
    box["thread"].join(BOUND_S)
    assert isinstance(box.get("error"), LeaseLostError), box
    assert (markers / "finished").exists()  # fn finished, but its success is not recorded
    assert read_status(path) is StepStatus.RUNNING


def test_gil_holding_fn_does_not_starve_the_heartbeat(tmp_path: Path) -> None:
    """Lease ages seen by another process stay under the timeout while fn holds the GIL."""
    s, graph, _ = _setup(tmp_path, "hold-gil", seconds=2.0)
    lock = Path(graph.output_path(s)) / LOCK_FILE
    watcher = subprocess.Popen(
        [sys.executable, "-c", _WATCHER, str(lock), "4.0"], stdout=subprocess.PIPE, text=True
    )
    options = RunOptions(heartbeat_interval=0.1, lease_timeout=1.0)
    run_step(s, graph, options, LocalBackend())
    out, _ = watcher.communicate(timeout=BOUND_S)
    ages = json.loads(out)
    assert len(ages) > 10, "the watcher saw the lease"
    assert max(ages) < 1.0, f"the lease went stale while fn held the GIL: {max(ages):.2f}s"


_WATCHER = """
import json, sys, time
path, seconds = sys.argv[1], float(sys.argv[2])
ages, end = [], time.monotonic() + seconds
while time.monotonic() < end:
    try:
        ages.append(time.time() - json.load(open(path))["timestamp"])
    except (OSError, ValueError):
        pass
    time.sleep(0.02)
print(json.dumps(ages))
"""


def test_terminate_kills_the_worker_and_its_children(tmp_path: Path) -> None:
    child_pid_file = tmp_path / "child.pid"

    def spawn_and_wait(_: object) -> None:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        child_pid_file.write_text(str(child.pid))
        time.sleep(60)

    backend = LocalBackend(LocalBackendConfig(terminate_grace_s=1.0))
    call = StepCall("test/spawn", spawn_and_wait, None, ResourceConfig(), str(tmp_path))
    handle = backend.launch(call)
    _wait_for(child_pid_file)
    backend.terminate(handle)
    outcome = backend.poll(handle)
    assert outcome is not None and not outcome.ok and "SIGTERM" in (outcome.error or "")
    child_pid = int(child_pid_file.read_text())
    deadline = time.monotonic() + BOUND_S
    while _alive(child_pid):
        assert time.monotonic() < deadline, "the fn's own subprocess survived terminate"
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def test_inline_backend_reraises_the_original_exception(tmp_path: Path) -> None:
    s, graph, _ = _setup(tmp_path, "raise")
    with pytest.raises(ValueError, match="bad tokenizer"):
        run_step(s, graph, backend=InlineBackend())
    assert read_status(graph.output_path(s)) is StepStatus.FAILED


def test_record_dead_holder_only_acts_for_that_process(tmp_path: Path) -> None:
    path = str(tmp_path / "step-abc123")
    lease = StepLease(path, worker_id=f"{os.uname().nodename}-4242-1")
    assert lease.try_acquire()
    write_status(path, StepStatus.RUNNING)
    assert not record_dead_holder(path, 4243)
    assert read_status(path) is StepStatus.RUNNING
    assert record_dead_holder(path, 4242)
    assert read_status(path) is StepStatus.FAILED
    assert lease.read() is None


def test_force_rerun_runs_a_succeeded_step_again(tmp_path: Path) -> None:
    s, graph, markers = _setup(tmp_path, "sleep")
    run_step(s, graph, backend=LocalBackend())
    (markers / "started").unlink()
    assert run_step(s, graph, backend=LocalBackend()).cache_hit
    assert not (markers / "started").exists()
    result = run_step(s, graph, RunOptions(force_rerun=True), LocalBackend())
    assert not result.cache_hit and (markers / "started").exists()
    assert read_status(graph.output_path(s)) is StepStatus.SUCCESS
