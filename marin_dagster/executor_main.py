"""``executor_main``: Marin's entry point, run through Dagster, so a Marin script runs unchanged.

Called from a script run as ``__main__``, it reads Marin's flags (``--prefix``, ``--dry_run``,
``--force_run_failed``, ``--max_concurrent``), builds the steps' Definitions and runs the
``all_steps`` job with ``marin_executor`` on the Dagster instance under ``$DAGSTER_HOME`` (or a
temporary one), printing progress over the steps (``[k/N steps] name: ran``) and the run
summary; it exits non-zero when a step failed. ``--prefix`` sets ``$MARIN_PREFIX`` for this
process and the workers it forks, as Marin's own prefix setting does.

Called while the script is imported (``dagster dev -f script.py``, ``dagster job execute -f``),
it only builds the Definitions and binds them to the module's ``defs``, so the same file can be
browsed in the UI.

Example (a Marin script)::

    from marin_dagster import executor_main
    if __name__ == "__main__":
        executor_main(steps=[tokenize_step, train_step], description="sweep")
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

import dagster as dg

from marin_dagster.definitions_builder import ALL_STEPS_JOB, build_definitions
from marin_dagster.launch.executor import PROGRESS_TAG

__all__ = ["executor_main"]

_registered: dg.Definitions | None = None
"""The Definitions of the running script, for the run's forked step workers to reconstruct."""


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def _parser(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--prefix", help="root of output paths (sets MARIN_PREFIX)")
    parser.add_argument(
        "--dry_run", nargs="?", const=True, default=False, type=_flag, help="plan only"
    )
    parser.add_argument(
        "--force_run_failed", nargs="?", const=True, default=True, type=_flag,
        help="rerun steps that FAILED before (default true)",
    )  # fmt: skip
    parser.add_argument("--max_concurrent", type=int, help="most steps at once (default: all)")
    return parser


def executor_main(
    steps: Sequence[Any],
    description: str | None = None,
    max_concurrent: int | None = None,
    *,
    argv: Sequence[str] | None = None,
) -> dg.Definitions:
    """Run ``steps`` as Marin's ``executor_main`` does, through Dagster (see the module doc)."""
    caller = sys._getframe(1).f_globals
    if caller.get("__name__") != "__main__":
        defs = build_definitions(list(steps))
        caller["defs"] = defs
        return defs
    args = _parser(description).parse_args(argv)
    if args.prefix:
        os.environ["MARIN_PREFIX"] = args.prefix
    defs = build_definitions(list(steps), force_run_failed=args.force_run_failed)
    if args.dry_run:
        _print_plan(defs)
        return defs
    cap = args.max_concurrent or max_concurrent
    run_config: dict[str, Any] = {"execution": {"config": {"max_concurrent": cap}}}
    global _registered
    _registered = defs
    with _instance() as instance:
        result = dg.execute_job(
            _reconstructable_job(),
            instance=instance,
            run_config=run_config,
            tags={PROGRESS_TAG: "true"},
        )
    if not result.success:
        raise SystemExit(1)
    return defs


def _print_plan(defs: dg.Definitions) -> None:
    """Marin's dry run: each step a run would schedule, what it would do, and where."""
    from marin_dagster.cli.plan import plan
    from marin_dagster.definitions_builder import run_options_of, step_graph_of

    for row in plan(step_graph_of(defs), run_options_of(defs)):
        print(f"[DRY RUN] {row.step}: {row.action} ({row.reason}) -> {row.output_path}")  # noqa: T201


def _instance() -> dg.DagsterInstance:
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.local_temp()


def _reconstructable_job() -> Any:
    from marin_dagster._compat import ReconstructableRepository

    repository = ReconstructableRepository.for_module(__name__, "_registered", os.getcwd())
    return repository.get_reconstructable_job(ALL_STEPS_JOB)
