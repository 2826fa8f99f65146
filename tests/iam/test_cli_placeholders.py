"""`lambdaguard permissions` says when a stand-in account or region went into an ARN."""

from __future__ import annotations

import json

import pytest

from lambdaguard.cli import main


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[list[dict[str, str]], str]:
    # The call's own authorizations; what it may also need (DEPENDENT: KMS on a
    # queue's key the request does not name) is tested in test_hard_cases.
    assert main(["permissions", *argv, "--format", "json"]) == 0
    captured = capsys.readouterr()
    rows = [r for r in json.loads(captured.out) if r["confidence"] != "dependent"]
    return rows, captured.err


def test_stand_in_account_and_region_lower_the_confidence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without --account/--region the ARN is built with placeholders, labelled template and named."""
    (row,), err = _json(capsys, "dynamodb", "GetItem", "--params", '{"TableName": "t"}')
    assert row["resource"] == "arn:aws:dynamodb:us-east-1:123456789012:table/t"
    assert row["confidence"] == "template"
    assert "placeholder 123456789012 (--account not given)" in row["explanation"]
    assert "us-east-1 (--region not given)" in row["explanation"]
    assert "--account not given, 123456789012 stands in" in err
    assert "--region not given, us-east-1 stands in" in err


def test_given_facts_keep_the_answer_exact(capsys: pytest.CaptureFixture[str]) -> None:
    """With --account and --region given, nothing stands in: the ARN is exact and no note is printed."""
    (row,), err = _json(
        capsys,
        "dynamodb",
        "GetItem",
        "--params",
        '{"TableName": "t"}',
        "--account",
        "111122223333",
        "--region",
        "eu-west-1",
    )
    assert (row["resource"], row["confidence"]) == (
        "arn:aws:dynamodb:eu-west-1:111122223333:table/t",
        "exact",
    )
    assert err == ""


def test_facts_from_the_request_are_not_placeholders(capsys: pytest.CaptureFixture[str]) -> None:
    """A queue URL names its own region and account, so the ARN stays exact without the flags."""
    (row,), err = _json(
        capsys,
        "sqs",
        "SendMessage",
        "--params",
        '{"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q"}',
    )
    assert (row["resource"], row["confidence"]) == (
        "arn:aws:sqs:us-east-1:123456789012:q",
        "exact",
    )
    assert err == ""


def test_only_the_stand_in_that_was_used_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    """With --region given, only the account is named as a placeholder."""
    (row,), err = _json(
        capsys, "dynamodb", "GetItem", "--params", '{"TableName": "t"}', "--region", "eu-west-1"
    )
    assert row["confidence"] == "template"
    assert "--account not given" in row["explanation"]
    assert "--region" not in row["explanation"]
    assert "--region" not in err
