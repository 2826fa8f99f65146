"""Fixtures for the IAM knowledge tests: a caller context and a one-call mapper."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from lambdaguard.iam import Authorization, Confidence, authorizations

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
