"""The Extensions API client: HTTP/1.1 over a plain socket, against a scripted loopback server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from lambdaguard.agent.extension import Extension, InvokeEvent, ProtocolError, _Client

# One scripted connection: reads requests, answers each with the next reply.
Script = Callable[[socket.socket, list[bytes]], None]


class ScriptedServer:
    """A loopback TCP server running one script per accepted connection."""

    def __init__(self, scripts: list[Script]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self.connections = 0
        self._scripts = scripts
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        for script in self._scripts:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                script(conn, self.requests)

    def close(self) -> None:
        self.sock.close()


def read_request(conn: socket.socket) -> bytes:
    """One request: its head and a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            while len(body) < int(value):
                body += conn.recv(4096)
    return data


def answer(*replies: bytes, byte_by_byte: bool = False) -> Script:
    """A script answering successive requests with ``replies``, then closing."""

    def script(conn: socket.socket, requests: list[bytes]) -> None:
        for reply in replies:
            request = read_request(conn)
            if not request:
                return
            requests.append(request)
            if byte_by_byte:
                for i in range(len(reply)):
                    conn.sendall(reply[i : i + 1])
            else:
                conn.sendall(reply)

    return script


@pytest.fixture
def serve() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(*scripts: Script) -> ScriptedServer:
        server = ScriptedServer(list(scripts))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _ok(body: bytes, *extra: str) -> bytes:
    head = ["HTTP/1.1 200 OK", "Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join([*head, *extra]) + "\r\n\r\n").encode() + body


def test_content_length_bodies_on_one_kept_alive_connection(
    serve: Callable[..., ScriptedServer],
) -> None:
    """Two requests share one connection; status, lower-cased headers and exact bodies come back."""
    server = serve(answer(_ok(b'{"a":1}', "Lambda-Extension-Identifier: id-1"), _ok(b"[]")))
    client = _Client("127.0.0.1", server.port)
    request = client.request_bytes("POST", "/x", {"Lambda-Extension-Name": "lg"}, b'{"e":1}')
    status, headers, body = client.send(request)
    assert (status, headers["lambda-extension-identifier"], body) == (200, "id-1", b'{"a":1}')
    assert client.send(client.request_bytes("GET", "/y", {}, b""))[2] == b"[]"
    client.close()
    assert server.connections == 1
    first, second = server.requests
    assert first.startswith(b"POST /x HTTP/1.1\r\n")
    assert b"\r\nLambda-Extension-Name: lg\r\n" in first
    assert b"\r\nContent-Length: 7\r\n" in first
    assert first.endswith(b'{"e":1}')
    assert second.startswith(b"GET /y HTTP/1.1\r\n")
    assert b"Content-Length" not in second


def test_chunked_body_sent_byte_by_byte_with_trailers(serve: Callable[..., ScriptedServer]) -> None:
    """A chunked body (chunk extensions, trailers) split into 1-byte sends is reassembled exactly."""
    reply = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'4;ext=1\r\n{"k"\r\n3\r\n:2}\r\n0\r\nX-Trailer: t\r\n\r\n'
    )
    server = serve(answer(reply, _ok(b"next"), byte_by_byte=True))
    client = _Client("127.0.0.1", server.port)
    assert client.send(client.request_bytes("GET", "/a", {}, b""))[2] == b'{"k":2}'
    # The trailers were consumed: the next response on the connection parses cleanly.
    assert client.send(client.request_bytes("GET", "/b", {}, b""))[2] == b"next"
    client.close()


def test_connection_close_makes_the_next_request_reconnect(
    serve: Callable[..., ScriptedServer],
) -> None:
    """After ``Connection: close`` (or a body framed by the close) the next request opens a new connection."""
    server = serve(
        answer(_ok(b"one", "Connection: close")),
        answer(b"HTTP/1.1 200 OK\r\n\r\nto-the-end"),
        answer(_ok(b"three")),
    )
    client = _Client("127.0.0.1", server.port)
    request = client.request_bytes("GET", "/", {}, b"")
    assert client.send(request)[2] == b"one"
    assert client.send(request)[2] == b"to-the-end"
    assert client.send(request)[2] == b"three"
    client.close()
    assert server.connections == 3


