"""What the agent keeps of a request is enough for the IAM mapper to name the right permission.

The agent reduces each request to its identifying members (lambdaguard.agent.aws)
and the collector maps that reduction to IAM (lambdaguard.iam). If the agent
dropped a member that changes the action (a VersionId, a Tagging header, a batch
entry), the proposed policy would miss a permission the function uses. These
tests run real request shapes through both halves.
"""

from __future__ import annotations

from typing import Any

import pytest

from lambdaguard.agent.aws import identifying_params
from lambdaguard.iam import authorizations

ACCOUNT = "123456789012"
REGION = "eu-west-1"

CASES: list[tuple[str, str, dict[str, Any], set[tuple[str, str]]]] = [
    (
        "s3",
        "GetObject",
        {"Bucket": "photos", "Key": "2026/11/cat.jpg", "VersionId": "3HL4kqtJlcpXroDTDmJ"},
        {("s3:GetObjectVersion", "arn:aws:s3:::photos/2026/*")},
    ),
    (
        "s3",
        "PutObject",
        {"Bucket": "photos", "Key": "up/a.txt", "Body": b"secret", "Tagging": "team=x"},
        {
            ("s3:PutObject", "arn:aws:s3:::photos/up/*"),
            ("s3:PutObjectTagging", "arn:aws:s3:::photos/up/*"),
        },
    ),
    (
        "s3",
        "DeleteObjects",
        {
            "Bucket": "photos",
            "Delete": {"Objects": [{"Key": "tmp/a"}, {"Key": "tmp/b", "VersionId": "v1"}]},
        },
        {
            ("s3:DeleteObject", "arn:aws:s3:::photos/tmp/*"),
            ("s3:DeleteObjectVersion", "arn:aws:s3:::photos/tmp/*"),
        },
    ),
    (
        "s3",
        "CopyObject",
        {"Bucket": "dst", "Key": "out/x", "CopySource": "src/in/x?versionId=abc"},
        {
            ("s3:PutObject", "arn:aws:s3:::dst/out/*"),
            ("s3:GetObjectVersion", "arn:aws:s3:::src/in/*"),
        },
    ),
    (
        "dynamodb",
        "BatchWriteItem",
        {
            "RequestItems": {
                "orders": [{"PutRequest": {"Item": {"pk": {"S": "secret"}}}}],
                "audit": [{"DeleteRequest": {"Key": {"pk": {"S": "k"}}}}],
            }
        },
        {
            ("dynamodb:BatchWriteItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"),
            ("dynamodb:BatchWriteItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/audit"),
        },
    ),
    (
        "dynamodb",
        "ExecuteStatement",
        {"Statement": "SELECT * FROM \"orders\" WHERE pk = 'secret-value'"},
        {("dynamodb:PartiQLSelect", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders")},
    ),
    (
        "secretsmanager",
        "GetSecretValue",
        {"SecretId": "prod/db"},
        {
            (
                "secretsmanager:GetSecretValue",
                f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/db-??????",
            )
        },
    ),
    (
        "sqs",
        "SendMessageBatch",
        {
            "QueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/jobs",
            "Entries": [{"Id": "1", "MessageBody": "secret"}],
        },
        {("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs")},
    ),
]


@pytest.mark.parametrize(("service", "operation", "params", "expected"), CASES)
def test_recorded_params_keep_what_decides_the_permission(
    service: str, operation: str, params: dict[str, Any], expected: set[tuple[str, str]]
) -> None:
    """The agent's reduction of a request maps to the same permissions AWS checks for it."""
    recorded = identifying_params(service, params)
    got = {
        (a.action, a.resource)
        for a in authorizations(service, operation, recorded, region=REGION, account=ACCOUNT)
    }
    assert expected <= got, f"recorded {recorded} mapped to {sorted(got)}"
