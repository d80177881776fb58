"""Seed 004's Option C: ``ExecutorStep`` configs without a context, ``this_output()``,
``Dep.hardcoded``, ``@executor_step`` and ``@resolved``."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pytest

from marin_dagster import (
    Dep,
    ExecutorStep,
    Output,
    ResourceConfig,
    StepContext,
    StepRef,
    Versioned,
    compute_output_path,
    executor_step,
    resolved,
    step,
    this_output,
    versioned,
)
from marin_dagster.core import RefKind, StepDefinitionError
from marin_dagster.core.graph import StepGraph


@dataclass(frozen=True)
class DownloadConfig:
    hf_id: Versioned[str]
    output_path: Output[str]


@dataclass(frozen=True)
class ProcessConfig:
    input_path: Dep[str]
    output_path: Output[str]
    batch_size: int
    learning_rate: Versioned[float]


@dataclass(frozen=True)
class ResolvedProcessConfig:
    input_path: str
    output_path: str
    batch_size: int
    learning_rate: float


received: list[Any] = []


def download(config: Any) -> None:
    received.append(config)


@resolved
def process_fn(config: ResolvedProcessConfig) -> None:
    received.append(config)


def option_c_pipeline() -> tuple[ExecutorStep[Any], ExecutorStep[Any]]:
    """Seed 004's Option C example, exactly as the seed writes it."""
    upstream_step = ExecutorStep(
        name="download/fineweb",
        fn=download,
        config=DownloadConfig(hf_id=versioned("HuggingFaceFW/fineweb"), output_path=this_output()),
    )
    process = ExecutorStep(
        name="process",
        fn=process_fn,
        config=ProcessConfig(
            input_path=upstream_step / "data",
            output_path=this_output(),
            batch_size=32,
            learning_rate=versioned(0.001),
        ),
    )
    return upstream_step, process


def tracer_pipeline() -> tuple[ExecutorStep[Any], ExecutorStep[Any]]:
    @step(name="download/fineweb", fn=download)
    def download_fineweb(ctx: StepContext) -> DownloadConfig:
        return DownloadConfig(hf_id=versioned("HuggingFaceFW/fineweb"), output_path=ctx.output)

    @step(name="process", fn=process_fn)
    def process(ctx: StepContext, upstream: ExecutorStep[Any]) -> ProcessConfig:
        return ProcessConfig(
            input_path=ctx.require(upstream) / "data",
            output_path=ctx.output,
            batch_size=32,
            learning_rate=versioned(0.001),
        )

    up = download_fineweb()
    return up, process(up)


def test_seed_example_builds_without_warning_and_infers_dependencies() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        up, process = option_c_pipeline()
    graph = StepGraph([process], prefix="/p")
    assert graph.steps == [up, process]
    assert graph.version(process).walk.dependencies == [up]
    assert graph.version(process).version["config"] == {
        "input_path": "DEP[0]/data",
        "learning_rate": 0.001,
    }


def test_seed_example_gets_the_tracer_paths_and_a_resolved_config() -> None:
    up, process = option_c_pipeline()
    t_up, t_process = tracer_pipeline()
    for prefix in ("/p", "gs://bucket/x"):
        assert compute_output_path(up, prefix=prefix) == compute_output_path(t_up, prefix=prefix)
        assert compute_output_path(process, prefix=prefix) == compute_output_path(
            t_process, prefix=prefix
        )
    graph = StepGraph([process], prefix="/p")
    config = graph.resolved_config(process)
    assert config == ProcessConfig(  # the same class, every field concrete
        input_path=f"{graph.output_path(up)}/data",  # type: ignore[arg-type]
        output_path=graph.output_path(process),  # type: ignore[arg-type]
        batch_size=32,
        learning_rate=0.001,  # type: ignore[arg-type]
    )
    received.clear()
    process.fn(config)  # type: ignore[misc]
    assert received == [config]


