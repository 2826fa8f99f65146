"""The exporter's connection: kept across invocations, replaced when the far side closed it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lambdaguard.agent import config, export


@dataclass
class Server:
    """A raw HTTP/1.1 server: answers 200 to each POST; ``close_after`` closes a connection after that many."""

    port: int = 0
    close_after: int = 0  # 0: keep every connection open
    connections: int = 0
    requests: list[str] = field(default_factory=list)


def _serve_connection(conn: socket.socket, server: Server) -> None:
    buffer = b""
    served = 0
    with conn:
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = next(
                int(line.split(":", 1)[1])
                for line in lines
                if line.lower().startswith("content-length")
            )
            while len(buffer) < length:
                buffer += conn.recv(65536)
            buffer = buffer[length:]
            server.requests.append(lines[0])
            # No "Connection: close": the client believes it may reuse it.
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            served += 1
            if server.close_after and served >= server.close_after:
                return  # the far side's idle timeout, as after a freeze


def _listening(wrap: Callable[[socket.socket], socket.socket] | None = None) -> Iterator[Server]:
    # The raw server on 127.0.0.1; ``wrap`` turns each accepted socket into the one
    # served (TLS), and a socket it refuses (OSError) is closed unserved.
    state = Server()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    state.port = listener.getsockname()[1]

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if wrap is not None:
                try:
                    conn = wrap(conn)
                except OSError:
                    conn.close()  # the client refused our certificate
                    continue
            state.connections += 1
            threading.Thread(target=_serve_connection, args=(conn, state), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield state
    listener.close()


@pytest.fixture
def server() -> Iterator[Server]:
    """The raw server on 127.0.0.1."""
    yield from _listening()


def sender(server: Server) -> export.Sender:
    return export.Sender(config.load({}, endpoint=f"http://127.0.0.1:{server.port}"))


def test_one_connection_serves_traces_and_metrics_across_sends(server: Server) -> None:
    """Three sends (traces, metrics, traces) use one TCP connection."""
    out = sender(server)
    assert [out.send(b"a"), out.send(b"b", signal="metrics"), out.send(b"c")] == [200, 200, 200]
    assert server.requests == [
        "POST /v1/traces HTTP/1.1",
        "POST /v1/metrics HTTP/1.1",
        "POST /v1/traces HTTP/1.1",
    ]
    assert (out.connects, out.reused, out.stale) == (1, 2, 0)
    assert server.connections == 1
    out.close()


def test_a_connection_the_far_side_closed_is_replaced_without_losing_the_send(
    server: Server,
) -> None:
    """A kept connection closed by the server (idle timeout) is detected and the send still succeeds."""
    server.close_after = 1
    out = sender(server)
    for body in (b"a", b"b", b"c"):
        assert out.send(body) == 200
    assert len(server.requests) == 3
    assert server.connections == 3
    assert out.stale == 2  # found closed before the second and third sends
    out.close()


def test_nothing_listening_is_status_zero_never_an_exception() -> None:
    """No collector: send answers 0 and the next send tries again."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = export.Sender(config.load({}, endpoint=f"http://127.0.0.1:{port}", export_timeout_ms=200))
    assert out.send(b"x") == 0
    assert out.send(b"x", signal="metrics") == 0
    assert out.connects == 2


@pytest.fixture
def tls_server(cert: Path) -> Iterator[Server]:
    """The raw server behind TLS, with the test's self-signed certificate for 127.0.0.1."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert / "cert.pem"), str(cert / "key.pem"))
    yield from _listening(lambda conn: context.wrap_socket(conn, server_side=True))


def test_https_sends_verify_the_collector_certificate(
    tls_server: Server, cert: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An https endpoint is reached over verified TLS on a kept connection; an unknown CA gets 0."""
    endpoint = f"https://127.0.0.1:{tls_server.port}"
    monkeypatch.setenv("SSL_CERT_FILE", str(cert / "cert.pem"))
    out = export.Sender(config.load({}, endpoint=endpoint))
    assert [out.send(b"a"), out.send(b"b", signal="metrics")] == [200, 200]
    assert (out.connects, out.reused) == (1, 1)
    assert tls_server.requests == ["POST /v1/traces HTTP/1.1", "POST /v1/metrics HTTP/1.1"]
    out.close()
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))  # no CA at all
    refused = export.Sender(config.load({}, endpoint=endpoint, export_timeout_ms=2000))
    assert refused.send(b"c") == 0
    assert len(tls_server.requests) == 2  # nothing reached the server unverified


def test_a_header_that_would_split_the_request_is_never_sent(server: Server) -> None:
    """A configured header value with CR/LF fails every send (0) and writes nothing on the wire."""
    out = export.Sender(
        config.load(
            {"OTEL_EXPORTER_OTLP_HEADERS": "x-team=a%0D%0AInjected: yes"},
            endpoint=f"http://127.0.0.1:{server.port}",
        )
    )
    assert out.send(b"a") == 0
    assert server.connections == 0
    assert server.requests == []
