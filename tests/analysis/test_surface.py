"""The attack surface of a role, from the IAM evaluator: access levels, escalation, admin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lambdaguard.analysis.inventory import FunctionInfo
from lambdaguard.analysis.surface import provider, surface_of
from lambdaguard.analysis.verdicts import judge
from lambdaguard.iam import Grant, parse_policy

ARN = "arn:aws:lambda:eu-west-1:123456789012:function:a"


def grant(*statements: dict[str, Any]) -> tuple[Grant, tuple[Any, ...]]:
    policy = parse_policy({"Version": "2012-10-17", "Statement": list(statements)}, name="p")
    return Grant([policy]), (policy,)


def test_admin_role_is_admin_equivalent_with_every_level_counted() -> None:
    """'*' on '*' is admin-equivalent and grants actions of every access level."""
    g, policies = grant({"Effect": "Allow", "Action": "*", "Resource": "*"})
    found = surface_of(g, policies=policies, account="123456789012")
    assert found.admin_equivalent
    assert found.access is not None
    assert {"List", "Read", "Write", "Permissions management", "Tagging"} <= set(found.access)
    assert found.access["Write"] > 1000


def test_scoped_read_role_counts_only_its_actions() -> None:
    """A read-only S3 grant is not admin, opens no escalation and counts only S3 reads and lists."""
    g, policies = grant({"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"})
    found = surface_of(g, policies=policies)
    assert not found.admin_equivalent
    assert found.escalation == ()
    assert found.access is not None
    assert set(found.access) <= {"List", "Read"}
    assert found.access["Read"] > 10


def test_passrole_with_lambda_create_is_an_escalation_path_and_flags_the_function() -> None:
    """iam:PassRole plus lambda:CreateFunction and InvokeFunction is privilege escalation."""
    g, policies = grant(
        {
            "Effect": "Allow",
            "Action": ["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"],
            "Resource": "*",
        }
    )
    found = surface_of(g, policies=policies)
    assert found.escalation
    fn = FunctionInfo("a", ARN, "eu-west-1", "123456789012", tags={"owner": "x"}, invocations={})
    finding = judge(
        fn,
        now=datetime(2026, 5, 15, tzinfo=UTC),
        window=timedelta(days=90),
        surface=provider({ARN: (g, policies)}),
    )
    assert "admin-equivalent" in finding.flag_names
    assert finding.surface.access == found.access
