"""OTLP/HTTP on uvicorn (httptools parser, uvloop), with lambdaguard's own guard around it.

Why uvicorn. Measured on this project's 2-core machine (server pinned to one
core, 3 keep-alive clients posting 8 KB bodies, a handler that reads the body
and answers 200; CPU microseconds of the server per request):

============================  =========  ==========
candidate                     req/s      us/request
============================  =========  ==========
uvicorn + httptools + uvloop  8,700      51
granian (RSGI, Rust)          8,000      98 (its runtime threads included)
uvicorn + starlette           6,000      92
uvicorn, asyncio loop         6,200      100
aiohttp (web.Application)     6,100      126
hypercorn                     3,000      248
============================  =========  ==========

uvicorn with a bare ASGI app is the cheapest per request, embeds in-process
(the tests and ``lambdaguard serve`` both start it from
:func:`~lambdaguard.collector.server.start_collector`), parses chunked
bodies and keeps connections alive; granian was close but runs its own
worker processes and runtime threads, which makes it hard to embed and to
give one core. What none of them has is a *whole-request* deadline (uvicorn
and aiohttp have none for headers at all; hypercorn's and granian's restart on
every read), per-client connection limits or a bound on bytes being received
across connections. So uvicorn's protocol is wrapped (:class:`_Guard`):

- a connection may carry at most ``max_connections`` in all and
  ``max_connections_per_client`` from one address; beyond, a 503 with
  ``Retry-After`` is written and the socket closed before any parsing;
- from a connection's opening (or a request's first byte on a kept-alive
  one) headers and body must arrive within ``request_timeout_s``, whatever is
  sent meanwhile; past it the answer is 408 and the connection is closed;
- the request line and headers may take ``max_header_bytes`` (431 beyond);
- bodies being received across all connections may hold
  ``max_buffered_bytes`` (503 beyond): slow senders cost a connection and the
  bytes they actually sent, never an ingest slot;
- an idle keep-alive connection is closed after ``idle_timeout_s``.

The ASGI app then reads the whole body (Content-Length or chunked, at most
``max_body_bytes``), takes an ingest slot, decodes (inline on the event loop
for bodies up to 64 KiB, in a worker thread above), releases the slot and
awaits the group commit. ``/healthz``, ``/readyz`` and ``/metrics`` (Prometheus
text) need no token. ``/ui`` and ``/api`` go to the live view
(:mod:`lambdaguard.views.live`), which has its own authentication and never
takes an ingest slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final
from urllib.parse import unquote

from lambdaguard.collector.otlp import (
    CONTENT_TYPE_JSON,
    CONTENT_TYPE_PROTOBUF,
    Encoding,
    Signal,
    encode_response,
    encode_status,
    negotiate,
)
from lambdaguard.collector.settings import CollectorConfig
from lambdaguard.collector.telemetry import METRICS_CONTENT_TYPE, get_logger
from lambdaguard.errors import IngestError, StoreError, StoreRejected

__all__ = ["HttpReceiver"]

log = get_logger("lambdaguard.collector.http")

_PATHS: Final[dict[str, Signal]] = {
    "/v1/traces": "traces",
    "/v1/logs": "logs",
    "/v1/metrics": "metrics",
}
# Bodies up to this size are decoded on the event loop (cheaper than a thread
# hand-off, and short: ~0.2 ms for an agent request); larger ones in a thread
# so the loop keeps accepting, reading and enforcing deadlines meanwhile.
_INLINE_DECODE: Final = 64 * 1024

# A connection reads headers, then (headers seen) its body, handled by the app; idle between.
_READING, _HEADERS_DONE, _IN_APP, _IDLE = range(4)


class _Guard(asyncio.Protocol):
    """Wraps uvicorn's HTTP protocol: connection limits, request deadline, header bytes."""

    __slots__ = (
        "_deadline_handle",
        "_inner",
        "_receiver",
        "_transport",
        "client",
        "deadline",
        "header_bytes",
        "key",
        "pending",
        "state",
        "tail",
    )

    def __init__(self, receiver: HttpReceiver) -> None:
        self._receiver = receiver
        self._inner: Any = None
        self._transport: Any = None
        self._deadline_handle: asyncio.TimerHandle | None = None
        self.client = ""
        self.key: tuple[str, int] | None = None
        self.state = _READING
        self.header_bytes = 0
        self.deadline = 0.0
        self.pending = False
        self.tail = b""

    # -- asyncio.Protocol ----------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        receiver = self._receiver
        peer = transport.get_extra_info("peername")
        self.client = str(peer[0]) if peer else "?"
        refusal = receiver.open_connection(self.client)
        if refusal:
            receiver.metrics.throttled.labels(refusal).inc()
            receiver.ingestor.count(throttled=1)
            transport.write(
                b"HTTP/1.1 503 Service Unavailable\r\n"
                + f"Retry-After: {receiver.config.retry_after_s}\r\n".encode()
                + b"Content-Length: 0\r\nConnection: close\r\n\r\n"
            )
            transport.close()
            return
        self.key = (self.client, int(peer[1]) if peer else 0)
        receiver.guards[self.key] = self
        self._start_deadline()
        self._inner = receiver.make_protocol()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        inner = self._inner
        if inner is None:
            return
        if self.state == _IDLE:
            self.state = _READING
            self.header_bytes = 0
            self.tail = b""
            self._start_deadline()
        if self.state == _READING:
            # Count only the request line and headers (up to the blank line).
            seen = self.tail + data
            end = seen.find(b"\r\n\r\n")
            if end >= 0:
                self.header_bytes += end + 4 - len(self.tail)
                self.state = _HEADERS_DONE
            else:
                self.header_bytes += len(data)
                self.tail = seen[-3:]
            if self.header_bytes > self._receiver.config.max_header_bytes:
                self._refuse(431, "Request Header Fields Too Large")
                return
        elif self.state == _IN_APP and self._deadline_handle is None:
            self.pending = True  # a pipelined request starts; timed once this one is answered
        inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self._inner is not None:
            return bool(self._inner.eof_received())
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        if self.key is not None:
            self._receiver.guards.pop(self.key, None)
            self._receiver.close_connection(self.client)
            self.key = None
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    # -- called by the app ------------------------------------------------------------
    def request_started(self) -> None:
        """Headers are parsed: the app now reads the body (under the same deadline)."""
        self.state = _IN_APP

    def body_received(self) -> None:
        """The whole body is here: the deadline no longer applies to this request."""
        self._cancel_deadline()

    def response_sent(self) -> None:
        """Answered: the next bytes on this connection start a new deadline."""
        self.state = _IDLE
        if self.pending:
            self.pending = False
            self.state = _READING
            self.header_bytes = 0
            self.tail = b""
            self._start_deadline()

    # -- the deadline -------------------------------------------------------------------
    def _start_deadline(self) -> None:
        self._cancel_deadline()
        loop = self._receiver.loop
        self.deadline = loop.time() + self._receiver.config.request_timeout_s
        self._deadline_handle = loop.call_at(self.deadline, self._expired)

    def _cancel_deadline(self) -> None:
        if self._deadline_handle is not None:
            self._deadline_handle.cancel()
            self._deadline_handle = None

    def _expired(self) -> None:
        self._deadline_handle = None
        if self.state in (_IN_APP, _HEADERS_DONE, _IDLE):
            return  # the app's own timeout (the same instant) answers 408
        self._receiver.metrics.timeouts.inc()
        self._receiver.ingestor.count(timeouts=1)
        log.info("request_timeout", client=self.client, phase="headers")
        self._refuse(408, "Request Timeout")

    def _refuse(self, status: int, reason: str) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        with contextlib.suppress(OSError, RuntimeError):
            transport.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
        transport.close()


