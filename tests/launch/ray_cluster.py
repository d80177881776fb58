"""A real local Ray cluster for tests, with fake accelerators: the ``ray_cluster`` fixture.

``ray start --head --block`` runs in its own session on free loopback ports; every process of
that session (GCS, raylet, workers) is killed at teardown, so nothing outlives the test session
and no other cluster on the machine is touched (``ray stop`` would stop them all). Workers get
``PYTHONPATH`` with the repository root and ``tests/``, so test modules pickle by reference. A
watchdog process kills the cluster if the test process dies without its teardown.

Use it from a test under ``tests/launch/`` (``conftest.py`` there registers it)::

    def test_something(ray_cluster: str) -> None:
        backend = RayBackend(RayBackendConfig(address=ray_cluster))
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from engines import engine_missing

TESTS_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS_DIR.parent

FAKE_RESOURCES = {
    "TPU": 16,
    "TPU-v5litepod-16-head": 1,
    "TPU-v4-8-head": 1,
    "accelerator_type:L4": 2,
}
"""Custom resources of the one fake node: 16 TPU chips (a v5e-16 = 4 hosts x 4, or a v4-8),
two L4 GPUs (with ``--num-gpus=2``), 4 CPUs."""
NUM_CPUS, NUM_GPUS = 4, 2
START_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _kill_session(sid: int) -> None:
    """SIGKILL every process whose session id is ``sid`` (the head and all it started)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            # /proc/PID/stat: "pid (comm) state ppid pgrp session ..."; comm may hold spaces.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:
                os.kill(int(entry.name), signal.SIGKILL)


_WATCHDOG = """
import os, shutil, sys, time
sys.path.insert(0, sys.argv[3])
from ray_cluster import _kill_session
while True:
    try:
        os.kill(int(sys.argv[1]), 0)
    except ProcessLookupError:
        break
    time.sleep(1)
_kill_session(int(sys.argv[2]))
shutil.rmtree(sys.argv[4], ignore_errors=True)
"""
"""Kills the cluster if the test process dies without its teardown (SIGKILL, a timeout)."""


def require_ray() -> None:
    """Skip (fail on CI) when ray is not installed."""
    if importlib.util.find_spec("ray") is None:
        engine_missing("ray is not installed: pip install -e '.[dev]'")


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """Start a one-node Ray cluster on loopback; yield its address (``127.0.0.1:PORT``)."""
    require_ray()
    port = _free_port()
    temp_dir = tempfile.mkdtemp(prefix="rayt")  # short: Ray's socket paths have a length limit
    env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    paths = [str(REPO_ROOT), str(TESTS_DIR), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    argv = [
        sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
        f"--port={port}", "--node-ip-address=127.0.0.1", f"--num-cpus={NUM_CPUS}",
        f"--num-gpus={NUM_GPUS}", f"--resources={json.dumps(FAKE_RESOURCES)}",
        "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp_dir}",
        f"--ray-client-server-port={_free_port()}", f"--dashboard-port={_free_port()}",
        f"--dashboard-agent-listen-port={_free_port()}", f"--metrics-export-port={_free_port()}",
    ]  # fmt: skip
    log = Path(temp_dir) / "ray-start.log"
    with log.open("w") as out:
        head = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    watchdog = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _WATCHDOG,
            str(os.getpid()),
            str(head.pid),
            str(Path(__file__).parent),
            temp_dir,
        ],
        start_new_session=True,
    )
    saved_auth = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # the test process connects as a driver
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Ray runtime started" not in log.read_text():
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ImportError):
            import ray

            ray.shutdown()
        watchdog.kill()
        _kill_session(head.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(timeout=10)
        if saved_auth is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = saved_auth
        shutil.rmtree(temp_dir, ignore_errors=True)
        watchdog.wait(timeout=10)
