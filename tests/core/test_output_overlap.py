"""Two steps never share an output; override and hardcoded paths never escape by ``..``.

Whether a path is relative follows Marin's ``_is_relative_path`` exactly: any URL scheme
(``gs://b/x``, ``file:/x``, ``data:v1/x``) or a leading ``/`` makes it absolute, and an absolute
path is used as it is; a relative one is joined under the prefix.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from marin_dagster import ExecutorStep, StepContext, StepRef, compute_output_path, step, versioned
from marin_dagster.core import StepDefinitionError
from marin_dagster.core.graph import StepGraph
from marin_dagster.core.refs import is_absolute_or_url

PREFIX = "/p"


def _noop(config: Any) -> None:
    return None


def _make(name: str, override: str | None = None, tag: str = "x", **extra: Any) -> Any:
    @step(name=name, fn=_noop, override_output_path=override)
    def factory(ctx: StepContext) -> dict[str, Any]:
        return {"tag": versioned(tag), "out": ctx.output, **extra}

    return factory()


def _overlap_error(*steps: Any, prefix: str = PREFIX) -> StepDefinitionError:
    with pytest.raises(StepDefinitionError) as info:
        StepGraph(list(steps), prefix=prefix)
    return info.value


@pytest.mark.parametrize(
    "path",
    ["gs://b/x", "file:/x", "data:v1/x", "s3://b", "/abs/x", "memory://m/x", "HTTP://h/x"],
)
def test_absolute_follows_marins_rule(path: str) -> None:
    assert is_absolute_or_url(path)
    s = _make("abs/one", override=path)
    assert compute_output_path(s, prefix=PREFIX) == path
    assert compute_output_path(StepRef.hardcoded(path), prefix=PREFIX) == path


@pytest.mark.parametrize("path", ["custom/a", "a", "x/file.txt", "./a"])
def test_relative_goes_under_the_prefix(path: str) -> None:
    assert not is_absolute_or_url(path)
    s = _make("rel/one", override=path)
    assert compute_output_path(s, prefix=PREFIX) == f"{PREFIX}/{path}"


def test_same_override_for_two_steps() -> None:
    a = _make("ov/a", override="shared/out", tag="a")
    b = _make("ov/b", override="shared/out", tag="b")
    err = _overlap_error(a, b)
    assert "ov/a" in str(err) and "ov/b" in str(err)
    assert err.field == "override_output_path"


def test_same_absolute_override_spelled_differently() -> None:
    a = _make("ov/a", override="gs://bucket/out", tag="a")
    b = _make("ov/b", override="gs://bucket/x/../out/", tag="b")
    err = _overlap_error(a, b, prefix="gs://bucket/p")
    assert "ov/a" in str(err) and "ov/b" in str(err)


def test_override_equal_to_another_steps_computed_path() -> None:
    a = _make("ov/a", tag="a")
    taken = StepGraph([a], prefix=PREFIX).output_path(a)
    b = _make("ov/b", override=taken, tag="b")
    err = _overlap_error(a, b)
    assert err.step == "ov/b"
    assert "ov/a" in str(err)


def test_override_under_another_steps_output() -> None:
    a = _make("ov/a", tag="a")
    inside = StepGraph([a], prefix=PREFIX).output_path(a) + "/nested"
    b = _make("ov/b", override=inside, tag="b")
    err = _overlap_error(a, b)
    assert err.step == "ov/b" and "ov/a" in str(err) and "inside" in str(err)
    # Either order: the outer step found first or last.
    err = _overlap_error(b, a)
    assert "ov/a" in str(err) and "ov/b" in str(err)


def test_computed_path_under_another_steps_output() -> None:
    """``a`` writes to ``/p/ov/a-HASH``; a step *named* ``ov/a-HASH/x`` would write inside it."""
    a = _make("ov/a", tag="a")
    outer = StepGraph([a], prefix=PREFIX).output_path(a)
    nested = _make(outer[len(PREFIX) + 1 :] + "/x", tag="b")
    err = _overlap_error(a, nested)
    assert "ov/a" in str(err) and nested.name in str(err)


@pytest.mark.parametrize("override", [PREFIX, PREFIX + "/", "/", "/p/.."])
def test_override_equal_to_or_above_the_prefix(override: str) -> None:
    s = _make("ov/root", override=override)
    err = _overlap_error(s)
    assert (err.step, err.field) == ("ov/root", "override_output_path")
    assert "prefix" in str(err)


@pytest.mark.parametrize("override", ["../x", "a/../../x", "..", "a/.."])
def test_relative_override_with_dotdot_is_refused(override: str) -> None:
    with pytest.raises(StepDefinitionError) as info:
        _make("ov/escape", override=override)
    assert (info.value.step, info.value.field) == ("ov/escape", "override_output_path")
    assert ".." in str(info.value)


def test_relative_override_with_dotdot_is_refused_in_every_form() -> None:
    s = _make("ov/fine", override="ok/place")
    with pytest.raises(StepDefinitionError):
        s.with_output_path("../elsewhere")
    with pytest.raises(StepDefinitionError):
        compute_output_path("ov/marin", {}, override_output_path="../x", prefix=PREFIX)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(StepDefinitionError):
            ExecutorStep(name="ov/legacy", fn=_noop, config={}, override_output_path="../x")


def test_absolute_override_outside_the_prefix_is_allowed() -> None:
    s = _make("ov/out", override="/elsewhere/../shared/out")
    assert compute_output_path(s, prefix=PREFIX) == "/elsewhere/../shared/out"


@pytest.mark.parametrize("path", ["../shared/data", "raw/../../x", ".."])
def test_relative_hardcoded_with_dotdot_is_refused(path: str) -> None:
    s = _make("hc/escape", data={"train": StepRef.hardcoded(path)})
    err = _overlap_error(s)
    assert (err.step, err.field) == ("hc/escape", "data.train")
    with pytest.raises(StepDefinitionError):
        compute_output_path(StepRef.hardcoded(path), prefix=PREFIX)


@pytest.mark.parametrize("path", ["/data/../shared/x", "gs://b/../x", "file:/x/../y"])
def test_absolute_hardcoded_outside_the_prefix_is_allowed(path: str) -> None:
    s = _make("hc/abs", data=StepRef.hardcoded(path))
    graph = StepGraph([s], prefix=PREFIX)
    assert graph.resolved_config(s)["data"] == path


def test_reading_inside_another_steps_output_is_fine() -> None:
    """Only outputs must not overlap: a hardcoded *read* inside a step's output is allowed."""
    a = _make("ov/a", tag="a")
    inside = StepGraph([a], prefix=PREFIX).output_path(a) + "/part"
    reader = _make("ov/reader", data=StepRef.hardcoded(inside))
    assert StepGraph([a, reader], prefix=PREFIX).output_path(reader).startswith("/p/ov/reader-")
