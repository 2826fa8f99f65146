"""Trigger kind and source from one sample event per integration, and trace context."""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import pytest

from lambdaguard import instrument, semconv
from lambdaguard.agent import flush, triggers

from .conftest import Context, Sink, attributes

ACCOUNT = "123456789012"
TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"
XRAY = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
XRAY_UNSAMPLED = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"

# Sample events written from the shapes AWS documents for each integration.
EVENTS: dict[str, tuple[dict[str, Any], str]] = {
    "api_gateway_rest": (
        {
            "resource": "/orders",
            "path": "/orders",
            "httpMethod": "POST",
            "headers": {"traceparent": f"00-{TRACE}-{PARENT}-01"},
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": "abc123",
                "stage": "prod",
                "httpMethod": "POST",
            },
            "body": "{}",
        },
        f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123/prod",
    ),
    "api_gateway_http": (
        {
            "version": "2.0",
            "routeKey": "GET /items",
            "headers": {"x-forwarded-for": "1.2.3.4"},
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": "def456",
                "domainName": "def456.execute-api.us-east-1.amazonaws.com",
                "http": {"method": "GET", "path": "/items"},
                "stage": "$default",
            },
        },
        f"arn:aws:execute-api:us-east-1:{ACCOUNT}:def456/$default",
    ),
    "api_gateway_websocket": (
        {
            "requestContext": {
                "routeKey": "$connect",
                "eventType": "CONNECT",
                "connectionId": "L0SM9cOFvHcCIhw=",
                "apiId": "ws789",
                "stage": "prod",
            },
            "isBase64Encoded": False,
        },
        "ws789",
    ),
    "alb": (
        {
            "requestContext": {
                "elb": {
                    "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/abc"
                }
            },
            "httpMethod": "GET",
            "path": "/",
            "headers": {},
        },
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/abc",
    ),
    "function_url": (
        {
            "version": "2.0",
            "requestContext": {
                "domainName": "abcdefg.lambda-url.us-east-1.on.aws",
                "http": {"method": "GET"},
                "apiId": "abcdefg",
            },
        },
        "abcdefg",
    ),
    "sqs": (
        {
            "Records": [
                {
                    "messageId": "m1",
                    "body": "hello",
                    "attributes": {"AWSTraceHeader": XRAY},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs",
                }
            ]
        },
        "arn:aws:sqs:us-east-1:123456789012:jobs",
    ),
    "sns": (
        {
            "Records": [
                {
                    "EventSource": "aws:sns",
                    "Sns": {
                        "TopicArn": "arn:aws:sns:us-east-1:123456789012:events",
                        "Message": "hi",
                        "MessageAttributes": {
                            "traceparent": {"Type": "String", "Value": f"00-{TRACE}-{PARENT}-01"}
                        },
                    },
                }
            ]
        },
        "arn:aws:sns:us-east-1:123456789012:events",
    ),
    "s3": (
        {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "bucket": {"name": "uploads", "arn": "arn:aws:s3:::uploads"},
                        "object": {"key": "a/b.txt"},
                    },
                }
            ]
        },
        "arn:aws:s3:::uploads",
    ),
    "eventbridge": (
        {
            "version": "0",
            "detail-type": "OrderPlaced",
            "source": "com.shop.orders",
            "account": ACCOUNT,
            "resources": [],
            "detail": {},
        },
        "com.shop.orders",
    ),
    "schedule": (
        {
            "version": "0",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/nightly"],
            "detail": {},
        },
        "arn:aws:events:us-east-1:123456789012:rule/nightly",
    ),
    "dynamodb_stream": (
        {
            "Records": [
                {
                    "eventSource": "aws:dynamodb",
                    "eventName": "INSERT",
                    "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026",
                    "dynamodb": {"Keys": {}},
                }
            ]
        },
        "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026",
    ),
    "kinesis": (
        {
            "Records": [
                {
                    "eventSource": "aws:kinesis",
                    "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/clicks",
                    "kinesis": {"data": "aGk="},
                }
            ]
        },
        "arn:aws:kinesis:us-east-1:123456789012:stream/clicks",
    ),
    "step_functions": (
        {
            "order": 1,
            "Execution": {"Id": "arn:aws:states:us-east-1:123456789012:execution:flow:run-1"},
        },
        "arn:aws:states:us-east-1:123456789012:stateMachine:flow",
    ),
    "cloudwatch_logs": ({"awslogs": {"data": "H4sI"}}, ""),
    "cognito": (
        {"triggerSource": "PreSignUp_SignUp", "userPoolId": "us-east-1_abc", "request": {}},
        "us-east-1_abc",
    ),
    "direct": ({"anything": "at all"}, ""),
}


