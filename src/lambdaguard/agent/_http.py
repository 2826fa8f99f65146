"""A minimal HTTP/1.1 client on one kept-alive connection: the Extensions API and the exporter.

``http.client`` parses every response header through ``email.parser``, ~100 µs
of Python per response on a thawed process, and builds every request's head
anew. Both the extension thread (on waking, while the handler is about to
start) and the exporter (after the response, on the billed path) only need a
status, the framing of the body and ``Connection: close``; so this reads the
status line and ``Content-Length`` with ``bytes`` methods and sends a request
head built once. Plain TCP or TLS (the default context: certificates and host
name verified, ``SSL_CERT_FILE`` honoured), an optional timeout per socket
operation, and no proxy. Every failure is an ``OSError`` or
:class:`ProtocolError`.
"""

from __future__ import annotations

import socket
from typing import Any

__all__ = ["CLOSED", "Client", "ProtocolError", "connect"]

_MAX_HEAD = 64 * 1024  # a response head larger than this is not the API we speak to
_MAX_BODY = 16 * 1024 * 1024
# ProtocolError's message when the far side closed before any byte of a response.
CLOSED = "connection closed by the far side"


def connect(host: str, port: int, timeout: float | None = None) -> socket.socket:
    """A TCP connection with ``TCP_NODELAY`` (a small request must not wait on delayed ACKs).

    An ASCII host goes to getaddrinfo as bytes: a str host is IDNA-encoded,
    which imports encodings.idna and stringprep (~1.6 ms, nothing else needs them).
    """
    name: str | bytes = host.encode("ascii") if host.isascii() else host
    sock = socket.create_connection((name, port), timeout)  # type: ignore[arg-type]
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class ProtocolError(ValueError):
    """The Extensions API answered something that is not an HTTP/1.1 response."""


class Client:
    """A minimal HTTP/1.1 client on one kept-alive connection.

    Only what the APIs it speaks to use: a status line, ``Content-Length`` or
    chunked bodies, ``Connection: close`` (then the next request reconnects).
    Every failure is an ``OSError`` or :class:`ProtocolError`.
    """

    def __init__(
        self, host: str, port: int, *, tls: bool = False, timeout: float | None = None
    ) -> None:
        self._address = (host, port)
        bracketed = f"[{host}]" if ":" in host else host
        default = 443 if tls else 80
        self._host_header = bracketed if port == default else f"{bracketed}:{port}"
        self._tls = tls
        self.timeout = timeout
        self._sock: Any = None  # socket.socket or ssl.SSLSocket
        self._buffer = b""

    @property
    def sock(self) -> Any:
        """The open connection, or None."""
        return self._sock

    def close(self) -> None:
        """Drop the connection (the next request opens a new one)."""
        sock, self._sock, self._buffer = self._sock, None, b""
        if sock is not None:
            sock.close()

    def head_bytes(self, method: str, path: str, headers: dict[str, str]) -> bytes:
        """A request's head without ``Content-Length`` and the blank line (built once).

        ``ValueError`` for a header that would split the head (CR, LF or NUL in
        a name or value) or that Latin-1 cannot carry, as ``http.client`` refuses them.
        """
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host_header}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        for line in lines:
            if "\r" in line or "\n" in line or "\0" in line:
                raise ValueError(f"invalid character in request line or header {line[:40]!r}")
        return ("\r\n".join(lines) + "\r\n").encode("latin-1")

    def request_bytes(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        """The request as sent (built once for the request repeated every invocation)."""
        head = self.head_bytes(method, path, headers)
        if body or method != "GET":
            head += b"Content-Length: %d\r\n" % len(body)
        return head + b"\r\n" + body

    def send(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send ``request``; (status, lower-cased headers, body).

        Without a timeout it blocks for as long as the far side takes
        (``event/next`` blocks while the environment idles).
        """
        if self._sock is None:
            host, port = self._address
            sock = connect(host, port, self.timeout)
            if self._tls:
                import ssl  # only for an https endpoint, after the first response

                try:
                    sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
                except BaseException:
                    sock.close()
                    raise
            self._sock = sock
            self._buffer = b""
        elif self.timeout is not None:
            self._sock.settimeout(self.timeout)
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
            raise ProtocolError(CLOSED)
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
