"""MarinStepsComponent: the same Definitions as build_definitions, from defs.yaml attributes."""

from pathlib import Path

import dagster as dg
import pytest
from dagster import component_defs
from dagster._core.definitions.job_base import InMemoryJob  # the IJob Dagster runs wrap
from pipelines import counting

from marin_dagster import MarinStepsComponent, build_definitions
from marin_dagster.definitions_builder import step_graph_of
from marin_dagster.launch.executor import MarinExecutor

COUNTING = "pipelines.counting:STEPS"


def _component(**attributes: object) -> MarinStepsComponent:
    return MarinStepsComponent.from_attributes_dict(attributes=dict(attributes))


def _step_specs(defs: dg.Definitions) -> dict[str, tuple[str | None, str]]:
    """Step name → (asset code version, output path) for every step in ``defs``."""
    graph = step_graph_of(defs)
    versions = {
        key.to_user_string(): spec.code_version
        for assets_def in defs.assets or ()
        if isinstance(assets_def, dg.AssetsDefinition)
        for key, spec in zip(assets_def.keys, assets_def.specs, strict=True)
    }
    return {s.name: (versions[s.name], graph.output_path(s)) for s in graph.steps}


def test_component_builds_what_build_definitions_builds(tmp_path: Path) -> None:
    defs = component_defs(component=_component(steps=COUNTING, prefix=str(tmp_path)))
    expected = build_definitions(list(counting.STEPS.values()), prefix=str(tmp_path))
    assert _step_specs(defs) == _step_specs(expected)
    assert set(_step_specs(defs)) == set(counting.ALL_NAMES)
    assert sorted(job.name for job in defs.jobs or ()) == sorted(
        job.name for job in expected.jobs or ()
    )
    assert step_graph_of(defs).prefix == str(tmp_path)


def test_steps_may_be_a_list_of_paths(tmp_path: Path) -> None:
    defs = component_defs(
        component=_component(
            steps=["pipelines.counting:STEPS", "definitions.pipeline:STEPS"], prefix=str(tmp_path)
        )
    )
    keys = set(_step_specs(defs))
    assert set(counting.ALL_NAMES) <= keys
    assert "data/corpus" in keys


def test_executor_attributes_configure_marin_executor(tmp_path: Path) -> None:
    component = _component(
        steps=COUNTING,
        prefix=str(tmp_path),
        executor={"max_concurrent": 2, "backends": {"tpu": {"ray": {"address": "10.0.0.2:6379"}}}},
        group_jobs=False,
    )
    defs = component_defs(component=component)
    assert sorted(job.name for job in defs.jobs or ()) == ["all_steps", "sync_from_storage"]
    job = defs.resolve_job_def("all_steps")
    assert job.executor_def.name == "marin"
    # The executor a run of this job would get, with no run config: the component's settings.
    with dg.DagsterInstance.ephemeral() as instance:
        init = dg.InitExecutorContext(
            job=InMemoryJob(job),
            executor_def=job.executor_def,
            executor_config={},
            instance=instance,
        )
        executor = job.executor_def.executor_creation_fn(init)  # type: ignore[misc]
    assert isinstance(executor, MarinExecutor)
    assert executor.settings.max_concurrent == 2
    assert executor.settings.backend_for("tpu").describe() == "ray at 10.0.0.2:6379"
    assert executor.settings.backend_for("cpu").kind == "local"


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"steps": "pipelines.counting"}, "'pipelines.counting' is not 'module:attribute'"),
        ({"steps": []}, "name at least one"),
        ({"steps": COUNTING, "executor": {"backends": {"tpu": {"nope": {}}}}}, "nope"),
        ({"steps": COUNTING, "executor": {"max_concurrent": 0}}, "max_concurrent"),
    ],
)
def test_bad_attributes_fail_at_load_naming_the_field(
    attributes: dict[str, object], message: str
) -> None:
    with pytest.raises(Exception, match=message):
        _component(**attributes)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("no_such_module_xyz:STEPS", "cannot import module 'no_such_module_xyz'"),
        ("pipelines.counting:NOPE", "'pipelines.counting' has no attribute 'NOPE'"),
    ],
)
def test_steps_that_cannot_be_found_are_named(steps: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        component_defs(component=_component(steps=steps))


def test_the_command_line_reads_the_graph_of_a_component_built_code_location() -> None:
    # Dagster copies the AssetsDefinitions a component returns; the step graph survives that.
    import definitions

    graph = step_graph_of(definitions.defs)
    assert {s.name for s in graph.steps} >= {"data/corpus", "tokenize/corpus"}
