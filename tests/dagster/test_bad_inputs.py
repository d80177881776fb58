"""Bad input catalogue: each fails early and clearly, naming the step and field, writing nothing.

Definition-time mistakes raise ``StepDefinitionError`` (``.step``, ``.field``) before any path
is created; what can only be known at run time (a prefix that cannot be written) fails before
the first step runs, with nothing written or marked done. Names with characters Dagster rejects
are mapped (their output paths keep the real name), and a relative prefix is made absolute.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from marin_dagster import (
    ExecutorStep,
    ResourceConfig,
    StepContext,
    build_definitions,
    compute_output_path,
    step,
    versioned,
)
from marin_dagster.core.errors import StepDefinitionError


def _noop(config: Any) -> None:
    return None


def _make(name: str, **extra: Any) -> ExecutorStep[Any]:
    @step(name=name, fn=_noop)
    def factory(ctx: StepContext) -> dict[str, Any]:
        return {"v": versioned(name), "out": ctx.output, **extra}

    return factory()


@step(name="bad/factory", fn=_noop)
def uncalled_factory(ctx: StepContext) -> dict[str, Any]:
    return {"out": ctx.output}


def _nothing_written(prefix: Path) -> bool:
    return not prefix.exists() or not any(prefix.iterdir())


def _run_all(defs: dg.Definitions) -> Any:
    return defs.resolve_job_def("all_steps").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("part", ["mmlu 5-shot", "acc:top1", "caf\u00e9", "a@b", "a,b", "a[b]"])
def test_names_dagster_rejects_are_mapped_in_the_key_only(tmp_path: Path, part: str) -> None:
    the_step = _make(f"eval/{part}")
    defs = build_definitions(the_step, prefix=str(tmp_path))
    mapped = dg.AssetKey(
        ["eval", "".join(c if c.isascii() and (c.isalnum() or c in "_.-") else "_" for c in part)]
    )
    spec = defs.resolve_assets_def(mapped).get_asset_spec(mapped)
    assert spec.metadata["marin/step_name"] == f"eval/{part}"
    expected_path = compute_output_path(the_step, prefix=str(tmp_path))
    assert expected_path.startswith(f"{tmp_path}/eval/{part}-")  # the real name, as Marin
    assert _run_all(defs).success
    assert (Path(expected_path) / ".executor_status").read_text().strip() == "SUCCESS"


def test_names_that_map_to_one_key_name_both(tmp_path: Path) -> None:
    spaced, underscored = _make("eval/a b"), _make("eval/a_b")
    with pytest.raises(StepDefinitionError) as info:
        build_definitions([spaced, underscored], prefix=str(tmp_path))
    assert info.value.field == "name"
    assert "eval/a b" in str(info.value) and "eval/a_b" in str(info.value)
    assert _nothing_written(tmp_path)


@pytest.mark.parametrize("name", ["eval/" + "x" * 249, "y" * 256 + "/ok", "eval/" + "\u00e9" * 125])
def test_names_too_long_for_a_file_system(name: str) -> None:
    with pytest.raises(StepDefinitionError) as info:
        _make(name)
    assert (info.value.step, info.value.field) == (name, "name")
    assert "too long" in str(info.value)


def test_longest_name_part_that_fits() -> None:
    the_step = _make("eval/" + "x" * 248)
    assert len(os.path.basename(compute_output_path(the_step, prefix="/p"))) == 255


# --- resources ------------------------------------------------------------------------------


@pytest.mark.parametrize("resources", ["tpu", {"gpu": 1}, ResourceConfig])
def test_resources_not_a_resource_config(resources: Any) -> None:
    with pytest.raises(StepDefinitionError) as info:
        step(name="bad/res", fn=_noop, resources=resources)
    assert (info.value.step, info.value.field) == ("bad/res", "resources")
    assert "ResourceConfig.with_" in str(info.value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(StepDefinitionError) as info:
            ExecutorStep(name="bad/legacy", fn=_noop, config={}, resources=resources)
    assert (info.value.step, info.value.field) == ("bad/legacy", "resources")


# --- what build_definitions is given ----------------------------------------------------------


@pytest.mark.parametrize("given", ["bad/factory", ["bad/factory"], 42, None, [None]])
def test_build_definitions_given_names_or_junk(tmp_path: Path, given: Any) -> None:
    with pytest.raises(StepDefinitionError) as info:
        build_definitions(given, prefix=str(tmp_path))
    assert info.value.field == "steps"
    if "bad/factory" in str(given):
        assert "got the str 'bad/factory'" in str(info.value)
    assert _nothing_written(tmp_path)


@pytest.mark.parametrize("wrap", [lambda f: f, lambda f: [f]], ids=["alone", "in_list"])
def test_build_definitions_given_an_uncalled_factory(tmp_path: Path, wrap: Any) -> None:
    with pytest.raises(StepDefinitionError) as info:
        build_definitions(wrap(uncalled_factory), prefix=str(tmp_path))
    assert "did you mean uncalled_factory()?" in str(info.value)
    assert "bad/factory" in str(info.value)
    assert _nothing_written(tmp_path)


# --- configs and factories ------------------------------------------------------------------


@pytest.mark.parametrize("where", ["dict", "list", "nested"])
def test_self_referencing_config(tmp_path: Path, where: str) -> None:
    @step(name="bad/loop", fn=_noop)
    def looped(ctx: StepContext) -> dict[str, Any]:
        config: dict[str, Any] = {"out": ctx.output, "inner": {"xs": [1]}}
        if where == "dict":
            config["self"] = config
        elif where == "list":
            config["inner"]["xs"].append(config["inner"]["xs"])
        else:
            config["inner"]["back"] = {"to": config}
        return config

    with pytest.raises(StepDefinitionError) as info:
        build_definitions(looped(), prefix=str(tmp_path))
    expected_field = {"dict": "self", "list": "inner.xs.[1]", "nested": "inner.back.to"}[where]
    assert (info.value.step, info.value.field) == ("bad/loop", expected_field)
    assert "contains itself" in str(info.value)
    assert _nothing_written(tmp_path)


@step(name="train/lr-{lr}", fn=_noop)
def train_step(ctx: StepContext, lr: float, warmup: int = 0) -> dict[str, Any]:
    return {"lr": versioned(lr), "warmup": warmup, "out": ctx.output}


def test_unknown_keyword_to_a_step_factory() -> None:
    with pytest.raises(StepDefinitionError) as info:
        train_step(lr=0.1, warmpu=10)  # type: ignore[call-arg]
    assert (info.value.step, info.value.field) == ("train/lr-{lr}", "warmpu")
    assert "train_step()" in str(info.value) and "lr, warmup" in str(info.value)


def test_missing_and_extra_positional_arguments_to_a_step_factory() -> None:
    with pytest.raises(StepDefinitionError, match="lr") as info:
        train_step()  # type: ignore[call-arg]
    assert info.value.step == "train/lr-{lr}"
    with pytest.raises(StepDefinitionError, match="takes: lr, warmup"):
        train_step(0.1, 2, 3)  # type: ignore[call-arg]


@pytest.mark.parametrize("method", ["require", "require_nonblocking"])
def test_require_after_the_step_was_built(method: str) -> None:
    upstream = _make("bad/up")
    kept: list[StepContext] = []

    @step(name="bad/late", fn=_noop)
    def late(ctx: StepContext) -> dict[str, Any]:
        kept.append(ctx)
        return {"out": ctx.output}

    built = late()
    with pytest.raises(StepDefinitionError) as info:
        getattr(kept[0], method)(upstream)
    assert info.value.step == "bad/late"
    assert f"ctx.{method}() was called after" in str(info.value)
    assert built.ordering_deps == ()


# --- the prefix -----------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["gss://bucket/marin", "nosuchfs://x", "", 3])
def test_prefix_with_an_unknown_protocol(prefix: Any) -> None:
    with pytest.raises(StepDefinitionError) as info:
        build_definitions(_make("pre/a"), prefix=prefix)
    assert info.value.field == "prefix"


def test_prefix_that_cannot_be_written_fails_before_the_first_step(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    defs = build_definitions(_make("pre/a"), prefix=str(blocker / "marin"))
    result = _run_all(defs)
    assert not result.success
    failure = result.failure_data_for_node("pre__a")
    assert failure is not None and failure.error is not None
    text = failure.error.to_string()
    assert "PrefixNotWritableError" in text and "a_file" in text and "not a folder" in text
    assert blocker.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_relative_prefix_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    the_step = _make("pre/rel")
    defs = build_definitions(the_step, prefix="outputs/marin")
    key = dg.AssetKey(["pre", "rel"])
    path = str(defs.resolve_assets_def(key).get_asset_spec(key).metadata["marin/output_path"].path)
    assert path == compute_output_path(the_step, prefix=str(tmp_path / "outputs" / "marin"))
    assert os.path.isabs(path)
    monkeypatch.chdir("/")  # a run worker started elsewhere writes to the same place
    assert _run_all(defs).success
    assert (Path(path) / ".executor_status").read_text().strip() == "SUCCESS"


def test_relative_marin_prefix_env_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MARIN_PREFIX", "rel_env")
    defs = build_definitions(_make("pre/env"))
    key = dg.AssetKey(["pre", "env"])
    path = str(defs.resolve_assets_def(key).get_asset_spec(key).metadata["marin/output_path"].path)
    assert path.startswith(str(tmp_path / "rel_env") + "/pre/env-")
