"""Properties of the evaluator over random grants: deny wins, allows only add, boundaries only narrow."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdaguard.iam import Decision, Effect, Grant, Policy, parse_policy
from lambdaguard.iam._glob import parse_glob

ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:ListBucket"]
ACTION_PATTERNS = ["s3:GetObject", "s3:PutObject", "s3:*", "*", "s3:Get*", "s3:?utObject", "iam:*"]
# Every ARN the properties check against; the patterns below are written over them.
UNIVERSE = [
    "arn:aws:s3:::a",
    "arn:aws:s3:::a/x",
    "arn:aws:s3:::a/y/z",
    "arn:aws:s3:::a/y/x.jpg",
    "arn:aws:s3:::a/y:1",
    "arn:aws:s3:::a/alice/x",
    "arn:aws:s3:::b/x",
    "arn:aws:s3:::b/y/x.jpg",
    "arn:aws:s3:::b/q:r/x",
]
RESOURCE_PATTERNS = [
    "*",
    "arn:aws:s3:::*",
    "arn:aws:s3:::a/*",
    "arn:aws:s3:::a/y/*",
    "arn:aws:s3:::*/x",
    "arn:aws:s3:::?/y*",
    "arn:aws:s3:::b/*.jpg",
    "arn:aws:s3:::a/${aws:username}/*",
    "arn:aws:s3:::a/x",
    "arn:aws:s3:::b/*",
]
REQUEST_PATTERNS = [
    "arn:aws:s3:::a/*",
    "arn:aws:s3:::*",
    "arn:aws:s3:::?/y*",
    "arn:aws:s3:::a/y/*",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::*.jpg",
]
CONDITION = {"Bool": {"aws:SecureTransport": "true"}}


@st.composite
def statements(draw: Any, effect: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": effect or draw(st.sampled_from(["Allow", "Deny"]))}
    actions = draw(st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=2))
    out["NotAction" if draw(st.booleans()) and draw(st.booleans()) else "Action"] = actions
    resources = draw(st.lists(st.sampled_from(RESOURCE_PATTERNS), min_size=1, max_size=2))
    out["NotResource" if draw(st.booleans()) and draw(st.booleans()) else "Resource"] = resources
    if draw(st.integers(0, 3)) == 0:
        out["Condition"] = CONDITION
    return out


@st.composite
def policies(draw: Any, name: str = "p", effect: str | None = None) -> Policy:
    items = draw(st.lists(statements(effect), min_size=0, max_size=4))
    return parse_policy({"Version": "2012-10-17", "Statement": items}, name=name)


requests = st.tuples(st.sampled_from(ACTIONS), st.sampled_from(UNIVERSE + REQUEST_PATTERNS))
concrete = st.tuples(st.sampled_from(ACTIONS), st.sampled_from(UNIVERSE))
optional_boundary = st.one_of(st.none(), policies(name="boundary"))
fast = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _rank(d: Decision) -> int:
    """2 certainly allowed, 1 allowed under a condition, 0 denied."""
    return 2 if d.certainly_allowed else 1 if d.allowed else 0


@fast
@given(policies(), optional_boundary, concrete)
def test_explicit_deny_always_wins(
    p: Policy, boundary: Policy | None, request: tuple[str, str]
) -> None:
    """A Deny naming the request exactly makes it an explicit deny, whatever else is granted."""
    action, resource = request
    guard = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": {"Effect": "Deny", "Action": action, "Resource": resource},
        },
        name="guard",
    )
    d = Grant([p, guard], boundary=boundary).evaluate(action, resource)
    assert d.effect is Effect.EXPLICIT_DENY
    assert any(s.policy == "guard" for s in d.statements)


@fast
@given(policies(), policies(name="extra", effect="Allow"), optional_boundary, requests)
def test_adding_allows_never_denies(
    p: Policy, extra: Policy, boundary: Policy | None, request: tuple[str, str]
) -> None:
    """Adding Allow statements never turns an allowed request into a denied (or less certain) one."""
    before = Grant([p], boundary=boundary).evaluate(*request)
    after = Grant([p, extra], boundary=boundary).evaluate(*request)
    assert _rank(after) >= _rank(before)


@fast
@given(policies(), policies(name="boundary"), requests)
def test_boundary_never_widens(p: Policy, boundary: Policy, request: tuple[str, str]) -> None:
    """With a boundary, a request is never more allowed than without it, ARN by ARN."""
    action, resource = request
    bounded = Grant([p], boundary=boundary)
    free = Grant([p])
    assert _rank(bounded.evaluate(action, resource)) <= _rank(free.evaluate(action, resource))
    req = parse_glob(resource)
    for arn in UNIVERSE:
        if req.matches(arn):
            assert _rank(bounded.evaluate(action, arn)) <= _rank(free.evaluate(action, arn))


@fast
@given(policies(), optional_boundary, st.lists(requests, min_size=1, max_size=6))
def test_evaluation_is_deterministic(
    p: Policy, boundary: Policy | None, batch: list[tuple[str, str]]
) -> None:
    """Two grants built from the same policies give equal decisions, whatever the order asked."""
    first = Grant([p], boundary=boundary)
    second = Grant([p], boundary=boundary)
    answers = {r: first.evaluate(*r) for r in batch}
    for r in reversed(batch):
        assert second.evaluate(*r) == answers[r]


@fast
@given(policies(), optional_boundary, concrete)
def test_pattern_path_agrees_on_single_arns(
    p: Policy, boundary: Policy | None, request: tuple[str, str]
) -> None:
    """A single ARN decided through the pattern machinery gets the same effect and statements."""
    grant = Grant([p], boundary=boundary)
    direct = grant.evaluate(*request)
    via = grant._decide(*request, as_pattern=True)
    assert (via.effect, via.conditional) == (direct.effect, direct.conditional)
    assert set(via.statements) == set(direct.statements)


@fast
@given(policies(), optional_boundary, st.sampled_from(ACTIONS), st.sampled_from(REQUEST_PATTERNS))
def test_pattern_decisions_hold_for_every_arn(
    p: Policy, boundary: Policy | None, action: str, pattern: str
) -> None:
    """A pattern's decision and its allowed parts agree with deciding each ARN it matches."""
    grant = Grant([p], boundary=boundary)
    d = grant.evaluate(action, pattern)
    req = parse_glob(pattern)
    for arn in (a for a in UNIVERSE if req.matches(a)):
        one = grant.evaluate(action, arn)
        if d.allowed:
            assert one.allowed, (arn, d.reason, one.reason)
        if d.certainly_allowed:
            assert one.certainly_allowed, (arn, d.reason, one.reason)
        parts = [
            a
            for a in d.allowed_patterns
            if parse_glob(a.pattern).matches(arn)
            and not any(parse_glob(e).matches(arn) for e in a.excluding)
        ]
        assert bool(parts) == one.allowed, (arn, d.allowed_patterns, one.reason)
        if any(not a.conditional for a in parts):
            assert one.certainly_allowed, (arn, d.allowed_patterns, one.reason)
