"""The agent keeps what the IAM mapping needs from nested request members, and nothing more."""

from __future__ import annotations

from typing import Any

import pytest

from lambdaguard.agent._facts import response_facts
from lambdaguard.agent._reduce import identifying_params

ROLE = "arn:aws:iam::123456789012:role/app"


@pytest.mark.parametrize(
    ("service", "params", "expected"),
    [
        (
            "events",
            {
                "Rule": "r",
                "Targets": [
                    {
                        "Id": "1",
                        "Arn": "arn:aws:sqs:us-east-1:1:q",
                        "RoleArn": ROLE,
                        "Input": '{"secret": 1}',
                    }
                ],
            },
            {"Rule": "r", "Targets": [{"RoleArn": ROLE}]},
        ),
        (
            "textract",
            {
                "Document": {
                    "S3Object": {"Bucket": "docs", "Name": "in/2026/private.pdf", "Version": "v1"}
                }
            },
            {"Document": {"S3Object": {"Bucket": "docs", "Name": "in/", "Version": "v1"}}},
        ),
        (
            "athena",
            {
                "QueryString": "SELECT secret",
                "ResultConfiguration": {"OutputLocation": "s3://res/q/2026/x.csv"},
            },
            {"ResultConfiguration": {"OutputLocation": "s3://res/q/"}},
        ),
        ("ssm", {"Name": "/a", "WithDecryption": True}, {"Name": "/a", "WithDecryption": True}),
        ("ssm", {"Name": "/a", "WithDecryption": False}, {"Name": "/a"}),
        (
            "ec2",
            {
                "TagSpecifications": [
                    {"ResourceType": "instance", "Tags": [{"Key": "owner", "Value": "alice"}]}
                ]
            },
            {"TagSpecifications": [{"ResourceType": "instance"}]},
        ),
        (
            "ecr",
            {"repositoryName": "r", "resourceTags": [{"Key": "k", "Value": "v"}]},
            {"repositoryName": "r", "resourceTags": "*"},
        ),
        (
            "s3",
            {"Bucket": "b", "CreateBucketConfiguration": {"Tags": [{"Key": "k", "Value": "v"}]}},
            {"Bucket": "b", "CreateBucketConfiguration": {"Tags": "*"}},
        ),
        ("lambda", {"FunctionName": "f", "Role": ROLE}, {"FunctionName": "f", "Role": ROLE}),
    ],
)
def test_nested_members_kept(
    service: str, params: dict[str, Any], expected: dict[str, Any]
) -> None:
    """Roles, S3 objects (key cut to a prefix), s3:// URIs, flags and tag markers are kept in place."""
    assert identifying_params(service, params) == expected


def test_environment_values_never_kept() -> None:
    """A role ARN inside a function's environment variables is a value: never recorded."""
    params = {"FunctionName": "f", "Environment": {"Variables": {"ROLE": ROLE, "TOKEN": "secret"}}}
    assert identifying_params("lambda", params) == {"FunctionName": "f"}


def test_payloads_never_kept() -> None:
    """Item maps, message bodies and free text in nested structures are dropped."""
    params = {
        "TableName": "t",
        "Item": {"pk": {"S": ROLE}},
        "Targets": [{"Input": ROLE + " is mine", "Message": "secret"}],
    }
    assert identifying_params("dynamodb", params) == {"TableName": "t"}


def test_walk_is_bounded() -> None:
    """A huge nested request is walked only so far: the record stays small and nothing raises."""
    deep: dict[str, Any] = {"RoleArn": ROLE}
    for _ in range(50):
        deep = {"Next": deep}
    wide = [{"RoleArn": f"arn:aws:iam::123456789012:role/r{i}"} for i in range(10_000)]
    out = identifying_params("events", {"Deep": deep, "Targets": wide})
    assert "Deep" not in out  # deeper than the walk goes
    assert 0 < len(out["Targets"]) <= 100


def test_response_facts_tolerate_odd_shapes() -> None:
    """Missing members, wrong types and too-long values are skipped (never cut), never raised on."""
    assert response_facts(None) == ""
    assert response_facts({"Parameter": "not a map", "Parameters": "nope"}) == ""
    assert response_facts({"SSEKMSKeyId": "k" * 2000}) == ""
    assert response_facts({"SSEKMSKeyId": "k" * 512}) == '{"SSEKMSKeyId":"' + "k" * 512 + '"}'
