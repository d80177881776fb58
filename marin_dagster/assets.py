"""One executable Dagster asset per step: the op runs the step against its status files.

Example:
    >>> asset = build_step_asset(step, spec, graph)  # doctest: +SKIP
"""

import contextlib
import json
import warnings
from collections.abc import Iterator
from typing import Any

import dagster as dg

from marin_dagster import metadata_keys as keys
from marin_dagster.core.gcs import GcsSettings, use_gcs
from marin_dagster.core.graph import AnyStep, StepGraph
from marin_dagster.core.pools import pool_for
from marin_dagster.core.prefix import check_writable
from marin_dagster.core.runner import RunOptions, run_step
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
        if result.cache_hit:
            context.log.info(
                f"{step.name}: SUCCESS already recorded at {result.output_path} (cache hit)"
            )
        else:
            backend = result.ran_on.get("backend", "inline")
            context.log.info(f"{step.name}: ran in {result.duration_s:.2f} s on {backend}")
        metadata: dict[str, object] = {
            keys.OUTPUT_PATH: dg.MetadataValue.path(result.output_path),
            keys.CACHE_HIT: result.cache_hit,
            keys.DURATION: dg.MetadataValue.float(round(result.duration_s, 6)),
            keys.RESOLVED_CONFIG: dg.MetadataValue.json(result.config_json),
        }
        if result.ran_on:
            metadata[keys.RAN_ON] = dg.MetadataValue.json(result.ran_on)
        for name, value in metrics.items():  # plotted across materializations in the UI
            metadata[f"{keys.METRIC_PREFIX}{name}"] = dg.MetadataValue.float(value)
        return dg.MaterializeResult(metadata=metadata)  # type: ignore[arg-type]

    with warnings.catch_warnings():  # resource_defs on assets is "beta", yet stable since 1.3
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.multi_asset(
            specs=[spec.with_io_manager_key(IO_MANAGER_KEY)],
            name=op_name,
            op_tags=op_tags,
            pool=pool_for(step.resources),  # GPU/TPU slots capped across runs (core/pools.py)
            required_resource_keys={keys.RUN_SETTINGS_KEY},
            resource_defs={keys.RUN_SETTINGS_KEY: settings},
        )(_run)
