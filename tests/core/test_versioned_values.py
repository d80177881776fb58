"""Versioned values never collide silently: each kind versions as Marin's encoder does, or fails.

Marin's encoder falls back to ``str(value)``; where that text loses information (a numpy array's
``str`` is truncated, a class's ``__repr__`` may omit state, ``{1: x}`` is written ``{"1": x}``)
two different values would share an output path, so the project refuses them at definition time
naming the step and the field. Kinds whose text is lossless version byte for byte as in Marin.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import pathlib
import uuid
from typing import Any

import numpy as np
import pytest

from marin_dagster import StepContext, compute_output_path, step, versioned
from marin_dagster.core import StepDefinitionError
from marin_dagster.core.graph import StepGraph


def _noop(config: Any) -> None:
    return None


class MarinEncoder(json.JSONEncoder):
    """Marin's ``CustomJsonEncoder``, as published (the reference for kinds it accepts)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.timedelta):
            return {"days": o.days, "seconds": o.seconds, "microseconds": o.microseconds}
        if isinstance(o, pathlib.Path):
            return str(o)
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        try:
            return super().default(o)
        except TypeError:
            return str(o)


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass(frozen=True)
class Schedule:
    warmup: int
    until: datetime.date


class Tokenizer:
    """A class whose repr omits part of its state (the vocabulary)."""

    def __init__(self, name: str, vocab: list[str]) -> None:
        self.name, self.vocab = name, vocab

    def __repr__(self) -> str:
        return f"Tokenizer({self.name!r})"


def _versioned_step(value: Any, name: str = "vv/x") -> Any:
    @step(name=name, fn=_noop)
    def factory(ctx: StepContext) -> dict[str, Any]:
        return {"model": {"x": versioned(value)}, "out": ctx.output}

    return factory()


MARIN_KINDS: dict[str, Any] = {
    "datetime": datetime.datetime(2024, 5, 1, 12, 30, 5, 7, tzinfo=datetime.UTC),
    "date": datetime.date(2024, 5, 1),
    "time": datetime.time(1, 2, 3),
    "enum": Color.RED,
    "int_enum": Level.HIGH,
    "bytes": b"\x00ab",
    "uuid": uuid.UUID(int=7),
    "decimal": decimal.Decimal("1.10"),
    "numpy_int": np.int64(3),
    "numpy_float32": np.float32(0.1),
    "numpy_float64": np.float64(0.1),
    "dataclass_with_date": Schedule(warmup=10, until=datetime.date(2024, 1, 1)),
    "path": pathlib.Path("a/b"),
    "timedelta": datetime.timedelta(hours=3),
    "class": Tokenizer,
}


@pytest.mark.parametrize("value", MARIN_KINDS.values(), ids=MARIN_KINDS.keys())
def test_lossless_kinds_version_as_marin(value: Any) -> None:
    s = _versioned_step(value)
    version = StepGraph([s], prefix="/p").version(s)
    expected = json.dumps(
        {"name": "vv/x", "config": {"model.x": value}, "dependencies": []},
        sort_keys=True,
        cls=MarinEncoder,
    )
    assert version.version_str == expected


@pytest.mark.parametrize(
    ("value", "inner", "words"),
    [
        (np.arange(2000), "", "numpy array"),
        (np.arange(3), "", "numpy array"),
        ([1, np.array([0.1])], "[1]", "numpy array"),
        (Tokenizer("bpe", ["a"]), "", "Tokenizer"),
        ({"tok": Tokenizer("bpe", ["a"])}, "tok", "Tokenizer"),
        ({1: "a"}, "", "dict key 1"),
        ({"m": {None: 1}}, "m", "dict key None"),
        ([{True: 1}], "[0]", "dict key True"),
        (Schedule(warmup={2.5: 1}, until=datetime.date(2024, 1, 1)), "warmup", "dict key 2.5"),  # type: ignore[arg-type]
    ],
    ids=[
        "numpy_truncated",
        "numpy_small",
        "numpy_in_list",
        "repr_omits_state",
        "repr_omits_state_in_dict",
        "int_key",
        "none_key",
        "bool_key_in_list",
        "float_key_in_dataclass",
    ],
)
def test_lossy_kinds_fail_at_definition_time(value: Any, inner: str, words: str) -> None:
    s = _versioned_step(value, name="vv/lossy")
    with pytest.raises(StepDefinitionError) as info:
        StepGraph([s], prefix="/p")
    err = info.value
    assert (err.step, err.field) == ("vv/lossy", "model.x")
    assert words in str(err)
    if inner:
        assert f"(at {inner})" in str(err)
    with pytest.raises(StepDefinitionError):
        compute_output_path(s, prefix="/p")


def test_truncated_numpy_arrays_would_have_collided_in_marin() -> None:
    """Why arrays are refused: Marin's fallback gives two different arrays one text."""
    a, b = np.arange(2000), np.arange(2000)
    b[500] = -1
    assert json.dumps(a, cls=MarinEncoder) == json.dumps(b, cls=MarinEncoder)
    for value in (a, b):
        with pytest.raises(StepDefinitionError, match=r"tolist\(\)"):
            StepGraph([_versioned_step(value)], prefix="/p")


def test_int_and_str_keys_never_share_a_hash_silently() -> None:
    as_str = _versioned_step({"1": "a"})
    graph = StepGraph([as_str], prefix="/p")
    assert graph.version(as_str).version["config"] == {"model.x": {"1": "a"}}
    with pytest.raises(StepDefinitionError, match="use str keys"):
        StepGraph([_versioned_step({1: "a"})], prefix="/p")


def test_explicit_str_gives_marins_hash_for_a_refused_object() -> None:
    """The migration the error message suggests: ``versioned(str(obj))`` hashes as Marin did."""
    tok = Tokenizer("bpe", ["a"])
    explicit = _versioned_step(str(tok))
    expected = json.dumps(
        {"name": "vv/x", "config": {"model.x": tok}, "dependencies": []},
        sort_keys=True,
        cls=MarinEncoder,
    )
    assert StepGraph([explicit], prefix="/p").version(explicit).version_str == expected


def test_a_versioned_value_that_contains_itself() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(StepDefinitionError, match="contains itself") as info:
        StepGraph([_versioned_step(loop, name="vv/loop")], prefix="/p")
    assert (info.value.step, info.value.field) == ("vv/loop", "model.x")
