"""The collector service: OTLP/HTTP (4318) and OTLP/gRPC (4317) receivers over one store.

:func:`start_collector` starts both listeners in background threads and
returns a :class:`CollectorHandle`; ``lambdaguard serve`` and the tests use the
same function. Every request goes through one :class:`Ingestor`:

1. bearer token (constant-time compare against each configured token);
2. an in-flight slot (``max_inflight``); none free means 429 / gRPC
   RESOURCE_EXHAUSTED with RetryInfo, so memory stays bounded under overload
   (at most ``max_inflight`` bodies of ``max_body_bytes`` are held);
3. decode (:mod:`.otlp`), reduce to facts (:mod:`.spans`), store in one
   transaction and commit (:mod:`.store`);
4. only then acknowledge, and hand the payload to the forwarder (never waits).

HTTP status codes follow the OTLP/HTTP specification: 200 with an (optionally
partial-success) Export*ServiceResponse in the request's encoding; 400 with a
google.rpc.Status for malformed data; 401; 404; 405; 411; 413; 415; 429 and
503 with ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import socket
import ssl
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import urlsplit

import grpc

from lambdaguard.collector.forward import Forwarder
from lambdaguard.collector.metrics import extract_metrics
from lambdaguard.collector.otlp import (
    CONTENT_TYPE_JSON,
    CONTENT_TYPE_PROTOBUF,
    Encoding,
    Signal,
    decode_body,
    decompress,
    encode_response,
    encode_status,
    negotiate,
)
from lambdaguard.collector.rollup import start_rollup, stop_rollup
from lambdaguard.collector.settings import CollectorConfig
from lambdaguard.collector.spans import extract
from lambdaguard.collector.store import Store, open_store
from lambdaguard.errors import IngestError, StoreError

__all__ = ["CollectorConfig", "CollectorHandle", "Ingestor", "start_collector"]

log = logging.getLogger("lambdaguard.collector")

_HTTP_PATHS: Final[dict[str, Signal]] = {
    "/v1/traces": "traces",
    "/v1/logs": "logs",
    "/v1/metrics": "metrics",
}
_GRPC_SERVICES: Final[dict[Signal, str]] = {
    "traces": "opentelemetry.proto.collector.trace.v1.TraceService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
}
_DRAIN_CHUNK: Final = 64 * 1024
_SERIES_WINDOW_S: Final = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an accepted request ended: spans/records rejected, and why."""

    rejected: int
    message: str


class _Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, int] = dict.fromkeys(
            (
                "requests",
                "spans_received",
                "spans_stored",
                "spans_duplicate",
                "spans_rejected",
                "log_records",
                "data_points",
                "series_applied",
                "series_unchanged",
                "data_points_rejected",
                "throttled",
                "unauthenticated",
                "bad_requests",
                "store_errors",
            ),
            0,
        )

    def add(self, **deltas: int) -> None:
        with self._lock:
            for key, delta in deltas.items():
                self._values[key] += delta

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)


class Throttled(Exception):
    """No in-flight slot is free; the client should retry later."""


