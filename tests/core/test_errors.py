"""Clear errors, naming the step and (where there is one) the config field.

Where Marin would hash something nondeterministically (an object by its default ``repr``, a set)
or would silently accept a malformed pipeline, the project raises ``StepDefinitionError``
(``.step``, ``.field``) instead.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from typing import Any

import pytest

from marin_dagster import (
    ExecutorStep,
    StepContext,
    StepRef,
    compute_output_path,
    step,
    versioned,
)
from marin_dagster.core import StepCycleError, StepDefinitionError
from marin_dagster.core.graph import StepGraph


def _noop(config: Any) -> None:
    return None


@step(name="err/up", fn=_noop)
def up_step(ctx: StepContext) -> dict[str, Any]:
    return {"v": versioned("up"), "out": ctx.output}


def _one_step(name: str, build) -> ExecutorStep[Any]:
    @step(name=name, fn=_noop)
    def factory(ctx: StepContext) -> Any:
        return build(ctx)

    return factory()


def _graph_error(s: ExecutorStep[Any]) -> StepDefinitionError:
    with pytest.raises(StepDefinitionError) as info:
        StepGraph([s], prefix="/p")
    with pytest.raises(StepDefinitionError):
        compute_output_path(s, prefix="/p")
    return info.value


class Opaque:
    """A class with the default repr: hashed by memory address in Marin."""


def module_level_function(x: int) -> int:
    return x


@dataclasses.dataclass(frozen=True)
class HoldsOpaque:
    thing: Any


# --- references and nesting inside versioned(...) ------------------------------------------


def test_stepref_directly_inside_versioned() -> None:
    up = up_step()
    for make in (lambda ctx: up.ref, lambda ctx: ctx.require(up) / "x", lambda ctx: ctx.output):
        with pytest.raises(StepDefinitionError) as info:
            _one_step("err/direct", lambda ctx, make=make: {"paths": versioned(make(ctx))})
        assert info.value.step == "err/direct"
        assert "reference" in str(info.value)
        assert "'err/direct'" in str(info.value)


def test_executor_step_and_hardcoded_inside_versioned() -> None:
    up = up_step()
    with pytest.raises(StepDefinitionError) as info:
        _one_step("err/step_in_versioned", lambda ctx: {"s": versioned(up)})
    assert info.value.step == "err/step_in_versioned"
    with pytest.raises(StepDefinitionError) as info:
        _one_step("err/hard_in_versioned", lambda ctx: {"s": versioned(StepRef.hardcoded("raw/x"))})
    assert info.value.step == "err/hard_in_versioned"


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda up: {"paths": versioned([up.ref])}, "paths"),
        (lambda up: {"paths": versioned([1, (up / "train",)])}, "paths"),
        (lambda up: {"outer": {"inner": versioned({"k": [up.ref]})}}, "outer.inner"),
        (lambda up: [1, versioned([StepRef.hardcoded("raw/x")])], "[1]"),
    ],
)
def test_stepref_nested_inside_versioned(make, field: str) -> None:
    up = up_step()
    s = _one_step("err/nested_ref", lambda ctx: make(up))
    err = _graph_error(s)
    assert err.step == "err/nested_ref"
    assert err.field == field
    assert f"field {field!r}" in str(err)


def test_nested_versioned_directly() -> None:
    with pytest.raises(StepDefinitionError) as info:
        _one_step("err/nested_v", lambda ctx: {"x": versioned(versioned(1))})
    assert info.value.step == "err/nested_v"
    assert "nest" in str(info.value)


def test_nested_versioned_inside_a_container() -> None:
    s = _one_step("err/nested_v2", lambda ctx: {"x": {"y": versioned([1, versioned(2)])}})
    err = _graph_error(s)
    assert (err.step, err.field) == ("err/nested_v2", "x.y")


# --- values Marin would hash nondeterministically -----------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        Opaque(),
        object(),
        [1, Opaque()],
        {"k": Opaque()},
        HoldsOpaque(thing=Opaque()),
    ],
    ids=["instance", "object", "in_list", "in_dict", "in_dataclass"],
)
def test_versioned_object_with_default_repr(value: Any) -> None:
    s = _one_step("err/opaque", lambda ctx: {"model": {"obj": versioned(value)}})
    err = _graph_error(s)
    assert (err.step, err.field) == ("err/opaque", "model.obj")
    assert "address" in str(err) or "deterministic" in str(err)


@pytest.mark.parametrize(
    "value",
    [module_level_function, lambda x: x, functools.partial(module_level_function, 1)],
    ids=["function", "lambda", "partial"],
)
def test_versioned_function_with_default_repr(value: Any) -> None:
    """A function's default repr ``<function f at 0x...>`` is a memory address too."""
    s = _one_step("err/fn_value", lambda ctx: {"fn": versioned(value)})
    err = _graph_error(s)
    assert (err.step, err.field) == ("err/fn_value", "fn")


