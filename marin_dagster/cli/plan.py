"""``plan``: Marin's dry run, per step what a run would do now (nothing is run or written).

Rules, per step in dependency order (status and lease read once each):

- ``SUCCESS`` → ``cache_hit``.
- ``FAILED`` / ``DEP_FAILED`` → ``rerun_failed``; ``blocked`` when ``force_run_failed`` is off.
- ``RUNNING`` under a live lease → ``wait``; under a stale lease or none → ``run`` (takeover).
- no status (or a legacy token) → ``run``.
- A step that is not ``cache_hit`` becomes ``blocked`` when a step it waits for is ``blocked``,
  or (``--alone``) is not selected and not ``SUCCESS``. A step whose upstream will run or is
  awaited stays ``run``: the executor runs it after its upstream, in the same run.
"""

import dataclasses
from collections.abc import Sequence

from marin_dagster.cli.common import read_lease, select, with_upstream
from marin_dagster.core.graph import AnyStep, StepGraph
from marin_dagster.core.runner import RunOptions
from marin_dagster.core.status import StepStatus, read_status


@dataclasses.dataclass(frozen=True)
class PlanRow:
    step: str
    output_path: str
    action: str
    reason: str
    status: str | None


def _own_action(path: str, options: RunOptions) -> tuple[str, str, StepStatus | None]:
    status = read_status(path)
    if status is StepStatus.SUCCESS:
        return "cache_hit", "SUCCESS recorded", status
    if status is StepStatus.FAILED or status is StepStatus.DEP_FAILED:
        if options.force_run_failed:
            return "rerun_failed", f"previous status {status.value}; force_run_failed", status
        return "blocked", f"failed previously ({status.value}); force_run_failed is off", status
    if status is StepStatus.RUNNING:
        lease, live = read_lease(path, options.lease_timeout)
        if live:
            assert lease is not None
            return "wait", f"RUNNING under a live lease held by {lease.holder}", status
        why = "a stale lease" if lease is not None else "no lease"
        return "run", f"RUNNING with {why}: would take over", status
    if status is None:
        return "run", "no status recorded", status
    return "run", f"legacy status {status.value}", status


def plan(
    graph: StepGraph,
    options: RunOptions,
    patterns: Sequence[str] = (),
    *,
    alone: bool = False,
) -> list[PlanRow]:
    """What a run of the selected steps (all scheduled steps by default) would do now."""
    chosen: list[AnyStep]
    if not patterns:
        chosen = graph.scheduled_steps()
    elif alone:
        chosen = select(graph, patterns)
    else:
        chosen = with_upstream(graph, select(graph, patterns))
    in_plan = {id(s) for s in chosen}
    actions: dict[int, str] = {}
    rows: list[PlanRow] = []
    for s in chosen:
        path = graph.output_path(s)
        action, reason, status = _own_action(path, options)
        if action != "cache_hit":
            for dep in graph.blocking_deps(s):
                if id(dep) in in_plan and actions[id(dep)] == "blocked":
                    action, reason = "blocked", f"waits for {dep.name}, which is blocked"
                    break
                if id(dep) not in in_plan and read_status(graph.output_path(dep)) is not (
                    StepStatus.SUCCESS
                ):
                    action, reason = "blocked", f"waits for {dep.name}: not SUCCESS, not selected"
                    break
        actions[id(s)] = action
        rows.append(PlanRow(s.name, path, action, reason, status.value if status else None))
    return rows
