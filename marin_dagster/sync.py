"""Storage is the truth the UI shows: record steps already ``SUCCESS`` without running anything.

``build_definitions`` adds the job ``sync_from_storage`` and the sensor
``sync_from_storage_sensor`` (``STOPPED`` until turned on). Both read each step's status at its
**current** output path (one read of ``.executor_status``, plus ``.executor_info`` and the lease
when there is something to record) and record in the Dagster instance:

- ``SUCCESS`` → an ``AssetMaterialization`` (not an observation: Dagster counts only
  materializations as "Materialized", for staleness and for the graph's status) with the
  metadata a cache-hit run gives (``marin/materialized_path``, ``marin/materialized_version``,
  ``marin/cache_hit``, ``marin/duration_s``, ``marin/config``), the ``.executor_info`` as found
  (``marin/executor_info``), ``marin/synced_from_storage = true`` and the provenance tags a run
  gives (code version, data version = the Marin version, its inputs' data versions), so neither
  the asset nor its dependents show as stale.
- ``RUNNING`` (or ``FAILED``, ...) → an ``AssetObservation`` with ``marin/storage_status``, the
  path and the lease holder and age. Dagster shows an asset as "Materializing" only while one of
  *its own* runs that planned it is in progress; a Marin executor's (or another instance's) run
  is not one, so an observation is what Dagster allows.

Nothing is written under the prefix and no ``fn`` is called. **Idempotent**: a step whose latest
materialization in this instance already recorded its current output path (by a run or a
sync) gets no new one, and an observation is recorded only when the status, path or lease
holder differ from the latest observation (a ``SUCCESS`` step whose latest observation said
otherwise gets a ``SUCCESS`` observation with its materialization, so the UI does not keep
showing ``RUNNING``). Observations are looked up only for steps the sync records or that are not
``SUCCESS``: an up-to-date step costs one status read and no query beyond one batched lookup.

The job runs its one op in process (it never forks a worker or reaches a backend); the sensor
records the same events itself (no run per tick) every ``SYNC_INTERVAL_S`` when turned on.

Example:
    >>> defs = build_definitions(steps)  # doctest: +SKIP
    >>> job = defs.resolve_job_def("sync_from_storage")  # doctest: +SKIP
    >>> job.execute_in_process(instance=instance).success  # doctest: +SKIP
    True
"""

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import dagster as dg

from marin_dagster import metadata_keys as keys
from marin_dagster._compat import (
    CODE_VERSION_TAG,
    DATA_VERSION_TAG,
    DEFAULT_DATA_VERSION,
    NULL_DATA_VERSION,
    NULL_EVENT_POINTER,
    get_input_data_version_tag,
    get_input_event_pointer_tag,
)
from marin_dagster.assets import materialization_metadata, step_storage
from marin_dagster.core.graph import AnyStep, StepGraph
from marin_dagster.core.lease import StepLease
from marin_dagster.core.runner import RunOptions, to_jsonable
from marin_dagster.core.status import StatusFileError, StepStatus, read_info, read_status
from marin_dagster.io_manager import IO_MANAGER_KEY

SYNC_JOB = "sync_from_storage"
SYNC_SENSOR = "sync_from_storage_sensor"
SYNC_INTERVAL_S = 300
"""Seconds between sensor ticks: each tick reads one status file per step."""
_READER_ID = "marin-dagster-sync (read only)"

T = TypeVar("T")
AssetEvent = dg.AssetMaterialization | dg.AssetObservation


@dataclasses.dataclass(frozen=True)
class SyncTarget:
    """A step and its asset key, as ``build_definitions`` keyed it."""

    step: AnyStep
    key: dg.AssetKey
    deps: tuple[dg.AssetKey, ...] = ()
    """Keys of the asset's dependencies (steps and view nodes), for data-version provenance."""


class StorageReadError(RuntimeError):
    """A step's status or info file cannot be read; the message names the step and the file."""


