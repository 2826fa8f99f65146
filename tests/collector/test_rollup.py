"""Counters rolled up once per interval (PostgreSQL): the same evidence, each increment once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from lambdaguard import semconv
from lambdaguard.collector.spans import extract
from lambdaguard.collector.store import Store, open_store

from .conftest import ARN, Call, trace_request

pytestmark = pytest.mark.postgres

CALLS = (Call(), Call("dynamodb", "PutItem", '{"TableName":"orders"}', count=3))


def _requests(n: int) -> list[Any]:
    return [
        trace_request(
            trace_id=i.to_bytes(16, "big"),
            calls=CALLS,
            invocations=2,
            hosts=(("api.example.com", 443, True),),
            invocation_attrs=((semconv.TRIGGER_KIND, "sqs"),),
            start_ns=1_764_000_000_000_000_000 + i * 10**9,
        )
        for i in range(1, n + 1)
    ]


def _evidence(store: Store) -> tuple[Any, ...]:
    return (
        store.functions(),
        [(c.operation, c.count, c.first_seen, c.last_seen) for c in store.calls()],
        store.hosts(),
        store.invocations(),
        store.triggers(),
        store.durations(),
    )


def _raw_count(url: str, table: str) -> int:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() or 0)
    finally:
        engine.dispose()


def test_deferred_counts_give_the_same_evidence_as_direct_ones(
    pg_database: Callable[[], str],
) -> None:
    """Deferred: the request appends one pending row, counter rows wait; a read rolls up to the same evidence."""
    direct_url, deferred_url = pg_database(), pg_database()
    direct, deferred = open_store(direct_url), open_store(deferred_url)
    deferred.defer_counts = True
    for request in _requests(6):
        facts = extract(request, now_ns=0).spans
        direct.ingest(facts)
        deferred.ingest(facts)
        deferred.ingest(facts)  # a redelivery: counted once either way
    assert _raw_count(deferred_url, "lg_pending_counts") == 6
    assert _raw_count(deferred_url, "lg_calls") == 0
    assert _evidence(deferred) == _evidence(direct)
    assert _raw_count(deferred_url, "lg_pending_counts") == 0
    calls = {c.operation: c.count for c in deferred.calls(ARN)}
    assert calls == {"GetObject": 12, "PutItem": 36}
    direct.close()
    deferred.close()


def test_concurrent_roll_ups_apply_each_increment_once(pg_url: str) -> None:
    """Two stores rolling up the same pending rows at once add each exactly once."""
    writer = open_store(pg_url)
    writer.defer_counts = True
    for request in _requests(30):
        writer.ingest(extract(request, now_ns=0).spans)
    rollers = [open_store(pg_url), open_store(pg_url)]
    barrier = threading.Barrier(2)

    def roll(store: Store) -> None:
        barrier.wait(10)
        for _ in range(20):
            store.roll_up(limit=3)

    threads = [threading.Thread(target=roll, args=(s,)) for s in rollers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    (day,) = writer.invocations(ARN)
    assert day.count == 60
    assert {c.operation: c.count for c in writer.calls(ARN)} == {"GetObject": 60, "PutItem": 180}
    for s in (writer, *rollers):
        s.close()


def test_a_collector_with_a_rollup_interval_serves_exact_totals(
    collector_factory: Any, pg_url: str
) -> None:
    """Through the HTTP receiver with counter_rollup_s: every acknowledged request is in the totals."""
    handle = collector_factory(store_url=pg_url, counter_rollup_s=0.05)
    assert handle.store.defer_counts
    for request in _requests(10):
        response = httpx.post(
            f"{handle.http_url}/v1/traces",
            content=request.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert response.status_code == 200
    reader = open_store(pg_url)
    assert reader.invocations(ARN)[0].count == 20
    reader.close()