@pytest.mark.parametrize("kind", sorted(EVENTS))
def test_trigger_kind_and_source(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each documented event shape maps to its trigger kind and source ARN or name."""
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    event, source = EVENTS[kind]
    trigger = triggers.trigger_of(event, None)
    assert trigger.kind == kind
    assert trigger.source == source
    assert trigger.kind in semconv.TRIGGER_KINDS
    assert trigger.faas_trigger in semconv.FAAS_TRIGGER_VALUES


@pytest.mark.parametrize("kind", sorted(EVENTS))
def test_dict_fast_path_agrees_with_the_full_checks(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dict event (shape-key fast path) and the same event as a non-dict Mapping get one trigger."""
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    event, _ = EVENTS[kind]
    assert triggers.trigger_of(event, XRAY) == triggers.trigger_of(MappingProxyType(event), XRAY)


def test_every_trigger_kind_has_a_sample() -> None:
    """The samples cover every trigger kind the wire contract names, except "other"."""
    assert set(EVENTS) == set(semconv.TRIGGER_KINDS) - {"other"}


def test_non_dict_events_are_direct() -> None:
    """A list or string payload is a direct invoke."""
    assert triggers.trigger_of([1, 2], None).kind == "direct"
    assert triggers.trigger_of("x", None).kind == "direct"


def test_traceparent_from_http_headers_is_continued(
    enable: Callable[..., None], sink: Sink
) -> None:
    """An HTTP trigger's W3C traceparent becomes the invocation span's parent, even over X-Ray."""
    enable(_X_AMZN_TRACE_ID=XRAY)
    instrument(lambda e, c: None)(EVENTS["api_gateway_rest"][0], Context())
    assert flush(5000)
    span = next(s for s in sink.spans() if s.name == "orders")
    assert span.trace_id.hex() == TRACE
    assert span.parent_span_id.hex() == PARENT
    attrs = attributes(span.attributes)
    assert attrs[semconv.FAAS_TRIGGER] == "http"
    assert attrs[semconv.TRIGGER_KIND] == "api_gateway_rest"
    assert span.kind == span.SPAN_KIND_SERVER


def test_xray_environment_header_is_a_link_by_default(
    enable: Callable[..., None], sink: Sink
) -> None:
    """Without an event context, the _X_AMZN_TRACE_ID context is a link: the trace starts here."""
    enable(_X_AMZN_TRACE_ID=XRAY_UNSAMPLED)
    instrument(lambda e, c: None)({}, Context())
    assert flush(5000)
    span = next(s for s in sink.spans() if s.name == "orders")
    assert span.trace_id.hex() != "5759e988bd862e3fe1be46a994272793"
    assert span.parent_span_id == b""
    assert [(link.trace_id.hex(), link.span_id.hex()) for link in span.links] == [
        ("5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8")
    ]
    # Lambda's Sampled=0 (tracing off) neither parents nor unsamples what is exported.
    assert all(s.flags & 0x1 for s in sink.spans())


def test_each_invocation_links_the_xray_header_the_runtime_set_for_it(
    enable: Callable[..., None], sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """awslambdaric sets _X_AMZN_TRACE_ID anew before each invocation (os.environ): each span
    links its own, and none once the variable is gone."""
    enable(LAMBDAGUARD_TRACES="all")
    handler = instrument(lambda e, c: None)
    roots = ["5759e988bd862e3fe1be46a994272793", "6759e988bd862e3fe1be46a994272794"]
    for root in roots:
        monkeypatch.setenv(
            "_X_AMZN_TRACE_ID", f"Root=1-{root[:8]}-{root[8:]};Parent=53995c3f42cd8ad8;Sampled=0"
        )
        handler({}, Context())
    monkeypatch.delenv("_X_AMZN_TRACE_ID")
    handler({}, Context())
    assert flush(5000)
    spans = [s for s in sink.spans() if s.name == "orders"]
    assert [[link.trace_id.hex() for link in s.links] for s in spans] == [
        [roots[0]],
        [roots[1]],
        [],
    ]


def test_xray_environment_header_is_the_parent_with_xray_lambda_propagator(
    enable: Callable[..., None], sink: Sink
) -> None:
    """OTEL_PROPAGATORS=...,xray-lambda (Active Tracing, X-Ray backend) makes it the parent."""
    enable(_X_AMZN_TRACE_ID=XRAY, OTEL_PROPAGATORS="tracecontext,baggage,xray-lambda")
    instrument(lambda e, c: None)({}, Context())
    assert flush(5000)
    span = next(s for s in sink.spans() if s.name == "orders")
    assert span.trace_id.hex() == "5759e988bd862e3fe1be46a994272793"
    assert span.parent_span_id.hex() == "53995c3f42cd8ad8"
    assert list(span.links) == []


def test_event_context_wins_over_the_xray_parent_setting() -> None:
    """With xray-lambda configured, an HTTP traceparent is still the parent; X-Ray becomes a link."""
    trigger = triggers.trigger_of(EVENTS["api_gateway_rest"][0], XRAY, xray_parent=True)
    assert (trigger.parent_trace_id.hex(), trigger.parent_span_id.hex()) == (TRACE, PARENT)
    links = triggers.links_of(trigger)
    assert [link.trace_id.hex() for link in links] == ["5759e988bd862e3fe1be46a994272793"]


def test_sqs_and_sns_messages_become_links(enable: Callable[..., None], sink: Sink) -> None:
    """SQS AWSTraceHeader and SNS traceparent attributes become span links on a consumer span."""
    enable()
    wrapped = instrument(lambda e, c: None)
    wrapped(EVENTS["sqs"][0], Context("r1"))
    wrapped(EVENTS["sns"][0], Context("r2"))
    assert flush(5000)
    spans = [s for s in sink.spans() if s.name == "orders"]
    assert len(spans) == 2
    sqs, sns = spans
    assert sqs.kind == sqs.SPAN_KIND_CONSUMER
    assert [link.trace_id.hex() for link in sqs.links] == ["5759e988bd862e3fe1be46a994272793"]
    assert [link.span_id.hex() for link in sqs.links] == ["53995c3f42cd8ad8"]
    assert [link.trace_id.hex() for link in sns.links] == [TRACE]
    assert sns.parent_span_id == b""


@pytest.mark.parametrize(
    "value",
    ["", "garbage", f"ff-{TRACE}-{PARENT}-01", f"00-{'0' * 32}-{PARENT}-01", None, 7],
)
def test_bad_traceparent_is_ignored(value: object) -> None:
    """Malformed, invalid-version and all-zero traceparents start a new trace."""
    assert triggers.parse_traceparent(value) is None
