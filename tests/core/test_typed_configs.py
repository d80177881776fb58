"""Typed configs checked at definition time, and clearer messages for the usual slips."""

import warnings
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, NotRequired, Optional, Required, TypedDict, TypeVar

import pytest

from marin_dagster import Dep, Output, StepContext, StepRef, Versioned, step, versioned
from marin_dagster.core import StepDefinitionError, compute_output_path

PathT = TypeVar("PathT", Dep[str], str)
OutT = TypeVar("OutT", Output[str], str)
FloatT = TypeVar("FloatT", Versioned[float], float)


def _noop(config: Any) -> None:
    pass


@step(name="typed/up", fn=_noop)
def upstream(ctx: StepContext) -> dict[str, Any]:
    return {"seed": versioned(1), "out": ctx.output}


UP = upstream()


@dataclass
class Plain:
    data: Dep[str]
    out: Output[str]
    lr: Versioned[float]
    batch: int = 32


@dataclass(frozen=True)
class Frozen:
    data: Dep[str]
    out: Output[str]
    lr: Versioned[float]


@dataclass(frozen=True)
class Generic3(Generic[PathT, OutT, FloatT]):
    data: PathT
    out: OutT
    lr: FloatT


@dataclass(frozen=True)
class Inner:
    data: Dep[str]
    lr: Versioned[float]


@dataclass(frozen=True)
class Outer:
    inner: Inner
    many: list[Dep[str]]
    named: dict[str, Dep[str]]
    maybe: Optional[Dep[str]]  # noqa: UP045 (Optional is one of the cases)
    out: Output[str]


@dataclass(frozen=True)
class HoldsGeneric:
    train: Generic3[Dep[str], Output[str], Versioned[float]]


class Pair(NamedTuple):
    data: Dep[str]
    out: Output[str]
    lr: Versioned[float]


class TD(TypedDict):
    data: Dep[str]
    out: Output[str]
    lr: Versioned[float]


def _good(cls: type, ctx: StepContext) -> Any:
    return cls(data=UP / "train", out=ctx.output, lr=versioned(0.1))


def _build(config_fn: Any, name: str = "typed/step") -> Any:
    @step(name=name, fn=_noop)
    def factory(ctx: StepContext) -> Any:
        return config_fn(ctx)

    return factory()


def _error(config_fn: Any, name: str = "typed/step") -> StepDefinitionError:
    the_step = _build(config_fn, name)
    with pytest.raises(StepDefinitionError) as info:
        compute_output_path(the_step, prefix="/p")
    return info.value


FLAT = [Plain, Frozen, Generic3, Pair]


# --- each marker, each kind of config -------------------------------------------------------


@pytest.mark.parametrize("cls", FLAT)
def test_versioned_field_holding_plain_value(cls: type) -> None:
    err = _error(lambda ctx: cls(data=UP / "train", out=ctx.output, lr=0.1))
    assert err.step == "typed/step"
    assert err.field in ("lr", "[2]")
    assert "Versioned[float]" in str(err)
    assert "versioned(0.1)" in str(err)
    assert "cache hit" in str(err)


@pytest.mark.parametrize("cls", FLAT)
def test_dep_field_holding_plain_str(cls: type) -> None:
    err = _error(lambda ctx: cls(data="gs://b/raw", out=ctx.output, lr=versioned(0.1)))
    assert err.field in ("data", "[0]")
    assert "Dep[str]" in str(err)
    assert "StepRef.hardcoded('gs://b/raw')" in str(err)


@pytest.mark.parametrize("cls", FLAT)
@pytest.mark.parametrize(
    "wrong",
    [lambda ctx: "/tmp/out", lambda ctx: UP.ref, lambda ctx: StepRef.hardcoded("x"), None],
    ids=["str", "step_ref", "hardcoded", "none"],
)
def test_output_field_holding_anything_else(cls: type, wrong: Any) -> None:
    err = _error(
        lambda ctx: cls(data=UP / "t", out=wrong(ctx) if wrong else None, lr=versioned(0.1))
    )
    assert err.field in ("out", "[1]")
    assert "Output[str]" in str(err)
    assert "ctx.output" in str(err)


def test_dep_field_holding_own_output() -> None:
    err = _error(lambda ctx: Plain(data=ctx.output, out=ctx.output, lr=versioned(0.1)))
    assert err.field == "data"
    assert "Output[...]" in str(err)


def test_versioned_field_holding_reference() -> None:
    err = _error(lambda ctx: Plain(data=UP.ref, out=ctx.output, lr=UP.ref))  # type: ignore[arg-type]
    assert err.field == "lr"
    assert "Dep[...]" in str(err)


