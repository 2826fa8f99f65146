"""Outbound connections recorded from real clients against loopback HTTP and HTTPS servers."""

from __future__ import annotations

import http.client
import http.server
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lambdaguard import instrument, semconv
from lambdaguard.agent import flush, network

from .conftest import Context, Sink, hosts, localhost_v4_only, run


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

    localhost_v4_only(monkeypatch)
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
    import asyncio

    original_connect = socket.socket.connect
    original_wrap = ssl.SSLContext.wrap_socket
    original_create = asyncio.BaseEventLoop.create_connection
    network.install()
    wrapped = socket.socket.connect
    network.install()
    assert socket.socket.connect is wrapped
    assert ssl.SSLContext.wrap_socket is not original_wrap
    assert asyncio.BaseEventLoop.create_connection is not original_create
    network.uninstall()
    assert socket.socket.connect is original_connect
    assert ssl.SSLContext.wrap_socket is original_wrap
    assert asyncio.BaseEventLoop.create_connection is original_create
    assert "getsockopt" not in socket.socket.__dict__


def test_asyncio_tls_connection_is_recorded(
    enable: Callable[..., None],
    sink: Sink,
    https_port: int,
    cert: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """asyncio (how aiohttp connects) resolves in a worker thread and wraps a BIO: host and TLS kept."""
    import asyncio

    localhost_v4_only(monkeypatch)
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
