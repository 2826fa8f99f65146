"""Evidence mode in one process: new facts go out at once, repeats are counted and flushed as metrics."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from lambdaguard import instrument, semconv
from lambdaguard.agent import _agent, flush

from .conftest import Context, Sink, attributes

S = 10**9


class Clock:
    """The agent's interval clock, moved by hand (starts at a fixed instant, never today)."""

    def __init__(self) -> None:
        self.now = 1_900_000_000 * S

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def agent_clock() -> Clock:
    """A hand-moved clock for the agent's flush interval."""
    return Clock()


@pytest.fixture
def handler(moto_endpoint: str) -> Callable[[Any, Any], Any]:
    """A handler listing queues; ``{"new": True}`` also asks for a queue URL (a new call)."""
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    sqs.create_queue(QueueName="evidence")

    def handle(event: dict[str, Any], context: Any) -> str:
        sqs.list_queues()
        if event.get("new"):
            sqs.get_queue_url(QueueName="evidence")
        if event.get("fail"):
            raise KeyError("boom")
        return "ok"

    return handle


def start(handler: Callable[[Any, Any], Any], agent_clock: Clock) -> Callable[[Any, Any], Any]:
    wrapped = instrument(handler)
    agent = _agent.current()
    assert agent is not None
    agent.clock = agent_clock
    return wrapped


def call(wrapped: Callable[[Any, Any], Any], n: int, **event: Any) -> None:
    with contextlib.suppress(KeyError):
        wrapped(event, Context(f"req-{n}"))
    assert flush(5000)


def operations(sink: Sink, body_index: int) -> list[str]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    request.ParseFromString(sink.traces()[body_index])
    return [
        attributes(span.attributes).get(semconv.AWS_OPERATION)
        or attributes(span.attributes).get(semconv.FAAS_INVOCATION_ID, span.name)
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]


def points(request: Any) -> dict[str, list[tuple[dict[str, Any], Any]]]:
    """metric name -> [(attributes, data point)] of one ExportMetricsServiceRequest."""
    out: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            assert sm.scope.name == semconv.AGENT_SCOPE
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                data = getattr(metric, kind)
                for point in data.data_points:
                    out.setdefault(metric.name, []).append((attributes(point.attributes), point))
    return out


def test_a_repeat_exports_nothing_before_the_interval(
    enable: Callable[..., None], sink: Sink, handler: Any, agent_clock: Clock
) -> None:
    """The second invocation repeating the first's calls sends nothing at all."""
    enable(LAMBDAGUARD_TRACES="off")
    wrapped = start(handler, agent_clock)
    call(wrapped, 1)
    assert len(sink.bodies) == 1
    assert operations(sink, 0)[1:] == ["req-1", "ListQueues"]  # init span first
    for n in range(2, 6):
        agent_clock.now += 10 * S  # 50 s in all: still within the 60 s interval
        call(wrapped, n)
    assert len(sink.bodies) == 1


def test_a_new_call_in_the_hundredth_invocation_is_exported_right_after_it(
    enable: Callable[..., None], sink: Sink, handler: Any, agent_clock: Clock
) -> None:
    """Invocation 100 makes a new call: it is exported with that invocation, before the next."""
    enable(LAMBDAGUARD_TRACES="off")
    wrapped = start(handler, agent_clock)
    for n in range(1, 100):
        call(wrapped, n)
    assert len(sink.bodies) == 1
    call(wrapped, 100, new=True)
    assert len(sink.bodies) == 2
    assert operations(sink, 1) == ["req-100", "ListQueues", "GetQueueUrl"]


