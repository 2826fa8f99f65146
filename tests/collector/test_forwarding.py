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
    """With a hung upstream and a full queue, ingestion still answers 200 and drops are counted."""
    url, _release = stalled_upstream
    edge: CollectorHandle = collector_factory(
        forward_url=url, forward_queue=2, forward_timeout_s=20.0
    )
    for i in range(10):
        body = trace_request(trace_id=bytes([0x40 + i]) * 16).SerializeToString()
        response = httpx.post(
            f"{edge.http_url}/v1/traces", content=body, headers=PROTOBUF, timeout=5
        )
        assert response.status_code == 200
    stats = edge.stats()
    # One batch is on the wire (stalled), two wait in the queue, the rest were dropped.
    assert stats["forward_dropped"] >= 7
    assert edge.store.calls(ARN)[0].count == 10


def test_failing_upstream_is_counted_not_raised() -> None:
    """An upstream that refuses connections makes sends fail and be counted, nothing raises."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    forwarder = Forwarder(f"http://127.0.0.1:{port}", timeout_s=1.0)
    assert forwarder.submit("traces", b"")
    assert _wait_for(lambda: forwarder.stats().failed == 1)
    forwarder.close()


def test_forward_url_must_be_http() -> None:
    """A forward URL that is not http(s) is a configuration error."""
    from lambdaguard.errors import ConfigError

    with pytest.raises(ConfigError, match="http"):
        Forwarder("ftp://example.com")
