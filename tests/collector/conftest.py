"""Fixtures for the collector tests: stores, running collectors, OTLP builders."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from lambdaguard import semconv
from lambdaguard.collector.server import CollectorHandle, start_collector
from lambdaguard.collector.settings import CollectorConfig

ARN = "arn:aws:lambda:eu-west-1:123456789012:function:orders"
PG_DSN = os.environ.get("LAMBDAGUARD_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite store file."""
    return f"sqlite:///{tmp_path / 'store' / 'lambdaguard.db'}"


def _pg_admin() -> Any:
    import psycopg

    dsn = PG_DSN.replace("postgresql+psycopg://", "postgresql://")
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(
            f"PostgreSQL not reachable at {PG_DSN} ({exc.__class__.__name__}); set LAMBDAGUARD_TEST_PG_DSN"
        )


@pytest.fixture
def pg_database() -> Iterator[Callable[[], str]]:
    """Make fresh PostgreSQL databases (lambdaguard_test_<random>); all are dropped afterwards."""
    from sqlalchemy.engine import make_url

    admin = _pg_admin()
    made: list[str] = []

    def make() -> str:
        name = f"lambdaguard_test_{secrets.token_hex(6)}"
        admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return make_url(PG_DSN).set(database=name).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        for name in made:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def pg_url(pg_database: Callable[[], str]) -> str:
    """A fresh PostgreSQL database, dropped afterwards."""
    return pg_database()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each backend in turn: SQLite, then PostgreSQL (skipped when unreachable)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lambdaguard.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def collector_factory(tmp_path: Path) -> Iterator[Any]:
    """Start in-process collectors on ephemeral ports; all are stopped at teardown."""
    handles: list[CollectorHandle] = []

    def make(**overrides: Any) -> CollectorHandle:
        values: dict[str, Any] = {
            "store_url": f"sqlite:///{tmp_path / f'c{len(handles)}.db'}",
            "http_port": 0,
            "grpc_port": 0,
        }
        values.update(overrides)
        handle = start_collector(CollectorConfig(**values))
        handles.append(handle)
        return handle

    yield make
    for handle in handles:
        handle.stop()


@pytest.fixture
def collector(collector_factory: Any) -> CollectorHandle:
    """One in-process collector on loopback, no token, SQLite in a temp dir."""
    handle: CollectorHandle = collector_factory()
    return handle


# -- building OTLP by hand (for raw-wire tests; exporter tests use the SDK) --------


def kv(key: str, value: Any) -> KeyValue:
    """An OTLP KeyValue from a Python value."""
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


@dataclass(frozen=True)
class Call:
    """An AWS call span to put in a request."""

    service: str = "s3"
    operation: str = "GetObject"
    params: str = '{"Bucket":"orders"}'
    count: int = 1
    extra: tuple[tuple[str, Any], ...] = ()  # more span attributes


def trace_request(
    *,
    trace_id: bytes,
    arn: str = ARN,
    calls: Sequence[Call] = (Call(),),
    invocations: int = 1,
    hosts: Sequence[tuple[str, int, bool]] = (),
    start_ns: int = 1_764_000_000_000_000_000,
    layer_version: str = "0.1.0",
    invocation_attrs: Sequence[tuple[str, Any]] = (),
    resource_attrs: Sequence[tuple[str, Any]] = (),
) -> ExportTraceServiceRequest:
    """An export request shaped like the agent's: invocation spans with call children."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend(
        [
            kv(semconv.CLOUD_RESOURCE_ID, arn),
            kv(semconv.CLOUD_ACCOUNT_ID, arn.split(":")[4]),
            kv(semconv.CLOUD_REGION, arn.split(":")[3]),
            kv(semconv.FAAS_NAME, arn.split(":")[6]),
            kv(semconv.LAYER_VERSION, layer_version),
            *(kv(k, v) for k, v in resource_attrs),
        ]
    )
    ss = rs.scope_spans.add()
    n = 0
    for i in range(invocations):
        n += 1
        inv = ss.spans.add(trace_id=trace_id, span_id=n.to_bytes(8, "big"), name="orders", kind=2)
        inv.start_time_unix_nano = start_ns + i
        inv.end_time_unix_nano = start_ns + i + 1000
        inv.attributes.extend(
            [
                kv(semconv.FAAS_INVOCATION_ID, f"req-{i}"),
                kv(semconv.FAAS_COLDSTART, i == 0),
                *(kv(k, v) for k, v in invocation_attrs if k != semconv.INVOCATION_OUTCOME),
                kv(
                    semconv.INVOCATION_OUTCOME,
                    dict(invocation_attrs).get(semconv.INVOCATION_OUTCOME, semconv.OUTCOME_SUCCESS),
                ),
            ]
        )
        for host, port, tls in hosts:
            ev = inv.events.add(name=semconv.CONNECTION_EVENT, time_unix_nano=start_ns + i)
            ev.attributes.extend(
                [
                    kv(semconv.SERVER_ADDRESS, host),
                    kv(semconv.SERVER_PORT, port),
                    kv(semconv.NET_TLS, tls),
                ]
            )
        parent = inv.span_id
        for call in calls:
            n += 1
            span = ss.spans.add(
                trace_id=trace_id, span_id=n.to_bytes(8, "big"), parent_span_id=parent, kind=3
            )
            span.name = f"{call.service}.{call.operation}"
            span.start_time_unix_nano = start_ns + i
            span.attributes.extend(
                [
                    kv(semconv.AWS_SERVICE, call.service),
                    kv(semconv.AWS_OPERATION, call.operation),
                    kv(semconv.AWS_PARAMS, call.params),
                    kv(semconv.AWS_COUNT, call.count),
                    *(kv(k, v) for k, v in call.extra),
                ]
            )
    return request


_LISTENING = re.compile(r"listening http=(\S+) grpc=(\S+)")


@dataclass
class ServeProcess:
    """A `lambdaguard serve` subprocess and its addresses."""

    proc: subprocess.Popen[str]
    http_url: str
    grpc_target: str

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def spawn_serve(store_url: str, *extra: str) -> ServeProcess:
    """Start `lambdaguard serve` on ephemeral ports and wait for its listening line."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lambdaguard",
            "serve",
            "--store",
            store_url,
            "--http-port",
            "0",
            "--grpc-port",
            "0",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = _LISTENING.search(line)
    if not match:
        proc.kill()
        raise RuntimeError(f"lambdaguard serve did not start: {line!r}")
    return ServeProcess(proc, match.group(1), match.group(2))


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start `lambdaguard serve` subprocesses; all are stopped at teardown."""
    procs: list[ServeProcess] = []

    def make(store_url: str, *extra: str) -> ServeProcess:
        p = spawn_serve(store_url, *extra)
        procs.append(p)
        return p

    yield make
    for p in procs:
        p.stop()
