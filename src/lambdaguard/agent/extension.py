"""The internal extension: how the export runs after the response on runtimes other than awslambdaric.

Under awslambdaric (Lambda's Python runtimes) the agent works on the
runtime's own thread before it asks for the next invocation instead
(:mod:`~lambdaguard.agent._runtime`), which spares this thread's Extensions API
round trip on every invocation; ``LAMBDAGUARD_EXTENSION=always`` keeps using
this module.

Lambda ends an invocation only when the runtime has posted its response *and*
every registered extension has called ``event/next`` again
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html).
So a thread registered as an internal extension that exports between "the
handler returned" and its next ``event/next`` sends after the caller already
has the response, and the environment is not frozen until that send is done.

Internal extensions may register only for ``INVOKE`` (``SHUTDOWN`` is for
external ones; the runtime process gets SIGTERM instead). Registration must
happen during INIT, before the runtime's first ``invocation/next``; the
thread registers and the installing code waits (bounded) for it.

While frozen, the thread is blocked inside ``event/next``; it relies on no
timer running across invocations: each invocation's deadline comes with its
INVOKE event.

The INVOKE event reaches this thread at the same moment the runtime's main
thread gets the request, so whatever the thread does on waking runs under
the GIL while the handler is about to start. It therefore speaks HTTP/1.1
over a plain socket (:class:`_Client`): one ``recv`` into a buffer, the
status line and ``Content-Length`` read with ``bytes`` methods, one
``json.loads``. ``http.client`` would parse every header through
``email.parser``, ~100 µs of Python on a thawed process, measured delaying
the handler's start in more than half of the invocations.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable
from typing import NamedTuple

from lambdaguard.agent import recorder

__all__ = ["Extension", "InvokeEvent"]

NAME = "lambdaguard"
_BASE = "/2020-01-01/extension"
_MAX_HEAD = 64 * 1024  # a response head larger than this is not the Extensions API
_MAX_BODY = 16 * 1024 * 1024  # an Extensions API event is a few hundred bytes


class InvokeEvent(NamedTuple):
    """The part of an INVOKE event the agent uses."""

    request_id: str
    deadline_ms: int


class ProtocolError(ValueError):
    """The Extensions API answered something that is not an HTTP/1.1 response."""


class _Client:
    """A minimal HTTP/1.1 client for the Extensions API on one kept-alive connection.

    Only what the API uses: a status line, ``Content-Length`` or chunked
    bodies, ``Connection: close`` (then the next request reconnects). Every
    failure is an ``OSError`` or :class:`ProtocolError`.
    """

    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._host_header = f"{host}:{port}"
        self._sock: socket.socket | None = None
        self._buffer = b""

    def close(self) -> None:
        """Drop the connection (the next request opens a new one)."""
        sock, self._sock, self._buffer = self._sock, None, b""
        if sock is not None:
            sock.close()

    def request_bytes(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        """The request as sent (built once for the request repeated every invocation)."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host_header}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body or method != "GET":
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def send(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send ``request``; (status, lower-cased headers, body). Blocks without a timeout."""
        if self._sock is None:
            # No timeout: event/next blocks for as long as the environment idles.
            # The host goes to getaddrinfo as bytes: a str host is IDNA-encoded,
            # which imports encodings.idna and stringprep (~1.6 ms of INIT).
            host, port = self._address
            name = host.encode("ascii") if host.isascii() else host
            self._sock = socket.create_connection((name, port))  # type: ignore[arg-type]
            self._buffer = b""
        try:
            self._sock.sendall(request)
            status, headers, body = self._read()
        except BaseException:
            self.close()
            raise
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def _fill(self) -> None:
        if self._sock is None:
            raise ProtocolError("not connected")
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ProtocolError("connection closed by the Extensions API")
        self._buffer += chunk

    def _read(self) -> tuple[int, dict[str, str], bytes]:
        end = self._buffer.find(b"\r\n\r\n")
        while end < 0:
            if len(self._buffer) > _MAX_HEAD:
                raise ProtocolError("response head too large")
            self._fill()
            end = self._buffer.find(b"\r\n\r\n")
        head, self._buffer = self._buffer[:end], self._buffer[end + 4 :]
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"bad status line {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return int(parts[1]), headers, self._chunked()
        length = headers.get("content-length")
        if length is None:
            # No framing: the body runs to the end of the connection.
            while True:
                try:
                    self._fill()
                except ProtocolError:
                    break  # closed: the body is complete
                if len(self._buffer) > _MAX_BODY:
                    raise ProtocolError("response body too large")
            body, self._buffer = self._buffer, b""
            headers["connection"] = "close"
            return int(parts[1]), headers, body
        if not length.isdigit() or int(length) > _MAX_BODY:
            raise ProtocolError(f"bad Content-Length {length[:40]!r}")
        return int(parts[1]), headers, self._exactly(int(length))

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill()
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _line(self) -> bytes:
        end = self._buffer.find(b"\r\n")
        while end < 0:
            if len(self._buffer) > _MAX_HEAD:
                raise ProtocolError("chunk line too long")
            self._fill()
            end = self._buffer.find(b"\r\n")
        line, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
        return line

    def _chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_text = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError("bad chunk size") from None
            if size == 0:
                while self._line():  # trailers, up to the empty line
                    pass
                return bytes(body)
            if len(body) + size > _MAX_BODY:
                raise ProtocolError("response body too large")
            body += self._exactly(size)
            if self._exactly(2) != b"\r\n":
                raise ProtocolError("chunk not followed by CRLF")


class Extension:
    """Registers with the Extensions API and calls ``on_invoke`` once per INVOKE event.

    ``on_wake``, if given, runs as soon as ``event/next`` answered, before the
    event is decoded: the agent uses it to step aside while the handler runs.
    """

    def __init__(
        self,
        runtime_api: str,
        on_invoke: Callable[[InvokeEvent], None],
        on_wake: Callable[[], None] | None = None,
    ) -> None:
        host, _, port = runtime_api.rpartition(":")
        self._host = host or runtime_api
        self._port = int(port) if port.isdigit() else 80
        self._on_invoke = on_invoke
        self._on_wake = on_wake
        self.registered = threading.Event()
        self.failed = threading.Event()
        self.identifier = ""
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The Runtime API host and port (never recorded as an outbound connection)."""
        return self._host, self._port

    def start(self, wait_s: float = 1.0) -> bool:
        """Start the thread; True once registered (waits at most ``wait_s``)."""
        self._thread = threading.Thread(target=self._run, name="lambdaguard-extension", daemon=True)
        self._thread.start()
        done = self.registered.wait(wait_s)
        return done and not self.failed.is_set()

    def _run(self) -> None:
        with recorder.suppressed():
            client = _Client(self._host, self._port)
            register = client.request_bytes(
                "POST",
                f"{_BASE}/register",
                {"Lambda-Extension-Name": NAME, "Content-Type": "application/json"},
                b'{"events":["INVOKE"]}',
            )
            try:
                status, headers, _ = client.send(register)
                self.identifier = headers.get("lambda-extension-identifier", "")
            except (OSError, ProtocolError):
                status = 0
            if status != 200 or not self.identifier:
                client.close()
                self.failed.set()
                self.registered.set()
                return
            self.registered.set()
            next_event = client.request_bytes(
                "GET", f"{_BASE}/event/next", {"Lambda-Extension-Identifier": self.identifier}, b""
            )
            while True:
                try:
                    status, _, payload = client.send(next_event)
                except (OSError, ProtocolError):
                    client.close()
                    return  # the Runtime API is gone: the environment is shutting down
                if status != 200:
                    client.close()
                    return
                if self._on_wake is not None:
                    # Only a wait: whatever it raises, the event still goes on.
                    with contextlib.suppress(Exception):
                        self._on_wake()
                try:
                    event = json.loads(payload)
                except ValueError:
                    continue
                if not isinstance(event, dict) or event.get("eventType") != "INVOKE":
                    continue
                try:
                    self._on_invoke(
                        InvokeEvent(
                            str(event.get("requestId", "")), int(event.get("deadlineMs", 0))
                        )
                    )
                except Exception:  # noqa: BLE001, S112 - the loop must go on calling next
                    continue
