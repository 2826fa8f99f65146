"""The store: aggregation, idempotency, migrations and retention on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from lambdaguard.collector.spans import extract
from lambdaguard.collector.store import SCHEMA_VERSION, open_store
from lambdaguard.errors import StoreError
from timekeeping import FIXED_NOW, Clock

from .conftest import ARN, Call, trace_request

START_NS = int(FIXED_NOW.timestamp()) * 1_000_000_000


def _facts(trace_id: bytes, start_ns: int = START_NS, **kwargs: object):  # type: ignore[no-untyped-def]
    return extract(
        trace_request(trace_id=trace_id, start_ns=start_ns, **kwargs), now_ns=start_ns
    ).spans  # type: ignore[arg-type]


def test_aggregates_counts_and_times(store_url: str, clock: Clock) -> None:
    """Calls, hosts and invocation days are counted per function with first/last seen."""
    store = open_store(store_url)
    facts = _facts(
        b"\x01" * 16,
        start_ns=clock.ns,
        invocations=3,
        calls=[Call(), Call("dynamodb", "Query", '{"TableName":"t"}', count=4)],
        hosts=[("api.example.com", 443, True), ("plain.example.com", 80, False)],
    )
    result = store.ingest(facts, now_ns=clock.ns)
    assert (result.new_spans, result.duplicate_spans) == (9, 0)
    (fn,) = store.functions()
    assert (fn.arn, fn.account, fn.region, fn.name, fn.layer_version) == (
        ARN,
        "123456789012",
        "eu-west-1",
        "orders",
        "0.1.0",
    )
    calls = {(c.service, c.operation): c for c in store.calls(ARN)}
    assert calls["s3", "GetObject"].count == 3
    assert calls["dynamodb", "Query"].count == 12
    assert calls["dynamodb", "Query"].params == {"TableName": "t"}
    assert calls["s3", "GetObject"].first_seen == clock.now
    hosts = {(h.host, h.port, h.tls): h.count for h in store.hosts(ARN)}
    assert hosts == {("api.example.com", 443, True): 3, ("plain.example.com", 80, False): 3}
    (day,) = store.invocations(ARN)
    assert (day.day, day.count, day.cold_starts, day.errors, day.timeouts) == (
        clock.now.date(),
        3,
        1,
        0,
        0,
    )
    store.close()


def test_the_same_batch_twice_changes_nothing(store_url: str) -> None:
    """Redelivered spans (exporter retries, re-batching gateways) are not counted again."""
    store = open_store(store_url)
    facts = _facts(b"\x02" * 16, invocations=2)
    store.ingest(facts)
    before = (store.calls(ARN), store.invocations(ARN), store.stats())
    again = store.ingest(facts)
    assert (again.new_spans, again.duplicate_spans) == (0, len(facts))
    # A gateway re-batching: half old spans, half new ones in one request.
    mixed = list(facts[:2]) + list(_facts(b"\x03" * 16, invocations=1))
    result = store.ingest(mixed)
    assert (result.new_spans, result.duplicate_spans) == (2, 2)
    assert before[0][0].count == 2
    assert store.calls(ARN)[0].count == 3
    assert store.invocations(ARN)[0].count == 3
    store.close()


def test_layer_version_follows_the_latest_span(store_url: str) -> None:
    """The function's layer version is the one on its most recent telemetry."""
    store = open_store(store_url)
    store.ingest(_facts(b"\x04" * 16, layer_version="0.2.0"))
    older = extract(
        trace_request(trace_id=b"\x05" * 16, start_ns=START_NS - 10**12, layer_version="0.1.0"),
        now_ns=START_NS,
    ).spans
    store.ingest(older)
    (fn,) = store.functions()
    assert fn.layer_version == "0.2.0"
    assert fn.first_seen < fn.last_seen
    store.close()


def test_migrate_is_idempotent_and_versioned(store_url: str) -> None:
    """Migrating twice is harmless and records the schema version."""
    store = open_store(store_url, migrate=False)
    assert store.schema_version() == 0
    assert store.migrate() == SCHEMA_VERSION
    assert store.migrate() == SCHEMA_VERSION
    assert store.schema_version() == SCHEMA_VERSION
    store.close()


