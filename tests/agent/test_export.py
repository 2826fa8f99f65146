"""The wire format: resource, invocation span, AWS call spans, folding and the log line."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdaguard import instrument, semconv
from lambdaguard.agent import _otlp, export, flush
from lambdaguard.agent.config import Config
from lambdaguard.agent.recorder import AwsCall, Connection, Record

from .conftest import FUNCTION_ARN, Context, Sink, attributes


def test_invocation_span_and_resource(
    enable: Callable[..., None], sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    """One export carries the init span, the invocation span with FaaS attributes, and the resource."""
    enable(AWS_LAMBDA_FUNCTION_NAME="orders", AWS_LAMBDA_LOG_STREAM_NAME="stream-1")

    def handler(event: Any, context: Any) -> None:
        if event.get("fail"):
            raise ValueError("nope")

    wrapped = instrument(handler)
    context = Context(arn=FUNCTION_ARN + ":live")
    with pytest.raises(ValueError, match="nope"):
        wrapped({"fail": True}, context)
    wrapped({}, Context("req-2"))
    assert flush(5000)
    assert sink.paths == ["/v1/traces", "/v1/traces"]
    assert sink.headers[0]["content-type"] == "application/x-protobuf"
    resource = sink.resources()[0]
    assert resource[semconv.SERVICE_NAME] == "orders"
    assert resource[semconv.CLOUD_PROVIDER] == "aws"
    assert resource[semconv.CLOUD_PLATFORM] == "aws_lambda"
    assert resource[semconv.CLOUD_REGION] == "us-east-1"
    assert resource[semconv.CLOUD_ACCOUNT_ID] == "123456789012"
    assert resource[semconv.CLOUD_RESOURCE_ID] == FUNCTION_ARN
    assert resource[semconv.FAAS_INSTANCE] == "stream-1"
    assert resource[semconv.FAAS_MAX_MEMORY] == 128 * 1024 * 1024
    spans = sink.spans()
    names = [s.name for s in spans]
    assert names == [semconv.INIT_SPAN_NAME, "orders", "orders"]
    first = attributes(spans[1].attributes)
    assert first[semconv.FAAS_INVOCATION_ID] == "req-1"
    assert first[semconv.FAAS_COLDSTART] is True
    assert first[semconv.INVOCATION_OUTCOME] == semconv.OUTCOME_ERROR
    assert first[semconv.INVOCATION_ERROR_TYPE] == "ValueError"
    assert first[semconv.FUNCTION_ARN] == FUNCTION_ARN
    assert first[semconv.FUNCTION_ALIAS] == "live"
    assert first[semconv.INVOCATION_MEMORY_LIMIT_MB] == 128
    assert first[semconv.INVOCATION_INIT_DURATION_MS] >= 0
    assert 0 <= first[semconv.INVOCATION_REMAINING_MS] <= 3000
    assert first[semconv.TRIGGER_KIND] == "direct"
    assert spans[1].status.code == spans[1].status.STATUS_CODE_ERROR
    second = attributes(spans[2].attributes)
    assert second[semconv.FAAS_COLDSTART] is False
    assert second[semconv.INVOCATION_OUTCOME] == semconv.OUTCOME_SUCCESS
    assert semconv.INVOCATION_INIT_DURATION_MS not in second
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line[semconv.LOG_REQUEST_ID] for line in lines] == ["req-1", "req-2"]
    assert lines[0][semconv.LOG_TRACE_ID] == spans[1].trace_id.hex()
    assert lines[0][semconv.LOG_SPAN_ID] == spans[1].span_id.hex()
    assert lines[0][semconv.LOG_COLDSTART] is True
    assert lines[0][semconv.LOG_OUTCOME] == "error"


def test_log_line_can_be_turned_off(
    enable: Callable[..., None], sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    """LAMBDAGUARD_LOG=false: spans still go out, stdout stays empty."""
    enable(LAMBDAGUARD_LOG="false")
    instrument(lambda e, c: None)({}, Context())
    assert flush(5000)
    assert sink.bodies
    assert capsys.readouterr().out == ""


def test_bearer_token_is_sent(enable: Callable[..., None], sink: Sink) -> None:
    """LAMBDAGUARD_TOKEN becomes an Authorization: Bearer header on the export."""
    enable(LAMBDAGUARD_TOKEN="s3cr3t")
    instrument(lambda e, c: None)({}, Context())
    assert flush(5000)
    assert sink.headers[0]["authorization"] == "Bearer s3cr3t"


def _call(n: int, operation: str = "GetItem", error: str = "") -> AwsCall:
    return AwsCall(
        service="dynamodb",
        service_id="DynamoDB",
        operation=operation,
        region="us-east-1",
        endpoint="https://dynamodb.us-east-1.amazonaws.com",
        params='{"TableName":"t"}',
        start_ns=1_000 * n,
        end_ns=1_000 * n + 500,
        error_code=error,
    )


def test_overflow_is_folded_with_counts() -> None:
    """Past the span cap, calls fold into one span per distinct call carrying its count."""
    calls = [_call(i) for i in range(10)] + [_call(i, "PutItem") for i in range(5)]
    folded = export.fold(calls, 4)
    assert [c.count for c in folded] == [1, 1, 1, 7, 5]
    assert sum(c.count for c in folded) == 15
    assert export.fold(calls[:4], 4) == calls[:4]


def test_folding_keeps_the_response_facts_the_collector_judges_by() -> None:
    """Folded calls keep their SSE-KMS key id, and calls under different keys never merge."""
    key_a = '{"SSEKMSKeyId":"arn:aws:kms:us-east-1:123456789012:key/a"}'
    key_b = '{"SSEKMSKeyId":"arn:aws:kms:us-east-1:123456789012:key/b"}'
    calls = [_call(0)] + [
        _call(i)._replace(response=key_a if i % 2 else key_b) for i in range(1, 9)
    ]
    folded = export.fold(calls, 2)
    assert sorted((c.response, c.count) for c in folded[1:]) == [(key_a, 4), (key_b, 4)]


def test_log_line_groups_calls_and_hosts() -> None:
    """The log line groups AWS calls by service and operation with counts and errors."""
    record = Record(
        phase=semconv.PHASE_INVOKE,
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        start_ns=0,
        end_ns=2_000_000,
        request_id="r",
        aws_calls=(_call(1), _call(2, error="Throttling"), _call(3, "PutItem")),
        connections=(Connection("api.example.com", 443, True, False, 2, 1),),
    )
    line = json.loads(export.log_line(record))
    assert line[semconv.LOG_AWS_CALLS] == [
        {"service": "dynamodb", "operation": "GetItem", "count": 2, "errors": 1},
        {"service": "dynamodb", "operation": "PutItem", "count": 1, "errors": 0},
    ]
    assert line[semconv.LOG_HOSTS] == [
        {"host": "api.example.com", "port": 443, "tls": True, "count": 2, "failures": 1}
    ]
    assert line[semconv.LOG_DURATION_MS] == 2.0


def _whole_line(record: Record) -> str:
    # The line as one json encoding of the whole dict (what log_line wrote before
    # it was split into a head and a tail cached per signature).
    calls: dict[tuple[str, str], list[int]] = {}
    for c in record.aws_calls:
        counts = calls.setdefault((c.service, c.operation), [0, 0])
        counts[0] += c.count
        counts[1] += c.count if c.error_code else 0
    return json.dumps(
        {
            semconv.LOG_MARKER: "invocation",
            semconv.LOG_TRACE_ID: record.trace_id.hex(),
            semconv.LOG_SPAN_ID: record.span_id.hex(),
            semconv.LOG_REQUEST_ID: record.request_id,
            semconv.LOG_COLDSTART: record.cold_start,
            semconv.LOG_DURATION_MS: round((record.end_ns - record.start_ns) / 1e6, 3),
            semconv.LOG_OUTCOME: record.outcome,
            semconv.LOG_AWS_CALLS: [
                {"service": s, "operation": o, "count": n, "errors": e}
                for (s, o), (n, e) in calls.items()
            ],
            semconv.LOG_HOSTS: [
                {
                    "host": h.host,
                    "port": h.port,
                    "tls": h.tls,
                    "count": h.count,
                    "failures": h.failures,
                }
                for h in record.connections
            ],
        },
        separators=(",", ":"),
    )


@given(
    request_id=st.text(max_size=40),
    duration_ns=st.integers(min_value=0, max_value=900 * 10**9),
    cold=st.booleans(),
    outcome=st.sampled_from([semconv.OUTCOME_SUCCESS, semconv.OUTCOME_ERROR, 'ti"me\u00e9']),
)
def test_log_line_is_the_json_of_the_whole_line(
    request_id: str, duration_ns: int, cold: bool, outcome: str
) -> None:
    """Head formatted by hand + cached tail == json's encoding of the whole line, byte for byte."""
    record = Record(
        phase=semconv.PHASE_INVOKE,
        trace_id=b"\x0a" * 16,
        span_id=b"\xff" * 8,
        start_ns=5,
        end_ns=5 + duration_ns,
        request_id=request_id,
        cold_start=cold,
        outcome=outcome,
        aws_calls=(_call(1), _call(2, error="Throttling")),
        connections=(Connection("api.example.com", 443, True, False, 2, 1),),
    )
    assert export.log_line(record) == _whole_line(record)
    json.loads(export.log_line(record))


