"""The proposal: need ∩ grant, generalized with restraint, compact, deterministic, proved."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from tests.analysis.policy_kit import (
    ACCOUNT,
    NOW,
    ROLE,
    SURE,
    allow,
    deny,
    managed,
    need,
    pol,
)

from lambdaguard.analysis.compare import granted_actions
from lambdaguard.analysis.proposal import (
    MANAGED_POLICY_LIMIT,
    Options,
    Role,
    build,
    compact_size,
    propose,
)
from lambdaguard.iam import Grant, parse_policy

BUCKET = "arn:aws:s3:::photos"
LOGS = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/orders-api:*"


def _statements(proposal):  # type: ignore[no-untyped-def]
    return [st for doc in proposal.policies for st in doc["Statement"]]


def _proposal_grant(proposal, boundary=None):  # type: ignore[no-untyped-def]
    return Grant(
        [parse_policy(d, name=f"p{i}") for i, d in enumerate(proposal.documents)],
        boundary=boundary,
    )


def test_full_access_role_is_narrowed_to_the_calls_and_the_service_needs() -> None:
    """AmazonS3FullAccess + basic execution: only the object reads and the log writes remain."""
    role = Role(ROLE, (managed("AmazonS3FullAccess"), managed("AWSLambdaBasicExecutionRole")))
    needs = [
        need("s3:GetObject", f"{BUCKET}/uploads/*", confidence="template"),
        need("logs:CreateLogStream", LOGS, origin="lambda-service", confidence="service"),
        need("logs:PutLogEvents", LOGS, origin="lambda-service", confidence="service"),
    ]
    p = propose(role, needs, account=ACCOUNT, confidence=SURE)
    assert p.proved is True, p.proof
    allowed = {
        (a, r)
        for st in _statements(p)
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
        for r in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])
    }
    assert allowed == {
        ("s3:GetObject", f"{BUCKET}/uploads/*"),
        ("logs:CreateLogStream", LOGS),
        ("logs:PutLogEvents", LOGS),
    }
    removed = [d.text for d in p.diff if d.change == "removed"]
    assert "Allow s3:* on *" in removed
    assert p.unused_total == len(granted_actions(role.policies, None)) - 3
    sids = [st["Sid"] for st in _statements(p)]
    assert sids == ["S3Read", "LambdaServiceLogs"]


def test_every_kept_statement_cites_its_calls_with_trace_and_span() -> None:
    """A kept statement lists the recorded calls behind it: operation, count, first/last seen, trace."""
    role = Role(ROLE, (pol(allow("dynamodb:*")),))
    table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders"
    p = propose(role, [need("dynamodb:PutItem", table, count=41)], account=ACCOUNT, confidence=SURE)
    (st,) = p.statements
    (c,) = st.evidence
    assert (c.operation, c.resource, c.count) == ("PutItem", table, 41)
    assert c.trace_id
    assert c.span_id
    assert c.first_seen
    assert c.last_seen
    assert c.last_seen <= NOW


def test_star_role_is_admin_today_and_has_no_escalation_path_after() -> None:
    """An "Action": "*" role is admin-equivalent with escalation paths; the proposal has none."""
    role = Role(ROLE, (pol(allow("*")),))
    p = propose(
        role,
        [need("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders")],
        account=ACCOUNT,
        confidence=SURE,
    )
    assert p.admin_equivalent
    assert p.escalation_paths_now > 5
    assert p.escalation_paths_after == 0
    assert p.unused_risky_total > len(p.unused_risky) == 100
    assert p.proved


def test_not_action_grant_keeps_what_it_allows_and_reports_what_it_does_not() -> None:
    """NotAction iam:*: a DynamoDB need is kept, an IAM need is reported as not granted."""
    role = Role(ROLE, (pol({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),))
    table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders"
    p = propose(
        role,
        [
            need("dynamodb:GetItem", table),
            need("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/x", denied=True),
        ],
        account=ACCOUNT,
        confidence=SURE,
    )
    assert [(u.action, u.status) for u in p.used] == [
        ("dynamodb:GetItem", "granted"),
        ("iam:GetRole", "denied"),
    ]
    assert [st["Action"] for st in _statements(p)] == ["dynamodb:GetItem"]


def test_a_call_that_works_only_thanks_to_a_resource_policy_is_said_so() -> None:
    """A request the grant does not allow, made by a call that succeeded, is a resource policy's doing."""
    role = Role(ROLE, (pol(allow("s3:GetObject", f"{BUCKET}/*")),))
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234"
    p = propose(role, [need("kms:Decrypt", key)], account=ACCOUNT, confidence=SURE)
    (u,) = p.used
    assert u.status == "resource-policy"
    assert "resource policy" in u.reason
    assert p.documents == ()
    assert [d.change for d in p.diff] == ["removed"]


