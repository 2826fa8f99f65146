"""The evaluator follows IAM's rules, one table per rule, each quoting the IAM User Guide."""

from __future__ import annotations

from typing import Any

import pytest

from lambdaguard.errors import PolicyError
from lambdaguard.iam import Effect, Grant, Policy, evaluate, parse_policy

ALLOW, EXPLICIT, IMPLICIT = Effect.ALLOW, Effect.EXPLICIT_DENY, Effect.IMPLICIT_DENY


def pol(*statements: dict[str, Any], name: str = "p", version: str | None = "2012-10-17") -> Policy:
    doc: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        doc["Version"] = version
    return parse_policy(doc, name=name)


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


OBJ = "arn:aws:s3:::photos/uploads/a.jpg"


def test_implicit_deny_by_default() -> None:
    """ "By default, all requests are implicitly denied" — no policy, or no matching statement."""
    assert evaluate("s3:GetObject", OBJ, []).effect is IMPLICIT
    d = evaluate("s3:GetObject", OBJ, [pol(allow("s3:PutObject"))])
    assert d.effect is IMPLICIT
    assert d.statements == ()
    assert "implicit deny" in d.reason


@pytest.mark.parametrize(
    ("policies", "expected"),
    [
        ([pol(allow("s3:GetObject"))], ALLOW),
        ([pol(allow("s3:GetObject"), deny("s3:GetObject", OBJ))], EXPLICIT),
        ([pol(allow("*")), pol(deny("s3:*"), name="guard")], EXPLICIT),
        ([pol(deny("s3:GetObject", "arn:aws:s3:::other/*"), allow("s3:*"))], ALLOW),
    ],
)
def test_explicit_deny_overrides_allow(policies: list[Policy], expected: Effect) -> None:
    """ "An explicit deny overrides an explicit allow", in the same policy or another one."""
    assert evaluate("s3:GetObject", OBJ, policies).effect is expected


def test_decision_names_the_statements() -> None:
    """A decision carries the statements behind it: policy, Sid or index, effect."""
    d = evaluate(
        "s3:GetObject",
        OBJ,
        [pol(allow("s3:*", Sid="S3All")), pol(deny("s3:GetObject", OBJ), name="guard")],
    )
    assert [(s.policy, s.sid, s.index, s.effect) for s in d.statements] == [
        ("p", "S3All", 0, "Allow"),
        ("guard", None, 0, "Deny"),
    ]
    assert d.reason == "explicitly denied by guard#0"


@pytest.mark.parametrize(
    ("statement", "action", "expected"),
    [
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "s3:GetObject", ALLOW),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "iam:CreateUser", IMPLICIT),
        (
            {"Effect": "Allow", "NotAction": ["iam:*", "s3:Get*"], "Resource": "*"},
            "s3:GetObject",
            IMPLICIT,
        ),
    ],
)
def test_not_action_with_allow(statement: dict[str, Any], action: str, expected: Effect) -> None:
    """ "NotAction ... explicitly matches everything except the specified list of actions" (Allow)."""
    assert evaluate(action, "*", [pol(statement)]).effect is expected


@pytest.mark.parametrize(
    ("action", "expected"),
    [("s3:GetObject", EXPLICIT), ("iam:ListRoles", ALLOW)],
)
def test_not_action_with_deny(action: str, expected: Effect) -> None:
    """With "Effect": "Deny", NotAction denies every action except those listed."""
    policies = [pol(allow("*"), {"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"})]
    assert evaluate(action, "*", policies).effect is expected


