"""Staleness cannot be misjudged: recorded holder settings, nonsense timestamps, validation;
and a directory where a status file should be."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
import uuid
from pathlib import Path

import fsspec
import pytest

from marin_dagster.core.lease import StepLease, should_run, step_lock
from marin_dagster.core.lease_record import Lease, validate_lease_settings
from marin_dagster.core.runner import RunOptions
from marin_dagster.core.status import (
    LOCK_FILE,
    STATUS_FILE,
    StatusFileError,
    StepStatus,
    read_status,
    write_status,
)

pytestmark = pytest.mark.usefixtures("memory_fs")


@pytest.fixture(params=["local", "memory"])
def step(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "tokenize" / "fineweb-ce2dd5")
    return f"memory://stale-{uuid.uuid4().hex[:8]}/tokenize/fineweb-ce2dd5"


def _lock_url(step: str) -> tuple[fsspec.AbstractFileSystem, str]:
    return fsspec.core.url_to_fs(f"{step}/{LOCK_FILE}")


def _raw_lock(step: str) -> bytes | None:
    fs, path = _lock_url(step)
    try:
        return fs.cat_file(path)
    except FileNotFoundError:
        return None


def _write_raw_lock(step: str, worker_id: str, timestamp: float) -> None:
    fs, path = _lock_url(step)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    # allow_nan: Python's json (and so Marin) writes and reads NaN / Infinity
    fs.pipe_file(path, json.dumps({"worker_id": worker_id, "timestamp": timestamp}).encode())


@dataclasses.dataclass
class MarinLease:
    """Marin's own lease record (rigging/filesystem/distributed_lock.py): two fields only."""

    worker_id: str
    timestamp: float


class Clocks:
    """A wall clock and a monotonic clock the test moves by hand."""

    def __init__(self, wall: float = 1000.0) -> None:
        self.wall = wall
        self.mono = 0.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def _lease(step: str, worker_id: str, clocks: Clocks, **kwargs: float) -> StepLease:
    return StepLease(
        step,
        worker_id=worker_id,
        readback_delay=0,
        clock=lambda: clocks.wall,
        monotonic=lambda: clocks.mono,
        **kwargs,
    )


# --- recorded settings ------------------------------------------------------------------------


def test_lock_stays_readable_by_marin_and_records_the_holders_settings(step: str) -> None:
    holder = StepLease(step, worker_id="w1", heartbeat_interval=2.0, timeout=7.5, readback_delay=0)
    assert holder.try_acquire()
    data = _raw_lock(step)
    assert data is not None
    marin_view = MarinLease(**json.loads(data))  # raises on any key Marin does not know
    assert marin_view.worker_id == "w1 [lease heartbeat=2s timeout=7.5s]"
    ours = Lease.from_bytes(data)
    assert ours is not None
    assert (ours.holder, ours.heartbeat_interval, ours.timeout) == ("w1", 2.0, 7.5)


def test_a_shorter_reader_timeout_does_not_take_over_a_live_lease(step: str) -> None:
    """The reproduction: a worker configured with 5 s used to take over a 90 s holder."""
    clocks = Clocks()
    holder = _lease(step, "holder", clocks)  # Marin's defaults: 30 s heartbeat, 90 s timeout
    impatient = _lease(step, "impatient", clocks, timeout=5.0)
    assert holder.try_acquire()
    clocks.advance(20.0)  # no heartbeat due yet (30 s); far past the reader's own 5 s
    assert impatient.active_holder() == "holder"
    assert not impatient.try_acquire()
    holder.refresh()  # the holder is untouched
    clocks.advance(90.5)
    assert impatient.try_acquire()  # only after the holder's own 90 s


def test_a_longer_reader_timeout_wins_over_the_holders(step: str) -> None:
    clocks = Clocks()
    holder = _lease(step, "holder", clocks, timeout=2.0)
    patient = _lease(step, "patient", clocks, timeout=10.0)
    assert holder.try_acquire()
    clocks.advance(5.0)
    assert not patient.try_acquire()
    clocks.advance(5.5)
    assert patient.try_acquire()


def test_a_marin_lock_without_settings_is_judged_with_marins_90s(step: str) -> None:
    clocks = Clocks()
    _write_raw_lock(step, "marin-host-140234", clocks.wall)
    reader = _lease(step, "me", clocks, timeout=3.0)
    clocks.advance(60.0)
    assert reader.active_holder() == "marin-host-140234"
    clocks.advance(31.0)
    assert reader.active_holder() is None


def test_a_slightly_skewed_holder_clock_is_still_fresh(step: str) -> None:
    clocks = Clocks()
    _write_raw_lock(step, "ahead [lease heartbeat=1s timeout=4s]", clocks.wall + 3.0)
    reader = _lease(step, "me", clocks, timeout=4.0)
    assert reader.active_holder() == "ahead"
    clocks.advance(6.9)
    assert reader.active_holder() == "ahead"  # 3.9 s after its (future) timestamp
    clocks.advance(0.2)
    assert reader.active_holder() is None


def test_a_reader_clock_ahead_by_less_than_timeout_minus_heartbeat_keeps_a_live_holder(
    step: str,
) -> None:
    clocks = Clocks()
    holder = _lease(step, "holder", clocks)  # 30 s heartbeat, 90 s timeout
    assert holder.try_acquire()
    ahead = Clocks(wall=clocks.wall + 59.0)  # this reader's clock runs 59 s ahead
    reader = _lease(step, "reader", ahead)
    for _ in range(4):  # the holder refreshes every 30 s; the reader never sees it stale
        clocks.advance(30.0)
        ahead.advance(30.0)
        assert reader.active_holder() == "holder"
        holder.refresh()


