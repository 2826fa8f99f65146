"""What the agent records (its reduced request parameters) maps to the right authorizations."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdaguard.agent.aws import identifying_params

from .conftest import ACCOUNT, REGION, Mapper

R, A = REGION, ACCOUNT

CASES: list[tuple[str, str, dict[str, Any], list[tuple[str, str]]]] = [
    (
        "s3",
        "GetObject",
        {"Bucket": "b", "Key": "photos/2024/a.jpg"},
        [("s3:GetObject", "arn:aws:s3:::b/photos/*")],
    ),
    (
        "s3",
        "PutObject",
        {"Bucket": "b", "Key": "a.jpg", "Body": b"x"},
        [("s3:PutObject", "arn:aws:s3:::b/*")],
    ),
    (
        "s3",
        "CopyObject",
        {"Bucket": "d", "Key": "out/x", "CopySource": {"Bucket": "s", "Key": "in/y"}},
        [("s3:GetObject", "arn:aws:s3:::s/in/*"), ("s3:PutObject", "arn:aws:s3:::d/out/*")],
    ),
    (
        "dynamodb",
        "ExecuteStatement",
        {"Statement": 'SELECT * FROM "orders"."byDate" WHERE pk = ?', "Parameters": [{"S": "1"}]},
        [("dynamodb:PartiQLSelect", f"arn:aws:dynamodb:{R}:{A}:table/orders/index/byDate")],
    ),
    (
        "dynamodb",
        "ExecuteStatement",
        {"Statement": "UPDATE orders SET a = 1 WHERE pk = ?"},
        [("dynamodb:PartiQLUpdate", f"arn:aws:dynamodb:{R}:{A}:table/orders")],
    ),
    (
        "dynamodb",
        "BatchWriteItem",
        {"RequestItems": {"t1": [{"PutRequest": {"Item": {"pk": {"S": "x"}}}}]}},
        [("dynamodb:BatchWriteItem", f"arn:aws:dynamodb:{R}:{A}:table/t1")],
    ),
    (
        "dynamodb",
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": "a", "Item": {"pk": {"S": "1"}}}},
                {"ConditionCheck": {"TableName": "b", "Key": {}, "ConditionExpression": "x"}},
            ]
        },
        [
            ("dynamodb:PutItem", f"arn:aws:dynamodb:{R}:{A}:table/a"),
            ("dynamodb:ConditionCheckItem", f"arn:aws:dynamodb:{R}:{A}:table/b"),
        ],
    ),
    (
        "events",
        "PutEvents",
        {"Entries": [{"Source": "app", "Detail": "{}"}, {"EventBusName": "orders"}]},
        [
            ("events:PutEvents", f"arn:aws:events:{R}:{A}:event-bus/default"),
            ("events:PutEvents", f"arn:aws:events:{R}:{A}:event-bus/orders"),
        ],
    ),
    (
        "sqs",
        "SendMessage",
        {"QueueUrl": f"https://sqs.{R}.amazonaws.com/{A}/jobs", "MessageBody": "secret"},
        [("sqs:SendMessage", f"arn:aws:sqs:{R}:{A}:jobs")],
    ),
    (
        "secretsmanager",
        "GetSecretValue",
        {"SecretId": "prod/db"},
        [
            (
                "secretsmanager:GetSecretValue",
                f"arn:aws:secretsmanager:{R}:{A}:secret:prod/db-??????",
            )
        ],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_agent_record_maps(pairs: Mapper, case: tuple[str, str, dict[str, Any], list[Any]]) -> None:
    """A request reduced by the agent and sent as JSON maps to the expected authorizations."""
    service, operation, request, expected = case
    wire = json.loads(json.dumps(identifying_params(service, request), sort_keys=True))
    assert pairs(service, operation, wire) == expected