def test_counts_reach_the_metrics_once_the_interval_passed(
    enable: Callable[..., None], sink: Sink, handler: Any, agent_clock: Clock
) -> None:
    """After the interval the next invocation flushes cumulative sums whose totals equal the invocations."""
    enable(LAMBDAGUARD_TRACES="off")
    wrapped = start(handler, agent_clock)
    agent = _agent.current()
    assert agent is not None
    for n in range(1, 11):
        call(wrapped, n)
    assert sink.metrics() == []
    agent_clock.now += 60 * S
    call(wrapped, 11)
    (first,) = sink.metrics()
    found = points(first)
    invocations = {a[semconv.COUNTED_IN_SPANS]: p.as_int for a, p in found["faas.invocations"]}
    assert invocations == {True: 1, False: 10}
    calls = {
        (a[semconv.AWS_OPERATION], a[semconv.COUNTED_IN_SPANS]): p.as_int
        for a, p in found["lambdaguard.aws.calls"]
    }
    assert calls == {("ListQueues", True): 1, ("ListQueues", False): 10}
    assert {a[semconv.COUNTED_IN_SPANS] for a, _ in found["faas.coldstarts"]} == {True}
    durations = {a[semconv.COUNTED_IN_SPANS]: p.count for a, p in found["faas.invoke_duration"]}
    assert durations == {True: 1, False: 10}
    resource = attributes(first.resource_metrics[0].resource.attributes)
    assert resource[semconv.SERVICE_NAME] == "orders"
    assert resource[semconv.SERVICE_INSTANCE_ID]
    # Cumulative, monotonic, all starting at the agent's start.
    for rm in first.resource_metrics:
        for metric in rm.scope_metrics[0].metrics:
            data = getattr(metric, metric.WhichOneof("data"))
            assert data.aggregation_temporality == 2  # AGGREGATION_TEMPORALITY_CUMULATIVE
            if metric.WhichOneof("data") == "sum":
                assert data.is_monotonic
            assert {p.start_time_unix_nano for p in data.data_points} == {agent.started_ns}
            assert {p.time_unix_nano for p in data.data_points} == {agent_clock.now}
    # The next flush: same start time, larger cumulative values, only what changed.
    for n in range(12, 15):
        call(wrapped, n)
    agent_clock.now += 61 * S
    call(wrapped, 15)
    second = points(sink.metrics()[1])
    assert {a[semconv.COUNTED_IN_SPANS]: p.as_int for a, p in second["faas.invocations"]} == {
        False: 14
    }
    assert {p.start_time_unix_nano for _, p in second["faas.invocations"]} == {agent.started_ns}
    assert len(sink.traces()) == 1  # still only the first invocation's spans


_PER_INVOCATION = {
    semconv.LOG_TRACE_ID,
    semconv.LOG_SPAN_ID,
    semconv.LOG_REQUEST_ID,
    semconv.LOG_DURATION_MS,
}


