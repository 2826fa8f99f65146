"""Outbound connections recorded from real clients against loopback HTTP and HTTPS servers."""

from __future__ import annotations

import datetime
import http.client
import http.server
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdaguard import instrument, semconv
from lambdaguard.agent import flush, network

from .conftest import Context, Sink, attributes


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
    result = instrument(handler)({}, Context())
    assert flush(5000)
    return result


def _localhost_v4_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # The servers listen on 127.0.0.1 only: resolve "localhost" to IPv4 so no
    # client first tries ::1 (that attempt would be recorded as a failure).
    original = socket.getaddrinfo

    def v4(host: Any, port: Any, family: int = 0, *args: Any, **kwargs: Any) -> Any:
        if host == "localhost":
            family = socket.AF_INET
        return original(host, port, family, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", v4)


def test_http_clients_record_host_as_asked_port_and_tls(  # noqa: PLR0917 - fixtures
    enable: Callable[..., None],
    sink: Sink,
    http_port: int,
    https_port: int,
    cert: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """http.client, urllib3, requests and httpx connections carry the host name asked, port and TLS."""
    import httpx
    import requests
    import urllib3

    _localhost_v4_only(monkeypatch)
    enable()
    ca = str(cert / "cert.pem")

    def handler(event: Any, context: Any) -> None:
        conn = http.client.HTTPConnection("localhost", http_port, timeout=5)
        conn.request("GET", "/?token=query-canary")
        conn.getresponse().read()
        conn.close()
        context_ = ssl.create_default_context(cafile=ca)
        tls = http.client.HTTPSConnection("localhost", https_port, timeout=5, context=context_)
        tls.request("GET", "/")
        tls.getresponse().read()
        tls.close()
        pool = urllib3.PoolManager(ca_certs=ca)
        assert pool.request("GET", f"https://localhost:{https_port}/").status == 200
        assert requests.get(f"http://127.0.0.1:{http_port}/", timeout=5).status_code == 200
        assert httpx.get(f"https://localhost:{https_port}/", verify=context_).status_code == 200

    run(handler)
    found = hosts(sink)
    assert found[("localhost", http_port, False)][semconv.NET_COUNT] == 1
    assert found[("localhost", https_port, True)][semconv.NET_COUNT] == 3
    assert found[("127.0.0.1", http_port, False)][semconv.NET_COUNT] == 1
    assert all(attrs[semconv.NET_FAILURES] == 0 for attrs in found.values())
    assert all(attrs[semconv.NET_AWS] is False for attrs in found.values())
    assert ("127.0.0.1", https_port, False) not in found
    for body in sink.bodies:
        assert b"query-canary" not in body


def test_raw_sockets_and_refused_connections(
    enable: Callable[..., None], sink: Sink, http_port: int, closed_port: int
) -> None:
    """A raw socket connect is recorded; a refused connection counts as a failure."""
    enable()

    def handler(event: Any, context: Any) -> str:
        with socket.create_connection(("127.0.0.1", http_port), timeout=5) as raw:
            raw.sendall(b"GET / HTTP/1.0\r\n\r\n")
            raw.recv(100)
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", closed_port)) != 0
        try:
            socket.create_connection(("127.0.0.1", closed_port), timeout=5)
        except ConnectionRefusedError:
            return "refused"
        return "connected"

    assert run(handler) == "refused"
    found = hosts(sink)
    assert found[("127.0.0.1", http_port, False)][semconv.NET_FAILURES] == 0
    refused = found[("127.0.0.1", closed_port, False)]
    assert refused[semconv.NET_COUNT] == 2
    assert refused[semconv.NET_FAILURES] == 2


def test_dns_failure_is_a_failed_connection_to_the_name(
    enable: Callable[..., None], sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that does not resolve is recorded as a failed connection to that name."""
    original = socket.getaddrinfo

    def resolver(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "api.example.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return original(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    enable()

    def handler(event: Any, context: Any) -> str:
        try:
            socket.create_connection(("api.example.invalid", 443), timeout=1)
        except socket.gaierror as exc:
            return type(exc).__name__
        return "resolved"

    assert run(handler) == "gaierror"
    failed = hosts(sink)[("api.example.invalid", 443, False)]
    assert failed[semconv.NET_FAILURES] == 1


def test_aws_endpoints_are_told_apart(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """Connections to an endpoint a botocore client uses are flagged as AWS; others are not."""
    import boto3

    enable()
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")

    def handler(event: Any, context: Any) -> None:
        sqs.list_queues()

    run(handler)
    port = int(moto_endpoint.rsplit(":", 1)[1])
    found = hosts(sink)
    assert found[("127.0.0.1", port, False)][semconv.NET_AWS] is True
    assert network.is_aws_host("sqs.us-east-1.amazonaws.com", 443)
    assert network.is_aws_host("s3.cn-north-1.amazonaws.com.cn", 443)
    assert not network.is_aws_host("api.stripe.com", 443)


def test_the_exporters_own_connection_is_not_recorded(
    enable: Callable[..., None], sink: Sink
) -> None:
    """Two invocations: the second's record holds no connection to the OTLP endpoint."""
    enable()
    wrapped = instrument(lambda event, context: None)
    wrapped({}, Context("r1"))
    assert flush(5000)
    wrapped({}, Context("r2"))
    assert flush(5000)
    sink_port = int(sink.url.rsplit(":", 1)[1])
    assert len(sink.bodies) == 2
    for key in hosts(sink):
        assert key[1] != sink_port


def test_install_is_idempotent_and_uninstall_restores_socket() -> None:
    """Installing twice wraps once; uninstalling puts socket and ssl back."""
    original_connect = socket.socket.connect
    original_wrap = ssl.SSLContext.wrap_socket
    network.install()
    wrapped = socket.socket.connect
    network.install()
    assert socket.socket.connect is wrapped
    assert ssl.SSLContext.wrap_socket is not original_wrap
    network.uninstall()
    assert socket.socket.connect is original_connect
    assert ssl.SSLContext.wrap_socket is original_wrap


def test_asyncio_tls_connection_is_recorded(
    enable: Callable[..., None],
    sink: Sink,
    https_port: int,
    cert: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """asyncio (how aiohttp connects) resolves in a worker thread and wraps a BIO: host and TLS kept."""
    import asyncio

    _localhost_v4_only(monkeypatch)
    enable()
    context_ = ssl.create_default_context(cafile=str(cert / "cert.pem"))

    async def fetch() -> bytes:
        reader, writer = await asyncio.open_connection("localhost", https_port, ssl=context_)
        writer.write(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        await writer.drain()
        data = await reader.read()
        writer.close()
        return data

    def handler(event: Any, context: Any) -> bool:
        return b"200" in asyncio.run(fetch())

    assert run(handler) is True
    found = hosts(sink)
    assert found[("localhost", https_port, True)][semconv.NET_COUNT] == 1
    assert ("localhost", https_port, False) not in found
