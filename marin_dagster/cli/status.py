"""``status``: per step its status, lease holder and age, and output path (read only)."""

import dataclasses
import time

from marin_dagster.cli.common import read_lease
from marin_dagster.core.graph import StepGraph
from marin_dagster.core.runner import RunOptions
from marin_dagster.core.status import read_status


@dataclasses.dataclass(frozen=True)
class StatusRow:
    step: str
    status: str | None
    lease_holder: str | None
    lease_age_s: float | None
    lease_live: bool | None
    output_path: str


def status_rows(graph: StepGraph, options: RunOptions) -> list[StatusRow]:
    """One row per step of the graph, in dependency order."""
    rows = []
    for s in graph.steps:
        path = graph.output_path(s)
        status = read_status(path)
        lease, live = read_lease(path, options.lease_timeout)
        rows.append(
            StatusRow(
                step=s.name,
                status=status.value if status is not None else None,
                lease_holder=lease.holder if lease else None,
                lease_age_s=round(time.time() - lease.timestamp, 1) if lease else None,
                lease_live=live if lease else None,
                output_path=path,
            )
        )
    return rows