@pytest.mark.parametrize(
    "reply",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",  # then the server closes
        b"HTTP/1.1 200",  # closed inside the head
    ],
)
def test_malformed_or_truncated_responses_raise_protocol_error(
    serve: Callable[..., ScriptedServer], reply: bytes
) -> None:
    """Anything but a well-framed HTTP/1.1 response is a ProtocolError, and the connection is dropped."""
    server = serve(answer(reply))
    client = _Client("127.0.0.1", server.port)
    with pytest.raises(ProtocolError):
        client.send(client.request_bytes("GET", "/", {}, b""))
    assert client._sock is None


def test_extension_registers_then_hands_each_invoke_event_over(
    serve: Callable[..., ScriptedServer],
) -> None:
    """Register sends the name and events; each INVOKE reaches on_invoke, other events are skipped."""
    invoke = {"eventType": "INVOKE", "requestId": "r-1", "deadlineMs": 1234, "tracing": {}}
    other = {"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": 1}
    server = serve(
        answer(
            _ok(b"{}", "Lambda-Extension-Identifier: ext-42"),
            _ok(json.dumps(other).encode()),
            _ok(b"not json"),
            _ok(json.dumps(invoke).encode()),
        )
    )
    seen: list[InvokeEvent] = []
    done = threading.Event()

    def on_invoke(event: InvokeEvent) -> None:
        seen.append(event)
        done.set()

    extension = Extension(f"127.0.0.1:{server.port}", on_invoke)
    assert extension.start(wait_s=5)
    assert extension.identifier == "ext-42"
    assert done.wait(5)
    assert seen == [InvokeEvent("r-1", 1234)]
    register, *nexts = server.requests
    assert register.startswith(b"POST /2020-01-01/extension/register HTTP/1.1\r\n")
    assert b"\r\nLambda-Extension-Name: lambdaguard\r\n" in register
    assert register.endswith(b'{"events":["INVOKE"]}')
    assert nexts
    assert all(
        n.startswith(b"GET /2020-01-01/extension/event/next HTTP/1.1\r\n")
        and b"\r\nLambda-Extension-Identifier: ext-42\r\n" in n
        for n in nexts
    )


@pytest.mark.parametrize(
    "reply",
    [_ok(b"{}"), b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", b"garbage\r\n\r\n"],
)
def test_registration_refused_or_garbled_reports_failure(
    serve: Callable[..., ScriptedServer], reply: bytes
) -> None:
    """No identifier, a non-200 or a garbled answer: start() returns False (the agent falls back)."""
    server = serve(answer(reply))
    extension = Extension(f"127.0.0.1:{server.port}", lambda _event: None)
    assert extension.start(wait_s=5) is False
    assert extension.failed.is_set()


def test_on_wake_runs_before_each_event_and_its_failure_is_ignored(
    serve: Callable[..., ScriptedServer],
) -> None:
    """on_wake runs once per answered event/next before on_invoke; if it raises, the event still arrives."""
    events = [{"eventType": "INVOKE", "requestId": f"r-{i}", "deadlineMs": i} for i in (1, 2)]
    server = serve(
        answer(
            _ok(b"{}", "Lambda-Extension-Identifier: ext-7"),
            *(_ok(json.dumps(e).encode()) for e in events),
        )
    )
    calls: list[str] = []
    done = threading.Event()

    def on_wake() -> None:
        calls.append("wake")
        raise RuntimeError("boom")

    def on_invoke(event: InvokeEvent) -> None:
        calls.append(event.request_id)
        if event.request_id == "r-2":
            done.set()

    extension = Extension(f"127.0.0.1:{server.port}", on_invoke, on_wake)
    assert extension.start(wait_s=5)
    assert done.wait(5)
    assert calls == ["wake", "r-1", "wake", "r-2"]
