"""OTLP/HTTP receiver: the official exporter as client, and every status the spec defines."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

from lambdaguard import semconv
from lambdaguard.collector.server import CollectorHandle

from .conftest import ARN, trace_request

PROTOBUF = {"Content-Type": "application/x-protobuf"}
TRACE_ID = b"\x11" * 16


def send_with_sdk(exporter: Any, *, invocations: int = 3) -> None:
    """Emit agent-shaped spans through the OTel SDK and the given official exporter."""
    provider = TracerProvider(
        resource=Resource.create(
            {
                semconv.CLOUD_RESOURCE_ID: ARN,
                semconv.CLOUD_ACCOUNT_ID: "123456789012",
                semconv.CLOUD_REGION: "eu-west-1",
                semconv.LAYER_VERSION: "0.1.0",
            }
        )
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("lambdaguard.test")
    for i in range(invocations):
        with tracer.start_as_current_span(
            "orders",
            attributes={
                semconv.FAAS_INVOCATION_ID: f"r{i}",
                semconv.FAAS_COLDSTART: i == 0,
                semconv.INVOCATION_OUTCOME: semconv.OUTCOME_ERROR
                if i == 1
                else semconv.OUTCOME_SUCCESS,
            },
        ) as span:
            with tracer.start_as_current_span(
                "S3.PutObject",
                attributes={
                    semconv.AWS_SERVICE: "s3",
                    semconv.AWS_OPERATION: "PutObject",
                    semconv.AWS_PARAMS: '{"Bucket":"orders","Key":"in/"}',
                    semconv.AWS_KMS_KEY_ID: "arn:aws:kms:eu-west-1:123456789012:key/k",
                },
            ):
                pass
            span.add_event(
                semconv.CONNECTION_EVENT,
                {
                    semconv.SERVER_ADDRESS: "api.stripe.com",
                    semconv.SERVER_PORT: 443,
                    semconv.NET_TLS: True,
                },
            )
    provider.shutdown()


def assert_stored(handle: CollectorHandle, invocations: int = 3) -> None:
    """The store holds what send_with_sdk emitted."""
    store = handle.store
    (call,) = store.calls(ARN)
    assert (call.service, call.operation, call.count) == ("s3", "PutObject", invocations)
    assert call.response["SSEKMSKeyId"].endswith("key/k")
    (host,) = store.hosts(ARN)
    assert (host.host, host.port, host.tls, host.count) == (
        "api.stripe.com",
        443,
        True,
        invocations,
    )
    (day,) = store.invocations(ARN)
    assert (day.count, day.cold_starts, day.errors) == (invocations, 1, 1)


@pytest.mark.parametrize(
    "compression", [Compression.NoCompression, Compression.Gzip, Compression.Deflate]
)
def test_official_http_exporter_is_stored(
    collector: CollectorHandle, compression: Compression
) -> None:
    """Spans from the official OTLP/HTTP exporter (any compression) land in the store."""
    send_with_sdk(
        OTLPSpanExporter(endpoint=f"{collector.http_url}/v1/traces", compression=compression)
    )
    assert_stored(collector)


def test_json_body_gets_a_json_response(collector: CollectorHandle) -> None:
    """An OTLP/JSON request is stored and answered with JSON."""
    from .test_otlp_decoding import _json_body

    body = _json_body(trace_request(trace_id=TRACE_ID))
    response = httpx.post(
        f"{collector.http_url}/v1/traces",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    assert collector.store.calls(ARN)[0].count == 1


def test_logs_are_accepted(collector: CollectorHandle) -> None:
    """/v1/logs accepts OTLP logs with an empty ExportLogsServiceResponse."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    request = ExportLogsServiceRequest()
    request.resource_logs.add().scope_logs.add().log_records.add().body.string_value = "hi"
    response = httpx.post(
        f"{collector.http_url}/v1/logs", content=request.SerializeToString(), headers=PROTOBUF
    )
    assert response.status_code == 200
    assert collector.stats()["log_records"] == 1


