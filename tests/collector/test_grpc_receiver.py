"""OTLP/gRPC receiver: the official gRPC exporter as client; auth, bad input and overload codes."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

from lambdaguard.collector.server import CollectorHandle

from .conftest import ARN, trace_request
from .test_http_receiver import assert_stored, send_with_sdk

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _call(target: str, body: bytes, metadata: tuple[tuple[str, str], ...] = ()) -> Any:
    with grpc.insecure_channel(target) as channel:
        stub = channel.unary_unary(EXPORT)
        return stub(body, metadata=metadata, timeout=10)


def test_official_grpc_exporter_is_stored(collector: CollectorHandle) -> None:
    """Spans from the official OTLP/gRPC exporter land in the store."""
    assert collector.grpc_target is not None
    send_with_sdk(OTLPSpanExporter(endpoint=collector.grpc_target, insecure=True))
    assert_stored(collector)


def test_gzip_grpc_exporter_is_stored(collector: CollectorHandle) -> None:
    """gRPC message compression (gzip) is accepted."""
    assert collector.grpc_target is not None
    send_with_sdk(
        OTLPSpanExporter(
            endpoint=collector.grpc_target, insecure=True, compression=grpc.Compression.Gzip
        )
    )
    assert_stored(collector)


def test_grpc_requires_the_token(collector_factory: Any) -> None:
    """Without a valid bearer token the call fails UNAUTHENTICATED and nothing is stored."""
    handle = collector_factory(tokens=("s3cret",))
    body = trace_request(trace_id=b"\x21" * 16).SerializeToString()
    for metadata in ((), (("authorization", "Bearer nope"),)):
        with pytest.raises(grpc.RpcError) as exc:
            _call(handle.grpc_target, body, metadata)
        assert exc.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert handle.store.functions() == []
    send_with_sdk(
        OTLPSpanExporter(
            endpoint=handle.grpc_target,
            insecure=True,
            headers=(("authorization", "Bearer s3cret"),),
        )
    )
    assert_stored(handle)


def test_grpc_invalid_protobuf_is_invalid_argument(collector: CollectorHandle) -> None:
    """A malformed message is INVALID_ARGUMENT with a clear message; the server keeps serving."""
    with pytest.raises(grpc.RpcError) as exc:
        _call(collector.grpc_target, b"\x0a\xff\xff\xff\xff\x0f")  # type: ignore[arg-type]
    assert exc.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "protobuf" in (exc.value.details() or "")
    _call(collector.grpc_target, trace_request(trace_id=b"\x22" * 16).SerializeToString())  # type: ignore[arg-type]
    assert collector.store.calls(ARN)[0].count == 1


def test_grpc_overload_is_resource_exhausted_with_retry_info(collector: CollectorHandle) -> None:
    """Throttled calls fail RESOURCE_EXHAUSTED with RetryInfo, which makes exporters retry."""
    from google.rpc import error_details_pb2

    ingestor = collector._ingestor
    taken = 0
    while ingestor.admit():
        taken += 1
    try:
        with pytest.raises(grpc.RpcError) as exc:
            _call(collector.grpc_target, trace_request(trace_id=b"\x23" * 16).SerializeToString())  # type: ignore[arg-type]
    finally:
        for _ in range(taken):
            ingestor.release()
    assert exc.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    trailers = dict(exc.value.trailing_metadata())
    retry = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
    assert retry.retry_delay.seconds == 1
    assert "grpc-status-details-bin" in trailers
    assert collector.store.functions() == []


def test_grpc_oversized_message_is_refused(collector_factory: Any) -> None:
    """A message over max_body_bytes is refused by gRPC (RESOURCE_EXHAUSTED) before decoding."""
    handle = collector_factory(max_body_bytes=10_000)
    big = trace_request(trace_id=b"\x24" * 16, invocations=200).SerializeToString()
    with pytest.raises(grpc.RpcError) as exc:
        _call(handle.grpc_target, big)
    assert exc.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert handle.store.functions() == []


def test_grpc_amplified_message_is_refused_naming_the_limit(collector: CollectorHandle) -> None:
    """Over gRPC, a message expanding past a decode limit fails RESOURCE_EXHAUSTED naming it,
    and the server keeps serving."""
    bomb = b"\x0a\x00" * 1_000_000  # a million empty resource spans, 2 MB
    with pytest.raises(grpc.RpcError) as exc:
        _call(collector.grpc_target, bomb)  # type: ignore[arg-type]
    assert exc.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_resources" in (exc.value.details() or "")
    _call(collector.grpc_target, trace_request(trace_id=b"\x25" * 16).SerializeToString())  # type: ignore[arg-type]
    assert collector.store.calls(ARN)[0].count == 1


def test_grpc_metrics_service_accepts_metrics(collector: CollectorHandle) -> None:
    """The gRPC MetricsService Export answers (data points counted), as /v1/metrics does."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="n")
    metric.gauge.data_points.add(as_double=1.0)
    with grpc.insecure_channel(collector.grpc_target) as channel:  # type: ignore[arg-type]
        stub = channel.unary_unary(
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
        )
        stub(request.SerializeToString(), timeout=10)
    assert collector.stats()["data_points"] == 1
