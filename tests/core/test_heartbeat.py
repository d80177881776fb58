"""The shared heartbeat thread: runs tasks on their intervals, stops them, survives failures."""

import threading
import time

from marin_dagster.core.heartbeat import Heartbeats


def _wait_until(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def test_task_runs_repeatedly_until_removed() -> None:
    beats = Heartbeats()
    calls: list[float] = []
    token = beats.add(lambda: calls.append(time.monotonic()) or True, 0.02, "t")
    assert _wait_until(lambda: len(calls) >= 3)
    beats.remove(token)
    settled = len(calls)
    time.sleep(0.1)
    assert len(calls) == settled


def test_a_task_due_sooner_wakes_a_sleeping_thread() -> None:
    beats = Heartbeats()
    slow = beats.add(lambda: True, 3600.0, "slow")  # the thread now sleeps for an hour
    time.sleep(0.05)
    fast_calls: list[int] = []
    fast = beats.add(lambda: fast_calls.append(1) or True, 0.02, "fast")
    assert _wait_until(lambda: len(fast_calls) >= 2, timeout=2.0)
    beats.remove(fast)
    beats.remove(slow)


def test_returning_false_stops_the_task() -> None:
    beats = Heartbeats()
    calls: list[int] = []
    beats.add(lambda: calls.append(1) is not None and False, 0.01, "once")
    assert _wait_until(lambda: len(calls) == 1)
    time.sleep(0.1)
    assert calls == [1]


def test_a_failing_task_is_retried() -> None:
    beats = Heartbeats()
    calls: list[int] = []

    def flaky() -> bool:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("transient")
        return True

    token = beats.add(flaky, 0.01, "flaky")
    assert _wait_until(lambda: len(calls) >= 4)
    beats.remove(token)


def test_remove_waits_for_a_run_in_progress() -> None:
    beats = Heartbeats()
    started, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def slow() -> bool:
        started.set()
        release.wait(5)
        finished.append(True)
        return True

    token = beats.add(slow, 0.01, "slow")
    assert started.wait(5)
    remover = threading.Thread(target=beats.remove, args=(token,))
    remover.start()
    time.sleep(0.05)
    assert remover.is_alive()  # still waiting for the in-flight run
    release.set()
    remover.join(5)
    assert not remover.is_alive()
    assert finished == [True]
