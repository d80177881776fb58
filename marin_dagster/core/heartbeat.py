"""One daemon thread running every registered periodic task (lease heartbeats).

A step registers its lease refresh for the body's duration instead of starting and joining a
thread of its own, which keeps short steps cheap. The thread sleeps until the earliest task is
due and is woken only when a new task is due before that.

Example:
    >>> token = HEARTBEATS.add(lambda: True, 30.0, "demo")
    >>> HEARTBEATS.remove(token)
"""

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class _Task:
    run: Callable[[], bool]
    interval: float
    name: str
    due: float


class Heartbeats:
    """Runs each task every ``interval`` seconds until it returns False or is removed.

    ``remove`` waits for an in-flight run of that task, so no run lands after it returns.
    An exception in a task is logged and the task is retried at its next interval.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._tasks: dict[int, _Task] = {}
        self._busy: int | None = None
        self._wake_at: float | None = None  # when the thread will next look; None = idle
        self._next_token = 0
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def add(self, run: Callable[[], bool], interval: float, name: str) -> int:
        """Register ``run``; returns a token for :meth:`remove`."""
        with self._cond:
            self._next_token += 1
            token = self._next_token
            task = _Task(run, interval, name, time.monotonic() + interval)
            self._tasks[token] = task
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._pid = os.getpid()
                self._wake_at = None
                self._thread = threading.Thread(
                    target=self._loop, name="marin-heartbeat", daemon=True
                )
                self._thread.start()
            elif self._wake_at is None or task.due < self._wake_at:
                self._cond.notify_all()  # wake the thread only if this task is due first
            return token

    def remove(self, token: int) -> None:
        """Unregister a task, waiting for a run of it that is in progress."""
        with self._cond:
            self._tasks.pop(token, None)
            while self._busy == token:
                self._cond.wait()

    def _next_due(self) -> tuple[int, _Task]:
        while True:
            now = time.monotonic()
            due = [(t, task) for t, task in self._tasks.items() if task.due <= now]
            if due:
                self._wake_at = None
                return min(due, key=lambda item: item[1].due)
            self._wake_at = min((task.due for task in self._tasks.values()), default=None)
            self._cond.wait(None if self._wake_at is None else self._wake_at - now)

    def _loop(self) -> None:
        while True:
            with self._cond:
                token, task = self._next_due()
                self._busy = token
            keep = True
            try:
                keep = task.run()
            except Exception:
                logger.warning("%s failed; retrying", task.name, exc_info=True)
            finally:
                with self._cond:
                    task.due = time.monotonic() + task.interval
                    if not keep:
                        self._tasks.pop(token, None)
                    self._busy = None
                    self._cond.notify_all()


HEARTBEATS = Heartbeats()
"""The process-wide service used by ``step_lock``."""
