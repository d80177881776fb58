"""Fixtures for the gs:// tier: one fake-gcs-server per session, a fresh prefix per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from gcs_emulator import BUCKET, FakeGcs, require_emulator

# gcsfs reads this once, at import: without it every new bucket waits 60 s on a gRPC probe
# against an emulator (real GCS is unaffected). Set before anything imports gcsfs.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGcs]:
    """fake-gcs-server on 127.0.0.1 (free port, in memory, bucket ``marin-test``)."""
    binary = require_emulator()
    with FakeGcs.start(binary, tmp_path_factory.mktemp("fake-gcs"), bucket=BUCKET) as server:
        yield server


@pytest.fixture
def gcs_env(fake_gcs: FakeGcs, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point google-cloud-storage and gcsfs at the emulator (anonymous credentials)."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs.url)
    monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    return {
        "STORAGE_EMULATOR_HOST": fake_gcs.url,
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
    }


@pytest.fixture
def gs_prefix(gcs_env: dict[str, str]) -> str:
    """A prefix of its own in the emulator's bucket."""
    return f"gs://{BUCKET}/t-{uuid.uuid4().hex[:10]}"
