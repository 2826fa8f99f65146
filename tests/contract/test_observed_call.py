"""The observed-call record carries everything the IAM mapping reads, from the wire to the mapping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lambdaguard import recorded
from lambdaguard.errors import IamDataError
from lambdaguard.evidence import ObservedCall
from lambdaguard.iam import TOP_SERVICES, Confidence, authorizations, authorizations_for_call
from lambdaguard.iam._beyond import EVIDENCE_FACTS
from lambdaguard.iam._models import service_info

ARN = "arn:aws:lambda:eu-west-1:123456789012:function:orders"
ACCOUNT = "123456789012"
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


class _Reads(dict[str, Any]):
    """A response mapping that remembers every fact the mapping asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


def _operations() -> Iterator[tuple[str, str]]:
    for service in TOP_SERVICES:
        for operation in service_info(service).operations:
            yield service, operation


def test_every_response_fact_the_mapping_reads_is_recorded() -> None:
    """Across the 40 favourite services, the mapping asks only for response facts the agent records."""
    asked: set[str] = set()
    for service, operation in _operations():
        reads = _Reads()
        try:
            authorizations(
                service, operation, {}, region="eu-west-1", account=ACCOUNT, response=reads
            )
        except IamDataError:
            continue
        asked |= reads.asked
    assert asked, "the walk reached no rule that reads the response"
    # ErrorCode is the call's error, which the store keeps in its own column;
    # EVIDENCE_FACTS are keys the analysis may add from other recorded calls.
    assert asked - {"ErrorCode"} - set(EVIDENCE_FACTS) <= set(recorded.RESPONSE_FACTS)


def test_sse_kms_from_the_store_reaches_the_mapping() -> None:
    """A PutObject whose response named an SSE-KMS key needs kms:GenerateDataKey on that key."""
    call = ObservedCall(
        function_arn=ARN,
        account=ACCOUNT,
        service="s3",
        operation="PutObject",
        region="eu-west-1",
        params={"Bucket": "orders", "Key": "in/"},
        response={"SSEKMSKeyId": KEY},
    )
    found = {(a.action, a.resource) for a in authorizations_for_call(call)}
    assert ("kms:GenerateDataKey", KEY) in found
    assert ("s3:PutObject", "arn:aws:s3:::orders/in/*") in found


def test_a_cut_call_is_mapped_with_a_wider_resource_and_says_so() -> None:
    """Params the agent had to cut keep what was recorded and add * for each action, explained."""
    call = ObservedCall(
        function_arn=ARN,
        account=ACCOUNT,
        service="sqs",
        operation="SendMessage",
        region="eu-west-1",
        params={"QueueUrl": f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/orders"},
        params_complete=False,
    )
    found = authorizations_for_call(call)
    exact = [a for a in found if a.resource.endswith(":orders")]
    # DEPENDENT '*' (KMS on the queue's key, not recorded) is not the cut's widening.
    wide = [a for a in found if a.resource == "*" and a.confidence is not Confidence.DEPENDENT]
    assert exact
    assert wide
    assert all(a.confidence is Confidence.WILDCARD and "cut" in a.explanation for a in wide)


@pytest.mark.parametrize("error", ["AccessDenied", "AccessDeniedException"])
def test_error_codes_reach_the_mapping_and_the_record(error: str) -> None:
    """An access-denied call is marked denied on the record, and its mapping still names the action."""
    call = ObservedCall(
        function_arn=ARN,
        account=ACCOUNT,
        service="dynamodb",
        operation="PutItem",
        region="eu-west-1",
        params={"TableName": "orders"},
        error_code=error,
    )
    assert call.denied
    actions = {a.action for a in authorizations_for_call(call)}
    assert "dynamodb:PutItem" in actions
