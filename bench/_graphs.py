"""Shared helpers for the benchmarks: layered step graphs and their bare-Dagster twins.

A *layered graph* of ``n`` steps has ``n // width`` layers of ``width`` steps (the last layer
takes the remainder). Step ``i`` of layer ``k > 0`` references steps ``i`` and ``(i + 1) % w``
of layer ``k - 1`` (fan-in 2) plus a versioned value; layer 0 has only the versioned value.
Every step is named ``bench/l{k}_s{i}``, so its asset key is ``["bench", "l{k}_s{i}"]`` and all
steps share the group ``bench``.

The bare-Dagster twin has one ``@dagster.asset`` per step with the same key, deps and group and
a no-op body, collected in ``Definitions`` with one ``all_steps`` job over every key.

These helpers are imported by the scripts next to them (``python bench/<name>.py``); importing
them puts the repository root first on ``sys.path``, so ``marin_dagster`` is this checkout's.
"""

import gc
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Measure the checkout these scripts live in, even if another one is pip-installed (editable).
REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import dagster as dg  # noqa: E402

from marin_dagster import ExecutorStep, StepContext, step, versioned  # noqa: E402

GROUP = "bench"
DEFAULT_WIDTH = 50
ALL_STEPS_JOB = "all_steps"


def noop(config: Any) -> None:
    """The step function of every benchmark step: does nothing."""


@step(name=GROUP + "/l{layer}_s{index}", fn=noop)
def layer_step(
    ctx: StepContext, layer: int, index: int, inputs: Sequence[ExecutorStep[Any]] = ()
) -> dict[str, Any]:
    """Step ``index`` of layer ``layer``: requires ``inputs`` and carries a versioned value."""
    return {
        "inputs": [ctx.require(s) for s in inputs],
        "seed": versioned(f"{layer}-{index}"),
        "output_path": ctx.output,
    }


def layer_sizes(n_steps: int, width: int = DEFAULT_WIDTH) -> list[int]:
    """The width of each layer of an ``n_steps`` graph (``width`` each, remainder last)."""
    full, rest = divmod(n_steps, width)
    return [width] * full + ([rest] if rest else [])


def _upstream(index: int, below: int) -> list[int]:
    """Indices in the layer below (of width ``below``) that step ``index`` reads (fan-in 2)."""
    picks = [index % below, (index + 1) % below]
    return picks[:1] if picks[0] == picks[1] else picks


def build_layered_steps(n_steps: int, width: int = DEFAULT_WIDTH) -> list[list[ExecutorStep[Any]]]:
    """A fresh layered graph of ``n_steps`` steps, built with ``@step``, as a list of layers."""
    layers: list[list[ExecutorStep[Any]]] = []
    for k, size in enumerate(layer_sizes(n_steps, width)):
        below = layers[-1] if layers else []
        layers.append(
            [
                layer_step(k, i, [below[j] for j in _upstream(i, len(below))] if below else [])
                for i in range(size)
            ]
        )
    return layers


def layered_keys(
    n_steps: int, width: int = DEFAULT_WIDTH
) -> list[tuple[dg.AssetKey, list[dg.AssetKey]]]:
    """``(key, deps)`` for every step of the layered graph, dependencies first."""
    out: list[tuple[dg.AssetKey, list[dg.AssetKey]]] = []
    sizes = layer_sizes(n_steps, width)
    for k, size in enumerate(sizes):
        for i in range(size):
            deps = (
                [dg.AssetKey([GROUP, f"l{k - 1}_s{j}"]) for j in _upstream(i, sizes[k - 1])]
                if k
                else []
            )
            out.append((dg.AssetKey([GROUP, f"l{k}_s{i}"]), deps))
    return out


def _bare_asset(key: dg.AssetKey, deps: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(key=key, deps=list(deps), group_name=GROUP)
    def _asset() -> None:
        return None

    return _asset


def build_bare_assets(n_steps: int, width: int = DEFAULT_WIDTH) -> list[dg.AssetsDefinition]:
    """One no-op ``@dagster.asset`` per step of the layered graph, same keys and deps."""
    return [_bare_asset(key, deps) for key, deps in layered_keys(n_steps, width)]


def bare_definitions(assets: Sequence[dg.AssetsDefinition]) -> dg.Definitions:
    """Bare ``Definitions`` with an ``all_steps`` job over every asset."""
    keys = [k for a in assets for k in a.keys]
    return dg.Definitions(
        assets=list(assets),
        jobs=[
            dg.define_asset_job(ALL_STEPS_JOB, selection=dg.AssetSelection.assets(*keys)),
        ],
    )


def flat(layers: Sequence[Sequence[ExecutorStep[Any]]]) -> list[ExecutorStep[Any]]:
    """Every step of a layered graph, dependencies first."""
    return [s for layer in layers for s in layer]


@dataclass
class Timing:
    """Wall-clock samples of one measured operation, in seconds."""

    samples: list[float]

    @property
    def best(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """``(seconds, result)`` of one call, measured with ``perf_counter`` after a full GC."""
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A small GitHub-flavoured markdown table."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_s(seconds: float) -> str:
    """Seconds with 3 significant-ish decimals."""
    return f"{seconds:.3f}" if seconds >= 0.1 else f"{seconds:.4f}"


def fmt_us(seconds: float) -> str:
    """Seconds shown as microseconds."""
    return f"{seconds * 1e6:.1f}"


def fmt_ms(seconds: float) -> str:
    """Seconds shown as milliseconds."""
    return f"{seconds * 1e3:.2f}"


def verdict(value: float, target: float, *, quick: bool = False) -> str:
    """``ok`` / ``MISSED`` against an upper-bound target (not judged at ``--quick`` sizes)."""
    if quick:
        return "n/a with --quick"
    return "ok" if value <= target else "MISSED"


def environment_line() -> str:
    """Which code was measured: marin_dagster's location, dagster and Python versions."""
    import platform

    import marin_dagster

    return (
        f"_marin_dagster from `{Path(marin_dagster.__file__).parent}`, dagster {dg.__version__}, "
        f"Python {platform.python_version()}_"
    )


def profile_top(fn: Callable[[], Any], *, restrict: str = "marin_dagster", limit: int = 25) -> str:
    """Run ``fn`` under cProfile; the top cumulative entries whose file matches ``restrict``."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(restrict, limit)
    return out.getvalue()
