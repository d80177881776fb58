"""One executable Dagster asset per step: the op runs the step against its status files.

Example:
    >>> asset = build_step_asset(step, spec, graph)  # doctest: +SKIP
"""

import contextlib
import json
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg

from marin_dagster import metadata_keys as keys
from marin_dagster.core.gcs import GcsSettings, use_gcs
from marin_dagster.core.graph import AnyStep, StepGraph
from marin_dagster.core.pools import pool_for
from marin_dagster.core.prefix import check_writable
from marin_dagster.core.runner import RunOptions, run_step
from marin_dagster.core.status import StatusFileError, StepStatus, read_status
from marin_dagster.io_manager import IO_MANAGER_KEY
from marin_dagster.launch.worker import current_backend
from marin_dagster.run_settings import MarinRunSettings
from marin_dagster.translator import sanitize_name


def op_name_for(key: dg.AssetKey) -> str:
    """The op name for ``key``: ``tokenize/fineweb`` → ``tokenize__fineweb``."""
    return sanitize_name("__".join(key.path))


@contextlib.contextmanager
def step_storage(resources: Any) -> Iterator[GcsSettings | None]:
    """Activate the GCS settings of the op's IO manager (``MarinGcsIOManager.gcs``), if any."""
    settings = getattr(
        getattr(getattr(resources, IO_MANAGER_KEY, None), "gcs", None), "settings", None
    )
    current = settings() if callable(settings) else None
    if not isinstance(current, GcsSettings):
        yield None
        return
    with use_gcs(current) as active:
        yield active


def materialization_metadata(
    output_path: str,
    version: str,
    *,
    cache_hit: bool,
    duration_s: float,
    config_json: Any,
    ran_on: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
) -> dict[str, dg.MetadataValue]:
    """What a step's materialization records; a run and the storage sync give the same keys.

    No key is also a definition key (``marin/output_path``, ``marin/version``, ...): the UI
    shows an event's value in place of a definition's of the same name.

    Example:
        >>> sorted(materialization_metadata("/p/a-abc123", "abc123", cache_hit=True,
        ...     duration_s=0.0, config_json={}))[:2]
        ['marin/cache_hit', 'marin/config']
    """
    metadata: dict[str, dg.MetadataValue] = {
        keys.MATERIALIZED_PATH: dg.MetadataValue.path(output_path),
        keys.MATERIALIZED_VERSION: dg.MetadataValue.text(version),
        keys.CACHE_HIT: dg.MetadataValue.bool(cache_hit),
        keys.DURATION: dg.MetadataValue.float(round(duration_s, 6)),
        keys.RESOLVED_CONFIG: dg.MetadataValue.json(config_json),
    }
    if ran_on:
        metadata[keys.RAN_ON] = dg.MetadataValue.json(dict(ran_on))
    for name, value in (metrics or {}).items():  # plotted across materializations in the UI
        metadata[f"{keys.METRIC_PREFIX}{name}"] = dg.MetadataValue.float(value)
    return metadata


def output_check_spec(key: dg.AssetKey) -> dg.AssetCheckSpec:
    """The step's check: after each materialization, its output exists with ``SUCCESS``."""
    return dg.AssetCheckSpec(
        keys.OUTPUT_CHECK,
        asset=key,
        description="The step's output path holds a SUCCESS status (read from storage).",
        blocking=False,
    )


def output_check(key: dg.AssetKey, output_path: str) -> dg.AssetCheckResult:
    """Evaluate :func:`output_check_spec`: read the status at ``output_path`` (nothing else).

    Example:
        >>> output_check(dg.AssetKey("a"), "memory://nowhere/a-000000").passed
        False
    """
    try:
        status = read_status(output_path)
        found = status.value if status is not None else "no status"
    except StatusFileError as e:  # e.g. a directory where the status file should be
        status, found = None, str(e)
    passed = status is StepStatus.SUCCESS
    return dg.AssetCheckResult(
        passed=passed,
        asset_key=key,
        check_name=keys.OUTPUT_CHECK,
        description=f"SUCCESS at {output_path}" if passed else f"at {output_path}: {found}",
        metadata={keys.OBSERVED_PATH: dg.MetadataValue.path(output_path), "status": found},
    )


def build_step_asset(
    step: AnyStep,
    spec: dg.AssetSpec,
    graph: StepGraph,
    *,
    op_name: str,
    options: RunOptions,
    settings: MarinRunSettings,
) -> dg.AssetsDefinition:
    """An asset whose op resolves the step's config and runs it (or reports a cache hit).

    The function runs on the backend the executor chose for this step (``marin_executor``), or
    in the op's own thread under Dagster's in-process executor. ``settings`` is bound to the
    asset, so it needs no resource from the caller, and run config overrides its fields.
    """
    op_tags: dict[str, str] = {
        keys.STEP_NAME: step.name,
        keys.OUTPUT_PATH_TAG: graph.output_path(step),
        keys.DEVICE_TAG: step.resources.device_kind if step.resources is not None else "cpu",
    }
    if step.resources is not None:
        op_tags[keys.RESOURCES_TAG] = step.resources.to_json()
    if (k8s_config := spec.metadata.get(keys.K8S_CONFIG)) is not None:  # translator-set
        op_tags[keys.K8S_CONFIG] = json.dumps(getattr(k8s_config, "value", k8s_config))

    def _run(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        check_writable(graph.prefix)  # once per process: before anything is written there
        settings: MarinRunSettings = getattr(context.resources, keys.RUN_SETTINGS_KEY)
        run_options = settings.options_for(step.name, options)
        metrics: dict[str, float] = {}

        def on_report(record: dict[str, Any]) -> None:
            if record.get("kind") == "metrics":
                metrics.update(record.get("metrics") or {})
                context.log.info(f"{step.name}: metrics {record.get('metrics')}")
            elif record.get("kind") == "progress":
                total = record.get("total")
                context.log.info(f"{step.name}: progress {record.get('done')}/{total or '?'}")

        with step_storage(context.resources):
            result = run_step(step, graph, run_options, current_backend(), on_report)
            check = output_check(spec.key, result.output_path)
        if result.cache_hit:
            context.log.info(
                f"{step.name}: SUCCESS already recorded at {result.output_path} (cache hit)"
            )
        else:
            backend = result.ran_on.get("backend", "inline")
            context.log.info(f"{step.name}: ran in {result.duration_s:.2f} s on {backend}")
        metadata = materialization_metadata(
            result.output_path,
            graph.version(step).hash,
            cache_hit=result.cache_hit,
            duration_s=result.duration_s,
            config_json=result.config_json,
            ran_on=result.ran_on,
            metrics=metrics,
        )
        return dg.MaterializeResult(metadata=metadata, check_results=[check])

    def _step(
        context: dg.AssetExecutionContext,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        if spec.key in context.selected_asset_keys:
            yield _run(context)
            return
        # Only the check was selected (e.g. "Execute" on the check): read storage, run nothing.
        with step_storage(context.resources):
            yield output_check(spec.key, graph.output_path(step))

    with warnings.catch_warnings():  # resource_defs on assets is "beta", yet stable since 1.3
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.multi_asset(
            specs=[spec.with_io_manager_key(IO_MANAGER_KEY)],
            check_specs=[output_check_spec(spec.key)],
            can_subset=True,  # the check alone re-reads storage without running the step
            name=op_name,
            op_tags=op_tags,
            pool=pool_for(step.resources),  # GPU/TPU slots capped across runs (core/pools.py)
            required_resource_keys={keys.RUN_SETTINGS_KEY},
            resource_defs={keys.RUN_SETTINGS_KEY: settings},
        )(_step)
