"""Fixtures for the agent: a loopback OTLP sink, moto in server mode, a Lambda context."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from lambdaguard.agent import _agent

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders"


@pytest.fixture(autouse=True)
def _clean_agent(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts with no agent installed and no lambdaguard/Lambda variables set."""
    import os

    for name in list(os.environ):
        if name.startswith(("LAMBDAGUARD_", "OTEL_", "AWS_LAMBDA_", "_X_AMZN", "_HANDLER")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    _agent.reset()
    yield
    _agent.reset()


@dataclass
class Sink:
    """A loopback OTLP/HTTP receiver that keeps every request body it gets."""

    url: str
    bodies: list[bytes] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    status: int = 200
    delay_s: float = 0.0
    received: threading.Event = field(default_factory=threading.Event)

    def spans(self) -> list[Any]:
        """Every span received, decoded with the official opentelemetry-proto classes."""
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        out = []
        for body in self.bodies:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    out.extend(ss.spans)
        return out

    def resources(self) -> list[dict[str, Any]]:
        """The resource attributes of every request."""
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        out = []
        for body in self.bodies:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for rs in request.resource_spans:
                out.append(attributes(rs.resource.attributes))
        return out


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


def attributes(kvs: Any) -> dict[str, Any]:
    """OTLP KeyValue list → plain dict."""
    return {kv.key: _value(kv.value) for kv in kvs}


@pytest.fixture
def sink() -> Iterator[Sink]:
    """An OTLP/HTTP receiver on 127.0.0.1 (status and delay adjustable per test)."""
    state = Sink(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if state.delay_s:
                time.sleep(state.delay_s)
            state.bodies.append(body)
            state.paths.append(self.path)
            state.headers.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            state.received.set()

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto in server mode on loopback: AWS's real wire protocol, no internet."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


class Context:
    """The LambdaContext attributes a handler (and the agent) reads."""

    def __init__(
        self, request_id: str = "req-1", arn: str = FUNCTION_ARN, timeout_ms: int = 3000
    ) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = arn
        self.function_name = arn.split(":")[6]
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = "128"
        self.log_group_name = "/aws/lambda/orders"
        self.log_stream_name = "2026/11/29/[$LATEST]abc"
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


@pytest.fixture
def enable(monkeypatch: pytest.MonkeyPatch, sink: Sink) -> Callable[..., None]:
    """Turn the agent on, exporting to the sink (extra variables as keyword arguments)."""

    def _enable(**env: str) -> None:
        monkeypatch.setenv("LAMBDAGUARD_ENABLED", "true")
        monkeypatch.setenv("LAMBDAGUARD_ENDPOINT", sink.url)
        monkeypatch.setenv("LAMBDAGUARD_LOG", "true")
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    return _enable
