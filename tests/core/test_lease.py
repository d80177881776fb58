"""Lease protocol, Marin's should_run loop and step_lock (local disk and memory://)."""

from __future__ import annotations

import fcntl
import json
import threading
import time
import uuid
from pathlib import Path

import fsspec
import pytest

from marin_dagster.core.lease import (
    Lease,
    LeaseLostError,
    PreviousTaskFailedError,
    StepAlreadyDone,
    StepLease,
    default_worker_id,
    should_run,
    step_lock,
)
from marin_dagster.core.status import LOCK_FILE, StepStatus, read_status, write_status

BOUND = 200  # iterations for bounded polling loops (x 0.05 s = 10 s at most)


pytestmark = pytest.mark.usefixtures("memory_fs")


@pytest.fixture(params=["local", "memory"])
def step(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "tokenize" / "fineweb-ce2dd5")
    return f"memory://lease-{uuid.uuid4().hex[:8]}/tokenize/fineweb-ce2dd5"


def _lease(step: str, worker_id: str) -> StepLease:
    return StepLease(step, worker_id=worker_id, readback_delay=0)


def _read_lock(step: str) -> dict[str, object] | None:
    """Read a lock exactly as Marin's executor does (under ``LOCK_SH`` on local disk)."""
    fs, path = fsspec.core.url_to_fs(f"{step}/{LOCK_FILE}")
    try:
        if "://" in step:
            return json.loads(fs.cat_file(path))
        with open(path) as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH)
            return json.loads(f.read())
    except FileNotFoundError:
        return None


def _holder(step: str) -> str | None:
    """The holder recorded in the lock (its id without the settings suffix)."""
    raw = _read_lock(step)
    return None if raw is None else Lease(str(raw["worker_id"]), 0.0).holder


def _write_lock(step: str, worker_id: str, timestamp: float) -> None:
    """Write a lock exactly as Marin's executor does."""
    fs, path = fsspec.core.url_to_fs(f"{step}/{LOCK_FILE}")
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    fs.pipe_file(path, json.dumps({"worker_id": worker_id, "timestamp": timestamp}).encode())


def _delete_lock(step: str) -> None:
    fs, path = fsspec.core.url_to_fs(f"{step}/{LOCK_FILE}")
    fs.rm_file(path)


# --- lease ------------------------------------------------------------------------------------


def test_default_worker_id_is_per_thread() -> None:
    ids: list[str] = []
    thread = threading.Thread(target=lambda: ids.append(default_worker_id()))
    thread.start()
    thread.join(timeout=5)
    assert ids and ids[0] != default_worker_id()
    assert default_worker_id() == default_worker_id()


def test_acquire_refresh_release(step: str) -> None:
    now = [1000.0]
    me = StepLease(step, worker_id="me", readback_delay=0, clock=lambda: now[0])
    assert me.try_acquire()
    # Marin's two keys; the holder's settings ride in worker_id (Marin rejects extra keys)
    record = "me [lease heartbeat=30s timeout=90s]"
    assert _read_lock(step) == {"worker_id": record, "timestamp": 1000.0}
    assert me.try_acquire()  # already mine
    assert me.active_holder() == "me"
    now[0] = 1030.0
    me.refresh()
    assert _read_lock(step) == {"worker_id": record, "timestamp": 1030.0}
    me.release()
    assert _read_lock(step) is None
    me.release()  # idempotent
    assert me.active_holder() is None


def test_second_worker_refused_while_fresh(step: str) -> None:
    first, second = _lease(step, "first"), _lease(step, "second")
    assert first.try_acquire()
    assert not second.try_acquire()
    assert second.active_holder() == "first"
    second.release()  # not mine: must not delete
    assert _read_lock(step) is not None
    with pytest.raises(LeaseLostError, match="first"):
        second.refresh()
    first.release()
    assert second.try_acquire()
    assert second.active_holder() == "second"


def test_stale_marin_lock_is_taken_over(step: str) -> None:
    _write_lock(step, "marin-host-123", time.time() - 1000)
    me = _lease(step, "me")
    assert me.active_holder() is None  # stale is not active
    current = me.read()
    assert isinstance(current, Lease) and current.worker_id == "marin-host-123"
    assert current.is_stale() and not current.is_stale(timeout=2000)
    assert me.try_acquire()
    assert _holder(step) == "me"


