"""``build_definitions`` and the jobs it defines leave the process as they found it.

Dagster's job builder recurses once per link of a dependency chain, so a long chain needs more
than the default recursion limit; the limit is raised only while Dagster builds one of these
jobs (or a subset of one) and restored after. The cyclic GC is never left off. The IO manager
never invents a path for an asset it knows no output path for.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from pipelines import chain

from marin_dagster import build_definitions
from marin_dagster.core.scoped import stack_depth
from marin_dagster.io_manager import MarinPathIOManager, NoOutputPathError

PREFIX = "/prefix/for/side-effects"
LENGTH = 1500


def _call_at_stack_depth(depth: int, fn):
    return fn() if stack_depth() >= depth else _call_at_stack_depth(depth, fn)


@pytest.fixture
def default_limit(restore_recursion_limit: None) -> Iterator[int]:
    sys.setrecursionlimit(1000)  # a fresh interpreter's default
    yield 1000


def test_limit_and_gc_unchanged_after_building_and_resolving(default_limit: int) -> None:
    assert gc.isenabled()
    links = chain.build_chain(LENGTH)
    defs = build_definitions([links[-1]], prefix=PREFIX)
    assert (sys.getrecursionlimit(), gc.isenabled()) == (default_limit, True)

    def resolve_everything() -> dict[str, int]:
        sizes = {
            job.name: len(job.asset_layer.selected_asset_keys)
            for job in defs.resolve_all_job_defs()
        }
        implicit = defs.resolve_implicit_global_asset_job_def()
        sizes["implicit"] = len(implicit.asset_layer.selected_asset_keys)
        return sizes

    sizes = _call_at_stack_depth(700, resolve_everything)
    assert sizes == {
        "all_steps": LENGTH,
        "chain_steps": LENGTH,
        "__ASSET_JOB": LENGTH,
        "implicit": LENGTH,
        "sync_from_storage": 0,  # one op that records events; it selects no asset to run
    }
    assert (sys.getrecursionlimit(), gc.isenabled()) == (default_limit, True)


def test_subset_of_a_deep_job_is_built_with_headroom_too(default_limit: int) -> None:
    """A run of selected assets (the UI's "Materialize", a run worker) builds a subset job."""
    links = chain.build_chain(LENGTH)
    defs = build_definitions([links[-1]], prefix=PREFIX, group_jobs=False)
    repository = defs.get_repository_def()
    keys = {dg.AssetKey(["chain", f"link-{i}"]) for i in range(1, LENGTH)}

    def subset() -> int:
        job = repository.get_maybe_subset_job_def("all_steps", asset_selection=keys)
        again = job.get_subset(asset_selection=keys)
        return len(again.asset_layer.selected_asset_keys)

    assert _call_at_stack_depth(700, subset) == LENGTH - 1
    assert sys.getrecursionlimit() == default_limit


def test_a_limit_raised_by_the_caller_is_kept(restore_recursion_limit: None) -> None:
    sys.setrecursionlimit(50_000)
    defs = build_definitions([chain.build_chain(LENGTH)[-1]], prefix=PREFIX, group_jobs=False)
    defs.resolve_job_def("all_steps")
    assert sys.getrecursionlimit() == 50_000


def test_gc_left_off_by_the_caller_stays_off() -> None:
    gc.disable()
    try:
        defs = build_definitions([chain.build_chain(60)[-1]], prefix=PREFIX)
        defs.resolve_job_def("all_steps")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_io_manager_never_invents_a_path(tmp_path: Path) -> None:
    """An upstream with no definition path and no materialization: an error naming it."""
    manager = MarinPathIOManager(prefix=str(tmp_path))
    upstream_key = dg.AssetKey(["user", "never_made"])
    context = dg.build_input_context(
        upstream_output=dg.build_output_context(asset_key=upstream_key),
        asset_key=upstream_key,
        instance=dg.DagsterInstance.ephemeral(),
    )
    with pytest.raises(NoOutputPathError, match="user/never_made") as info:
        manager.load_input(context)
    assert "never guesses" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_io_manager_failure_in_a_run_names_the_asset(tmp_path: Path) -> None:
    """In a run: a plain asset reading a never-materialized plain asset fails, naming it."""

    @dg.asset(key=["user", "made_elsewhere"], io_manager_key="marin_io_manager")
    def made_elsewhere() -> str:
        return "x"

    @dg.asset(ins={"made": dg.AssetIn(key=["user", "made_elsewhere"])})
    def reader(made: str) -> None:
        raise AssertionError(f"must not run with an invented path {made!r}")

    defs = dg.Definitions(
        assets=[made_elsewhere, reader],
        resources={"marin_io_manager": MarinPathIOManager(prefix=str(tmp_path))},
    )
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        asset_selection=[dg.AssetKey("reader")],
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    failure = result.failure_data_for_node("reader")
    assert failure is not None and failure.error is not None
    text = failure.error.to_string()
    assert "user/made_elsewhere" in text and "never guesses" in text
