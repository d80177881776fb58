"""MarinPathIOManager: paths in, paths out, never pickles."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from marin_dagster.io_manager import MarinPathIOManager

KEY = dg.AssetKey(["report", "summary"])


def logged_path(context: Any) -> str | None:
    value = context.get_logged_metadata().get("marin/output_path")
    return None if value is None else str(getattr(value, "path", value))


@pytest.mark.parametrize("obj", [{"a": 1}, b"bytes", 3, ["x"], Path("/some/path")])
def test_handle_output_refuses_non_str(tmp_path: Path, obj: Any) -> None:
    manager = MarinPathIOManager(prefix=str(tmp_path))
    context = dg.build_output_context(asset_key=KEY)
    with pytest.raises(TypeError) as info:
        manager.handle_output(context, obj)
    assert "report/summary" in str(info.value)
    assert type(obj).__name__ in str(info.value)
    assert os.listdir(tmp_path) == []  # nothing written, in particular no pickle
    assert logged_path(context) is None


def test_handle_output_records_relative_path_under_prefix(tmp_path: Path) -> None:
    manager = MarinPathIOManager(prefix=str(tmp_path))
    context = dg.build_output_context(asset_key=KEY)
    manager.handle_output(context, "reports/summary")
    assert logged_path(context) == os.path.join(str(tmp_path), "reports/summary")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("path", ["/abs/elsewhere/x", "gs://bucket/p/x", "memory://m/x"])
def test_handle_output_keeps_absolute_paths_and_urls(tmp_path: Path, path: str) -> None:
    manager = MarinPathIOManager(prefix=str(tmp_path))
    context = dg.build_output_context(asset_key=KEY)
    manager.handle_output(context, path)
    assert logged_path(context) == path


def test_handle_output_of_none_records_nothing(tmp_path: Path) -> None:
    manager = MarinPathIOManager(prefix=str(tmp_path))
    context = dg.build_output_context(asset_key=KEY)
    manager.handle_output(context, None)
    assert logged_path(context) is None


@pytest.mark.parametrize(
    "metadata_value",
    [dg.MetadataValue.path("/p/tokenize/x-abc123"), "/p/tokenize/x-abc123"],
)
def test_load_input_returns_upstream_definition_path(metadata_value: Any) -> None:
    manager = MarinPathIOManager(prefix="/elsewhere")
    upstream = dg.build_output_context(
        asset_key=["tokenize", "x"], definition_metadata={"marin/output_path": metadata_value}
    )
    context = dg.build_input_context(upstream_output=upstream, asset_key=["tokenize", "x"])
    loaded = manager.load_input(context)
    assert loaded == "/p/tokenize/x-abc123"
    assert type(loaded) is str


def test_load_input_without_definition_path_uses_latest_materialization() -> None:
    instance = dg.DagsterInstance.ephemeral()
    upstream_key = dg.AssetKey(["user", "made"])
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=upstream_key,
            metadata={"marin/output_path": dg.MetadataValue.path("gs://b/user/made")},
        )
    )
    manager = MarinPathIOManager(prefix="/elsewhere")
    context = dg.build_input_context(
        upstream_output=dg.build_output_context(asset_key=upstream_key),
        asset_key=upstream_key,
        instance=instance,
    )
    assert manager.load_input(context) == "gs://b/user/made"


def test_prefix_defaults_to_marin_prefix_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARIN_PREFIX", "gs://bucket/from-env")
    assert MarinPathIOManager().prefix == "gs://bucket/from-env"
    monkeypatch.delenv("MARIN_PREFIX")
    assert MarinPathIOManager().prefix == os.path.abspath("marin_outputs")
