"""Orders API behind an API Gateway HTTP API.

POST /orders writes the order lines (DynamoDB BatchWriteItem), reserves stock
and records the order header in one transaction (TransactWriteItems), emits
order events (SQS SendMessageBatch) and charges the customer through a
third-party payments API over HTTPS. GET /orders counts orders with a
paginated Scan. The payments API key is read from Secrets Manager once per
execution environment, during INIT.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.request
import uuid

import boto3

ORDERS = os.environ["ORDERS_TABLE"]
INVENTORY = os.environ["INVENTORY_TABLE"]
EVENTS_QUEUE = os.environ["ORDER_EVENTS_QUEUE_URL"]

# INIT phase: one GetSecretValue per cold start, not per request.
_secret = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["API_KEY_SECRET_ID"])
API_KEY = json.loads(_secret["SecretString"])["api_key"]

dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")
# The payments provider's certificate is signed by a private CA shipped with the function.
_TLS = ssl.create_default_context(cafile=os.environ["THIRD_PARTY_CA"])


def _charge(order_id: str, amount: int) -> dict:
    request = urllib.request.Request(
        os.environ["PAYMENTS_URL"] + "/v1/charges",
        data=json.dumps({"order": order_id, "amount": amount}).encode(),
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, context=_TLS, timeout=5) as response:
        return json.load(response)


def _create(body: dict) -> dict:
    order_id = body.get("order_id") or str(uuid.uuid4())
    lines = body["items"]
    dynamodb.batch_write_item(
        RequestItems={
            ORDERS: [
                {
                    "PutRequest": {
                        "Item": {
                            "order_id": {"S": f"{order_id}#{n}"},
                            "sku": {"S": line["sku"]},
                            "qty": {"N": str(line["qty"])},
                        }
                    }
                }
                for n, line in enumerate(lines)
            ]
        }
    )
    dynamodb.transact_write_items(
        TransactItems=[
            *(
                {
                    "Update": {
                        "TableName": INVENTORY,
                        "Key": {"sku": {"S": line["sku"]}},
                        "UpdateExpression": "SET stock = stock - :q",
                        "ExpressionAttributeValues": {":q": {"N": str(line["qty"])}},
                    }
                }
                for line in lines
            ),
            {
                "Put": {
                    "TableName": ORDERS,
                    "Item": {"order_id": {"S": order_id}, "lines": {"N": str(len(lines))}},
                }
            },
        ]
    )
    sqs.send_message_batch(
        QueueUrl=EVENTS_QUEUE,
        Entries=[
            {"Id": str(n), "MessageBody": json.dumps({"order_id": order_id, **line})}
            for n, line in enumerate(lines)
        ],
    )
    charge = _charge(order_id, sum(line["qty"] for line in lines) * 100)
    return {"statusCode": 201, "body": json.dumps({"order_id": order_id, "charged": charge["ok"]})}


def _count() -> dict:
    pages = orders = 0
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=ORDERS, PaginationConfig={"PageSize": 5}
    ):
        pages += 1
        orders += page["Count"]
    return {"statusCode": 200, "body": json.dumps({"orders": orders, "pages": pages})}


def handler(event: dict, context: object) -> dict:
    method = event["requestContext"]["http"]["method"]
    if method == "POST":
        return _create(json.loads(event["body"]))
    return _count()
