"""The prefix every output path is under: made absolute, its protocol and writability checked.

A relative local prefix is made absolute against the current directory when definitions are
built, so the UI, run workers and status files agree whatever directory they start in (Marin's
``compute_output_path`` keeps joining a relative prefix as it is). A URL's protocol must be one
fsspec knows, checked at definition time without importing its implementation; that a local
prefix can be written is checked once per process before the first step runs there.

Example:
    >>> absolute_prefix("gs://bucket/marin")
    'gs://bucket/marin'
    >>> absolute_prefix("outputs") == os.path.abspath("outputs")
    True
"""

import os
import threading
import urllib.parse

import fsspec

from marin_dagster.core.errors import StepDefinitionError
from marin_dagster.core.refs import is_absolute_or_url
from marin_dagster.core.resolve import default_prefix

__all__ = ["PrefixNotWritableError", "absolute_prefix", "check_writable"]

_writable: set[str] = set()
_writable_lock = threading.Lock()


class PrefixNotWritableError(PermissionError):
    """The prefix (or the nearest folder that exists above it) cannot be written."""


def _protocol(prefix: str) -> str:
    return urllib.parse.urlparse(prefix).scheme.lower()


def absolute_prefix(prefix: str | None) -> str:
    """``prefix`` (``$MARIN_PREFIX`` or ``./marin_outputs`` when ``None``), absolute, checked."""
    if prefix is None:
        prefix = default_prefix()
    if not isinstance(prefix, str) or not prefix:
        raise StepDefinitionError(
            f"the prefix must be a non-empty str (a folder or a URL), got {prefix!r}",
            field="prefix",
        )
    protocol = _protocol(prefix)
    if not protocol:
        return os.path.abspath(prefix) if not is_absolute_or_url(prefix) else prefix
    if protocol not in fsspec.available_protocols():
        raise StepDefinitionError(
            f"the prefix {prefix!r} uses the protocol {protocol!r}, which fsspec does not "
            "know: fix the URL (e.g. gs://bucket/path, s3://..., memory://...) or register "
            "a filesystem for it",
            field="prefix",
        )
    return prefix


def _local_path(prefix: str) -> str | None:
    protocol = _protocol(prefix)
    if not protocol:
        return prefix
    if protocol in ("file", "local"):
        return urllib.parse.urlparse(prefix).path
    return None


def check_writable(prefix: str) -> None:
    """Raise :class:`PrefixNotWritableError` if a local ``prefix`` cannot be created or written.

    Nothing is written: the nearest existing folder at or above ``prefix`` must be a writable
    directory. Remote prefixes are not probed (their first write reports its own error). A
    prefix found writable is not checked again in this process.

    Example:
        >>> check_writable("/proc/marin")  # doctest: +SKIP
        Traceback (most recent call last):
        ...
        PrefixNotWritableError: cannot write under the prefix '/proc/marin': ...
    """
    if prefix in _writable:
        return
    path = _local_path(prefix)
    if path is not None:
        existing = os.path.abspath(path)
        while not os.path.exists(existing) and os.path.dirname(existing) != existing:
            existing = os.path.dirname(existing)
        problem = None
        if not os.path.isdir(existing):
            problem = f"{existing!r} is not a folder"
        elif not os.access(existing, os.W_OK | os.X_OK):
            problem = f"{existing!r} is not writable by this user"
        if problem is not None:
            raise PrefixNotWritableError(
                f"cannot write under the prefix {prefix!r}: {problem}; choose another prefix "
                "(build_definitions(prefix=...) or $MARIN_PREFIX) or fix its permissions. "
                "No step ran and nothing was written."
            )
    with _writable_lock:
        _writable.add(prefix)
