"""Hostile traffic on loopback: slow clients, floods and amplified bodies never stop a normal client.

Every case is bounded in count and time, talks only to 127.0.0.1, and ends
with a normal exporter being served and what it was acknowledged being stored.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from lambdaguard.collector.server import CollectorHandle

from .conftest import ARN, trace_request
from .test_http_receiver import assert_stored, send_with_sdk

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _address(handle: CollectorHandle) -> tuple[str, int]:
    host, port = handle.http_url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _wait_for(predicate: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    """Raw client sockets, all closed at teardown."""
    held: list[socket.socket] = []
    yield held
    for s in held:
        s.close()


def _closed_by_server(s: socket.socket, timeout: float) -> bytes | None:
    """What the server sent before closing, or None if it kept the socket open."""
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return data
            data += chunk
    except TimeoutError:
        return None
    except OSError:
        return data


def test_slow_headers_are_cut_at_the_deadline_whatever_is_sent(
    collector_factory: Any, sockets: list[socket.socket]
) -> None:
    """A client sending one header byte at a time is answered 408 and closed at the
    whole-request deadline, although it never stops sending."""
    handle = collector_factory(request_timeout_s=1.0)
    s = socket.create_connection(_address(handle))
    sockets.append(s)
    s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    cut = False
    for _ in range(100):  # at most ~10 s of dribbling; the deadline is 1 s
        try:
            s.sendall(b"X")
        except OSError:
            cut = True
            break
        time.sleep(0.1)
    answer = _closed_by_server(s, 5.0)
    assert cut or answer is not None
    assert time.monotonic() - started < 10
    assert handle.stats()["timeouts"] >= 1
    send_with_sdk(OTLPSpanExporter(endpoint=f"{handle.http_url}/v1/traces"))
    assert_stored(handle)


def test_slow_body_is_408_and_holds_no_ingest_slot(
    collector_factory: Any, sockets: list[socket.socket]
) -> None:
    """Bodies dribbled by more clients than there are ingest slots hold no slot: a normal
    exporter is served meanwhile, and the dribblers get 408 at the deadline."""
    handle = collector_factory(request_timeout_s=2.0, max_inflight=2)
    body = trace_request(trace_id=b"\x61" * 16).SerializeToString()
    for _ in range(6):
        s = socket.create_connection(_address(handle))
        sockets.append(s)
        s.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:10]
        )
    send_with_sdk(OTLPSpanExporter(endpoint=f"{handle.http_url}/v1/traces"))
    assert_stored(handle)
    for s in sockets:
        answer = _closed_by_server(s, 10.0)
        assert answer is not None
        assert answer.startswith(b"HTTP/1.1 408"), answer


def test_200_slow_connections_and_one_normal_exporter(
    collector_factory: Any, sockets: list[socket.socket]
) -> None:
    """200 connections that opened and trickle nothing useful do not stop a normal exporter."""
    handle = collector_factory(request_timeout_s=30.0)
    address = _address(handle)
    for i in range(200):
        s = socket.create_connection(address)
        sockets.append(s)
        s.sendall(b"POST /v1/traces HTTP/1.1\r\n" if i % 2 else b"P")
    assert _wait_for(lambda: handle.metrics.connections._value.get() >= 200)
    send_with_sdk(OTLPSpanExporter(endpoint=f"{handle.http_url}/v1/traces", timeout=10))
    assert_stored(handle)


def test_connection_limit_per_client_address(
    collector_factory: Any, sockets: list[socket.socket]
) -> None:
    """Beyond max_connections_per_client from one address, a connection gets 503 at once."""
    handle = collector_factory(max_connections_per_client=3)
    address = _address(handle)
    for _ in range(3):
        s = socket.create_connection(address)
        sockets.append(s)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200" in s.recv(4096)
    response = httpx.get(f"{handle.http_url}/healthz")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    sockets.pop().close()
    assert _wait_for(lambda: httpx.get(f"{handle.http_url}/healthz").status_code == 200)


def test_oversized_headers_are_431(collector_factory: Any) -> None:
    """Headers larger than max_header_bytes are refused with 431."""
    handle = collector_factory(max_header_bytes=2048)
    response = httpx.post(
        f"{handle.http_url}/v1/traces",
        content=b"",
        headers={**PROTOBUF, "X-Junk": "a" * 4096},
    )
    assert response.status_code == 431


def test_chunked_body_and_keep_alive(collector: CollectorHandle) -> None:
    """A chunked body (as the JavaScript exporters send) is stored; the connection is reused."""
    body = trace_request(trace_id=b"\x62" * 16, invocations=2).SerializeToString()

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 100):
            yield body[i : i + 100]

    with httpx.Client() as client:
        for _ in range(2):
            response = client.post(
                f"{collector.http_url}/v1/traces", content=chunks(), headers=PROTOBUF
            )
            assert response.status_code == 200
    assert collector.store.calls(ARN)[0].count == 2  # the second delivery was a duplicate
    assert collector.metrics.connections._value.get() <= 1


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_amplified_bodies_at_once_keep_memory_bounded(collector: CollectorHandle) -> None:
    """Eight 7 KB gzip bodies inflating to 7 MB of empty resource spans, sent at once, are
    each refused (413 naming the limit) while RSS stays within 200 MiB of where it began,
    and a normal exporter is served."""
    bomb = gzip.compress(b"\x0a\x00" * 3_500_000, compresslevel=9)
    assert len(bomb) < 20_000
    before = _rss_kib()
    peak = before
    codes: list[int] = []
    messages: list[str] = []
    lock = threading.Lock()

    def send() -> None:
        response = httpx.post(
            f"{collector.http_url}/v1/traces",
            content=bomb,
            headers={**PROTOBUF, "Content-Encoding": "gzip"},
            timeout=30,
        )
        with lock:
            codes.append(response.status_code)
            messages.append(response.text)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, _rss_kib())
        time.sleep(0.01)
    assert set(codes) <= {413, 429}
    assert 413 in codes
    assert any("max_resources" in m for m in messages)
    assert peak - before < 200 * 1024, f"RSS grew {(peak - before) // 1024} MiB"
    send_with_sdk(OTLPSpanExporter(endpoint=f"{collector.http_url}/v1/traces"))
    assert_stored(collector)


def test_invalid_utf8_in_one_span_of_many_is_rejected_alone(collector: CollectorHandle) -> None:
    """One span with invalid UTF-8 is reported in partial success; the rest are stored."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    request = trace_request(trace_id=b"\x63" * 16, invocations=4)
    request.resource_spans[0].scope_spans[0].spans[1].name = "MARKER"  # a call span
    body = request.SerializeToString().replace(b"MARKER", b"\xff\xfe\xfd\xfc\xfb\xfa")
    response = httpx.post(f"{collector.http_url}/v1/traces", content=body, headers=PROTOBUF)
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    assert "UTF-8" in partial.error_message
    assert collector.store.invocations(ARN)[0].count == 4
    assert collector.store.calls(ARN)[0].count == 3
    text = httpx.get(f"{collector.http_url}/metrics").text
    assert 'lambdaguard_rejected_total{reason="invalid_utf8",signal="traces"} 1.0' in text


