"""The evidence ledger: which facts are new, what is counted, when counts are due (injected clock)."""

from __future__ import annotations

import math

import pytest

from lambdaguard import semconv
from lambdaguard.agent import ledger as ledger_module
from lambdaguard.agent.ledger import Histogram, Ledger, call_fact, duration_index
from lambdaguard.agent.recorder import AwsCall, Connection, Record, Trigger

T0 = 1_900_000_000 * 10**9  # a fixed instant; nothing here reads the real clock
S = 10**9


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def call(params: str = '{"QueueUrl":"q"}', *, error: str = "", request_id: str = "r1") -> AwsCall:
    return AwsCall(
        service="sqs",
        service_id="SQS",
        operation="SendMessage",
        region="us-east-1",
        endpoint="https://sqs.us-east-1.amazonaws.com",
        params=params,
        start_ns=T0,
        end_ns=T0 + 5_000_000,
        status=400 if error else 200,
        request_id=request_id,
        error_code=error,
        retries=1,
    )


def invocation(
    *calls: AwsCall, outcome: str = semconv.OUTCOME_SUCCESS, cold: bool = False
) -> Record:
    return Record(
        phase=semconv.PHASE_INVOKE,
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        start_ns=T0,
        end_ns=T0 + 20_000_000,
        request_id="req",
        function_name="orders",
        cold_start=cold,
        trigger=Trigger(kind="sqs", source="arn:aws:sqs:us-east-1:123456789012:q"),
        outcome=outcome,
        error_type="KeyError" if outcome == semconv.OUTCOME_ERROR else "",
        aws_calls=calls,
        connections=(Connection("api.example.com", 443, True, False, 2, 1),),
    )


def test_a_call_fact_ignores_what_differs_per_occurrence() -> None:
    """Times, status, request id, retries and count are not part of a call's fact."""
    one, two = call(request_id="a"), call(request_id="b")._replace(start_ns=1, end_ns=9, count=3)
    assert call_fact(one, "invoke") == call_fact(two, "invoke")
    assert call_fact(one, "invoke") != call_fact(one, "init")
    assert call_fact(one, "invoke") != call_fact(call(error="AccessDenied"), "invoke")


def test_facts_are_new_until_remembered() -> None:
    """A record's facts are new until remembered; repeats then hold nothing new."""
    ledger = Ledger(60, 100, clock=Clock())
    first = invocation(call())
    new = ledger.new_facts([first])
    kinds = sorted(fact[0] for fact in new)
    assert kinds == ["call", "host", "invocation"]
    ledger.remember(new)
    assert ledger.new_facts([invocation(call(request_id="other"))]) == []
    changed = ledger.new_facts([invocation(call('{"QueueUrl":"other"}'))])
    assert [fact[0] for fact in changed] == ["call"]
    errored = ledger.new_facts([invocation(call(), outcome=semconv.OUTCOME_ERROR)])
    assert [fact[0] for fact in errored] == ["invocation"]


def test_remembering_stops_at_max_facts() -> None:
    """Beyond max_facts a fact is not remembered, so it stays new (exported, never dropped)."""
    ledger = Ledger(60, 2, clock=Clock())
    facts = ledger.new_facts([invocation(call())])
    ledger.remember(facts)
    assert ledger.known == 2
    assert len(ledger.new_facts([invocation(call())])) == 1


def test_counts_split_by_whether_spans_carried_them() -> None:
    """Counts of exported invocations and of repeats are separate series, both cumulative."""
    clock = Clock()
    ledger = Ledger(60, 100, clock=clock)
    ledger.count([invocation(call(), cold=True)], in_spans=True)
    for _ in range(4):
        ledger.count([invocation(call(), call())], in_spans=False)
    snap = ledger.snapshot()
    calls = {in_spans: n for _, in_spans, n in snap.calls}
    assert calls == {True: 1, False: 8}
    invocations = {in_spans: n for _, in_spans, n in snap.invocations}
    assert invocations == {True: 1, False: 4}
    assert [(t, flag, n) for t, flag, n in snap.coldstarts] == [("other", True, 1)]
    hosts = {in_spans: (opened, failed) for _, in_spans, opened, failed in snap.hosts}
    assert hosts == {True: (2, 1), False: (8, 4)}
    histograms = {in_spans: h.count for _, in_spans, h in snap.durations}
    assert histograms == {True: 1, False: 4}
    assert snap.start_ns == T0


def test_flush_is_due_only_after_the_interval_and_only_with_changes() -> None:
    """Nothing is due before the interval; after it, only when counts changed since the last flush."""
    clock = Clock()
    ledger = Ledger(60, 100, clock=clock)
    ledger.count([invocation(call())], in_spans=False)
    clock.now += 59 * S
    assert not ledger.due()
    clock.now += 1 * S
    assert ledger.due()
    snap = ledger.snapshot()
    ledger.flushed(snap, ok=True)
    clock.now += 120 * S
    assert not ledger.due()  # nothing counted since
    ledger.count([invocation(call())], in_spans=False)
    assert ledger.due()
    again = ledger.snapshot()
    assert {in_spans: n for _, in_spans, n in again.invocations} == {False: 2}
    assert again.start_ns == snap.start_ns  # stable for the environment's life


