"""Trigger events have AWS's shapes: lambdaguard's own trigger detection names each one."""

from __future__ import annotations

import json

from lambdaguard.agent.triggers import trigger_of
from lambdaguard.local import events

ACCOUNT = "123456789012"
REGION = "us-east-1"


def test_api_gateway_http_event_is_an_http_api_request() -> None:
    """The HTTP API event is detected as api_gateway_http with the API as its source."""
    event = events.api_gateway_http(
        "POST", "/orders", api_id="abc123", account=ACCOUNT, region=REGION, body={"a": 1}
    )
    assert json.loads(event["body"]) == {"a": 1}
    trigger = trigger_of(event, None)
    assert trigger.kind == "api_gateway_http"
    assert "abc123" in trigger.source
    assert trigger.faas_trigger == "http"


def test_sqs_event_carries_the_queue_arn() -> None:
    """An SQS batch built from ReceiveMessage output is detected as sqs from its queue."""
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"
    msgs = [{"MessageId": "m1", "ReceiptHandle": "r1", "Body": "{}"}]
    event = events.sqs_batch(msgs, queue_arn=arn)
    assert event["Records"][0]["awsRegion"] == REGION
    trigger = trigger_of(event, None)
    assert (trigger.kind, trigger.source) == ("sqs", arn)


def test_s3_event_url_encodes_the_key() -> None:
    """The S3 notification names the bucket and URL-encodes the key as S3 does."""
    event = events.s3_object_created("b", "new/a photo.jpg", size=3, etag='"e"', region=REGION)
    obj = event["Records"][0]["s3"]["object"]
    assert obj["key"] == "new/a+photo.jpg"
    assert obj["eTag"] == "e"
    assert trigger_of(event, None).kind == "s3"


def test_schedule_event_is_a_scheduled_event() -> None:
    """The EventBridge Scheduled Event is detected as a schedule from its rule."""
    rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/r"
    trigger = trigger_of(events.schedule(rule, account=ACCOUNT, region=REGION), None)
    assert (trigger.kind, trigger.source) == ("schedule", rule)