def storage_events(
    graph: StepGraph,
    targets: Sequence[SyncTarget],
    instance: dg.DagsterInstance,
    options: RunOptions | None = None,
) -> list[AssetEvent]:
    """The events that bring ``instance`` in line with storage (empty when they agree).

    Example:
        >>> storage_events(graph, targets, dg.DagsterInstance.ephemeral())  # doctest: +SKIP
        [AssetMaterialization(asset_key=AssetKey(['data', 'raw']), ...)]
    """
    options = options or RunOptions()
    records = {r.asset_entry.asset_key: r.asset_entry for r in _records(instance, targets)}
    data_versions: dict[dg.AssetKey, str] = {}  # targets come dependencies first
    events: list[AssetEvent] = []
    for target in targets:
        path = graph.output_path(target.step)
        start = time.monotonic()
        status = _read(target.step, ".executor_status", read_status, path)
        if status is None:
            continue
        entry = records.get(target.key)
        last = entry.last_materialization if entry else None
        if last is not None:
            data_versions[target.key] = (last.tags or {}).get(
                DATA_VERSION_TAG, NULL_DATA_VERSION.value
            )
        if status is StepStatus.SUCCESS:
            if _materialized_path(last) == path:
                continue  # recorded already, by a run or an earlier sync
            tags = _provenance(graph, target, data_versions, records)
            data_versions[target.key] = tags[DATA_VERSION_TAG]
            events.append(_materialization(graph, target, path, time.monotonic() - start, tags))
            observed = _observed(instance, target.key)
            if observed is not None and observed != (path, status.value, None):
                events.append(_observation(target, path, status, None))
            continue
        lease = StepLease(path, worker_id=_READER_ID, timeout=options.lease_timeout).read()
        if _observed(instance, target.key) != (path, status.value, lease.holder if lease else None):
            events.append(_observation(target, path, status, lease))
    return events


def _records(instance: dg.DagsterInstance, targets: Sequence[SyncTarget]) -> Sequence[Any]:
    return instance.get_asset_records([t.key for t in targets]) if targets else []


def _read(step: AnyStep, file: str, read: Callable[[str], T], path: str) -> T:
    try:
        return read(path)
    except (StatusFileError, ValueError, OSError) as e:
        raise StorageReadError(f"step {step.name!r}: cannot read its {file}: {e}") from e


def _materialized_path(event: dg.EventLogEntry | None) -> str | None:
    """The output path a materialization recorded (``marin/output_path`` in older events)."""
    materialization = event.asset_materialization if event is not None else None
    if materialization is None:
        return None
    value = materialization.metadata.get(keys.MATERIALIZED_PATH) or materialization.metadata.get(
        keys.OUTPUT_PATH
    )
    return None if value is None else str(getattr(value, "path", value))


def _observed(instance: dg.DagsterInstance, key: dg.AssetKey) -> tuple[str, str, str | None] | None:
    """(path, status, lease holder) of the latest status observation of ``key``, if any."""
    found = instance.fetch_observations(key, limit=1).records
    observation = found[0].event_log_entry.asset_observation if found else None
    if observation is None or keys.STORAGE_STATUS not in observation.metadata:
        return None
    meta = observation.metadata
    holder = meta.get(keys.LEASE_HOLDER)
    path = meta.get(keys.OBSERVED_PATH)
    return (
        str(getattr(path, "path", path)),
        str(getattr(meta[keys.STORAGE_STATUS], "value", meta[keys.STORAGE_STATUS])),
        None if holder is None else str(getattr(holder, "value", holder)),
    )


def _provenance(
    graph: StepGraph,
    target: SyncTarget,
    data_versions: dict[dg.AssetKey, str],
    records: dict[dg.AssetKey, Any],
) -> dict[str, str]:
    """The tags a run gives a materialization, so Dagster does not judge it stale.

    Its data version is the step's Marin version (which already folds in its upstream
    versions); each input's is what the instance holds for it now (a view node, never
    materialized, has Dagster's initial one).
    """
    tags = {
        CODE_VERSION_TAG: graph.version(target.step).hash,
        DATA_VERSION_TAG: graph.version(target.step).hash,
    }
    for dep in target.deps:
        if dep in data_versions:
            version = data_versions[dep]
        else:
            version = (DEFAULT_DATA_VERSION if dep not in records else NULL_DATA_VERSION).value
        tags[get_input_data_version_tag(dep)] = version
        tags[get_input_event_pointer_tag(dep)] = NULL_EVENT_POINTER
    return tags


