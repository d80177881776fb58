"""``MarinGcsResource``: one dagster-gcp-style configuration for leases, status files and the
user's own assets (against fake-gcs-server)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import dagster as dg
import pytest
from dagster_gcp import GCSResource
from gcs_emulator import BUCKET
from pipelines import counting

from marin_dagster.core.gcs import GcsSettings, current_gcs_settings
from marin_dagster.core.lease import StepLease
from marin_dagster.core.status import LOCK_FILE, StepStatus, read_status, resolve, write_status
from marin_dagster.storage import MarinGcsResource


def test_resource_settings_reach_leases_status_files_and_assets(gs_prefix: str) -> None:
    gcs = MarinGcsResource(project="marin-proj", token="anon")
    assert isinstance(gcs, GCSResource)  # a drop-in wherever dagster-gcp's resource is used
    step = f"{gs_prefix}/res-abc123"
    with gcs.activate() as settings:
        assert current_gcs_settings() is settings
        assert resolve(step)[0].project == "marin-proj"
        lease = StepLease(step, worker_id="me", timeout=3.0)
        assert lease.try_acquire()
        write_status(step, StepStatus.RUNNING)
    assert current_gcs_settings() == GcsSettings.from_env()
    prefix_name = gs_prefix.removeprefix(f"gs://{BUCKET}/")

    @dg.asset
    def lock_objects(gcs: GCSResource) -> list[str]:
        client = gcs.get_client()
        assert client.project == "marin-proj"
        return sorted(b.name for b in client.list_blobs(BUCKET, prefix=prefix_name))

    result = dg.materialize([lock_objects], resources={"gcs": gcs})
    assert result.success
    names = result.output_for_node("lock_objects")
    assert f"{prefix_name}/res-abc123/{LOCK_FILE}" in names
    assert read_status(step) is StepStatus.RUNNING


def test_service_account_key_is_decoded_in_memory() -> None:
    key = {"type": "service_account", "project_id": "p", "client_email": "sa@p.iam"}
    encoded = base64.b64encode(json.dumps(key).encode()).decode()
    settings = MarinGcsResource(project="p", gcp_credentials=encoded).settings()
    assert settings == GcsSettings(project="p", token=key)
    assert settings.storage_options() == {"project": "p", "token": key}
    with pytest.raises(ValueError, match="base64-encoded service-account JSON key"):
        MarinGcsResource(gcp_credentials="not base64!").settings()
    with pytest.raises(dg.DagsterInvalidConfigError, match="not both"):
        MarinGcsResource(gcp_credentials=encoded, token="anon").settings()


def test_step_assets_use_the_io_managers_gcs_settings(
    gs_prefix: str, monkeypatch: pytest.MonkeyPatch, call_log: Callable[[], list[str]]
) -> None:
    import marin_dagster.core.lease as lease_module
    from marin_dagster import build_definitions
    from marin_dagster.core.gcs_lease import GcsLeaseStore
    from marin_dagster.storage import MarinGcsIOManager

    projects: list[str | None] = []

    class SpyStore(GcsLeaseStore):
        def __init__(self, lock_path: str, settings: GcsSettings | None = None) -> None:
            super().__init__(lock_path, settings)
            projects.append(self.settings.project)

    monkeypatch.setattr(lease_module, "GcsLeaseStore", SpyStore)
    gcs = MarinGcsResource(project="marin-proj", token="anon")
    defs = build_definitions(
        [counting.build_steps()["eval/score"]],
        prefix=gs_prefix,
        resources={"marin_io_manager": MarinGcsIOManager(prefix=gs_prefix, gcs=gcs)},
    )
    result = defs.resolve_job_def("all_steps").execute_in_process(
        instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    assert sorted(call_log()) == sorted(counting.ALL_NAMES)
    assert projects and set(projects) == {"marin-proj"}


def test_the_readme_bucket_example_builds() -> None:
    import re
    from pathlib import Path

    from marin_dagster import build_definitions
    from marin_dagster.storage import MarinGcsIOManager

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = next(
        b
        for b in re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
        if "MarinGcsIOManager" in b
    )
    namespace: dict[str, object] = {
        "steps": [counting.build_steps()["eval/score"]],
        "build_definitions": build_definitions,
    }
    exec(compile(block, "README.md", "exec"), namespace)
    defs = namespace["defs"]
    assert isinstance(defs, dg.Definitions)
    io_manager = (defs.resources or {})["marin_io_manager"]
    assert isinstance(io_manager, MarinGcsIOManager)
    assert io_manager.gcs.project == "my-project"
    assert defs.resolve_job_def("all_steps") is not None
