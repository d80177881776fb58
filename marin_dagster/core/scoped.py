"""Process-wide interpreter settings changed only for the duration of a call, then restored.

Two places need them: hashing a large step graph runs faster with the cyclic GC paused (it
builds many small acyclic records), and Dagster's job builder recurses once per link of a
dependency chain. Both settings are process-wide, so each change here is scoped: entered
scopes are counted under a lock, the setting is restored to what it was before the first one
when the last one exits (on error too), and nothing is changed when it is not needed (the GC
already off, the recursion limit already high enough). Outside these scopes the process sees
its own settings.

Example:
    >>> before = sys.getrecursionlimit()
    >>> with recursion_headroom(before + 5000):
    ...     sys.getrecursionlimit() >= before + 5000
    True
    >>> sys.getrecursionlimit() == before
    True
"""

import contextlib
import contextvars
import gc
import sys
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

__all__ = ["context_value", "gc_paused", "recursion_headroom", "stack_depth"]

_lock = threading.Lock()
_gc_pauses = 0
_limits: list[int] = []  # limits asked for by the recursion scopes in progress
_limit_before = 0


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC inside the block; it is re-enabled when the last pause ends.

    Nothing happens if the GC was already disabled by someone else.

    Example:
        >>> with gc_paused():
        ...     gc.isenabled()
        False
    """
    global _gc_pauses
    with _lock:
        mine = _gc_pauses > 0 or gc.isenabled()
        if mine:
            _gc_pauses += 1
            gc.disable()
    try:
        yield
    finally:
        if mine:
            with _lock:
                _gc_pauses -= 1
                if _gc_pauses == 0:
                    gc.enable()


@contextlib.contextmanager
def recursion_headroom(limit: int) -> Iterator[None]:
    """Make the recursion limit at least ``limit`` inside the block, then restore it.

    Concurrent scopes share the highest limit asked for; the process's own limit comes back
    when the last one exits.

    Example:
        >>> with recursion_headroom(10):  # lower than the current limit: nothing changes
        ...     sys.getrecursionlimit() > 10
        True
    """
    global _limit_before
    with _lock:
        if not _limits:
            _limit_before = sys.getrecursionlimit()
        _limits.append(limit)
        sys.setrecursionlimit(max([_limit_before, *_limits]))
    try:
        yield
    finally:
        with _lock:
            _limits.remove(limit)
            sys.setrecursionlimit(max([_limit_before, *_limits]))


def stack_depth() -> int:
    """Frames on the calling thread's stack (to budget recursion from where we are).

    Example:
        >>> stack_depth() > 0
        True
    """
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


@contextlib.contextmanager
def context_value(var: contextvars.ContextVar[T], value: T) -> Iterator[T]:
    """Set ``var`` to ``value`` for the body (this thread and context only), then restore it.

    The per-call counterpart of the process-wide scopes above: the GCS settings of a step, the
    backend of a step worker, the report file of a call.

    Example:
        >>> depth = contextvars.ContextVar("depth", default=0)
        >>> with context_value(depth, 3):
        ...     depth.get()
        3
        >>> depth.get()
        0
    """
    token = var.set(value)
    try:
        yield value
    finally:
        var.reset(token)
