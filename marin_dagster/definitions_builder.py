"""``build_definitions``: a step graph → ``dagster.Definitions`` (an asset per step, jobs).

Example:
    >>> defs = build_definitions([tokenize_step], prefix="gs://bucket/marin")  # doctest: +SKIP
    >>> defs.resolve_job_def("all_steps")  # doctest: +SKIP
"""

import re
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import dagster as dg

from marin_dagster import metadata_keys as keys
from marin_dagster._compat import UnresolvedAssetJobDefinition
from marin_dagster.assets import build_step_asset, op_name_for
from marin_dagster.core.describe import config_rows, config_summary_of
from marin_dagster.core.errors import StepDefinitionError
from marin_dagster.core.graph import AnyStep, StepGraph, roots_of
from marin_dagster.core.prefix import absolute_prefix
from marin_dagster.core.refs import StepRef
from marin_dagster.core.runner import RunOptions
from marin_dagster.deep_graphs import longest_chain, scope_job_builds
from marin_dagster.io_manager import IO_MANAGER_KEY, MarinPathIOManager
from marin_dagster.launch.executor import make_marin_executor, marin_executor
from marin_dagster.launch.settings import ExecutorSettings
from marin_dagster.run_settings import MarinRunSettings
from marin_dagster.sync import SyncTarget, build_sync_job, build_sync_sensor
from marin_dagster.translator import MarinStepData, MarinTranslator, sanitize_name

ALL_STEPS_JOB = "all_steps"
NONBLOCKING_SUFFIX = ".nonblocking"

# Each step asset's op → the graph and run options it was built from (read by the command
# line). Keyed by the op, not the AssetsDefinition: Dagster copies AssetsDefinitions when it
# adds attributes (a component's origin metadata, with_resources), and the copies share the op.
_BUILT_FROM: "weakref.WeakKeyDictionary[object, tuple[StepGraph, RunOptions]]" = (
    weakref.WeakKeyDictionary()
)


# Dagster derives op names from asset keys and allows only these characters in them.
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def _default_key(step: AnyStep, graph: StepGraph, conflicts: Mapping[str, Any]) -> dg.AssetKey:
    """The name split on ``/``, each character Dagster rejects mapped to ``_``."""
    parts = [_KEY_UNSAFE.sub("_", part) for part in step.name.split("/")]
    if step.name in conflicts:
        parts[-1] = f"{parts[-1]}-{graph.version(step).hash}"
    return dg.AssetKey(parts)


def _check_conflicts(graph: StepGraph, disambiguate_keys: bool) -> Mapping[str, Any]:
    conflicts = graph.name_conflicts()
    if conflicts and not disambiguate_keys:
        name, group = next(iter(conflicts.items()))
        paths = " and ".join(graph.output_path(s) for s in group)
        raise StepDefinitionError(
            f"{len(group)} different versions share this name ({paths}); rename one, or pass "
            "build_definitions(..., disambiguate_keys=True) to key them by name-hash",
            step=name,
            field="name",
        )
    return conflicts