def test_a_newer_schema_is_refused(store_url: str) -> None:
    """A store migrated by a newer lambdaguard is not silently written by an older one."""
    store = open_store(store_url)
    with sa.create_engine(
        store_url.replace("postgresql://", "postgresql+psycopg://")
    ).begin() as conn:
        conn.execute(
            sa.text("INSERT INTO lg_schema_version VALUES (:v, 0)"), {"v": SCHEMA_VERSION + 1}
        )
    with pytest.raises(StoreError, match="newer"):
        store.migrate()
    store.close()


def test_prune_deletes_only_old_data(store_url: str, clock: Clock) -> None:
    """prune removes rows last seen before the cut-off and keeps newer ones."""
    store = open_store(store_url)
    # Every write names its own clock: the test must hold whatever today's date is.
    store.ingest(_facts(b"\x06" * 16, start_ns=clock.ns, invocations=1), now_ns=clock.ns)
    old = extract(
        trace_request(
            trace_id=b"\x07" * 16,
            arn=ARN.replace("orders", "legacy"),
            start_ns=clock.ns_ago(days=40),
        ),
        now_ns=clock.ns,
    ).spans
    store.ingest(old, now_ns=clock.ns_ago(days=40))
    removed = store.prune(30 * 86400, now=clock.now)
    assert removed["functions"] == 1
    assert removed["calls"] == 1
    assert removed["invocation_days"] == 1
    assert removed["span_keys"] == 2
    assert [f.name for f in store.functions()] == ["orders"]
    assert store.calls(ARN)[0].count == 1
    assert store.prune_span_keys(3600, now=clock.now + timedelta(hours=2), chunk=1) == 2
    assert store.stats().span_keys == 0
    store.close()


def test_unknown_store_urls_are_store_errors() -> None:
    """A URL for an unsupported backend is a StoreError naming the accepted schemes."""
    with pytest.raises(StoreError, match="sqlite"):
        open_store("mysql://localhost/x")
    with pytest.raises(StoreError):
        open_store("::not a url::")


def test_sqlite_upserts_in_driver_sql_write_what_sqlalchemy_writes(tmp_path: object) -> None:
    """The upserts SQLite runs as pre-compiled driver SQL leave every table as SQLAlchemy's do."""
    from lambdaguard import semconv
    from lambdaguard.collector.store import _TABLES

    fast = open_store(f"sqlite:///{tmp_path}/fast.db")
    slow = open_store(f"sqlite:///{tmp_path}/slow.db")
    assert fast._driver  # the path under test is in use
    slow._driver = {}
    groups = [
        [
            _facts(
                bytes([n + 1]) * 16,
                start_ns=START_NS + n * 86_400 * 10**9,
                invocations=2 + n,
                calls=[Call(), Call("dynamodb", "Query", '{"TableName":"t"}', count=n + 1)],
                hosts=[("api.example.com", 443, True)],
                layer_version=f"0.{n}.0",
                invocation_attrs=[
                    (semconv.TRIGGER_KIND, "sqs"),
                    (semconv.INVOCATION_DURATION_MS, 12.5),
                    (semconv.INVOCATION_OUTCOME, (semconv.OUTCOME_ERROR, "timeout", "ok")[n % 3]),
                ],
            )
            for n in range(3)
        ],
        [_facts(b"\x01" * 16), _facts(b"\x09" * 16, calls=[Call(count=7)])],
        # An empty layer version or runtime never replaces a known one.
        [
            _facts(
                b"\x0a" * 16,
                start_ns=START_NS + 9 * 86_400 * 10**9,
                layer_version="",
                resource_attrs=[(semconv.FUNCTION_RUNTIME, "python3.12")],
            ),
            _facts(b"\x0b" * 16, start_ns=START_NS + 10 * 86_400 * 10**9, layer_version=""),
        ],
    ]
    for group in groups:
        assert fast.ingest_many(group) == slow.ingest_many(group)
    for table in _TABLES:
        query = sa.select(table).order_by(*table.primary_key.columns)
        with fast._engine.connect() as a, slow._engine.connect() as b:
            assert list(a.execute(query)) == list(b.execute(query)), table.name
    fast.close()
    slow.close()


