"""``dg`` on the example project: the component loads from defs.yaml, and ``dg launch`` runs it.

Each command runs as a subprocess from the repository root, the ``dg`` project
(``[tool.dg]`` in pyproject.toml, components under ``definitions/defs/``).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from cli_runs import REPO_ROOT

from definitions.pipeline import STEPS
from marin_dagster.core.graph import StepGraph
from marin_dagster.core.status import StepStatus, read_status

TIMEOUT_S = 300


def _dg_executable() -> str:
    """The ``dg`` next to this interpreter (else on PATH)."""
    exe = Path(sys.executable).with_name("dg")
    dg = str(exe) if exe.exists() else shutil.which("dg")
    assert dg, "dg is installed by the README's set-up: pip install -e '.[dev]'"
    return dg


def _dg(env: dict[str, str], *args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    dg = _dg_executable()
    result = subprocess.run(
        [dg, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert result.returncode == 0, f"dg {' '.join(args)} failed:\n{result.stderr[-6000:]}"
    return result


@pytest.fixture
def dg_env(subprocess_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The README's instance set-up (deploy/dagster.yaml in $DAGSTER_HOME) and a fresh prefix."""
    shutil.copy(REPO_ROOT / "deploy" / "dagster.yaml", Path(subprocess_env["DAGSTER_HOME"]))
    return {**subprocess_env, "MARIN_PREFIX": str(tmp_path / "prefix")}


def _warnings(text: str) -> list[str]:
    return [line for line in text.splitlines() if "warning" in line.lower()]


def test_dg_list_defs_shows_every_step_and_the_jobs(dg_env: dict[str, str]) -> None:
    result = _dg(dg_env, "list", "defs", "--json")
    listed = json.loads(result.stdout)
    keys = {asset["asset_key"] for asset in listed["assets"]}
    assert {s.name for s in STEPS} <= keys
    assert {"all_steps", "data_steps", "train_steps", "eval_steps"} <= {
        job["name"] for job in listed["jobs"]
    }
    assert _warnings(result.stderr) == []


def test_dg_knows_the_component_type_and_checks_the_yaml(dg_env: dict[str, str]) -> None:
    listed = _dg(dg_env, "list", "components", "--json")
    types = {entry["key"] for entry in json.loads(listed.stdout)["items"]}
    assert "marin_dagster.MarinStepsComponent" in types
    checked = _dg(dg_env, "check", "yaml")
    assert _warnings(checked.stdout + checked.stderr) == []


def test_dg_launch_runs_all_steps(dg_env: dict[str, str]) -> None:
    graph = StepGraph(STEPS, prefix=dg_env["MARIN_PREFIX"])
    result = _dg(dg_env, "launch", "--job", "all_steps")
    output = result.stdout + result.stderr
    assert f"Marin run summary: {len(graph.steps)} ran, 0 cache hits, 0 failed" in output
    assert _warnings(output) == []
    for s in graph.steps:
        assert read_status(graph.output_path(s)) is StepStatus.SUCCESS, s.name


def test_dg_scaffolds_a_defs_yaml_to_fill_in(dg_env: dict[str, str], tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "demo" / "defs").mkdir(parents=True)
    (project / "demo" / "__init__.py").write_text("")
    (project / "demo" / "defs" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0"\n\n'
        '[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\nroot_module = "demo"\n'
    )
    env = {**dg_env, "PYTHONPATH": f"{project}{os.pathsep}{dg_env['PYTHONPATH']}"}
    _dg(env, "scaffold", "defs", "marin_dagster.MarinStepsComponent", "my_pipeline", cwd=project)
    written = yaml.safe_load((project / "demo" / "defs" / "my_pipeline" / "defs.yaml").read_text())
    assert written == {
        "type": "marin_dagster.MarinStepsComponent",
        "attributes": {"steps": "my_package.pipeline:STEPS"},
    }


def test_dg_dev_serves_the_project_without_warnings(dg_env: dict[str, str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [_dg_executable(), "dev", "-p", str(port)],
        env=dg_env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, f"dg dev exited with {server.returncode}"
            assert time.monotonic() < deadline, "dg dev did not serve within 180 s"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5):
                    break
            except OSError:
                time.sleep(1)
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            output, _ = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            output, _ = server.communicate()
    assert "All component YAML validated successfully" in output
    assert _warnings(output) == []