@pytest.mark.postgres
def test_nul_characters_are_stored_safely_on_postgresql(
    collector_factory: Any, pg_url: str
) -> None:
    """NUL characters in attribute values never make a PostgreSQL store answer 503: the
    request is stored (NUL replaced by U+FFFD), and the next request is served too."""
    from lambdaguard.collector.spans import NUL_REPLACEMENT

    from .conftest import Call

    handle = collector_factory(store_url=pg_url)
    poison = trace_request(
        trace_id=b"\x64" * 16,
        calls=(Call(params='{"Bucket":"or\x00ders"}'),),
        hosts=[("api\x00.example.com", 443, True)],
    ).SerializeToString()
    for _ in range(2):  # a client retrying the same body gets the same 200
        response = httpx.post(f"{handle.http_url}/v1/traces", content=poison, headers=PROTOBUF)
        assert response.status_code == 200, response.content
    (call,) = handle.store.calls(ARN)
    assert call.params == {"Bucket": f"or{NUL_REPLACEMENT}ders"}
    (host,) = handle.store.hosts(ARN)
    assert host.host == f"api{NUL_REPLACEMENT}.example.com"
    normal = trace_request(trace_id=b"\x65" * 16).SerializeToString()
    assert (
        httpx.post(f"{handle.http_url}/v1/traces", content=normal, headers=PROTOBUF).status_code
        == 200
    )
    assert handle.stats()["store_errors"] == 0


def test_cardinality_flood_is_capped_counted_and_reported(collector_factory: Any) -> None:
    """50,000 distinct function names in one request: at most the cap is stored, the rest is
    counted in partial success and in metrics, and a known function is still served."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )

    from lambdaguard import semconv

    from .conftest import kv

    handle = collector_factory(max_functions_per_request=100, max_functions=150)

    def flood(prefix: str, offset: int) -> bytes:
        request = ExportTraceServiceRequest()
        for i in range(50_000 // 500):
            ss = request.resource_spans.add().scope_spans.add()
            for j in range(500):
                n = i * 500 + j
                span = ss.spans.add(
                    trace_id=(offset + n).to_bytes(16, "big"), span_id=b"\x01" * 8, name="f"
                )
                span.attributes.extend(
                    [
                        kv(
                            semconv.FUNCTION_ARN,
                            f"arn:aws:lambda:eu-west-1:123456789012:function:{prefix}{n}",
                        ),
                        kv(semconv.FAAS_INVOCATION_ID, "r"),
                    ]
                )
        return request.SerializeToString()

    send_with_sdk(OTLPSpanExporter(endpoint=f"{handle.http_url}/v1/traces"))
    assert_stored(handle)  # "orders" is known before the floods
    url = f"{handle.http_url}/v1/traces"
    response = httpx.post(url, content=flood("f", 0), headers=PROTOBUF, timeout=60)
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 50_000 - 100
    assert "max_functions_per_request=100" in partial.error_message
    assert len(handle.store.functions()) == 1 + 100
    # A second flood fills the store-wide cap (150) and no more.
    response = httpx.post(url, content=flood("g", 10**6), headers=PROTOBUF, timeout=60)
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert "max_functions=150" in partial.error_message
    assert len(handle.store.functions()) == 150
    over = 2 * 50_000 - 149
    assert handle.stats()["over_cap"] == over
    text = httpx.get(f"{handle.http_url}/metrics").text
    assert f'lambdaguard_rejected_total{{reason="over_cap",signal="traces"}} {over}.0' in text
    # A known function is still served at the cap.
    normal = trace_request(trace_id=b"\x66" * 16).SerializeToString()
    assert httpx.post(url, content=normal, headers=PROTOBUF).status_code == 200
    assert any(c.operation == "GetObject" and c.count == 1 for c in handle.store.calls(ARN))
