"""Every versioned kind Marin's encoder accepts reaches Dagster metadata and loads back.

The version dict is stored as hashed (Marin's encoder applied: ``Path`` → str, dataclass →
dict, ``datetime`` → its text...), so the definition metadata is plain JSON that Dagster can
serialise, and that reads back equal to the text the hash was computed from.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import hashlib
import json
import pathlib
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pytest

from marin_dagster import StepContext, build_definitions, step, versioned


def _noop(config: Any) -> None:
    return None


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass(frozen=True)
class Window:
    start: datetime.datetime
    length: datetime.timedelta
    root: pathlib.Path


KINDS: dict[str, Any] = {
    "datetime": datetime.datetime(2024, 5, 1, 12, 30),
    "path": pathlib.Path("data/raw"),
    "enum": Color.RED,
    "dataclass": Window(datetime.datetime(2024, 1, 1), datetime.timedelta(days=2), Path("/r")),
    "bytes": b"\x00ab",
    "numpy_scalar": np.int64(7),
    "timedelta": datetime.timedelta(minutes=3),
}


@pytest.mark.parametrize("value", KINDS.values(), ids=KINDS.keys())
def test_versioned_kinds_build_and_their_metadata_round_trips(tmp_path: Path, value: Any) -> None:
    @step(name="meta/value", fn=_noop)
    def factory(ctx: StepContext) -> dict[str, Any]:
        return {"x": versioned(value), "out": ctx.output}

    the_step = factory()
    defs = build_definitions(the_step, prefix=str(tmp_path))
    asset_key = dg.AssetKey(["meta", "value"])
    metadata = defs.resolve_assets_def(asset_key).get_asset_spec(asset_key).metadata
    stored = dg.deserialize_value(dg.serialize_value(metadata["marin/version_dict"]))
    assert isinstance(stored, dg.JsonMetadataValue)
    text = json.dumps(stored.value, sort_keys=True)
    assert metadata["marin/version"] == _md5_6(text)
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("all_steps").execute_in_process(instance=instance)
    assert result.success
    event = instance.get_latest_materialization_event(asset_key)
    assert event is not None and event.asset_materialization is not None
    assert event.asset_materialization.metadata["marin/cache_hit"].value is False


def _md5_6(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()[:6]
