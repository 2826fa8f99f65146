"""Forwarding to an upstream OTLP endpoint: delivered when it works, never blocking when it does not."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from lambdaguard.collector.forward import Forwarder
from lambdaguard.collector.server import CollectorHandle

from .conftest import ARN, trace_request

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_upstream_receives_what_was_stored(collector_factory: Any) -> None:
    """Telemetry sent to a forwarding collector reaches the upstream (another OTLP receiver)."""
    upstream = collector_factory()
    edge = collector_factory(
        forward_url=upstream.http_url, forward_headers=(("x-team", "payments"),)
    )
    body = trace_request(trace_id=b"\x31" * 16, invocations=2).SerializeToString()
    assert (
        httpx.post(f"{edge.http_url}/v1/traces", content=body, headers=PROTOBUF).status_code == 200
    )
    assert _wait_for(lambda: upstream.store.functions() != [])
    assert upstream.store.invocations(ARN)[0].count == 2
    # The forwarder counts a batch once upstream has answered, which can be just
    # after upstream stored it: wait for the count rather than race it.
    assert _wait_for(lambda: edge.stats()["forward_sent"] == 1)


@pytest.fixture
def stalled_upstream() -> Iterator[tuple[str, threading.Event]]:
    """An OTLP endpoint that accepts connections and then hangs until released."""
    release = threading.Event()

    class Hang(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            release.wait(30)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hang)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", release
    release.set()
    server.shutdown()
    server.server_close()


def test_stalled_upstream_never_blocks_ingestion(
    collector_factory: Any, stalled_upstream: tuple[str, threading.Event]
) -> None:
    """With a hung upstream and a tiny memory queue, ingestion still answers 200 and
    what cannot wait in memory goes to the durable backlog (nothing dropped)."""
    url, _release = stalled_upstream
    edge: CollectorHandle = collector_factory(
        forward_url=url, forward_queue_bytes=1, forward_timeout_s=20.0
    )
    for i in range(10):
        body = trace_request(trace_id=bytes([0x40 + i]) * 16).SerializeToString()
        response = httpx.post(
            f"{edge.http_url}/v1/traces", content=body, headers=PROTOBUF, timeout=5
        )
        assert response.status_code == 200
    stats = edge.stats()
    assert stats["forward_dropped"] == 0
    assert stats["forward_backlog_bytes"] > 0
    assert edge.store.calls(ARN)[0].count == 10


def test_failing_upstream_is_counted_not_raised() -> None:
    """Without a backlog, an upstream that refuses connections makes sends fail, be retried,
    and end counted as dropped (in spans and bytes); nothing raises."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    forwarder = Forwarder(f"http://127.0.0.1:{port}", timeout_s=1.0, retry_max_s=0.05)
    assert forwarder.submit("traces", b"\x0a\x00", spans=3)
    assert _wait_for(lambda: forwarder.stats().dropped == 1)
    assert forwarder.stats().dropped_spans == 3
    forwarder.close(1.0)


def test_forward_url_must_be_http() -> None:
    """A forward URL that is not http(s) is a configuration error."""
    from lambdaguard.errors import ConfigError

    with pytest.raises(ConfigError, match="http"):
        Forwarder("ftp://example.com")


def test_retry_after_and_backoff() -> None:
    """Retry-After is read as seconds or an HTTP date; backoff is jittered and capped."""
    import random

    from lambdaguard.collector.forward import backoff_s, retry_after_seconds

    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert retry_after_seconds("soon") is None
    rng = random.Random(1)
    pauses = [backoff_s(n, 30.0, rng) for n in range(12)]
    assert all(0 <= p <= 30.0 for p in pauses)
    assert len(set(pauses)) == len(pauses)  # jittered


class _Backend:
    """A loopback OTLP/HTTP backend stand-in that can be down (refusing), answer 503, or accept."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        self.mode = "up"
        self.spans: list[bytes] = []
        self.lock = threading.Lock()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                import gzip

                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if backend.mode == "503":
                    self.send_response(503)
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest.FromString(body)
                with backend.lock:
                    for rs in request.resource_spans:
                        for ss in rs.scope_spans:
                            backend.spans.extend(s.trace_id + s.span_id for s in ss.spans)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server: ThreadingHTTPServer | None = None
        self.port = 0
        self.handler = Handler

    def start(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()
        self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def backend() -> Iterator[_Backend]:
    """A loopback OTLP backend, stopped at teardown."""
    b = _Backend()
    b.start()
    yield b
    if b.server is not None:
        b.down()


def _sent_keys(i: int) -> set[bytes]:
    request = trace_request(trace_id=bytes([i]) * 16, invocations=2)
    return {
        s.trace_id + s.span_id
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    }


def test_backend_outage_then_recovery_loses_nothing_and_duplicates_nothing(
    collector_factory: Any, backend: _Backend
) -> None:
    """While the backend is down (refusing, then 503) batches are kept; once it is up
    every acknowledged span arrives exactly once, and a batch received three times is
    forwarded once."""
    edge = collector_factory(forward_url=backend.url, forward_retry_max_s=0.2, forward_timeout_s=2)
    backend.down()  # refusing connections
    expected: set[bytes] = set()
    with httpx.Client(timeout=10) as client:
        for i in range(1, 9):
            body = trace_request(trace_id=bytes([i]) * 16, invocations=2).SerializeToString()
            for _ in range(3 if i == 1 else 1):  # batch 1 is delivered three times
                assert (
                    client.post(
                        f"{edge.http_url}/v1/traces", content=body, headers=PROTOBUF
                    ).status_code
                    == 200
                )
            expected |= _sent_keys(i)
    backend.start()  # same port
    backend.mode = "503"
    time.sleep(0.5)
    backend.mode = "up"
    assert _wait_for(lambda: len(backend.spans) >= len(expected), timeout=60)
    time.sleep(0.5)
    assert sorted(backend.spans) == sorted(expected)  # all of them, each once
    assert edge.stats()["forward_dropped"] == 0


def test_sigterm_after_a_burst_keeps_what_was_not_sent(
    serve: Any, sqlite_url: str, backend: _Backend
) -> None:
    """SIGTERM right after a burst, with the backend down: the stop keeps every
    acknowledged batch in the store's backlog, and the next start sends them all, once."""
    backend.down()
    proc = serve(
        sqlite_url,
        "--forward",
        backend.url,
        "--forward-drain-s",
        "1",
        "--forward-retry-max-s",
        "0.2",
    )
    expected: set[bytes] = set()
    with httpx.Client(timeout=10) as client:
        for i in range(1, 21):
            body = trace_request(trace_id=bytes([i]) * 16, invocations=2).SerializeToString()
            assert (
                client.post(
                    f"{proc.http_url}/v1/traces", content=body, headers=PROTOBUF
                ).status_code
                == 200
            )
            expected |= _sent_keys(i)
    proc.proc.terminate()
    assert proc.proc.wait(30) == 0
    backend.start()
    again = serve(sqlite_url, "--forward", backend.url, "--forward-retry-max-s", "0.2")
    assert _wait_for(lambda: len(backend.spans) >= len(expected), timeout=60)
    time.sleep(0.5)
    assert sorted(backend.spans) == sorted(expected)
    again.stop()
