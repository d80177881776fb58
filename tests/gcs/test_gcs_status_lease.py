"""Status files and the lease on gs://, against fake-gcs-server (which enforces
``ifGenerationMatch`` on uploads, as real GCS does)."""

from __future__ import annotations

import json
import time

import fsspec
import pytest
from gcs_emulator import BUCKET

from marin_dagster.core.gcs import GcsSettings, current_gcs_settings, use_gcs
from marin_dagster.core.gcs_lease import GcsLeaseStore
from marin_dagster.core.lease import (
    LeaseLostError,
    StepAlreadyDone,
    StepLease,
    should_run,
    step_lock,
)
from marin_dagster.core.lease_record import Lease
from marin_dagster.core.status import (
    LOCK_FILE,
    STATUS_FILE,
    StatusFileError,
    StepStatus,
    is_gcs,
    read_info,
    read_status,
    resolve,
    write_info,
    write_status,
)


def _blob(url: str):  # type: ignore[no-untyped-def]
    from google.cloud import storage

    bucket, _, name = url.removeprefix("gs://").partition("/")
    return storage.Client().bucket(bucket).blob(name)


def _raw_lock(step: str) -> dict[str, object] | None:
    from google.api_core.exceptions import NotFound

    try:
        return json.loads(_blob(f"{step}/{LOCK_FILE}").download_as_bytes())
    except NotFound:
        return None


def _write_raw_lock(step: str, worker_id: str, timestamp: float) -> None:
    """Write a lock exactly as Marin's executor does (unconditionally here)."""
    data = json.dumps({"worker_id": worker_id, "timestamp": timestamp})
    _blob(f"{step}/{LOCK_FILE}").upload_from_string(data)


def test_status_and_info_round_trip(gs_prefix: str) -> None:
    step = f"{gs_prefix}/tokenize/fineweb-ce2dd5"
    assert read_status(step) is None
    for status in (StepStatus.RUNNING, StepStatus.FAILED, StepStatus.SUCCESS):
        write_status(step, status)
        assert read_status(step) is status
    assert _blob(f"{step}/{STATUS_FILE}").download_as_bytes() == b"SUCCESS"
    legacy = f"{gs_prefix}/legacy-abc123"
    _blob(f"{legacy}/{STATUS_FILE}").upload_from_string(
        '{"status": "RUNNING"}\n{"status": "DEP_FAILED"}\n'
    )
    assert read_status(legacy) is StepStatus.DEP_FAILED
    write_info(step, {"name": "tokenize/fineweb", "version": {}})
    assert read_info(step) == {"name": "tokenize/fineweb", "version": {}}
    assert is_gcs(resolve(step)[0])


def test_lease_protocol(gs_prefix: str) -> None:
    step = f"{gs_prefix}/s-000001"
    first = StepLease(step, worker_id="first", timeout=3.0)
    second = StepLease(step, worker_id="second", timeout=3.0)
    assert first.try_acquire() and first.try_acquire()  # mine already
    assert not second.try_acquire()
    assert second.active_holder() == "first"
    second.release()  # not mine: must not delete
    assert _raw_lock(step) is not None
    with pytest.raises(LeaseLostError, match="first"):
        second.refresh()
    before = _raw_lock(step)
    first.refresh()
    after = _raw_lock(step)
    assert before and after and after["timestamp"] >= before["timestamp"]  # type: ignore[operator]
    assert after["worker_id"] == "first [lease heartbeat=1s timeout=3s]"
    first.release()
    assert _raw_lock(step) is None
    first.release()  # idempotent
    assert second.try_acquire() and second.active_holder() == "second"


def test_conditional_create_lets_exactly_one_writer_win(gs_prefix: str) -> None:
    """Both saw no lock (generation 0); the second create is refused with 412."""
    store = GcsLeaseStore(f"{gs_prefix}/s-000002/{LOCK_FILE}")
    assert store.read() == (None, 0)
    first_gen = store.write(Lease("a", time.time()), 0)
    assert first_gen is not None and first_gen > 0
    assert store.write(Lease("b", time.time()), 0) is None
    current, generation = store.read()
    assert current is not None and current.worker_id == "a" and generation == first_gen