def build_definitions(
    steps: Iterable[AnyStep | StepRef] | AnyStep | StepRef,
    *,
    prefix: str | None = None,
    translator: MarinTranslator | None = None,
    disambiguate_keys: bool = False,
    group_jobs: bool = True,
    executor: dg.ExecutorDefinition | None = marin_executor,
    executor_settings: ExecutorSettings | Mapping[str, Any] | None = None,
    assets: Sequence[Any] = (),
    resources: Mapping[str, Any] | None = None,
    force_run_failed: bool = True,
    run_options: RunOptions | None = None,
) -> dg.Definitions:
    """Definitions with one asset per step (dependencies included) and the ``all_steps`` job.

    Also the ``sync_from_storage`` job and its sensor (off by default), which record steps
    already ``SUCCESS`` on storage without running anything (:mod:`marin_dagster.sync`).

    Args:
        steps: a step, a reference, or a list of them; transitive dependencies are included.
        prefix: root of output paths (``$MARIN_PREFIX`` or ``./marin_outputs`` by default);
            a relative one is made absolute, a URL protocol fsspec does not know is refused.
        translator: customises each step's ``AssetSpec``.
        disambiguate_keys: key steps that share a name by ``name-hash`` instead of failing.
        group_jobs: also add a ``{group}_steps`` job per group (first name segment).
        executor: the run's executor: ``marin_executor`` by default (each step in its own
            forked worker, its function on the backend of its device class, every ready step
            at once); ``None`` keeps Dagster's default.
        executor_settings: settings for ``marin_executor`` in code (backends per device
            class, ``max_concurrent``); run config ``execution: config:`` overrides them.
        assets: more assets (e.g. plain ``@asset``s reading step outputs) to include.
        resources: more resources; ``marin_io_manager`` is provided, and each step asset
            binds ``marin`` (``MarinRunSettings``: per-run behaviour, set in run config).
        force_run_failed: rerun steps whose status is FAILED (Marin's default).
        run_options: lease and waiting settings (overrides ``force_run_failed``).

    Example:
        >>> defs = build_definitions([train_step])  # doctest: +SKIP
    """
    roots = roots_of(steps)
    graph = StepGraph(roots, prefix=absolute_prefix(prefix))
    translator = translator or MarinTranslator()
    options = run_options or RunOptions(force_run_failed=force_run_failed)
    if executor_settings is not None:
        if executor is not marin_executor:
            raise TypeError("executor_settings configures marin_executor; pass one or the other")
        executor = make_marin_executor(executor_settings)
    conflicts = _check_conflicts(graph, disambiguate_keys)
    keys_by_step: dict[int, dg.AssetKey] = {}
    views: dict[int, dg.AssetSpec] = {}
    step_assets: list[dg.AssetsDefinition] = []
    op_names: set[str] = set()
    settings = MarinRunSettings()
    step_by_key: dict[dg.AssetKey, AnyStep] = {}
    targets: list[SyncTarget] = []
    for s in graph.steps:  # dependencies first, so upstream keys are final
        version = graph.version(s)
        nonblocking: list[dg.AssetKey] = []
        for target in graph.pseudo_deps(s):
            view = views.get(id(target)) or _nonblocking_view(target, keys_by_step[id(target)])
            views[id(target)] = view
            nonblocking.append(view.key)
        data = MarinStepData(
            step=s,
            key=_default_key(s, graph, conflicts),
            version=version.hash,
            version_dict=version.version,
            version_str=version.version_str,
            output_path=graph.output_path(s),
            deps=[keys_by_step[id(d)] for d in graph.blocking_deps(s)],
            nonblocking_deps=nonblocking,
            config_lines=config_summary_of(rows := config_rows(s.config)),
            config_rows=rows,
        )
        spec = translator.get_asset_spec(data)
        _check_key_free(spec.key, s, step_by_key)
        keys_by_step[id(s)] = spec.key
        targets.append(SyncTarget(s, spec.key, tuple(d.asset_key for d in spec.deps)))
        op_name = op_name_for(spec.key)
        if op_name in op_names:
            op_name = f"{op_name}_{version.hash}"
        op_names.add(op_name)
        step_assets.append(
            build_step_asset(s, spec, graph, op_name=op_name, options=options, settings=settings)
        )
    _check_view_keys(views.values(), keys_by_step.values())
    scheduled = graph.scheduled_steps()
    jobs = [_job(ALL_STEPS_JOB, [keys_by_step[id(s)] for s in scheduled], executor, graph)]
    if group_jobs:
        jobs.extend(_group_jobs(step_assets, executor, graph))
    defs = dg.Definitions(
        assets=[*step_assets, *views.values(), *assets],
        jobs=[*jobs, build_sync_job(graph, targets, options)],
        sensors=[build_sync_sensor(graph, targets, options)],
        resources={IO_MANAGER_KEY: MarinPathIOManager(prefix=graph.prefix), **(resources or {})},
        executor=executor,
    )
    for asset in step_assets:
        _BUILT_FROM[asset.node_def] = (graph, options)
    return scope_job_builds(defs, longest_chain=longest_chain(graph))


