"""Fixtures for the inventory tests: one moto server seeded with a fleet covering every verdict."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from lambdaguard.local.aws import MotoServer, start_moto
from lambdaguard.local.fleet import Fleet, seed_fleet

# A fixed instant: metrics and schedules are seeded relative to it, and every
# judgement is made at it, so the tests mean the same thing on any day.
NOW = datetime(2026, 5, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="package")
def moto() -> Iterator[MotoServer]:
    """moto in server mode on loopback for the whole package."""
    server = start_moto()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def fleet(moto: MotoServer) -> Fleet:
    """The seeded fleet (at least 50 functions)."""
    return seed_fleet(moto, now=NOW)


@pytest.fixture
def aws_env(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment a user's shell would have: endpoint, region and test credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("LAMBDAGUARD_STORE", raising=False)
    return moto.endpoint
