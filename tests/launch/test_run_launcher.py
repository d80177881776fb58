"""``MarinRunLauncher`` routes whole runs by their steps' devices to real Dagster launchers.

``dagster job launch`` goes through the instance's run launcher: a run with a TPU step goes to
the ``tpu`` launcher (here Dagster's synchronous in-process launcher), a CPU-only run to
``default`` (Dagster's ``DefaultRunLauncher``, a run worker subprocess).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import yaml

from marin_dagster import MarinRunLauncher

TESTS_DIR = Path(__file__).resolve().parents[1]

LAUNCHERS = {
    "default": {"module": "dagster.core.launcher", "class": "DefaultRunLauncher"},
    "tpu": {
        "module": "dagster._core.launcher.sync_in_memory_run_launcher",
        "class": "SyncInMemoryRunLauncher",
    },
}


def _launch(module: str, env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "dagster", "job", "launch", "-m", module, "-j", "all_steps"]
    result = subprocess.run(
        command, env=env, cwd=TESTS_DIR, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_runs_go_to_the_launcher_of_their_most_demanding_step(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    home = Path(subprocess_env["DAGSTER_HOME"])
    (home / "dagster.yaml").write_text(
        yaml.safe_dump(
            {
                "run_coordinator": {
                    "module": "dagster.core.run_coordinator",
                    "class": "DefaultRunCoordinator",
                },
                "run_launcher": {
                    "module": "marin_dagster",
                    "class": "MarinRunLauncher",
                    "config": LAUNCHERS,
                },
            }
        )
    )
    env = {**subprocess_env, "MARIN_PREFIX": str(tmp_path / "prefix")}
    _launch("pipelines.mixed", env)  # cpu, gpu and tpu steps: the tpu launcher
    _launch("pipelines.sleepy", env)  # cpu steps only: default
    with dg.DagsterInstance.from_config(str(home)) as instance:
        deadline = time.monotonic() + 120
        while not all(r.is_finished for r in instance.get_runs()):
            assert time.monotonic() < deadline, "runs did not finish"
            time.sleep(0.2)
        runs = {r.tags["marin/run_launcher"]: r for r in instance.get_runs()}
        assert set(runs) == {"tpu", "default"}
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs.values())
        tpu_steps = {
            e.dagster_event.step_key
            for e in instance.all_logs(runs["tpu"].run_id)
            if e.dagster_event and e.dagster_event.is_step_success
        }
        assert tpu_steps == {"mixed__cpu", "mixed__gpu", "mixed__tpu1", "mixed__tpu4"}


def test_config_schema_names_the_three_launchers() -> None:
    schema = MarinRunLauncher.config_type()
    assert set(schema) == {"default", "gpu", "tpu"}
    assert all(not field.is_required for field in schema.values())
