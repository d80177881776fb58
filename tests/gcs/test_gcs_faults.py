"""Faults injected between the clients and the emulator (503s and delays on a bounded, seeded
fraction of requests): google-cloud-storage's and gcsfs's retries recover, every step's
function is called exactly once and every status ends SUCCESS."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from gcs_faults import FaultProxy
from gcs_race import assert_each_step_ran_once, race, worker_env
from pipelines import counting

from marin_dagster.core.graph import StepGraph
from marin_dagster.core.runner import RunOptions, run_step
from marin_dagster.core.status import StepStatus, read_status

OPTIONS = RunOptions(heartbeat_interval=0.5, lease_timeout=5.0, poll_interval=0.2, max_wait=120)


def test_pipeline_survives_failed_and_delayed_requests(
    gs_prefix: str,
    gcs_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    call_log: Callable[[], list[str]],
) -> None:
    steps = counting.build_steps()
    graph = StepGraph([steps["eval/score"]], prefix=f"{gs_prefix}/faults")
    with FaultProxy(
        gcs_env["STORAGE_EMULATOR_HOST"],
        fail_rate=0.15,
        delay_rate=0.2,
        delay_s=(0.05, 0.3),
        seed=11,
        max_faults=6,
        max_consecutive=2,
    ) as proxy:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
        first = [run_step(s, graph, OPTIONS) for s in graph.steps]
        rerun = [run_step(s, graph, OPTIONS) for s in graph.steps]
        assert proxy.failed > 0 and proxy.delayed > 0, (proxy.failed, proxy.delayed)
        print(f"pipeline: {proxy.report()}")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_env["STORAGE_EMULATOR_HOST"])
    assert sorted(call_log()) == sorted(counting.ALL_NAMES)  # each fn exactly once
    assert not any(r.cache_hit for r in first)
    assert all(r.cache_hit for r in rerun)
    assert all(read_status(graph.output_path(s)) is StepStatus.SUCCESS for s in graph.steps)


def test_eight_processes_race_through_failing_and_slow_requests(
    gs_prefix: str, gcs_env: dict[str, str], tmp_path: Path
) -> None:
    rounds = 2
    with FaultProxy(
        gcs_env["STORAGE_EMULATOR_HOST"],
        fail_rate=0.1,
        delay_rate=0.3,
        delay_s=(0.05, 0.3),
        seed=5,
        max_faults=12,
        max_consecutive=2,
    ) as proxy:
        outcomes, calls = race(gs_prefix, rounds, worker_env(gcs_env, proxy.url), tmp_path)
        assert proxy.failed > 0 and proxy.delayed > 0, (proxy.failed, proxy.delayed)
        print(f"race: {proxy.report()}")
    assert_each_step_ran_once(gs_prefix, rounds, outcomes, calls)
