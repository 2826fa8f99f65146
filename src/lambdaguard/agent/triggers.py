"""What invoked the function, and the trace context it carried.

The trigger is read from the event's shape, as AWS documents it for each
integration (https://docs.aws.amazon.com/lambda/latest/dg/lambda-services.html).
Only the kind and the source's ARN or name are kept; nothing else of the
event is read, except trace context: the W3C ``traceparent`` header of HTTP
triggers, the X-Ray header in ``_X_AMZN_TRACE_ID`` (set per invocation by
the runtime client), and for SQS/SNS records the ``AWSTraceHeader`` system
attribute and a ``traceparent`` message attribute, which become span links
(one invocation consumes many messages, each with its own producer).

Parenting follows the OpenTelemetry semantic conventions for AWS Lambda
(``docs/faas/aws-lambda.md``, "AWS X-Ray Active Tracing Considerations"): the
parent is the event's own context; the X-Ray context of ``_X_AMZN_TRACE_ID``
becomes the parent only when the user asks for it (``xray-lambda`` in
``OTEL_PROPAGATORS``: Active Tracing on, X-Ray as the backend), otherwise a
span link. Lambda passes an X-Ray header even with tracing off
(``Sampled=0``), and its parent span never reaches any other backend: as a
parent it made most invocations orphans there, and its ``Sampled=0`` made
gateways drop the spans. A trace that starts in the function is sampled by
the function's own decision (see :mod:`lambdaguard.agent._agent`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from lambdaguard.agent.config import AWS_REGION
from lambdaguard.agent.recorder import Link, Trigger

__all__ = ["links_of", "parse_traceparent", "parse_xray", "trigger_of"]

# Compiled by re's cache on first use, not at import (INIT path).
_TRACEPARENT = r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})"
_XRAY_ROOT = r"Root=1-([0-9a-fA-F]{8})-([0-9a-fA-F]{24})"
_XRAY_PARENT = r"Parent=([0-9a-fA-F]{16})"
_XRAY_SAMPLED = r"Sampled=([01])"
_MAX_LINKS = 32
_tuple_new = tuple.__new__

_HTTP = {"api_gateway_rest", "api_gateway_http", "api_gateway_websocket", "alb", "function_url"}
_FAAS_TRIGGER = {
    "sqs": "pubsub",
    "sns": "pubsub",
    "eventbridge": "pubsub",
    "kinesis": "pubsub",
    "s3": "datasource",
    "dynamodb_stream": "datasource",
    "schedule": "timer",
}
_CONSUMER = {"sqs", "sns", "s3", "eventbridge", "dynamodb_stream", "kinesis", "cloudwatch_logs"}
# Every shape _kind_and_source recognises has one of these top-level keys; a
# plain dict with none of them is a direct invoke, decided without the chain
# of checks (this runs before the handler, on the response path).
_SHAPE_KEYS = frozenset(
    {
        "Records",
        "requestContext",
        "detail-type",
        "awslogs",
        "triggerSource",
        "StateMachine",
        "stateMachine",
        "Execution",
        "execution",
        "executionArn",
        "ExecutionArn",
    }
)


def parse_traceparent(value: object) -> tuple[bytes, bytes, bool] | None:
    """(trace id, parent span id, sampled) from a W3C ``traceparent`` value, or None."""
    if not isinstance(value, str):
        return None
    match = re.match(_TRACEPARENT, value.strip().lower())
    if match is None or match.group(1) == "ff":
        return None
    trace_id, span_id = bytes.fromhex(match.group(2)), bytes.fromhex(match.group(3))
    if not any(trace_id) or not any(span_id):
        return None
    return trace_id, span_id, bool(int(match.group(4), 16) & 1)


def parse_xray(value: object) -> tuple[bytes, bytes, bool] | None:
    """(trace id, parent span id, sampled) from an X-Ray trace header, or None."""
    if not isinstance(value, str):
        return None
    root = re.search(_XRAY_ROOT, value)
    parent = re.search(_XRAY_PARENT, value)
    if root is None or parent is None:
        return None
    sampled = re.search(_XRAY_SAMPLED, value)
    return (
        bytes.fromhex(root.group(1) + root.group(2)),
        bytes.fromhex(parent.group(1)),
        sampled is None or sampled.group(1) == "1",
    )


def _header(event: Mapping[str, Any], name: str) -> object:
    headers = event.get("headers")
    if isinstance(headers, Mapping):
        for key, value in headers.items():
            if isinstance(key, str) and key.lower() == name:
                return value
    multi = event.get("multiValueHeaders")
    if isinstance(multi, Mapping):
        for key, values in multi.items():
            if isinstance(key, str) and key.lower() == name and isinstance(values, list) and values:
                return values[0]
    return None


def _links(records: list[Any]) -> tuple[Link, ...]:
    links: list[Link] = []
    for record in records[:_MAX_LINKS]:
        if not isinstance(record, Mapping):
            continue
        found = None
        attributes = record.get("messageAttributes")  # SQS
        if isinstance(attributes, Mapping):
            tp = attributes.get("traceparent")
            if isinstance(tp, Mapping):
                found = parse_traceparent(tp.get("stringValue"))
        sns = record.get("Sns")
        if found is None and isinstance(sns, Mapping):
            attributes = sns.get("MessageAttributes")
            if isinstance(attributes, Mapping):
                tp = attributes.get("traceparent")
                if isinstance(tp, Mapping):
                    found = parse_traceparent(tp.get("Value"))
        system = record.get("attributes")  # SQS system attributes
        if found is None and isinstance(system, Mapping):
            found = parse_xray(system.get("AWSTraceHeader"))
        if found is not None:
            links.append(Link(found[0], found[1], found[2]))
    return tuple(links)


def _records_trigger(records: list[Any]) -> tuple[str, str] | None:
    first = records[0] if records else None
    if not isinstance(first, Mapping):
        return None
    source = first.get("eventSource") or first.get("EventSource")
    if source == "aws:sqs":
        return "sqs", str(first.get("eventSourceARN", ""))
    if source == "aws:sns":
        sns = first.get("Sns")
        topic = sns.get("TopicArn", "") if isinstance(sns, Mapping) else ""
        return "sns", str(topic)
    if source == "aws:s3":
        s3 = first.get("s3")
        bucket = s3.get("bucket") if isinstance(s3, Mapping) else None
        if isinstance(bucket, Mapping):
            arn = bucket.get("arn") or f"arn:aws:s3:::{bucket.get('name', '')}"
            return "s3", str(arn)
        return "s3", ""
    if source == "aws:dynamodb":
        return "dynamodb_stream", str(first.get("eventSourceARN", ""))
    if source == "aws:kinesis":
        return "kinesis", str(first.get("eventSourceARN", ""))
    return None


def _execution_to_state_machine(execution_arn: str) -> str:
    # arn:aws:states:region:account:execution:StateMachineName:ExecutionName
    parts = execution_arn.split(":")
    if len(parts) >= 7 and parts[5] in ("execution", "express"):
        return ":".join([*parts[:5], "stateMachine", parts[6]])
    return execution_arn


def _step_functions(event: Mapping[str, Any]) -> str | None:
    # Step Functions passes only the state's input; what identifies it is the
    # context object ($$) when the state machine forwards it, commonly as
    # {"Execution": {"Id": ...}, "StateMachine": {"Id": ...}}.
    for key in ("StateMachine", "stateMachine"):
        value = event.get(key)
        if isinstance(value, Mapping) and str(value.get("Id", "")).startswith("arn:aws:states:"):
            return str(value["Id"])
    for key in ("Execution", "execution"):
        value = event.get(key)
        if isinstance(value, Mapping) and str(value.get("Id", "")).startswith("arn:aws:states:"):
            return _execution_to_state_machine(str(value["Id"]))
    for key in ("executionArn", "ExecutionArn"):
        value = event.get(key)
        if isinstance(value, str) and value.startswith("arn:aws:states:"):
            return _execution_to_state_machine(value)
    return None


def _kind_and_source(event: Any) -> tuple[str, str]:
    if type(event) is dict and _SHAPE_KEYS.isdisjoint(event):
        return "direct", ""
    if not isinstance(event, Mapping):
        return "direct", ""
    records = event.get("Records")
    if isinstance(records, list):
        found = _records_trigger(records)
        if found is not None:
            return found
    context = event.get("requestContext")
    if isinstance(context, Mapping):
        if isinstance(context.get("elb"), Mapping):
            return "alb", str(context["elb"].get("targetGroupArn", ""))
        domain = str(context.get("domainName", ""))
        api_id = str(context.get("apiId", ""))
        if ".lambda-url." in domain:
            return "function_url", domain.split(".", 1)[0]
        if context.get("connectionId") and context.get("eventType"):
            return "api_gateway_websocket", api_id
        stage = str(context.get("stage", ""))
        account = str(context.get("accountId", ""))
        source = api_id
        if api_id and account and stage:
            region = os.environ.get(AWS_REGION, "") or "*"
            source = f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}"
        if event.get("version") == "2.0" or isinstance(context.get("http"), Mapping):
            return "api_gateway_http", source
        if "httpMethod" in event or "httpMethod" in context:
            return "api_gateway_rest", source
    if "detail-type" in event and "source" in event:
        resources = event.get("resources")
        first = resources[0] if isinstance(resources, list) and resources else ""
        if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
            return "schedule", str(first)
        if event.get("source") == "aws.scheduler":
            return "schedule", str(first)
        return "eventbridge", str(event.get("source", ""))
    awslogs = event.get("awslogs")
    if isinstance(awslogs, Mapping) and "data" in awslogs:
        return "cloudwatch_logs", ""
    if "triggerSource" in event and "userPoolId" in event:
        return "cognito", str(event.get("userPoolId", ""))
    state_machine = _step_functions(event)
    if state_machine is not None:
        return "step_functions", state_machine
    return "direct", ""


def trigger_of(event: Any, xray_header: str | None, *, xray_parent: bool = False) -> Trigger:
    """The trigger of one invocation, with the parent context and links it carried.

    ``xray_parent``: the X-Ray context is the parent when the event carries
    none; otherwise (the default) it is a link.
    """
    kind, source = _kind_and_source(event)
    parent = None
    if kind in _HTTP and isinstance(event, Mapping):
        parent = parse_traceparent(_header(event, "traceparent"))
    links: tuple[Link, ...] = ()
    if kind in ("sqs", "sns") and isinstance(event, Mapping):
        links = _links(event["Records"])
    xray_link = ""
    if xray_header:
        if parent is None and xray_parent:
            parent = parse_xray(xray_header)
        else:
            xray_link = xray_header[:512]
    # Trigger's fields in order, as tuple.__new__ takes them (its __new__ is a
    # call level more): this runs on every invocation.
    return _tuple_new(
        Trigger,
        (
            kind,
            source[:512],
            "http" if kind in _HTTP else _FAAS_TRIGGER.get(kind, "other"),
            kind in _CONSUMER,
            parent[0] if parent else b"",
            parent[1] if parent else b"",
            parent[2] if parent else True,
            links,
            xray_link,
        ),
    )


def links_of(trigger: Trigger) -> tuple[Link, ...]:
    """The invocation span's links: the X-Ray context first (when it is not the parent), then messages'."""
    found = parse_xray(trigger.xray) if trigger.xray else None
    if found is None:
        return trigger.links
    return (Link(found[0], found[1], found[2]), *trigger.links)
