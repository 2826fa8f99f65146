"""Evidence-mode metrics become the rows spans make, each cumulative increase counted once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from lambdaguard import semconv
from lambdaguard.agent import config as agent_config
from lambdaguard.agent import export
from lambdaguard.agent.ledger import Ledger
from lambdaguard.agent.recorder import AwsCall, Connection, Record, Trigger
from lambdaguard.collector.metrics import extract_metrics, store_buckets
from lambdaguard.collector.spans import call_key, duration_bucket, extract
from lambdaguard.collector.store import Store, open_store

ARN = "arn:aws:lambda:eu-west-1:123456789012:function:orders"
T0 = 1_900_000_000 * 10**9  # a fixed instant, never today
S = 10**9


class Clock:
    """A hand-moved clock."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A fresh store on each backend."""
    opened = open_store(store_url)
    yield opened
    opened.close()


def _call(operation: str = "GetObject", params: str = '{"Bucket":"orders","Key":"in/"}') -> AwsCall:
    return AwsCall(
        service="s3",
        service_id="S3",
        operation=operation,
        region="eu-west-1",
        endpoint="https://s3.eu-west-1.amazonaws.com",
        params=params,
        start_ns=T0,
        end_ns=T0 + 3_000_000,
        status=200,
        request_id="abc",
    )


def _record(*calls: AwsCall, outcome: str = semconv.OUTCOME_SUCCESS, ms: float = 20.0) -> Record:
    return Record(
        phase=semconv.PHASE_INVOKE,
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        start_ns=T0,
        end_ns=T0 + int(ms * 1e6),
        request_id="req",
        function_name="orders",
        function_arn=ARN,
        version="7",
        trigger=Trigger(
            kind="sqs", source="arn:aws:sqs:eu-west-1:123456789012:in", faas_trigger="pubsub"
        ),
        outcome=outcome,
        error_type="KeyError" if outcome == semconv.OUTCOME_ERROR else "",
        aws_calls=calls,
        connections=(Connection("api.example.com", 443, True, False, 1, 0),),
    )


CONFIG = agent_config.Config(enabled=True, service_name="orders")


def _metrics_request(ledger: Ledger, described: Record) -> ExportMetricsServiceRequest:
    body = export.encode_metrics(CONFIG, ledger.snapshot(), described)
    request = ExportMetricsServiceRequest()
    request.ParseFromString(body)
    return request


def _ingest(store: Store, request: ExportMetricsServiceRequest, now_ns: int = T0) -> Any:
    facts = extract_metrics(request, now_ns)
    return facts, store.ingest_metrics(facts.points, now_ns=now_ns)


def test_repeat_counts_become_rows_and_a_resend_adds_nothing(store: Store) -> None:
    """Counted repeats add to calls, hosts, invocations, triggers, versions; the same request again adds 0."""
    clock = Clock()
    ledger = Ledger(60, 100, clock=clock, start_ns=T0 - 5 * S)
    first = _record(_call())
    ledger.count([first], in_spans=True)  # exported as spans: not the collector's to add
    for _ in range(9):
        ledger.count([_record(_call(), _call())], in_spans=False)
    request = _metrics_request(ledger, first)
    facts, result = _ingest(store, request)
    assert facts.rejected == 0
    assert result.applied > 0
    (day,) = store.invocations(ARN)
    assert (day.count, day.cold_starts, day.errors, day.timeouts) == (9, 0, 0, 0)
    (call,) = store.calls(ARN)
    assert (call.operation, call.count, dict(call.params)) == (
        "GetObject",
        18,
        {"Bucket": "orders", "Key": "in/"},
    )
    (host,) = store.hosts(ARN)
    assert (host.host, host.count) == ("api.example.com", 9)
    assert [(t.kind, t.count) for t in store.triggers(ARN)] == [("sqs", 9)]
    assert [(v.version, v.count) for v in store.versions(ARN)] == [("7", 9)]
    assert sum(d.count for d in store.durations(ARN)) == 9
    # The very same request again (an exporter retry): nothing changes.
    _, again = _ingest(store, request)
    assert (again.applied, again.increments) == (0, 0)
    assert store.invocations(ARN)[0].count == 9
    assert store.calls(ARN)[0].count == 18
    # A later flush: only the increase counts.
    ledger.count([_record(_call(), outcome=semconv.OUTCOME_ERROR)], in_spans=False)
    clock.now += 60 * S
    _ingest(store, _metrics_request(ledger, first))
    (day,) = store.invocations(ARN)
    assert (day.count, day.errors) == (10, 1)
    assert store.calls(ARN)[0].count == 19
    assert [(e.error_type, e.count) for e in store.errors(ARN)] == [("KeyError", 1)]


