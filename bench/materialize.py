"""Benchmark: in-process materialisation of no-op steps, vs bare Dagster ``@asset``s.

(a) **Fresh run**: ``all_steps`` over a layered graph of no-op steps (default 100) on a fresh
    temporary prefix, ``job.execute_in_process(instance=DagsterInstance.ephemeral())``, against
    the same graph as bare no-op ``@asset``s. Every step runs its ``fn`` and writes its status
    and info files. Target: ours / bare ≤ 1.25.
(b) **Rerun, all cache hits**: a graph of already-successful steps (default 500) is run again;
    every step finds ``SUCCESS`` and calls no ``fn``. Reported in seconds per step, with the
    same bare assets rerun for comparison.

Building ``Definitions`` and resolving the job happen outside the timed region; a fresh
ephemeral instance is made (untimed) for every run, on both sides. Repetitions alternate which
side goes first.

Usage: ``python bench/materialize.py [--quick] [--repeat N] [--fresh N] [--rerun N] [--profile]``
(``--show-logs`` keeps Dagster's console output, normally sent to /dev/null while timing).
"""

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any

import dagster as dg
from _graphs import (
    ALL_STEPS_JOB,
    DEFAULT_WIDTH,
    Timing,
    bare_definitions,
    build_bare_assets,
    build_layered_steps,
    environment_line,
    flat,
    fmt_ms,
    fmt_s,
    markdown_table,
    profile_top,
    timed,
    verdict,
)

from marin_dagster import build_definitions
from marin_dagster.metadata_keys import CACHE_HIT

FRESH_TARGET = 1.25