def test_typeddict_return_annotation() -> None:
    @step(name="typed/td", fn=_noop)
    def bad(ctx: StepContext) -> TD:
        return {"data": UP / "t", "out": ctx.output, "lr": 0.1}  # type: ignore[typeddict-item]

    with pytest.raises(StepDefinitionError) as info:
        compute_output_path(bad(), prefix="/p")
    assert (info.value.step, info.value.field) == ("typed/td", "lr")

    @step(name="typed/td", fn=_noop)
    def good(ctx: StepContext) -> TD:
        return {"data": UP / "t", "out": ctx.output, "lr": versioned(0.1)}

    compute_output_path(good(), prefix="/p")


@dataclass(frozen=True)
class HoldsTD:
    opts: TD


def test_typeddict_field_in_dataclass() -> None:
    err = _error(lambda ctx: HoldsTD(opts={"data": "raw", "out": ctx.output, "lr": versioned(1.0)}))  # type: ignore[typeddict-item]
    assert err.field == "opts.data"


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda ctx: {"inner": Inner(data="raw", lr=versioned(0.1))}, "inner.data"),
        (lambda ctx: {"inner": Inner(data=UP.ref, lr=0.1)}, "inner.lr"),
        (lambda ctx: {"many": [UP.ref, "raw/x"]}, "many.[1]"),
        (lambda ctx: {"named": {"a": UP.ref, "b": "raw/x"}}, "named.b"),
        (lambda ctx: {"maybe": "raw/x"}, "maybe"),
        (lambda ctx: {"out": UP.ref}, "out"),
    ],
)
def test_nested_containers(make: Any, field: str) -> None:
    def config(ctx: StepContext) -> Outer:
        fields: dict[str, Any] = {
            "inner": Inner(data=UP.ref, lr=versioned(0.1)),
            "many": [UP / "a"],
            "named": {"a": StepRef.hardcoded("raw/a")},
            "maybe": None,
            "out": ctx.output,
        }
        fields.update(make(ctx))
        return Outer(**fields)

    assert _error(config).field == field


def test_generic_parameterised_in_enclosing_field() -> None:
    err = _error(lambda ctx: HoldsGeneric(Generic3(data=UP.ref, out=ctx.output, lr=0.1)))
    assert err.field == "train.lr"


@dataclass(frozen=True)
class PlainPhase(Generic[PathT]):
    data: PathT


@dataclass(frozen=True)
class HoldsPlainPhase:
    inner: PlainPhase[str]


def test_generic_parameterised_with_plain_type_is_not_checked() -> None:
    compute_output_path(_build(lambda ctx: HoldsPlainPhase(PlainPhase("raw/x"))), prefix="/p")


def test_generic_return_annotation() -> None:
    @step(name="typed/gen", fn=_noop)
    def factory(ctx: StepContext) -> Generic3[Dep[str], Output[str], Versioned[float]]:
        return Generic3(data="raw", out=ctx.output, lr=versioned(0.1))  # type: ignore[arg-type]

    with pytest.raises(StepDefinitionError) as info:
        compute_output_path(factory(), prefix="/p")
    assert info.value.field == "data"


# --- accepted ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", FLAT)
def test_well_typed_configs_pass(cls: type) -> None:
    compute_output_path(_build(lambda ctx: _good(cls, ctx)), prefix="/p")


def test_accepted_forms() -> None:
    def config(ctx: StepContext) -> Outer:
        return Outer(
            inner=Inner(data=StepRef.hardcoded("/abs/raw"), lr=versioned(0.1)),
            many=[UP / "a", UP.ref.nonblocking(), UP],  # type: ignore[list-item]
            named={"a": StepRef.hardcoded("gs://b/x")},
            maybe=None,
            out=ctx.output_subpath("ckpt"),
        )

    compute_output_path(_build(config), prefix="/p")


def test_same_hash_as_unannotated() -> None:
    @dataclass(frozen=True)
    class Untyped:
        data: Any
        out: Any
        lr: Any

    typed = compute_output_path(_build(lambda ctx: _good(Frozen, ctx), "typed/same"), prefix="/p")
    untyped = compute_output_path(
        _build(lambda ctx: _good(Untyped, ctx), "typed/same"), prefix="/p"
    )
    assert typed == untyped


@dataclass(frozen=True)
class StrAnnotated:
    data: str
    out: str
    lr: float


def test_unannotated_and_str_annotated_configs_keep_marin_behaviour() -> None:
    """Plain values, dicts and ``str``-annotated fields holding refs are Marin's configs."""
    plain = _build(lambda ctx: {"data": "raw", "out": "/tmp/x", "lr": 0.1}, "typed/plain")
    refs = _build(
        lambda ctx: StrAnnotated(data=UP.ref, out=ctx.output, lr=versioned(0.1)),  # type: ignore[arg-type]
        "typed/str",
    )
    assert compute_output_path(plain, prefix="/p") == compute_output_path(
        _build(lambda ctx: {"data": "other", "out": "/y", "lr": 1.0}, "typed/plain"), prefix="/p"
    )
    compute_output_path(refs, prefix="/p")