def _materialization(
    graph: StepGraph, target: SyncTarget, path: str, read_s: float, tags: dict[str, str]
) -> dg.AssetMaterialization:
    step = target.step
    version = graph.version(step).hash
    info = _read(step, ".executor_info", read_info, path)
    metadata = materialization_metadata(
        path,
        version,
        cache_hit=True,
        duration_s=read_s,
        config_json=to_jsonable(graph.resolved_config(step)),
    )
    metadata[keys.EXECUTOR_INFO] = dg.MetadataValue.json(info if info is not None else {})
    metadata[keys.SYNCED] = dg.MetadataValue.bool(True)
    return dg.AssetMaterialization(
        asset_key=target.key,
        description=f"{step.name}: SUCCESS found at {path} (synced from storage; nothing ran)",
        metadata=metadata,
        tags=tags,
    )


def _observation(
    target: SyncTarget, path: str, status: StepStatus, lease: Any
) -> dg.AssetObservation:
    metadata: dict[str, dg.MetadataValue] = {
        keys.STORAGE_STATUS: dg.MetadataValue.text(status.value),
        keys.OBSERVED_PATH: dg.MetadataValue.path(path),
        keys.SYNCED: dg.MetadataValue.bool(True),
    }
    if lease is not None:
        metadata[keys.LEASE_HOLDER] = dg.MetadataValue.text(lease.holder)
        metadata[keys.LEASE_AGE] = dg.MetadataValue.float(round(time.time() - lease.timestamp, 1))
    return dg.AssetObservation(
        asset_key=target.key,
        description=f"{target.step.name}: {status.value} at {path} (synced from storage)",
        metadata=metadata,
    )


def _summary(events: Sequence[AssetEvent]) -> str:
    materialized = sum(isinstance(e, dg.AssetMaterialization) for e in events)
    return (
        f"sync from storage: {materialized} step(s) recorded as materialized, "
        f"{len(events) - materialized} status observation(s); nothing ran, nothing was written"
    )


def build_sync_job(
    graph: StepGraph, targets: Sequence[SyncTarget], options: RunOptions
) -> dg.JobDefinition:
    """The ``sync_from_storage`` job: one in-process op recording :func:`storage_events`."""

    @dg.op(
        name=f"marin_{SYNC_JOB}",
        required_resource_keys={IO_MANAGER_KEY},
        description="Records steps already SUCCESS on storage; calls no step function.",
    )
    def sync_op(context: dg.OpExecutionContext) -> None:
        with step_storage(context.resources):
            events = storage_events(graph, targets, context.instance, options)
        for event in events:
            context.log_event(event)
        context.log.info(_summary(events))

    @dg.job(
        name=SYNC_JOB,
        executor_def=dg.in_process_executor,
        description=f"Record Marin steps already SUCCESS under {graph.prefix} (runs nothing).",
    )
    def sync_job() -> None:
        sync_op()

    return sync_job


def build_sync_sensor(
    graph: StepGraph, targets: Sequence[SyncTarget], options: RunOptions
) -> dg.SensorDefinition:
    """The sensor of the same purpose, off by default; it records events without a run."""

    @dg.sensor(
        name=SYNC_SENSOR,
        minimum_interval_seconds=SYNC_INTERVAL_S,
        default_status=dg.DefaultSensorStatus.STOPPED,
        required_resource_keys={IO_MANAGER_KEY},
        description=(
            "Records Marin steps already SUCCESS on storage (and RUNNING ones as observations), "
            "as the sync_from_storage job does, without launching a run. Off by default."
        ),
    )
    def sync_sensor(
        context: dg.SensorEvaluationContext, **resources: Any
    ) -> dg.SensorResult | dg.SkipReason:
        with step_storage(context.resources):
            events = storage_events(graph, targets, context.instance, options)
        if not events:
            return dg.SkipReason("storage and the instance agree")
        return dg.SensorResult(asset_events=events)

    return sync_sensor
