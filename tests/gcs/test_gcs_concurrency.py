"""Processes racing for one step's lease on gs:// (fake-gcs-server): exactly one runs the step,
the others see SUCCESS; a holder that dies mid-step is taken over once its lease is stale."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from gcs_faults import FaultProxy
from gcs_race import TIMEOUT_S, WORKER, assert_each_step_ran_once, race, worker_env

from marin_dagster.core.lease import StepLease, step_lock
from marin_dagster.core.lease_record import Lease
from marin_dagster.core.status import StepStatus, read_status
from marin_dagster.core.status import write_status as write_step_status


def test_eight_processes_exactly_one_runs_each_step(
    gs_prefix: str, gcs_env: dict[str, str], tmp_path: Path
) -> None:
    rounds = 3
    env = worker_env(gcs_env, gcs_env["STORAGE_EMULATOR_HOST"])
    outcomes, calls = race(gs_prefix, rounds, env, tmp_path)
    assert_each_step_ran_once(gs_prefix, rounds, outcomes, calls)


def test_eight_processes_with_slow_uploads(
    gs_prefix: str, gcs_env: dict[str, str], tmp_path: Path
) -> None:
    """The issue's reproduction: uploads 0.2-0.5 s slow, reads fast. With write, sleep 0.1 s,
    read back, a late write lands after an earlier winner's read-back and both run the step;
    with generation preconditions the late write is refused."""
    rounds = 3
    with FaultProxy(
        gcs_env["STORAGE_EMULATOR_HOST"],
        delay_rate=1.0,
        delay_s=(0.2, 0.5),
        delay_methods=frozenset({"POST", "PUT", "PATCH"}),
        seed=3,
    ) as proxy:
        outcomes, calls = race(gs_prefix, rounds, worker_env(gcs_env, proxy.url), tmp_path)
        assert proxy.delayed > 0
    assert_each_step_ran_once(gs_prefix, rounds, outcomes, calls)


def test_a_crashed_holder_is_taken_over_once_stale(
    gs_prefix: str, gcs_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "calls.log"
    env = worker_env(gcs_env, gcs_env["STORAGE_EMULATOR_HOST"], RACE_TIMEOUT_S="3")
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