def test_explicit_deny_cuts_the_pattern_and_is_kept_as_a_deny() -> None:
    """A pattern need half under an explicit Deny: the allowed part is kept, the denied part denied."""
    role = Role(
        ROLE,
        (pol(allow("s3:*"), deny("s3:GetObject", f"{BUCKET}/private/*")),),
    )
    p = propose(role, [need("s3:GetObject", f"{BUCKET}/*")], account=ACCOUNT, confidence=SURE)
    (u,) = p.used
    assert u.status == "granted-in-part"
    proposal = _proposal_grant(p)
    assert proposal.evaluate("s3:GetObject", f"{BUCKET}/public/a.jpg").allowed
    assert not proposal.evaluate("s3:GetObject", f"{BUCKET}/private/a.jpg").allowed
    assert p.proved


def test_boundary_intersects_and_stays_out_of_the_documents() -> None:
    """With a boundary, only what both allow is kept; the boundary is named, not copied."""
    boundary = parse_policy(
        {"Version": "2012-10-17", "Statement": [allow("s3:GetObject")]}, name="boundary"
    )
    role = Role(ROLE, (pol(allow("s3:*")),), boundary=boundary)
    p = propose(
        role,
        [
            need("s3:GetObject", f"{BUCKET}/a"),
            need("s3:PutObject", f"{BUCKET}/b", failed="NoSuchBucket"),
        ],
        account=ACCOUNT,
        confidence=SURE,
    )
    assert {u.action: u.status for u in p.used} == {
        "s3:GetObject": "granted",
        "s3:PutObject": "not-covered",
    }
    assert p.boundary == "boundary"
    assert [st["Action"] for st in _statements(p)] == ["s3:GetObject"]


def test_a_conditional_allow_keeps_its_condition() -> None:
    """Allowed only from one VPC today: the proposal allows it only from that VPC."""
    cond = {"StringEquals": {"aws:SourceVpc": "vpc-1"}}
    role = Role(ROLE, (pol(allow("s3:GetObject", "*", Condition=cond)),))
    p = propose(role, [need("s3:GetObject", f"{BUCKET}/a")], account=ACCOUNT, confidence=SURE)
    (st,) = _statements(p)
    assert st["Condition"] == cond
    assert st["Sid"] == "S3ReadConditional"
    assert p.proved


def test_a_conditional_deny_is_carried_for_the_actions_it_touches() -> None:
    """A Deny under a condition (no TLS) still applies to the kept actions."""
    cond = {"Bool": {"aws:SecureTransport": "false"}}
    role = Role(ROLE, (pol(allow("s3:*"), deny("s3:*", "*", Condition=cond, Sid="TlsOnly")),))
    p = propose(role, [need("s3:GetObject", f"{BUCKET}/a")], account=ACCOUNT, confidence=SURE)
    denies = [st for st in _statements(p) if st["Effect"] == "Deny"]
    assert denies == [
        {
            "Sid": "DenyS3",
            "Effect": "Deny",
            "Action": "s3:GetObject",
            "Resource": "*",
            "Condition": cond,
        }
    ]
    assert p.proved


def test_a_policy_variable_becomes_the_condition_it_amounts_to() -> None:
    """``home/${aws:PrincipalTag/team}/*`` allowing ``home/blue/*`` becomes StringEquals team=blue."""
    role = Role(ROLE, (pol(allow("s3:GetObject", "arn:aws:s3:::home/${aws:PrincipalTag/team}/*")),))
    p = propose(
        role, [need("s3:GetObject", "arn:aws:s3:::home/blue/*")], account=ACCOUNT, confidence=SURE
    )
    (st,) = _statements(p)
    assert st["Resource"] == "arn:aws:s3:::home/blue/*"
    assert st["Condition"] == {"StringEquals": {"aws:PrincipalTag/team": "blue"}}
    assert p.proved


@pytest.mark.parametrize(("keys", "expected"), [(12, 1), (9, 9)])
def test_many_keys_under_one_prefix_become_one_pattern(keys: int, expected: int) -> None:
    """Ten or more exact keys sharing a directory become ``dir/*``; fewer stay listed."""
    role = Role(ROLE, (pol(allow("s3:GetObject")),))
    needs = [need("s3:GetObject", f"{BUCKET}/in/2024/k{i:02d}.jpg") for i in range(keys)]
    p = propose(role, needs, account=ACCOUNT, confidence=SURE)
    (st,) = _statements(p)
    resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
    assert len(resources) == expected
    if expected == 1:
        assert resources == [f"{BUCKET}/in/2024/*"]
    assert p.proved