def test_a_call_span_and_its_counter_make_one_row(store: Store) -> None:
    """The call a span carries and the call its metric series names have the same store key."""
    call = _call(params='{"Bucket":"orders","Key":"in/","VersionId":"*"}')
    record = _record(call)
    traces = ExportTraceServiceRequest()
    traces.ParseFromString(export.encode(CONFIG, [record]))
    span_calls = [f.call for f in extract(traces, now_ns=T0).spans if f.call is not None]
    ledger = Ledger(60, 100, clock=Clock())
    ledger.count([record], in_spans=False)
    points = extract_metrics(_metrics_request(ledger, record), T0).points
    metric_calls = [p.target for p in points if hasattr(p.target, "operation")]
    assert [call_key(c) for c in span_calls] == [call_key(c) for c in metric_calls]  # type: ignore[arg-type]


def test_a_new_start_time_counts_whole_and_an_older_one_nothing(store: Store) -> None:
    """A series restarted (later start) adds its whole value; a point of an earlier run is stale."""
    ledger = Ledger(60, 100, clock=Clock(), start_ns=T0)
    for _ in range(3):
        ledger.count([_record()], in_spans=False)
    request = _metrics_request(ledger, _record())
    _ingest(store, request)
    restarted = ExportMetricsServiceRequest()
    restarted.CopyFrom(request)
    old = ExportMetricsServiceRequest()
    old.CopyFrom(request)
    for req, start in ((restarted, T0 + S), (old, T0 - S)):
        for metric in req.resource_metrics[0].scope_metrics[0].metrics:
            data = getattr(metric, metric.WhichOneof("data"))
            for point in data.data_points:
                point.start_time_unix_nano = start
    _ingest(store, restarted)
    assert store.invocations(ARN)[0].count == 6
    _ingest(store, old)
    assert store.invocations(ARN)[0].count == 6


def test_counts_already_carried_by_spans_and_foreign_metrics_store_nothing(store: Store) -> None:
    """counted_in_spans=true series, another scope's metrics and delta sums add no rows."""
    ledger = Ledger(60, 100, clock=Clock())
    ledger.count([_record(_call())], in_spans=True)
    request = _metrics_request(ledger, _record())
    facts, _ = _ingest(store, request)
    assert facts.data_points > 0
    assert facts.points == ()
    foreign = ExportMetricsServiceRequest()
    ledger2 = Ledger(60, 100, clock=Clock())
    ledger2.count([_record(_call())], in_spans=False)
    foreign.CopyFrom(_metrics_request(ledger2, _record()))
    foreign.resource_metrics[0].scope_metrics[0].scope.name = "someone.else"
    assert extract_metrics(foreign, T0).points == ()
    delta = ExportMetricsServiceRequest()
    delta.CopyFrom(_metrics_request(ledger2, _record()))
    for metric in delta.resource_metrics[0].scope_metrics[0].metrics:
        getattr(metric, metric.WhichOneof("data")).aggregation_temporality = 1
    assert extract_metrics(delta, T0).points == ()
    assert store.invocations(ARN) == []


def test_unusable_points_are_rejected_with_a_reason(store: Store) -> None:
    """A double-valued or negative count is rejected (partial success), the rest is kept."""
    ledger = Ledger(60, 100, clock=Clock())
    ledger.count([_record(_call())], in_spans=False)
    request = _metrics_request(ledger, _record())
    metrics = request.resource_metrics[0].scope_metrics[0].metrics
    invocations = next(m for m in metrics if m.name == semconv.METRIC_INVOCATIONS)
    invocations.sum.data_points[0].as_double = 1.5
    calls = next(m for m in metrics if m.name == semconv.METRIC_AWS_CALLS)
    calls.sum.data_points[0].as_int = -3
    facts, _ = _ingest(store, request)
    assert facts.rejected == 2
    assert "must be integers" in facts.reject_reason
    assert "is not a count" in facts.reject_reason
    assert [h.host for h in store.hosts(ARN)] == ["api.example.com"]


def test_duration_buckets_land_near_the_durations() -> None:
    """A duration's exponential bucket maps to the store bucket of (about) that duration."""
    for ms in (0.5, 12.0, 250.0, 4_000.0):
        ledger = Ledger(60, 100, clock=Clock())
        ledger.count([_record(ms=ms)], in_spans=False)
        (histogram,) = [h for _, _, h in ledger.snapshot().durations]
        offset, counts = histogram.dense()
        (bucket,) = store_buckets(4, offset, counts, 0)
        assert abs(bucket - duration_bucket(ms)) <= 1


@pytest.mark.postgres
def test_two_writers_applying_the_same_flush_count_it_once(pg_url: str) -> None:
    """Two collectors storing the same cumulative point at once add it once (PostgreSQL)."""
    stores = [open_store(pg_url), open_store(pg_url)]
    ledger = Ledger(60, 100, clock=Clock())
    for _ in range(5):
        ledger.count([_record(_call())], in_spans=False)
    request = _metrics_request(ledger, _record())
    points = extract_metrics(request, T0).points
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(store: Store) -> None:
        try:
            barrier.wait(10)
            store.ingest_metrics(points, now_ns=T0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert stores[0].invocations(ARN)[0].count == 5
    assert stores[0].calls(ARN)[0].count == 5
    for s in stores:
        s.close()
