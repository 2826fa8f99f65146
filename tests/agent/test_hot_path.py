"""The per-call fast paths record what the general path records, and fail open the same way."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from lambdaguard import semconv
from lambdaguard.agent import _facts, _guard, aws, recorder, signing

HEAD = {"ContentLength": 1, "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": "R1"}}
KEY_ID = "AKIAHOTPATHEXAMPLE01"


@pytest.fixture
def recording() -> Iterator[recorder.Recording]:
    """aws and signing hooks installed, a recording current; all undone afterwards."""
    aws.install()
    signing.install()
    rec = recorder.Recording("invoke")
    recorder.set_current(rec)
    yield rec
    recorder.set_current(None)
    signing.uninstall()
    aws.uninstall()
    _guard.reset()


def s3(region: str = "us-east-1", key_id: str = KEY_ID) -> Any:
    return boto3.client(
        "s3", region_name=region, aws_access_key_id=key_id, aws_secret_access_key="secret"
    )


def head(client: Any, key: str = "a/b/c.json", times: int = 1) -> None:
    with Stubber(client) as stub:
        for _ in range(times):
            stub.add_response("head_object", HEAD, {"Bucket": "b", "Key": key})
            client.head_object(Bucket="b", Key=key)


def fields(call: recorder.AwsCall) -> dict[str, Any]:
    """A call's fields but its timestamps."""
    out = call._asdict()
    del out["start_ns"], out["end_ns"]
    return out


def test_a_repeat_is_recorded_as_the_first_call_was(recording: recorder.Recording) -> None:
    """The same request again on the same client (the remembered repeat) gives the same record."""
    client = s3()
    head(client, times=3)
    first, *repeats = (fields(call) for call in recording.calls)
    assert first["params"] == '{"Bucket":"b","Key":"a/"}'
    assert first["status"] == 200
    assert first["request_id"] == "R1"
    assert repeats == [first, first]


def test_a_repeat_is_not_answered_under_other_key_settings(recording: recorder.Recording) -> None:
    """Changing the key prefix depth drops the remembered repeats as well as the reductions."""
    client = s3()
    head(client)
    aws.install(2, False)
    try:
        head(client)
    finally:
        aws.install(1, False)
    head(client)
    assert [json.loads(c.params)["Key"] for c in recording.calls] == ["a/", "a/b/", "a/"]


def test_other_params_or_another_client_are_not_answered_from_the_repeat(
    recording: recorder.Recording,
) -> None:
    """Only an equal request on the very same client reuses what the last call worked out."""
    east, west = s3("us-east-1"), s3("eu-west-1")
    head(east, "x/1.json")
    head(east, "y/1.json")
    head(west, "y/1.json")
    head(east, "y/1.json")
    assert [(c.region, json.loads(c.params)["Key"]) for c in recording.calls] == [
        ("us-east-1", "x/"),
        ("us-east-1", "y/"),
        ("eu-west-1", "y/"),
        ("us-east-1", "y/"),
    ]


def test_a_dead_clients_id_is_not_taken_for_a_new_client(recording: recorder.Recording) -> None:
    """What was remembered under a client's id serves only that client (ids of dead ones recur)."""
    east, west = s3("us-east-1"), s3("eu-west-1")
    head(east)
    # As if west had been made where east was: east's entries under west's id.
    aws._clients[id(west)] = aws._clients[id(east)]
    for (client_id, operation, items), seen in list(aws._repeats.items()):
        if client_id == id(east):
            aws._repeats[(id(west), operation, items)] = seen
    assert any(key[0] == id(west) for key in aws._repeats)
    head(west)
    assert [c.region for c in recording.calls] == ["us-east-1", "eu-west-1"]


