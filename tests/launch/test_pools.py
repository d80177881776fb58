"""Accelerator pools: each GPU/TPU step's op is in a Dagster concurrency pool named after its
device, and ``marin_executor`` honours the instance's pool limits across concurrent runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
from cli_runs import TESTS_DIR, TIMEOUT_S, pairwise_disjoint, step_records

from marin_dagster import ResourceConfig, build_definitions
from marin_dagster.core.pools import pool_for


def test_pool_names_follow_the_device() -> None:
    assert pool_for(ResourceConfig.with_tpu("v5litepod-16", slice_count=2)) == "tpu-v5e-16"
    assert pool_for(ResourceConfig.with_tpu("v4-8")) == "tpu-v4-8"
    assert pool_for(ResourceConfig.with_gpu("a100-40g")) == "gpu-a100-40g"
    assert pool_for(ResourceConfig.with_gpu("H100", count=8)) == "gpu-h100"
    assert pool_for(ResourceConfig.with_cpu(cpu=8)) is None
    assert pool_for(None) is None


def test_each_op_carries_its_pool(monkeypatch, tmp_path: Path) -> None:
    from pipelines.accelerated import tpu_sleeper
    from pipelines.sleepy import sleeper

    monkeypatch.setenv("MARIN_PREFIX", str(tmp_path))
    defs = build_definitions([tpu_sleeper(label="a", seconds=0), sleeper(label="c", seconds=0)])
    pools = {
        node.name: node.definition.pool
        for node in defs.resolve_job_def("all_steps").graph.node_dict.values()
    }
    assert pools == {"accelerated__a": "tpu-v5e-16", "sleepy__c": None}


def _start_run(env: dict[str, str], label: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "dagster", "job", "execute", "-m", "pipelines.accelerated"]
    return subprocess.Popen(
        [*command, "-j", "all_steps"],
        env={**env, "MARIN_TEST_ACCEL_LABELS": label},
        cwd=TESTS_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_pool_limit_of_one_serialises_tpu_steps_of_two_runs(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    records = tmp_path / "records"
    records.mkdir()
    env = {
        **subprocess_env,
        "MARIN_PREFIX": str(tmp_path / "prefix"),
        "MARIN_TEST_SLEEPY_DIR": str(records),
        "MARIN_TEST_SLEEPY_S": "3",
    }
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        instance.event_log_storage.set_concurrency_slots("tpu-v5e-16", 1)
    runs = [_start_run(env, "first"), _start_run(env, "second")]
    for run in runs:
        output, _ = run.communicate(timeout=TIMEOUT_S)
        assert run.returncode == 0, output[-6000:]
    found = step_records(records)
    assert sorted(found) == ["first", "second"]
    assert pairwise_disjoint(list(found.values())), found
