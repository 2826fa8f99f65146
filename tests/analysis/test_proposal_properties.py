"""Properties of the proposal over random grants and random observed requests (Hypothesis).

For any grant (Allow and Deny, Action and NotAction, Resource and NotResource,
conditions, a permissions boundary) and any set of observed requests:

- the proposal allows every observed request the grant allowed (with the
  role's boundary still attached, as it would be applied);
- the proposal allows nothing the grant does not, and nothing for certain that
  the grant allows only under a condition (probed with random requests, the
  proposal evaluated on its own, without the boundary);
- the proposal is byte-identical when generated twice, and whatever the order
  of the observed requests.

Conditions of the identity policies and of the boundary use different keys:
two statements that set one key to different values allow nothing together
(StringEquals vpc-1 and vpc-2), which the proposal rightly drops while the
evaluator, which never decides conditions, still calls it "allowed under a
condition".
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.analysis.policy_kit import ACCOUNT, ROLE, need

from lambdaguard.analysis.proposal import Role, build
from lambdaguard.iam import Grant, Policy, parse_policy

ACTIONS = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "sqs:SendMessage",
)
ACTION_PATTERNS = (*ACTIONS, "s3:*", "s3:Get*", "dynamodb:*", "*", "sqs:Send*")
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}"
CONCRETE = (
    "arn:aws:s3:::b1",
    "arn:aws:s3:::b2",
    "arn:aws:s3:::b1/a/x.jpg",
    "arn:aws:s3:::b1/a/y.jpg",
    "arn:aws:s3:::b1/b/z.jpg",
    "arn:aws:s3:::b2/a/x.jpg",
    f"{TABLE}/t1",
    f"{TABLE}/t2",
    f"{QUEUE}:q1",
    f"{QUEUE}:q2",
)
PATTERNS = (
    "*",
    "arn:aws:s3:::b1/*",
    "arn:aws:s3:::b1/a/*",
    "arn:aws:s3:::b2/*",
    "arn:aws:s3:::*",
    f"{TABLE}/*",
    f"{QUEUE}:q?",
    *CONCRETE,
)
REQUESTED = (*CONCRETE, "arn:aws:s3:::b1/a/*", "arn:aws:s3:::b1/*", "*")
IDENTITY_CONDITIONS = (
    None,
    {"StringEquals": {"aws:SourceVpc": "vpc-1"}},
    {"Bool": {"aws:SecureTransport": "true"}},
)
BOUNDARY_CONDITIONS = (None, {"StringEquals": {"aws:RequestedRegion": "us-east-1"}})


def _statement(conditions: tuple[Any, ...]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build_one(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {"Effect": draw(st.sampled_from(("Allow", "Allow", "Allow", "Deny")))}
        actions = draw(st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=3))
        out["NotAction" if draw(st.integers(0, 7)) == 0 else "Action"] = actions
        resources = draw(st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=3))
        out["NotResource" if draw(st.integers(0, 7)) == 0 else "Resource"] = resources
        condition = draw(st.sampled_from(conditions))
        if condition is not None:
            out["Condition"] = condition
        return out

    return build_one()


def _policy(statements: list[dict[str, Any]], name: str) -> Policy:
    return parse_policy({"Version": "2012-10-17", "Statement": statements}, name=name)


grants = st.tuples(
    st.lists(_statement(IDENTITY_CONDITIONS), min_size=1, max_size=4),
    st.lists(_statement(IDENTITY_CONDITIONS), max_size=2),
    st.one_of(st.none(), st.lists(_statement(BOUNDARY_CONDITIONS), min_size=1, max_size=2)),
)
observed = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.sampled_from(REQUESTED)), min_size=1, max_size=8
)
probes = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.sampled_from(CONCRETE)), min_size=1, max_size=12
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _role(grant: tuple[Any, ...]) -> Role:
    first, second, boundary = grant
    policies = (_policy(first, "first"),) + ((_policy(second, "second"),) if second else ())
    return Role(ROLE, policies, boundary=_policy(boundary, "boundary") if boundary else None)


def _proposal(documents: tuple[str, ...], boundary: Policy | None) -> Grant:
    return Grant(
        [parse_policy(d, name=f"proposed-{i}") for i, d in enumerate(documents)], boundary=boundary
    )


@SETTINGS
@given(grant=grants, requests=observed)
def test_every_observed_request_the_grant_allowed_stays_allowed(
    grant: tuple[Any, ...], requests: list[tuple[str, str]]
) -> None:
    """Never missing: each observed request the grant allowed is allowed by the proposal."""
    role = _role(grant)
    today = Grant(role.policies, boundary=role.boundary)
    built = build(role, [need(a, r) for a, r in requests])
    proposal = _proposal(built.documents, role.boundary)
    for action, resource in requests:
        if today.evaluate(action, resource).allowed:
            decision = proposal.evaluate(action, resource)
            assert decision.allowed, (action, resource, decision.reason, built.documents)


@SETTINGS
@given(grant=grants, requests=observed, probe=probes)
def test_the_proposal_allows_nothing_the_grant_does_not(
    grant: tuple[Any, ...], requests: list[tuple[str, str]], probe: list[tuple[str, str]]
) -> None:
    """Never wider: a request the proposal allows, the grant allows (for certain only if it does)."""
    role = _role(grant)
    today = Grant(role.policies, boundary=role.boundary)
    built = build(role, [need(a, r) for a, r in requests])
    alone = _proposal(built.documents, None)
    for action, resource in [*probe, *((a, r) for a, r in requests if "*" not in r)]:
        mine = alone.evaluate(action, resource)
        if not mine.allowed:
            continue
        theirs = today.evaluate(action, resource)
        assert theirs.allowed, (action, resource, theirs.reason, built.documents)
        if mine.certainly_allowed:
            assert theirs.certainly_allowed, (action, resource, theirs.reason, built.documents)


@SETTINGS
@given(grant=grants, requests=observed, seed=st.integers(0, 2**16))
def test_the_same_input_gives_the_same_bytes_in_any_order(
    grant: tuple[Any, ...], requests: list[tuple[str, str]], seed: int
) -> None:
    """Deterministic: generated twice, and from shuffled requests, the documents are identical."""
    role = _role(grant)
    needs = [need(a, r) for a, r in requests]
    first = build(role, needs)
    again = build(role, needs)
    shuffled = list(needs)
    random.Random(seed).shuffle(shuffled)
    third = build(role, shuffled)
    assert first.documents == again.documents == third.documents