class HttpReceiver:
    """uvicorn serving the OTLP/HTTP app on an already bound socket, in its own thread."""

    def __init__(
        self,
        config: CollectorConfig,
        ingestor: Any,
        sock: socket.socket,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        import uvicorn
        from uvicorn.server import ServerState

        self.config = config
        self.ingestor = ingestor
        self.metrics = ingestor.metrics
        self.port = int(sock.getsockname()[1])
        self.guards: dict[tuple[str, int], _Guard] = {}
        self._per_client: dict[str, int] = {}
        self._total = 0
        self.buffered = 0
        self._sock = sock
        self._ssl = ssl_context
        self._pool = ThreadPoolExecutor(
            max_workers=config.max_inflight, thread_name_prefix="lambdaguard-decode"
        )
        # /ui and /api (lambdaguard.views.live): the live view, in the same listener but
        # outside the ingest path: no ingest slot, its analysis in a process of its own.
        from lambdaguard.views.live import LiveView

        self.live = LiveView(config, ingestor.store, tls=ssl_context is not None)
        app = _OtlpApp(self)
        self._uv_config = uvicorn.Config(
            app,
            http="httptools",
            loop="none",
            lifespan="off",
            ws="none",
            interface="asgi3",
            proxy_headers=False,
            server_header=False,
            date_header=False,
            access_log=False,
            log_config=None,
            timeout_keep_alive=int(max(1, config.idle_timeout_s)),
            h11_max_incomplete_event_size=config.max_header_bytes,
        )
        self._uv_config.load()
        self._state = ServerState()
        self.loop = _new_loop()
        self._server: asyncio.AbstractServer | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="lambdaguard-http", daemon=True)
        self._thread.start()
        self._started.wait(30)
        if self._error is not None:
            raise self._error

    def make_protocol(self) -> Any:
        """A fresh uvicorn HTTP protocol for one connection."""
        return self._uv_config.http_protocol_class(  # type: ignore[call-arg]
            config=self._uv_config, server_state=self._state, app_state={}, _loop=self.loop
        )

    # -- connection accounting (event loop thread only) -------------------------------
    def open_connection(self, client: str) -> str:
        """Count a new connection; a non-empty reason means refuse it."""
        if self._total >= self.config.max_connections:
            return "max_connections"
        if self._per_client.get(client, 0) >= self.config.max_connections_per_client:
            return "max_connections_per_client"
        self._total += 1
        self._per_client[client] = self._per_client.get(client, 0) + 1
        self.metrics.connections.set(self._total)
        return ""

    def close_connection(self, client: str) -> None:
        """Forget a connection counted by :meth:`open_connection`."""
        self._total -= 1
        left = self._per_client.get(client, 1) - 1
        if left:
            self._per_client[client] = left
        else:
            self._per_client.pop(client, None)
        self.metrics.connections.set(self._total)

    def reserve(self, n: int) -> bool:
        """Account ``n`` more body bytes being received; False when over max_buffered_bytes."""
        if self.buffered + n > self.config.max_buffered_bytes:
            return False
        self.buffered += n
        return True

    def unreserve(self, n: int) -> None:
        """Give back body bytes accounted by :meth:`reserve`."""
        self.buffered -= n
        self.metrics.buffered.set(self.buffered)

    async def decode(self, fn: Any, *args: Any) -> Any:
        """Run a decode step in the decode pool (used for large bodies)."""
        return await self.loop.run_in_executor(self._pool, fn, *args)

    # -- lifecycle ---------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self._server = self.loop.run_until_complete(
                self.loop.create_server(
                    lambda: _Guard(self),
                    sock=self._sock,
                    ssl=self._ssl,
                    backlog=1024,
                    # A TLS handshake gets the same deadline as a request.
                    ssl_handshake_timeout=self.config.request_timeout_s if self._ssl else None,
                )
            )
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._error = exc
            self._started.set()
            return
        self._started.set()
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting, let requests in flight finish (up to ``grace_s``), close connections."""
        if self.loop.is_closed():
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for connection in list(self._state.connections):
                connection.shutdown()
            deadline = self.loop.time() + grace_s
            while self._state.tasks and self.loop.time() < deadline:
                await asyncio.sleep(0.02)
            for task in list(self._state.tasks):
                task.cancel()
            for guard in list(self.guards.values()):
                if guard._transport is not None:
                    guard._transport.close()
            await asyncio.sleep(0)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(grace_s + 5)
        except Exception as exc:  # noqa: BLE001 - stopping must go on
            log.warning("http_stop_incomplete", error=str(exc))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.live.close()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class _Answer(Exception):
    """Stop handling a request and send this status (and close when asked)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        close: bool = False,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.close = close
        self.headers = headers


