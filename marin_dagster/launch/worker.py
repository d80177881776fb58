"""Step workers: each Dagster step of a run, executed in a process forked from the run process.

The run process has already imported the code location, so a forked worker starts in
milliseconds (a fresh ``dagster api execute_step`` interpreter takes seconds here). The worker
runs the step exactly as ``dagster api execute_step`` would, writing its events to the instance,
with the step's backend set for the step's function (:func:`current_backend`).

Example:
    >>> worker = StepWorker.start(step_args, local_spec)  # doctest: +SKIP
    >>> worker.exit_reason() is None  # running, or exited cleanly  # doctest: +SKIP
    True
"""

from __future__ import annotations

import contextlib
import contextvars
import multiprocessing
import multiprocessing.process
import signal
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from marin_dagster.core.backend import Backend
from marin_dagster.core.scoped import context_value

if TYPE_CHECKING:
    from dagster._grpc.types import ExecuteStepArgs

    from marin_dagster.launch.settings import BackendSpec

__all__ = ["StepWorker", "current_backend", "run_in_fork", "using_backend"]

_BACKEND: contextvars.ContextVar[Backend | None] = contextvars.ContextVar(
    "marin_backend", default=None
)
_FORK = multiprocessing.get_context("fork")


T = TypeVar("T")


def run_in_fork(fn: Callable[[Any], T], arg: Any, *, timeout_s: float) -> T:
    """``fn(arg)`` in a forked process (e.g. to connect to a cluster without touching this one).

    Example:
        >>> run_in_fork(len, [1, 2, 3], timeout_s=30)
        3
    """
    receiver, sender = _FORK.Pipe(duplex=False)
    process = _FORK.Process(target=_send_result, args=(fn, arg, sender), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout_s):
            raise TimeoutError(f"{getattr(fn, '__name__', fn)} took more than {timeout_s}s")
        ok, value = receiver.recv()
    except EOFError:
        ok, value = False, RuntimeError(f"process {process.pid} died: exit code {process.exitcode}")
    finally:
        process.join(5.0)
        if process.exitcode is None:
            process.kill()
            process.join()
        receiver.close()
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


def _send_result(fn: Callable[[Any], Any], arg: Any, sender: Any) -> None:
    try:
        result = (True, fn(arg))
    except Exception as exc:
        result = (False, exc)
    sender.send(result)
    sender.close()


def current_backend() -> Backend | None:
    """The backend this step's function should run on; ``None`` outside a step worker."""
    return _BACKEND.get()


@contextlib.contextmanager
def using_backend(backend: Backend) -> Iterator[Backend]:
    """Make ``backend`` the :func:`current_backend` for the body."""
    with context_value(_BACKEND, backend):
        yield backend


class StepWorker:
    """One forked worker executing one step; ``terminate`` interrupts it, then kills it."""

    def __init__(self, process: multiprocessing.process.BaseProcess) -> None:
        self.process = process

    @classmethod
    def start(
        cls, args: ExecuteStepArgs, backend: BackendSpec, op_tags: Mapping[str, str] | None = None
    ) -> StepWorker:
        process = _FORK.Process(
            target=_run_step_worker, args=(args, backend, dict(op_tags or {})), daemon=False
        )
        process.start()
        return cls(process)

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    def exit_reason(self) -> str | None:
        """``None`` while running or after a clean exit, else why the worker died."""
        code = self.process.exitcode
        if code is None or code == 0:
            return None
        if code < 0:
            return f"step worker process {self.pid} was killed by {signal.Signals(-code).name}"
        return f"step worker process {self.pid} exited with code {code}"

    def terminate(self, grace_s: float = 10.0) -> None:
        """``SIGTERM`` (the step's function is stopped and the step fails), then ``SIGKILL``."""
        if self.process.exitcode is not None:
            return
        self.process.terminate()
        self.process.join(grace_s)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join(grace_s)


def _run_step_worker(args: ExecuteStepArgs, spec: BackendSpec, op_tags: dict[str, str]) -> None:
    from dagster import DagsterInstance

    from marin_dagster._compat import execute_step_events
    from marin_dagster.launch.backends import make_backend

    # SIGTERM interrupts the step like Ctrl-C: the backend call is terminated, FAILED recorded.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with using_backend(make_backend(spec, op_tags)):
        instance_ref = args.instance_ref
        if instance_ref is None:
            raise RuntimeError(
                "marin_executor needs a persistent Dagster instance (set DAGSTER_HOME); "
                "in-process runs (materialize, execute_in_process) use Dagster's own executor"
            )
        with DagsterInstance.from_ref(instance_ref) as instance:
            run = instance.get_run_by_id(args.run_id)
            if run is None:
                raise RuntimeError(f"run {args.run_id} not found for step execution")
            for _ in execute_step_events(args, instance, run):
                pass