@given(
    st.lists(
        st.tuples(
            st.text(max_size=20),
            st.one_of(
                st.text(max_size=30),
                st.booleans(),
                st.integers(min_value=-(2**63), max_value=2**63 - 1),
                st.floats(allow_nan=False),
                st.lists(st.text(max_size=5), max_size=3),
            ),
        ),
        max_size=8,
    )
)
def test_hand_encoder_matches_the_official_protobuf(attrs: list[tuple[str, Any]]) -> None:
    """Any attribute values the encoder writes decode to the same values with opentelemetry-proto."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    span = _otlp.Span(
        trace_id=b"\x0a" * 16,
        span_id=b"\x0b" * 8,
        name="n",
        kind=_otlp.KIND_CLIENT,
        start_ns=2**62,
        end_ns=2**62 + 5,
        attributes=tuple(attrs),
        events=(_otlp.Event("e", 7, tuple(attrs)),),
        links=(_otlp.Link(b"\x0c" * 16, b"\x0d" * 8),),
    )
    body = _otlp.encode_request(tuple(attrs), "scope", "1", [span])
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    decoded = request.resource_spans[0].scope_spans[0].spans[0]
    assert decoded.end_time_unix_nano == 2**62 + 5
    assert decoded.kind == decoded.SPAN_KIND_CLIENT
    expected = dict(attrs)
    assert attributes(decoded.attributes) == expected
    assert attributes(decoded.events[0].attributes) == expected
    assert attributes(request.resource_spans[0].resource.attributes) == expected
    assert decoded.links[0].span_id == b"\x0d" * 8
    assert request.resource_spans[0].scope_spans[0].scope.name == "scope"


def test_encode_is_deterministic_for_a_record() -> None:
    """Encoding the same record twice gives spans with the same ids and attributes."""
    record = Record(
        phase=semconv.PHASE_INVOKE,
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        start_ns=0,
        end_ns=1,
    )
    spans = export.spans_for(record, 10)
    assert spans == export.spans_for(record, 10)
    assert export.encode(Config(), [record]) == export.encode(Config(), [record])
