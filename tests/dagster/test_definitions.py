"""Definition time (no execution): keys, groups, code versions, metadata, tags, deps, jobs."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pytest
from pipelines import chain, counting, lineage

from marin_dagster import (
    ResourceConfig,
    StepContext,
    build_definitions,
    compute_output_path,
    step,
    versioned,
)
from marin_dagster.core.errors import StepDefinitionError
from marin_dagster.core.graph import StepGraph
from marin_dagster.translator import MarinStepData, MarinTranslator

PREFIX = "/prefix/for/tests"


@pytest.fixture
def steps() -> dict[str, Any]:
    return lineage.build_steps()


@pytest.fixture
def defs(steps: dict[str, Any]) -> dg.Definitions:
    return build_definitions(
        [steps["eval/gpu"], steps["eval/curve"], steps["eval/peek"]], prefix=PREFIX
    )


def key(name: str) -> dg.AssetKey:
    return dg.AssetKey(name.split("/"))


def spec_of(defs: dg.Definitions, asset_key: dg.AssetKey) -> dg.AssetSpec:
    return defs.resolve_assets_def(asset_key).get_asset_spec(asset_key)


def parents(defs: dg.Definitions, asset_key: dg.AssetKey) -> set[dg.AssetKey]:
    return set(defs.resolve_asset_graph().get(asset_key).parent_keys)


def job_keys(defs: dg.Definitions, job: str) -> set[dg.AssetKey]:
    return set(defs.resolve_job_def(job).asset_layer.selected_asset_keys)


STEP_NAMES = ["data/raw", "train/model", "eval/gpu", "eval/curve", "side/ckpt", "eval/peek"]


def test_one_asset_per_step_keyed_by_name_split_on_slash(defs: dg.Definitions) -> None:
    executable = {
        k for k in defs.resolve_all_asset_keys() if defs.resolve_asset_graph().get(k).is_executable
    }
    assert executable == {key(n) for n in STEP_NAMES}
    assert dg.AssetKey(["train", "model"]) in executable
    assert dg.AssetKey(["train/model"]) not in executable


@pytest.mark.parametrize("name", STEP_NAMES)
def test_group_code_version_and_definition_metadata(
    defs: dg.Definitions, steps: dict[str, Any], name: str
) -> None:
    the_step = steps[name]
    spec = spec_of(defs, key(name))
    graph = StepGraph(list(steps.values()), prefix=PREFIX)
    expected_path = compute_output_path(the_step, prefix=PREFIX)
    expected_hash = expected_path.rsplit("-", 1)[1]

    assert spec.group_name == name.split("/")[0]
    assert spec.code_version == expected_hash == graph.version(the_step).hash
    assert len(spec.code_version) == 6
    assert set(spec.code_version) <= set("0123456789abcdef")
    assert expected_path == f"{PREFIX}/{name}-{expected_hash}"

    meta = spec.metadata
    assert str(meta["marin/output_path"].path) == expected_path
    assert meta["marin/version"] == expected_hash
    version_dict = meta["marin/version_dict"].data
    assert version_dict == graph.version(the_step).version
    assert version_dict["name"] == name
    # The version dict is the hash's preimage (Marin: md5 of sorted-keys JSON, first 6 hex).
    digest = hashlib.md5(json.dumps(version_dict, sort_keys=True).encode()).hexdigest()
    assert digest[:6] == expected_hash


@pytest.mark.parametrize(
    ("name", "device", "device_type"),
    [
        ("train/model", "tpu", "v5e-8"),
        ("eval/gpu", "gpu", "L4"),
        ("eval/curve", "cpu", None),
        ("data/raw", "cpu", None),
    ],
)
def test_kinds_tags_and_resources_op_tag(
    defs: dg.Definitions, steps: dict[str, Any], name: str, device: str, device_type: str | None
) -> None:
    spec = spec_of(defs, key(name))
    assert spec.kinds == {"marin", device}
    assert spec.tags["marin/device"] == device
    assert spec.tags.get("marin/device_type") == device_type

    op_tags = defs.resolve_assets_def(key(name)).op.tags
    resources: ResourceConfig | None = steps[name].resources
    if resources is None:
        assert "marin/resources" not in op_tags
    else:
        decoded = ResourceConfig.from_json(op_tags["marin/resources"])
        assert decoded == resources
        assert decoded.device_kind == device


def test_blocking_references_are_asset_deps(defs: dg.Definitions) -> None:
    assert parents(defs, key("data/raw")) == set()
    assert parents(defs, key("train/model")) == {key("data/raw")}
    assert parents(defs, key("eval/gpu")) == {key("train/model")}


def test_nonblocking_reference_goes_through_a_view_node(defs: dg.Definitions) -> None:
    view = dg.AssetKey(["train", "model.nonblocking"])
    graph = defs.resolve_asset_graph()
    assert not graph.get(view).is_executable
    assert parents(defs, view) == {key("train/model")}
    curve_parents = parents(defs, key("eval/curve"))
    assert view in curve_parents
    assert key("train/model") not in curve_parents
    assert key("data/raw") in curve_parents


def test_nonblocking_reference_does_not_order_ops_in_the_job(defs: dg.Definitions) -> None:
    job = defs.resolve_job_def("all_steps")
    structure = job.graph.dependency_structure

    def upstream_ops(op: str) -> set[str]:
        return {o.node.name for o in structure.all_upstream_outputs_from_node(op)}

    assert upstream_ops("eval__curve") == {"data__raw"}
    assert upstream_ops("eval__gpu") == {"train__model"}


def test_step_reached_only_nonblocking_is_an_asset_but_not_scheduled(
    defs: dg.Definitions,
) -> None:
    side = key("side/ckpt")
    assert defs.resolve_asset_graph().get(side).is_executable
    assert parents(defs, key("eval/peek")) == {
        key("data/raw"),
        dg.AssetKey(["side", "ckpt.nonblocking"]),
    }
    all_steps = job_keys(defs, "all_steps")
    assert side not in all_steps
    assert all_steps == {key(n) for n in STEP_NAMES if n != "side/ckpt"}


def test_all_steps_and_group_jobs_resolve(defs: dg.Definitions) -> None:
    names = {job.name for job in defs.resolve_all_job_defs()}
    assert {"all_steps", "data_steps", "train_steps", "eval_steps"} <= names
    assert job_keys(defs, "train_steps") == {key("train/model")}
    assert job_keys(defs, "eval_steps") == {key("eval/gpu"), key("eval/curve"), key("eval/peek")}
    assert job_keys(defs, "data_steps") == {key("data/raw")}


def test_two_versions_under_one_name_is_an_error_naming_both() -> None:
    first = chain.build_chain(1, salt="x")[0]
    second = chain.build_chain(1, salt="y")[0]
    paths = [compute_output_path(s, prefix=PREFIX) for s in (first, second)]
    assert paths[0] != paths[1]
    with pytest.raises(StepDefinitionError) as info:
        build_definitions([first, second], prefix=PREFIX)
    message = str(info.value)
    assert "chain/link-0" in message
    assert paths[0] in message and paths[1] in message


def test_disambiguated_keys_end_in_name_hash() -> None:
    first = chain.build_chain(1, salt="x")[0]
    second = chain.build_chain(1, salt="y")[0]
    defs = build_definitions([first, second], prefix=PREFIX, disambiguate_keys=True)
    expected = set()
    for s in (first, second):
        digest = compute_output_path(s, prefix=PREFIX).rsplit("-", 1)[1]
        expected.add(dg.AssetKey(["chain", f"link-0-{digest}"]))
    assert set(defs.resolve_all_asset_keys()) == expected
    assert job_keys(defs, "all_steps") == expected


def test_equal_versions_are_one_asset() -> None:
    a = chain.build_chain(2, salt="same")
    b = chain.build_chain(2, salt="same")
    defs = build_definitions([a[-1], b[-1]], prefix=PREFIX)
    assert set(defs.resolve_all_asset_keys()) == {key("chain/link-0"), key("chain/link-1")}


class OwnedTranslator(MarinTranslator):
    def get_asset_spec(self, data: MarinStepData) -> dg.AssetSpec:
        return super().get_asset_spec(data).replace_attributes(owners=["team:llm"])


def test_custom_translator_is_honoured() -> None:
    steps = counting.build_steps()
    defs = build_definitions([steps["eval/score"]], prefix=PREFIX, translator=OwnedTranslator())
    for name in counting.ALL_NAMES:
        spec = spec_of(defs, key(name))
        assert spec.owners == ["team:llm"]
        assert spec.code_version == compute_output_path(steps[name], prefix=PREFIX)[-6:]


def test_long_chain_builds_and_its_job_resolves(restore_recursion_limit: None) -> None:
    length = 1500
    steps = chain.build_chain(length)
    defs = build_definitions([steps[-1]], prefix=PREFIX, group_jobs=False)
    job = defs.resolve_job_def("all_steps")
    assert len(job.asset_layer.selected_asset_keys) == length
    last = key(f"chain/link-{length - 1}")
    assert parents(defs, last) == {key(f"chain/link-{length - 2}")}
    implicit = defs.resolve_implicit_global_asset_job_def()
    assert len(implicit.asset_layer.selected_asset_keys) == length


@dataclass(frozen=True)
class DownloadConfig:
    hf_id: Any
    output_path: Any


@dataclass(frozen=True)
class TokenizeConfig:
    train_paths: list[Any]
    cache_path: Any
    tokenizer: Any
    batch_size: int = 1000


def test_design_example_paths_reach_the_asset_metadata() -> None:
    """DESIGN §4's worked example: the Dagster metadata carries Marin's exact paths."""

    @step(name="download/fineweb", fn=noop)
    def download(ctx: StepContext) -> DownloadConfig:
        return DownloadConfig(hf_id=versioned("HuggingFaceFW/fineweb"), output_path=ctx.output)

    @step(name="tokenize/fineweb", fn=noop)
    def tokenize(ctx: StepContext, source: Any) -> TokenizeConfig:
        return TokenizeConfig(
            train_paths=[ctx.require(source) / "train"],
            cache_path=ctx.output,
            tokenizer=versioned("meta-llama/Llama-3-8B"),
        )

    defs = build_definitions([tokenize(download())], prefix="/p")
    for name, path in [
        ("download/fineweb", "/p/download/fineweb-2aeb1d"),
        ("tokenize/fineweb", "/p/tokenize/fineweb-ce2dd5"),
    ]:
        spec = spec_of(defs, key(name))
        assert str(spec.metadata["marin/output_path"].path) == path
        assert spec.code_version == path[-6:]
    assert parents(defs, key("tokenize/fineweb")) == {key("download/fineweb")}


EXAMPLE_STEPS = [
    "data/corpus",
    "tokenize/corpus",
    "train/lm-lr0.01",
    "train/lm-lr0.03",
    "train/lm-lr0.1",
    "eval/lm-lr0.01",
    "eval/lm-lr0.03",
    "eval/lm-lr0.1",
    "eval/learning-curve",
]


def test_example_code_location_loads() -> None:
    import definitions

    defs = definitions.defs
    assert isinstance(defs, dg.Definitions)
    view = dg.AssetKey(["train", "lm-lr0.03.nonblocking"])
    assert set(defs.resolve_all_asset_keys()) == {key(n) for n in EXAMPLE_STEPS} | {view}
    assert job_keys(defs, "all_steps") == {key(n) for n in EXAMPLE_STEPS}

    curve_parents = parents(defs, key("eval/learning-curve"))
    assert view in curve_parents
    assert key("train/lm-lr0.03") not in curve_parents
    assert parents(defs, view) == {key("train/lm-lr0.03")}
    assert not defs.resolve_asset_graph().get(view).is_executable

    train_spec = spec_of(defs, key("train/lm-lr0.03"))
    assert "tpu" in train_spec.kinds
    assert spec_of(defs, key("eval/lm-lr0.03")).kinds == {"marin", "gpu"}


# --- edge cases of naming ---------------------------------------------------------------------


def noop(config: Any) -> None:
    del config


def make_step(name: str, *deps: Any, nonblocking: tuple[Any, ...] = (), value: str = "v") -> Any:
    @step(name=name, fn=noop)
    def build(ctx: StepContext) -> dict[str, Any]:
        return {
            "deps": [ctx.require(d) for d in deps],
            "peek": [ctx.require_nonblocking(d) for d in nonblocking],
            "out": ctx.output,
            "value": versioned(value),
        }

    return build()


def test_names_that_sanitise_to_the_same_op_name_get_distinct_ops() -> None:
    first = make_step("x/a-b")
    second = make_step("x/a.b", first)
    defs = build_definitions([second], prefix=PREFIX)
    ops = {defs.resolve_assets_def(key(n)).op.name for n in ("x/a-b", "x/a.b")}
    assert len(ops) == 2
    assert all(op.startswith("x__a_b") for op in ops)
    assert job_keys(defs, "all_steps") == {key("x/a-b"), key("x/a.b")}
    assert parents(defs, key("x/a.b")) == {key("x/a-b")}


def test_groups_and_group_jobs_use_sanitised_first_segment() -> None:
    everything = make_step("all/thing")
    sweep = make_step("lr-sweep/x", everything)
    digits = make_step("1b/y", sweep)
    defs = build_definitions([digits], prefix=PREFIX)
    assert spec_of(defs, key("lr-sweep/x")).group_name == "lr_sweep"
    assert spec_of(defs, key("1b/y")).group_name == "_1b"
    assert job_keys(defs, "lr_sweep_steps") == {key("lr-sweep/x")}
    assert job_keys(defs, "_1b_steps") == {key("1b/y")}
    # A group called "all" must not shadow the all_steps job.
    assert job_keys(defs, "all_steps") == {key("all/thing"), key("lr-sweep/x"), key("1b/y")}


def test_disambiguated_keys_with_a_nonblocking_reference() -> None:
    one = make_step("t/m", value="1")
    two = make_step("t/m", value="2")
    reader = make_step("e/r", one, nonblocking=(two,))
    defs = build_definitions([reader.ref], prefix=PREFIX, disambiguate_keys=True)
    one_key = dg.AssetKey(["t", f"m-{compute_output_path(one, prefix=PREFIX)[-6:]}"])
    two_key = dg.AssetKey(["t", f"m-{compute_output_path(two, prefix=PREFIX)[-6:]}"])
    view = dg.AssetKey(["t", f"{two_key.path[-1]}.nonblocking"])
    assert parents(defs, key("e/r")) == {one_key, view}
    assert parents(defs, view) == {two_key}
    assert job_keys(defs, "all_steps") == {key("e/r"), one_key}


def test_blocking_and_nonblocking_reference_to_the_same_step_is_blocking() -> None:
    target = make_step("t/m")
    reader = make_step("e/both", target, nonblocking=(target,))
    defs = build_definitions([reader], prefix=PREFIX)
    assert parents(defs, key("e/both")) == {key("t/m")}
    assert set(defs.resolve_all_asset_keys()) == {key("t/m"), key("e/both")}


def _stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def _call_at_stack_depth(depth: int, fn: Any) -> Any:
    return fn() if _stack_depth() >= depth else _call_at_stack_depth(depth, fn)


def test_long_chain_reached_only_nonblocking_still_resolves(
    restore_recursion_limit: None,
) -> None:
    """A deep chain that ``all_steps`` does not schedule (it is read only non-blocking) is still
    in the ``chain_steps`` group job and in Dagster's implicit asset job, so those must resolve
    too, as they do when ``dagster dev`` loads the code location.

    Dagster's recursive walk (``create_adjacency_lists``) visits nodes in set order, so how deep
    it recurses varies from run to run: in a fresh interpreter 1200 links fail about half the
    time. Resolving from 700 frames deep (inside the 1000 spare frames ``build_definitions``
    budgets for its caller) makes a too-low limit fail reliably instead of by chance."""
    sys.setrecursionlimit(1000)  # a fresh interpreter's default
    length = 1200
    links = chain.build_chain(length)
    peek = make_step("eval/peek", nonblocking=(links[-1],))
    defs = build_definitions([peek], prefix=PREFIX)
    assert job_keys(defs, "all_steps") == {key("eval/peek")}

    def resolve() -> dict[str, int]:
        jobs = defs.resolve_all_job_defs()
        return {job.name: len(job.asset_layer.selected_asset_keys) for job in jobs}

    failure = None
    try:
        sizes = _call_at_stack_depth(700, resolve)
    except (RecursionError, dg.DagsterInvalidDefinitionError) as exc:
        failure = f"{exc!r} (cause: {exc.__cause__!r})"
    if failure is not None:
        pytest.fail(f"resolving the jobs of a {length}-step unscheduled chain failed: {failure}")
    assert sizes["chain_steps"] == length
    assert sizes["__ASSET_JOB"] == length + 1
    assert sizes["all_steps"] == 1


def test_a_step_named_like_a_view_node_is_a_clear_error() -> None:
    from marin_dagster import step, versioned

    def noop(config: object) -> None:
        return None

    @step(name="train/run", fn=noop)
    def train(ctx: StepContext) -> dict[str, object]:
        return {"out": ctx.output, "seed": versioned(1)}

    trained = train()

    @step(name="train/run.nonblocking", fn=noop)
    def clash(ctx: StepContext) -> dict[str, object]:
        return {"out": ctx.output}

    @step(name="eval/peek", fn=noop)
    def peek(ctx: StepContext) -> dict[str, object]:
        return {"ckpt": ctx.require_nonblocking(trained), "other": ctx.require(clash())}

    with pytest.raises(StepDefinitionError, match=r"train/run\.nonblocking") as info:
        build_definitions([peek()], prefix=PREFIX)
    assert info.value.step == "train/run"


def test_a_single_step_is_accepted_as_well_as_a_list() -> None:
    last = counting.build_steps()["eval/score"]
    one = build_definitions(last, prefix=PREFIX)
    many = build_definitions([last], prefix=PREFIX)
    keys_one = one.resolve_asset_graph().get_all_asset_keys()
    assert keys_one == many.resolve_asset_graph().get_all_asset_keys()
    assert len(keys_one) == 5
