"""Bad input gives a clear error or '*' with a reason: never a crash, never an invented ARN."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdaguard.errors import IamDataError, UnknownOperation, UnknownService
from lambdaguard.iam import Confidence, authorizations

from .conftest import ACCOUNT, REGION


def _map(service: str, operation: str, params: Any = None, **kw: Any) -> Any:
    """The call's answer without its DEPENDENT authorizations (tested in test_hard_cases)."""
    kw.setdefault("region", REGION)
    kw.setdefault("account", ACCOUNT)
    found = authorizations(service, operation, params, **kw)
    return [a for a in found if a.confidence is not Confidence.DEPENDENT]


def test_unknown_service_names_nearest() -> None:
    """An unknown service raises UnknownService naming it and the nearest services."""
    with pytest.raises(UnknownService) as exc:
        _map("dynamo", "GetItem")
    assert "dynamo" in str(exc.value)
    assert "dynamodb" in exc.value.nearest


def test_unknown_operation_names_nearest() -> None:
    """An unknown operation raises UnknownOperation naming it and the nearest operations."""
    with pytest.raises(UnknownOperation) as exc:
        _map("s3", "ListObjectV2")
    assert "ListObjectV2" in str(exc.value)
    assert "ListObjectsV2" in exc.value.nearest


@pytest.mark.parametrize("params", [[1, 2], "Bucket=b", 5])
def test_params_must_be_an_object(params: Any) -> None:
    """Params that are not a mapping raise IamDataError, not a TypeError."""
    with pytest.raises(IamDataError, match="params must be a JSON object"):
        _map("s3", "ListObjectsV2", params)


@pytest.mark.parametrize("field", ["region", "account", "partition"])
def test_context_must_be_text(field: str) -> None:
    """A region, account or partition that is not a short string raises IamDataError."""
    with pytest.raises(IamDataError, match=field):
        _map("s3", "ListObjectsV2", {"Bucket": "b"}, **{field: 7})


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"Bucket": 5}, "is a int"),
        ({"Bucket": "b" * 5000}, "longer than"),
        ({"Bucket": "b\nx"}, "control characters"),
        ({"Bucket": "${aws:username}"}, "policy variable"),
        ({"Bucket": ""}, "is empty"),
        ({}, "no parameter"),
    ],
)
def test_bad_values_fall_back_to_star_with_reason(params: dict[str, Any], reason: str) -> None:
    """A value that cannot name a resource yields '*', WILDCARD, and an explanation saying why."""
    [auth] = _map("s3", "ListObjectsV2", params)
    assert (auth.resource, auth.confidence) == ("*", Confidence.WILDCARD)
    assert reason in auth.explanation


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    [
        ("s3", "GetObject", {"Bucket": "arn:aws:sns:us-east-1:123456789012:t", "Key": "k"}),
        ("lambda", "Invoke", {"FunctionName": "arn:aws:sqs:us-east-1:123456789012:q"}),
        ("sns", "Publish", {"TopicArn": "arn:aws:sqs:us-east-1:123456789012:q"}),
        ("secretsmanager", "GetSecretValue", {"SecretId": "arn:aws:ssm:us-east-1:1:parameter/x"}),
        ("ssm", "GetParameter", {"Name": "arn:aws:s3:::bucket"}),
    ],
)
def test_arn_of_the_wrong_service_is_not_used(
    service: str, operation: str, params: dict[str, Any]
) -> None:
    """An ARN of another service never appears in (or as) the resource: '*' with a reason."""
    found = _map(service, operation, params)
    assert found
    for auth in found:
        assert auth.resource == "*"
        assert auth.confidence is Confidence.WILDCARD
        assert auth.explanation


def test_unreadable_partiql_is_star_with_reason() -> None:
    """A PartiQL statement whose verb or table cannot be read gives '*' and says so."""
    [auth] = _map("dynamodb", "ExecuteStatement", {"Statement": "EXPLAIN nothing"})
    assert auth.resource == "*"
    assert "PartiQL" in auth.explanation


def test_unrecorded_batch_is_star_with_reason() -> None:
    """A batch call whose table names were not recorded gives '*' and says so."""
    [auth] = _map("dynamodb", "BatchWriteItem", {})
    assert (auth.action, auth.resource) == ("dynamodb:BatchWriteItem", "*")
    assert "RequestItems" in auth.explanation


def test_same_call_twice_gives_same_answer() -> None:
    """Mapping is deterministic: the same call gives the same list in the same order."""
    params = {"TransactItems": [{"Put": {"TableName": t}} for t in "zyxab"]}
    first = _map("dynamodb", "TransactWriteItems", params)
    assert first == _map("dynamodb", "TransactWriteItems", params)
    assert [a.resource.rsplit("/", 1)[1] for a in first] == list("zyxab")


