"""Risk knowledge: access levels from the IAM data, escalation and exfiltration paths, admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lambdaguard.iam import Grant, Policy, action_exists, parse_policy
from lambdaguard.iam.risk import (
    RISK_CLASSES,
    AccessLevel,
    RiskKind,
    access_level,
    action_risks,
    admin_equivalent,
    risk_paths,
)

Managed = Callable[[str], Policy]
ACCOUNT = "123456789012"


def pol(*statements: dict[str, Any], name: str = "inline") -> Policy:
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)}, name=name)


def ids(grant: Grant, **kw: Any) -> set[str]:
    return {p.risk.id for p in risk_paths(grant, **kw)}


@pytest.mark.parametrize(
    ("action", "level"),
    [
        ("s3:GetObject", AccessLevel.READ),
        ("s3:ListBucket", AccessLevel.LIST),
        ("s3:PutObject", AccessLevel.WRITE),
        ("s3:PutObjectTagging", AccessLevel.TAGGING),
        ("iam:PutRolePolicy", AccessLevel.PERMISSIONS_MANAGEMENT),
        ("IAM:putrolepolicy", AccessLevel.PERMISSIONS_MANAGEMENT),
        ("s3:GetObjekt", None),
        ("nonsense", None),
    ],
)
def test_access_levels_come_from_the_iam_data(action: str, level: AccessLevel | None) -> None:
    """Each action's access level is AWS's, the narrower one where AWS lists two."""
    assert access_level(action) is level


def test_every_risk_action_exists() -> None:
    """Every action a risk class names is an action in the IAM data, and every class says why."""
    for risk in RISK_CLASSES:
        assert risk.fact
        assert risk.title
        for step in risk.steps:
            for action in step.actions:
                assert action_exists(action), (risk.id, action)


def test_action_flags() -> None:
    """action_risks names the classes an action takes part in, case-insensitively."""
    passrole = {r.id for r in action_risks("IAM:PassRole")}
    assert {"passrole-lambda", "passrole-ec2", "passrole-cloudformation"} <= passrole
    assert {r.kind for r in action_risks("secretsmanager:GetSecretValue")} == {
        RiskKind.DATA_EXFILTRATION
    }
    assert action_risks("s3:PutObject") == ()


def test_administrator_access_opens_every_path(managed: Managed) -> None:
    """AdministratorAccess allows every escalation and exfiltration class, on all resources."""
    paths = risk_paths(Grant([managed("AdministratorAccess")]))
    assert {p.risk.id for p in paths} == {r.id for r in RISK_CLASSES}
    assert all(p.scope == "all" and not p.conditional for p in paths)


def test_power_user_keeps_non_iam_paths(managed: Managed) -> None:
    """PowerUserAccess (NotAction iam:*) opens no IAM or PassRole path, but still code and data paths."""
    found = ids(Grant([managed("PowerUserAccess")]))
    assert not any(i.startswith(("iam-", "passrole-")) for i in found)
    assert {
        "lambda-update-function-code",
        "sts-assume-any-role",
        "s3-read-all-objects",
        "kms-decrypt-all",
    } <= found


def test_basic_execution_role_opens_nothing(managed: Managed) -> None:
    """AWSLambdaBasicExecutionRole (logs only) opens no path."""
    assert risk_paths(Grant([managed("AWSLambdaBasicExecutionRole")])) == ()


def test_conditional_passrole_gives_a_conditional_path(managed: Managed) -> None:
    """AmazonDynamoDBFullAccess passes roles only under iam:PassedToService: the Lambda path is conditional."""
    paths = {p.risk.id: p for p in risk_paths(Grant([managed("AmazonDynamoDBFullAccess")]))}
    assert paths["passrole-lambda"].conditional
    assert "only under a condition" in paths["passrole-lambda"].describe()
    assert not paths["dynamodb-read-all-tables"].conditional


def test_scoped_passrole_is_limited_and_named() -> None:
    """PassRole on some roles is a path limited to those roles, and says which."""
    grant = Grant(
        [
            pol(
                {
                    "Effect": "Allow",
                    "Action": "iam:PassRole",
                    "Resource": f"arn:aws:iam::{ACCOUNT}:role/app-*",
                },
                {
                    "Effect": "Allow",
                    "Action": ["lambda:CreateFunction", "lambda:InvokeFunction"],
                    "Resource": "*",
                },
            )
        ]
    )
    (path,) = [p for p in risk_paths(grant, account=ACCOUNT) if p.risk.id == "passrole-lambda"]
    assert path.scope == "some"
    assert f"(only arn:aws:iam::{ACCOUNT}:role/app-*)" in path.describe()


def test_account_scopes_every_resource() -> None:
    """AssumeRole on every role of the account covers "every role" once the account is known."""
    grant = Grant(
        [
            pol(
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Resource": f"arn:aws:iam::{ACCOUNT}:role/*",
                }
            )
        ]
    )
    (unknown,) = risk_paths(grant)
    assert unknown.scope == "some"
    (known,) = risk_paths(grant, account=ACCOUNT)
    assert known.scope == "all"


def test_boundary_and_denies_close_paths(managed: Managed) -> None:
    """A boundary or an explicit deny closes the paths it covers."""
    admin = managed("AdministratorAccess")
    assert ids(Grant([admin], boundary=managed("AmazonS3FullAccess"))) == {"s3-read-all-objects"}
    guard = pol(
        {"Effect": "Deny", "Action": ["iam:*", "sts:*", "lambda:*"], "Resource": "*"}, name="guard"
    )
    found = ids(Grant([admin, guard]))
    assert not any(i.startswith(("iam-", "passrole-", "sts-", "lambda-")) for i in found)
    assert "secretsmanager-read-all" in found


def test_kinds_filter() -> None:
    """risk_paths(kinds=...) keeps only the asked kinds."""
    grant = Grant([pol({"Effect": "Allow", "Action": "*", "Resource": "*"})])
    found = risk_paths(grant, kinds=(RiskKind.DATA_EXFILTRATION,))
    assert found
    assert all(p.risk.kind is RiskKind.DATA_EXFILTRATION for p in found)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["AdministratorAccess"], "all"),
        (["IAMFullAccess"], "iam"),
        (["PowerUserAccess"], None),
        (["AmazonS3FullAccess", "AWSLambdaBasicExecutionRole"], None),
    ],
)
def test_admin_equivalence(managed: Managed, names: list[str], expected: str | None) -> None:
    """`*:*` is admin; iam:* on * is admin-equivalent; PowerUserAccess and S3 access are not."""
    found = admin_equivalent(Grant([managed(n) for n in names]))
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert found.all_actions is (expected == "all")
        assert found.reason


def test_not_action_sparing_iam_is_not_admin() -> None:
    """An inline "NotAction": "iam:*" on "*" (the queue-worker sample) is not admin-equivalent."""
    grant = Grant([pol({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})])
    assert admin_equivalent(grant) is None
