"""Policy documents are read from every form AWS and people hand us; bad input is named, never lost."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from lambdaguard.errors import PolicyError
from lambdaguard.iam import Policy, parse_policy

DOC = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Read",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"],
        },
        {
            "Effect": "Deny",
            "NotAction": "s3:*",
            "NotResource": "arn:aws:s3:::photos/*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ],
}


def _warnings(policy: Policy) -> list[str]:
    return [str(w) for w in policy.warnings]


def test_reads_every_element() -> None:
    """Version, Sid, Effect, Action/NotAction, Resource/NotResource and Condition are all kept."""
    p = parse_policy(DOC, name="photos-read")
    assert p.version == "2012-10-17"
    assert p.variables
    first, second = p.statements
    assert (first.sid, first.effect, first.actions, first.not_action) == (
        "Read",
        "Allow",
        ("s3:GetObject", "s3:ListBucket"),
        False,
    )
    assert first.resources == ("arn:aws:s3:::photos", "arn:aws:s3:::photos/*")
    assert (second.effect, second.not_action, second.not_resource) == ("Deny", True, True)
    assert second.condition_dict() == {"Bool": {"aws:SecureTransport": "false"}}
    assert (second.label, first.label) == ("#1", "Read")
    assert p.warnings == ()
    assert not p.partial


@pytest.mark.parametrize(
    "form",
    [
        json.dumps(DOC),
        json.dumps(DOC).encode(),
        urllib.parse.quote(json.dumps(DOC), safe=""),
        urllib.parse.quote_plus(json.dumps(DOC)),
        "\n  " + json.dumps(DOC, indent=4) + "\n",
    ],
    ids=["json", "bytes", "url-encoded", "form-encoded", "indented"],
)
def test_every_form_gives_the_same_policy(form: Any) -> None:
    """JSON text, bytes and IAM's URL-encoded documents read the same as the dict."""
    assert parse_policy(form, name="p") == parse_policy(DOC, name="p")


def test_single_statement_object() -> None:
    """ "Statement" may be one object instead of a list; it reads as a one-statement list."""
    p = parse_policy({"Version": "2012-10-17", "Statement": DOC["Statement"][0]}, name="one")
    assert len(p.statements) == 1
    assert p.statements[0].sid == "Read"


def test_round_trip_as_document() -> None:
    """as_document() gives back an equivalent IAM document."""
    p = parse_policy(DOC, name="p")
    assert parse_policy(p.as_document(), name="p") == p


def test_missing_version_reads_variables_as_text() -> None:
    """Without a Version element, IAM reads the policy as 2008-10-17: variables are literal."""
    p = parse_policy({"Statement": DOC["Statement"]}, name="old")
    assert p.version is None
    assert not p.variables


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("", "empty"),
        ("[1, 2]", "JSON list, not an object"),
        ({"Version": "2012-10-17"}, "no Statement element"),
        (42, "not int"),
    ],
)
def test_unusable_documents_raise_naming_the_policy(document: Any, expected: str) -> None:
    """A document that is not a policy raises PolicyError naming the policy and what is accepted."""
    with pytest.raises(PolicyError, match=expected) as exc:
        parse_policy(document, name="role-x/inline/broken", arn=None)
    assert "role-x/inline/broken" in str(exc.value)
    assert exc.value.policy == "role-x/inline/broken"


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ({"Action": "s3:GetObject", "Resource": "*"}, "has no Effect"),
        ({"Effect": "allow", "Action": "s3:GetObject", "Resource": "*"}, "case matters"),
        ({"Effect": "Allow", "Resource": "*"}, "neither Action nor NotAction"),
        ({"Effect": "Allow", "Action": "s3:GetObject"}, "neither Resource nor NotResource"),
        (
            {"Effect": "Allow", "Action": "s3:GetObject", "NotAction": "s3:Put*", "Resource": "*"},
            "both Action and NotAction",
        ),
        ({"Effect": "Allow", "Action": [5, None], "Resource": "*"}, "names nothing"),
        (
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": "x"},
            "Condition must",
        ),
        ("Allow everything", "not an object"),
    ],
)
def test_statements_iam_would_reject_are_kept_and_reported(statement: Any, expected: str) -> None:
    """A statement IAM would reject stays in the model, unusable, with a warning naming it."""
    p = parse_policy(
        {"Version": "2012-10-17", "Statement": [DOC["Statement"][0], statement]},
        name="p",
        arn="arn:aws:iam::123456789012:policy/p",
    )
    assert len(p.statements) == 2
    assert p.statements[0].usable
    assert not p.statements[1].usable
    assert p.partial
    messages = _warnings(p)
    assert any(expected in m and "statement 1" in m for m in messages), messages
    assert all("arn:aws:iam::123456789012:policy/p" in m for m in messages)


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        (["s3:GetObjekt"], "'s3:GetObjekt' is not a s3 action"),
        (["s4:GetObject"], "no AWS service has the prefix 's4'"),
        (["s3:Frobnicate*"], "matches no s3 action"),
        (["GetObject"], "not of the form 'service:Action'"),
        (["s3:GetObject", 7], "7 is not a non-empty string"),
    ],
)
def test_questionable_actions_warn_and_keep_the_statement(
    actions: list[Any], expected: str
) -> None:
    """Unknown or malformed actions give a warning naming the statement; the statement stays usable."""
    p = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [{"Sid": "S", "Effect": "Allow", "Action": actions, "Resource": "*"}],
        },
        name="p",
    )
    assert p.statements[0].usable
    assert any(expected in m and "Sid 'S'" in m for m in _warnings(p)), _warnings(p)


def test_known_actions_and_wildcards_do_not_warn() -> None:
    """Real actions, service wildcards and "*" pass without a warning, whatever their case."""
    p = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["S3:getobject", "iam:*AccessKey*", "*", "ec2:Describe*"],
                    "Resource": "*",
                }
            ],
        },
        name="p",
    )
    assert p.warnings == ()


def test_other_oddities_warn() -> None:
    """A Principal, a resource that is no ARN, an unknown element or Version are named in warnings."""
    p = parse_policy(
        {
            "Version": "2012-10-18",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": "photos",
                    "Foo": 1,
                }
            ],
        },
        name="p",
    )
    text = " | ".join(_warnings(p))
    for expected in (
        "Principal is ignored",
        "'photos' is not an ARN",
        "unknown element 'Foo'",
        "Version '2012-10-18'",
    ):
        assert expected in text
    assert p.statements[0].usable


def test_large_policy_reads_whole() -> None:
    """A document with thousands of statements is read whole, in order."""
    statements = [
        {
            "Sid": f"S{i}",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::b{i}/*",
        }
        for i in range(5000)
    ]
    p = parse_policy({"Version": "2012-10-17", "Statement": statements}, name="big")
    assert [s.sid for s in p.statements] == [f"S{i}" for i in range(5000)]