@pytest.mark.parametrize(
    "value",
    [{1, 2, 3}, frozenset({"a", "b"}), [1, {2}], {"k": frozenset({1})}, (set(),)],
    ids=["set", "frozenset", "set_in_list", "frozenset_in_dict", "empty_set_in_tuple"],
)
def test_versioned_set(value: Any) -> None:
    s = _one_step("err/vset", lambda ctx: {"opts": versioned(value)})
    err = _graph_error(s)
    assert (err.step, err.field) == ("err/vset", "opts")
    assert "set" in str(err)


@pytest.mark.parametrize("kind", [set, frozenset])
def test_set_of_refs_in_config(kind: type) -> None:
    up = up_step()
    s = _one_step("err/refset", lambda ctx: {"inputs": {"train": kind({up / "a", up / "b"})}})
    err = _graph_error(s)
    assert (err.step, err.field) == ("err/refset", "inputs.train")
    assert kind.__name__ in str(err)


def test_set_of_versioned_in_config() -> None:
    s = _one_step("err/vinset", lambda ctx: {"xs": {versioned(1), versioned(2)}})
    err = _graph_error(s)
    assert (err.step, err.field) == ("err/vinset", "xs")


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({1: "x"}, "<config>"),
        ({"m": {2: versioned("x")}}, "m"),
        ({"a": [{(1, 2): "x"}]}, "a.[0]"),
        ({"m": {None: 1}}, "m"),
    ],
)
def test_non_str_dict_keys(config: Any, field: str) -> None:
    s = _one_step("err/keys", lambda ctx: config)
    err = _graph_error(s)
    assert (err.step, err.field) == ("err/keys", field)
    assert "str" in str(err)


# --- step names that would escape the prefix ------------------------------------------------