def test_partial_success_for_spans_with_bad_ids(collector: CollectorHandle) -> None:
    """Spans with invalid ids are rejected through partial_success; the rest is stored."""
    request = trace_request(trace_id=TRACE_ID)
    request.resource_spans[0].scope_spans[0].spans[0].span_id = b"bad"
    response = httpx.post(
        f"{collector.http_url}/v1/traces", content=request.SerializeToString(), headers=PROTOBUF
    )
    assert response.status_code == 200
    body = ExportTraceServiceResponse.FromString(response.content)
    assert body.partial_success.rejected_spans == 1
    assert "span_id" in body.partial_success.error_message
    assert collector.store.calls(ARN)[0].count == 1


def _status(response: httpx.Response) -> status_pb2.Status:
    return status_pb2.Status.FromString(response.content)


@pytest.mark.parametrize(
    ("content", "headers", "code"),
    [
        (b"\x0a\xff\xff\xff\xff\x0f", PROTOBUF, 400),
        (b"garbage", {"Content-Type": "text/plain"}, 415),
        (b"x", {**PROTOBUF, "Content-Encoding": "br"}, 415),
        (gzip.compress(b"\x0a\x02\x0a\x00")[:-5], {**PROTOBUF, "Content-Encoding": "gzip"}, 400),
    ],
)
def test_bad_requests_get_4xx_with_status_body(
    collector: CollectorHandle, content: bytes, headers: dict[str, str], code: int
) -> None:
    """Malformed bodies and wrong content types get their 4xx and a google.rpc.Status message."""
    response = httpx.post(f"{collector.http_url}/v1/traces", content=content, headers=headers)
    assert response.status_code == code
    assert _status(response).message
    assert collector.store.functions() == []


