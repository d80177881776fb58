"""Executor settings and per-run settings: one merge rule, and the schema Dagster shows."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest
import yaml
from pipelines import counting
from pydantic import ValidationError

from marin_dagster import build_definitions
from marin_dagster.core.runner import RunOptions
from marin_dagster.launch.executor import make_marin_executor
from marin_dagster.launch.settings import BackendSpec, ExecutorSettings
from marin_dagster.run_settings import MarinRunSettings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_merge_later_wins_none_is_unset_and_backends_merge_per_class() -> None:
    code = ExecutorSettings.parse(
        {"max_concurrent": 2, "backends": {"tpu": {"ray": {"address": "a:1"}}}}
    )
    run = ExecutorSettings.parse(
        {"max_concurrent": None, "backends": {"gpu": {"ray": {"address": "b:2"}}, "cpu": None}}
    )
    merged = ExecutorSettings().merge(code).merge(run)
    assert merged.max_concurrent == 2
    assert merged.backend_for("tpu").describe() == "ray at a:1"
    assert merged.backend_for("gpu").describe() == "ray at b:2"
    assert merged.backend_for("cpu").kind == "local"
    assert code.max_concurrent == 2 and "gpu" not in code.backends  # inputs unchanged
    assert merged.merge(ExecutorSettings(max_concurrent=5)).max_concurrent == 5


def test_a_backend_is_exactly_one_kind() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        BackendSpec.model_validate({"local": {}, "ray": {"address": "x:1"}})
    with pytest.raises(ValidationError, match="exactly one"):
        BackendSpec.model_validate({})
    with pytest.raises(ValidationError):
        ExecutorSettings.parse({"max_concurrent": 0})


def test_per_backend_caps_become_tag_limits_per_device_class() -> None:
    settings = ExecutorSettings.parse(
        {"backends": {"tpu": {"local": {"max_concurrent": 1}}, "gpu": {"local": {}}}}
    )
    assert settings.tag_concurrency_limits("marin/device") == [
        {"key": "marin/device", "value": "tpu", "limit": 1}
    ]


def test_run_settings_apply_over_code_options() -> None:
    base = RunOptions(force_run_failed=False, lease_timeout=60.0)
    settings = MarinRunSettings(force_rerun=["train/*", "eval/score"], heartbeat_interval=5.0)
    train = settings.options_for("train/lm", base)
    assert train.force_rerun and train.heartbeat_interval == 5.0
    assert train.force_run_failed is False and train.lease_timeout == 60.0  # unset: code's value
    assert not settings.options_for("eval/other", base).force_rerun
    assert MarinRunSettings().options_for("x", base) is base


def test_readme_run_config_validates_against_a_job() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)
    run_config = next(yaml.safe_load(b) for b in blocks if "execution:" in b)
    defs = build_definitions([counting.build_steps()["eval/score"]], prefix="/tmp/unused")
    job = defs.resolve_job_def("all_steps")
    assert dg.validate_run_config(job, run_config)
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, {"execution": {"config": {"backends": {"tpu": {"k9s": {}}}}}})


def test_executor_settings_in_code_are_defaults_for_the_run() -> None:
    executor = make_marin_executor({"max_concurrent": 3})
    assert executor.name == "marin"
    with pytest.raises(TypeError, match="executor_settings configures marin_executor"):
        build_definitions(
            [counting.build_steps()["data/raw"]],
            executor=dg.in_process_executor,
            executor_settings={"max_concurrent": 1},
        )