def test_duplicates_are_folded() -> None:
    """Two transaction items on the same table and action appear once."""
    params = {"TransactItems": [{"Put": {"TableName": "t"}}, {"Put": {"TableName": "t"}}]}
    assert len(_map("dynamodb", "TransactWriteItems", params)) == 1


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
_members = st.sampled_from(
    [
        "Bucket",
        "Key",
        "VersionId",
        "CopySource",
        "TableName",
        "IndexName",
        "RequestItems",
        "TransactItems",
        "Statement",
        "Statements",
        "QueueUrl",
        "FunctionName",
        "Qualifier",
        "SecretId",
        "Name",
        "Names",
        "Entries",
        "KeyId",
        "TopicArn",
        "Role",
        "Delete",
        "modelId",
    ]
)
_calls = st.sampled_from(
    [
        ("s3", "GetObject"),
        ("s3", "CopyObject"),
        ("s3", "DeleteObjects"),
        ("dynamodb", "Query"),
        ("dynamodb", "BatchWriteItem"),
        ("dynamodb", "TransactWriteItems"),
        ("dynamodb", "ExecuteStatement"),
        ("dynamodb", "BatchExecuteStatement"),
        ("sqs", "SendMessage"),
        ("lambda", "Invoke"),
        ("lambda", "CreateFunction"),
        ("secretsmanager", "GetSecretValue"),
        ("ssm", "GetParameters"),
        ("events", "PutEvents"),
        ("kms", "Decrypt"),
        ("sns", "Publish"),
        ("bedrock-runtime", "InvokeModel"),
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=_calls, params=st.dictionaries(_members, _json, max_size=5), response=_json)
def test_arbitrary_params_never_crash(
    call: tuple[str, str], params: dict[str, Any], response: Any
) -> None:
    """Any JSON params give authorizations or IamDataError; every resource is '*' or this partition's ARN."""
    service, operation = call
    try:
        found = _map(service, operation, params, response=response)
    except IamDataError:
        return
    for auth in found:
        assert auth.resource == "*" or auth.resource.startswith("arn:aws:")
        assert "${" not in auth.resource
        assert auth.explanation
        if auth.resource == "*" and auth.confidence is Confidence.WILDCARD:
            assert len(auth.explanation) > 10


@settings(max_examples=200, deadline=None)
@given(bucket=st.text(min_size=1, max_size=60), key=st.text(min_size=1, max_size=60))
def test_s3_arns_hold_only_recorded_values(bucket: str, key: str) -> None:
    """An S3 object ARN is built from exactly the recorded bucket and key, or is '*'."""
    [auth] = _map("s3", "GetObject", {"Bucket": bucket, "Key": key})
    if auth.resource != "*":
        expected_key = key + "*" if key.endswith("/") else key
        assert auth.resource == f"arn:aws:s3:::{bucket}/{expected_key}"


def test_huge_inputs_are_bounded() -> None:
    """Oversized batches and values are cut to AWS's own limits or fall back to '*'."""
    tables = {f"t{i}": {} for i in range(10_000)}
    assert len(_map("dynamodb", "BatchWriteItem", {"RequestItems": tables})) == 100
    [auth] = _map("sqs", "SendMessage", {"QueueUrl": "https://x/" + "a" * 1_000_000})
    assert auth.resource == "*"
    [auth] = _map("dynamodb", "ExecuteStatement", {"Statement": "SELECT " + "x" * 100_000})
    assert auth.resource == "*"


def test_operation_without_iam_data_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """An operation botocore knows but the IAM data does not raises IamDataError, never guesses."""
    from lambdaguard.iam import _mapper

    _mapper.operation_plan.cache_clear()
    monkeypatch.setattr(_mapper, "iam_prefix", lambda service: None)
    try:
        with pytest.raises(IamDataError, match="no service for 'sqs'"):
            _map("sqs", "SendMessage", {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/1/q"})
    finally:
        _mapper.operation_plan.cache_clear()


def test_wildcard_characters_in_names_are_not_exact() -> None:
    """A recorded name containing '*' or '?' yields a TEMPLATE ARN, never EXACT."""
    [auth] = _map("s3", "GetObject", {"Bucket": "b", "Key": "a*b?.txt"})
    assert auth.resource == "arn:aws:s3:::b/a*b?.txt"
    assert auth.confidence is Confidence.TEMPLATE
