"""Helpers to race worker processes (``race_worker.py``) for steps' leases on gs://."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from marin_dagster.core.status import LOCK_FILE, StepStatus, read_bytes, read_status, resolve

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("race_worker.py")
PROCESSES = 8
TIMEOUT_S = 240


def worker_env(gcs_env: dict[str, str], emulator_url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, **gcs_env, "STORAGE_EMULATOR_HOST": emulator_url, **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env["RACE_WORKERS"] = str(PROCESSES)
    return env


def race(
    prefix: str, rounds: int, env: dict[str, str], tmp_path: Path
) -> tuple[list[Any], list[str]]:
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
    outcomes: list[Any] = []
    errors: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=TIMEOUT_S)
        if proc.returncode != 0:
            errors.append(err[-2000:])
        outcomes.extend(json.loads(line) for line in out.splitlines() if line.startswith("{"))
    assert not errors, "\n\n".join(errors)
    calls = log.read_text().splitlines() if log.exists() else []
    return outcomes, calls


def assert_each_step_ran_once(
    prefix: str, rounds: int, outcomes: list[Any], calls: list[str]
) -> None:
    assert len(outcomes) == rounds * PROCESSES
    for round_no in range(rounds):
        mine = Counter(o["outcome"] for o in outcomes if o["round"] == round_no)
        assert mine == {"ran": 1, "skipped": PROCESSES - 1}, (round_no, mine)
        step = f"{prefix}/race/step-{round_no:03d}"
        assert read_status(step) is StepStatus.SUCCESS
        fs, path = resolve(step)
        assert read_bytes(fs, f"{path}/{LOCK_FILE}") is None  # released
    assert sorted(int(line.split()[0]) for line in calls) == list(range(rounds))
