"""The config a step's ``fn`` receives: every reference concrete, every container rebuilt.

Spec: ``reference/marin-executor-semantics.md`` §3.1 (``instantiate_config``) and DESIGN §3.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, NamedTuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marin_dagster import (
    ExecutorStep,
    InputName,
    StepContext,
    StepRef,
    Versioned,
    VersionedValue,
    output_path_of,
    step,
    this_output_path,
    versioned,
)
from marin_dagster.core.graph import StepGraph
from marin_dagster.core.legacy import OutputName
from marin_dagster.core.resolve import resolve_config

PREFIX = "/p"


def _noop(config: Any) -> None:
    return None


@step(name="res/up", fn=_noop)
def up_step(ctx: StepContext) -> dict[str, Any]:
    return {"v": versioned("up"), "out": ctx.output}


@step(name="res/consumer", fn=_noop)
def consumer_step(ctx: StepContext, config: Any) -> Any:
    return config


def _resolved(config_fn) -> tuple[Any, str, str, ExecutorStep[Any]]:
    """Build ``up`` and a consumer with ``config_fn(ctx, up)``; return (resolved, up, me, step)."""
    up = up_step()

    @step(name="res/me", fn=_noop)
    def me_step(ctx: StepContext) -> Any:
        return config_fn(ctx, up)

    me = me_step()
    graph = StepGraph([me, up], prefix=PREFIX)
    return graph.resolved_config(me), graph.output_path(up), graph.output_path(me), me


FORBIDDEN = (StepRef, Versioned, InputName, OutputName, ExecutorStep)


def assert_fully_resolved(obj: Any, where: str = "config") -> None:
    """Walk ``obj`` everywhere (keys included) and refuse any build-time placeholder."""
    assert not isinstance(obj, FORBIDDEN), f"{where} is still {obj!r}"
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            assert_fully_resolved(getattr(obj, f.name), f"{where}.{f.name}")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            assert_fully_resolved(k, f"{where} key")
            assert_fully_resolved(v, f"{where}.{k}")
    elif isinstance(obj, list | tuple | set | frozenset):
        for i, item in enumerate(obj):
            assert_fully_resolved(item, f"{where}[{i}]")


def assert_same(actual: Any, expected: Any, where: str = "config") -> None:
    """Equal values *and* identical container types, recursively."""
    assert type(actual) is type(expected), f"{where}: {type(actual)} != {type(expected)}"
    if dataclasses.is_dataclass(expected) and not isinstance(expected, type):
        for f in dataclasses.fields(expected):
            assert_same(getattr(actual, f.name), getattr(expected, f.name), f"{where}.{f.name}")
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), where
        for k in expected:
            assert_same(actual[k], expected[k], f"{where}.{k}")
    elif isinstance(expected, list | tuple):
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{where}[{i}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


# --- the three kinds of reference, and Versioned ---------------------------------------------


def test_step_refs_become_str_paths() -> None:
    resolved, up, _me, _ = _resolved(
        lambda ctx, up: {
            "whole": ctx.require(up),
            "sub": ctx.require(up) / "train",
            "deeper": up / "a" / "b.txt",
            "ref": up.ref,
            "nonblocking": ctx.require_nonblocking(up) / "eval",
            "object": up,
        }
    )
    assert up.startswith("/p/res/up-") and len(up) == len("/p/res/up-") + 6
    assert resolved == {
        "whole": up,
        "sub": f"{up}/train",
        "deeper": f"{up}/a/b.txt",
        "ref": up,
        "nonblocking": f"{up}/eval",
        "object": up,
    }
    assert all(type(v) is str for v in resolved.values())


def test_own_output_and_output_subpath() -> None:
    resolved, _, me, _ = _resolved(
        lambda ctx, up: {"out": ctx.output, "ckpt": ctx.output_subpath("ckpt"), "x": up.ref}
    )
    assert me.startswith("/p/res/me-")
    assert resolved["out"] == me
    assert resolved["ckpt"] == f"{me}/ckpt"


def test_hardcoded_paths() -> None:
    resolved, _, _, _ = _resolved(
        lambda ctx, up: {
            "rel": StepRef.hardcoded("raw/data"),
            "rel_sub": StepRef.hardcoded("raw") / "train",
            "abs": StepRef.hardcoded("/data/x"),
            "gs": StepRef.hardcoded("gs://bucket/raw"),
            "gs_sub": StepRef.hardcoded("gs://bucket/raw") / "part-0",
            "required": ctx.require(StepRef.hardcoded("s3://b/k")),
        }
    )
    assert resolved == {
        "rel": "/p/raw/data",
        "rel_sub": "/p/raw/train",
        "abs": "/data/x",
        "gs": "gs://bucket/raw",
        "gs_sub": "gs://bucket/raw/part-0",
        "required": "s3://b/k",
    }


def test_hardcoded_relative_follows_the_prefix() -> None:
    s = consumer_step({"rel": StepRef.hardcoded("raw/data"), "abs": StepRef.hardcoded("/x")})
    for prefix in ("/p", "gs://bucket/root", "rel/prefix"):
        graph = StepGraph([s], prefix=prefix)
        resolved = graph.resolved_config(s)
        assert resolved == {"rel": f"{prefix}/raw/data", "abs": "/x"}


def test_versioned_values_are_unwrapped() -> None:
    inner = {"k": [1, 2]}
    resolved, _, _, _ = _resolved(
        lambda ctx, up: {
            "s": versioned("x"),
            "n": versioned(3),
            "none": versioned(None),
            "d": versioned(inner),
            "t": versioned((1, 2)),
            "list": [versioned(1.5), versioned(True)],
        }
    )
    assert_same(
        resolved,
        {"s": "x", "n": 3, "none": None, "d": {"k": [1, 2]}, "t": (1, 2), "list": [1.5, True]},
    )
    assert resolved["d"] is inner  # Marin returns the wrapped value as is


def test_legacy_placeholders_are_resolved() -> None:
    up = up_step()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        config = {
            "in": output_path_of(up, "train"),
            "in_nb": output_path_of(up).nonblocking(),
            "hard": InputName.hardcoded("raw/x"),
            "out": this_output_path(),
            "ckpt": this_output_path("ckpt"),
            "v": VersionedValue([1]),
        }
        legacy = ExecutorStep(name="res/legacy", fn=_noop, config=config)
    graph = StepGraph([legacy], prefix=PREFIX)
    up_path, me = graph.output_path(up), graph.output_path(legacy)
    assert graph.resolved_config(legacy) == {
        "in": f"{up_path}/train",
        "in_nb": up_path,
        "hard": "/p/raw/x",
        "out": me,
        "ckpt": f"{me}/ckpt",
        "v": [1],
    }


def test_override_output_path_is_what_dependents_receive() -> None:
    up = up_step().with_output_path("custom/up")
    s = consumer_step({"in": up / "x", "also": up.ref})
    graph = StepGraph([s], prefix=PREFIX)
    assert graph.resolved_config(s) == {"in": "/p/custom/up/x", "also": "/p/custom/up"}
    moved = consumer_step({"out": None}).with_output_path("gs://elsewhere/out")
    moved_graph = StepGraph([moved], prefix=PREFIX)
    assert moved_graph.output_path(moved) == "gs://elsewhere/out"


def test_deduplicated_steps_resolve_to_one_path() -> None:
    a1, a2 = up_step(), up_step()
    s = consumer_step([a1.ref, a2 / "x"])
    graph = StepGraph([s], prefix=PREFIX)
    path = graph.output_path(a1)
    assert graph.resolved_config(s) == [path, f"{path}/x"]


# --- containers are rebuilt with their own types ---------------------------------------------


@dataclasses.dataclass(frozen=True)
class Derived:
    """Frozen, with ``__post_init__`` deriving a field from another one."""

    path: Any
    lr: Any = 0.1
    path_type: str = dataclasses.field(init=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "path_type", type(self.path).__name__)
        Derived.calls += 1


Derived.calls = 0  # type: ignore[attr-defined]


@dataclasses.dataclass
class Mutable:
    items: Any
    extra: Any = None


class Point(NamedTuple):
    x: Any
    y: Any


def test_frozen_dataclass_rebuilt_and_post_init_rerun() -> None:
    before = Derived.calls  # type: ignore[attr-defined]
    resolved, up, _, me_step = _resolved(
        lambda ctx, up: Derived(path=ctx.require(up) / "d", lr=versioned(0.5))
    )
    assert type(resolved) is Derived
    assert me_step.config.path_type == "StepRef"  # derived at build time from the reference
    assert resolved.path == f"{up}/d"
    assert resolved.lr == 0.5
    assert resolved.path_type == "str"  # derived again from the resolved value
    assert Derived.calls >= before + 2  # type: ignore[attr-defined]
    assert resolved is not me_step.config


def test_containers_keep_their_types() -> None:
    resolved, up, me, _ = _resolved(
        lambda ctx, up: Mutable(
            items=[
                (ctx.require(up), versioned(1)),
                Point(x=up / "x", y=[versioned("y"), ctx.output]),
                {"nested": Derived(path=StepRef.hardcoded("raw/q"))},
            ],
            extra=(Point(1, 2), [], {}, ()),
        )
    )
    expected_derived = Derived(path="/p/raw/q")
    assert_same(
        resolved,
        Mutable(
            items=[(up, 1), Point(x=f"{up}/x", y=["y", me]), {"nested": expected_derived}],
            extra=(Point(1, 2), [], {}, ()),
        ),
    )
    assert resolved.items[2]["nested"].path_type == "str"


def test_resolution_does_not_mutate_the_step_config() -> None:
    up = up_step()
    config = {"in": [up / "x"], "v": versioned(1), "box": Mutable(items=[up.ref])}
    s = consumer_step(config)
    StepGraph([s], prefix=PREFIX).resolved_config(s)
    assert isinstance(config["in"][0], StepRef)
    assert isinstance(config["v"], Versioned)
    assert isinstance(config["box"].items[0], StepRef)


def test_resolved_config_has_no_placeholder_anywhere() -> None:
    resolved, _, _, _ = _resolved(
        lambda ctx, up: Mutable(
            items={
                "a": [ctx.require(up), (up / "b", Point(versioned(1), ctx.output))],
                "b": Derived(path=ctx.require_nonblocking(up), lr=versioned(0.2)),
                "c": {"d": [[StepRef.hardcoded("gs://x/y"), versioned([1, 2])]]},
                "e": up,
            },
            extra=ctx.output_subpath("z"),
        )
    )
    assert_fully_resolved(resolved)


def test_resolve_config_plain_values_pass_through() -> None:
    marker = object()
    config = {"obj": marker, "n": 1, "s": "x", "f": 1.5, "b": False, "none": None}
    resolved = resolve_config(config, output_path="/p/me", path_of=lambda s: "", prefix="/p")
    assert resolved == config
    assert resolved["obj"] is marker


# --- property tests ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Box:
    a: Any
    b: Any


_leaves = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10)
)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
        | st.builds(Point, inner, inner)
        | st.builds(Box, inner, inner)
        | st.builds(Mutable, inner, inner)
    )


_plain = st.recursive(_leaves, _containers, max_leaves=25)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=_plain)
def test_property_plain_structures_resolve_to_themselves(config: Any) -> None:
    direct = resolve_config(config, output_path="/p/me", path_of=lambda s: "", prefix="/p")
    assert_same(direct, config)
    s = consumer_step(config)
    via_graph = StepGraph([s], prefix=PREFIX).resolved_config(s)
    assert_same(via_graph, config)


_UP = object()  # where the upstream path goes in an expected structure
_ME = object()  # where this step's own path goes


def _fill(expected: Any, up: str, me: str) -> Any:
    if isinstance(expected, tuple) and len(expected) == 2 and expected[0] in (_UP, _ME):
        base = up if expected[0] is _UP else me
        return f"{base}/{expected[1]}" if expected[1] else base
    if isinstance(expected, _Expected):
        return expected.value
    if isinstance(expected, Point):
        return Point(_fill(expected.x, up, me), _fill(expected.y, up, me))
    if isinstance(expected, Box | Mutable):
        return type(expected)(
            *(_fill(getattr(expected, f.name), up, me) for f in dataclasses.fields(expected))
        )
    if isinstance(expected, dict):
        return {k: _fill(v, up, me) for k, v in expected.items()}
    if isinstance(expected, list):
        return [_fill(v, up, me) for v in expected]
    if isinstance(expected, tuple):
        return tuple(_fill(v, up, me) for v in expected)
    return expected


@dataclasses.dataclass(frozen=True)
class _Expected:
    """An expected value that ``_fill`` must not descend into (a Versioned's payload)."""

    value: Any


UPSTREAM = up_step()
_subs = st.sampled_from([None, "a", "train/part-0", "x.json"])


def _ref_leaf(sub: str | None, blocking: bool) -> tuple[Any, Any]:
    ref = UPSTREAM / sub if sub else UPSTREAM.ref
    return (ref if blocking else ref.nonblocking()), (_UP, sub)


def _out_leaf(sub: str | None) -> tuple[Any, Any]:
    from marin_dagster.core.refs import output_ref

    return output_ref(sub), (_ME, sub)


_json_value = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)

