"""The local backend: each call of a step's function runs in a process forked for it.

Forking a process that already imported the code location costs milliseconds, not the seconds
a fresh interpreter takes, and the forked worker can be signalled: when a step loses its lease
or its run is cancelled, the worker (and any process it started, as it leads its own process
group) gets ``SIGTERM``, then ``SIGKILL`` after ``terminate_grace_s``. Its death (a signal, an
exit without a result) comes back as a failed :class:`Outcome` naming the signal or exit code.

Every device class may map here: a GPU or TPU step runs on this machine as it is (the UI
still shows what it asked for).

Example:
    >>> backend = LocalBackend()
    >>> handle = backend.launch(StepCall("demo/hello", print, "hi", ResourceConfig(), "/tmp/x"))
    >>> while (outcome := backend.poll(handle)) is None:
    ...     time.sleep(0.01)
    >>> outcome.ok, outcome.details["backend"]
    (True, 'local')
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import sys
import time
import traceback

from pydantic import BaseModel, Field

from marin_dagster.core.backend import Outcome, StepCall
from marin_dagster.core.report import reporting_to
from marin_dagster.core.resources import ResourceConfig

__all__ = ["LocalBackend", "LocalBackendConfig"]

_MAX_ERROR_BYTES = 48_000  # below a pipe's buffer, so the worker never blocks writing it


class LocalBackendConfig(BaseModel, frozen=True, extra="forbid"):
    """Settings of the local backend (``backends: {cpu: {local: {...}}}``)."""

    max_concurrent: int | None = Field(
        default=None,
        ge=1,
        description="Most steps of the device classes mapped here that run at once "
        "(null: no limit beyond the executor's max_concurrent).",
    )
    terminate_grace_s: float = Field(
        default=5.0,
        ge=0,
        description="Seconds between SIGTERM and SIGKILL when a call is stopped.",
    )


@dataclasses.dataclass
class _LocalCall:
    pid: int
    read_fd: int
    buffer: bytearray
    outcome: Outcome | None = None


class LocalBackend:
    """Runs each call in a forked worker process on this machine."""

    name = "local"

    def __init__(self, config: LocalBackendConfig | None = None) -> None:
        self.config = config or LocalBackendConfig()

    def can_serve(self, resources: ResourceConfig) -> str | None:
        return None  # runs anything, without the hardware it asks for

    def launch(self, call: StepCall) -> _LocalCall:
        read_fd, write_fd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker: never returns
            os.close(read_fd)
            _worker_main(call, write_fd)
        os.close(write_fd)
        try:
            os.setpgid(pid, pid)  # also here, so a terminate right after launch reaches it
        except (ProcessLookupError, PermissionError):
            pass
        os.set_blocking(read_fd, False)
        return _LocalCall(pid, read_fd, bytearray())

    def poll(self, handle: _LocalCall) -> Outcome | None:
        if handle.outcome is not None:
            return handle.outcome
        _drain(handle)
        pid, status = os.waitpid(handle.pid, os.WNOHANG)
        if pid == 0:
            return None
        _drain(handle)
        os.close(handle.read_fd)
        handle.outcome = _outcome(handle, status)
        return handle.outcome

    def terminate(self, handle: _LocalCall) -> None:
        if handle.outcome is not None:
            return
        deadline = time.monotonic() + self.config.terminate_grace_s
        for sig in (signal.SIGTERM, signal.SIGKILL):
            _signal_group(handle.pid, sig)
            while time.monotonic() < deadline or sig == signal.SIGKILL:
                if self.poll(handle) is not None:
                    return
                time.sleep(0.01)


def _worker_main(call: StepCall, write_fd: int) -> None:
    code = 0
    try:
        os.setpgid(0, 0)  # lead a process group: terminate reaches fn's own subprocesses
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        with reporting_to(call.report_path):
            call.fn(call.config)
        payload: dict[str, object] = {"ok": True}
    except BaseException as exc:
        code = 1
        text = "".join(traceback.format_exception(exc)).rstrip()
        payload = {"ok": False, "error": text[-_MAX_ERROR_BYTES:]}
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(write_fd, json.dumps(payload).encode())
    finally:
        os._exit(code)


def _drain(handle: _LocalCall) -> None:
    while True:
        try:
            chunk = os.read(handle.read_fd, 65536)
        except BlockingIOError:
            return
        if not chunk:
            return
        handle.buffer.extend(chunk)


def _outcome(handle: _LocalCall, status: int) -> Outcome:
    details = {"backend": "local", "host": socket.gethostname(), "pid": handle.pid}
    try:
        payload = json.loads(handle.buffer) if handle.buffer else None
    except ValueError:
        payload = None
    if isinstance(payload, dict) and os.WIFEXITED(status):
        return Outcome(bool(payload.get("ok")), payload.get("error"), details)
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        reason = f"the worker process {handle.pid} was killed by {sig}"
    else:
        reason = f"the worker process {handle.pid} exited with code {os.WEXITSTATUS(status)}"
    return Outcome(False, f"{reason} before the step's function returned", details)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
