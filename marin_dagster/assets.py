"""One executable Dagster asset per step: the op runs the step against its status files.

Example:
    >>> asset = build_step_asset(step, spec, graph)  # doctest: +SKIP
"""

import dagster as dg

from marin_dagster import metadata_keys as keys
from marin_dagster.core.graph import AnyStep, StepGraph
from marin_dagster.core.prefix import check_writable
from marin_dagster.core.runner import RunOptions, run_step
from marin_dagster.io_manager import IO_MANAGER_KEY
from marin_dagster.translator import sanitize_name


def op_name_for(key: dg.AssetKey) -> str:
    """The op name for ``key``: ``tokenize/fineweb`` → ``tokenize__fineweb``."""
    return sanitize_name("__".join(key.path))


def build_step_asset(
    step: AnyStep,
    spec: dg.AssetSpec,
    graph: StepGraph,
    *,
    op_name: str,
    options: RunOptions,
) -> dg.AssetsDefinition:
    """An asset whose op resolves the step's config and runs it (or reports a cache hit)."""
    op_tags: dict[str, str] = {keys.STEP_NAME: step.name}
    if step.resources is not None:
        op_tags[keys.RESOURCES_TAG] = step.resources.to_json()

    @dg.multi_asset(
        specs=[spec.with_io_manager_key(IO_MANAGER_KEY)],
        name=op_name,
        op_tags=op_tags,
    )
    def _run(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        check_writable(graph.prefix)  # once per process: before anything is written there
        result = run_step(step, graph, options)
        if result.cache_hit:
            context.log.info(f"{step.name}: SUCCESS already recorded at {result.output_path}")
        return dg.MaterializeResult(
            metadata={
                keys.OUTPUT_PATH: dg.MetadataValue.path(result.output_path),
                keys.CACHE_HIT: result.cache_hit,
                keys.DURATION: dg.MetadataValue.float(round(result.duration_s, 6)),
                keys.RESOLVED_CONFIG: dg.MetadataValue.json(result.config_json),
            }
        )

    return _run