SHOW_LOGS = False


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null (Dagster's console logger still formats and writes
    every event, on both sides, so its cost stays in the measurement, not on the screen)."""
    if SHOW_LOGS:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def execute(job: Any) -> tuple[float, dg.ExecuteInProcessResult]:
    """Run ``job`` in process on a fresh ephemeral instance (instance creation untimed)."""
    instance = dg.DagsterInstance.ephemeral()
    with quiet_stderr():
        seconds, result = timed(lambda: job.execute_in_process(instance=instance))
    if not result.success:
        raise RuntimeError(f"{job.name} failed")
    instance.dispose()
    return seconds, result


def cache_hits(result: dg.ExecuteInProcessResult) -> int:
    """How many materializations report a cache hit."""
    return sum(
        1
        for event in result.get_asset_materialization_events()
        if event.materialization.metadata.get(CACHE_HIT, dg.BoolMetadataValue(False)).value
    )


def our_job(n_steps: int, width: int, prefix: str) -> Any:
    """``all_steps`` of ``build_definitions`` over a fresh layered graph under ``prefix``."""
    defs = build_definitions(flat(build_layered_steps(n_steps, width)), prefix=prefix)
    return defs.resolve_job_def(ALL_STEPS_JOB)


def bare_job(n_steps: int, width: int) -> Any:
    """``all_steps`` over the same graph as bare no-op ``@asset``s."""
    return bare_definitions(build_bare_assets(n_steps, width)).resolve_job_def(ALL_STEPS_JOB)


def fresh_runs(n_steps: int, width: int, repeat: int, root: str) -> tuple[Timing, Timing]:
    """(a): every repetition runs on a new, empty prefix."""
    ours_t, bare_t = [], []
    for rep in range(repeat):
        prefix = tempfile.mkdtemp(prefix="fresh-", dir=root)
        job, bjob = our_job(n_steps, width, prefix), bare_job(n_steps, width)
        if rep % 2:
            bare_t.append(execute(bjob)[0])
        seconds, result = execute(job)
        if cache_hits(result):
            raise RuntimeError("a fresh prefix must not give cache hits")
        ours_t.append(seconds)
        if not rep % 2:
            bare_t.append(execute(bjob)[0])
        shutil.rmtree(prefix, ignore_errors=True)
    return Timing(ours_t), Timing(bare_t)


def rerun_runs(n_steps: int, width: int, repeat: int, root: str) -> tuple[Timing, Timing]:
    """(b): one untimed run makes every step SUCCESS; the timed reruns are all cache hits."""
    prefix = tempfile.mkdtemp(prefix="rerun-", dir=root)
    job, bjob = our_job(n_steps, width, prefix), bare_job(n_steps, width)
    execute(job)
    execute(bjob)
    ours_t, bare_t = [], []
    for rep in range(repeat):
        if rep % 2:
            bare_t.append(execute(bjob)[0])
        seconds, result = execute(job)
        if cache_hits(result) != n_steps:
            raise RuntimeError(f"expected {n_steps} cache hits, got {cache_hits(result)}")
        ours_t.append(seconds)
        if not rep % 2:
            bare_t.append(execute(bjob)[0])
    return Timing(ours_t), Timing(bare_t)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions per case")
    parser.add_argument("--fresh", type=int, default=None, help="steps in (a) (default 100)")
    parser.add_argument("--rerun", type=int, default=None, help="steps in (b) (default 500)")
    parser.add_argument("--width", type=int, default=DEFAULT_WIDTH, help="steps per layer")
    parser.add_argument("--profile", action="store_true", help="cProfile ours in (a) and (b)")
    parser.add_argument("--show-logs", action="store_true", help="keep Dagster's console logs")
    args = parser.parse_args(argv)
    global SHOW_LOGS
    SHOW_LOGS = args.show_logs
    n_fresh = args.fresh or (10 if args.quick else 100)
    n_rerun = args.rerun or (20 if args.quick else 500)
    repeat = args.repeat or (2 if args.quick else 5)
    warnings.simplefilter("ignore")  # Dagster beta/preview warnings are not what we measure
    root = tempfile.mkdtemp(prefix="marin-bench-mat-")
    try:
        fresh_runs(min(n_fresh, 10), args.width, 1, root)  # warm-up
        f_ours, f_bare = fresh_runs(n_fresh, args.width, repeat, root)
        r_ours, r_bare = rerun_runs(n_rerun, args.width, repeat, root)
        f_ratio = f_ours.median / f_bare.median
        r_ratio = r_ours.median / r_bare.median
        print(f"### In-process materialisation (layered, fan-in 2, width {args.width})\n")
        print(
            markdown_table(
                [
                    "case",
                    "steps",
                    "ours (s)",
                    "bare (s)",
                    "ours per step (ms)",
                    "bare per step (ms)",
                    "ours / bare",
                    "target",
                ],
                [
                    [
                        f"(a) fresh run, median of {len(f_ours.samples)}",
                        n_fresh,
                        fmt_s(f_ours.median),
                        fmt_s(f_bare.median),
                        fmt_ms(f_ours.median / n_fresh),
                        fmt_ms(f_bare.median / n_fresh),
                        f"**{f_ratio:.2f}x**",
                        f"≤ {FRESH_TARGET:g}x: {verdict(f_ratio, FRESH_TARGET, quick=args.quick)}",
                    ],
                    [
                        f"(b) rerun, all cache hits, median of {len(r_ours.samples)}",
                        n_rerun,
                        fmt_s(r_ours.median),
                        fmt_s(r_bare.median),
                        fmt_ms(r_ours.median / n_rerun),
                        fmt_ms(r_bare.median / n_rerun),
                        f"**{r_ratio:.2f}x**",
                        "report (no per-step re-hashing, no redundant I/O)",
                    ],
                ],
            )
        )
        print(f"\n{environment_line()}")
        if args.profile:
            prefix = tempfile.mkdtemp(prefix="profile-", dir=root)
            job = our_job(n_fresh, args.width, prefix)
            print(f"\n### cProfile, ours (a) fresh run of {n_fresh} (marin_dagster entries)\n")
            print("```")
            print(profile_top(lambda: execute(job)))
            print("```")
            job = our_job(n_rerun, args.width, prefix)
            execute(job)
            print(f"\n### cProfile, ours (b) rerun of {n_rerun} (marin_dagster entries)\n")
            print("```")
            print(profile_top(lambda: execute(job)))
            print("```")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