def test_option_c_steps_and_tracer_steps_mix_as_upstreams() -> None:
    up, _ = option_c_pipeline()

    @step(name="eval/tracer", fn=download)
    def evaluate(ctx: StepContext) -> dict[str, Any]:
        return {"model": ctx.require(up) / "model", "out": ctx.output}

    tracer_step = evaluate()
    downstream = ExecutorStep(
        name="report/option-c", fn=download, config={"eval": tracer_step / "metrics.json"}
    )
    graph = StepGraph([downstream], prefix="/p")
    assert graph.steps == [up, tracer_step, downstream]
    assert graph.resolved_config(downstream) == {
        "eval": f"{graph.output_path(tracer_step)}/metrics.json"
    }


def test_this_output_and_dep_hardcoded() -> None:
    assert this_output() == StepRef(RefKind.OUTPUT)
    assert this_output("ckpt") == StepContext("x").output_subpath("ckpt")
    assert Dep.hardcoded("raw/x") == StepRef.hardcoded("raw/x")
    assert (Dep.hardcoded("raw") / "train").subpath == "raw/train"
    s = ExecutorStep(
        name="optc/hard",
        fn=download,
        config={"raw": Dep.hardcoded("raw/x"), "gs": Dep.hardcoded("gs://b/y"), "o": this_output()},
    )
    graph = StepGraph([s], prefix="/p")
    assert graph.resolved_config(s) == {
        "raw": "/p/raw/x",
        "gs": "gs://b/y",
        "o": graph.output_path(s),
    }
    with pytest.raises(ValueError, match="non-empty str path"):
        Dep.hardcoded("")


def test_typed_field_errors_name_the_step_and_field() -> None:
    bad = ExecutorStep(
        name="optc/bad",
        fn=download,
        config=ProcessConfig(
            input_path="raw/data",  # type: ignore[arg-type]
            output_path=this_output(),
            batch_size=1,
            learning_rate=versioned(0.1),
        ),
    )
    with pytest.raises(StepDefinitionError, match=r"StepRef\.hardcoded\('raw/data'\)") as info:
        StepGraph([bad], prefix="/p")
    assert "optc/bad" in str(info.value)
    assert "input_path" in str(info.value)
    with pytest.raises(StepDefinitionError, match="build-time reference") as info:
        executor_step(name="optc/{input_path}", fn=noop)(MutableStep.config_class)()
    assert "field 'name'" in str(info.value)


# --- @executor_step ---------------------------------------------------------------------------


def noop(config: Any) -> None:
    return None


@executor_step(name="optc/process-{batch_size}", fn=noop, resources=ResourceConfig.with_cpu())
@dataclass(frozen=True)
class ProcessStep:
    input_path: Dep[str]
    output_path: Output[str] = this_output()
    batch_size: int = 32
    learning_rate: Versioned[float] = versioned(1e-3)


@executor_step(name="optc/mutable", fn=noop, description="copy ({tag})")
@dataclass  # not frozen: the defaults are immutable, so dataclass accepts them
class MutableStep:
    input_path: Dep[str] = Dep.hardcoded("raw/x")
    output_path: Output[str] = this_output("sub")
    tag: str = "a"


def test_executor_step_instances_are_steps() -> None:
    up, _ = option_c_pipeline()
    a = ProcessStep(input_path=up / "data")
    b = ProcessStep(input_path=up / "data", batch_size=64)
    assert isinstance(a, ExecutorStep) and a is not b
    assert (a.name, b.name) == ("optc/process-32", "optc/process-64")
    assert isinstance(a.config, ProcessStep.config_class)
    assert a.config.output_path == this_output()
    assert a.resources == ResourceConfig.with_cpu()
    graph = StepGraph([a], prefix="/p")
    assert graph.steps == [up, a]
    same = ExecutorStep(
        name="optc/process-32",
        fn=noop,
        config=ProcessStep.config_class(input_path=up / "data"),
    )
    assert compute_output_path(a, prefix="/p") == compute_output_path(same, prefix="/p")


