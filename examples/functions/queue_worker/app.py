"""Inventory worker fed by an SQS event source mapping (the order events queue).

Reserves stock for every message with DynamoDB UpdateItem, fanned out over
a thread pool, then sends one notification per message with SQS
SendMessageBatch. Reports partial batch failures the way Lambda expects.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import boto3

INVENTORY = os.environ["INVENTORY_TABLE"]
NOTIFICATIONS = os.environ["NOTIFICATIONS_QUEUE_URL"]

dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")
_pool = ThreadPoolExecutor(max_workers=4)


def _reserve(message: dict) -> None:
    dynamodb.update_item(
        TableName=INVENTORY,
        Key={"sku": {"S": message["sku"]}},
        UpdateExpression="ADD reserved :q",
        ExpressionAttributeValues={":q": {"N": str(message["qty"])}},
    )


def handler(event: dict, context: object) -> dict:
    records = event["Records"]
    messages = [json.loads(record["body"]) for record in records]
    failures = []
    for record, future in zip(records, [_pool.submit(_reserve, m) for m in messages], strict=True):
        if future.exception() is not None:
            failures.append({"itemIdentifier": record["messageId"]})
    for start in range(0, len(messages), 10):  # SendMessageBatch takes at most 10 entries
        chunk = messages[start : start + 10]
        sqs.send_message_batch(
            QueueUrl=NOTIFICATIONS,
            Entries=[
                {"Id": str(n), "MessageBody": json.dumps({"reserved": m["sku"], "qty": m["qty"]})}
                for n, m in enumerate(chunk)
            ],
        )
    return {"batchItemFailures": failures}