class _OtlpApp:
    """The ASGI application: OTLP export endpoints, health, readiness and metrics."""

    def __init__(self, receiver: HttpReceiver) -> None:
        self.r = receiver
        self.ingestor = receiver.ingestor
        self.config = receiver.config
        self._retry = ((b"retry-after", str(receiver.config.retry_after_s).encode()),)
        self._answered: dict[tuple[str, int], Any] = {}  # (signal, status) -> counter

    def _count(self, signal: str, status: int) -> None:
        counter = self._answered.get((signal, status))
        if counter is None:
            counter = self._answered[signal, status] = self.r.metrics.requests.labels(
                "http", signal, str(status)
            )
        counter.inc()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        client = scope.get("client") or ("?", 0)
        guard = self.r.guards.get((str(client[0]), int(client[1])))
        if guard is not None:
            guard.request_started()
        try:
            await self._handle(scope, receive, send, guard)
        finally:
            if guard is not None:
                guard.response_sent()

    async def _handle(self, scope: dict[str, Any], receive: Any, send: Any, guard: Any) -> None:
        method = scope["method"]
        path = unquote(scope["path"])
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers[name] = value  # bytes, already lower-case names
        if self.r.live.handles(path):

            async def read_body(limit: int) -> bytes | None:
                try:
                    return await self._body(receive, headers, guard, limit=limit)
                except _Answer as answer:
                    raise self.r.live.refusal(answer.status, str(answer)) from None

            await self.r.live(scope, path, headers, read_body, send)
            return
        if method in {"GET", "HEAD"}:
            await self._get(path, send)
            return
        ctype = headers.get(b"content-type", b"").decode("latin-1")
        media = ctype.split(";", 1)[0].strip().lower()
        reply: Encoding = "json" if media == CONTENT_TYPE_JSON else "protobuf"
        signal = _PATHS.get(path)
        if method != "POST":
            await self._status(send, 405, "OTLP/HTTP accepts POST only", reply, close=True)
            return
        metrics = self.r.metrics
        label = signal or "unknown"
        if not self.ingestor.authorized(_text(headers.get(b"authorization"))):
            metrics.requests.labels("http", label, "401").inc()
            await self._status(
                send,
                401,
                "missing or invalid bearer token",
                reply,
                close=True,
                headers=((b"www-authenticate", b'Bearer realm="lambdaguard"'),),
            )
            return
        if signal is None:
            metrics.requests.labels("http", label, "404").inc()
            await self._status(
                send,
                404,
                f"no such path {path!r}: use /v1/traces, /v1/metrics or /v1/logs",
                reply,
                close=True,
            )
            return
        try:
            encoding = negotiate(ctype or None)
            body = await self._body(receive, headers, guard)
        except IngestError as exc:
            metrics.requests.labels("http", signal, str(exc.status)).inc()
            self.ingestor.count(bad_requests=1)
            await self._status(send, exc.status, str(exc), reply, close=True)
            return
        except _Answer as answer:
            metrics.requests.labels("http", signal, str(answer.status)).inc()
            await self._status(
                send, answer.status, str(answer), reply, close=answer.close, headers=answer.headers
            )
            return
        if body is None:
            return  # the client went away; nothing to answer
        status, payload, extra = await self._ingest(signal, encoding, body, headers)
        self._count(signal, status)
        ctype_out = CONTENT_TYPE_JSON if encoding == "json" else CONTENT_TYPE_PROTOBUF
        await _send(send, status, payload, ctype_out, extra)

    async def _get(self, path: str, send: Any) -> None:
        if path == "/healthz":
            await _send(send, 200, b'{"status":"ok"}', CONTENT_TYPE_JSON)
        elif path == "/readyz":
            ok, why = await self.r.loop.run_in_executor(None, self.ingestor.ready)
            body = '{"status":"ok"}' if ok else f'{{"status":"unavailable","reason":{_json(why)}}}'
            await _send(send, 200 if ok else 503, body.encode(), CONTENT_TYPE_JSON)
        elif path == "/metrics":
            await _send(send, 200, self.r.metrics.render(), METRICS_CONTENT_TYPE)
        else:
            await self._status(send, 404, f"no such path {path!r}", "json")

    async def _body(
        self, receive: Any, headers: dict[bytes, bytes], guard: Any, *, limit: int | None = None
    ) -> bytes | None:
        """The whole body within the request deadline, the size limit and the buffer budget."""
        limit = limit or self.config.max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                raise _Answer(400, "Content-Length is not a number", close=True) from None
            if length > limit:
                raise _Answer(
                    413,
                    f"body of {length} bytes exceeds the limit of {limit} bytes (max_body_bytes)",
                    close=True,
                )
        loop = self.r.loop
        deadline = (
            guard.deadline if guard is not None else loop.time() + self.config.request_timeout_s
        )
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout_at(deadline):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk = message.get("body", b"")
                    if chunk:
                        if size + len(chunk) > limit:
                            raise _Answer(
                                413,
                                f"body exceeds the limit of {limit} bytes (max_body_bytes)",
                                close=True,
                            )
                        if not self.r.reserve(len(chunk)):
                            self.r.metrics.throttled.labels("max_buffered_bytes").inc()
                            raise _Answer(
                                503,
                                "collector is receiving too many bodies at once; retry later",
                                close=True,
                                headers=self._retry,
                            )
                        size += len(chunk)
                        chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            self.r.metrics.timeouts.inc()
            self.ingestor.count(timeouts=1)
            log.info("request_timeout", phase="body", received=size)
            raise _Answer(
                408,
                f"the request did not arrive within {self.config.request_timeout_s:g} s "
                "(request_timeout_s)",
                close=True,
            ) from None
        finally:
            self.r.unreserve(size)
        if guard is not None:
            guard.body_received()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _ingest(
        self, signal: Signal, encoding: Encoding, body: bytes, headers: dict[bytes, bytes]
    ) -> tuple[int, bytes, tuple[tuple[bytes, bytes], ...]]:
        ingestor = self.ingestor
        if not ingestor.admit():
            return 429, encode_status(429, "collector busy; retry later", encoding), self._retry
        content_encoding = _text(headers.get(b"content-encoding"))
        try:
            if len(body) <= _INLINE_DECODE:
                prepared = ingestor.prepare(signal, body, encoding, content_encoding)
            else:
                prepared = await self.r.decode(
                    ingestor.prepare, signal, body, encoding, content_encoding
                )
        except IngestError as exc:
            return exc.status, encode_status(exc.status, str(exc), encoding), ()
        except Exception:
            log.exception("ingest_failed", signal=signal)
            return 500, encode_status(500, "internal error", encoding), ()
        finally:
            ingestor.release()
        del body
        try:
            async with asyncio.timeout(max(self.config.request_timeout_s, 30.0)):
                result = await ingestor.commit_async(prepared, self.r.loop)
        except StoreRejected as exc:
            ingestor.count(bad_requests=1)
            log.warning("store_refused_request", error=str(exc))
            return (
                400,
                encode_status(400, f"a value in the request cannot be stored: {exc}", encoding),
                (),
            )
        except (StoreError, TimeoutError) as exc:
            ingestor.count(store_errors=1)
            log.warning("store_unavailable", error=str(exc) or "commit timed out")
            return (
                503,
                encode_status(503, "store unavailable; retry later", encoding),
                self._retry,
            )
        outcome = ingestor.finish(prepared, result)
        response = encode_response(
            signal, encoding, rejected=outcome.rejected, error_message=outcome.message
        )
        return 200, response, ()

    async def _status(
        self,
        send: Any,
        status: int,
        message: str,
        encoding: Encoding,
        *,
        close: bool = False,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        ctype = CONTENT_TYPE_JSON if encoding == "json" else CONTENT_TYPE_PROTOBUF
        extra = (*headers, (b"connection", b"close")) if close else headers
        await _send(send, status, encode_status(status, message, encoding), ctype, extra)


async def _send(
    send: Any,
    status: int,
    body: bytes,
    content_type: str,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _json(text: str) -> str:
    import json

    return json.dumps(text)