def test_executor_step_defaults_and_description_template() -> None:
    s = MutableStep()
    assert s.description == "copy (a)"
    assert MutableStep(tag="b").description == "copy (b)"
    graph = StepGraph([s], prefix="/p")
    assert graph.resolved_config(s).output_path == graph.output_path(s) + "/sub"


def test_executor_step_bad_input() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'input'"):
        ProcessStep(input=Dep.hardcoded("raw/x"))  # the dataclass's own check
    with pytest.raises(StepDefinitionError, match="needs a callable fn"):
        executor_step(name="optc/x", fn="nope")  # type: ignore[arg-type]
    with pytest.raises(StepDefinitionError, match="decorates a dataclass"):
        executor_step(name="optc/x", fn=noop)(dict)
    with pytest.raises(StepDefinitionError, match="resources must be a ResourceConfig"):
        executor_step(name="optc/x", fn=noop, resources="tpu")  # type: ignore[arg-type]
    with pytest.raises(StepDefinitionError, match="name template") as info:
        executor_step(name="optc/{missing}", fn=noop)(MutableStep.config_class)()
    assert "input_path" in str(info.value)
    with pytest.raises(StepDefinitionError, match="build-time reference") as info:
        executor_step(name="optc/{input_path}", fn=noop)(MutableStep.config_class)()
    assert "field 'name'" in str(info.value)


# --- @resolved --------------------------------------------------------------------------------

PathT = TypeVar("PathT", Dep[str], str)


@dataclass(frozen=True)
class PhaseConfig(Generic[PathT]):
    input_path: PathT


def test_resolved_accepts_resolved_annotations() -> None:
    @resolved
    def generic(config: PhaseConfig[str]) -> str:
        return config.input_path

    @resolved
    def plain(config: ResolvedProcessConfig, extra: int = 1) -> int:
        return config.batch_size + extra

    assert generic(PhaseConfig("/data")) == "/data"
    assert plain(ResolvedProcessConfig("/a", "/b", 3, 0.1), extra=2) == 5
    assert plain.__name__ == "plain"


@pytest.mark.parametrize("annotation", [ProcessConfig, PhaseConfig[Dep[str]], PhaseConfig])
def test_resolved_rejects_build_phase_annotations(annotation: Any) -> None:
    def fn(config: Any) -> None: ...

    fn.__annotations__["config"] = annotation
    with pytest.raises(StepDefinitionError, match="build phase") as info:
        resolved(fn)
    assert "field 'config'" in str(info.value) and "fn" in str(info.value)


def test_resolved_rejects_an_unresolved_value() -> None:
    @resolved
    def fn(config: dict[str, Any]) -> None: ...

    fn({"a": "/x"})
    with pytest.raises(StepDefinitionError, match="still holding a reference"):
        fn({"a": Dep.hardcoded("raw/x")})


def test_resolved_checks_a_forward_reference_at_the_first_call() -> None:
    def fn(config: LaterConfig) -> None: ...  # noqa: F821 - defined below, on purpose

    checked = resolved(fn)
    fn.__globals__["LaterConfig"] = ProcessConfig
    try:
        with pytest.raises(StepDefinitionError, match="build phase"):
            checked(ResolvedProcessConfig("/a", "/b", 1, 0.1))  # type: ignore[arg-type]
    finally:
        del fn.__globals__["LaterConfig"]


def test_resolved_needs_a_config_parameter() -> None:
    with pytest.raises(StepDefinitionError, match="takes no config parameter"):
        resolved(lambda: None)


def test_dataclass_defaults_are_shared_immutable_refs() -> None:
    fields = {f.name: f for f in dataclasses.fields(ProcessStep.config_class)}
    assert fields["output_path"].default == this_output()
    with pytest.raises(AttributeError, match="immutable"):
        this_output().x = 1  # type: ignore[attr-defined]
