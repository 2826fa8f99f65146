"""Small builders for the policy tests: policies, needs with their recorded calls, managed policies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lambdaguard.analysis.findings import Citation, Confidence, Level
from lambdaguard.analysis.need import Need
from lambdaguard.iam import Policy, parse_policy

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/orders-role"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SURE = Confidence(Level.HIGH, ("90 days observed",))
MANAGED = Path(__file__).resolve().parents[1] / "iam" / "fixtures" / "managed"


def pol(*statements: dict[str, Any], name: str = "inline") -> Policy:
    """A Version 2012-10-17 policy of these statements."""
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)}, name=name)


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    """An Allow statement."""
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    """A Deny statement."""
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def managed(name: str) -> Policy:
    """An AWS managed policy from the IAM tests' fixtures."""
    text = (MANAGED / f"{name}.json").read_text()
    return parse_policy(text, name=name, arn=f"arn:aws:iam::aws:policy/{name}")


def need(
    action: str,
    resource: str,
    *,
    operation: str = "",
    origin: str = "used",
    confidence: str = "exact",
    count: int = 3,
    denied: bool = False,
    failed: str = "",
    trace: str = "0af7651916cd43dd8448eb211c80319c",
    span: str = "b7ad6b7169203331",
) -> Need:
    """A need with one recorded call behind it (none for the Lambda service's needs)."""
    service = action.split(":", 1)[0]
    code = "AccessDenied" if denied else failed
    evidence = ()
    if origin == "used":
        evidence = (
            Citation(
                service=service,
                operation=operation or action.split(":", 1)[1],
                resource=resource,
                count=count,
                first_seen=NOW - timedelta(days=20),
                last_seen=NOW - timedelta(hours=2),
                trace_id=trace,
                span_id=span,
                error_code=code,
                region=REGION,
                function="orders-api",
            ),
        )
    return Need(
        action=action,
        resource=resource,
        confidence=confidence,
        explanations=(f"{action} on {resource}",),
        evidence=evidence,
        origin=origin,
        denied_calls=count if denied else 0,
        succeeded_calls=0 if code else count,
    )
