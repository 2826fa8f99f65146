"""Outbound connections from aiohttp and pure-Python database drivers, against real loopback services."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lambdaguard import semconv

from .conftest import Sink, hosts, localhost_v4_only, run

REDIS = ("127.0.0.1", 6379)
MARIADB = ("127.0.0.1", 3306)
POSTGRES = ("127.0.0.1", 5432)


def require(address: tuple[str, int], what: str) -> None:
    """Skip, saying why, unless ``what`` accepts TCP connections at ``address``."""
    try:
        socket.create_connection(address, timeout=1).close()
    except OSError as exc:
        pytest.skip(f"{what} not reachable at {address[0]}:{address[1]}: {exc}")


def connection(
    found: dict[tuple[str, int, bool], dict[str, Any]], key: tuple[str, int, bool]
) -> tuple[int, int]:
    """(count, failures) of one recorded (host, port, tls)."""
    attrs = found[key]
    return attrs[semconv.NET_COUNT], attrs[semconv.NET_FAILURES]


def test_aiohttp_http_https_and_refused(  # noqa: PLR0917 - fixtures
    enable: Callable[..., None],
    sink: Sink,
    http_port: int,
    https_port: int,
    cert: Path,
    closed_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """aiohttp: host as asked, port, TLS, one connection per request, a refused connect is a failure."""
    import aiohttp

    localhost_v4_only(monkeypatch)
    enable()
    tls = ssl.create_default_context(cafile=str(cert / "cert.pem"))

    async def calls() -> list[object]:
        out: list[object] = []
        async with aiohttp.ClientSession() as session:
            # Twice: the server speaks HTTP/1.0, so two connections; the second
            # name comes from aiohttp's DNS cache, not a fresh getaddrinfo.
            for _ in range(2):
                async with session.get(f"https://localhost:{https_port}/", ssl=tls) as response:
                    out.append(await response.read())
            # A literal address on another port: not "localhost", though localhost
            # resolved to it a moment ago (the name map is keyed by address and port).
            async with session.get(f"http://127.0.0.1:{http_port}/?q=query-canary") as response:
                out.append(await response.read())
            try:
                async with session.get(f"http://localhost:{closed_port}/"):
                    out.append("connected")
            except aiohttp.ClientConnectorError as exc:
                out.append(type(exc).__name__)
        return out

    def handler(event: Any, context: Any) -> list[object]:
        return asyncio.run(calls())

    assert run(handler) == [b"ok", b"ok", b"ok", "ClientConnectorError"]
    found = hosts(sink)
    assert connection(found, ("127.0.0.1", http_port, False)) == (1, 0)
    assert connection(found, ("localhost", https_port, True)) == (2, 0)
    assert connection(found, ("localhost", closed_port, False)) == (1, 1)
    assert ("localhost", https_port, False) not in found
    assert ("127.0.0.1", https_port, True) not in found
    assert all(attrs[semconv.NET_AWS] is False for attrs in found.values())
    assert all(b"query-canary" not in body for body in sink.bodies)


def test_httpx_async_and_asyncio_streams_keep_the_name_asked(  # noqa: PLR0917 - fixtures
    enable: Callable[..., None],
    sink: Sink,
    http_port: int,
    https_port: int,
    cert: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """httpx's async client (anyio resolves, then connects to the address) and asyncio streams: names as asked."""
    import httpx

    localhost_v4_only(monkeypatch)
    enable()
    tls = ssl.create_default_context(cafile=str(cert / "cert.pem"))

    async def calls() -> list[int]:
        async with httpx.AsyncClient(verify=tls) as client:
            statuses = [(await client.get(f"https://localhost:{https_port}/")).status_code]
        # One task: a name, then a literal address for the same server and port.
        for host in ("localhost", "127.0.0.1"):
            reader, writer = await asyncio.open_connection(host, http_port)
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            statuses.append(int((await reader.read()).split()[1]))
            writer.close()
        return statuses

    assert run(lambda event, context: asyncio.run(calls())) == [200, 200, 200]
    found = hosts(sink)
    assert connection(found, ("localhost", https_port, True)) == (1, 0)
    assert ("127.0.0.1", https_port, True) not in found
    assert connection(found, ("localhost", http_port, False)) == (1, 0)
    assert connection(found, ("127.0.0.1", http_port, False)) == (1, 0)


