"""A loopback Lambda Runtime + Extensions API and an OTLP/HTTP sink, both timestamping.

The benchmark drives every variant through AWS's own runtime client
(``awslambdaric``) exactly as Lambda does, so the figures are what Lambda
reports: INIT ends when the runtime *and every registered extension* have
called ``next`` (Extensions API: "the Init phase completes after the runtime
and each registered extension indicate completion by sending a Next API
request"); an invocation's response latency is the time from handing the
event to the runtime until its ``POST …/response`` arrives (what the caller
waits for); the invocation ends when the runtime and every extension have
called ``next`` again (what is billed).

Times are ``time.perf_counter_ns()`` of *this* (the benchmark's) process, so
they compare across variants and with the sink's request times.

Only the parts of the APIs that a Python function and an internal extension
use are served: ``/2018-06-01/runtime/...``, ``/2020-01-01/extension/...``
and the Telemetry/Logs subscriptions (answered OK, nothing is sent).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RUNTIME = "/2018-06-01/runtime"
EXTENSION = "/2020-01-01/extension"
FUNCTION_NAME = "bench-fn"
REGION = "us-east-1"
ACCOUNT = "123456789012"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION_NAME}"


class RuntimeApiError(RuntimeError):
    """The function under test failed to start or to answer in time."""


@dataclass(slots=True)
class Invocation:
    """One invocation's timeline (perf_counter_ns of the benchmark process)."""

    request_id: str
    body: bytes
    deadline_ms: int
    delivered_ns: int = 0  # the event was handed to the runtime
    response_ns: int = 0  # POST .../response (or .../error) arrived
    done_ns: int = 0  # runtime and every extension called next again
    error: bool = False
    response: bytes = b""


@dataclass(slots=True)
class _State:
    runtime_waiting: bool = False
    extensions: dict[str, str] = field(default_factory=dict)  # id -> name
    ext_waiting: set[str] = field(default_factory=set)
    ext_queues: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pending: Invocation | None = None  # queued for the runtime
    current: Invocation | None = None  # delivered, not done
    init_done_ns: int = 0
    init_error: bytes | None = None


