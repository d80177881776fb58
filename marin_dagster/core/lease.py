"""The ``.executor_status.lock`` lease, Marin's ``should_run`` loop and a ``step_lock``.

The lease file is JSON ``{"worker_id": str, "timestamp": float}`` (Marin's two keys; the holder's
heartbeat interval and timeout ride in ``worker_id``, see ``lease_record.py``). Its holder
refreshes it every ``heartbeat_interval`` seconds; a reader takes it over once it is older than
the larger of the reader's and the holder's ``timeout``. How it is written depends on the store:

- local disk: every read and write happens under ``fcntl.flock`` on the lock file itself (the
  same inode Marin's ``LocalFileLease`` locks), so acquisition is exclusive;
- ``gs://``: conditional create and compare-and-swap on the object's generation
  (google-cloud-storage, see ``gcs_lease.py``), as Marin's ``GcsLease``;
- other fsspec filesystems: best effort, write, wait ``readback_delay``, read back to confirm.

Example:
    >>> with step_lock("memory://p/tokenize/fineweb-ce2dd5", "tokenize/fineweb") as lease:
    ...     write_status(lease.fs_path, StepStatus.SUCCESS)  # only after the step returned
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator

from marin_dagster.core.gcs_lease import GcsLeaseStore
from marin_dagster.core.heartbeat import HEARTBEATS
from marin_dagster.core.lease_record import (
    HEARTBEAT_INTERVAL,
    HEARTBEAT_TIMEOUT,
    Lease,
    StalenessJudge,
    tag_worker_id,
    validate_lease_settings,
)
from marin_dagster.core.status import (
    LOCK_FILE,
    STATUS_FILE,
    FsPath,
    StatusFileError,
    StepStatus,
    is_gcs,
    is_local,
    join_path,
    read_bytes,
    read_status,
    resolve,
    write_bytes,
    write_status,
)

__all__ = [
    "HEARTBEAT_INTERVAL",
    "HEARTBEAT_TIMEOUT",
    "Lease",
    "LeaseLostError",
    "PreviousTaskFailedError",
    "StepAlreadyDone",
    "StepLease",
    "default_worker_id",
    "should_run",
    "step_lock",
    "validate_lease_settings",
]

logger = logging.getLogger(__name__)

_WAIT_LOG_INTERVAL = 300.0


class LeaseLostError(Exception):
    """Another worker holds the lease, or the lock file vanished: the step must stop."""


class PreviousTaskFailedError(Exception):
    """The step failed previously and ``force_run_failed`` is False."""


class StepAlreadyDone(Exception):
    """Raised by :func:`step_lock` when the step has already succeeded."""


def default_worker_id() -> str:
    """A holder id unique to this host, process and thread."""
    return f"{socket.gethostname()}-{os.getpid()}-{threading.get_ident()}"


def _read_fd(fd: int) -> bytes:
    return os.pread(fd, 1 << 16, 0)  # a lease is ~100 bytes; regular files never short-read


def _overwrite_fd(fd: int, data: bytes) -> None:
    # Write, then cut any tail: truncating to zero first would make ext4 flush the file
    # (its replace-by-truncate heuristic), about 0.7 ms per write. Readers hold LOCK_SH.
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))


def _open_locked(path: str, *, create: bool) -> int:
    """Hold ``LOCK_EX`` on the inode now at ``path`` (retry if it was unlinked meanwhile)."""
    flags = os.O_RDWR | (os.O_CREAT if create else 0)
    while True:
        fd = os.open(path, flags, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            current = os.stat(path)
            if (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino):
                return fd
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


class StepLease:
    """The lease on one step's ``.executor_status.lock``.

    ``heartbeat_interval`` defaults to Marin's 30 s, or a third of a shorter ``timeout``.

    Example:
        >>> lease = StepLease("memory://p/step-abc123", worker_id="me", readback_delay=0)
        >>> lease.try_acquire(), lease.active_holder()
        (True, 'me')
        >>> lease.release(); lease.active_holder() is None
        True
    """

    def __init__(
        self,
        output_path: str | FsPath,
        worker_id: str | None = None,
        heartbeat_interval: float | None = None,
        timeout: float = HEARTBEAT_TIMEOUT,
        *,
        readback_delay: float = 0.1,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if heartbeat_interval is None:
            heartbeat_interval = min(HEARTBEAT_INTERVAL, timeout / 3)
        validate_lease_settings(heartbeat_interval, timeout)
        self.fs_path: FsPath = resolve(output_path)
        self.worker_id = worker_id or default_worker_id()
        self.heartbeat_interval = heartbeat_interval
        self.timeout = timeout
        self.readback_delay = readback_delay
        self.clock = clock
        self.judge = StalenessJudge(timeout, clock=clock, monotonic=monotonic)
        self.record_id = tag_worker_id(self.worker_id, heartbeat_interval, timeout)
        """What this holder writes as ``worker_id``: its id plus its settings."""
        self.lock_path = join_path(self.fs_path[1], LOCK_FILE)
        self.lost = threading.Event()  # set by step_lock's heartbeat
        self._io_lock = threading.RLock()
        self._local = is_local(self.fs_path[0])
        self._gcs = GcsLeaseStore(self.lock_path) if is_gcs(self.fs_path[0]) else None

    def _mine(self, lease: Lease | None) -> bool:
        return lease is not None and lease.holder == self.worker_id

    def _record(self) -> Lease:
        return Lease(self.record_id, self.clock())

    def read(self) -> Lease | None:
        """The current lease, stale or not; ``None`` if there is no lock file."""
        if self._gcs is not None:
            return self._gcs.read()[0]
        if not self._local:
            return Lease.from_bytes(read_bytes(self.fs_path[0], self.lock_path))
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return Lease.from_bytes(_read_fd(fd))
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _locked(
        self, *, create: bool
    ) -> Iterator[tuple[Lease | None, Callable[[Lease | None], None]]]:
        """Yield the current lease and a writer (``None`` deletes); exclusive on local disk."""
        fs, path = self.fs_path[0], self.lock_path
        if not self._local:

            def put_remote(lease: Lease | None) -> None:
                if lease is not None:
                    write_bytes(fs, path, lease.to_bytes())
                else:
                    with contextlib.suppress(FileNotFoundError):
                        fs.rm_file(path)

            yield self.read(), put_remote
            return
        if create:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            fd = _open_locked(path, create=create)
        except (FileNotFoundError, NotADirectoryError):
            yield None, lambda lease: None
            return

        def put_local(lease: Lease | None) -> None:
            if lease is not None:
                _overwrite_fd(fd, lease.to_bytes())
            else:
                os.unlink(path)  # while holding the flock, so waiters see a new inode

        try:
            yield Lease.from_bytes(_read_fd(fd)), put_local
        finally:
            os.close(fd)

    def _fresh(self, lease: Lease | None) -> bool:
        return lease is not None and not self.judge.is_stale(lease)

    def try_acquire(self) -> bool:
        """Take the lease if it is absent, stale or already mine; False if fresh and foreign."""
        with self._io_lock:
            return self._try_acquire()

    def _try_acquire(self) -> bool:
        if self._gcs is not None:
            current, generation = self._gcs.read()
            if current is not None and self._fresh(current):
                return self._mine(current)
            if self._gcs.write(self._record(), generation) is None:
                logger.debug("[%s] Lost lock race for %s", self.worker_id, self.lock_path)
                return False
            return True
        with self._locked(create=True) as (current, put):
            if current is not None and self._fresh(current):
                return self._mine(current)
            put(self._record())
        if self._local:
            return True  # checked and written under an exclusive flock: nobody raced us
        if self.readback_delay > 0:
            time.sleep(self.readback_delay)
        if self._mine(self.read()):
            return True
        logger.debug("[%s] Lost lock race for %s", self.worker_id, self.lock_path)
        return False

    def refresh(self) -> None:
        """Rewrite my timestamp; ``LeaseLostError`` if the lock vanished or is someone else's.

        On ``gs://`` the rewrite is a compare-and-swap on the generation just read, so a
        takeover between the read and the write is detected, never overwritten.
        """
        with self._io_lock:  # the heartbeat and the runner's last refresh never interleave
            if self._gcs is None:
                with self._locked(create=False) as (current, put):
                    self._check_mine(current)
                    put(self._record())
                return
            for _ in range(3):  # a 412 whose re-read shows my record again: swap once more
                current, generation = self._gcs.read()
                self._check_mine(current)
                if self._gcs.write(self._record(), generation) is not None:
                    return
            raise LeaseLostError(f"Lease lost: {self.lock_path} keeps changing underneath me")

    def _check_mine(self, current: Lease | None) -> None:
        if not self._mine(current):
            holder = "nobody (the lock file vanished)" if current is None else current.holder
            raise LeaseLostError(f"Lease lost: {self.lock_path} is held by {holder}")

    def release(self) -> None:
        """Delete the lock file if I hold it. Idempotent."""
        with self._io_lock:
            if self._gcs is not None:
                current, generation = self._gcs.read()
                if self._mine(current):
                    self._gcs.delete(generation)
                return
            with self._locked(create=False) as (current, put):
                if self._mine(current):
                    put(None)

    def active_holder(self) -> str | None:
        """The holder of a fresh (non-stale) lease, or ``None``."""
        current = self.read()
        return current.holder if current is not None and self._fresh(current) else None


def should_run(
    output_path: str | FsPath,
    step_name: str,
    *,
    force_run_failed: bool = True,
    force_rerun: bool = False,
    lease: StepLease | None = None,
    poll_interval: float = 5.0,
    retry_interval: float = 1.0,
    max_wait: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Marin's loop: skip SUCCESS, wait for a live RUNNING holder, else take the lease.

    Returns True with the lease held and ``RUNNING`` written, or False when the step has
    succeeded (before or while waiting). ``max_wait`` bounds the waiting (the larger of wall
    time and total requested sleep), then ``TimeoutError``.

    Example:
        >>> should_run("memory://p/fresh-000000", "fresh")
        True
    """
    if lease is None:
        lease = StepLease(output_path)
    elif resolve(output_path)[1] != lease.fs_path[1]:
        raise ValueError(f"Step {step_name}: lease is for {lease.fs_path[1]}, not {output_path}")
    fs_path = lease.fs_path
    wid = lease.worker_id
    start, slept, next_log = time.monotonic(), 0.0, 0.0

    def wait(seconds: float, why: str) -> None:
        nonlocal slept
        if max_wait is not None and max(time.monotonic() - start, slept) >= max_wait:
            raise TimeoutError(f"Step {step_name}: gave up after {max_wait}s waiting ({why})")
        sleep(seconds)
        slept += seconds

    def status_now() -> StepStatus | None:
        try:
            return read_status(fs_path)
        except StatusFileError as exc:
            raise StatusFileError(f"Step {step_name}: {exc}") from exc

    while True:
        status = status_now()
        if status is StepStatus.SUCCESS and not force_rerun:
            logger.info("[%s] Step %s has already succeeded.", wid, step_name)
            return False
        if status in (StepStatus.FAILED, StepStatus.DEP_FAILED):
            if not force_run_failed:
                raise PreviousTaskFailedError(
                    f"Step {step_name} failed previously. Status: {status}"
                )
            logger.info("[%s] Force running %s, previous status: %s", wid, step_name, status)
        elif status is StepStatus.RUNNING:
            holder = lease.active_holder()
            if holder is not None and holder != wid:
                if slept >= next_log:
                    logger.info("[%s] %s is RUNNING under %s; waiting", wid, step_name, holder)
                    next_log = slept + _WAIT_LOG_INTERVAL
                wait(poll_interval, f"held by {holder}")
                continue
            logger.info("[%s] Step %s has no active lock, taking over.", wid, step_name)
        if lease.try_acquire():
            recheck = status_now()
            if recheck is StepStatus.SUCCESS and not force_rerun:
                logger.info("[%s] Step %s completed by another worker.", wid, step_name)
                lease.release()
                return False
            if recheck is None:
                _refuse_status_directory(lease, step_name)
            write_status(fs_path, StepStatus.RUNNING)
            logger.info("[%s] Acquired lock for %s", wid, step_name)
            return True
        logger.info("[%s] Lost lock race for %s, retrying...", wid, step_name)
        wait(retry_interval, "lost lock race")