_pair_leaves = (
    _leaves.map(lambda v: (v, v))
    | st.builds(_ref_leaf, _subs, st.booleans())
    | st.builds(_out_leaf, _subs)
    | _json_value.map(lambda v: (versioned(v), _Expected(v)))
    | st.sampled_from(
        [
            (StepRef.hardcoded("raw/x"), _Expected("/p/raw/x")),
            (StepRef.hardcoded("gs://b/y"), _Expected("gs://b/y")),
            (UPSTREAM, (_UP, None)),
        ]
    )
)


def _pair_containers(inner: st.SearchStrategy[tuple[Any, Any]]) -> st.SearchStrategy[Any]:
    def zip_list(pairs: list[tuple[Any, Any]]) -> tuple[Any, Any]:
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def zip_tuple(pairs: list[tuple[Any, Any]]) -> tuple[Any, Any]:
        return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)

    def zip_dict(pairs: dict[str, tuple[Any, Any]]) -> tuple[Any, Any]:
        return {k: p[0] for k, p in pairs.items()}, {k: p[1] for k, p in pairs.items()}

    def zip_cls(cls: type) -> Any:
        return lambda a, b: (cls(a[0], b[0]), cls(a[1], b[1]))

    return (
        st.lists(inner, max_size=4).map(zip_list)
        | st.lists(inner, max_size=4).map(zip_tuple)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4).map(zip_dict)
        | st.builds(zip_cls(Point), inner, inner)
        | st.builds(zip_cls(Box), inner, inner)
        | st.builds(zip_cls(Mutable), inner, inner)
    )


_pairs = st.recursive(_pair_leaves, _pair_containers, max_leaves=20)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=_pairs)
def test_property_refs_and_versioned_resolve_in_place(pair: tuple[Any, Any]) -> None:
    config, expected_template = pair
    s = consumer_step(config)
    graph = StepGraph([s, UPSTREAM], prefix=PREFIX)
    up_path = graph.output_path(UPSTREAM)
    me_path = graph.output_path(s)
    resolved = graph.resolved_config(s)
    assert_same(resolved, _fill(expected_template, up_path, me_path))
    assert_fully_resolved(resolved)
