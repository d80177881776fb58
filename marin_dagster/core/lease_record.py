"""The lease record in ``.executor_status.lock`` and the rule that judges it stale.

Marin reads the lock with ``Lease(**json.loads(data))``, so the JSON must keep exactly the two
keys ``{"worker_id", "timestamp"}``: an extra key would make Marin's reader raise. What a reader
needs to judge a lease (the holder's heartbeat interval and timeout) therefore travels inside the
opaque ``worker_id``, as a suffix Marin only ever compares for equality or logs::

    {"worker_id": "host-12-34 [lease heartbeat=30s timeout=90s]", "timestamp": 1764000000.0}

Staleness: a reader honours the larger of its own timeout and the holder's (a lock without the
suffix was written by Marin, whose holders use 90 s; a recorded timeout counts up to 24 h). A
timestamp that is NaN or lies further in the future than that timeout cannot be trusted; it is
judged by this reader's own monotonic clock instead: stale once the same record has been seen
unchanged for the timeout (a live holder rewrites it every heartbeat), with a warning.

Example:
    >>> lease = Lease(tag_worker_id("w1", 30, 90), 100.0)
    >>> lease.holder, lease.timeout
    ('w1', 90.0)
    >>> StalenessJudge(timeout=2, clock=lambda: 150.0).is_stale(lease)  # 50 s < 90 s
    False
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "HEARTBEAT_INTERVAL",
    "HEARTBEAT_TIMEOUT",
    "MAX_RECORDED_TIMEOUT",
    "Lease",
    "StalenessJudge",
    "tag_worker_id",
    "validate_lease_settings",
]

HEARTBEAT_INTERVAL = 30.0
"""Seconds between lease refreshes (Marin's default)."""
HEARTBEAT_TIMEOUT = 90.0
"""Seconds after which an unrefreshed lease is stale (Marin's default)."""
MAX_RECORDED_TIMEOUT = 24 * 3600.0
"""A holder's recorded timeout is honoured up to this (a reader's own may be longer)."""

logger = logging.getLogger(__name__)

_TAG = re.compile(r" \[lease heartbeat=(?P<hb>[^ \]]+)s timeout=(?P<to>[^ \]]+)s\]$")
_SEEN_LIMIT = 64  # records remembered by one judge (bounded memory)


def validate_lease_settings(
    heartbeat_interval: float,
    timeout: float,
    *,
    poll_interval: float | None = None,
    max_wait: float | None = None,
) -> None:
    """Raise ``ValueError`` unless all are finite, positive and ``heartbeat < timeout``.

    ``poll_interval`` (waiting on another holder) must be positive too, and ``max_wait``,
    when given, must not be negative.

    Example:
        >>> validate_lease_settings(30, 90)
        >>> validate_lease_settings(90, 30)
        Traceback (most recent call last):
        ...
        ValueError: lease heartbeat_interval (90s) must be shorter than its timeout (30s)
    """
    positive = {"heartbeat_interval": heartbeat_interval, "timeout": timeout}
    if poll_interval is not None:
        positive["poll_interval"] = poll_interval
    for name, value in positive.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"lease {name} must be a number of seconds, got {value!r}")
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"lease {name} must be a positive finite number, got {value!r}")
    if max_wait is not None and (not isinstance(max_wait, int | float) or not max_wait >= 0):
        raise ValueError(f"max_wait must be None or a non-negative number, got {max_wait!r}")
    if heartbeat_interval >= timeout:
        raise ValueError(
            f"lease heartbeat_interval ({heartbeat_interval:g}s) must be shorter than its "
            f"timeout ({timeout:g}s)"
        )


def tag_worker_id(holder: str, heartbeat_interval: float, timeout: float) -> str:
    """``holder`` with the settings a reader needs appended (see the module docstring)."""
    return f"{holder} [lease heartbeat={heartbeat_interval:g}s timeout={timeout:g}s]"