def test_whose_credentials_follow_the_environment_and_learnt_roles(
    recording: recorder.Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS_ACCESS_KEY_ID is read on every call, and a key learnt from AssumeRole wins at once."""
    client = s3()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASOMEONEELSE00001")
    head(client)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    head(client)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    head(client)
    _facts.learn_assumed(
        {
            "Credentials": {"AccessKeyId": KEY_ID},
            "AssumedRoleUser": {"Arn": "arn:aws:sts::111122223333:assumed-role/r/s"},
        }
    )
    try:
        head(client)
    finally:
        _facts.forget()
    head(client)
    assert [(c.credentials, c.role_arn) for c in recording.calls] == [
        (semconv.CREDENTIALS_STATIC, ""),
        (semconv.CREDENTIALS_EXECUTION_ROLE, ""),
        (semconv.CREDENTIALS_STATIC, ""),
        (semconv.CREDENTIALS_ASSUMED_ROLE, "arn:aws:iam::111122223333:role/r"),
        (semconv.CREDENTIALS_STATIC, ""),
    ]


@pytest.mark.parametrize(
    "credentials",
    [
        Credentials(KEY_ID, "s", method="container-role"),
        Credentials(KEY_ID, "s", method="env"),
        Credentials(KEY_ID, "s").get_frozen_credentials(),
        None,
    ],
    ids=["container-role", "env", "frozen", "none"],
)
def test_whose_agrees_with_credentials_of(
    credentials: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-step reading of a credentials object gives what access_key_of + credentials_of give."""
    for env in ({}, {"AWS_LAMBDA_FUNCTION_NAME": "f"}, {"AWS_ACCESS_KEY_ID": KEY_ID}):
        monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTTHISONE000001")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        expected = _facts.credentials_of(
            _facts.access_key_of(credentials), str(getattr(credentials, "method", ""))
        )
        assert _facts.whose(credentials) == expected


def _reference_outcome(fail: bool) -> tuple[Any, ...]:
    client = s3()
    with Stubber(client) as stub:
        if fail:
            stub.add_client_error("head_object", "NotFound", http_status_code=404)
        else:
            stub.add_response("head_object", HEAD, {"Bucket": "b", "Key": "k"})
        try:
            return ("return", client.head_object(Bucket="b", Key="k"))
        except ClientError as exc:
            return ("raise", exc.response["Error"]["Code"], str(exc))


