"""OTLP/gRPC: the TraceService, LogsService and MetricsService Export methods.

grpcio's synchronous server calls a unary handler only once the whole message
has arrived, so a slow sender holds an HTTP/2 stream, never a worker thread or
an ingest slot. The limits are grpcio's own options: the largest message
(``max_body_bytes``), the RPCs queued at once, idle connections closed after
``idle_timeout_s``, every connection's life bounded (``max_connection_age``,
with ``request_timeout_s`` of grace for the RPC in flight), and HTTP/2 pings
bounded. The handler itself waits at most ``request_timeout_s`` for the group
commit (the server-side deadline); the client's own deadline still applies.
The decoded message then goes through the same limits as OTLP/HTTP.
"""

from __future__ import annotations

from concurrent import futures
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Final

import grpc

from lambdaguard.collector.otlp import Signal, encode_response
from lambdaguard.collector.settings import CollectorConfig
from lambdaguard.collector.telemetry import get_logger
from lambdaguard.errors import IngestError, StoreError, StoreRejected

__all__ = ["start_grpc"]

log = get_logger("lambdaguard.collector.grpc")

_SERVICES: Final[dict[Signal, str]] = {
    "traces": "opentelemetry.proto.collector.trace.v1.TraceService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
}


def _abort_with_retry(
    context: grpc.ServicerContext, code: grpc.StatusCode, message: str, delay_s: int
) -> None:
    from google.protobuf import any_pb2
    from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]

    retry = error_details_pb2.RetryInfo()
    retry.retry_delay.seconds = delay_s
    detail = any_pb2.Any()
    detail.Pack(retry)
    status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
    # grpc-status-details-bin is the standard rich-status trailer; the
    # OpenTelemetry Python exporter also reads google.rpc.retryinfo-bin.
    context.set_trailing_metadata(
        (
            ("grpc-status-details-bin", status.SerializeToString()),
            ("google.rpc.retryinfo-bin", retry.SerializeToString()),
        )
    )
    context.abort(code, message)


def _export(ingestor: Any, signal: Signal) -> Any:
    config = ingestor.config
    requests = ingestor.metrics.requests

    def export(request: bytes, context: grpc.ServicerContext) -> bytes:
        metadata = dict(context.invocation_metadata())
        if not ingestor.authorized(metadata.get("authorization")):
            requests.labels("grpc", signal, "16").inc()
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
        if not ingestor.admit():
            requests.labels("grpc", signal, "8").inc()
            _abort_with_retry(
                context,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "collector busy; retry later",
                config.retry_after_s,
            )
        try:
            # gRPC message compression is undone by grpcio before we see it.
            prepared = ingestor.prepare(signal, request, "protobuf")
        except IngestError as exc:
            requests.labels("grpc", signal, "3").inc()
            code = (
                grpc.StatusCode.RESOURCE_EXHAUSTED
                if exc.status == 413
                else grpc.StatusCode.INVALID_ARGUMENT
            )
            context.abort(code, str(exc))
        finally:
            ingestor.release()
        try:
            result = ingestor.commit(prepared).result(timeout=config.request_timeout_s)
        except StoreRejected as exc:
            ingestor.count(bad_requests=1)
            requests.labels("grpc", signal, "3").inc()
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"a value cannot be stored: {exc}")
        except (StoreError, FutureTimeout) as exc:
            ingestor.count(store_errors=1)
            requests.labels("grpc", signal, "14").inc()
            log.warning("store_unavailable", error=str(exc) or "commit timed out")
            _abort_with_retry(
                context,
                grpc.StatusCode.UNAVAILABLE,
                "store unavailable; retry later",
                config.retry_after_s,
            )
        outcome = ingestor.finish(prepared, result)
        requests.labels("grpc", signal, "0").inc()
        return encode_response(
            signal, "protobuf", rejected=outcome.rejected, error_message=outcome.message
        )

    # No deserializer: the handler gets the raw bytes and decodes them with
    # the same code (and the same limits) as OTLP/HTTP.
    return grpc.unary_unary_rpc_method_handler(export)


def start_grpc(config: CollectorConfig, ingestor: Any) -> tuple[grpc.Server, int]:
    """Start the gRPC server; a busy port or bad address is a ListenError naming it."""
    from lambdaguard.collector.server import ListenError, _bracket, bind_socket

    if config.grpc_port:
        # Probe first: grpc-core reports a busy port as a multi-line C log on
        # stderr; this gives the one clear line instead.
        bind_socket(config.bind, config.grpc_port, "OTLP/gRPC").close()
    workers = config.max_inflight + 8
    idle_ms = int(config.idle_timeout_s * 1000)
    grace_ms = int(config.request_timeout_s * 1000)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambdaguard-grpc"),
        handlers=[
            grpc.method_handlers_generic_handler(
                _SERVICES[signal], {"Export": _export(ingestor, signal)}
            )
            for signal in ("traces", "logs", "metrics")
        ],
        options=[
            ("grpc.max_receive_message_length", config.max_body_bytes),
            ("grpc.max_send_message_length", 1024 * 1024),
            ("grpc.max_connection_idle_ms", idle_ms),
            # A connection lives at most 5 minutes (+ grace for its RPC in
            # flight): a client dribbling a message cannot hold it longer.
            ("grpc.max_connection_age_ms", 300_000),
            ("grpc.max_connection_age_grace_ms", grace_ms),
            ("grpc.max_concurrent_streams", 100),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.so_reuseport", 0),
        ],
        # Bounds the RPCs grpc queues for our workers: memory stays bounded.
        maximum_concurrent_rpcs=4 * workers,
    )
    assert config.grpc_port is not None
    address = f"{_bracket(config.bind)}:{config.grpc_port}"
    try:
        if config.tls_cert and config.tls_key:
            with open(config.tls_key, "rb") as k, open(config.tls_cert, "rb") as c:
                creds = grpc.ssl_server_credentials([(k.read(), c.read())])
            port = server.add_secure_port(address, creds)
        else:
            port = server.add_insecure_port(address)
    except (RuntimeError, OSError) as exc:
        raise ListenError(f"cannot listen for OTLP/gRPC on {address}: {exc}") from exc
    if port == 0:
        raise ListenError(f"cannot listen for OTLP/gRPC on {address}: port in use or bad address")
    server.start()
    return server, port