def test_staleness_uses_the_holders_timeout_when_longer(step: str) -> None:
    now = [0.0]
    other = StepLease(step, worker_id="other", timeout=2.0, readback_delay=0, clock=lambda: now[0])
    me = StepLease(step, worker_id="me", timeout=2.0, readback_delay=0, clock=lambda: now[0])
    assert other.try_acquire()
    now[0] = 2.0
    assert not me.try_acquire()  # exactly at the timeout: still fresh
    now[0] = 2.5
    assert me.try_acquire()
    with pytest.raises(LeaseLostError, match="me"):
        other.refresh()


def test_vanished_lock_on_refresh_is_fatal(step: str) -> None:
    me = _lease(step, "me")
    assert me.try_acquire()
    _delete_lock(step)
    with pytest.raises(LeaseLostError, match="vanished"):
        me.refresh()
    assert _read_lock(step) is None  # refresh never recreates a vanished lock


def test_unreadable_lock_counts_as_absent(step: str) -> None:
    fs, path = fsspec.core.url_to_fs(f"{step}/{LOCK_FILE}")
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    fs.pipe_file(path, b"{half a lea")
    me = _lease(step, "me")
    assert me.active_holder() is None
    assert me.try_acquire()
    assert me.active_holder() == "me"


def _race(step: str) -> dict[str, bool]:
    """Two threads (default worker ids) try to acquire one lock at the same moment."""
    barrier = threading.Barrier(2, timeout=10)
    results: dict[str, bool] = {}

    def contend(name: str) -> None:
        lease = StepLease(step)  # default worker id: distinct per thread
        barrier.wait()
        results[name] = lease.try_acquire()
        results[f"{name}-holds"] = lease.worker_id == _holder(step)

    threads = [threading.Thread(target=contend, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.mark.parametrize("stale_lock", [False, True])
def test_two_threads_race_exactly_one_wins(tmp_path: Path, stale_lock: bool) -> None:
    for round_no in range(25):
        step = str(tmp_path / f"race-{round_no}")
        if stale_lock:
            _write_lock(step, "dead-worker", time.time() - 1000)
        results = _race(step)
        assert sorted([results["a"], results["b"]]) == [False, True], round_no
        winner = "a" if results["a"] else "b"
        assert results[f"{winner}-holds"]


# --- should_run -------------------------------------------------------------------------------


class FakeSleep:
    """Records sleeps; after ``flip_after`` calls runs ``action`` once."""

    def __init__(self, flip_after: int | None = None, action: object = None) -> None:
        self.calls: list[float] = []
        self.flip_after = flip_after
        self.action = action

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if len(self.calls) == self.flip_after and callable(self.action):
            self.action()


def test_success_is_skipped_without_touching_the_lock(step: str) -> None:
    write_status(step, StepStatus.SUCCESS)
    sleep = FakeSleep()
    assert should_run(step, "s", lease=_lease(step, "me"), sleep=sleep) is False
    assert _read_lock(step) is None
    assert read_status(step) is StepStatus.SUCCESS
    assert sleep.calls == []


def test_success_with_force_rerun_runs(step: str) -> None:
    write_status(step, StepStatus.SUCCESS)
    assert should_run(step, "s", lease=_lease(step, "me"), force_rerun=True)
    assert read_status(step) is StepStatus.RUNNING


@pytest.mark.parametrize("previous", [None, StepStatus.FAILED, StepStatus.DEP_FAILED])
def test_absent_or_failed_runs_and_writes_running(step: str, previous: StepStatus | None) -> None:
    if previous is not None:
        write_status(step, previous)
    assert should_run(step, "s", lease=_lease(step, "me"))
    assert read_status(step) is StepStatus.RUNNING
    assert _holder(step) == "me"


@pytest.mark.parametrize("previous", [StepStatus.FAILED, StepStatus.DEP_FAILED])
def test_failed_without_force_raises(step: str, previous: StepStatus) -> None:
    write_status(step, previous)
    expected = f"Step tok/x failed previously. Status: {previous.value}"
    with pytest.raises(PreviousTaskFailedError, match=expected):
        should_run(step, "tok/x", lease=_lease(step, "me"), force_run_failed=False)
    assert read_status(step) is previous
    assert _read_lock(step) is None


def test_running_with_live_foreign_lease_waits_until_success(step: str) -> None:
    write_status(step, StepStatus.RUNNING)
    _write_lock(step, "other", time.time())
    sleep = FakeSleep(flip_after=3, action=lambda: write_status(step, StepStatus.SUCCESS))
    assert should_run(step, "s", lease=_lease(step, "me"), poll_interval=7.0, sleep=sleep) is False
    assert sleep.calls == [7.0, 7.0, 7.0]
    assert _holder(step) == "other"  # never stolen


def test_running_with_stale_lease_is_taken_over(step: str) -> None:
    write_status(step, StepStatus.RUNNING)
    _write_lock(step, "crashed", time.time() - 1000)
    sleep = FakeSleep()
    assert should_run(step, "s", lease=_lease(step, "me"), sleep=sleep)
    assert sleep.calls == []
    assert _holder(step) == "me"
    assert read_status(step) is StepStatus.RUNNING


def test_running_without_lock_file_is_taken_over(step: str) -> None:
    write_status(step, StepStatus.RUNNING)
    assert should_run(step, "s", lease=_lease(step, "me"), sleep=FakeSleep())
    assert _holder(step) == "me"


def test_max_wait_raises_timeout_naming_the_step(step: str) -> None:
    write_status(step, StepStatus.RUNNING)
    _write_lock(step, "other", time.time())
    sleep = FakeSleep()
    with pytest.raises(TimeoutError, match="tokenize/fineweb"):
        should_run(step, "tokenize/fineweb", lease=_lease(step, "me"), max_wait=12.0, sleep=sleep)
    assert sleep.calls == [5.0, 5.0, 5.0]


def test_lost_race_retries_then_sees_success(step: str) -> None:
    _write_lock(step, "other", time.time())  # acquired, RUNNING not yet written
    sleep = FakeSleep(flip_after=1, action=lambda: write_status(step, StepStatus.SUCCESS))
    assert should_run(step, "s", lease=_lease(step, "me"), sleep=sleep) is False
    assert sleep.calls == [1.0]


def test_success_after_acquire_releases_and_skips(step: str) -> None:
    class FinishesMeanwhile(StepLease):
        def try_acquire(self) -> bool:
            won = super().try_acquire()
            write_status(step, StepStatus.SUCCESS)  # another worker finished just now
            return won

    lease = FinishesMeanwhile(step, worker_id="me", readback_delay=0)
    assert should_run(step, "s", lease=lease) is False
    assert _read_lock(step) is None
    assert read_status(step) is StepStatus.SUCCESS


def test_should_run_rejects_a_lease_for_another_path(step: str) -> None:
    with pytest.raises(ValueError, match="lease is for"):
        should_run(step, "s", lease=_lease(step + "-other", "me"))


# --- step_lock --------------------------------------------------------------------------------


def test_step_lock_skips_success(step: str) -> None:
    write_status(step, StepStatus.SUCCESS)
    with pytest.raises(StepAlreadyDone), step_lock(step, "s"):
        pytest.fail("body must not run")
    assert _read_lock(step) is None


def test_step_lock_holds_lock_until_exit_and_never_writes_success(step: str) -> None:
    with step_lock(step, "s", worker_id="me") as lease:
        assert read_status(step) is StepStatus.RUNNING
        assert _holder(step) == "me"
        write_status(lease.fs_path, StepStatus.SUCCESS)
        assert _holder(step) == "me"  # writing status keeps it
    assert _read_lock(step) is None
    assert read_status(step) is StepStatus.SUCCESS


def test_step_lock_body_error_releases_and_leaves_status(step: str) -> None:
    with pytest.raises(RuntimeError, match="boom"), step_lock(step, "s"):
        raise RuntimeError("boom")
    assert _read_lock(step) is None
    assert read_status(step) is StepStatus.RUNNING  # the caller writes FAILED, not step_lock


def test_step_lock_heartbeat_refreshes_timestamp(step: str) -> None:
    with step_lock(step, "s", heartbeat_interval=0.05) as lease:
        first = (_read_lock(step) or {}).get("timestamp")
        assert isinstance(first, float)
        latest = first
        for _ in range(BOUND):
            latest = (_read_lock(step) or {}).get("timestamp")
            if latest != first:
                break
            time.sleep(0.05)
        assert isinstance(latest, float) and latest > first
        assert _holder(step) == lease.worker_id
        assert not lease.lost.is_set()


def test_step_lock_lock_deleted_underneath_raises_on_exit(step: str) -> None:
    with pytest.raises(LeaseLostError), step_lock(step, "s", heartbeat_interval=0.05) as lease:
        _delete_lock(step)
        assert lease.lost.wait(timeout=10), "heartbeat never noticed the vanished lock"
    assert _read_lock(step) is None


def test_step_lock_lock_stolen_raises_on_exit(step: str) -> None:
    with pytest.raises(LeaseLostError), step_lock(step, "s", heartbeat_interval=0.05) as lease:
        _write_lock(step, "thief", time.time())
        assert lease.lost.wait(timeout=10)
    assert _holder(step) == "thief"  # not released by the loser
