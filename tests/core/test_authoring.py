"""Authoring: ``@step``, ``StepContext``, ``StepRef`` and the deprecated legacy names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

import marin_dagster
from marin_dagster import (
    Dep,
    ExecutorStep,
    InputName,
    OutputName,
    ResourceConfig,
    StepContext,
    StepRef,
    VersionedValue,
    compute_output_path,
    output_path_of,
    step,
    this_output,
    this_output_path,
    versioned,
)
from marin_dagster.core import RefKind
from marin_dagster.core.graph import StepGraph

REPO_ROOT = Path(__file__).resolve().parents[2]


def _noop(config: Any) -> None:
    return None


@step(name="auth/up", fn=_noop)
def up_step(ctx: StepContext) -> dict[str, Any]:
    return {"v": versioned("up"), "out": ctx.output}


# --- @step ------------------------------------------------------------------------------------


def test_step_returns_executor_step_with_its_parts() -> None:
    resources = ResourceConfig.with_cpu()

    @step(name="auth/plain", fn=_noop, description="does things", resources=resources)
    def plain(ctx: StepContext) -> dict[str, Any]:
        return {"v": versioned(1), "out": ctx.output}

    s = plain()
    assert isinstance(s, ExecutorStep)
    assert s.name == "auth/plain"
    assert s.fn is _noop
    assert s.description == "does things"
    assert s.resources is resources
    assert s.override_output_path is None
    assert s.config["v"] == versioned(1)
    assert isinstance(s.config["out"], StepRef) and s.config["out"].kind is RefKind.OUTPUT
    assert plain.__name__ == "plain"  # functools.wraps
    assert plain() is not s  # every call builds a new step


def test_placeholders_from_positional_keyword_and_default_args() -> None:
    @step(
        name="train/{size}/lr-{lr}-wd-{wd}",
        fn=_noop,
        description="Train {size} with lr={lr} wd={wd}",
    )
    def train(ctx: StepContext, lr: float, size: str = "small", *, wd: float = 0.1) -> dict:
        return {"lr": versioned(lr), "size": versioned(size), "wd": versioned(wd)}

    positional = train(1e-3)
    assert positional.name == "train/small/lr-0.001-wd-0.1"
    assert positional.description == "Train small with lr=0.001 wd=0.1"
    keyword = train(lr=3e-4, size="large", wd=0.0)
    assert keyword.name == "train/large/lr-0.0003-wd-0.0"
    assert keyword.description == "Train large with lr=0.0003 wd=0.0"
    assert keyword.config == {
        "lr": versioned(3e-4),
        "size": versioned("large"),
        "wd": versioned(0.0),
    }
    mixed = train(0.01, "medium", wd=1)
    assert mixed.name == "train/medium/lr-0.01-wd-1"
    sweep = [train(lr=lr) for lr in (1e-3, 3e-4)]
    assert [s.name for s in sweep] == [
        "train/small/lr-0.001-wd-0.1",
        "train/small/lr-0.0003-wd-0.1",
    ]
    assert len({compute_output_path(s, prefix="/p") for s in sweep}) == 2


def test_placeholder_format_specs_and_override_template() -> None:
    @step(name="sweep/lr-{lr:.0e}", fn=_noop, override_output_path="fixed/{tag}")
    def sweep(ctx: StepContext, lr: float, tag: str = "t") -> dict[str, Any]:
        return {"lr": versioned(lr)}

    s = sweep(0.001, tag="abc")
    assert s.name == "sweep/lr-1e-03"
    assert s.override_output_path == "fixed/abc"
    assert compute_output_path(s, prefix="/p") == "/p/fixed/abc"


def test_description_without_placeholders_or_none() -> None:
    @step(name="d/x", fn=_noop, description="literal text")
    def with_text(ctx: StepContext, n: int) -> dict[str, Any]:
        return {}

    @step(name="d/y", fn=_noop)
    def without(ctx: StepContext) -> dict[str, Any]:
        return {}

    assert with_text(1).description == "literal text"
    assert without().description is None


def test_step_passes_the_same_arguments_to_the_body() -> None:
    seen: list[tuple[Any, ...]] = []

    @step(name="args/{a}", fn=_noop)
    def body(ctx: StepContext, a: int, b: str = "x", *, c: int = 3) -> dict[str, Any]:
        seen.append((ctx.name, a, b, c))
        return {}

    body(1, c=5)
    body(a=2, b="y")
    assert seen == [("args/1", 1, "x", 5), ("args/2", 2, "y", 3)]


def test_require_records_ordering_and_returns_ref() -> None:
    up = up_step()

    @step(name="auth/down", fn=_noop)
    def down(ctx: StepContext) -> dict[str, Any]:
        ref = ctx.require(up)
        again = ctx.require(up / "x")
        assert ref.kind is RefKind.STEP and ref.step is up and ref.blocking
        assert again.subpath == "x"
        return {"in": ref, "x": again}

    s = down()
    assert s.ordering_deps == (up,)
    graph = StepGraph([s], prefix="/p")
    assert graph.blocking_deps(s) == [up]
    assert graph.scheduled_steps() == [up, s]


# --- ExecutorStep / StepRef --------------------------------------------------------------------


def test_step_slash_and_ref_are_steprefs() -> None:
    up = up_step()
    sub = up / "train"
    assert isinstance(sub, StepRef)
    assert (sub.kind, sub.step, sub.subpath, sub.blocking) == (RefKind.STEP, up, "train", True)
    whole = up.ref
    assert isinstance(whole, StepRef)
    assert (whole.kind, whole.step, whole.subpath, whole.blocking) == (RefKind.STEP, up, None, True)
    assert up.cd("train") == sub
    assert (up / "a" / "b").subpath == "a/b"
    assert (up / "a/b") == (up / "a" / "b")
    nb = up.nonblocking()
    assert isinstance(nb, StepRef) and nb.blocking is False and nb.step is up


def test_stepref_is_immutable() -> None:
    up = up_step()
    ref = up / "train"
    with pytest.raises(AttributeError):
        ref._subpath = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        ref.subpath = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        ref.anything = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        del ref._step
    deeper = ref / "part-0"
    assert ref.subpath == "train" and deeper.subpath == "train/part-0"
    nb = ref.nonblocking()
    assert ref.blocking is True and nb.blocking is False
    assert nb.subpath == "train"
    assert (nb / "x").blocking is False


def test_stepref_equality_and_hash() -> None:
    up = up_step()
    other = up_step()
    assert up / "a" == up / "a"
    assert hash(up / "a") == hash(up / "a")
    assert up / "a" != up / "b"
    assert up / "a" != other / "a"  # identity of the step, not its version
    assert up.ref != up.ref.nonblocking()
    assert len({up / "a", up / "a", up.ref}) == 2


def test_stepref_hardcoded() -> None:
    ref = StepRef.hardcoded("raw/corpus")
    assert (ref.kind, ref.step, ref.subpath, ref.blocking) == (
        RefKind.HARDCODED,
        None,
        "raw/corpus",
        True,
    )
    assert (ref / "train").subpath == "raw/corpus/train"
    assert (StepRef.hardcoded("gs://b/raw") / "x").subpath == "gs://b/raw/x"
    assert (StepRef.hardcoded("/abs") / "x").subpath == "/abs/x"
    with pytest.raises(ValueError):
        StepRef.hardcoded("")
    with pytest.raises(ValueError, match="only a reference to another step can be non-blocking"):
        ref.nonblocking()


@pytest.mark.parametrize("bad", ["", "..", "../x", "/abs", "a/../../b", "gs://x"])
def test_stepref_subpath_cannot_escape(bad: str) -> None:
    up = up_step()
    with pytest.raises(ValueError):
        up / bad
    with pytest.raises(ValueError):
        up.ref / bad


def test_stepref_is_not_a_path_at_build_time() -> None:
    up = up_step()
    with pytest.raises(TypeError):
        str(up / "x")
    with pytest.raises(TypeError):
        f"{up.ref}"
    with pytest.raises(TypeError):
        os.fspath(up.ref)
    assert "auth/up" in repr(up / "x")


def test_stepref_pickles() -> None:
    import pickle

    ref = StepRef.hardcoded("raw/x") / "y"
    assert pickle.loads(pickle.dumps(ref)) == ref


# --- StepContext ----------------------------------------------------------------------------


def test_ctx_output_and_output_subpath() -> None:
    ctx = StepContext("auth/ctx")
    out = ctx.output
    assert (out.kind, out.step, out.subpath) == (RefKind.OUTPUT, None, None)
    sub = ctx.output_subpath("ckpt")
    assert (sub.kind, sub.subpath) == (RefKind.OUTPUT, "ckpt")
    assert (out / "ckpt") == sub
    with pytest.raises(ValueError, match="only a reference to another step can be non-blocking"):
        out.nonblocking()


def test_require_nonblocking_gives_nonblocking_ref() -> None:
    up = up_step()

    @step(name="auth/watch", fn=_noop)
    def watch(ctx: StepContext) -> dict[str, Any]:
        ref = ctx.require_nonblocking(up)
        assert isinstance(ref, StepRef)
        assert (ref.kind, ref.step, ref.blocking) == (RefKind.STEP, up, False)
        sub = ctx.require_nonblocking(up / "eval")
        assert (sub.subpath, sub.blocking) == ("eval", False)
        return {"in": ref, "eval": sub}

    s = watch()
    assert s.ordering_deps == ()
    graph = StepGraph([s], prefix="/p")
    assert graph.blocking_deps(s) == []
    assert graph.pseudo_deps(s) == [up]
    assert graph.scheduled_steps() == [s]  # hashed and resolved, but not run
    assert "pseudo_dependencies" in graph.version(s).version
    assert graph.resolved_config(s)["in"] == graph.output_path(up)


def test_require_keeps_a_nonblocking_ref_nonblocking() -> None:
    up = up_step()

    @step(name="auth/keep", fn=_noop)
    def keep(ctx: StepContext) -> dict[str, Any]:
        return {"in": ctx.require(up.nonblocking())}

    s = keep()
    assert s.config["in"].blocking is False
    assert s.ordering_deps == ()


# --- the legacy API ---------------------------------------------------------------------------


def test_legacy_names_warn() -> None:
    up = up_step()
    with pytest.warns(DeprecationWarning, match="InputName"):
        InputName(up, "x")
    with pytest.warns(DeprecationWarning, match="InputName"):
        InputName.hardcoded("raw/x")
    with pytest.warns(DeprecationWarning, match="OutputName"):
        OutputName("x")
    with pytest.warns(DeprecationWarning, match="output_path_of"):
        output_path_of(up, "x")
    with pytest.warns(DeprecationWarning, match="this_output_path"):
        this_output_path()
    with pytest.warns(DeprecationWarning, match="VersionedValue"):
        VersionedValue(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        legacy_config = {"in": output_path_of(up, "x")}
    with pytest.warns(DeprecationWarning, match="'legacy/x': a config holding InputName"):
        ExecutorStep(name="legacy/x", fn=_noop, config=legacy_config)


def test_legacy_objects_behave_like_marin() -> None:
    up = up_step()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        name = output_path_of(up, "a")
        assert (name.step, name.name, name.block_on_step) == (up, "a", True)
        assert (name / "b").name == "a/b"
        assert output_path_of(up).cd("z").name == "z"
        assert name.nonblocking().block_on_step is False
        hard = InputName.hardcoded("raw/x")
        assert (hard.step, hard.name) == (None, "raw/x")
        assert this_output_path("ckpt").name == "ckpt"
        assert this_output_path().name is None
        assert VersionedValue(3).value == 3
        assert VersionedValue(3) == versioned(3)
    assert name.to_ref() == up / "a"
    assert hard.to_ref() == StepRef.hardcoded("raw/x")


def _deprecations(records: list[warnings.WarningMessage]) -> list[str]:
    return [str(r.message) for r in records if issubclass(r.category, DeprecationWarning)]


@pytest.mark.parametrize(
    ("make", "held"),
    [
        (lambda up: {"v": [VersionedValue(1)]}, "VersionedValue"),
        (lambda up: {"out": this_output_path("x")}, "OutputName"),
        (lambda up: (1, {"in": InputName.hardcoded("raw/x")}), "InputName"),
    ],
)
def test_direct_executor_step_warns_only_with_legacy_names(make: Any, held: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        config = make(up_step())
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        ExecutorStep(name="legacy/direct", fn=_noop, config=config)
    assert len(_deprecations(records)) == 1
    assert f"a config holding {held} is deprecated" in _deprecations(records)[0]


def test_option_c_executor_step_and_step_decorator_do_not_warn() -> None:
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        up = up_step()
        ExecutorStep(
            name="optc/quiet",
            fn=_noop,
            config={
                "in": up / "x",
                "raw": Dep.hardcoded("raw/x"),
                "out": this_output("o"),
                "v": versioned(1),
                "step": up,
            },
        )
    assert _deprecations(records) == []

    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")

        @step(name="new/quiet", fn=_noop)
        def quiet(ctx: StepContext, n: int = 1) -> dict[str, Any]:
            return {"v": versioned(n), "in": ctx.require(up_step()) / "x", "out": ctx.output}

        s = quiet()
        s.with_output_path("elsewhere")
        compute_output_path(s, prefix="/p")
        compute_output_path("marin/form", {"v": versioned(1)}, prefix="/p")
        StepGraph([s], prefix="/p").resolved_config(s)
    assert _deprecations(records) == []


def test_legacy_warning_points_at_the_caller() -> None:
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        ExecutorStep(name="legacy/where", fn=_noop, config={"o": OutputName(None)})
        output_path_of(up_step())
    files = {r.filename for r in records if issubclass(r.category, DeprecationWarning)}
    assert files == {__file__}


# --- import hygiene ---------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["marin_dagster.core", "marin_dagster"])
def test_importing_the_step_model_does_not_import_dagster(module: str) -> None:
    code = (
        "import json, sys\n"
        f"import {module}\n"
        "json.dump(sorted(m for m in sys.modules if m == 'dagster' or m.startswith('dagster')), "
        "sys.stdout)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(REPO_ROOT),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_public_names() -> None:
    for name in (
        "step",
        "StepContext",
        "StepRef",
        "ExecutorStep",
        "versioned",
        "Versioned",
        "Dep",
        "Output",
        "ResourceConfig",
        "InputName",
        "OutputName",
        "output_path_of",
        "this_output_path",
        "compute_output_path",
        "this_output",
        "executor_step",
        "resolved",
    ):
        assert hasattr(marin_dagster, name), name
        assert name in marin_dagster.__all__, name