# --- annotations that do not resolve: a warning, once per step -------------------------------


def test_unresolvable_annotation_warns_once_per_step() -> None:
    @dataclass(frozen=True)
    class Forward:
        data: "Dep[NoSuchName]"  # type: ignore[name-defined]  # noqa: F821
        lr: Versioned[float]

    the_step = _build(lambda ctx: Forward(data="raw", lr=0.1), "typed/fwd")  # type: ignore[arg-type]
    with pytest.warns(UserWarning, match="typed/fwd") as record:
        with pytest.raises(StepDefinitionError) as info:
            compute_output_path(the_step, prefix="/p")
    assert info.value.field == "lr"  # what resolves is still checked
    assert len([w for w in record if "do not resolve" in str(w.message)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(StepDefinitionError):
            compute_output_path(the_step, prefix="/p")


# --- the other slips --------------------------------------------------------------------------


def test_ref_plus_str() -> None:
    with pytest.raises(TypeError, match=r"use `ref / 'x'`"):
        UP.ref + "/x"  # type: ignore[operator]
    with pytest.raises(TypeError, match=r"use `ref / 'x'`"):
        "/x" + UP.ref  # type: ignore[operator]
    with pytest.raises(TypeError, match=r"use `step / 'x'`"):
        UP + "/x"  # type: ignore[operator]


def test_uncalled_factory_in_config_and_require() -> None:
    err = _error(lambda ctx: {"data": upstream})
    assert "did you mean upstream()?" in str(err)
    assert err.field == "data"
    err = _error(lambda ctx: Plain(data=upstream, out=ctx.output, lr=versioned(0.1)))  # type: ignore[arg-type]
    assert "did you mean upstream()?" in str(err)

    @step(name="typed/req", fn=_noop)
    def req(ctx: StepContext) -> dict[str, Any]:
        return {"data": ctx.require(upstream)}  # type: ignore[arg-type]

    with pytest.raises(StepDefinitionError, match=r"did you mean ctx.require\(upstream\(\)\)"):
        req()


def test_leading_slash_in_name() -> None:
    @step(name="/abs/name", fn=_noop)
    def factory(ctx: StepContext) -> dict[str, Any]:
        return {}

    with pytest.raises(StepDefinitionError) as info:
        factory()
    assert "must not start with '/'" in str(info.value)
    assert "'abs/name'" in str(info.value)


class PartialTD(TypedDict, total=False):
    data: NotRequired[Dep[str]]
    lr: Required[Versioned[float]]


def test_typeddict_required_and_not_required() -> None:
    @step(name="typed/partial", fn=_noop)
    def bad(ctx: StepContext) -> PartialTD:
        return {"data": "raw/x", "lr": versioned(1.0)}  # type: ignore[typeddict-item]

    with pytest.raises(StepDefinitionError) as info:
        compute_output_path(bad(), prefix="/p")
    assert info.value.field == "data"

    @step(name="typed/partial", fn=_noop)
    def good(ctx: StepContext) -> PartialTD:
        return {"lr": versioned(1.0)}

    compute_output_path(good(), prefix="/p")


@dataclass(frozen=True)
class DownloadConfig:
    hf_id: Versioned[str]
    output_path: Output[str]


@dataclass(frozen=True)
class TokenizeConfig:
    train_paths: list[Dep[str]]
    cache_path: Output[str]
    tokenizer: Versioned[str]
    batch_size: int = 1000


def test_typed_configs_give_marins_paths() -> None:
    """DESIGN §4's example, typed: the same output paths as Marin's executor gives."""

    @step(name="download/fineweb", fn=_noop)
    def download(ctx: StepContext) -> DownloadConfig:
        return DownloadConfig(hf_id=versioned("HuggingFaceFW/fineweb"), output_path=ctx.output)

    @step(name="tokenize/fineweb", fn=_noop)
    def tokenize(ctx: StepContext, dl: Any) -> TokenizeConfig:
        return TokenizeConfig(
            train_paths=[ctx.require(dl) / "train"],
            cache_path=ctx.output,
            tokenizer=versioned("meta-llama/Llama-3-8B"),
        )

    dl = download()
    assert compute_output_path(dl, prefix="/p") == "/p/download/fineweb-2aeb1d"
    assert compute_output_path(tokenize(dl), prefix="/p") == "/p/tokenize/fineweb-ce2dd5"
