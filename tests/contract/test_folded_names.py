"""A name the agent folded into a pattern maps to the narrowest wildcard ARN, marked as a template."""

from __future__ import annotations

import json
import uuid

import pytest

from lambdaguard.agent import _patterns
from lambdaguard.agent.aws import identifying_params
from lambdaguard.iam import authorizations

ACCOUNT = "123456789012"
REGION = "eu-west-1"


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        (
            "ec2",
            "CreateKeyPair",
            {"KeyName": f"kp_{uuid.uuid4()}"},
            ("ec2:CreateKeyPair", f"arn:aws:ec2:{REGION}:{ACCOUNT}:key-pair/kp_*"),
        ),
        (
            "sqs",
            "CreateQueue",
            {"QueueName": "job-1735689600123"},
            ("sqs:CreateQueue", f"arn:aws:sqs:{REGION}:{ACCOUNT}:job-*"),
        ),
        (
            "s3",
            "PutObject",
            {"Bucket": "exports", "Key": f"upload-{uuid.uuid4().hex}/report.csv", "Body": b"x"},
            ("s3:PutObject", "arn:aws:s3:::exports/upload-*/*"),
        ),
    ],
)
def test_folded_names_map_to_wildcard_templates(
    service: str, operation: str, params: dict[str, object], expected: tuple[str, str]
) -> None:
    """Folding keeps the stable part; the ARN ends in IAM's '*' and says it matches more than one."""
    text = json.dumps(identifying_params(service, params), sort_keys=True, separators=(",", ":"))
    folded = json.loads(_patterns.fold_text(text))
    found = {
        (a.action, a.resource): a
        for a in authorizations(service, operation, folded, region=REGION, account=ACCOUNT)
    }
    assert expected in found, sorted(found)
    assert found[expected].confidence.value == "template"
