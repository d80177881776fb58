"""Building a graph leaves no trace on the steps or the process.

Versions belong to the graph that computed them, so a mutable config edited after a first build
gets a fresh hash; the cyclic GC is paused only while a graph is hashed and only if it was on.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from marin_dagster import StepContext, compute_output_path, step, versioned
from marin_dagster.core import StepCycleError, StepGraph, step_version
from marin_dagster.core.scoped import gc_paused, recursion_headroom


def _noop(config: Any) -> None:
    return None


@step(name="fx/mutable", fn=_noop)
def mutable_step(ctx: StepContext) -> dict[str, Any]:
    return {"params": {"lr": versioned(0.1)}, "out": ctx.output}


@pytest.fixture
def gc_state() -> Iterator[None]:
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_editing_a_config_after_a_build_changes_the_hash() -> None:
    s = mutable_step()
    first = compute_output_path(s, prefix="/p")
    first_graph = StepGraph([s], prefix="/p")
    s.config["params"]["lr"] = versioned(0.2)
    second = compute_output_path(s, prefix="/p")
    assert second != first
    assert StepGraph([s], prefix="/p").output_path(s) == second
    assert step_version(s).hash == second.rsplit("-", 1)[1]
    # The first graph keeps the version it computed (a graph is a snapshot).
    assert first_graph.output_path(s) == first


def test_editing_an_upstream_config_changes_the_downstream_hash() -> None:
    up = mutable_step()

    @step(name="fx/down", fn=_noop)
    def down_step(ctx: StepContext) -> dict[str, Any]:
        return {"up": ctx.require(up), "out": ctx.output}

    down = down_step()
    before = compute_output_path(down, prefix="/p")
    up.config["params"]["lr"] = versioned(0.3)
    assert compute_output_path(down, prefix="/p") != before


def test_nothing_is_stored_on_the_step() -> None:
    s = mutable_step()
    before = {name: repr(value) for name, value in vars(s).items()}
    StepGraph([s], prefix="/p")
    assert {name: repr(value) for name, value in vars(s).items()} == before


@pytest.mark.parametrize("enabled", [True, False])
def test_gc_state_is_unchanged_after_a_graph(gc_state: None, enabled: bool) -> None:
    (gc.enable if enabled else gc.disable)()
    StepGraph([mutable_step()], prefix="/p")
    assert gc.isenabled() is enabled
    s = mutable_step()
    s.config["params"]["loop"] = [s.ref]
    with pytest.raises(StepCycleError):
        StepGraph([s], prefix="/p")
    assert gc.isenabled() is enabled


def test_concurrent_pauses_restore_the_gc(gc_state: None) -> None:
    gc.enable()
    inside = threading.Barrier(4)

    def pause() -> None:
        with gc_paused():
            inside.wait(timeout=10)
            assert not gc.isenabled()
        inside_done.wait(timeout=10)

    inside_done = threading.Barrier(4)
    threads = [threading.Thread(target=pause) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert gc.isenabled()


def test_nested_recursion_scopes_restore_the_limit() -> None:
    before = sys.getrecursionlimit()
    with recursion_headroom(before + 3000):
        with recursion_headroom(before + 1000):
            assert sys.getrecursionlimit() == before + 3000
        assert sys.getrecursionlimit() == before + 3000
    assert sys.getrecursionlimit() == before
    with pytest.raises(KeyError), recursion_headroom(before + 500):
        raise KeyError("boom")
    assert sys.getrecursionlimit() == before