def test_asyncio_connect_timeout_is_a_failure(enable: Callable[..., None], sink: Sink) -> None:
    """A non-blocking connect abandoned by its timeout (socket closed unconnected) counts as failed."""
    import aiohttp

    enable()
    # A listener with a full accept queue: Linux drops further SYNs, so the
    # next connect stays in progress until the client gives up.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)

        async def call() -> str:
            timeout = aiohttp.ClientTimeout(connect=0.3)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/"):
                        return "connected"
                except aiohttp.ClientConnectionError as exc:
                    return type(exc).__name__

        try:
            assert run(lambda event, context: asyncio.run(call())) == "ConnectionTimeoutError"
        finally:
            for filler in fillers:
                filler.close()
    assert connection(hosts(sink), ("127.0.0.1", port, False)) == (1, 1)


def test_redis_sync_and_asyncio(
    enable: Callable[..., None], sink: Sink, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py (sync and asyncio): host as asked, port, plaintext, counts; a refused server is a failure."""
    require(REDIS, "Redis")
    import redis
    import redis.asyncio
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    localhost_v4_only(monkeypatch)
    enable()

    async def async_ping(host: str) -> bool:
        client = redis.asyncio.Redis(host=host, port=REDIS[1], socket_connect_timeout=2)
        try:
            return bool(await client.ping())
        finally:
            await client.aclose()

    def handler(event: Any, context: Any) -> list[object]:
        out: list[object] = []
        for host in ("localhost", "127.0.0.1"):
            client = redis.Redis(host=host, port=REDIS[1], socket_connect_timeout=2)
            out.append(client.ping())
            client.close()
        # asyncio skips getaddrinfo for a literal address; the name map (which
        # says "localhost" for 127.0.0.1:6379 by now) must not rename it.
        out.extend(asyncio.run(async_ping(host)) for host in ("localhost", "127.0.0.1"))
        down = redis.Redis(
            host="127.0.0.1",
            port=closed_port,
            socket_connect_timeout=2,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            down.ping()
        except redis.ConnectionError as exc:
            out.append(type(exc).__name__)
        return out

    assert run(handler) == [True, True, True, True, "ConnectionError"]
    found = hosts(sink)
    assert connection(found, ("localhost", REDIS[1], False)) == (2, 0)  # sync + asyncio
    assert connection(found, ("127.0.0.1", REDIS[1], False)) == (2, 0)  # sync + asyncio
    assert connection(found, ("127.0.0.1", closed_port, False)) == (1, 1)


def test_pymysql_mariadb(
    enable: Callable[..., None], sink: Sink, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PyMySQL against MariaDB: host as asked, port, plaintext, counts; a refused server is a failure."""
    require(MARIADB, "MariaDB")
    import pymysql

    localhost_v4_only(monkeypatch)
    enable()

    def handler(event: Any, context: Any) -> list[object]:
        out: list[object] = []
        for host in ("127.0.0.1", "127.0.0.1", "localhost"):
            db = pymysql.connect(
                host=host, port=MARIADB[1], user="root", password="", connect_timeout=2
            )
            with db.cursor() as cursor:
                cursor.execute("SELECT 1")
                out.append(cursor.fetchone())
            db.close()
        try:
            pymysql.connect(host="localhost", port=closed_port, user="root", connect_timeout=2)
        except pymysql.err.OperationalError as exc:
            out.append(type(exc).__name__)
        return out

    assert run(handler) == [(1,), (1,), (1,), "OperationalError"]
    found = hosts(sink)
    assert connection(found, ("127.0.0.1", MARIADB[1], False)) == (2, 0)
    assert connection(found, ("localhost", MARIADB[1], False)) == (1, 0)
    assert connection(found, ("localhost", closed_port, False)) == (1, 1)


def test_pg8000_postgresql(
    enable: Callable[..., None], sink: Sink, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pg8000 against PostgreSQL: host as asked, port, plaintext, counts; a refused server is a failure."""
    require(POSTGRES, "PostgreSQL")
    import pg8000.native

    localhost_v4_only(monkeypatch)
    enable()

    def handler(event: Any, context: Any) -> list[object]:
        out: list[object] = []
        for host in ("localhost", "127.0.0.1"):
            db = pg8000.native.Connection(
                "postgres", host=host, port=POSTGRES[1], database="test", timeout=2
            )
            out.append(db.run("SELECT 1"))
            db.close()
        try:
            pg8000.native.Connection("postgres", host="127.0.0.1", port=closed_port, timeout=2)
        except pg8000.native.InterfaceError as exc:
            out.append(type(exc).__name__)
        return out

    assert run(handler) == [[[1]], [[1]], "InterfaceError"]
    found = hosts(sink)
    assert connection(found, ("localhost", POSTGRES[1], False)) == (1, 0)
    assert connection(found, ("127.0.0.1", POSTGRES[1], False)) == (1, 0)
    assert connection(found, ("127.0.0.1", closed_port, False)) == (1, 1)
