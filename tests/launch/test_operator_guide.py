"""The README's operator guide: every run-config example is accepted by ``marin_executor``'s
Dagster config schema and by its settings model (so an operator can copy them as they are)."""

from __future__ import annotations

import re
from typing import Any

import dagster as dg
import yaml
from cli_runs import REPO_ROOT

from marin_dagster.launch.settings import ExecutorSettings


def _guide_yaml_blocks() -> list[dict[str, Any]]:
    text = (REPO_ROOT / "README.md").read_text()
    guide = text.split("## Operator guide", 1)[1].split("\n## ", 1)[0]
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", guide, re.S)]


def test_every_backend_has_a_run_config_example_that_validates(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("MARIN_PREFIX", str(tmp_path))
    from pipelines.accelerated import defs

    job = defs.resolve_job_def("all_steps")
    kinds = set()
    for block in _guide_yaml_blocks():
        if "execution" not in block:
            continue
        dg.validate_run_config(job, block)
        settings = ExecutorSettings.parse(block["execution"]["config"])
        kinds |= {spec.kind for spec in settings.backends.values()}
    assert kinds == {"local", "ray", "k8s", "fray"}


def test_the_dagster_yaml_example_uses_marin_run_launcher_and_pools() -> None:
    (instance,) = [block for block in _guide_yaml_blocks() if "run_launcher" in block]
    assert instance["run_launcher"]["class"] == "MarinRunLauncher"
    assert set(instance["run_launcher"]["config"]) == {"default", "tpu"}
    assert instance["concurrency"]["pools"]["granularity"] == "op"


def test_the_dagster_yaml_example_loads_as_an_instance(tmp_path) -> None:
    from marin_dagster import MarinRunLauncher

    (instance_yaml,) = [block for block in _guide_yaml_blocks() if "run_launcher" in block]
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(instance_yaml))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_launcher, MarinRunLauncher)
