"""Every request member and response fact the IAM mapping reads is recorded by the agent.

The agent keeps a reduction of each request (``lambdaguard.agent._reduce``) and a
few response facts (``lambdaguard.recorded.RESPONSE_FACTS``); the collector maps
that reduction. If the agent dropped a member the mapping reads (a role nested in
EventBridge targets, the S3 object inside a Textract ``Document``, EC2
``TagSpecifications``, SSM ``WithDecryption``), a proposal built in production
would miss a permission. So: for every operation of the 40 services Lambda
functions call most, a full request is generated from botocore's shapes, with
every member filled, and mapped twice, as sent and as the agent records it. Every
authorization of the full request must be covered by one of the recorded request
(the same action, on the same resource or a pattern that matches it: keys are cut
to a prefix, "reduced but usable").
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from lambdaguard import recorded
from lambdaguard.agent._facts import response_facts
from lambdaguard.agent._reduce import identifying_params
from lambdaguard.errors import IamDataError
from lambdaguard.iam import TOP_SERVICES, authorizations, operation_plan
from lambdaguard.iam._beyond import EVIDENCE_FACTS
from lambdaguard.iam._models import _model, service_info

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/passed"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

# Where the mapping needs what the agent, by design, does not keep, and why.
ACCEPTED: dict[tuple[str, str], str] = {}


def _string(name: str, parent: str) -> str:
    low = name.lower()
    if low.endswith(("role", "rolearn", "rolearns")):
        return ROLE
    if "kms" in low:
        return KEY
    if low.endswith(("uri", "location")) or low in ("s3uri", "s3path"):
        return "s3://bucket-x/in/2026/a.txt"
    if parent in recorded.S3_OBJECTS and name == "Name":
        return "in/2026/doc.pdf"
    if name in ("Key", "Prefix"):
        return "in/2026/a.txt"
    if low == "queueurl":
        return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/jobs"
    if name == "ResourceType":
        return "instance"
    return "example"


def _fill(shape: Any, name: str, parent: str, seen: frozenset[str]) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if shape.name in seen or len(seen) > 6:
            return {}
        return {n: _fill(m, n, name, seen | {shape.name}) for n, m in shape.members.items()}
    if kind == "list":
        if shape.name in seen or len(seen) > 6:
            return []
        return [_fill(shape.member, name, parent, seen | {shape.name})]
    if kind == "map":
        value = _fill(shape.value, name, parent, seen | {shape.name})
        if isinstance(value, str) and name.lower().endswith("attributes"):
            # SNS topic attributes carry delivery-status roles under their names.
            return {"LambdaSuccessFeedbackRoleArn": ROLE}
        return {"k": value if not isinstance(value, str) else "example"}
    if kind in ("integer", "long"):
        return 1
    if kind in ("float", "double"):
        return 1.0
    if kind == "boolean":
        return True
    if kind == "blob":
        return b"payload"
    if kind == "timestamp":
        return "2026-01-01T00:00:00Z"
    enum = getattr(shape, "enum", None)
    if enum:
        return enum[0]
    return _string(name, parent)


def full_request(service: str, operation: str) -> dict[str, Any]:
    """A request with every member filled, nested ones too (depth-limited)."""
    shape = _model(service).operation_model(operation).input_shape
    return {} if shape is None else _fill(shape, "", "", frozenset())


def _operations() -> Iterator[tuple[str, str]]:
    for service in sorted(TOP_SERVICES):
        for op in service_info(service).operations:
            if operation_plan(service, op).kind not in ("free", "unknown"):
                yield service, op


def _covered(resource: str, recorded_resources: set[str]) -> bool:
    # IAM wildcards: '*' any run of characters, '?' one character.
    return any(
        resource == r or fnmatch.fnmatchcase(resource, r.replace("[", "[[]"))
        for r in recorded_resources
    )


def _map(service: str, operation: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    try:
        found = authorizations(service, operation, params, region=REGION, account=ACCOUNT)
    except IamDataError:
        return []
    return [(a.action, a.resource) for a in found]


@pytest.mark.parametrize(("service", "operation"), list(_operations()))
def test_recorded_request_keeps_what_the_mapping_reads(service: str, operation: str) -> None:
    """The agent's record of a full request maps to authorizations covering the full request's."""
    if (service, operation) in ACCEPTED:
        pytest.skip(ACCEPTED[(service, operation)])
    params = full_request(service, operation)
    wire = json.loads(json.dumps(identifying_params(service, params), sort_keys=True))
    sent = _map(service, operation, params)
    kept = _map(service, operation, wire)
    by_action: dict[str, set[str]] = {}
    for action, resource in kept:
        by_action.setdefault(action, set()).add(resource)
    missing = [
        (action, resource)
        for action, resource in sent
        if not _covered(resource, by_action.get(action, set()))
    ]
    assert missing == [], f"recorded {wire} lost {missing}"


@pytest.mark.parametrize(
    ("service", "operation", "params", "action"),
    [
        (
            "events",
            "PutTargets",
            {"Rule": "r", "Targets": [{"Id": "1", "RoleArn": ROLE}]},
            "iam:PassRole",
        ),
        (
            "scheduler",
            "CreateSchedule",
            {
                "Name": "n",
                "Target": {"Arn": "arn:aws:sqs:us-east-1:123456789012:q", "RoleArn": ROLE},
            },
            "iam:PassRole",
        ),
        (
            "textract",
            "AnalyzeDocument",
            {"Document": {"S3Object": {"Bucket": "docs", "Name": "in/2026/a.pdf"}}},
            "s3:GetObject",
        ),
        (
            "rekognition",
            "DetectLabels",
            {"Image": {"S3Object": {"Bucket": "pics", "Name": "cats/1.jpg", "Version": "v1"}}},
            "s3:GetObjectVersion",
        ),
        ("ssm", "GetParameter", {"Name": "/app/db", "WithDecryption": True}, "kms:Decrypt"),
        ("sqs", "CreateQueue", {"QueueName": "q", "tags": {"team": "a"}}, "sqs:TagQueue"),
        ("lambda", "CreateFunction", {"FunctionName": "f", "Role": ROLE}, "iam:PassRole"),
    ],
)
def test_new_members_survive_the_agent(
    service: str, operation: str, params: dict[str, Any], action: str
) -> None:
    """Nested roles, S3 objects in Document/Image, tags at creation and WithDecryption are recorded."""
    wire = json.loads(json.dumps(identifying_params(service, params), sort_keys=True))
    assert action in {a for a, _ in _map(service, operation, wire)}, wire


class _Reads(dict[str, Any]):
    """A response mapping that notes every fact the mapping asks for."""

    asked: set[str]

    def __init__(self) -> None:
        super().__init__()
        self.asked = set()

    def get(self, key: Any, default: Any = None) -> Any:
        self.asked.add(str(key))
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        self.asked.add(str(key))
        return super().__getitem__(key)


def test_every_response_fact_read_is_recorded_or_evidence() -> None:
    """Each response fact the mapping reads is in RESPONSE_FACTS, an error code, or declared evidence."""
    asked: set[str] = set()
    for service, operation in _operations():
        reads = _Reads()
        with contextlib.suppress(IamDataError):
            authorizations(
                service,
                operation,
                full_request(service, operation),
                region=REGION,
                account=ACCOUNT,
                response=reads,
            )
        asked |= reads.asked
    allowed = set(recorded.RESPONSE_FACTS) | {"ErrorCode"} | set(EVIDENCE_FACTS)
    assert sorted(asked - allowed) == []
    assert {"SSEKMSKeyId", "KeyId", "ParameterType"} <= asked


def test_response_facts_are_read_generically() -> None:
    """The agent's reader takes every RESPONSE_FACTS path from a parsed botocore response."""
    facts = json.loads(
        response_facts(
            {
                "SSEKMSKeyId": KEY,
                "VersionId": "v1",
                "Parameters": [{"Type": "String"}, {"Type": "SecureString"}, {"Type": "String"}],
                "ResponseMetadata": {"HTTPStatusCode": 200},
            }
        )
    )
    assert facts == {
        "SSEKMSKeyId": KEY,
        "VersionId": "v1",
        "ParameterType": "String,SecureString",
    }
