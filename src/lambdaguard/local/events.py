"""Trigger events in the shapes AWS delivers them to a Python handler.

Only what the samples and lambdaguard's trigger detection read is filled in,
but every field present has the type and format AWS uses (API Gateway HTTP
API payload 2.0, SQS, S3 notification 2.1, EventBridge Scheduled Event).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import urllib.parse
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["api_gateway_http", "s3_object_created", "schedule", "sqs_batch"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def api_gateway_http(
    method: str,
    path: str,
    *,
    api_id: str,
    account: str,
    region: str,
    body: Any = None,
    stage: str = "$default",
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) request event."""
    now = _now()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "host": f"{api_id}.execute-api.{region}.amazonaws.com",
            "user-agent": "curl/8.5.0",
            "x-amzn-trace-id": f"Root=1-{int(now.timestamp()):08x}-{secrets.token_hex(12)}",
        },
        "requestContext": {
            "accountId": account,
            "apiId": api_id,
            "domainName": f"{api_id}.execute-api.{region}.amazonaws.com",
            "domainPrefix": api_id,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "curl/8.5.0",
            },
            "requestId": secrets.token_urlsafe(12),
            "routeKey": "$default",
            "stage": stage,
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def sqs_batch(messages: Sequence[Mapping[str, Any]], *, queue_arn: str) -> dict[str, Any]:
    """An SQS event from messages as ReceiveMessage returned them (with Attributes)."""
    region = queue_arn.split(":")[3]
    records = []
    for msg in messages:
        attrs = msg.get("Attributes", {})
        records.append(
            {
                "messageId": msg["MessageId"],
                "receiptHandle": msg["ReceiptHandle"],
                "body": msg["Body"],
                "attributes": {
                    "ApproximateReceiveCount": attrs.get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": attrs.get(
                        "SentTimestamp", str(int(_now().timestamp() * 1000))
                    ),
                    "SenderId": attrs.get("SenderId", "AIDAIENQZJOLO23YVJ4VO"),
                    "ApproximateFirstReceiveTimestamp": attrs.get(
                        "ApproximateFirstReceiveTimestamp", str(int(_now().timestamp() * 1000))
                    ),
                },
                "messageAttributes": {},
                "md5OfBody": msg.get("MD5OfBody", hashlib.md5(msg["Body"].encode()).hexdigest()),  # noqa: S324 - SQS's checksum
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def s3_object_created(
    bucket: str, key: str, *, size: int, etag: str, region: str, sequencer: str | None = None
) -> dict[str, Any]:
    """An S3 ObjectCreated:Put notification (event version 2.1) for one object."""
    now = _now()
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AIDAEXAMPLEUPLOADER"},
                "requestParameters": {"sourceIPAddress": "203.0.113.10"},
                "responseElements": {
                    "x-amz-request-id": secrets.token_hex(8).upper(),
                    "x-amz-id-2": secrets.token_urlsafe(48),
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "thumbnailer",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        # S3 URL-encodes the key in notifications (spaces become '+').
                        "key": urllib.parse.quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": etag.strip('"'),
                        "sequencer": sequencer or secrets.token_hex(9).upper(),
                    },
                },
            }
        ]
    }


def schedule(rule_arn: str, *, account: str, region: str) -> dict[str, Any]:
    """An EventBridge "Scheduled Event" for a schedule rule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": _now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }
