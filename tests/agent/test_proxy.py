"""Through an HTTP proxy the destination is recorded as the host, the proxy beside it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from lambdaguard import semconv
from lambdaguard.agent import recorder

from .conftest import Sink, hosts, run


class Proxy:
    """A real loopback HTTP proxy: CONNECT tunnels and absolute-form requests, nothing else."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        # The proxy is not the function: its own connections are not recorded.
        with recorder.suppressed(), contextlib.closing(client):
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            line, _, rest = head.partition(b"\r\n")
            method, target, _ = line.decode("latin-1").split(" ", 2)
            self.targets.append(f"{method} {target}")
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                upstream = self._connect(host, int(port))
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                authority, _, path = target.split("://", 1)[1].partition("/")
                host, _, port = authority.partition(":")
                upstream = self._connect(host, int(port or 80))
                upstream.sendall(f"{method} /{path} HTTP/1.1\r\n".encode() + rest)
            self._pipe(client, upstream)

    @staticmethod
    def _connect(host: str, port: int) -> socket.socket:
        return socket.create_connection(("127.0.0.1" if host == "localhost" else host, port), 5)

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        def copy(src: socket.socket, dst: socket.socket) -> None:
            with recorder.suppressed(), contextlib.suppress(OSError):
                while data := src.recv(65536):
                    dst.sendall(data)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        other = threading.Thread(target=copy, args=(b, a), daemon=True)
        other.start()
        copy(a, b)
        other.join(10)
        b.close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Proxy]:
    """A loopback proxy; no proxy variables from the machine leak into the test."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    server = Proxy()
    yield server
    server.listener.close()


def _context(cert: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert / "cert.pem"))
    return context


def test_requests_and_urllib_through_a_proxy_record_the_destination(  # noqa: PLR0917 - fixtures
    enable: Callable[..., None],
    sink: Sink,
    proxy: Proxy,
    http_port: int,
    https_port: int,
    cert: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CONNECT (HTTPS) and absolute-form (HTTP) requests: destination as host, proxy beside it."""
    enable()
    proxies = {"http": proxy.url, "https": proxy.url}

    def handler(event: Any, context: Any) -> None:
        assert requests.get(
            f"https://localhost:{https_port}/a?q=CANARY-proxy-query",
            proxies=proxies,
            verify=str(cert / "cert.pem"),
            timeout=5,
        ).ok
        assert requests.get(f"http://localhost:{http_port}/b", proxies=proxies, timeout=5).ok
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)  # urllib reads the variable
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler(), urllib.request.HTTPSHandler(context=_context(cert))
        )
        with opener.open(f"https://localhost:{https_port}/c", timeout=5) as response:
            assert response.status == 200

    run(handler)
    assert sorted(t.split(" ")[0] for t in proxy.targets) == ["CONNECT", "CONNECT", "GET"]
    seen = hosts(sink)
    assert set(seen) == {("localhost", https_port, True), ("localhost", http_port, False)}
    tunnel = seen["localhost", https_port, True]
    assert tunnel[semconv.NET_PROXY] == f"127.0.0.1:{proxy.port}"
    assert tunnel[semconv.NET_COUNT] == 2
    assert seen["localhost", http_port, False][semconv.NET_PROXY] == f"127.0.0.1:{proxy.port}"
    for body in sink.bodies:
        assert b"CANARY-proxy-query" not in body


def test_httpx_and_aiohttp_through_a_proxy_record_the_destination(  # noqa: PLR0917 - fixtures
    enable: Callable[..., None],
    sink: Sink,
    proxy: Proxy,
    http_port: int,
    https_port: int,
    cert: Path,
) -> None:
    """httpx's and aiohttp's explicit proxy settings: the same destinations and proxy."""
    httpx = pytest.importorskip("httpx")
    aiohttp = pytest.importorskip("aiohttp")
    enable()

    async def with_aiohttp() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.get(
                f"https://localhost:{https_port}/d", proxy=proxy.url, ssl=_context(cert)
            ) as response:
                assert response.status == 200
            async with session.get(f"http://localhost:{http_port}/e", proxy=proxy.url) as response:
                assert response.status == 200

    def handler(event: Any, context: Any) -> None:
        with httpx.Client(proxy=proxy.url, verify=_context(cert)) as http:
            assert http.get(f"https://localhost:{https_port}/f").status_code == 200
        asyncio.run(with_aiohttp())

    run(handler)
    seen = hosts(sink)
    assert set(seen) == {("localhost", https_port, True), ("localhost", http_port, False)}
    assert seen["localhost", https_port, True][semconv.NET_COUNT] == 2
    assert {attrs[semconv.NET_PROXY] for attrs in seen.values()} == {f"127.0.0.1:{proxy.port}"}


def test_direct_connections_name_no_proxy(
    enable: Callable[..., None], sink: Sink, http_port: int
) -> None:
    """Without a proxy nothing changes: the connection's own host, and no proxy attribute."""
    enable()

    def handler(event: Any, context: Any) -> None:
        assert requests.get(f"http://127.0.0.1:{http_port}/", timeout=5).ok

    run(handler)
    (attrs,) = hosts(sink).values()
    assert attrs[semconv.SERVER_ADDRESS] == "127.0.0.1"
    assert semconv.NET_PROXY not in attrs