def step_graph_of(defs: dg.Definitions) -> StepGraph:
    """The step graph ``build_definitions`` made ``defs``'s step assets from.

    Raises ``LookupError`` when ``defs`` holds no marin step, ``ValueError`` when its steps come
    from more than one ``build_definitions`` call.
    """
    return _built_from(defs)[0]


def run_options_of(defs: dg.Definitions) -> RunOptions:
    """The run options (``force_run_failed``, lease timeout, ...) ``defs``'s steps run with."""
    return _built_from(defs)[1]


def _built_from(defs: dg.Definitions) -> tuple[StepGraph, RunOptions]:
    assets = [a for a in defs.assets or () if isinstance(a, dg.AssetsDefinition)]
    found = {
        id(b[0]): b
        for a in assets
        if a.is_executable and (b := _BUILT_FROM.get(a.node_def)) is not None
    }
    if not found:
        raise LookupError("these Definitions hold no marin steps (made by build_definitions)")
    if len(found) > 1:
        raise ValueError("these Definitions merge several build_definitions calls")
    return next(iter(found.values()))


def _check_key_free(key: dg.AssetKey, step: AnyStep, taken: dict[dg.AssetKey, AnyStep]) -> None:
    other = taken.setdefault(key, step)
    if other is not step:
        raise StepDefinitionError(
            f"its asset key {key.to_user_string()!r} is also the key of step {other.name!r} "
            "(characters Dagster rejects in keys are mapped to '_'); rename one of them",
            step=step.name,
            field="name",
        )


def _check_view_keys(views: Iterable[dg.AssetSpec], step_keys: Iterable[dg.AssetKey]) -> None:
    taken = set(step_keys)
    for view in views:
        if view.key in taken:
            raise StepDefinitionError(
                f"the lineage node for non-blocking reads, {view.key.to_user_string()!r}, is also "
                "a step's key; rename that step",
                step=view.metadata[keys.NONBLOCKING_VIEW_OF],
                field="name",
            )


def _nonblocking_view(target: AnyStep, target_key: dg.AssetKey) -> dg.AssetSpec:
    """A lineage-only node between a step and its non-blocking readers (never executed).

    An external ``AssetSpec`` (no op): its graph node has no status and a group's "Materialize"
    skips it; kind ``view`` and tag ``marin/node`` tell it from steps (its own page still says
    "Never materialized", as for any external asset without an observation function).
    Dagster 1.13's ``is_virtual`` was evaluated and not used: it is a preview feature (a
    warning on every load) and the 1.13 UI does not render it any differently.
    """
    path = list(target_key.path)
    path[-1] += NONBLOCKING_SUFFIX
    return dg.AssetSpec(
        key=dg.AssetKey(path),
        deps=[target_key],
        group_name=sanitize_name(target.name.split("/")[0]),
        description=(
            f"Not a step: a lineage view of `{target.name}`, never run or materialized. The "
            "steps below read its output non-blockingly, while it may still be running: they "
            "do not wait for it and do not make it run."
        ),
        metadata={keys.NONBLOCKING_VIEW_OF: target_key.to_user_string()},
        kinds={keys.VIEW_KIND},
        tags={keys.NODE_TAG: "nonblocking_view"},
    )


def _job(
    name: str,
    asset_keys: Sequence[dg.AssetKey],
    executor: dg.ExecutorDefinition | None,
    graph: StepGraph,
) -> UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name,
        selection=dg.AssetSelection.assets(*asset_keys),
        executor_def=executor,
        description=f"Marin steps under {graph.prefix}",
    )


def _group_jobs(
    step_assets: Sequence[dg.AssetsDefinition],
    executor: dg.ExecutorDefinition | None,
    graph: StepGraph,
) -> list[UnresolvedAssetJobDefinition]:
    groups: dict[str, list[dg.AssetKey]] = {}
    for asset in step_assets:
        for spec in asset.specs:
            groups.setdefault(spec.group_name or "default", []).append(spec.key)
    return [
        _job(f"{group}_steps", group_keys, executor, graph)
        for group, group_keys in sorted(groups.items())
        if f"{group}_steps" != ALL_STEPS_JOB
    ]