BAD_NAMES = ["..", "../x", "a/../b", "/x", "a//b", "./a", "a/.", "gs://x", "a/", "", "a\\b"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_step_names_with_step_decorator(name: str) -> None:
    @step(name=name, fn=_noop)
    def factory(ctx: StepContext) -> dict[str, Any]:
        return {}

    with pytest.raises(StepDefinitionError) as info:
        factory()
    assert info.value.field == "name"
    if name:
        assert info.value.step == name


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_step_names_with_legacy_constructor(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(StepDefinitionError) as info:
            ExecutorStep(name=name, fn=_noop, config={})
    assert info.value.field == "name"


@pytest.mark.parametrize("sub", ["../up", "..", "/etc", "a/../../b"])
def test_bad_name_from_placeholder(sub: str) -> None:
    @step(name="eval/{sub}", fn=_noop)
    def factory(ctx: StepContext, sub: str) -> dict[str, Any]:
        return {}

    with pytest.raises(StepDefinitionError) as info:
        factory(sub)
    assert info.value.field == "name"
    assert info.value.step == f"eval/{sub}"


def test_bad_name_in_marin_form_compute_output_path() -> None:
    with pytest.raises(StepDefinitionError) as info:
        compute_output_path("../escape", {}, prefix="/p")
    assert info.value.field == "name"


# --- placeholders -------------------------------------------------------------------------


def test_missing_name_placeholder() -> None:
    @step(name="train/lr-{lr}-{size}", fn=_noop)
    def train(ctx: StepContext, lr: float) -> dict[str, Any]:
        return {}

    with pytest.raises(StepDefinitionError) as info:
        train(0.1)
    err = info.value
    assert err.field == "name"
    assert err.step == "train/lr-{lr}-{size}"
    assert "size" in str(err)
    assert "train()" in str(err)


def test_missing_description_placeholder() -> None:
    @step(name="train/x", fn=_noop, description="lr={lr} warmup={warmup}")
    def train(ctx: StepContext, lr: float) -> dict[str, Any]:
        return {}

    with pytest.raises(StepDefinitionError) as info:
        train(lr=0.1)
    assert info.value.field == "description"
    assert "warmup" in str(info.value)


# --- cycles -------------------------------------------------------------------------------


def test_cycle_from_mutating_a_list_after_building() -> None:
    @step(name="cyc/a", fn=_noop)
    def a_step(ctx: StepContext) -> dict[str, Any]:
        return {"inputs": [], "v": versioned(1)}

    a = a_step()

    @step(name="cyc/b", fn=_noop)
    def b_step(ctx: StepContext) -> dict[str, Any]:
        return {"a": ctx.require(a)}

    b = b_step()
    a.config["inputs"].append(b / "x")  # now a -> b -> a
    with pytest.raises(StepCycleError) as info:
        StepGraph([b], prefix="/p")
    assert isinstance(info.value, StepDefinitionError)
    assert info.value.step in ("cyc/a", "cyc/b")
    assert "cyc/a" in str(info.value) and "cyc/b" in str(info.value)
    with pytest.raises(StepCycleError):
        compute_output_path(a, prefix="/p")


def test_self_cycle_from_mutation() -> None:
    @step(name="cyc/self", fn=_noop)
    def s_step(ctx: StepContext) -> dict[str, Any]:
        return {"inputs": []}

    s = s_step()
    s.config["inputs"].append(s.ref)
    with pytest.raises(StepCycleError) as info:
        StepGraph([s], prefix="/p")
    assert info.value.step == "cyc/self"


def test_three_step_cycle_through_nonblocking_ref() -> None:
    @step(name="cyc/x", fn=_noop)
    def x_step(ctx: StepContext) -> dict[str, Any]:
        return {"later": []}

    x = x_step()

    @step(name="cyc/y", fn=_noop)
    def y_step(ctx: StepContext) -> dict[str, Any]:
        return {"x": ctx.require(x)}

    y = y_step()

    @step(name="cyc/z", fn=_noop)
    def z_step(ctx: StepContext) -> dict[str, Any]:
        return {"y": ctx.require_nonblocking(y)}

    z = z_step()
    x.config["later"].append(z.ref)
    with pytest.raises(StepCycleError) as info:
        StepGraph([z], prefix="/p")
    message = str(info.value)
    assert all(name in message for name in ("cyc/x", "cyc/y", "cyc/z"))


# --- ctx.require misuse -------------------------------------------------------------------


@pytest.mark.parametrize(
    "junk",
    ["download/fineweb", 42, None, {"step": "x"}, ["a"], versioned("x")],
    ids=["str", "int", "none", "dict", "list", "versioned"],
)
@pytest.mark.parametrize("method", ["require", "require_nonblocking"])
def test_require_given_junk(junk: Any, method: str) -> None:
    @step(name="req/junk", fn=_noop)
    def factory(ctx: StepContext) -> dict[str, Any]:
        return {"x": getattr(ctx, method)(junk)}

    with pytest.raises(StepDefinitionError) as info:
        factory()
    assert info.value.step == "req/junk"
    assert method in str(info.value)
    assert type(junk).__name__ in str(info.value)


@pytest.mark.parametrize("method", ["require", "require_nonblocking"])
@pytest.mark.parametrize("subpath", [None, "ckpt"])
def test_require_own_output(method: str, subpath: str | None) -> None:
    @step(name="req/own", fn=_noop)
    def factory(ctx: StepContext) -> dict[str, Any]:
        own = ctx.output_subpath(subpath) if subpath else ctx.output
        return {"x": getattr(ctx, method)(own)}

    with pytest.raises(StepDefinitionError) as info:
        factory()
    assert info.value.step == "req/own"
    assert "own output" in str(info.value)


def test_require_nonblocking_of_hardcoded_path() -> None:
    @step(name="req/hard", fn=_noop)
    def factory(ctx: StepContext) -> dict[str, Any]:
        return {"x": ctx.require_nonblocking(StepRef.hardcoded("raw/x"))}

    with pytest.raises(StepDefinitionError) as info:
        factory()
    assert info.value.step == "req/hard"


# --- the error type -----------------------------------------------------------------------


def test_error_message_names_step_and_field() -> None:
    err = StepDefinitionError("bad", step="a/b", field="x.[0]")
    assert (err.step, err.field, err.reason) == ("a/b", "x.[0]", "bad")
    assert str(err) == "step 'a/b', field 'x.[0]': bad"
    assert isinstance(err, ValueError)
    assert err.with_step("other") is err
    unnamed = StepDefinitionError("bad", field="f").with_step("s")
    assert (unnamed.step, unnamed.field) == ("s", "f")


def test_step_fn_must_be_callable() -> None:
    with pytest.raises(StepDefinitionError) as info:
        step(name="x/y", fn="not callable")  # type: ignore[arg-type]
    assert info.value.field == "fn"