class Ingestor:
    """The transport-independent core: auth, admission, decode, store, forward."""

    def __init__(self, config: CollectorConfig, store: Store, forwarder: Forwarder | None) -> None:
        self.config = config
        self.store = store
        self.forwarder = forwarder
        self.counters = _Counters()
        self._slots = threading.BoundedSemaphore(config.max_inflight)
        self._tokens = tuple(t.encode("utf-8") for t in config.tokens)

    def authorized(self, authorization: str | None) -> bool:
        """True when no token is configured or the header carries one of them."""
        if not self._tokens:
            return True
        scheme, _, presented = (authorization or "").partition(" ")
        candidate = presented.strip().encode("utf-8", "surrogateescape")
        ok = scheme.lower() == "bearer"
        # Compare against every token without short-circuiting, so timing
        # reveals neither which token matched nor how much of one did.
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(candidate, token)
        if not (ok and matched):
            self.counters.add(unauthenticated=1)
        return ok and matched

    def admit(self) -> bool:
        """Take an in-flight slot without waiting; False means "throttle"."""
        if self._slots.acquire(blocking=False):
            return True
        self.counters.add(throttled=1)
        return False

    def release(self) -> None:
        """Give back the slot taken by :meth:`admit`."""
        self._slots.release()

    def ingest(self, signal: Signal, body: bytes, encoding: Encoding) -> Outcome:
        """Decode, store (committed on return) and forward one request body."""
        self.counters.add(requests=1)
        try:
            decoded = decode_body(signal, body, encoding, max_attributes=self.config.max_attributes)
        except IngestError:
            self.counters.add(bad_requests=1)
            raise
        outcome = Outcome(0, "")
        if signal == "traces":
            facts = extract(decoded.message, now_ns=time.time_ns())
            try:
                result = self.store.ingest(facts.spans)
            except StoreError:
                self.counters.add(store_errors=1)
                raise
            self.counters.add(
                spans_received=facts.total_spans,
                spans_stored=result.new_spans,
                spans_duplicate=result.duplicate_spans,
                spans_rejected=facts.rejected,
            )
            outcome = Outcome(facts.rejected, facts.reject_reason)
        elif signal == "metrics":
            outcome = self._ingest_metrics(decoded.message)
        else:
            records = sum(
                len(sl.log_records) for rl in decoded.message.resource_logs for sl in rl.scope_logs
            )
            self.counters.add(log_records=records)
        if self.forwarder is not None:
            self.forwarder.submit(signal, decoded.payload)
        return outcome

    def _ingest_metrics(self, message: Any) -> Outcome:
        # Evidence mode's counts (collector/metrics.py); stored in one transaction.
        mfacts = extract_metrics(message, time.time_ns())
        try:
            result = self.store.ingest_metrics(mfacts.points)
        except StoreError:
            self.counters.add(store_errors=1)
            raise
        self.counters.add(
            data_points=mfacts.data_points,
            series_applied=result.applied,
            series_unchanged=result.unchanged,
            data_points_rejected=mfacts.rejected,
        )
        return Outcome(mfacts.rejected, mfacts.reject_reason)

    def stats(self) -> dict[str, int]:
        """Counters since start (requests, spans stored/duplicate/rejected, throttled …)."""
        values = self.counters.snapshot()
        if self.forwarder is not None:
            fwd = self.forwarder.stats()
            values.update(
                forward_sent=fwd.sent, forward_dropped=fwd.dropped, forward_failed=fwd.failed
            )
        return values