def test_refresh_is_a_compare_and_swap(gs_prefix: str) -> None:
    """A takeover landing between the holder's read and its write is detected, not overwritten."""
    step = f"{gs_prefix}/s-000003"
    holder = StepLease(step, worker_id="holder", timeout=3.0)
    assert holder.try_acquire()
    assert holder._gcs is not None
    _, seen_generation = holder._gcs.read()
    _write_raw_lock(step, "thief", time.time())  # lands after the holder's read
    assert holder._gcs.write(Lease(holder.record_id, time.time()), seen_generation) is None
    with pytest.raises(LeaseLostError, match="thief"):
        holder.refresh()
    assert (_raw_lock(step) or {})["worker_id"] == "thief"


def test_vanished_lock_is_fatal_and_never_recreated(gs_prefix: str) -> None:
    step = f"{gs_prefix}/s-000004"
    lease = StepLease(step, worker_id="me", timeout=3.0)
    assert lease.try_acquire()
    _blob(f"{step}/{LOCK_FILE}").delete()
    with pytest.raises(LeaseLostError, match="vanished"):
        lease.refresh()
    assert _raw_lock(step) is None


def test_stale_marin_lock_is_taken_over(gs_prefix: str) -> None:
    step = f"{gs_prefix}/s-000005"
    write_status(step, StepStatus.RUNNING)
    _write_raw_lock(step, "marin-host-140234", time.time() - 1000)
    assert should_run(step, "s", lease=StepLease(step, worker_id="me", timeout=3.0))
    assert StepLease(step, timeout=3.0).active_holder() == "me"


def test_step_lock_skips_success_and_heartbeats(gs_prefix: str) -> None:
    step = f"{gs_prefix}/s-000006"
    with step_lock(step, "s", heartbeat_interval=0.2, timeout=2.0) as lease:
        first = (_raw_lock(step) or {})["timestamp"]
        latest = first
        for _ in range(100):  # bounded: 10 s
            latest = (_raw_lock(step) or {})["timestamp"]
            if latest != first:
                break
            time.sleep(0.1)
        assert latest != first
        lease.refresh()
        write_status(lease.fs_path, StepStatus.SUCCESS)
    assert _raw_lock(step) is None
    with pytest.raises(StepAlreadyDone), step_lock(step, "s", timeout=2.0):
        pytest.fail("body must not run")


def test_status_directory_is_a_clear_error(gs_prefix: str) -> None:
    step = f"{gs_prefix}/s-000007"
    _blob(f"{step}/{STATUS_FILE}/stray.txt").upload_from_string("not a status")
    with pytest.raises(StatusFileError, match=r"Step tok/x: .*\.executor_status is a directory"):
        should_run(step, "tok/x", lease=StepLease(step, worker_id="me", timeout=3.0))
    assert _raw_lock(step) is None
    assert read_status(step) is None


def test_explicit_settings_reach_gcsfs_and_the_lease_client(gs_prefix: str) -> None:
    settings = GcsSettings(project="marin-proj", token="anon")
    assert current_gcs_settings().storage_options() == {"token": "anon"}  # emulator: anonymous
    with use_gcs(settings):
        fs, _ = resolve(f"{gs_prefix}/s-000008")
        assert fs.project == "marin-proj"
        lease = StepLease(f"{gs_prefix}/s-000008", worker_id="me", timeout=3.0)
        assert lease._gcs is not None and lease._gcs.settings is settings
        assert lease._gcs.settings.client().project == "marin-proj"
        assert lease.try_acquire()
    assert current_gcs_settings() is not settings
    fs2, path = fsspec.core.url_to_fs(f"gs://{BUCKET}/{gs_prefix.split('/')[-1]}", token="anon")
    assert fs2.exists(f"{path}/s-000008/{LOCK_FILE}")


def test_concurrent_refreshes_by_one_holder_never_lose_the_lease(gs_prefix: str) -> None:
    """The heartbeat thread and the runner's last refresh may overlap: both must succeed
    (before, both CAS'd on the same generation and the loser reported a lost lease)."""
    import threading

    lease = StepLease(f"{gs_prefix}/s-000009", worker_id="me", timeout=5.0)
    assert lease.try_acquire()
    errors: list[BaseException] = []

    def hammer() -> None:
        for _ in range(5):
            try:
                lease.refresh()
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert lease.active_holder() == "me"