def test_a_nonsense_recorded_timeout_is_capped(step: str) -> None:
    clocks = Clocks()
    _write_raw_lock(step, "w [lease heartbeat=1s timeout=1e+30s]", clocks.wall)
    reader = _lease(step, "me", clocks, timeout=3.0)
    clocks.advance(23 * 3600.0)
    assert reader.active_holder() == "w"
    clocks.advance(3600.0 + 1)
    assert reader.active_holder() is None  # honoured up to 24 h, not forever


# --- nonsense timestamps: stale after a bounded time, with a warning ---------------------------


@pytest.mark.parametrize("timestamp", [math.nan, math.inf, -math.inf, 1e12])
def test_a_nonsense_timestamp_is_stale_after_a_bounded_time(
    step: str, timestamp: float, caplog: pytest.LogCaptureFixture
) -> None:
    """Reproduction: NaN never compares stale and a far-future lock never ages, so a waiter
    used to wait forever. Now: judged by when this reader first saw it."""
    clocks = Clocks()
    write_status(step, StepStatus.RUNNING)
    _write_raw_lock(step, "broken [lease heartbeat=1s timeout=4s]", timestamp)
    lease = _lease(step, "me", clocks, timeout=4.0)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clocks.advance(seconds)

    if timestamp == -math.inf:  # infinitely old is simply stale
        assert should_run(step, "s", lease=lease, poll_interval=1.0, sleep=sleep)
        assert sleeps == []
        return
    with caplog.at_level(logging.WARNING):
        assert should_run(step, "s", lease=lease, poll_interval=1.0, max_wait=60, sleep=sleep)
    assert 4.0 <= sum(sleeps) <= 6.0  # the recorded timeout, then the next poll
    warnings = [r for r in caplog.records if "untrustworthy timestamp" in r.getMessage()]
    assert len(warnings) == 1
    assert Lease.from_bytes(_raw_lock(step)) is not None
    assert lease.active_holder() == "me"


def test_a_live_holder_with_a_far_future_clock_is_never_taken_over(step: str) -> None:
    clocks = Clocks()
    write_status(step, StepStatus.RUNNING)
    beats = iter(range(1, 1000))

    def holder_beats() -> None:  # a live holder whose clock is a day ahead keeps refreshing
        _write_raw_lock(step, "future [lease heartbeat=1s timeout=4s]", 1e12 + next(beats))

    holder_beats()
    lease = _lease(step, "me", clocks, timeout=4.0)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clocks.advance(seconds)
        holder_beats()
        if len(sleeps) == 20:
            write_status(step, StepStatus.SUCCESS)

    assert should_run(step, "s", lease=lease, poll_interval=1.0, max_wait=60, sleep=sleep) is False
    assert len(sleeps) == 20
    assert Lease.from_bytes(_raw_lock(step)) == Lease(
        "future [lease heartbeat=1s timeout=4s]", 1e12 + 21
    )


# --- settings are validated -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heartbeat", "timeout", "match"),
    [
        (90.0, 30.0, "shorter than its timeout"),
        (30.0, 30.0, "shorter than its timeout"),
        (0.0, 30.0, "heartbeat_interval must be a positive"),
        (-1.0, 30.0, "heartbeat_interval must be a positive"),
        (1.0, math.nan, "timeout must be a positive"),
        (1.0, math.inf, "timeout must be a positive"),
    ],
)
def test_invalid_lease_settings_are_refused_before_any_io(
    step: str, heartbeat: float, timeout: float, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        validate_lease_settings(heartbeat, timeout)
    with pytest.raises(ValueError, match=match):
        StepLease(step, heartbeat_interval=heartbeat, timeout=timeout)
    with (
        pytest.raises(ValueError, match=match),
        step_lock(step, "s", heartbeat_interval=heartbeat, timeout=timeout),
    ):
        pytest.fail("body must not run")
    with pytest.raises(ValueError, match=match):
        RunOptions(heartbeat_interval=heartbeat, lease_timeout=timeout)
    assert _raw_lock(step) is None and read_status(step) is None


def test_waiting_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        RunOptions(poll_interval=0)
    with pytest.raises(ValueError, match="max_wait"):
        RunOptions(max_wait=-1)
    assert RunOptions(heartbeat_interval=0.5, lease_timeout=2.0).lease_timeout == 2.0


def test_a_short_timeout_alone_gets_a_heartbeat_that_fits(step: str) -> None:
    lease = StepLease(step, timeout=3.0)
    assert lease.heartbeat_interval == 1.0
    assert StepLease(step).heartbeat_interval == 30.0


# --- a directory where a status file should be ------------------------------------------------


def test_a_status_directory_is_a_clear_error_and_nothing_is_marked(step: str) -> None:
    fs, status_path = fsspec.core.url_to_fs(f"{step}/{STATUS_FILE}")
    fs.makedirs(status_path, exist_ok=True)
    fs.pipe_file(f"{status_path}/stray.txt", b"not a status")
    with pytest.raises(StatusFileError, match=r"Step tok/x: .*\.executor_status is a directory"):
        should_run(step, "tok/x", lease=StepLease(step, worker_id="me", readback_delay=0))
    with (
        pytest.raises(StatusFileError, match="is a directory"),
        step_lock(step, "tok/x"),
    ):
        pytest.fail("body must not run")
    assert fs.isdir(status_path) and fs.cat_file(f"{status_path}/stray.txt") == b"not a status"
    assert _raw_lock(step) is None  # the lease was given back


def test_lease_record_times_out_the_same_for_every_reader() -> None:
    record = Lease("w [lease heartbeat=10s timeout=40s]", time.time() - 50)
    assert record.is_stale(timeout=5) and record.is_stale(timeout=40)
    assert not record.is_stale(timeout=60)