def test_invalid_json_gets_a_json_status(collector: CollectorHandle) -> None:
    """A broken JSON body gets a 400 whose Status body is JSON too."""
    response = httpx.post(
        f"{collector.http_url}/v1/traces",
        content=b'{"resourceSpans": [',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["message"]


def test_unknown_path_and_method(collector: CollectorHandle) -> None:
    """Unknown paths are 404 and methods other than POST 405 (/v1/metrics is a path now)."""
    assert (
        httpx.post(f"{collector.http_url}/v1/profiles", content=b"", headers=PROTOBUF).status_code
        == 404
    )
    assert (
        httpx.post(f"{collector.http_url}/v1/metrics", content=b"", headers=PROTOBUF).status_code
        == 200
    )
    assert httpx.put(f"{collector.http_url}/v1/traces", content=b"").status_code == 405
    assert httpx.get(f"{collector.http_url}/healthz").json() == {"status": "ok"}


def test_bodies_over_the_limit_are_413(collector_factory: Any) -> None:
    """A body larger than max_body_bytes, or inflating past it, is a 413."""
    handle = collector_factory(max_body_bytes=20_000)
    big = trace_request(trace_id=TRACE_ID, invocations=200).SerializeToString()
    assert len(big) > 20_000
    response = httpx.post(f"{handle.http_url}/v1/traces", content=big, headers=PROTOBUF)
    assert response.status_code == 413
    bomb = gzip.compress(b"\0" * 8_000_000)
    assert len(bomb) < 20_000
    response = httpx.post(
        f"{handle.http_url}/v1/traces",
        content=bomb,
        headers={**PROTOBUF, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 413
    assert "decompressed" in _status(response).message


def test_token_required_and_checked(collector_factory: Any) -> None:
    """With tokens configured, a request without a valid one is 401 and nothing is stored."""
    handle = collector_factory(tokens=("s3cret", "rotated"))
    body = trace_request(trace_id=TRACE_ID).SerializeToString()
    url = f"{handle.http_url}/v1/traces"
    for auth in (None, "Bearer wrong", "Basic s3cret", "s3cret", "Bearer s3cret-and-more"):
        headers = dict(PROTOBUF)
        if auth:
            headers["Authorization"] = auth
        response = httpx.post(url, content=body, headers=headers)
        assert response.status_code == 401, auth
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert handle.store.functions() == []
    exporter = OTLPSpanExporter(endpoint=url, headers={"Authorization": "Bearer rotated"})
    send_with_sdk(exporter)
    assert_stored(handle)


def test_overload_is_429_with_retry_after(collector: CollectorHandle) -> None:
    """When every in-flight slot is taken, requests get 429 + Retry-After and nothing is stored."""
    ingestor = collector._ingestor
    taken = 0
    while ingestor.admit():
        taken += 1
    try:
        with httpx.Client() as client:
            body = trace_request(trace_id=TRACE_ID).SerializeToString()
            response = client.post(
                f"{collector.http_url}/v1/traces", content=body, headers=PROTOBUF
            )
            assert response.status_code == 429
            assert response.headers["retry-after"] == "1"
            # The connection stays usable: the body was drained.
            assert client.get(f"{collector.http_url}/healthz").status_code == 200
    finally:
        for _ in range(taken):
            ingestor.release()
    assert collector.store.functions() == []
    response = httpx.post(f"{collector.http_url}/v1/traces", content=body, headers=PROTOBUF)
    assert response.status_code == 200


def test_connection_limit_is_503_with_retry_after(collector_factory: Any) -> None:
    """Connections beyond max_connections are answered 503 + Retry-After at once."""
    import socket

    handle = collector_factory(max_connections=1)
    host, port = handle.http_url.removeprefix("http://").rsplit(":", 1)
    holder = socket.create_connection((host, int(port)))
    try:
        holder.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in holder.recv(4096)  # the slot is now held by a keep-alive connection
        response = httpx.get(f"{handle.http_url}/healthz")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
    finally:
        holder.close()


def test_hostile_bodies_never_take_the_server_down(collector: CollectorHandle) -> None:
    """A volley of hostile bodies gets only 4xx answers and the server still ingests afterwards."""
    import os

    url = f"{collector.http_url}/v1/traces"
    bodies = [os.urandom(n) for n in (1, 7, 100, 5000)] + [
        b"\x0a" * 3000,
        b"\x12\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    ]
    for body in bodies:
        for ctype in ("application/x-protobuf", "application/json"):
            response = httpx.post(url, content=body, headers={"Content-Type": ctype})
            assert 400 <= response.status_code < 500 or response.status_code == 200
    ok = httpx.post(
        url, content=trace_request(trace_id=TRACE_ID).SerializeToString(), headers=PROTOBUF
    )
    assert ok.status_code == 200
    assert json.loads(httpx.get(f"{collector.http_url}/healthz").text)["status"] == "ok"


def test_exporter_retry_is_idempotent(collector: CollectorHandle) -> None:
    """The same export delivered twice (a retry) counts once."""
    url = f"{collector.http_url}/v1/traces"
    body = trace_request(trace_id=TRACE_ID, invocations=4).SerializeToString()
    for _ in range(2):
        assert httpx.post(url, content=body, headers=PROTOBUF).status_code == 200
    assert collector.store.invocations(ARN)[0].count == 4
    assert collector.stats()["spans_duplicate"] == 8


def test_plain_otel_spans_are_accepted_and_contribute_nothing(collector: CollectorHandle) -> None:
    """Spans from a plain OTel app export as SUCCESS and add no lambdaguard facts."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("app").start_as_current_span(
        "GET /cart", attributes={"http.method": "GET"}
    ):
        pass
    exporter = OTLPSpanExporter(endpoint=f"{collector.http_url}/v1/traces")
    assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
    assert collector.stats()["spans_received"] == 1
    assert collector.store.functions() == []


def test_store_failure_is_503_with_retry_after(collector: CollectorHandle) -> None:
    """When the store cannot be written the answer is 503 + Retry-After (retryable), never 200."""
    import sqlalchemy as sa

    url = collector.config.store_url
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE lg_span_keys"))
    engine.dispose()
    body = trace_request(trace_id=TRACE_ID).SerializeToString()
    response = httpx.post(f"{collector.http_url}/v1/traces", content=body, headers=PROTOBUF)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "store unavailable" in _status(response).message
    assert collector.stats()["store_errors"] == 1