def test_repeats_are_counted_by_signature_with_the_same_totals_and_log_lines(  # noqa: PLR0917 - fixtures
    enable: Callable[..., None],
    sink: Sink,
    handler: Any,
    agent_clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Once the first repeat taught the ledger its signature, repeats build no Record at all,
    yet their log lines and the flushed totals are what the full path makes."""
    enable(LAMBDAGUARD_TRACES="off")
    wrapped = start(handler, agent_clock)
    agent = _agent.current()
    assert agent is not None
    built: list[str] = []
    full = agent._record

    def counting(inv: Any, *args: Any, **kwargs: Any) -> Any:
        built.append(inv.request_id)
        return full(inv, *args, **kwargs)

    monkeypatch.setattr(agent, "_record", counting)
    for n in range(1, 21):
        call(wrapped, n, fail=n in (7, 15))
    # New facts (1), the first repeat that teaches the signature (2), the
    # first error (7: a new fact) and the error's first repeat (15).
    assert built == ["req-1", "req-2", "req-7", "req-15"]
    lines = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if line.startswith('{"' + semconv.LOG_MARKER + '"')
    ]
    assert [line[semconv.LOG_REQUEST_ID] for line in lines] == [f"req-{n}" for n in range(1, 21)]
    stable = [{k: v for k, v in line.items() if k not in _PER_INVOCATION} for line in lines]
    ok = [s for n, s in enumerate(stable, 1) if n not in (1, 7, 15)]
    assert all(s == ok[0] for s in ok)  # signature path (3.., 8.., 16..) == full path (2)
    assert ok[0][semconv.LOG_AWS_CALLS] == [
        {"service": "sqs", "operation": "ListQueues", "count": 1, "errors": 0}
    ]
    assert stable[14] == stable[6]  # the error repeat logs as the first error did
    assert stable[6][semconv.LOG_OUTCOME] == semconv.OUTCOME_ERROR
    agent_clock.now += 60 * S
    call(wrapped, 21)
    found = points(sink.metrics()[0])
    invocations = {a[semconv.COUNTED_IN_SPANS]: p.as_int for a, p in found["faas.invocations"]}
    assert invocations == {True: 1, False: 18}  # 21 made, 2 of them errors
    errors = {
        (a[semconv.COUNTED_IN_SPANS], a[semconv.ERROR_TYPE]): p.as_int
        for a, p in found["faas.errors"]
    }
    assert errors == {(True, "KeyError"): 1, (False, "KeyError"): 1}
    calls = {a[semconv.COUNTED_IN_SPANS]: p.as_int for a, p in found["lambdaguard.aws.calls"]}
    assert calls == {True: 2, False: 19}
    durations = {a[semconv.COUNTED_IN_SPANS]: p.count for a, p in found["faas.invoke_duration"]}
    assert durations == {True: 2, False: 19}


def test_errors_are_their_own_fact_and_metric(
    enable: Callable[..., None], sink: Sink, handler: Any, agent_clock: Clock
) -> None:
    """A first error is exported at once; repeated errors count in faas.errors with error.type."""
    enable(LAMBDAGUARD_TRACES="off", LAMBDAGUARD_FLUSH_INTERVAL="0")
    wrapped = start(handler, agent_clock)
    call(wrapped, 1)
    call(wrapped, 2, fail=True)
    assert len(sink.traces()) == 2
    call(wrapped, 3, fail=True)
    assert len(sink.traces()) == 2
    last = points(sink.metrics()[-1])
    errors = {
        (a[semconv.ERROR_TYPE], a[semconv.COUNTED_IN_SPANS]): p.as_int
        for a, p in last["faas.errors"]
    }
    assert errors[("KeyError", False)] == 1


@pytest.mark.parametrize(
    ("env", "traced"),
    [
        ({"LAMBDAGUARD_TRACES": "all"}, 5),
        ({"LAMBDAGUARD_TRACES": "off"}, 1),
        ({"LAMBDAGUARD_TRACES": "sampled", "OTEL_TRACES_SAMPLER_ARG": "0"}, 1),
        ({"LAMBDAGUARD_TRACES": "sampled", "OTEL_TRACES_SAMPLER_ARG": "1"}, 5),
        ({"OTEL_TRACES_SAMPLER": "always_on"}, 5),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.0"}, 1),
    ],
)
def test_trace_mode_decides_repeats_and_never_new_facts(  # noqa: PLR0917 - fixtures
    enable: Callable[..., None],
    sink: Sink,
    handler: Any,
    agent_clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    traced: int,
) -> None:
    """Trace mode chooses which repeats are traced; the first invocation (new facts) always is."""
    enable()
    monkeypatch.delenv("LAMBDAGUARD_TRACES")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    wrapped = start(handler, agent_clock)
    for n in range(1, 6):
        call(wrapped, n)
    assert len(sink.traces()) == traced


def test_sampled_mode_always_traces_errors(
    enable: Callable[..., None], sink: Sink, handler: Any, agent_clock: Clock
) -> None:
    """With a ratio of 0, a repeated error is still traced."""
    enable(LAMBDAGUARD_TRACES="sampled", OTEL_TRACES_SAMPLER_ARG="0")
    wrapped = start(handler, agent_clock)
    call(wrapped, 1, fail=True)
    call(wrapped, 2, fail=True)
    call(wrapped, 3)
    call(wrapped, 4)
    assert len(sink.traces()) == 3  # both errors, and the first success (a new outcome)


def test_parent_based_sampling_follows_the_incoming_flag(
    enable: Callable[..., None], sink: Sink, handler: Any, agent_clock: Clock
) -> None:
    """Parent-based: a traceparent with the sampled flag off is not traced; on, it is."""
    enable(
        LAMBDAGUARD_TRACES="sampled",
        OTEL_TRACES_SAMPLER="parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG="1",
    )
    wrapped = start(handler, agent_clock)

    def http_event(flags: str) -> dict[str, Any]:
        return {
            "version": "2.0",
            "requestContext": {"http": {"method": "GET"}, "apiId": "a", "stage": "$default"},
            "headers": {
                "traceparent": f"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-{flags}"
            },
        }

    call(wrapped, 1, **http_event("01"))
    call(wrapped, 2, **http_event("00"))
    call(wrapped, 3, **http_event("01"))
    assert len(sink.traces()) == 2
    assert all(span.flags & 1 for span in sink.spans())


def test_a_failed_export_leaves_its_facts_new(
    enable: Callable[..., None], sink: Sink, handler: Any, agent_clock: Clock
) -> None:
    """Facts whose export failed are exported again the next time (with the carried bytes)."""
    enable(LAMBDAGUARD_TRACES="off")
    wrapped = start(handler, agent_clock)
    sink.status = 503
    call(wrapped, 1)
    sink.status = 200
    call(wrapped, 2)
    assert len(sink.traces()) == 2
    assert operations(sink, 1).count("ListQueues") == 2  # carried invocation 1 and invocation 2
    call(wrapped, 3)
    assert len(sink.traces()) == 2


def test_a_pending_backlog_goes_out_with_the_next_invocation_even_without_new_facts(
    enable: Callable[..., None], sink: Sink, handler: Any, agent_clock: Clock
) -> None:
    """A carried export is not left waiting for the next new fact: the next invocation sends it."""
    enable(LAMBDAGUARD_TRACES="off")
    wrapped = start(handler, agent_clock)
    call(wrapped, 1)
    sink.status = 503
    call(wrapped, 2, new=True)  # new fact, export refused
    sink.status = 200
    agent = _agent.current()
    assert agent is not None
    assert agent.backlog.kept_records == 1
    call(wrapped, 3, new=True)  # still new (its export failed), sent with the carried body
    assert agent.backlog.kept_records == 0
    call(wrapped, 4, new=True)
    assert len(sink.traces()) == 3


def test_no_send_starts_without_time_before_the_deadline(
    enable: Callable[..., None], sink: Sink, handler: Any, agent_clock: Clock
) -> None:
    """With the invocation's deadline already passed, the export is kept for the next one, not sent."""
    import time

    from lambdaguard.agent.recorder import Record

    enable(LAMBDAGUARD_TRACES="off")
    start(handler, agent_clock)
    agent = _agent.current()
    assert agent is not None
    record = Record(
        phase=semconv.PHASE_INVOKE,
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        start_ns=0,
        end_ns=1,
        request_id="late",
        function_name="orders",
    )
    agent.export_now([record], deadline_s=time.time() - 1.0)
    assert sink.bodies == []
    assert agent.backlog.kept_records == 1


def test_with_interval_zero_every_repeat_is_flushed_right_after_it(
    enable: Callable[..., None], sink: Sink, handler: Any, agent_clock: Clock
) -> None:
    """A repeat counted by its signature still flushes at once when the interval is 0:
    the last invocation's count is never left waiting for an invocation that may not come."""
    enable(LAMBDAGUARD_TRACES="off", LAMBDAGUARD_FLUSH_INTERVAL="0")
    wrapped = start(handler, agent_clock)
    for n in range(1, 7):
        call(wrapped, n)
        if n > 1:
            latest = points(sink.metrics()[-1])
            totals = {a[semconv.COUNTED_IN_SPANS]: p.as_int for a, p in latest["faas.invocations"]}
            assert totals.get(False) == n - 1, n
    assert len(sink.traces()) == 1
