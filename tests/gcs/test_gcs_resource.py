"""``MarinGcsResource``: one dagster-gcp-style configuration for leases, status files and the
user's own assets (against fake-gcs-server)."""

from __future__ import annotations

import base64
import json

import dagster as dg
import pytest
from dagster_gcp import GCSResource
from gcs_emulator import BUCKET

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