@pytest.mark.parametrize("fail", [False, True], ids=["returns", "raises"])
@pytest.mark.parametrize(("name", "hook"), [("_start", "aws.start"), ("_finish", "aws.finish")])
def test_an_inline_guarded_aws_hook_that_raises_is_switched_off(  # noqa: PLR0917 - fixtures
    name: str,
    hook: str,
    fail: bool,
    recording: recorder.Recording,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The call returns or raises as without the hook, once switched off the hook is not run again."""
    expected = [_reference_outcome(fail), _reference_outcome(fail)]
    kept = len(recording.calls)
    runs: list[str] = []

    def explode(*args: Any) -> Any:
        runs.append(name)
        raise RuntimeError("boom")

    monkeypatch.setattr(aws, name, explode)
    assert [_reference_outcome(fail), _reference_outcome(fail)] == expected
    assert runs == [name]
    assert hook in _guard.broken()
    assert f"lambdaguard: hook {hook} disabled after RuntimeError" in capsys.readouterr().err
    assert len(recording.calls) == kept  # the broken hook's calls are not recorded


def test_the_inline_guarded_signing_hook_that_raises_is_switched_off(
    recording: recorder.Recording,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A request signed outside an SDK call is signed as without the hook when the hook raises."""
    runs: list[int] = []

    def explode(*args: Any) -> None:
        runs.append(1)
        raise RuntimeError("boom")

    monkeypatch.setattr(signing, "_botocore_signed", explode)
    for _ in range(2):
        request = AWSRequest(method="GET", url="https://search-d.us-east-1.es.amazonaws.com/i/")
        assert SigV4Auth(Credentials(KEY_ID, "s"), "es", "us-east-1").add_auth(request) is None
        assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=" + KEY_ID)
    assert runs == [1]
    assert "sigv4.signed" in _guard.broken()
    assert "lambdaguard: hook sigv4.signed disabled after RuntimeError" in capsys.readouterr().err


def test_an_sdk_request_is_left_to_aws_and_a_hand_signed_one_is_recorded(
    recording: recorder.Recording,
) -> None:
    """The signing hook's context test: an SDK call is recorded once, a bare request once."""
    head(s3())
    request = AWSRequest(method="GET", url="https://search-d.us-east-1.es.amazonaws.com/i/d/1")
    SigV4Auth(Credentials(KEY_ID, "s"), "es", "us-east-1").add_auth(request)
    assert [(c.operation, c.via) for c in recording.calls] == [
        ("HeadObject", ""),
        ("HTTP GET", semconv.VIA_SIGV4),
    ]


def test_suppression_is_per_thread(recording: recorder.Recording) -> None:
    """Inside suppressed() this thread records nothing; another thread, never suppressed, does."""
    seen: list[recorder.Recording | None] = []
    with recorder.suppressed():
        assert recorder.current() is None
        assert recorder.is_suppressed()
        worker = threading.Thread(target=lambda: seen.append(recorder.current()))
        worker.start()
        worker.join()
        head(s3())
    assert seen == [recording]
    assert recording.calls == []
    assert recorder.current() is recording
    assert not recorder.is_suppressed()


def test_response_metadata_of_other_types_is_converted_as_before(
    recording: recorder.Recording,
) -> None:
    """A status, request id or retry count not of botocore's own types is converted, not kept as is."""
    client = s3()
    for meta in (
        {"HTTPStatusCode": "404", "RequestId": 7, "RetryAttempts": True},
        {"HTTPStatusCode": 200, "RequestId": "R2", "RetryAttempts": 2},
        {},
    ):
        started = aws._describe(client, "HeadObject", {"Bucket": "b", "Key": "k"}, recording)
        aws._finish(client, started, {"ResponseMetadata": meta}, None)
    assert [(c.status, c.request_id, c.retries) for c in recording.calls] == [
        (404, "7", 1),
        (200, "R2", 2),
        (0, "", 0),
    ]


def test_several_requests_per_invocation_are_each_remembered(
    recording: recorder.Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop over keys repeats: the second pass describes nothing and records the same calls."""
    client = s3()
    keys = ["a/1.json", "b/2.json", "c/3.json"]
    for key in keys:
        head(client, key)
    described: list[str] = []
    describe = aws._describe

    def counting(client: Any, operation: str, params: Any, rec: recorder.Recording) -> Any:
        described.append(operation)
        return describe(client, operation, params, rec)

    monkeypatch.setattr(aws, "_describe", counting)
    for key in keys:
        head(client, key)
    first, second = recording.calls[:3], recording.calls[3:]
    assert described == []
    assert [fields(c) for c in second] == [fields(c) for c in first]
    assert [json.loads(c.params)["Key"] for c in second] == ["a/", "b/", "c/"]


def test_only_string_valued_requests_are_answered_from_the_memo(
    recording: recorder.Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1 == 1.0 == True as keys, and a str subclass may reduce otherwise: those are described."""

    class Name(str):
        __slots__ = ()

    client = s3()
    assert aws._start(client, "ListObjectsV2", {"Bucket": "b", "MaxKeys": "1"}) is not None
    described: list[dict[str, Any]] = []
    describe = aws._describe

    def counting(client: Any, operation: str, params: Any, rec: recorder.Recording) -> Any:
        described.append(params)
        return describe(client, operation, params, rec)

    monkeypatch.setattr(aws, "_describe", counting)
    aws._start(client, "ListObjectsV2", {"Bucket": "b", "MaxKeys": "1"})
    assert described == []
    for other in ({"Bucket": "b", "MaxKeys": 1}, {"Bucket": Name("b"), "MaxKeys": "1"}):
        aws._start(client, "ListObjectsV2", other)
    assert described == [{"Bucket": "b", "MaxKeys": 1}, {"Bucket": "b", "MaxKeys": "1"}]
