"""Benchmark: building ``Definitions`` and resolving the ``all_steps`` job, vs bare Dagster.

For each size, in the same process and interleaved repetition by repetition:

* **@step calls**: building the layered step graph with ``@step`` factories (what a code
  location's module pays before ``build_definitions``; bare Dagster has no equivalent).
* **ours**: ``build_definitions(steps, prefix=...)`` then ``defs.resolve_job_def("all_steps")``
  (default options, so the per-group job ``bench_steps`` is built too).
* **bare**: one no-op ``@dagster.asset`` per step with the same keys, deps and group,
  ``Definitions(assets=..., jobs=[define_asset_job("all_steps", ...)])``, then
  ``resolve_job_def("all_steps")``.

The headline ratio is ours / bare (build + resolve), without the ``@step`` calls.

Usage: ``python bench/definitions.py [--quick] [--repeat N] [--width W] [--profile]``
Target: ratio ≤ 1.2.
"""

import argparse
import os
import sys
import tempfile
import warnings

from _graphs import (
    ALL_STEPS_JOB,
    DEFAULT_WIDTH,
    Timing,
    bare_definitions,
    build_bare_assets,
    build_layered_steps,
    environment_line,
    flat,
    fmt_s,
    markdown_table,
    profile_top,
    timed,
    verdict,
)

from marin_dagster import build_definitions

RATIO_TARGET = 1.2


def ours(steps: list, prefix: str, **options: object) -> tuple[float, float]:
    """Seconds to ``build_definitions`` and to resolve ``all_steps``."""
    build_s, defs = timed(lambda: build_definitions(steps, prefix=prefix, **options))
    resolve_s, job = timed(lambda: defs.resolve_job_def(ALL_STEPS_JOB))
    if len(job.asset_layer.executable_asset_keys) < len(steps):
        raise RuntimeError("all_steps does not cover every step")
    return build_s, resolve_s


def bare(n_steps: int, width: int) -> tuple[float, float]:
    """Seconds to build the bare assets + ``Definitions`` and to resolve ``all_steps``."""
    build_s, defs = timed(lambda: bare_definitions(build_bare_assets(n_steps, width)))
    resolve_s, _ = timed(lambda: defs.resolve_job_def(ALL_STEPS_JOB))
    return build_s, resolve_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions per size")
    parser.add_argument("--width", type=int, default=DEFAULT_WIDTH, help="steps per layer")
    parser.add_argument("--profile", action="store_true", help="cProfile ours at the largest size")
    args = parser.parse_args(argv)
    sizes = (50, 100) if args.quick else (1000, 2000, 5000)
    repeat = args.repeat or (2 if args.quick else 5)
    # Building definitions does no I/O, so the prefix need not exist.
    prefix = os.path.join(tempfile.gettempdir(), "marin-bench-definitions")
    warnings.simplefilter("ignore")  # Dagster beta/preview warnings are not what we measure

    # Warm-up: imports and first-call caches on both sides.
    ours(flat(build_layered_steps(sizes[0], args.width)), prefix)
    bare(sizes[0], args.width)

    rows = []
    for n in sizes:
        steps_t, ours_b, ours_r, bare_b, bare_r, no_groups = ([] for _ in range(6))
        for rep in range(repeat):
            seconds, layers = timed(lambda n=n: build_layered_steps(n, args.width))
            steps_t.append(seconds)
            if rep % 2:  # alternate who goes first, so drift does not favour one side
                b, r = bare(n, args.width)
                bare_b.append(b)
                bare_r.append(r)
            b, r = ours(flat(layers), prefix)
            ours_b.append(b)
            ours_r.append(r)
            if not rep % 2:
                b, r = bare(n, args.width)
                bare_b.append(b)
                bare_r.append(r)
            layers = build_layered_steps(n, args.width)
            no_groups.append(sum(ours(flat(layers), prefix, group_jobs=False)))
            del layers
        ours_t = Timing([b + r for b, r in zip(ours_b, ours_r, strict=True)])
        bare_t = Timing([b + r for b, r in zip(bare_b, bare_r, strict=True)])
        ratio = ours_t.median / bare_t.median
        rows.append(
            [
                f"{n:,}",
                fmt_s(Timing(steps_t).median),
                f"{fmt_s(Timing(ours_b).median)} + {fmt_s(Timing(ours_r).median)}",
                fmt_s(ours_t.median),
                f"{fmt_s(Timing(bare_b).median)} + {fmt_s(Timing(bare_r).median)}",
                fmt_s(bare_t.median),
                f"**{ratio:.2f}x** ({verdict(ratio, RATIO_TARGET, quick=args.quick)})",
                f"{Timing(no_groups).median / bare_t.median:.2f}x",
                f"{(ours_t.median + Timing(steps_t).median) / bare_t.median:.2f}x",
            ]
        )

    print(
        f"### Definitions + resolve `all_steps` (layered, fan-in 2, width {args.width}, "
        f"median of {repeat})\n"
    )
    print(
        markdown_table(
            [
                "steps",
                "@step calls (s)",
                "ours build + resolve (s)",
                "ours total (s)",
                "bare build + resolve (s)",
                "bare total (s)",
                f"ours / bare (target ≤ {RATIO_TARGET:g})",
                "ours, group_jobs=False / bare",
                "ours incl. @step / bare",
            ],
            rows,
        )
    )
    print(f"\n{environment_line()}")
    if args.profile:
        layers = build_layered_steps(sizes[-1], args.width)
        steps = flat(layers)
        print(f"\n### cProfile, ours at {sizes[-1]:,} steps (marin_dagster entries, cumulative)\n")
        print("```")
        print(
            profile_top(
                lambda: build_definitions(steps, prefix=prefix).resolve_job_def(ALL_STEPS_JOB)
            )
        )
        print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
