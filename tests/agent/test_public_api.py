"""The agent's public surface stays small and documented."""

from __future__ import annotations

import lambdaguard
import lambdaguard.agent


def test_public_names_are_exactly_these() -> None:
    """lambdaguard.agent exports instrument and flush, and lambdaguard re-exports instrument."""
    assert sorted(lambdaguard.agent.__all__) == ["flush", "instrument"]
    assert lambdaguard.instrument is lambdaguard.agent.instrument
    for name in lambdaguard.agent.__all__:
        assert getattr(lambdaguard.agent, name).__doc__


def test_instrument_works_bare_and_with_arguments() -> None:
    """@instrument and @instrument(**overrides) both return a callable handler."""

    @lambdaguard.instrument
    def bare(event: object, context: object) -> str:
        return "bare"

    @lambdaguard.instrument(enabled=False)
    def configured(event: object, context: object) -> str:
        return "configured"

    assert bare({}, None) == "bare"
    assert configured({}, None) == "configured"
