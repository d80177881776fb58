"""``marin-dagster plan / explain / status`` against the example pipeline in each of its states.

Every command runs as ``python -m marin_dagster`` in a subprocess; after each one the prefix
tree (paths, sizes, mtimes) must be unchanged: the command line never writes.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cli_runs import REPO_ROOT, dagster_execute

TESTS_DIR = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120
EXAMPLE = ["-m", "definitions"]
STEP_NAMES = [
    "data/corpus",
    "tokenize/corpus",
    *(f"{kind}/lm-lr{lr}" for lr in ("0.01", "0.03", "0.1") for kind in ("train", "eval")),
    "eval/learning-curve",
]


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    home = tmp / "dagster_home"
    home.mkdir(exist_ok=True)
    env["DAGSTER_HOME"] = str(home)
    paths = [str(TESTS_DIR), str(REPO_ROOT), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.pop("MARIN_TEST_CLEAN_PARAM", None)
    env["MARIN_PREFIX"] = str(tmp / "prefix")
    env["MARIN_EXAMPLE_TRAIN_STEPS"] = "30"
    return env


def snapshot(prefix: Path) -> dict[str, tuple[int, int]]:
    if not prefix.exists():
        return {}
    return {
        str(p.relative_to(prefix)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in prefix.rglob("*")
    }


def cli(
    env: dict[str, str], *args: str, code: int = 0, cwd: Path = REPO_ROOT
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m marin_dagster ARGS``; check its exit code and that nothing was written."""
    prefix = Path(env["MARIN_PREFIX"])
    before = snapshot(prefix)
    result = subprocess.run(
        [sys.executable, "-m", "marin_dagster", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert result.returncode == code, f"{args}:\n{result.stdout}\n{result.stderr}"
    assert snapshot(prefix) == before, f"{args} wrote under the prefix"
    return result


def plan(env: dict[str, str], *args: str) -> dict[str, dict[str, Any]]:
    rows = json.loads(cli(env, "plan", *EXAMPLE, "--json", *args).stdout)
    assert all({"step", "output_path", "action"} <= set(r) for r in rows)
    return {r["step"]: r for r in rows}


def actions(rows: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: r["action"] for name, r in rows.items()}


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The example pipeline, run once (30 optimiser steps)."""
    env = _env(tmp_path_factory.mktemp("ran"))
    dagster_execute(env, module="definitions", cwd=REPO_ROOT)
    return env


@pytest.fixture
def fresh(tmp_path: Path) -> dict[str, str]:
    return _env(tmp_path)


def test_fresh_everything_runs_and_nothing_is_written(fresh: dict[str, str]) -> None:
    rows = plan(fresh)
    assert list(rows) == STEP_NAMES
    assert set(actions(rows).values()) == {"run"}
    assert all(r["output_path"].startswith(fresh["MARIN_PREFIX"]) for r in rows.values())
    text = cli(fresh, "plan", *EXAMPLE).stdout
    assert text.splitlines()[0].split() == ["STEP", "ACTION", "OUTPUT", "PATH", "REASON"]
    assert "no status recorded" in text
    status = json.loads(cli(fresh, "status", *EXAMPLE, "--json").stdout)
    assert [r["status"] for r in status] == [None] * len(STEP_NAMES)
    assert "none" in cli(fresh, "status", *EXAMPLE).stdout
    out = cli(fresh, "explain", *EXAMPLE, "train/lm-lr0.03").stdout
    assert "nothing recorded on storage" in out
    assert not Path(fresh["MARIN_PREFIX"]).exists()


def test_selection_includes_upstream_and_alone_is_blocked(fresh: dict[str, str]) -> None:
    rows = plan(fresh, "eval/lm-lr0.01")
    assert list(rows) == ["data/corpus", "tokenize/corpus", "train/lm-lr0.01", "eval/lm-lr0.01"]
    assert set(actions(rows).values()) == {"run"}
    assert list(plan(fresh, "train/*")) == [
        "data/corpus",
        "tokenize/corpus",
        "train/lm-lr0.01",
        "train/lm-lr0.03",
        "train/lm-lr0.1",
    ]
    alone = plan(fresh, "--alone", "train/lm-lr0.1")
    assert actions(alone) == {"train/lm-lr0.1": "blocked"}
    assert "tokenize/corpus" in alone["train/lm-lr0.1"]["reason"]


def test_after_a_run_everything_is_a_cache_hit(ran: dict[str, str]) -> None:
    rows = plan(ran)
    assert set(actions(rows).values()) == {"cache_hit"}
    assert actions(plan(ran, "--alone", "eval/lm-lr0.1")) == {"eval/lm-lr0.1": "cache_hit"}
    status = json.loads(cli(ran, "status", *EXAMPLE, "--json").stdout)
    assert {r["status"] for r in status} == {"SUCCESS"}
    assert [r["output_path"] for r in status] == [rows[n]["output_path"] for n in STEP_NAMES]
    out = cli(ran, "explain", *EXAMPLE, "eval/learning-curve").stdout
    assert "versions are equal: cache hit" in out


def test_after_a_versioned_change(ran: dict[str, str]) -> None:
    changed = {**ran, "MARIN_EXAMPLE_TRAIN_STEPS": "40"}
    rows = plan(changed)
    assert actions(rows) == {
        name: "cache_hit" if name in ("data/corpus", "tokenize/corpus") else "run"
        for name in STEP_NAMES
    }
    out = cli(changed, "explain", *EXAMPLE, "train/lm-lr0.03").stdout
    assert "config.steps: 30 → 40" in out
    assert "root cause: train/lm-lr0.03" in out
    below = out.split("downstream steps whose output path changes with it:")[1]
    assert "eval/lm-lr0.03: " + rows["eval/lm-lr0.03"]["output_path"] in below
    assert "eval/learning-curve" in below
    assert "eval/lm-lr0.01" not in below
    curve = cli(changed, "explain", *EXAMPLE, "eval/learning-curve").stdout
    assert "dependencies[eval/lm-lr0.1].dependencies[train/lm-lr0.1].config.steps" in curve
    assert "root cause: train/lm-lr0.01, train/lm-lr0.03, train/lm-lr0.1" in curve


def _write(path: str, name: str, text: str) -> None:
    Path(path).mkdir(parents=True, exist_ok=True)
    (Path(path) / name).write_text(text)


def _lock(path: str, holder: str, age_s: float) -> None:
    record = {"worker_id": f"{holder} [lease heartbeat=30s timeout=90s]", "timestamp": 0.0}
    record["timestamp"] = time.time() - age_s
    _write(path, ".executor_status.lock", json.dumps(record))


def test_live_and_stale_leases_and_failures(fresh: dict[str, str]) -> None:
    paths = {n: r["output_path"] for n, r in plan(fresh).items()}
    _write(paths["data/corpus"], ".executor_status", "SUCCESS")
    _write(paths["tokenize/corpus"], ".executor_status", "RUNNING")
    _lock(paths["tokenize/corpus"], "host-live", 5)
    _write(paths["train/lm-lr0.01"], ".executor_status", "RUNNING")
    _lock(paths["train/lm-lr0.01"], "host-dead", 1000)
    _write(paths["train/lm-lr0.03"], ".executor_status", "FAILED")
    _write(paths["train/lm-lr0.1"], ".executor_status", "RUNNING")  # no lock at all
    rows = plan(fresh)
    assert actions(rows) == {
        "data/corpus": "cache_hit",
        "tokenize/corpus": "wait",
        "train/lm-lr0.01": "run",
        "eval/lm-lr0.01": "run",
        "train/lm-lr0.03": "rerun_failed",
        "eval/lm-lr0.03": "run",
        "train/lm-lr0.1": "run",
        "eval/lm-lr0.1": "run",
        "eval/learning-curve": "run",
    }
    assert "host-live" in rows["tokenize/corpus"]["reason"]
    assert "stale lease: would take over" in rows["train/lm-lr0.01"]["reason"]
    assert "no lease: would take over" in rows["train/lm-lr0.1"]["reason"]
    assert actions(plan(fresh, "--alone", "eval/lm-lr0.03")) == {"eval/lm-lr0.03": "blocked"}
    status = {r["step"]: r for r in json.loads(cli(fresh, "status", *EXAMPLE, "--json").stdout)}
    live, dead = status["tokenize/corpus"], status["train/lm-lr0.01"]
    assert (live["status"], live["lease_holder"], live["lease_live"]) == (
        "RUNNING",
        "host-live",
        True,
    )
    assert 4 <= live["lease_age_s"] < 60
    assert (dead["lease_holder"], dead["lease_live"]) == ("host-dead", False)
    assert status["train/lm-lr0.03"]["status"] == "FAILED"
    text = cli(fresh, "status", *EXAMPLE).stdout
    assert "host-dead (" in text and "stale)" in text


def test_code_location_options(fresh: dict[str, str], tmp_path: Path) -> None:
    counting = ["data/raw", "prep/clean", "prep/other", "train/model", "eval/score"]
    two = tmp_path / "two.py"
    two.write_text(
        "import dagster as dg\nfrom pipelines.counting import defs as first\n"
        "empty = dg.Definitions()\n"
    )
    ambiguous = cli(fresh, "plan", "-f", str(two), code=2)
    assert "2 Definitions" in ambiguous.stderr and "-a" in ambiguous.stderr
    rows = json.loads(cli(fresh, "plan", "-f", str(two), "-a", "first", "--json").stdout)
    assert sorted(r["step"] for r in rows) == sorted(counting)
    no_steps = cli(fresh, "status", "-f", str(two), "-a", "empty", code=2)
    assert "no marin steps" in no_steps.stderr
    workspace = tmp_path / "ws" / "workspace.yaml"
    workspace.parent.mkdir()
    workspace.write_text(
        "load_from:\n  - python_file:\n      relative_path: ../two.py\n      attribute: first\n"
    )
    rows = json.loads(cli(fresh, "plan", "-w", str(workspace), "--json").stdout)
    assert sorted(r["step"] for r in rows) == sorted(counting)
    # The repository's own workspace.yaml, found in the working directory without -w.
    rows = json.loads(cli(fresh, "plan", "--json").stdout)
    assert [r["step"] for r in rows] == STEP_NAMES
    rows = json.loads(cli(fresh, "plan", "-m", "pipelines.counting", "--json").stdout)
    assert sorted(r["step"] for r in rows) == sorted(counting)


def test_usage_errors_exit_2(fresh: dict[str, str]) -> None:
    assert "no step matches 'nope'" in cli(fresh, "plan", *EXAMPLE, "nope", code=2).stderr
    assert "matches 3 steps" in cli(fresh, "explain", *EXAMPLE, "train/*", code=2).stderr
    assert "cannot import" in cli(fresh, "plan", "-m", "no_such_module_xyz", code=2).stderr
    assert "0 Definitions" in cli(fresh, "plan", "-m", "json", code=2).stderr


def test_console_script_is_declared() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["marin-dagster"] == "marin_dagster.cli:main"
    assert callable(importlib.import_module("marin_dagster.cli").main)
    script = shutil.which("marin-dagster")
    if script is not None:  # installed: it answers --help
        out = subprocess.run([script, "--help"], capture_output=True, text=True, check=True)
        assert "plan" in out.stdout and "explain" in out.stdout