def test_a_group_sums_the_same_calls_of_its_requests(store_url: str) -> None:
    """Two requests committed together with the same calls add up exactly, each acknowledged in full."""
    store = open_store(store_url)
    calls = [Call(), Call("dynamodb", "Query", '{"TableName":"t"}', count=4)]
    hosts = [("api.example.com", 443, True)]
    a = _facts(b"\x01" * 16, invocations=2, calls=calls, hosts=hosts)
    b = _facts(b"\x02" * 16, start_ns=START_NS + 10, invocations=3, calls=calls, hosts=hosts)
    first, second = store.ingest_many([a, b], now_ns=START_NS)
    assert (first.new_spans, first.duplicate_spans) == (len(a), 0)
    assert (second.new_spans, second.duplicate_spans) == (len(b), 0)
    counted = {(c.service, c.operation): c for c in store.calls(ARN)}
    assert counted["s3", "GetObject"].count == 5
    assert counted["dynamodb", "Query"].count == 20
    assert counted["s3", "GetObject"].first_seen == store.functions()[0].first_seen
    assert [h.count for h in store.hosts(ARN)] == [5]
    (day,) = store.invocations(ARN)
    assert (day.count, day.cold_starts) == (5, 2)
    assert store.stats().span_keys == len(a) + len(b)
    store.close()


def test_a_resend_in_the_same_group_counts_once(store_url: str) -> None:
    """A body resent within one group, or partly repeated across groups, counts each span once."""
    store = open_store(store_url)
    a = _facts(b"\x01" * 16, invocations=2)
    new = _facts(b"\x02" * 16)
    partly = (*a[:3], *new)  # three spans of a again, with a new trace
    first, again, mixed = store.ingest_many([a, a, partly], now_ns=START_NS)
    assert (first.new_spans, first.duplicate_spans) == (len(a), 0)
    assert (again.new_spans, again.duplicate_spans) == (0, len(a))
    assert again.duplicate_keys == {f.key for f in a}
    assert (mixed.new_spans, mixed.duplicate_spans) == (len(new), 3)
    # Some keys already stored, some not: only the new ones count.
    later = _facts(b"\x03" * 16)
    fresh, old = store.ingest_many([later, a], now_ns=START_NS)
    assert (fresh.new_spans, fresh.duplicate_spans) == (len(later), 0)
    assert (old.new_spans, old.duplicate_spans) == (0, len(a))
    (call,) = store.calls(ARN)
    assert call.count == 4  # a's two invocations, new's and later's one each
    (day,) = store.invocations(ARN)
    assert day.count == 4
    assert store.stats().span_keys == len(a) + len(new) + len(later)
    store.close()


def test_a_group_writes_what_its_requests_write_one_by_one(tmp_path: object) -> None:
    """Summing alike call spans across a group leaves every table as committing each request alone."""
    from lambdaguard import semconv
    from lambdaguard.collector.store import _TABLES

    other = "arn:aws:lambda:eu-west-1:123456789012:function:billing"
    requests = [
        _facts(
            bytes([n + 1]) * 16,
            arn=(ARN, other)[n % 2],
            start_ns=START_NS + (7 - n) * 1000,  # later requests carry earlier spans
            invocations=1 + n % 3,
            calls=[Call(), Call("dynamodb", "Query", '{"TableName":"t"}', count=n + 1), Call()],
            hosts=[("api.example.com", 443, True)] if n % 2 else [],
            layer_version=f"0.{n % 3}.0",
            invocation_attrs=[(semconv.INVOCATION_OUTCOME, (semconv.OUTCOME_ERROR, "ok")[n % 2])],
        )
        for n in range(8)
    ]
    together = open_store(f"sqlite:///{tmp_path}/together.db")
    alone = open_store(f"sqlite:///{tmp_path}/alone.db")
    together.ingest_many(requests, now_ns=START_NS)
    for request in requests:
        alone.ingest(request, now_ns=START_NS)
    for table in _TABLES:
        columns = [c for c in table.columns if c.name not in ("trace_id", "span_id")]
        query = sa.select(*columns).order_by(*table.primary_key.columns)
        with together._engine.connect() as a, alone._engine.connect() as b:
            assert list(a.execute(query)) == list(b.execute(query)), table.name
    together.close()
    alone.close()
