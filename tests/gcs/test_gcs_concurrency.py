"""Processes racing for one step's lease on gs:// (fake-gcs-server): exactly one runs the step,
the others see SUCCESS; a holder that dies mid-step is taken over once its lease is stale."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from gcs_faults import FaultProxy

from marin_dagster.core.lease import StepLease, step_lock
from marin_dagster.core.lease_record import Lease
from marin_dagster.core.status import LOCK_FILE, StepStatus, read_bytes, read_status, resolve
from marin_dagster.core.status import write_status as write_step_status

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("race_worker.py")
PROCESSES = 8
TIMEOUT_S = 240


def _env(gcs_env: dict[str, str], emulator_url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, **gcs_env, "STORAGE_EMULATOR_HOST": emulator_url, **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env["RACE_WORKERS"] = str(PROCESSES)
    return env


def race(prefix: str, rounds: int, env: dict[str, str], tmp_path: Path) -> tuple[list, list]:
    """Run ``PROCESSES`` workers over ``rounds`` steps; return (outcomes, call-log lines)."""
    sync, log = tmp_path / "sync", tmp_path / "calls.log"
    sync.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), prefix, str(rounds), f"w{i}", str(sync), str(log)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    outcomes, errors = [], []
    for proc in procs:
        out, err = proc.communicate(timeout=TIMEOUT_S)
        if proc.returncode != 0:
            errors.append(err[-2000:])
        outcomes.extend(json.loads(line) for line in out.splitlines() if line.startswith("{"))
    assert not errors, "\n\n".join(errors)
    calls = log.read_text().splitlines() if log.exists() else []
    return outcomes, calls


def assert_each_step_ran_once(prefix: str, rounds: int, outcomes: list, calls: list) -> None:
    assert len(outcomes) == rounds * PROCESSES
    for round_no in range(rounds):
        mine = Counter(o["outcome"] for o in outcomes if o["round"] == round_no)
        assert mine == {"ran": 1, "skipped": PROCESSES - 1}, (round_no, mine)
        step = f"{prefix}/race/step-{round_no:03d}"
        assert read_status(step) is StepStatus.SUCCESS
        fs, path = resolve(step)
        assert read_bytes(fs, f"{path}/{LOCK_FILE}") is None  # released
    assert sorted(int(line.split()[0]) for line in calls) == list(range(rounds))


def test_eight_processes_exactly_one_runs_each_step(
    gs_prefix: str, gcs_env: dict[str, str], tmp_path: Path
) -> None:
    rounds = 3
    env = _env(gcs_env, gcs_env["STORAGE_EMULATOR_HOST"])
    outcomes, calls = race(gs_prefix, rounds, env, tmp_path)
    assert_each_step_ran_once(gs_prefix, rounds, outcomes, calls)


def test_eight_processes_with_slow_uploads(
    gs_prefix: str, gcs_env: dict[str, str], tmp_path: Path
) -> None:
    """The issue's reproduction: every request 0.2-0.4 s slow. Write-sleep-read-back let two
    of eight workers run a step in half the rounds; generation preconditions let one."""
    rounds = 2
    with FaultProxy(
        gcs_env["STORAGE_EMULATOR_HOST"], delay_rate=1.0, delay_s=(0.2, 0.4), seed=3
    ) as proxy:
        outcomes, calls = race(gs_prefix, rounds, _env(gcs_env, proxy.url), tmp_path)
        assert proxy.delayed == proxy.requests > 0
    assert_each_step_ran_once(gs_prefix, rounds, outcomes, calls)


def test_a_crashed_holder_is_taken_over_once_stale(
    gs_prefix: str, gcs_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "calls.log"
    env = _env(gcs_env, gcs_env["STORAGE_EMULATOR_HOST"], RACE_TIMEOUT_S="3")
    crashed = subprocess.run(
        [sys.executable, str(WORKER), gs_prefix, "1", "doomed", str(tmp_path), str(log), "--crash"],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert crashed.returncode == 17, crashed.stderr[-3000:]
    step = f"{gs_prefix}/race/step-000"
    assert read_status(step) is StepStatus.RUNNING
    left = StepLease(step, timeout=1.0).read()
    assert isinstance(left, Lease)
    assert left.timeout == 3.0  # recorded by the dead holder

    # The survivor is configured with a shorter timeout (1 s): it still waits the holder's 3 s.
    with step_lock(
        step, "race/step-0", heartbeat_interval=0.3, timeout=1.0, poll_interval=0.2, max_wait=30
    ) as lease:
        took_over_at = time.time()
        with open(log, "a", encoding="utf-8") as f:
            f.write("0 survivor\n")
        lease.refresh()
        write_step_status(lease.fs_path, StepStatus.SUCCESS)
    assert took_over_at > left.timestamp + 3.0
    assert log.read_text().splitlines() == ["0 doomed", "0 survivor"]
    assert read_status(step) is StepStatus.SUCCESS
    assert StepLease(step, timeout=1.0).read() is None