def test_a_failed_flush_keeps_its_series_for_the_next_interval() -> None:
    """After a failed flush the same series go again, one interval later, with newer totals."""
    clock = Clock()
    ledger = Ledger(10, 100, clock=clock)
    ledger.count([invocation(call())], in_spans=False)
    clock.now += 10 * S
    failed = ledger.snapshot()
    ledger.flushed(failed, ok=False)
    assert ledger.failed_flushes == 1
    assert not ledger.due()  # the collector is not asked again at once
    clock.now += 10 * S
    assert ledger.due()
    retried = ledger.snapshot()
    assert {k for k, _, _ in retried.calls} == {k for k, _, _ in failed.calls}


def test_interval_zero_flushes_every_time_something_changed() -> None:
    """LAMBDAGUARD_FLUSH_INTERVAL=0: due after every count."""
    ledger = Ledger(0, 100, clock=Clock())
    assert not ledger.due()
    ledger.count([invocation()], in_spans=False)
    assert ledger.due()


@pytest.mark.parametrize("seconds", [0.0001, 0.0123, 0.5, 1.0, 1.04, 3.7, 899.0])
def test_duration_buckets_hold_their_values(seconds: float) -> None:
    """Bucket i holds (2**(i/16), 2**((i+1)/16)] seconds."""
    i = duration_index(seconds)
    assert 2 ** (i / 16) < seconds <= 2 ** ((i + 1) / 16) * (1 + 1e-12)


def test_histogram_dense_range() -> None:
    """The dense form spans the populated buckets with zeros between."""
    histogram = Histogram()
    for value in (0.010, 0.010, 0.100, 0.0):
        histogram.add(value)
    offset, counts = histogram.dense()
    assert offset == duration_index(0.010)
    assert (counts[0], counts[-1], sum(counts)) == (2, 1, 3)
    assert (histogram.zero, histogram.count) == (1, 4)
    assert math.isclose(histogram.total, 0.12)


def _counted_each(records: list[Record]) -> Ledger:
    ledger = Ledger(60, 100, clock=Clock())
    for record in records:
        ledger.count([record], in_spans=False)
    return ledger


def _series(ledger: Ledger) -> tuple[object, ...]:
    snap = ledger.snapshot()
    durations = tuple(
        (t, flag, h.count, h.total, h.zero, h.dense()) for t, flag, h in snap.durations
    )
    return (snap.calls, snap.hosts, snap.invocations, snap.coldstarts, durations)


@pytest.mark.parametrize(
    "record",
    [
        invocation(call(), call(error="Throttling")),
        invocation(call()._replace(count=3), outcome=semconv.OUTCOME_ERROR),
        invocation(),
    ],
    ids=["two-calls-one-failed", "counted-call-and-an-error", "no-calls"],
)
@pytest.mark.parametrize("pending_durations", [1024, 2], ids=["kept-until-read", "bound-reached"])
def test_repeats_counted_by_signature_total_what_counting_each_would(
    record: Record, pending_durations: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """learn_repeat + repeat() make the same series as count() on every record, durations
    included, whether a repeat's duration waits for the read or the bound adds it earlier."""
    monkeypatch.setattr(ledger_module, "_MAX_PENDING_DURATIONS", pending_durations)
    durations = [0.02, 0.5, 0.0, 3.25, 0.02, 0.7, 1e-4]
    records = [record._replace(end_ns=T0 + int(d * S)) for d in durations]
    expected = _series(_counted_each(records))

    ledger = Ledger(60, 100, clock=Clock())
    first, *rest = records
    ledger.count([first], in_spans=False)
    signature = ("the", "signature")
    calls = [call_fact(c, first.phase) for c in first.aws_calls]
    assert ledger.learn_repeat(signature, first, calls) is not None
    for repeat in rest:
        assert ledger.repeat(signature, (repeat.end_ns - repeat.start_ns) / 1e9) is not None
    assert _series(ledger) == expected
    assert ledger.repeat(("another",), 0.1) is None  # never learnt: the full path decides


def test_repeats_make_the_flush_due_and_are_not_counted_twice() -> None:
    """Repeats alone make a flush due; after a flush, only what was repeated since is added."""
    clock = Clock()
    ledger = Ledger(60, 100, clock=clock)
    first = invocation(call())
    ledger.count([first], in_spans=False)
    ledger.learn_repeat(("sig",), first, [call_fact(c, first.phase) for c in first.aws_calls])
    ledger.flushed(ledger.snapshot(), True)
    clock.now += 61 * S
    assert not ledger.due()  # nothing changed since the flush
    ledger.repeat(("sig",), 0.01)
    assert ledger.due()
    snap = ledger.snapshot()
    assert [n for _, _, n in snap.invocations] == [2]
    ledger.flushed(snap, True)
    assert not ledger.due()
    ledger.repeat(("sig",), 0.01)
    assert [n for _, _, n in ledger.snapshot().invocations] == [3]


def test_a_cold_start_is_never_learnt_as_a_repeat() -> None:
    """The first invocation counts a cold start; a repeat must never count another."""
    ledger = Ledger(60, 100, clock=Clock())
    cold = invocation(call(), cold=True)
    ledger.count([cold], in_spans=False)
    assert (
        ledger.learn_repeat(("sig",), cold, [call_fact(c, cold.phase) for c in cold.aws_calls])
        is None
    )
