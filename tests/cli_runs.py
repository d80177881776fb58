"""Helpers for tests that run ``dagster job execute`` and read back what the steps recorded."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
TIMEOUT_S = 300


def dagster_execute(
    env: dict[str, str],
    *,
    module: str = "pipelines.sleepy",
    attribute: str | None = None,
    run_config: dict[str, Any] | None = None,
    tmp_path: Path | None = None,
    cwd: Path = TESTS_DIR,
    expect_ok: bool = True,
    job: str = "all_steps",
) -> subprocess.CompletedProcess[str]:
    """Run ``dagster job execute -m MODULE -j JOB`` (``-c`` with ``run_config``, written
    under ``tmp_path``) and check its exit status."""
    command = [sys.executable, "-m", "dagster", "job", "execute", "-m", module, "-j", job]
    if attribute:
        command += ["-a", attribute]
    if run_config is not None:
        if tmp_path is None:
            raise ValueError("run_config needs tmp_path to write the config file in")
        config_file = tmp_path / f"run-config-{len(list(tmp_path.glob('run-config-*')))}.yaml"
        config_file.write_text(yaml.safe_dump(run_config))
        command += ["-c", str(config_file)]
    result = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S
    )
    output = result.stdout + result.stderr
    if expect_ok:
        assert result.returncode == 0, f"{command} failed:\n{output[-6000:]}"
    else:
        assert result.returncode != 0, f"{command} unexpectedly succeeded:\n{output[-3000:]}"
    return result


def step_records(directory: Path) -> dict[str, dict[str, Any]]:
    """What each sleepy step wrote about itself: label → {start, end, pid, ...}."""
    return {p.stem: json.loads(p.read_text()) for p in directory.glob("*.json")}


def overlapping(records: list[dict[str, Any]]) -> bool:
    """True when every interval overlaps every other (all ran at the same time)."""
    return max(r["start"] for r in records) < min(r["end"] for r in records)


def pairwise_disjoint(records: list[dict[str, Any]]) -> bool:
    ordered = sorted(records, key=lambda r: r["start"])
    return all(a["end"] <= b["start"] for a, b in itertools.pairwise(ordered))


def run_events(home: Path) -> list[dg.EventLogEntry]:
    """Every Dagster event (with its timestamp) of the single run recorded under ``home``."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        return [e for e in instance.all_logs(run.run_id) if e.dagster_event]


def run_events_of_last_run(home: Path) -> list[dg.EventLogEntry]:
    """Every Dagster event of the newest run recorded under ``home``."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_runs(limit=1)[0]
        return [e for e in instance.all_logs(run.run_id) if e.dagster_event]