def test_keys_sharing_only_their_bucket_are_never_widened_to_the_bucket() -> None:
    """Keys in different top directories stay exact: ``bucket/*`` would be wider than the evidence."""
    role = Role(ROLE, (pol(allow("s3:GetObject")),))
    needs = [need("s3:GetObject", f"{BUCKET}/d{i}/k.jpg") for i in range(15)]
    p = propose(role, needs, account=ACCOUNT, confidence=SURE)
    (st,) = _statements(p)
    assert len(st["Resource"]) == 15
    assert f"{BUCKET}/*" not in st["Resource"]


def test_a_prefix_is_not_gathered_when_the_grant_does_not_allow_all_of_it() -> None:
    """Keys allowed one by one stay one by one: the pattern would be wider than the grant."""
    keys = [f"{BUCKET}/in/k{i:02d}" for i in range(12)]
    role = Role(ROLE, (pol(allow("s3:GetObject", keys)),))
    p = propose(role, [need("s3:GetObject", k) for k in keys], account=ACCOUNT, confidence=SURE)
    (st,) = _statements(p)
    assert sorted(st["Resource"]) == keys
    assert any("does not allow all of it" in n for n in p.notes)


def test_a_resource_a_kept_pattern_covers_is_folded_into_it() -> None:
    """``uploads/a.jpg`` next to ``uploads/*`` is not listed twice."""
    role = Role(ROLE, (pol(allow("s3:GetObject")),))
    p = propose(
        role,
        [need("s3:GetObject", f"{BUCKET}/uploads/*"), need("s3:GetObject", f"{BUCKET}/uploads/a")],
        account=ACCOUNT,
        confidence=SURE,
    )
    (st,) = _statements(p)
    assert st["Resource"] == f"{BUCKET}/uploads/*"