# -- OTLP/HTTP -----------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        ingestor: Ingestor,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.ingestor = ingestor
        self.ssl_context = ssl_context
        self._active = 0
        self._active_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._active_lock:
            full = self._active >= self.ingestor.config.max_connections
            if not full:
                self._active += 1
        if full:
            # Refused on the accept thread: no thread, no buffer, just a 503.
            self.ingestor.counters.add(throttled=1)
            if self.ssl_context is None:
                retry = self.ingestor.config.retry_after_s
                with contextlib.suppress(OSError):
                    request.sendall(
                        b"HTTP/1.1 503 Service Unavailable\r\n"
                        + f"Retry-After: {retry}\r\n".encode()
                        + b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                    )
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            if self.ssl_context is not None:
                # The TLS handshake runs here, on the connection's own thread,
                # so a slow client cannot stall the accept loop.
                try:
                    request.settimeout(_Handler.timeout)
                    request = self.ssl_context.wrap_socket(request, server_side=True)
                except (OSError, ssl.SSLError):
                    self.shutdown_request(request)
                    return
            super().process_request_thread(request, client_address)
        finally:
            with self._active_lock:
                self._active -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("unexpected error serving %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lambdaguard"
    sys_version = ""
    timeout = 30  # seconds a connection may sit idle or dribble a body
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _reply(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        headers: tuple[tuple[str, str], ...] = (),
        close: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _error(
        self,
        status: int,
        message: str,
        encoding: Encoding,
        *,
        headers: tuple[tuple[str, str], ...] = (),
        close: bool = False,
    ) -> None:
        ctype = CONTENT_TYPE_JSON if encoding == "json" else CONTENT_TYPE_PROTOBUF
        self._reply(
            status, encode_status(status, message, encoding), ctype, headers=headers, close=close
        )

    def _retry_after(self) -> tuple[tuple[str, str], ...]:
        return (("Retry-After", str(self.server.ingestor.config.retry_after_s)),)

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/healthz":
            self._reply(200, b'{"status":"ok"}', CONTENT_TYPE_JSON)
        else:
            self._error(404, f"no such path {self.path!r}", "json")

    def do_PUT(self) -> None:
        self._error(405, "OTLP/HTTP accepts POST only", "json", close=True)

    do_DELETE = do_PATCH = do_PUT

    def do_POST(self) -> None:
        ingestor = self.server.ingestor
        config = ingestor.config
        media = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        reply_encoding: Encoding = "json" if media == CONTENT_TYPE_JSON else "protobuf"
        if not ingestor.authorized(self.headers.get("Authorization")):
            self._error(
                401,
                "missing or invalid bearer token",
                reply_encoding,
                headers=(("WWW-Authenticate", 'Bearer realm="lambdaguard"'),),
                close=True,
            )
            return
        signal = _HTTP_PATHS.get(urlsplit(self.path).path)
        if signal is None:
            self._error(
                404,
                f"no such path {self.path!r}: use /v1/traces, /v1/metrics or /v1/logs",
                reply_encoding,
                close=True,
            )
            return
        try:
            encoding = negotiate(self.headers.get("Content-Type"))
        except IngestError as exc:
            self._error(exc.status, str(exc), reply_encoding, close=True)
            return
        if self.headers.get("Transfer-Encoding"):
            self._error(
                411, "send a Content-Length (chunked bodies are not accepted)", encoding, close=True
            )
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._error(411, "a valid Content-Length is required", encoding, close=True)
            return
        if length < 0:
            self._error(400, "negative Content-Length", encoding, close=True)
            return
        if length > config.max_body_bytes:
            self._error(
                413,
                f"body of {length} bytes exceeds the limit of {config.max_body_bytes} bytes",
                encoding,
                close=True,
            )
            return
        if not ingestor.admit():
            # Read and discard the body in small chunks so the keep-alive
            # connection stays usable and the client reads our 429.
            remaining = length
            while remaining:
                chunk = self.rfile.read(min(remaining, _DRAIN_CHUNK))
                if not chunk:
                    self.close_connection = True
                    return
                remaining -= len(chunk)
            self._error(429, "collector busy; retry later", encoding, headers=self._retry_after())
            return
        try:
            answer = self._ingest(signal, encoding, length)
        finally:
            # The slot bounds memory for bodies being decoded; writing the
            # answer to a slow reader must not hold it.
            ingestor.release()
        if answer is None:
            self.close_connection = True  # the client went away mid-body
            return
        status, payload, headers = answer
        ctype = CONTENT_TYPE_JSON if encoding == "json" else CONTENT_TYPE_PROTOBUF
        self._reply(status, payload, ctype, headers=headers)

    def _ingest(
        self, signal: Signal, encoding: Encoding, length: int
    ) -> tuple[int, bytes, tuple[tuple[str, str], ...]] | None:
        """Read, decode and store one body; the (status, body, headers) to answer with."""
        ingestor = self.server.ingestor
        body = self.rfile.read(length)
        if len(body) != length:
            return None
        try:
            raw = decompress(
                body, self.headers.get("Content-Encoding"), ingestor.config.max_body_bytes
            )
            del body
            outcome = ingestor.ingest(signal, raw, encoding)
        except IngestError as exc:
            return exc.status, encode_status(exc.status, str(exc), encoding), ()
        except StoreError as exc:
            log.warning("store unavailable: %s", exc)
            message = "store unavailable; retry later"
            return 503, encode_status(503, message, encoding), self._retry_after()
        except Exception:
            log.exception("unexpected error ingesting %s", signal)
            return 500, encode_status(500, "internal error", encoding), ()
        response = encode_response(
            signal, encoding, rejected=outcome.rejected, error_message=outcome.message
        )
        return 200, response, ()


# -- OTLP/gRPC -----------------------------------------------------------------------


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


def _grpc_export(ingestor: Ingestor, signal: Signal) -> Any:
    def export(request: bytes, context: grpc.ServicerContext) -> bytes:
        metadata = dict(context.invocation_metadata())
        if not ingestor.authorized(metadata.get("authorization")):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
        if not ingestor.admit():
            _abort_with_retry(
                context,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "collector busy; retry later",
                ingestor.config.retry_after_s,
            )
        try:
            outcome = ingestor.ingest(signal, request, "protobuf")
        except IngestError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except StoreError as exc:
            log.warning("store unavailable: %s", exc)
            _abort_with_retry(
                context,
                grpc.StatusCode.UNAVAILABLE,
                "store unavailable; retry later",
                ingestor.config.retry_after_s,
            )
        finally:
            ingestor.release()
        return encode_response(
            signal, "protobuf", rejected=outcome.rejected, error_message=outcome.message
        )

    # No deserializer: the handler gets the raw bytes and decodes them with
    # the same code (and the same limits) as OTLP/HTTP.
    return grpc.unary_unary_rpc_method_handler(export)


def _start_grpc(config: CollectorConfig, ingestor: Ingestor) -> tuple[grpc.Server, int]:
    workers = config.max_inflight + 4
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambdaguard-grpc"),
        handlers=[
            grpc.method_handlers_generic_handler(
                _GRPC_SERVICES[signal], {"Export": _grpc_export(ingestor, signal)}
            )
            for signal in ("traces", "logs")
        ],
        options=[
            ("grpc.max_receive_message_length", config.max_body_bytes),
            ("grpc.max_send_message_length", 1024 * 1024),
        ],
        # Bounds the RPCs grpc queues for our workers: memory stays bounded.
        maximum_concurrent_rpcs=4 * workers,
    )
    assert config.grpc_port is not None
    address = f"{_bracket(config.bind)}:{config.grpc_port}"
    if config.tls_cert and config.tls_key:
        with open(config.tls_key, "rb") as k, open(config.tls_cert, "rb") as c:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
        port = server.add_secure_port(address, creds)
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise StoreError(f"cannot listen for OTLP/gRPC on {address}")
    server.start()
    return server, port


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _client_host(bind: str) -> str:
    if bind in ("0.0.0.0", ""):  # noqa: S104 - mapping a wildcard bind to a client address
        return "127.0.0.1"
    if bind == "::":
        return "[::1]"
    return _bracket(bind)


class CollectorHandle:
    """A running collector: its addresses, its store, and :meth:`stop`."""

    def __init__(
        self,
        *,
        config: CollectorConfig,
        ingestor: Ingestor,
        http_server: _HTTPServer,
        grpc_server: grpc.Server | None,
        grpc_port: int | None,
        pruner: threading.Thread,
        stopping: threading.Event,
        rollup: threading.Thread | None = None,
    ) -> None:
        self.config = config
        self._ingestor = ingestor
        self._http = http_server
        self._grpc = grpc_server
        self._pruner = pruner
        self._rollup = rollup
        self._stopping = stopping
        scheme = "https" if config.tls_cert else "http"
        host = _client_host(config.bind)
        self.http_url = f"{scheme}://{host}:{http_server.server_address[1]}"
        self.grpc_target = f"{host}:{grpc_port}" if grpc_port is not None else None
        self._thread = threading.Thread(
            target=http_server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="lambdaguard-http",
            daemon=True,
        )
        self._thread.start()

    @property
    def store(self) -> Store:
        """The store this collector writes to."""
        return self._ingestor.store

    def stats(self) -> dict[str, int]:
        """Counters since start."""
        return self._ingestor.stats()

    def wait(self) -> None:
        """Block until :meth:`stop` is called (from another thread or a signal handler)."""
        while not self._stopping.wait(0.5):
            pass

    def stop(self) -> None:
        """Stop listening, finish in-flight requests, flush forwarding and close the store."""
        self._stopping.set()
        if self._grpc is not None:
            self._grpc.stop(grace=2).wait(3)
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)
        if self._ingestor.forwarder is not None:
            self._ingestor.forwarder.close()
        self._pruner.join(2)
        stop_rollup(self._ingestor.store, self._rollup)
        self._ingestor.store.close()