def _refuse_status_directory(lease: StepLease, step_name: str) -> None:
    """On object stores a "directory" reads as absent: check once before running the step."""
    fs, path = lease.fs_path
    status_path = join_path(path, STATUS_FILE)
    if not is_local(fs) and fs.isdir(status_path):
        lease.release()
        raise StatusFileError(
            f"Step {step_name}: {status_path} is a directory, not a status file; move it away "
            "(nothing was run or marked)"
        )


@contextlib.contextmanager
def step_lock(
    output_path: str | FsPath,
    step_name: str,
    *,
    force_run_failed: bool = True,
    force_rerun: bool = False,
    heartbeat_interval: float | None = None,
    timeout: float = HEARTBEAT_TIMEOUT,
    worker_id: str | None = None,
    poll_interval: float = 5.0,
    max_wait: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[StepLease]:
    """Hold a step's lease (heartbeat included) for the body; ``StepAlreadyDone`` if done.

    The body writes SUCCESS or FAILED itself; writing a status never releases the lock. On exit
    the heartbeat stops, a lost lease raises ``LeaseLostError``, else the lock is released.
    ``heartbeat_interval`` defaults as in :class:`StepLease`; invalid settings raise
    ``ValueError`` before anything is read or written.

    Example:
        >>> with step_lock("memory://p/s-123abc", "s", heartbeat_interval=0.05) as lease:
        ...     write_status(lease.fs_path, StepStatus.SUCCESS)
    """
    lease = StepLease(output_path, worker_id, heartbeat_interval, timeout)
    validate_lease_settings(
        lease.heartbeat_interval, timeout, poll_interval=poll_interval, max_wait=max_wait
    )
    if not should_run(
        lease.fs_path,
        step_name,
        force_run_failed=force_run_failed,
        force_rerun=force_rerun,
        lease=lease,
        poll_interval=poll_interval,
        max_wait=max_wait,
        sleep=sleep,
    ):
        raise StepAlreadyDone(step_name)

    def beat() -> bool:
        try:
            lease.refresh()
        except LeaseLostError:
            logger.exception("Lease lost for step %s; it must terminate", step_name)
            lease.lost.set()
            return False
        return True

    token = HEARTBEATS.add(beat, lease.heartbeat_interval, f"heartbeat:{step_name}")
    try:
        yield lease
    finally:
        HEARTBEATS.remove(token)
        if lease.lost.is_set():
            if not isinstance(sys.exc_info()[1], LeaseLostError):  # keep the body's own report
                raise LeaseLostError(f"Lease lost for step {step_name} at {lease.lock_path}")
        else:
            lease.release()
