"""A loopback OTLP/HTTP sink that timestamps every export request and connection.

The function's side (Runtime + Extensions API, awslambdaric, freeze/thaw) is
``lambdaguard.local.runtime``; this is the one bench-specific server. Arrival
times are ``time.perf_counter_ns()`` of the benchmark process, the clock of
``InvokeTimeline``, so "exports that arrived before the response" is a
window query.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(slots=True, frozen=True)
class SinkRequest:
    """One export request the sink received."""

    at_ns: int
    path: str
    size: int


class OtlpSink:
    """An OTLP/HTTP receiver that accepts everything and remembers when.

    It answers ``200`` with an empty ``ExportTraceServiceResponse`` (a
    zero-length protobuf message is valid) for any POST, and counts TCP
    connections separately from requests (keep-alive reuses a connection).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[SinkRequest] = []
        self.connections: list[int] = []
        # The latest bodies, for checking what was exported (bounded: a full
        # run sends thousands of requests).
        self.bodies: deque[tuple[int, bytes]] = deque(maxlen=64)
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; with Nagle on, the second
            # waits for the peer's delayed ACK (~40 ms on Linux).
            disable_nagle_algorithm = True

            def setup(self) -> None:
                with sink._lock:
                    sink.connections.append(time.perf_counter_ns())
                super().setup()

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                at = time.perf_counter_ns()
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else b""
                with sink._lock:
                    sink.requests.append(SinkRequest(at, self.path, len(data)))
                    sink.bodies.append((at, data))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()

    @property
    def endpoint(self) -> str:
        """Base URL for ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
        return f"http://127.0.0.1:{self._server.server_port}"

    def count_between(self, start_ns: int, end_ns: int) -> tuple[int, int]:
        """(requests, connections) that arrived in ``[start_ns, end_ns]``."""
        with self._lock:
            reqs = sum(1 for r in self.requests if start_ns <= r.at_ns <= end_ns)
            conns = sum(1 for c in self.connections if start_ns <= c <= end_ns)
        return reqs, conns

    def bodies_between(self, start_ns: int, end_ns: int) -> list[bytes]:
        """Bodies of the requests that arrived in ``[start_ns, end_ns]`` (latest 64 kept)."""
        with self._lock:
            return [body for at, body in self.bodies if start_ns <= at <= end_ns]

    def wait_requests(self, n: int, timeout: float) -> bool:
        """Wait until at least ``n`` requests arrived."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if len(self.requests) >= n:
                    return True
            time.sleep(0.005)
        with self._lock:
            return len(self.requests) >= n

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
