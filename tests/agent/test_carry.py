"""A failed export's records are kept, bounded, and go out with the next export."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdaguard import instrument, semconv
from lambdaguard.agent import _agent, export, flush

from .conftest import Context, Sink, attributes


def decode(body: bytes) -> list[tuple[str, bytes, bytes]]:
    """(invocation id or span name, trace id, span id) of every span in one OTLP body."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    out = []
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                attrs = attributes(span.attributes)
                out.append(
                    (
                        str(attrs.get(semconv.FAAS_INVOCATION_ID, span.name)),
                        span.trace_id,
                        span.span_id,
                    )
                )
    return out


def invoke(wrapped: Callable[[Any, Any], Any], request_id: str) -> None:
    """One invocation, then wait until its export attempt is over."""
    assert wrapped({}, Context(request_id)) == "ok"
    assert flush(10_000)


def agent() -> _agent.Agent:
    """The installed agent."""
    current = _agent.current()
    assert current is not None
    return current


def test_503_then_200_sends_both_invocations_in_the_second_export(
    enable: Callable[..., None], sink: Sink
) -> None:
    """Invocation 1's export gets 503; invocation 2's export carries both, with the same span ids."""
    enable()
    wrapped = instrument(lambda event, context: "ok")
    sink.status = 503
    invoke(wrapped, "req-1")
    assert agent().backlog.kept_records == 2  # the init record and invocation 1
    sink.status = 200
    invoke(wrapped, "req-2")
    first, second = sink.bodies
    assert [name for name, _, _ in decode(first)] == [semconv.INIT_SPAN_NAME, "req-1"]
    assert [name for name, _, _ in decode(second)] == [semconv.INIT_SPAN_NAME, "req-1", "req-2"]
    # The resend is the failed request's very bytes: same trace and span ids,
    # so a collector that did receive it deduplicates.
    assert second.startswith(first)
    assert decode(second)[:2] == decode(first)
    assert agent().backlog.kept_records == 0
    assert agent().backlog.dropped == 0
    invoke(wrapped, "req-3")
    assert [name for name, _, _ in decode(sink.bodies[2])] == ["req-3"]


def test_a_refused_request_is_not_kept(enable: Callable[..., None], sink: Sink) -> None:
    """A 400 (the request itself refused) is dropped and counted, not resent with the next export."""
    enable()
    wrapped = instrument(lambda event, context: "ok")
    sink.status = 400
    invoke(wrapped, "req-1")
    sink.status = 200
    invoke(wrapped, "req-2")
    assert [name for name, _, _ in decode(sink.bodies[1])] == ["req-2"]
    assert agent().backlog.dropped == 2


@pytest.mark.parametrize(
    ("variable", "bound"), [("LAMBDAGUARD_CARRY_RECORDS", 3), ("LAMBDAGUARD_CARRY_BYTES", 2000)]
)
def test_endpoint_always_down_keeps_memory_bounded(
    enable: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    bound: int,
) -> None:
    """With the collector down for good, kept records and bytes never exceed their bounds; the rest are counted."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{s.getsockname()[1]}"
    enable(**{variable: str(bound)})
    monkeypatch.setenv("LAMBDAGUARD_ENDPOINT", down)
    wrapped = instrument(lambda event, context: "ok")
    backlog = agent().backlog
    for n in range(12):
        invoke(wrapped, f"req-{n}")
        if variable == "LAMBDAGUARD_CARRY_RECORDS":
            assert backlog.kept_records <= bound
        else:
            assert backlog.kept_bytes <= bound
        assert backlog.kept_records >= 1  # the newest export always fits either bound
        # Every record is either still kept or counted as dropped: 12 invocations + init.
        assert backlog.kept_records + backlog.dropped == n + 2
    assert backlog.dropped > 0
    assert "could not be exported and were dropped" in capsys.readouterr().err


def test_carry_over_can_be_turned_off(enable: Callable[..., None], sink: Sink) -> None:
    """LAMBDAGUARD_CARRY_RECORDS=0: a failed export's records are dropped at once."""
    enable(LAMBDAGUARD_CARRY_RECORDS="0")
    wrapped = instrument(lambda event, context: "ok")
    sink.status = 503
    invoke(wrapped, "req-1")
    sink.status = 200
    invoke(wrapped, "req-2")
    assert [name for name, _, _ in decode(sink.bodies[1])] == ["req-2"]
    assert agent().backlog.dropped == 2


