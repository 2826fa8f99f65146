"""A loopback TCP proxy that adds network latency, to price exports over a real network.

Each byte forwarded waits ``one_way_ms`` in each direction, so a request and
its answer take one extra round trip (``2 * one_way_ms``). A new connection
first waits ``handshake_rtts`` round trips before anything is forwarded: the
TCP handshake (1 RTT) and, for TLS 1.3, one more; a connection reused across
invocations pays none of that again. The kernel completes the loopback
handshake at once, so this is a model of the far side, not a capture of it.

``close_after_response``: the proxy closes the client's connection right
after forwarding each answer, as a collector or load balancer whose idle
timeout is shorter than the gap between two invocations does while the
function is frozen. :attr:`connections` counts the connections clients made.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class DelayProxy:
    """Forwards 127.0.0.1:port to ``upstream`` with added latency."""

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        one_way_ms: float = 1.0,
        handshake_rtts: int = 2,
        close_after_response: bool = False,
    ) -> None:
        self.upstream = upstream
        self.one_way_s = one_way_ms / 1000
        self.handshake_s = handshake_rtts * 2 * self.one_way_s
        self.close_after_response = close_after_response
        self.connections = 0
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        """Base URL for ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        time.sleep(self.handshake_s)  # the handshakes a real network would cost
        threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
        self._pump(upstream, client, self.close_after_response)

    def _pump(self, source: socket.socket, target: socket.socket, close_after: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                time.sleep(self.one_way_s)
                target.sendall(data)
                if close_after:
                    break  # the answer (one small write) is out: close, as an idle timeout does
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        """Stop accepting."""
        self._listener.close()
