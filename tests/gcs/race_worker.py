"""One worker process racing for steps' leases on gs:// (run by test_gcs_concurrency.py).

Usage: ``python race_worker.py PREFIX ROUNDS WORKER SYNC_DIR CALL_LOG [--crash]``

For each round it waits (bounded) until every worker is ready, then runs the round's step the
way the runner does: ``step_lock``, the "function" (one line appended to ``CALL_LOG``), a final
``refresh`` and ``SUCCESS``. With ``--crash`` it dies (``os._exit``) inside the step instead.
It prints one JSON line per round: ``{"round", "worker", "outcome"}``, the outcome being
``ran``, ``skipped`` (another worker's SUCCESS seen) or ``ran-then-lost-lease``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from marin_dagster.core.lease import LeaseLostError, StepAlreadyDone, step_lock
from marin_dagster.core.status import StepStatus, read_status, write_status

WORKERS = int(os.environ.get("RACE_WORKERS", "8"))
HEARTBEAT_S = float(os.environ.get("RACE_HEARTBEAT_S", "0.5"))
# The lease timeout must exceed the slowest refresh: with injected 503s a refresh may spend
# several seconds in the client's retry back-off (google-cloud-storage: up to 2 s, then 4 s).
TIMEOUT_S = float(os.environ.get("RACE_TIMEOUT_S", "20"))
STEP_S = float(os.environ.get("RACE_STEP_S", "0.3"))


def wait_for_all(sync_dir: Path, round_no: int, worker: str) -> None:
    (sync_dir / f"ready-{round_no}-{worker}").touch()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # bounded
        if len(list(sync_dir.glob(f"ready-{round_no}-*"))) >= WORKERS:
            return
        time.sleep(0.01)
    raise TimeoutError(f"round {round_no}: not every worker became ready")


def run_round(prefix: str, round_no: int, worker: str, call_log: Path, crash: bool) -> str:
    path = f"{prefix}/race/step-{round_no:03d}"
    try:
        with step_lock(
            path,
            f"race/step-{round_no}",
            heartbeat_interval=HEARTBEAT_S,
            timeout=TIMEOUT_S,
            poll_interval=0.2,
            max_wait=120,
        ) as lease:
            with open(call_log, "a", encoding="utf-8") as log:  # O_APPEND: one line per call
                log.write(f"{round_no} {worker}\n")
            if crash:
                os._exit(17)  # dies holding the lease, as a preempted machine would
            time.sleep(STEP_S)
            lease.refresh()  # the runner refreshes right before the final write
            write_status(lease.fs_path, StepStatus.SUCCESS)
        return "ran"
    except LeaseLostError:  # ran the function, then found another holder: a double run
        return "ran-then-lost-lease"
    except StepAlreadyDone:
        status = read_status(path)
        return "skipped" if status is StepStatus.SUCCESS else f"skipped-but-{status}"


def main() -> None:
    prefix, rounds, worker, sync_dir, call_log = sys.argv[1:6]
    crash = "--crash" in sys.argv[6:]
    for round_no in range(int(rounds)):
        if not crash:
            wait_for_all(Path(sync_dir), round_no, worker)
        outcome = run_round(prefix, round_no, worker, Path(call_log), crash)
        print(json.dumps({"round": round_no, "worker": worker, "outcome": outcome}), flush=True)


if __name__ == "__main__":
    main()
