"""Fixtures for the IAM knowledge tests: a caller context, a one-call mapper, AWS managed policies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from lambdaguard.iam import Authorization, Confidence, Policy, authorizations, parse_policy

ACCOUNT = "123456789012"
REGION = "us-east-1"

Mapper = Callable[..., list[tuple[str, str]]]


@pytest.fixture
def pairs() -> Mapper:
    """Map a call in us-east-1 / 123456789012; (action, resource) pairs, DEPENDENT ones left out.

    What a call may also need (dependent actions, KMS on a key the request
    does not name) is tested with the whole answer in ``test_hard_cases``.
    """

    def run(
        service: str,
        operation: str,
        params: Mapping[str, Any] | None = None,
        response: Mapping[str, Any] | None = None,
    ) -> list[tuple[str, str]]:
        found = authorizations(
            service, operation, params, region=REGION, account=ACCOUNT, response=response
        )
        return [(a.action, a.resource) for a in found if a.confidence is not Confidence.DEPENDENT]

    return run


@pytest.fixture
def full() -> Callable[..., list[Authorization]]:
    """Map a call in us-east-1 / 123456789012 and return the authorizations."""

    def run(
        service: str,
        operation: str,
        params: Mapping[str, Any] | None = None,
        response: Mapping[str, Any] | None = None,
    ) -> list[Authorization]:
        return authorizations(
            service, operation, params, region=REGION, account=ACCOUNT, response=response
        )

    return run


FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def managed() -> Callable[[str], Policy]:
    """An AWS managed policy from tests/iam/fixtures/managed, parsed, named by its ARN."""

    def load(name: str) -> Policy:
        path = FIXTURES / "managed" / f"{name}.json"
        return parse_policy(path.read_text(), name=name, arn=f"arn:aws:iam::aws:policy/{name}")

    return load