@given(
    st.integers(min_value=0, max_value=6),
    st.integers(min_value=0, max_value=60),
    st.lists(st.lists(st.tuples(st.integers(0, 20), st.integers(1, 3)), max_size=3), max_size=12),
)
def test_backlog_bounds_and_accounting(
    max_records: int, max_bytes: int, rounds: list[list[tuple[int, int]]]
) -> None:
    """Whatever is kept, the bounds hold, the oldest go first, and kept + dropped = everything offered."""
    backlog = export.Backlog(max_records, max_bytes)
    offered = 0
    serial = 0
    for entries in rounds:
        bodies = []
        for size, records in entries:
            bodies.append((bytes([serial % 256]) * size + serial.to_bytes(4, "big"), records))
            serial += 1
        offered += sum(n for _, n in bodies)
        held = backlog.take()
        backlog.keep([*held, *bodies])
        assert backlog.kept_records <= max_records
        assert backlog.kept_bytes <= max_bytes
        assert backlog.kept_records + backlog.dropped == offered
        kept = backlog.take()
        # What survives is a newest-first suffix of what was offered, in order.
        assert kept == [*held, *bodies][len([*held, *bodies]) - len(kept) :]
        backlog.keep(kept)
        assert backlog.kept_records + backlog.dropped == offered


def test_retryable_statuses() -> None:
    """No response, 408, 429 and 5xx are worth sending again; other 4xx are not."""
    assert [export.retryable(s) for s in (0, 408, 429, 500, 503, 504)] == [True] * 6
    assert [export.retryable(s) for s in (200, 400, 401, 403, 413)] == [False] * 5


def test_a_resend_that_had_arrived_is_counted_once_by_the_collector(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str, tmp_path: Any
) -> None:
    """If the failed export did arrive (503 after receipt), the collector still counts every call and invocation once."""
    import boto3
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from lambdaguard.collector.spans import extract
    from lambdaguard.collector.store import open_store

    from .conftest import FUNCTION_ARN

    enable()
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")

    def handler(event: Any, context: Any) -> str:
        sqs.list_queues()
        return "ok"

    wrapped = instrument(handler)
    sink.status = 503  # the sink keeps the body, then answers 503: arrived, reported failed
    invoke(wrapped, "req-1")
    sink.status = 200
    invoke(wrapped, "req-2")
    assert len(sink.bodies) == 2
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        duplicates = []
        for body in sink.bodies:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            duplicates.append(store.ingest(extract(request, now_ns=0).spans).duplicate_spans)
        assert duplicates[0] == 0
        assert duplicates[1] > 0  # invocation 1's spans, seen again
        assert sum(day.count for day in store.invocations(FUNCTION_ARN)) == 2
        calls = [c for c in store.calls(FUNCTION_ARN) if c.operation == "ListQueues"]
        assert sum(c.count for c in calls) == 2
    finally:
        store.close()


def test_a_new_configuration_keeps_what_was_carried(
    enable: Callable[..., None], sink: Sink
) -> None:
    """A later @instrument with other settings keeps the carried records, within the new bounds."""
    enable()
    first = instrument(lambda event, context: "ok")
    sink.status = 503
    invoke(first, "req-1")
    assert agent().backlog.kept_records == 2
    second = instrument(carry_records=1)(lambda event, context: "ok")
    backlog = agent().backlog
    assert backlog.max_records == 1
    assert (backlog.kept_records, backlog.dropped) == (
        0,
        2,
    )  # one body of two records: over the bound
    third = instrument(carry_records=5)(lambda event, context: "ok")
    invoke(third, "req-2")
    assert (agent().backlog.kept_records, agent().backlog.dropped) == (1, 2)
    sink.status = 200
    invoke(second, "req-3")
    assert [name for name, _, _ in decode(sink.bodies[-1])] == ["req-2", "req-3"]
