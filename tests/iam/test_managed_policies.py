"""Realistic grants: AWS managed policies as AWS publishes them, with explicit denies and boundaries."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lambdaguard.iam import Effect, Grant, Policy, parse_policy

Managed = Callable[[str], Policy]
ACCOUNT = "123456789012"
OBJ = "arn:aws:s3:::photos/uploads/a.jpg"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders"


@pytest.mark.parametrize(
    "name",
    [
        "AdministratorAccess",
        "AmazonS3FullAccess",
        "PowerUserAccess",
        "AmazonDynamoDBFullAccess",
        "AWSLambdaBasicExecutionRole",
        "AWSLambdaVPCAccessExecutionRole",
        "IAMFullAccess",
        "SecretsManagerReadWrite",
    ],
)
def test_managed_policies_parse_clean(managed: Managed, name: str) -> None:
    """Every managed policy fixture reads without a warning: its actions exist in the IAM data."""
    policy = managed(name)
    assert policy.statements
    assert policy.warnings == ()
    assert not policy.partial


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("iam:CreateUser", "*"),
        ("s3:GetObject", "arn:aws:s3:::*"),
        ("kms:Decrypt", "*"),
        ("ec2:RunInstances", "*"),
    ],
)
def test_administrator_access_allows_everything(
    managed: Managed, action: str, resource: str
) -> None:
    """AdministratorAccess ("Action": "*" on "*") allows any action on any resource or pattern."""
    assert Grant([managed("AdministratorAccess")]).evaluate(action, resource).certainly_allowed


@pytest.mark.parametrize(
    ("action", "resource", "expected"),
    [
        ("s3:GetObject", OBJ, Effect.ALLOW),
        ("s3:DeleteBucket", "arn:aws:s3:::photos", Effect.ALLOW),
        ("s3-object-lambda:GetObject", "*", Effect.ALLOW),
        ("dynamodb:GetItem", TABLE, Effect.IMPLICIT_DENY),
    ],
)
def test_s3_full_access(managed: Managed, action: str, resource: str, expected: Effect) -> None:
    """AmazonS3FullAccess allows every s3 and s3-object-lambda action and nothing else."""
    assert Grant([managed("AmazonS3FullAccess")]).evaluate(action, resource).effect is expected


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("s3:GetObject", Effect.ALLOW),
        ("lambda:UpdateFunctionCode", Effect.ALLOW),
        ("iam:CreateUser", Effect.IMPLICIT_DENY),
        ("iam:PassRole", Effect.IMPLICIT_DENY),
        ("iam:ListRoles", Effect.ALLOW),
        ("iam:CreateServiceLinkedRole", Effect.ALLOW),
        ("organizations:CreateAccount", Effect.IMPLICIT_DENY),
        ("organizations:DescribeOrganization", Effect.ALLOW),
    ],
)
def test_power_user_access_not_action(managed: Managed, action: str, expected: Effect) -> None:
    """PowerUserAccess allows all but iam/organizations/account (NotAction), plus a few listed back."""
    assert Grant([managed("PowerUserAccess")]).evaluate(action, "*").effect is expected


def test_dynamodb_full_access(managed: Managed) -> None:
    """AmazonDynamoDBFullAccess: dynamodb:* anywhere; iam:PassRole only under its condition."""
    grant = Grant([managed("AmazonDynamoDBFullAccess")])
    assert grant.evaluate("dynamodb:Scan", TABLE).certainly_allowed
    passrole = grant.evaluate("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/any")
    assert passrole.effect is Effect.ALLOW
    assert passrole.conditional
    assert "iam:PassedToService" in passrole.reason
    assert passrole.conditions[0].policy == "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"
    insight = grant.evaluate(
        "cloudwatch:GetInsightRuleReport", f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:insight-rule/*"
    )
    assert insight.partial
    # The grant's region and account "*" end their segments, so IAM lets them run
    # across colons: the exact intersection also holds rule names with a colon.
    assert [a.pattern for a in insight.allowed_patterns] == [
        f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:insight-rule/*:insight-rule/DynamoDBContributorInsights*",
        f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:insight-rule/DynamoDBContributorInsights*",
    ]


def test_secrets_manager_read_write_scopes_lambda(managed: Managed) -> None:
    """SecretsManagerReadWrite lets Lambda functions be invoked only if named SecretsManager*."""
    grant = Grant([managed("SecretsManagerReadWrite")])
    fn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:"
    assert grant.evaluate("lambda:InvokeFunction", fn + "SecretsManagerRotation").certainly_allowed
    assert grant.evaluate("lambda:InvokeFunction", fn + "orders-api").effect is Effect.IMPLICIT_DENY
    assert grant.evaluate("secretsmanager:GetSecretValue", "*").certainly_allowed


def test_admin_with_an_explicit_deny(managed: Managed) -> None:
    """An explicit Deny on one bucket beats AdministratorAccess there, and only there."""
    guard = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "KeepAudit",
                    "Effect": "Deny",
                    "Action": "s3:Delete*",
                    "Resource": "arn:aws:s3:::audit/*",
                }
            ],
        },
        name="orders-api-role/guard",
    )
    grant = Grant([managed("AdministratorAccess"), guard])
    d = grant.evaluate("s3:DeleteObject", "arn:aws:s3:::audit/2026/x")
    assert d.effect is Effect.EXPLICIT_DENY
    assert d.reason == "explicitly denied by orders-api-role/guard#KeepAudit"
    assert grant.evaluate("s3:DeleteObject", OBJ).certainly_allowed
    every = grant.evaluate("s3:DeleteObject", "arn:aws:s3:::*")
    assert every.partial
    assert every.allowed_patterns[0].excluding == ("arn:aws:s3:::audit/*",)


def test_admin_under_an_s3_boundary(managed: Managed) -> None:
    """AdministratorAccess under an AmazonS3FullAccess boundary allows only S3."""
    grant = Grant([managed("AdministratorAccess")], boundary=managed("AmazonS3FullAccess"))
    assert grant.evaluate("s3:PutObject", OBJ).certainly_allowed
    d = grant.evaluate("iam:CreateUser", "*")
    assert d.effect is Effect.IMPLICIT_DENY
    assert "boundary does not" in d.reason


def test_many_requests_against_one_grant_reuse_the_compiled_statements(managed: Managed) -> None:
    """A grant answers repeated requests from its cache: the same Decision object comes back."""
    grant = Grant([managed("AmazonDynamoDBFullAccess"), managed("AWSLambdaBasicExecutionRole")])
    first = grant.evaluate("dynamodb:GetItem", TABLE)
    assert grant.evaluate("dynamodb:GetItem", TABLE) is first