def _positive(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


@dataclass(frozen=True)
class Lease:
    """Who holds a lock file and when they last refreshed it (Marin's two JSON keys).

    Example:
        >>> Lease("w1", 100.0).is_stale(now=200.0, timeout=90.0)
        True
    """

    worker_id: str
    timestamp: float

    @property
    def holder(self) -> str:
        """The holder's identity, without the settings suffix."""
        match = _TAG.search(self.worker_id)
        return self.worker_id[: match.start()] if match else self.worker_id

    @property
    def heartbeat_interval(self) -> float | None:
        """The heartbeat interval the holder recorded, if any."""
        match = _TAG.search(self.worker_id)
        return _positive(match["hb"]) if match else None

    @property
    def timeout(self) -> float | None:
        """The timeout the holder recorded; ``None`` for a lock written by Marin."""
        match = _TAG.search(self.worker_id)
        return _positive(match["to"]) if match else None

    def effective_timeout(self, reader_timeout: float) -> float:
        """The larger of the reader's timeout and the holder's (Marin's 90 s if unrecorded).

        A recorded timeout counts up to :data:`MAX_RECORDED_TIMEOUT`, so a lock written with a
        nonsense timeout cannot block its readers forever.
        """
        recorded = self.timeout
        holder = HEARTBEAT_TIMEOUT if recorded is None else min(recorded, MAX_RECORDED_TIMEOUT)
        return max(reader_timeout, holder)

    def is_trustworthy(self, now: float, reader_timeout: float) -> bool:
        """False for a NaN timestamp or one further ahead of ``now`` than the timeout."""
        ts = self.timestamp
        return not math.isnan(ts) and ts - now <= self.effective_timeout(reader_timeout)

    def is_stale(self, now: float | None = None, timeout: float = HEARTBEAT_TIMEOUT) -> bool:
        """Wall-clock rule: older than :meth:`effective_timeout`. Untrustworthy → not stale.

        Use :class:`StalenessJudge` to also retire untrustworthy timestamps after a while.
        """
        now = time.time() if now is None else now
        if not self.is_trustworthy(now, timeout):
            return False
        return now - self.timestamp > self.effective_timeout(timeout)

    def to_bytes(self) -> bytes:
        return json.dumps({"worker_id": self.worker_id, "timestamp": self.timestamp}).encode()

    @classmethod
    def from_bytes(cls, data: bytes | None) -> Lease | None:
        """Parse lock-file content; empty or unreadable content counts as no lease."""
        if not data:
            return None
        try:
            raw = json.loads(data)
            return cls(worker_id=str(raw["worker_id"]), timestamp=float(raw["timestamp"]))
        except (ValueError, KeyError, TypeError):
            logger.warning("Ignoring unreadable lock file content %r", data[:200])
            return None


class StalenessJudge:
    """Judges leases for one reader; remembers when it first saw untrustworthy records.

    Example:
        >>> t = [0.0]
        >>> judge = StalenessJudge(timeout=5, clock=lambda: 0.0, monotonic=lambda: t[0])
        >>> bad = Lease(tag_worker_id("w", 1, 5), float("nan"))
        >>> judge.is_stale(bad)  # first seen now: wait
        False
        >>> t[0] = 6.0
        >>> judge.is_stale(bad)  # unchanged for longer than the timeout
        True
    """

    def __init__(
        self,
        timeout: float = HEARTBEAT_TIMEOUT,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.clock = clock
        self.monotonic = monotonic
        self._first_seen: dict[tuple[str, str], float] = {}
        self._warned: set[str] = set()

    def is_stale(self, lease: Lease) -> bool:
        """True when ``lease`` may be taken over (see the module docstring)."""
        now = self.clock()
        limit = lease.effective_timeout(self.timeout)
        if lease.is_trustworthy(now, self.timeout):
            return now - lease.timestamp > limit
        key = (lease.worker_id, repr(lease.timestamp))
        first = self._first_seen.get(key)
        if first is None:
            if len(self._first_seen) >= _SEEN_LIMIT:
                self._first_seen.clear()
            first = self._first_seen[key] = self.monotonic()
        if lease.holder not in self._warned:  # once per holder, not at every refresh
            if len(self._warned) >= _SEEN_LIMIT:
                self._warned.clear()
            self._warned.add(lease.holder)
            logger.warning(
                "Lock held by %s has an untrustworthy timestamp %r (now %.3f); treating it as "
                "stale if it stays unchanged for %gs",
                lease.holder,
                lease.timestamp,
                now,
                limit,
            )
        return self.monotonic() - first > limit