class RuntimeApi:
    """A one-function Lambda Runtime + Extensions API on 127.0.0.1 (ephemeral port)."""

    def __init__(self, handler_name: str = "") -> None:
        self.handler_name = handler_name
        self._cond = threading.Condition()
        self._state = _State()
        self._closed = False
        # Set by whoever starts the function process, so a crashed process
        # ends a wait at once instead of at its timeout.
        self.alive: Callable[[], bool] = lambda: True
        api = self

        class Handler(_ApiHandler):
            owner = api

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> str:
        """``host:port``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        return f"127.0.0.1:{self._server.server_port}"

    @property
    def extension_names(self) -> list[str]:
        """Names of the extensions that registered."""
        with self._cond:
            return sorted(self._state.extensions.values())

    def close(self) -> None:
        """Stop serving; blocked long-polls are released."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    # -- driving ---------------------------------------------------------------
    def _idle(self) -> bool:
        s = self._state
        # An extension counts as back in `next` only once it has taken its event.
        return (
            s.runtime_waiting
            and s.ext_waiting >= set(s.extensions)
            and not any(s.ext_queues.values())
        )

    def _mark_if_idle(self) -> None:
        # Called with the lock held whenever someone starts waiting in `next`.
        s = self._state
        if not self._idle():
            return
        now = time.perf_counter_ns()
        if not s.init_done_ns:
            s.init_done_ns = now
        if s.current is not None and s.current.response_ns and not s.current.done_ns:
            s.current.done_ns = now
            s.current = None
        self._cond.notify_all()

    def _wait(self, predicate: Callable[[], object], timeout: float) -> bool:
        # Called with the lock held; wakes every 50 ms to notice a dead process.
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0 or not self.alive():
                return bool(predicate())
            self._cond.wait(min(left, 0.05))
        return True

    def wait_init(self, timeout: float) -> int:
        """Wait until INIT is complete; returns its end time (ns)."""
        with self._cond:
            ok = self._wait(
                lambda: self._state.init_done_ns or self._state.init_error is not None, timeout
            )
            if self._state.init_error is not None:
                raise RuntimeApiError(f"init error: {self._state.init_error[:500]!r}")
            if not ok and not self.alive():
                raise RuntimeApiError("the function process exited during INIT")
            if not ok:
                raise RuntimeApiError(f"INIT did not finish within {timeout} s")
            return self._state.init_done_ns

    def invoke(self, event: dict[str, Any], timeout: float = 30.0) -> Invocation:
        """Run one invocation to its end (runtime and extensions back in ``next``)."""
        deadline_ms = int(time.time() * 1000) + int(timeout * 1000)
        inv = Invocation(str(uuid.uuid4()), json.dumps(event).encode(), deadline_ms)
        with self._cond:
            if not self._wait(lambda: self._idle() and self._state.current is None, timeout):
                raise RuntimeApiError("the function is not idle")
            self._state.pending = inv
            self._state.current = inv
            for queue in self._state.ext_queues.values():
                queue.append(
                    {
                        "eventType": "INVOKE",
                        "deadlineMs": deadline_ms,
                        "requestId": inv.request_id,
                        "invokedFunctionArn": FUNCTION_ARN,
                        "tracing": {"type": "X-Amzn-Trace-Id", "value": _trace_header()},
                    }
                )
            self._cond.notify_all()
            if not self._wait(lambda: inv.done_ns != 0 or self._closed, timeout):
                state = "exited" if not self.alive() else f"did not finish in {timeout} s"
                raise RuntimeApiError(f"invocation {inv.request_id}: the function {state}")
        return inv

    # -- request handling (server threads) -----------------------------------------
    def _runtime_next(self, h: _ApiHandler) -> None:
        with self._cond:
            self._state.runtime_waiting = True
            self._mark_if_idle()
            self._cond.wait_for(lambda: self._state.pending is not None or self._closed)
            if self._closed:
                return
            inv = self._state.pending
            assert inv is not None
            self._state.pending = None
            self._state.runtime_waiting = False
            inv.delivered_ns = time.perf_counter_ns()
        h.reply(
            200,
            inv.body,
            {
                "Content-Type": "application/json",  # awslambdaric may hang without it
                "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                "Lambda-Runtime-Trace-Id": _trace_header(),
            },
        )

    def _runtime_result(self, h: _ApiHandler, request_id: str, error: bool, body: bytes) -> None:
        now = time.perf_counter_ns()
        with self._cond:
            inv = self._state.current
            if inv is None or inv.request_id != request_id:
                h.reply(400, b'{"errorMessage":"unknown request id"}')
                return
            inv.response_ns = now
            inv.error = error
            inv.response = body
            self._cond.notify_all()
        h.reply(202, b'{"status":"OK"}')

    def _init_error(self, h: _ApiHandler, body: bytes) -> None:
        with self._cond:
            self._state.init_error = body or b"(empty)"
            self._cond.notify_all()
        h.reply(202, b'{"status":"OK"}')

    def _register(self, h: _ApiHandler, name: str) -> None:
        ext_id = str(uuid.uuid4())
        with self._cond:
            self._state.extensions[ext_id] = name
            self._state.ext_queues[ext_id] = []
        body = {"functionName": FUNCTION_NAME, "functionVersion": "$LATEST"}
        body["handler"] = self.handler_name
        h.reply(200, json.dumps(body).encode(), {"Lambda-Extension-Identifier": ext_id})

    def _extension_next(self, h: _ApiHandler, ext_id: str) -> None:
        with self._cond:
            if ext_id not in self._state.extensions:
                h.reply(403, b'{"errorMessage":"unknown extension"}')
                return
            queue = self._state.ext_queues[ext_id]
            self._state.ext_waiting.add(ext_id)
            self._mark_if_idle()
            self._cond.wait_for(lambda: bool(queue) or self._closed)
            if self._closed:
                return
            event = queue.pop(0)
            self._state.ext_waiting.discard(ext_id)
        h.reply(200, json.dumps(event).encode(), {"Content-Type": "application/json"})


def _trace_header() -> str:
    # X-Ray trace id: "1-" + 8 hex digits of epoch seconds + "-" + 24 hex digits.
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=1"


class _ApiHandler(BaseHTTPRequestHandler):
    owner: RuntimeApi
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the second
    # waits for the peer's delayed ACK (~40 ms on Linux) and swamps every figure.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == f"{RUNTIME}/invocation/next":
            self.owner._runtime_next(self)
        elif path == f"{EXTENSION}/event/next":
            self.owner._extension_next(self, self.headers.get("Lambda-Extension-Identifier", ""))
        else:
            self.reply(404, b'{"errorMessage":"not served by the bench stand-in"}')

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        body = self._body()
        parts = path.split("/")
        if path.startswith(f"{RUNTIME}/invocation/") and len(parts) == 6:
            # /2018-06-01/runtime/invocation/{id}/response|error
            self.owner._runtime_result(self, parts[4], parts[5] == "error", body)
        elif path == f"{RUNTIME}/init/error":
            self.owner._init_error(self, body)
        elif path == f"{EXTENSION}/register":
            self.owner._register(self, self.headers.get("Lambda-Extension-Name", "?"))
        elif path.startswith(EXTENSION) and path.endswith("/error"):
            self.reply(202, b'{"status":"OK"}')
        else:
            self.reply(404, b'{"errorMessage":"not served by the bench stand-in"}')

    def do_PUT(self) -> None:
        self._body()
        # Telemetry API (2022-07-01) and Logs API (2020-08-15) subscriptions.
        if self.path.endswith("/telemetry") or self.path.endswith("/logs"):
            self.reply(200, b"OK")
        else:
            self.reply(404, b'{"errorMessage":"not served by the bench stand-in"}')


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
            disable_nagle_algorithm = True  # see _ApiHandler

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
