"""Operating the collector: startup errors, health, readiness, metrics and group commit."""

from __future__ import annotations

import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from lambdaguard.collector.commit import GroupCommitter
from lambdaguard.collector.server import CollectorHandle
from lambdaguard.collector.spans import extract
from lambdaguard.collector.store import open_store

from .conftest import ARN, trace_request

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lambdaguard", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def busy_port() -> Any:
    """A port some other socket is listening on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    yield s.getsockname()[1]
    s.close()


@pytest.mark.parametrize("which", ["--http-port", "--grpc-port"])
def test_busy_port_is_one_line_and_exit_3(busy_port: int, which: str, tmp_path: Path) -> None:
    """A busy HTTP or gRPC port: one line naming the port, exit code 3, no traceback."""
    other = "--grpc-port" if which == "--http-port" else "--http-port"
    result = _serve("--store", f"sqlite:///{tmp_path}/s.db", which, str(busy_port), other, "0")
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(busy_port) in lines[0]
    assert "Traceback" not in result.stderr


def test_missing_certificate_is_one_line_and_exit_3(tmp_path: Path) -> None:
    """A missing certificate file: one line naming the file, exit code 3."""
    missing = tmp_path / "nope.pem"
    result = _serve(
        "--store",
        f"sqlite:///{tmp_path}/s.db",
        "--http-port",
        "0",
        "--grpc-port",
        "0",
        "--tls-cert",
        str(missing),
        "--tls-key",
        str(missing),
    )
    assert result.returncode == 3
    assert str(missing) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_bind_address_is_one_line_and_exit_3(tmp_path: Path) -> None:
    """An address that does not resolve: one line naming it, exit code 3."""
    result = _serve(
        "--store",
        f"sqlite:///{tmp_path}/s.db",
        "--bind",
        "no-such-host.invalid",
        "--token",
        "t",
        "--http-port",
        "0",
        "--grpc-port",
        "0",
    )
    assert result.returncode == 3
    assert "no-such-host.invalid" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_health_readiness_and_metrics(collector: CollectorHandle) -> None:
    """/healthz and /readyz answer 200 with a migrated store; /metrics is Prometheus text
    counting requests and spans."""
    body = trace_request(trace_id=b"\x71" * 16).SerializeToString()
    assert (
        httpx.post(f"{collector.http_url}/v1/traces", content=body, headers=PROTOBUF).status_code
        == 200
    )
    assert httpx.get(f"{collector.http_url}/healthz").status_code == 200
    ready = httpx.get(f"{collector.http_url}/readyz")
    assert ready.status_code == 200
    metrics = httpx.get(f"{collector.http_url}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'lambdaguard_requests_total{code="200",signal="traces",transport="http"} 1.0' in text
    assert 'lambdaguard_spans_total{outcome="stored"} 2.0' in text
    assert "lambdaguard_store_commit_seconds_bucket" in text


def test_readyz_is_503_when_the_store_schema_is_not_current(collector: CollectorHandle) -> None:
    """/readyz says 503 with the reason when the store's schema is not this lambdaguard's."""
    import sqlalchemy as sa

    engine = sa.create_engine(collector.config.store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM lg_schema_version WHERE version > 1"))
    engine.dispose()
    ready = httpx.get(f"{collector.http_url}/readyz")
    assert ready.status_code == 503
    assert "schema version" in ready.json()["reason"]


def test_metrics_endpoint_accepts_otlp_metrics(collector: CollectorHandle) -> None:
    """/v1/metrics accepts an OTLP metrics request and counts its data points (not 404)."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
        ExportMetricsServiceResponse,
    )

    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="invocations")
    for i in range(3):
        metric.sum.data_points.add(as_int=i)
    response = httpx.post(
        f"{collector.http_url}/v1/metrics", content=request.SerializeToString(), headers=PROTOBUF
    )
    assert response.status_code == 200
    ExportMetricsServiceResponse.FromString(response.content)
    assert collector.stats()["data_points"] == 3


def test_group_commit_counts_each_request_once(sqlite_url: str) -> None:
    """Requests committed together are each acknowledged with their own counts, and a span
    repeated across requests of one group counts once."""
    store = open_store(sqlite_url)
    committer = GroupCommitter(store)
    requests = [
        extract(trace_request(trace_id=bytes([i % 10 + 1]) * 16), now_ns=10**18).spans
        for i in range(40)
    ]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda facts: committer.submit(facts).result(30), requests))
    committer.close()
    assert sum(r.new_spans for r in results) == 20  # 10 distinct traces x 2 spans
    assert sum(r.duplicate_spans for r in results) == 60
    assert store.calls(ARN)[0].count == 10
    store.close()


