"""Fixtures for the agent: a loopback OTLP sink, moto in server mode, a Lambda context,
loopback HTTP/HTTPS servers and a closed port for the network tests."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lambdaguard import instrument, semconv
from lambdaguard.agent import _agent, flush

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

    def traces(self) -> list[bytes]:
        """The bodies POSTed to the traces path."""
        return [b for b, p in zip(self.bodies, self.paths, strict=False) if p.endswith("/traces")]

    def metrics(self) -> list[Any]:
        """Every ExportMetricsServiceRequest received, decoded with the official classes."""
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
            ExportMetricsServiceRequest,
        )

        out = []
        for body, path in zip(self.bodies, self.paths, strict=False):
            if path.endswith("/metrics"):
                request = ExportMetricsServiceRequest()
                request.ParseFromString(body)
                out.append(request)
        return out

    def spans(self) -> list[Any]:
        """Every span received, decoded with the official opentelemetry-proto classes."""
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        out = []
        for body in self.traces():
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
        for body in self.traces():
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
            state.paths.append(self.path)
            state.bodies.append(body)
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
    """Turn the agent on, exporting to the sink (extra variables as keyword arguments).

    Trace mode ``all`` unless a test says otherwise: most tests here check what
    an invocation's spans hold, so every invocation must be exported; the
    evidence-mode tests pass ``LAMBDAGUARD_TRACES="off"``.
    """

    def _enable(**env: str) -> None:
        monkeypatch.setenv("LAMBDAGUARD_ENABLED", "true")
        monkeypatch.setenv("LAMBDAGUARD_ENDPOINT", sink.url)
        monkeypatch.setenv("LAMBDAGUARD_LOG", "true")
        monkeypatch.setenv("LAMBDAGUARD_TRACES", "all")
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    return _enable


# -- loopback servers for the network tests -------------------------------------------


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        return


def _serve(server: http.server.HTTPServer) -> None:
    server.daemon_threads = True  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    """A plaintext HTTP server on 127.0.0.1."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    _serve(server)
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate for localhost and 127.0.0.1, made here with cryptography."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder


@pytest.fixture(scope="module")
def https_port(cert: Path) -> Iterator[int]:
    """An HTTPS server on 127.0.0.1 with the self-signed certificate."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert / "cert.pem", cert / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    _serve(server)
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hosts(sink: Sink) -> dict[tuple[str, int, bool], dict[str, Any]]:
    """Connection events of the invocation span, keyed by (host, port, tls)."""
    out = {}
    for span in sink.spans():
        if span.name != "orders":
            continue
        for event in span.events:
            if event.name == semconv.CONNECTION_EVENT:
                attrs = attributes(event.attributes)
                key = (
                    attrs[semconv.SERVER_ADDRESS],
                    attrs[semconv.SERVER_PORT],
                    attrs[semconv.NET_TLS],
                )
                out[key] = attrs
    return out


def run(handler: Callable[[Any, Any], Any]) -> Any:
    """Invoke ``handler`` once through @instrument and wait for its export."""
    result = instrument(handler)({}, Context())
    assert flush(5000)
    return result


def localhost_v4_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # The servers listen on 127.0.0.1 only: resolve "localhost" to IPv4 so no
    # client first tries ::1 (that attempt would be recorded as a failure).
    original = socket.getaddrinfo

    def v4(host: Any, port: Any, family: int = 0, *args: Any, **kwargs: Any) -> Any:
        if host == "localhost":
            family = socket.AF_INET
        return original(host, port, family, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", v4)