def _pruner(store: Store, window_s: int, stopping: threading.Event) -> threading.Thread:
    def run() -> None:
        interval = max(1.0, min(3600.0, window_s / 4))
        while True:
            try:
                removed = store.prune_span_keys(window_s)
                if removed:
                    log.info("forgot %d span ids older than %d s", removed, window_s)
                # Metric series of environments gone for a week (none lives that long).
                store.prune_metric_series(max(window_s, _SERIES_WINDOW_S))
            except StoreError as exc:
                log.warning("span id pruning failed: %s", exc)
            if stopping.wait(interval):
                return

    thread = threading.Thread(target=run, name="lambdaguard-prune", daemon=True)
    thread.start()
    return thread


def start_collector(config: CollectorConfig, *, store: Store | None = None) -> CollectorHandle:
    """Open the store (migrating it), start the OTLP/HTTP and OTLP/gRPC listeners, return a handle."""
    if store is None:
        store = open_store(config.store_url, sqlite_synchronous=config.sqlite_synchronous)
    forwarder = (
        Forwarder(
            config.forward_url,
            headers=config.forward_headers,
            max_queue=config.forward_queue,
            timeout_s=config.forward_timeout_s,
        )
        if config.forward_url
        else None
    )
    ingestor = Ingestor(config, store, forwarder)
    ssl_context = None
    if config.tls_cert and config.tls_key:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(config.tls_cert, config.tls_key)
    http_server = _HTTPServer((config.bind, config.http_port), ingestor, ssl_context)
    grpc_server = grpc_port = None
    try:
        if config.grpc_port is not None:
            grpc_server, grpc_port = _start_grpc(config, ingestor)
    except BaseException:
        http_server.server_close()
        raise
    stopping = threading.Event()
    pruner = _pruner(store, config.span_window_s, stopping)
    rollup = start_rollup(store, config.counter_rollup_s, stopping)
    return CollectorHandle(
        config=config,
        ingestor=ingestor,
        http_server=http_server,
        grpc_server=grpc_server,
        grpc_port=grpc_port,
        pruner=pruner,
        stopping=stopping,
        rollup=rollup,
    )