def test_logs_are_json_lines_without_tracebacks_for_ordinary_disconnects(
    tmp_path: Path,
) -> None:
    """`lambdaguard serve` logs one JSON object per line; clients that disconnect mid-body,
    time out or send garbage leave events, never a traceback."""
    import json
    import re
    import time

    log_file = tmp_path / "serve.log"
    with log_file.open("w") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lambdaguard",
                "serve",
                "--store",
                f"sqlite:///{tmp_path}/s.db",
                "--http-port",
                "0",
                "--grpc-port",
                "off",
                "--request-timeout-s",
                "1",
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        try:
            assert proc.stdout is not None
            match = re.search(r"http=http://([\d.]+):(\d+)", proc.stdout.readline())
            assert match
            address = (match.group(1), int(match.group(2)))
            body = trace_request(trace_id=b"\x72" * 16).SerializeToString()
            half = socket.create_connection(address)  # disconnects mid-body
            half.sendall(
                b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body[:20]
            )
            half.close()
            slow = socket.create_connection(address)  # times out
            slow.sendall(b"POST /v1/tra")
            garbage = socket.create_connection(address)  # not HTTP
            garbage.sendall(b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
            time.sleep(2.5)
            slow.close()
            garbage.close()
            url = f"http://{address[0]}:{address[1]}/v1/traces"
            assert httpx.post(url, content=body, headers=PROTOBUF).status_code == 200
        finally:
            proc.terminate()
            assert proc.wait(30) == 0
    text = log_file.read_text()
    assert "Traceback" not in text
    events = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any(e.get("event") == "listening" for e in events)
    assert any(e.get("event") == "request_timeout" for e in events)
    assert any(e.get("event") == "stopped" for e in events)


class _Gated:
    """The real store, holding its first group until released and refusing any group
    that holds the poison request."""

    def __init__(self, store: Any, poison: Any) -> None:
        import threading

        self.store, self.poison = store, poison
        self.entered = threading.Event()
        self.release = threading.Event()

    def ingest_many(self, requests: Any) -> Any:
        from lambdaguard.errors import StoreRejected

        if not self.entered.is_set():
            self.entered.set()
            self.release.wait(10)
        if any(r is self.poison for r in requests):
            raise StoreRejected("the store refused a value")
        return self.store.ingest_many(requests)

    def ping(self) -> bool:
        return True


def test_one_refused_request_does_not_fail_its_group(sqlite_url: str) -> None:
    """A request the store refuses fails alone; the others of its group commit and count."""

    from lambdaguard.errors import StoreRejected

    store = open_store(sqlite_url)
    poison = extract(trace_request(trace_id=b"\x0f" * 16), now_ns=10**18).spans
    gate = _Gated(store, poison)
    entered, release = gate.entered, gate.release
    committer = GroupCommitter(gate)  # type: ignore[arg-type]
    good = [extract(trace_request(trace_id=bytes([i]) * 16), now_ns=10**18).spans for i in (1, 2)]
    first = committer.submit(extract(trace_request(trace_id=b"\x0e" * 16), now_ns=10**18).spans)
    assert entered.wait(5)  # the writer is busy: the next three wait and form one group
    waiting = [committer.submit(good[0]), committer.submit(poison), committer.submit(good[1])]
    release.set()
    assert first.result(10).new_spans == 2
    assert waiting[0].result(10).new_spans == 2
    with pytest.raises(StoreRejected):
        waiting[1].result(10)
    assert waiting[2].result(10).new_spans == 2
    committer.close()
    assert store.calls(ARN)[0].count == 3
    store.close()


def test_waiters_on_an_event_loop_are_answered_after_their_commit(sqlite_url: str) -> None:
    """Requests from an event loop get their own results after the commit; one that gave up
    before its group is skipped, and a refused one gets the error on its loop."""
    import asyncio

    from lambdaguard.errors import StoreRejected

    store = open_store(sqlite_url)
    poison = extract(trace_request(trace_id=b"\x0f" * 16), now_ns=10**18).spans
    gate = _Gated(store, poison)
    entered, release = gate.entered, gate.release
    committer = GroupCommitter(gate)  # type: ignore[arg-type]

    def facts(n: int) -> Any:
        return extract(trace_request(trace_id=bytes([n]) * 16), now_ns=10**18).spans

    async def main() -> None:
        loop = asyncio.get_running_loop()
        first = committer.submit_async(facts(1), loop)
        assert await loop.run_in_executor(None, entered.wait, 5)
        waiting = [committer.submit_async(f, loop) for f in (facts(2), facts(3), poison)]
        gave_up = committer.submit_async(facts(4), loop)
        gave_up.cancel()
        release.set()
        assert (await first).new_spans == 2
        assert [(await w).new_spans for w in waiting[:2]] == [2, 2]
        with pytest.raises(StoreRejected):
            await waiting[2]
        assert (await committer.submit_async((), loop)).new_spans == 0

    asyncio.run(main())
    committer.close()
    assert store.calls(ARN)[0].count == 3  # requests 1-3; the one that gave up was not stored
    store.close()
