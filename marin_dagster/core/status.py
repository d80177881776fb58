"""Status and info files under a step's output path, compatible with Marin's executor.

Each step's ``output_path`` holds three small files:

- ``.executor_status``: one token, ``SUCCESS`` / ``FAILED`` / ``DEP_FAILED`` / ``RUNNING``.
  Legacy (Ray-era) JSON-lines event logs ``{"date", "status", "message", ...}`` are readable.
- ``.executor_status.lock``: the lease ``{"worker_id", "timestamp"}`` (see ``lease.py``).
- ``.executor_info``: the step's info record, JSON with ``indent=2``.

Every function takes either a path (local, ``memory://``, ``gs://``, ...) or a pre-resolved
``(fs, path)`` pair from :func:`resolve`, so hot loops can skip URL parsing. Reading a status is
a single read of one file: no ``exists`` probe and no directory listing.

Example:
    >>> write_status("memory://p/tokenize/fineweb-ce2dd5", StepStatus.SUCCESS)
    >>> read_status("memory://p/tokenize/fineweb-ce2dd5")
    <StepStatus.SUCCESS: 'SUCCESS'>
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, TypeAlias

import fsspec.core
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from marin_dagster.core.gcs import current_gcs_settings, is_gcs_url
from marin_dagster.core.lease_record import HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT, Lease

__all__ = [
    "HEARTBEAT_INTERVAL",
    "HEARTBEAT_TIMEOUT",
    "INFO_FILE",
    "LOCK_FILE",
    "STATUS_FILE",
    "FsPath",
    "Lease",
    "StatusFileError",
    "StepStatus",
    "is_gcs",
    "is_local",
    "join_path",
    "parse_status",
    "read_bytes",
    "read_info",
    "read_status",
    "resolve",
    "write_bytes",
    "write_info",
    "write_status",
]

STATUS_FILE = ".executor_status"
LOCK_FILE = ".executor_status.lock"
INFO_FILE = ".executor_info"

logger = logging.getLogger(__name__)

FsPath: TypeAlias = tuple[AbstractFileSystem, str]
"""A filesystem plus a path inside it, as returned by ``fsspec.core.url_to_fs``."""


class StepStatus(StrEnum):
    """A step's status token; the last three only appear in legacy (Ray-era) files.

    Example:
        >>> StepStatus.parse("SUCCESS") is StepStatus.SUCCESS
        True
        >>> StepStatus.parse("bogus")
        <StepStatus.UNKNOWN: 'UNKNOWN'>
    """

    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    DEP_FAILED = "DEP_FAILED"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, token: str) -> StepStatus:
        """Map a token to a status; unrecognised tokens become ``UNKNOWN``."""
        try:
            return cls(token.strip())
        except ValueError:
            return cls.UNKNOWN


_WRITABLE = frozenset(
    {StepStatus.SUCCESS, StepStatus.FAILED, StepStatus.DEP_FAILED, StepStatus.RUNNING}
)


class StatusFileError(RuntimeError):
    """A status, lock or info file cannot be read as a file (e.g. a directory is in its place)."""


def resolve(output_path: str | FsPath) -> FsPath:
    """Return ``(fs, path)`` for a URL or local path; a pair passes through unchanged.

    ``gs://`` URLs get their project and credentials from
    :func:`marin_dagster.core.gcs.current_gcs_settings`.

    Example:
        >>> fs, path = resolve("memory://bucket/step-abc123")
        >>> path
        '/bucket/step-abc123'
    """
    if isinstance(output_path, tuple):
        return output_path
    if is_gcs_url(output_path):
        fs, path = fsspec.core.url_to_fs(output_path, **current_gcs_settings().storage_options())
    else:
        fs, path = fsspec.core.url_to_fs(output_path)
    return fs, path


def is_gcs(fs: AbstractFileSystem) -> bool:
    """True when ``fs`` is gcsfs (``gs://``), where leases use generation preconditions."""
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    return "gs" in protocols or "gcs" in protocols


def is_local(fs: AbstractFileSystem) -> bool:
    """True when ``fs`` is the local disk, where ``os``-level calls are used directly."""
    return isinstance(fs, LocalFileSystem)


def join_path(path: str, name: str) -> str:
    """Join a file name onto a resolved directory path (always ``/``-separated).

    Example:
        >>> join_path("/bucket/step-abc123/", STATUS_FILE)
        '/bucket/step-abc123/.executor_status'
    """
    return f"{path.rstrip('/')}/{name}"


def read_bytes(fs: AbstractFileSystem, path: str) -> bytes | None:
    """Read a whole file in one round trip; ``None`` if it does not exist."""
    try:
        if is_local(fs):
            with open(path, "rb") as f:
                return f.read()
        data = fs.cat_file(path)
        return data if isinstance(data, bytes) else data.encode()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except IsADirectoryError:
        raise StatusFileError(
            f"{path} is a directory, not a file; move it away (nothing was run or marked)"
        ) from None


def write_bytes(fs: AbstractFileSystem, path: str, data: bytes) -> None:
    """Write a whole file, creating its directory if needed.

    Local disk: a temporary sibling plus ``os.replace``, so readers never see a partial file.
    Other filesystems: one ``pipe_file`` (object stores replace objects atomically anyway);
    ``makedirs`` is only attempted when the first write reports a missing parent.
    """
    if is_local(fs):
        _write_local_atomic(path, data)
        return
    try:
        fs.pipe_file(path, data)
    except FileNotFoundError:
        parent = path.rsplit("/", 1)[0]
        if parent:
            fs.makedirs(parent, exist_ok=True)
        fs.pipe_file(path, data)


def _write_local_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    try:
        try:
            f = open(tmp, "wb")
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            f = open(tmp, "wb")
        with f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def parse_status(text: str) -> StepStatus | None:
    """Parse ``.executor_status`` content, modern token or legacy JSON lines.

    A single non-``{`` line is the status; otherwise the last parsable ``"status"`` wins,
    else the last line. Empty content gives ``None``.

    Example:
        >>> parse_status('{"status": "RUNNING"}\\n{"status": "SUCCESS", "message": ""}\\n')
        <StepStatus.SUCCESS: 'SUCCESS'>
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    if len(lines) == 1 and not lines[0].startswith("{"):
        return StepStatus.parse(lines[0])
    last: str | None = None
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            status = event.get("status")
            if isinstance(status, str):
                last = status
    return StepStatus.parse(last if last is not None else lines[-1])


def read_status(output_path: str | FsPath) -> StepStatus | None:
    """Read a step's status, or ``None`` when no status file exists (one read, no listing).

    Example:
        >>> read_status("memory://nowhere/step-000000") is None
        True
    """
    fs, path = resolve(output_path)
    data = read_bytes(fs, join_path(path, STATUS_FILE))
    if data is None:
        return None
    return parse_status(data.decode("utf-8", errors="replace"))


def write_status(output_path: str | FsPath, status: StepStatus | str) -> None:
    """Write a modern single-token status (``SUCCESS``/``FAILED``/``DEP_FAILED``/``RUNNING``).

    Writing a status never touches the lock; the lock's owner releases it separately.

    Example:
        >>> write_status("memory://p/step-abc123", "FAILED")
        >>> read_status("memory://p/step-abc123")
        <StepStatus.FAILED: 'FAILED'>
    """
    token = StepStatus(status)
    if token not in _WRITABLE:
        raise ValueError(f"Refusing to write legacy/internal status {token!s}")
    fs, path = resolve(output_path)
    write_bytes(fs, join_path(path, STATUS_FILE), token.value.encode())


def write_info(
    output_path: str | FsPath,
    info: Mapping[str, Any],
    *,
    default: Callable[[Any], Any] | None = None,
) -> None:
    """Write ``.executor_info`` as JSON with ``indent=2``; ``default`` encodes odd values.

    Example:
        >>> write_info("memory://p/step-abc123", {"name": "step", "version": {}})
        >>> read_info("memory://p/step-abc123")["name"]
        'step'
    """
    fs, path = resolve(output_path)
    text = json.dumps(dict(info), indent=2, default=default)
    write_bytes(fs, join_path(path, INFO_FILE), text.encode())


def read_info(output_path: str | FsPath) -> dict[str, Any] | None:
    """Read ``.executor_info``; ``None`` when absent, ``ValueError`` if it is not an object.

    Example:
        >>> read_info("memory://nowhere/step-000000") is None
        True
    """
    fs, path = resolve(output_path)
    info_path = join_path(path, INFO_FILE)
    data = read_bytes(fs, info_path)
    if data is None:
        return None
    info = json.loads(data)
    if not isinstance(info, dict):
        raise ValueError(f"{info_path} does not hold a JSON object")
    return info
