"""What lambdaguard itself recorded of each function, read fleet-wide from the store.

The verdicts weigh this beside CloudWatch: an invocation lambdaguard saw is
proof of use even where the metric could not be read, and only lambdaguard
knows a function's init errors (a handler that cannot be imported), its error
types and the hosts it connected to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

__all__ = ["HostSeen", "Telemetry", "TelemetryIndex", "read_telemetry"]


@dataclass(frozen=True, slots=True)
class HostSeen:
    """An outbound (host, port, tls) a function connected to."""

    host: str
    port: int
    tls: bool
    aws: bool
    count: int
    failures: int
    first_seen: datetime
    last_seen: datetime
    proxy: str = ""


@dataclass(frozen=True, slots=True)
class Telemetry:
    """One function's evidence in the store."""

    arn: str
    name: str
    region: str
    account: str
    layer_version: str = ""
    last_seen: datetime | None = None
    # UTC day -> (invocations, errors)
    days: Mapping[date, tuple[int, int]] = field(default_factory=dict)
    error_types: Mapping[str, int] = field(default_factory=dict)
    init_errors: int = 0
    init_error_types: Mapping[str, int] = field(default_factory=dict)
    last_init_error: datetime | None = None
    hosts: tuple[HostSeen, ...] = ()
    trigger_kinds: tuple[str, ...] = ()

    def invocations_since(self, day: date) -> int:
        """Invocations recorded on or after ``day``."""
        return sum(n for d, (n, _) in self.days.items() if d >= day)

    def last_invoked_day(self) -> date | None:
        """The last day with a recorded invocation."""
        days = [d for d, (n, _) in self.days.items() if n > 0]
        return max(days) if days else None


@dataclass(frozen=True, slots=True)
class TelemetryIndex:
    """Telemetry by function ARN, and by (region, name) for records without an account."""

    by_arn: Mapping[str, Telemetry] = field(default_factory=dict)
    by_name: Mapping[tuple[str, str], tuple[Telemetry, ...]] = field(default_factory=dict)

    def find(self, arn: str, region: str, name: str) -> Telemetry | None:
        """The function's telemetry: by ARN, else by name and region when unambiguous."""
        found = self.by_arn.get(arn)
        if found is not None:
            return found
        candidates = self.by_name.get((region, name), ())
        # Only an account-less record (an init error before any ARN was known)
        # may be joined by name; two accounts' functions of one name never are.
        loose = [t for t in candidates if not t.account]
        return loose[0] if len(loose) == 1 else None


def index(records: list[Telemetry]) -> TelemetryIndex:
    """Index telemetry records for lookups."""
    by_arn: dict[str, Telemetry] = {}
    by_name: dict[tuple[str, str], list[Telemetry]] = {}
    for record in records:
        if record.arn:
            by_arn[record.arn] = record
        by_name.setdefault((record.region, record.name), []).append(record)
    return TelemetryIndex(by_arn, {k: tuple(v) for k, v in by_name.items()})


def read_telemetry(store: Any) -> TelemetryIndex:
    """Read every function's evidence from a store (see the store's fleet-wide readers)."""
    records: list[Telemetry] = []
    for fn in store.functions():
        days = {d.day: (d.count, d.errors + d.timeouts) for d in store.invocations(fn.arn)}
        hosts = tuple(
            HostSeen(h.host, h.port, h.tls, h.aws, h.count, h.failures, h.first_seen, h.last_seen)
            for h in store.hosts(fn.arn)
        )
        records.append(
            Telemetry(
                arn=fn.arn,
                name=fn.name,
                region=fn.region,
                account=fn.account,
                layer_version=fn.layer_version,
                last_seen=fn.last_seen,
                days=days,
                hosts=hosts,
            )
        )
    return index(records)
