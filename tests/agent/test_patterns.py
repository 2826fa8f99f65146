"""Folding identifiers unique per call into patterns, and keeping everything else exact."""

from __future__ import annotations

import json
import uuid

import pytest

from lambdaguard.agent import _patterns
from lambdaguard.agent.recorder import AwsCall

UUID = "3f2a9b1c-1234-4abc-9def-0123456789ab"


@pytest.mark.parametrize(
    ("params", "folded"),
    [
        ({"KeyName": f"kp_{UUID}"}, {"KeyName": "kp_*"}),
        ({"Key": "exports/report-1735689600.csv"}, {"Key": "exports/report-*.csv"}),
        ({"Key": "uploads/1735689600123/"}, {"Key": "uploads/*/"}),
        ({"TableName": "events_20260102T101500Z"}, {"TableName": "events_*"}),
        ({"name": "run-01ARZ3NDEKTSV4RRFFQ69G5FAV"}, {"name": "run-*"}),
        ({"Key": "in/deadbeefdeadbeefdeadbeef1.json"}, {"Key": "in/*.json"}),
        (
            {"Bucket": "b", "VersionId": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"},
            {"Bucket": "b", "VersionId": "*"},
        ),
    ],
)
def test_per_call_identifiers_fold_to_their_stable_parts(
    params: dict[str, str], folded: dict[str, str]
) -> None:
    """UUIDs, ULIDs, long hex and timestamps inside names, and version ids, become '*'."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    assert json.loads(_patterns.fold_text(text)) == folded


@pytest.mark.parametrize(
    "params",
    [
        {"KeyId": UUID},  # a KMS key id: assigned by AWS, stable
        {"KeyId": f"arn:aws:kms:us-east-1:123456789012:key/{UUID}"},
        {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/orders"},
        {"InstanceIds": ["i-0123456789abcdef0"]},
        {"ImageId": "ami-0abcdef1234567890"},
        {"Name": "/app/config/db"},
        {"Key": "reports/2026-01-02/"},  # a date alone is kept
        {"TableName": "orders"},
    ],
)
def test_stable_identifiers_are_kept(params: dict[str, object]) -> None:
    """Account ids, AWS-assigned ids filling a whole segment, dates and plain names are unchanged."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    assert _patterns.fold_text(text) == text


def test_fresh_uuids_give_one_pattern() -> None:
    """A name made with a fresh UUID each call folds to the same text every time."""
    texts = {_patterns.fold_text(json.dumps({"KeyName": f"kp_{uuid.uuid4()}"})) for _ in range(50)}
    assert texts == {'{"KeyName": "kp_*"}'}


def test_fold_call_folds_params_and_version_facts_only() -> None:
    """fold_call rewrites params and the object version response fact, keeps the KMS key id,
    and returns the same call when nothing changes."""
    call = AwsCall(
        service="s3",
        service_id="S3",
        operation="PutObject",
        region="us-east-1",
        endpoint="",
        params='{"Bucket":"b","Key":"out/"}',
        start_ns=0,
        end_ns=0,
        response=f'{{"SSEKMSKeyId":"{UUID}","VersionId":"3HL4kqtJlcpXroDTDmJ"}}',
    )
    folded = _patterns.fold_call(call)
    assert json.loads(folded.response) == {"SSEKMSKeyId": UUID, "VersionId": "*"}
    assert folded.params == call.params
    plain = call._replace(response=f'{{"SSEKMSKeyId":"{UUID}"}}')
    assert _patterns.fold_call(plain) is plain
