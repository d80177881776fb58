"""``marin-dagster``: Marin's dry run and status files, read from a Dagster code location.

Commands: ``plan [STEP ...] [--json] [--alone]``, ``explain STEP``, ``status [--json]``; each
takes the code location as Dagster's CLI does (``-m MODULE``, ``-f FILE``, ``-a ATTR``,
``-w workspace.yaml``; ``./workspace.yaml`` when none is given). Nothing is run or written.
``check PATH... [--json]`` reads source files (never imports them) for legacy patterns to
migrate and exits 1 when it finds any.

Example:
    $ marin-dagster plan -m definitions
"""

import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import click

from marin_dagster.cli.check import as_json as findings_json
from marin_dagster.cli.check import render as render_findings
from marin_dagster.cli.common import select, table
from marin_dagster.cli.explain import explain as explain_step
from marin_dagster.cli.loading import load_graph
from marin_dagster.cli.plan import plan as plan_steps
from marin_dagster.cli.status import status_rows
from marin_dagster.core.graph import StepGraph
from marin_dagster.core.migration_check import check_paths, python_files
from marin_dagster.core.runner import RunOptions
from marin_dagster.core.status import StatusFileError


def _location(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("-m", "--module-name", "module", help="Python module holding Definitions."),
        click.option("-f", "--python-file", "file", help="Python file holding Definitions."),
        click.option("-a", "--attribute", "attribute", help="The Definitions attribute."),
        click.option("-w", "--workspace", "workspace", help="A Dagster workspace.yaml."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _load(**location: str | None) -> tuple[StepGraph, RunOptions]:
    return load_graph(**location)


@contextlib.contextmanager
def _storage_errors() -> Iterator[None]:
    """A status file that cannot be read is a one-line error (exit 1), not a traceback."""
    try:
        yield
    except (StatusFileError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def main() -> None:
    """Plan, explain and inspect Marin steps defined as Dagster assets."""


@main.command()
@_location
@click.argument("steps", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list for scripts.")
@click.option("--alone", is_flag=True, help="Do not add the steps the selection waits for.")
def plan(steps: tuple[str, ...], as_json: bool, alone: bool, **location: str | None) -> None:
    """Marin's dry run: what a run would do now for each step (nothing is run or written)."""
    graph, options = _load(**location)
    with _storage_errors():
        rows = plan_steps(graph, options, steps, alone=alone)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
        return
    click.echo(
        table(
            ["STEP", "ACTION", "OUTPUT PATH", "REASON"],
            [[r.step, r.action, r.output_path, r.reason] for r in rows],
        )
    )


@main.command()
@_location
@click.argument("step")
def explain(step: str, **location: str | None) -> None:
    """Why STEP's version differs from the one recorded at its latest output."""
    graph, _ = _load(**location)
    matches = select(graph, [step])
    if len(matches) != 1:
        names = ", ".join(s.name for s in matches)
        raise click.UsageError(f"{step!r} matches {len(matches)} steps ({names}); name one")
    with _storage_errors():
        click.echo(explain_step(graph, matches[0]))


@main.command()
@_location
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list for scripts.")
def status(as_json: bool, **location: str | None) -> None:
    """Each step's status, lease holder and age, and output path."""
    graph, options = _load(**location)
    with _storage_errors():
        rows = status_rows(graph, options)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
        return

    def lease(r: Any) -> str:
        if r.lease_holder is None:
            return "-"
        return f"{r.lease_holder} ({r.lease_age_s:g}s{'' if r.lease_live else ', stale'})"

    click.echo(
        table(
            ["STEP", "STATUS", "LEASE (AGE)", "OUTPUT PATH"],
            [[r.step, r.status or "none", lease(r), r.output_path] for r in rows],
        )
    )


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list for scripts.")
def check(paths: tuple[str, ...], as_json: bool) -> None:
    """Legacy patterns (seed 000 phases 2-5) in PATHS; exit 1 when any is found."""
    findings = check_paths(paths)
    if as_json:
        click.echo(findings_json(findings))
    else:
        click.echo(render_findings(findings, sum(1 for _ in python_files(paths))))
    if findings:
        raise SystemExit(1)