def test_large_needs_are_split_into_documents_within_the_managed_policy_limit() -> None:
    """Hundreds of tables: several documents, each within 6,144 characters, Sids unique, proved."""
    role = Role(ROLE, (pol(allow("dynamodb:*")),))
    needs = [
        need(a, f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/tenant-{i:04d}-orders")
        for i in range(300)
        for a in ("dynamodb:GetItem", "dynamodb:PutItem")
    ]
    p = propose(role, needs, account=ACCOUNT, confidence=SURE)
    assert len(p.documents) > 1
    assert all(compact_size(d) <= MANAGED_POLICY_LIMIT for d in p.policies)
    sids = [st["Sid"] for st in _statements(p)]
    assert len(sids) == len(set(sids))
    assert p.proved, p.proof
    # Together they exceed what a role's inline policies may hold: said, with what to do.
    assert any("attach them as managed policies" in n for n in p.notes)


def test_too_many_documents_lowers_the_threshold_then_says_so() -> None:
    """When ten documents are not enough, keys are gathered sooner, and the proposal says so."""
    role = Role(ROLE, (pol(allow("s3:GetObject")),))
    needs = [
        need("s3:GetObject", f"{BUCKET}/tenant-{t:03d}/obj-{k}.bin")
        for t in range(60)
        for k in range(4)
    ]
    p = propose(role, needs, account=ACCOUNT, confidence=SURE, options=Options(max_documents=1))
    assert any("gathered from" in n for n in p.notes)
    resources = [r for st in _statements(p) for r in st["Resource"]]
    assert f"{BUCKET}/tenant-000/*" in resources
    assert p.proved, p.proof


def test_the_same_needs_in_any_order_give_the_same_bytes() -> None:
    """Deterministic: shuffled input, same documents, byte for byte."""
    role = Role(ROLE, (managed("AmazonDynamoDBFullAccess"), managed("AWSLambdaBasicExecutionRole")))
    needs = [
        need(a, f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t{i}")
        for i in range(20)
        for a in ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem")
    ] + [need("logs:PutLogEvents", LOGS, origin="lambda-service")]
    first = propose(role, needs, account=ACCOUNT, confidence=SURE)
    shuffled = list(needs)
    random.Random(7).shuffle(shuffled)
    second = propose(role, shuffled, account=ACCOUNT, confidence=SURE)
    assert first.documents == second.documents
    assert first.diff == second.diff


def test_calls_that_could_not_be_mapped_keep_what_the_grant_allows_their_service() -> None:
    """An unmapped call keeps every action today's grant allows for its service, and says so."""
    role = Role(ROLE, (pol(allow(["sqs:SendMessage", "sqs:ReceiveMessage"]), allow("s3:*")),))
    p = propose(
        role,
        [need("sqs:*", "*", origin="unmapped", confidence="unmapped")],
        account=ACCOUNT,
        confidence=SURE,
    )
    (st,) = _statements(p)
    assert sorted(st["Action"]) == ["sqs:ReceiveMessage", "sqs:SendMessage"]
    assert st["Sid"] == "SqsUnmapped"
    assert any("could not be mapped" in n for n in p.notes)


def test_unused_permissions_say_since_when_and_riskiest_first() -> None:
    """Unused actions: escalation/exfiltration first, then by access level; last use when known."""
    role = Role(ROLE, (pol(allow(["s3:GetObject", "s3:DeleteObject", "iam:PassRole"])),))
    seen = NOW - timedelta(days=200)
    p = propose(
        role,
        [need("s3:GetObject", f"{BUCKET}/a")],
        account=ACCOUNT,
        confidence=SURE,
        history={"s3:deleteobject": seen},
    )
    assert [u.action for u in p.unused] == ["iam:PassRole", "s3:DeleteObject"]
    assert p.unused[0].risks
    assert p.unused[0].since == "never used in the window"
    assert p.unused[1].since == f"not used since {seen:%Y-%m-%d}"


def test_nothing_observed_is_ever_listed_as_unused() -> None:
    """Every action a kept request needs is absent from the unused list."""
    role = Role(ROLE, (managed("AmazonDynamoDBFullAccess"),))
    table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders"
    used = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]
    p = propose(role, [need(a, table) for a in used], account=ACCOUNT, confidence=SURE)
    assert not {u.action for u in p.unused} & set(used)
    assert p.unused_total == len(granted_actions(role.policies, None)) - len(used)


def test_a_denied_call_the_grant_allows_is_kept_and_explained() -> None:
    """AccessDenied although the role allows it: kept (the grant allowed it), and the reason says why."""
    role = Role(ROLE, (pol(allow("sqs:*")),))
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders"
    p = propose(
        role, [need("sqs:SendMessage", queue, denied=True)], account=ACCOUNT, confidence=SURE
    )
    (u,) = p.used
    assert u.status == "granted"
    assert "something else" in u.reason
    assert [st["Action"] for st in _statements(p)] == ["sqs:SendMessage"]


def test_the_proof_catches_a_statement_wider_than_the_grant() -> None:
    """Replay and the within-grant check fail when the documents are tampered with."""
    import dataclasses

    from lambdaguard.analysis.proof import prove

    role = Role(ROLE, (pol(allow("s3:GetObject", f"{BUCKET}/a")),))
    built = build(role, [need("s3:GetObject", f"{BUCKET}/a")])
    doc = json.loads(built.documents[0])
    doc["Statement"][0].update(Resource="*", Action=["s3:GetObject", "s3:GetObjekt"])
    tampered = dataclasses.replace(built, documents=(json.dumps(doc),))
    checks, _ = prove(role, tampered, grant=Grant(role.policies), options=Options())
    failed = {c.name for c in checks if not c.passed}
    assert failed == {"actions", "within-grant"}


def test_the_proof_catches_a_missing_request() -> None:
    """A document that lost a statement fails the replay, naming the request."""
    import dataclasses

    from lambdaguard.analysis.proof import prove

    role = Role(ROLE, (pol(allow("s3:*")),))
    built = build(
        role, [need("s3:GetObject", f"{BUCKET}/a"), need("s3:PutObject", f"{BUCKET}/b/*")]
    )
    doc = json.loads(built.documents[0])
    doc["Statement"] = doc["Statement"][:1]
    tampered = dataclasses.replace(built, documents=(json.dumps(doc),))
    checks, _ = prove(role, tampered, grant=Grant(role.policies), options=Options())
    (replay,) = [c for c in checks if c.name == "replay"]
    assert not replay.passed
    assert any("s3:PutObject" in f or "s3:GetObject" in f for f in replay.failures)


def test_kms_on_the_callers_behalf_is_kept_only_through_that_service() -> None:
    """SSM's kms:Decrypt on an unknown key stays, but only via SSM: no decrypt-everything path."""
    import dataclasses

    role = Role(ROLE, (pol(allow("*")),))
    via = dataclasses.replace(
        need("kms:Decrypt", "*", confidence="dependent"),
        via=("ssm.us-east-1.amazonaws.com",),
    )
    p = propose(role, [via], account=ACCOUNT, confidence=SURE)
    (st,) = _statements(p)
    assert st["Condition"] == {"StringEquals": {"kms:ViaService": ["ssm.us-east-1.amazonaws.com"]}}
    assert p.proved
    assert p.escalation_paths_after == 0
    # The same key used directly by the function: no service to limit it to.
    direct = need("kms:Decrypt", "*")
    p = propose(role, [via, direct], account=ACCOUNT, confidence=SURE)
    assert all("Condition" not in st for st in _statements(p))
