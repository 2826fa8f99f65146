"""The test clock's types, importable by test modules (conftest.py is not a module to import).

See ``tests/conftest.py`` for the ``clock`` fixture and why every date-sensitive
test runs twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["CLOCK_SHIFT_ENV", "FIXED_NOW", "Clock"]

CLOCK_SHIFT_ENV = "LAMBDAGUARD_TEST_CLOCK_SHIFT"
# The instant every date-sensitive test calls "now": fixed, so results never
# depend on the day the suite runs.
FIXED_NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Clock:
    """A fixed instant to pass as ``now``, with the helpers tests need around it."""

    now: datetime
    # How far the process's real clock was moved for this run (zero: not moved).
    real_shift: timedelta

    @property
    def ns(self) -> int:
        """``now`` in Unix nanoseconds (what ``now_ns=`` parameters take)."""
        return int(self.now.timestamp()) * 1_000_000_000

    def ago(self, **delta: float) -> datetime:
        """``now`` minus a ``timedelta(**delta)``."""
        return self.now - timedelta(**delta)

    def ns_ago(self, **delta: float) -> int:
        """``ago(**delta)`` in Unix nanoseconds."""
        return int(self.ago(**delta).timestamp()) * 1_000_000_000

    def __call__(self) -> datetime:
        """The clock as a callable, for ``clock=`` parameters."""
        return self.now
