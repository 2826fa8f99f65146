"""Response facts, the bound on recorded params, and whose credentials signed each call."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdaguard import recorded, semconv
from lambdaguard.agent import _facts

from .conftest import Sink
from .test_aws import calls, client, find, run

# -- response facts -----------------------------------------------------------------


def test_kms_decrypt_records_the_key_id_from_the_response(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """kms Decrypt names no key in its request; the response's KeyId is recorded in AWS_RESPONSE."""
    enable()
    kms = client("kms", moto_endpoint)
    key = kms.create_key()["KeyMetadata"]["Arn"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"canary-plaintext")["CiphertextBlob"]

    def handler(event: Any, context: Any) -> None:
        kms.decrypt(CiphertextBlob=blob)

    run(handler)
    decrypt = find(calls(sink), "Decrypt")
    assert json.loads(decrypt[semconv.AWS_RESPONSE]) == {"KeyId": key}
    assert semconv.AWS_KMS_KEY_ID not in decrypt  # only AWS_RESPONSE is sent now
    for body in sink.bodies:
        assert b"canary-plaintext" not in body


def test_s3_put_with_sse_kms_and_versioning_records_both_facts(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """SSEKMSKeyId and VersionId of a PutObject response travel as one sorted JSON object.

    The version id is unique per write, so it travels folded to ``*`` (only its
    presence decides a permission; see lambdaguard.agent._patterns).
    """
    enable()
    s3 = client("s3", moto_endpoint)
    kms = client("kms", moto_endpoint)
    key = kms.create_key()["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket="sealed")
    s3.put_bucket_versioning(Bucket="sealed", VersioningConfiguration={"Status": "Enabled"})

    def handler(event: Any, context: Any) -> str:
        put = s3.put_object(
            Bucket="sealed", Key="a/b", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key
        )
        return str(put["VersionId"])

    assert run(handler)
    text = find(calls(sink), "PutObject")[semconv.AWS_RESPONSE]
    assert text == json.dumps(
        {"SSEKMSKeyId": key, "VersionId": "*"}, sort_keys=True, separators=(",", ":")
    )
    assert semconv.AWS_VERSION_ID not in find(calls(sink), "PutObject")


def test_a_fact_added_to_the_shared_table_is_read_with_no_agent_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new RESPONSE_FACTS entry, with a '[]' path, is read by the unchanged reader."""
    monkeypatch.setitem(recorded.RESPONSE_FACTS, "GrantKeys", ("Grants.[].KeyId",))
    monkeypatch.setitem(recorded.RESPONSE_FACTS, "Owners", ("Nope", "Items[].Owner.Id"))
    response = {
        "KeyId": "k0",
        "Grants": [{"KeyId": "k1"}, {"KeyId": "k2"}, {"KeyId": "k1"}, {"Other": 1}],
        "Items": [{"Owner": {"Id": "o1"}}, {"Owner": {"Id": 7}}],
    }
    assert json.loads(_facts.response_facts(response)) == {
        "GrantKeys": "k1,k2",
        "KeyId": "k0",
        "Owners": "o1,7",
    }
    assert _facts.response_facts({"Unrelated": "x"}) == ""
    assert _facts.response_facts(None) == ""


# -- bounded params --------------------------------------------------------------------


def test_huge_batches_stay_valid_json_within_the_bound(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """A 100-table BatchGetItem and a 1,000-key DeleteObjects stay valid JSON within 4 KiB, marked cut."""
    enable(LAMBDAGUARD_RECORD_FULL_KEYS="true")
    ddb = client("dynamodb", moto_endpoint)
    s3 = client("s3", moto_endpoint)
    s3.create_bucket(Bucket="bulk")
    tables = [f"orders-archive-table-with-a-long-descriptive-name-{n:03d}" for n in range(100)]

    def handler(event: Any, context: Any) -> None:
        with contextlib.suppress(Exception):
            ddb.batch_get_item(RequestItems={t: {"Keys": [{"pk": {"S": "k"}}]} for t in tables})
        s3.delete_objects(
            Bucket="bulk",
            Delete={"Objects": [{"Key": f"dir-{n}/file-{n}.bin"} for n in range(1000)]},
        )
        s3.list_objects_v2(Bucket="bulk")

    run(handler)
    found = calls(sink)
    for operation in ("BatchGetItem", "DeleteObjects"):
        call = find(found, operation)
        text = call[semconv.AWS_PARAMS]
        assert len(text.encode()) <= _facts.MAX_PARAMS_BYTES
        params = json.loads(text)
        assert call[semconv.AWS_PARAMS_TRUNCATED] is True
        if operation == "BatchGetItem":
            # The shared rule halves lists only: a map too large goes whole.
            assert set(params.get("RequestItems", {})) <= set(tables)
        else:
            assert params["Bucket"] == "bulk"
            assert all(o["Key"].startswith("dir-") for o in params["Delete"]["Objects"])
    assert semconv.AWS_PARAMS_TRUNCATED not in find(found, "ListObjectsV2")


_LEAF = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
_VALUE = st.recursive(
    _LEAF,
    lambda inner: st.lists(inner, max_size=30) | st.dictionaries(_LEAF, inner, max_size=30),
    max_leaves=400,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["Bucket", "Names", "RequestItems", "Ids"]), _VALUE))
def test_bounded_params_are_valid_json_and_never_cut_a_string(params: dict[str, Any]) -> None:
    """Whatever the input, the text parses, fits the bound when lists can shrink, and keeps strings whole."""
    text, cut = _facts.bounded_params(params, limit=512)
    parsed = json.loads(text)
    whole = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert cut == (json.loads(whole) != parsed)

    def strings(value: Any) -> set[str]:
        if isinstance(value, str):
            return {value}
        if isinstance(value, list):
            return set().union(*(strings(v) for v in value)) if value else set()
        if isinstance(value, dict):
            return set(value) | (set().union(*(strings(v) for v in value.values())) or set())
        return set()

    assert strings(parsed) <= strings(params)  # every kept string is one of the input's, whole
    if not cut:
        assert parsed == params
    else:
        assert len(text.encode("utf-8")) <= 512


# -- whose credentials ---------------------------------------------------------------------


def test_execution_role_static_and_assumed_role_credentials(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """Env keys are the execution role's; keys from AssumeRole are that role's; others are static."""
    enable()
    iam = client("iam", moto_endpoint)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(
        RoleName="reader", Path="/app/", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    ssm_setup = client("ssm", moto_endpoint)
    ssm_setup.put_parameter(Name="/cfg/x", Value="canary-value", Type="String")

    def handler(event: Any, context: Any) -> None:
        sts = client("sts", moto_endpoint)
        creds = sts.assume_role(RoleArn=role, RoleSessionName="s1")["Credentials"]
        assumed = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        ).client("ssm", endpoint_url=moto_endpoint, region_name="us-east-1")
        assumed.get_parameter(Name="/cfg/x")
        boto3.client(
            "ssm",
            endpoint_url=moto_endpoint,
            region_name="us-east-1",
            aws_access_key_id="AKIASTATICCANARY0001",
            aws_secret_access_key="static-secret-canary",
        ).get_parameter(Name="/cfg/x")

    run(handler)
    found = calls(sink)
    assume = find(found, "AssumeRole")
    assert assume[semconv.AWS_CREDENTIALS] == semconv.CREDENTIALS_EXECUTION_ROLE
    gets = [c for c in found if c[semconv.AWS_OPERATION] == "GetParameter"]
    assert [(c[semconv.AWS_CREDENTIALS], c.get(semconv.AWS_CREDENTIALS_ROLE)) for c in gets] == [
        # The role's path is not in the assumed-role ARN STS returns.
        (semconv.CREDENTIALS_ASSUMED_ROLE, "arn:aws:iam::123456789012:role/reader"),
        (semconv.CREDENTIALS_STATIC, None),
    ]
    for body in sink.bodies:
        for canary in (b"AKIASTATICCANARY0001", b"static-secret-canary", b"testing"):
            assert canary not in body


def test_role_arn_from_an_assumed_role_arn() -> None:
    """STS's assumed-role ARN becomes the role's IAM ARN, in its partition; anything else is ignored."""
    cases = (
        ("A1", "arn:aws:sts::111122223333:assumed-role/r1/s", "arn:aws:iam::111122223333:role/r1"),
        (
            "A2",
            "arn:aws-cn:sts::111122223333:assumed-role/r2/s",
            "arn:aws-cn:iam::111122223333:role/r2",
        ),
        ("A3", "arn:aws:iam::111122223333:user/u", ""),
    )
    try:
        for key, arn, _ in cases:
            _facts.learn_assumed(
                {"Credentials": {"AccessKeyId": key}, "AssumedRoleUser": {"Arn": arn}}
            )
        for key, _, role in cases:
            expected = (
                (semconv.CREDENTIALS_ASSUMED_ROLE, role)
                if role
                else (semconv.CREDENTIALS_STATIC, "")
            )
            assert _facts.credentials_of(key) == expected
        assert _facts.credentials_of("") == (semconv.CREDENTIALS_UNKNOWN, "")
    finally:
        _facts.forget()