@pytest.mark.parametrize(
    ("resource", "expected"),
    [("arn:aws:s3:::public/x", ALLOW), ("arn:aws:s3:::secret/x", IMPLICIT)],
)
def test_not_resource_with_allow(resource: str, expected: Effect) -> None:
    """ "NotResource ... explicitly matches every resource except those specified" (Allow)."""
    policies = [
        pol({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secret/*"})
    ]
    assert evaluate("s3:GetObject", resource, policies).effect is expected


@pytest.mark.parametrize(
    ("resource", "expected"),
    [("arn:aws:s3:::photos/x", ALLOW), ("arn:aws:s3:::other/x", EXPLICIT)],
)
def test_not_resource_with_deny(resource: str, expected: Effect) -> None:
    """A Deny with NotResource denies everything outside the listed resources."""
    policies = [
        pol(
            allow("s3:*"),
            {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::photos/*"},
        )
    ]
    assert evaluate("s3:GetObject", resource, policies).effect is expected


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("s3:GetObject", ALLOW),
        ("S3:GETOBJECT", ALLOW),
        ("s3:getobject", ALLOW),
        ("s3:PutObject", IMPLICIT),
    ],
)
def test_actions_are_case_insensitive(action: str, expected: Effect) -> None:
    """ "The prefix and the action name are case insensitive" (Action element)."""
    assert evaluate(action, OBJ, [pol(allow("S3:getObject"))]).effect is expected


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("arn:aws:iam::123456789012:user/Bob", ALLOW),
        ("arn:aws:iam::123456789012:user/bob", IMPLICIT),
    ],
)
def test_resources_are_case_sensitive(resource: str, expected: Effect) -> None:
    """ "In the Resource element, the IAM user name is case sensitive": ARNs match exactly."""
    policies = [pol(allow("iam:GetUser", "arn:aws:iam::123456789012:user/Bob"))]
    assert evaluate("iam:GetUser", resource, policies).effect is expected


@pytest.mark.parametrize(
    ("action", "resource", "expected"),
    [
        ("sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123456789012:jobs-1", ALLOW),
        ("sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123456789012:jobs-12", IMPLICIT),
        ("sqs:DeleteMessage", "arn:aws:sqs:us-east-1:123456789012:jobs-1", IMPLICIT),
    ],
)
def test_question_mark_is_one_character(action: str, resource: str, expected: Effect) -> None:
    """ "?" stands for any single character, in resources and in action names."""
    policies = [pol(allow("sqs:?eceiveMessage", "arn:aws:sqs:us-east-1:123456789012:jobs-?"))]
    assert evaluate(action, resource, policies).effect is expected


def test_star_crosses_slashes_and_final_star_crosses_colons() -> None:
    """ "*" replaces everything within a segment including "/"; ending a segment it crosses ":"."""
    policies = [pol(allow("logs:PutLogEvents", "arn:aws:logs:*:*:log-group:/aws/lambda/*"))]
    stream = (
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/orders:log-stream:2026/01/01/x"
    )
    assert evaluate("logs:PutLogEvents", stream, policies).effect is ALLOW


def test_inner_star_stays_in_its_segment() -> None:
    """A "*" that does not end its segment does not match across a colon."""
    policies = [pol(allow("s3:GetObject", "arn:aws:s3:::logs/*.gz"))]
    assert evaluate("s3:GetObject", "arn:aws:s3:::logs/2026/a.gz", policies).effect is ALLOW
    assert evaluate("s3:GetObject", "arn:aws:s3:::logs/10:00/a.gz", policies).effect is IMPLICIT


def test_policy_variable_depends_on_its_value() -> None:
    """A resource with ${aws:username} may match, never certainly: "depends on a policy variable"."""
    policies = [pol(allow("s3:GetObject", "arn:aws:s3:::home/${aws:username}/*"))]
    d = evaluate("s3:GetObject", "arn:aws:s3:::home/alice/notes.txt", policies)
    assert d.effect is ALLOW
    assert d.conditional
    assert d.conditions[0].variables == ("aws:username",)
    assert "depends on a policy variable (${aws:username})" in d.reason
    assert evaluate("s3:GetObject", "arn:aws:s3:::other/x", policies).effect is IMPLICIT


def test_variable_in_a_deny_never_denies_for_certain() -> None:
    """A Deny whose resource holds a variable denies only under it: an allow stays, conditional."""
    policies = [pol(allow("s3:*"), deny("s3:GetObject", "arn:aws:s3:::home/${aws:username}/*"))]
    d = evaluate("s3:GetObject", "arn:aws:s3:::home/alice/x", policies)
    assert d.effect is ALLOW
    assert d.conditional
    assert "denied under a condition" in d.reason


def test_version_2008_reads_variables_as_text() -> None:
    """Without Version 2012-10-17, "${aws:username}" is "treated as literal strings in the policy"."""
    resource = "arn:aws:s3:::home/${aws:username}/x"
    for version in (None, "2008-10-17"):
        policies = [
            pol(allow("s3:GetObject", "arn:aws:s3:::home/${aws:username}/*"), version=version)
        ]
        literal = evaluate("s3:GetObject", resource, policies)
        assert literal.effect is ALLOW
        assert not literal.conditional
        assert evaluate("s3:GetObject", "arn:aws:s3:::home/alice/x", policies).effect is IMPLICIT


CONDITION = {"Bool": {"aws:SecureTransport": "true"}}


def test_allow_under_a_condition() -> None:
    """A matching Allow with a Condition is "allowed only under a condition", naming it."""
    d = evaluate("s3:GetObject", OBJ, [pol(allow("s3:GetObject", Condition=CONDITION, Sid="TLS"))])
    assert d.effect is ALLOW
    assert d.conditional
    assert not d.certainly_allowed
    assert [c.sid for c in d.conditions] == ["TLS"]
    assert d.reason.startswith("allowed only under a condition: p#TLS")
    assert '"aws:SecureTransport":"true"' in d.reason


def test_unconditional_allow_beats_a_conditional_one() -> None:
    """With an unconditional Allow as well, the request is allowed whatever the condition."""
    d = evaluate(
        "s3:GetObject", OBJ, [pol(allow("s3:GetObject", Condition=CONDITION), allow("s3:*"))]
    )
    assert d.certainly_allowed
    assert d.conditions == ()


def test_deny_under_a_condition() -> None:
    """A matching Deny with a Condition leaves the request allowed, but only conditionally."""
    d = evaluate(
        "s3:GetObject", OBJ, [pol(allow("s3:*"), deny("s3:GetObject", Condition=CONDITION))]
    )
    assert d.effect is ALLOW
    assert d.conditional
    assert [c.effect for c in d.conditions] == ["Deny"]
    assert "but denied under a condition" in d.reason


def test_conditional_deny_without_allow_is_still_a_deny() -> None:
    """A conditional Deny on a request nothing allows changes nothing: it is denied either way."""
    d = evaluate("s3:GetObject", OBJ, [pol(deny("s3:GetObject", Condition=CONDITION))])
    assert d.effect is IMPLICIT
    assert not d.conditional


BOUNDARY = pol(allow(["s3:*", "logs:*"]), name="boundary")


@pytest.mark.parametrize(
    ("identity", "action", "expected"),
    [
        (pol(allow("*")), "s3:GetObject", ALLOW),
        (pol(allow("*")), "iam:CreateUser", IMPLICIT),
        (pol(allow("logs:PutLogEvents")), "s3:GetObject", IMPLICIT),
    ],
)
def test_boundary_is_intersected(identity: Policy, action: str, expected: Effect) -> None:
    """ "allowed by both its identity-based policies and its permissions boundaries" — never widened."""
    assert evaluate(action, "*", [identity], boundary=BOUNDARY).effect is expected


def test_boundary_that_blocks_says_so() -> None:
    """When only the boundary is missing an allow, the reason names the boundary."""
    d = evaluate("iam:CreateUser", "*", [pol(allow("*"))], boundary=BOUNDARY)
    assert d.reason == "denied: the identity policies allow it, the permissions boundary does not"


def test_deny_in_the_boundary_denies() -> None:
    """An explicit Deny in the boundary denies as one in an identity policy does."""
    boundary = pol(allow("*"), deny("s3:DeleteObject"), name="boundary")
    d = evaluate("s3:DeleteObject", OBJ, [pol(allow("*"))], boundary=boundary)
    assert d.effect is EXPLICIT
    assert [(s.boundary, s.effect) for s in d.statements] == [
        (False, "Allow"),
        (True, "Allow"),
        (True, "Deny"),
    ]
    assert d.reason == "explicitly denied by boundary#1 (boundary)"


def test_boundary_condition_makes_the_allow_conditional() -> None:
    """A boundary that allows only under a condition makes the decision conditional."""
    boundary = pol(allow("s3:*", Condition=CONDITION), name="boundary")
    d = evaluate("s3:GetObject", OBJ, [pol(allow("*"))], boundary=boundary)
    assert d.effect is ALLOW
    assert d.conditional
    assert d.conditions[0].boundary


def test_single_statement_document() -> None:
    """A policy whose Statement is one object evaluates like a one-element list."""
    p = parse_policy({"Version": "2012-10-17", "Statement": allow("s3:GetObject")}, name="one")
    assert evaluate("s3:GetObject", OBJ, [p]).effect is ALLOW


def test_unusable_statements_are_not_evaluated() -> None:
    """A statement IAM would reject (no Effect) grants nothing; the grant says it is partial."""
    p = parse_policy(
        {"Version": "2012-10-17", "Statement": [{"Action": "*", "Resource": "*"}]}, name="broken"
    )
    grant = Grant([p])
    assert grant.partial
    assert grant.evaluate("s3:GetObject", OBJ).effect is IMPLICIT


def test_action_without_resource_types_needs_star() -> None:
    """An action with no resource types is authorized on "*": a statement scoped to ARNs does not allow it."""
    scoped = [pol(allow("s3:ListAllMyBuckets", "arn:aws:s3:::*"))]
    assert evaluate("s3:ListAllMyBuckets", "*", scoped).effect is IMPLICIT
    assert evaluate("s3:ListAllMyBuckets", "*", [pol(allow("s3:ListAllMyBuckets"))]).effect is ALLOW


# --- Resource patterns -------------------------------------------------------------------------

UPLOADS = "arn:aws:s3:::photos/uploads/*"


def test_pattern_allowed_for_every_arn() -> None:
    """A pattern inside a grant's pattern is allowed for every ARN it matches."""
    d = evaluate("s3:GetObject", UPLOADS, [pol(allow("s3:GetObject", "arn:aws:s3:::photos/*"))])
    assert d.effect is ALLOW
    assert not d.partial
    assert [a.pattern for a in d.allowed_patterns] == [UPLOADS]


def test_pattern_allowed_for_some_names_the_part() -> None:
    """A pattern the grant covers only in part is partial, with the intersection as the allowed part."""
    d = evaluate("s3:GetObject", UPLOADS, [pol(allow("s3:GetObject", "arn:aws:s3:::photos/*.jpg"))])
    assert d.effect is IMPLICIT
    assert d.partial
    assert [a.pattern for a in d.allowed_patterns] == ["arn:aws:s3:::photos/uploads/*.jpg"]
    assert "allowed only for part of the pattern: arn:aws:s3:::photos/uploads/*.jpg" in d.reason


def test_pattern_allowed_for_none() -> None:
    """A pattern the grant does not touch is denied, not partial."""
    d = evaluate("s3:GetObject", UPLOADS, [pol(allow("s3:GetObject", "arn:aws:s3:::other/*"))])
    assert d.effect is IMPLICIT
    assert not d.partial
    assert d.allowed_patterns == ()


def test_pattern_minus_a_deny() -> None:
    """An explicit Deny on part of a pattern leaves the rest allowed, with the part excluded."""
    d = evaluate(
        "s3:GetObject",
        UPLOADS,
        [pol(allow("s3:*"), deny("s3:GetObject", "arn:aws:s3:::photos/uploads/private/*"))],
    )
    assert d.effect is EXPLICIT
    assert d.partial
    (part,) = d.allowed_patterns
    assert part.pattern == UPLOADS
    assert part.excluding == ("arn:aws:s3:::photos/uploads/private/*",)


def test_pattern_fully_denied_is_explicit() -> None:
    """A Deny covering the whole pattern is an explicit deny with nothing allowed."""
    d = evaluate(
        "s3:GetObject", UPLOADS, [pol(allow("s3:*"), deny("s3:*", "arn:aws:s3:::photos/*"))]
    )
    assert d.effect is EXPLICIT
    assert not d.partial


def test_secret_suffix_pattern() -> None:
    """The mapper's secret pattern (six "?" for the random suffix) is covered by a name prefix grant."""
    secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-??????"
    grant = [pol(allow("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:*:*:secret:db-*"))]
    assert evaluate("secretsmanager:GetSecretValue", secret, grant).effect is ALLOW
    narrower = [
        pol(allow("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:*:*:secret:db-a*"))
    ]
    d = evaluate("secretsmanager:GetSecretValue", secret, narrower)
    assert d.partial
    assert [a.pattern for a in d.allowed_patterns] == [
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-a?????"
    ]


def test_pattern_with_boundary_is_the_intersection() -> None:
    """Pattern requests under a boundary are allowed only where both sides allow."""
    boundary = pol(allow("s3:*", "arn:aws:s3:::photos/uploads/public/*"), name="boundary")
    d = evaluate("s3:GetObject", UPLOADS, [pol(allow("s3:*"))], boundary=boundary)
    assert d.partial
    assert [a.pattern for a in d.allowed_patterns] == ["arn:aws:s3:::photos/uploads/public/*"]


def test_pattern_with_conditional_part() -> None:
    """A part allowed only under a condition is marked conditional in the allowed parts."""
    d = evaluate(
        "s3:GetObject",
        "arn:aws:s3:::photos/*",
        [pol(allow("s3:GetObject", "arn:aws:s3:::photos/public/*", Condition=CONDITION))],
    )
    assert d.partial
    assert [(a.pattern, a.conditional) for a in d.allowed_patterns] == [
        ("arn:aws:s3:::photos/public/*", True)
    ]


@pytest.mark.parametrize("action", ["GetObject", "s3:Get:Object", ":GetObject", 5])
def test_malformed_request_action(action: Any) -> None:
    """A request action that is not 'service:Action' raises PolicyError saying what is accepted."""
    with pytest.raises(PolicyError, match="service:Action"):
        evaluate(action, OBJ, [pol(allow("*"))])


def test_grant_takes_policy_objects() -> None:
    """A Grant made of raw dicts raises PolicyError pointing to parse_policy."""
    with pytest.raises(PolicyError, match="parse_policy"):
        Grant([{"Statement": []}])  # type: ignore[list-item]
