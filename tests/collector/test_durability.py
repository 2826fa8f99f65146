"""Crash safety and multi-writer correctness with real `lambdaguard serve` processes."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from lambdaguard.collector.store import open_store

from .conftest import ARN, Call, trace_request

PROTOBUF = {"Content-Type": "application/x-protobuf"}
CALLS = (Call(), Call("dynamodb", "PutItem", '{"TableName":"orders"}', count=2))


def _request(i: int) -> bytes:
    return trace_request(
        trace_id=i.to_bytes(16, "big"),
        invocations=3,
        calls=CALLS,
        hosts=[("api.example.com", 443, True)],
    ).SerializeToString()


def _span_keys(url: str) -> set[bytes]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        keys = {bytes(r[0]) for r in conn.execute(sa.text("SELECT key FROM lg_span_keys"))}
    engine.dispose()
    return keys


def test_sigkill_loses_nothing_acknowledged(serve: Any, sqlite_url: str) -> None:
    """Every request answered 200 before a SIGKILL is in the store afterwards, counted once."""
    proc = serve(sqlite_url)
    acked: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()
    counter = iter(range(1, 1_000_000))

    def sender() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                with lock:
                    i = next(counter)
                try:
                    response = client.post(
                        f"{proc.http_url}/v1/traces", content=_request(i), headers=PROTOBUF
                    )
                except httpx.HTTPError:
                    return
                if response.status_code == 200:
                    with lock:
                        acked.append(i)

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 60 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.proc.kill()  # SIGKILL, mid-stream: other requests are in flight
    proc.proc.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) >= 60
    keys = _span_keys(sqlite_url)
    for i in acked:
        trace = i.to_bytes(16, "big")
        # 3 invocation spans + 2 call spans each = 9 spans per request
        assert sum(1 for k in keys if k[:16] == trace) == 9, f"request {i} acknowledged but lost"
    store = open_store(sqlite_url)
    stored_requests = len({k[:16] for k in keys})
    assert stored_requests >= len(acked)
    (day,) = store.invocations(ARN)
    assert day.count == 3 * stored_requests  # nothing half-stored, nothing doubled
    store.close()


def test_two_collectors_on_one_store_lose_no_update(serve: Any, store_url: str) -> None:
    """Two `lambdaguard serve` processes writing one store (PostgreSQL, or SQLite on one host)
    give exact totals, even when every batch is delivered to both of them at once."""
    open_store(store_url).close()  # migrate once so both start on the same schema
    procs = [serve(store_url), serve(store_url)]
    requests = 40
    unique = range(1, requests + 1)

    def deliver(i: int) -> None:
        body = _request(i)
        # Every batch goes to both collectors (a retry through a load balancer),
        # and half of them twice to the same one.
        targets = [procs[0], procs[1]] + ([procs[i % 2]] if i % 2 else [])
        with httpx.Client(timeout=30) as client:
            for p in targets:
                for _attempt in range(20):
                    response = client.post(
                        f"{p.http_url}/v1/traces", content=body, headers=PROTOBUF
                    )
                    if response.status_code == 200:
                        break
                    assert response.status_code in (429, 503), response.text
                    time.sleep(0.05)
                else:
                    pytest.fail(f"request {i} never accepted by {p.http_url}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(deliver, unique))

    store = open_store(store_url)
    calls = {(c.service, c.operation): c.count for c in store.calls(ARN)}
    assert calls == {("s3", "GetObject"): 3 * requests, ("dynamodb", "PutItem"): 2 * 3 * requests}
    (host,) = store.hosts(ARN)
    assert host.count == 3 * requests
    (day,) = store.invocations(ARN)
    assert (day.count, day.cold_starts) == (3 * requests, requests)
    assert store.stats().span_keys == 9 * requests
    store.close()


def test_a_request_that_stopped_waiting_does_not_stop_the_writer() -> None:
    """A request whose wait timed out (its future cancelled) is skipped; later ones still commit."""
    from lambdaguard.collector.commit import GroupCommitter
    from lambdaguard.collector.store import IngestResult

    entered = threading.Event()
    release = threading.Event()

    class SlowStore:
        def ingest_many(self, requests: Any) -> list[IngestResult]:
            entered.set()
            release.wait(10)
            return [IngestResult(len(r), 0) for r in requests]

        def ping(self) -> bool:
            return True

    committer = GroupCommitter(SlowStore())  # type: ignore[arg-type]
    try:
        first = committer.submit(["a"])  # type: ignore[list-item]
        assert entered.wait(5)  # the writer holds it, in the slow transaction
        gave_up = committer.submit(["b"])  # type: ignore[list-item]
        assert gave_up.cancel()  # what the HTTP receiver's timeout does to a waiting request
        assert not first.cancel()  # one in a transaction can no longer be cancelled
        release.set()
        assert first.result(5) == IngestResult(1, 0)
        later = committer.submit(["c"])  # type: ignore[list-item]
        assert later.result(5) == IngestResult(1, 0)
    finally:
        release.set()
        committer.close()
