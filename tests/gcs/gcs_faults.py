"""A loopback HTTP proxy in front of the emulator that fails or delays a bounded fraction of
requests, so the tests can show that retries recover with nothing lost or run twice.

``delay_methods`` restricts delays to some methods (``{"POST"}``: slow uploads, fast reads).
A failed request is answered ``503`` **without being forwarded** (the emulator never sees it),
so a retry is always safe; a delayed request is forwarded after a pause. Which requests fail is
drawn from a seeded random sequence; ``max_faults`` caps the total and ``max_consecutive`` the
failures in a row, so every retry loop is bounded.

Example:
    >>> with FaultProxy("http://127.0.0.1:4443", fail_rate=0.2, seed=7) as proxy:  # doctest: +SKIP
    ...     os.environ["STORAGE_EMULATOR_HOST"] = proxy.url
"""

from __future__ import annotations

import http.client
import random
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
}


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # eight clients connecting at once must not be refused
    daemon_threads = True


class FaultProxy:
    """Forwards to ``upstream``; fails (503) or delays some requests (see module docstring)."""

    def __init__(
        self,
        upstream: str,
        *,
        fail_rate: float = 0.0,
        delay_rate: float = 0.0,
        delay_s: tuple[float, float] = (0.05, 0.3),
        seed: int = 0,
        max_faults: int = 40,
        max_consecutive: int = 2,
        delay_methods: frozenset[str] | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        assert parsed.hostname in ("127.0.0.1", "localhost"), "loopback only"
        self.upstream = (parsed.hostname, parsed.port or 80)
        self.fail_rate = fail_rate
        self.delay_rate = delay_rate
        self.delay_s = delay_s
        self.max_faults = max_faults
        self.max_consecutive = max_consecutive
        self.delay_methods = delay_methods  # None: delay any request; else only these methods
        self.requests = self.failed = self.delayed = 0
        self._consecutive = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def report(self) -> str:
        """``"N requests, F failed (503), D delayed"``, for logs and the README table."""
        return f"{self.requests} requests, {self.failed} failed (503), {self.delayed} delayed"

    def decide(self, method: str = "GET") -> tuple[bool, float]:
        """(fail this request?, seconds to delay it) from the seeded sequence, within bounds."""
        with self._lock:
            self.requests += 1
            fail_roll, delay_roll, pause = (
                self._rng.random(),
                self._rng.random(),
                self._rng.uniform(*self.delay_s),
            )
            fail = (
                fail_roll < self.fail_rate
                and self.failed < self.max_faults
                and self._consecutive < self.max_consecutive
            )
            if fail:
                self.failed += 1
                self._consecutive += 1
                return True, 0.0
            self._consecutive = 0
            delayable = self.delay_methods is None or method in self.delay_methods
            if delayable and delay_roll < self.delay_rate:
                self.delayed += 1
                return False, pause
            return False, 0.0

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    for _ in range(100_000):  # bounded
                        size = int(self.rfile.readline().strip().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            break
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    return b"".join(chunks)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _relay(self) -> None:
                body = self._body()
                fail, pause = proxy.decide(self.command)
                if fail:
                    payload = b'{"error": {"code": 503, "message": "injected fault"}}'
                    self.send_response(503)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if pause:
                    time.sleep(pause)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                headers["Host"] = f"{proxy.upstream[0]}:{proxy.upstream[1]}"
                if body or self.command in ("POST", "PUT", "PATCH"):
                    headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                    self.send_response(response.status, response.reason)
                    for key, value in response.getheaders():
                        if key.lower() not in _HOP_BY_HOP:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _relay

        return Handler
