"""What lambdaguard itself recorded of each function, read fleet-wide from the store.

The verdicts weigh this beside CloudWatch: an invocation lambdaguard saw is
proof of use even where the metric could not be read, and only lambdaguard
knows a function's init errors (a handler that cannot be imported), its error
types and the hosts it connected to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from lambdaguard.evidence import HostSeen

__all__ = ["Telemetry", "TelemetryIndex", "read_telemetry"]


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
    """Index telemetry, joining account-less records (init errors) to their function.

    An init error sent before any ARN was known names only region and
    function; when exactly one account has a function of that name in that
    region, its init errors are joined to it.
    """
    full = [r for r in records if r.account]
    loose = [r for r in records if not r.account]
    by_place: dict[tuple[str, str], list[Telemetry]] = {}
    for record in full:
        by_place.setdefault((record.region, record.name), []).append(record)
    merged: dict[str, Telemetry] = {r.arn: r for r in full}
    kept_loose: list[Telemetry] = []
    for record in loose:
        owners = by_place.get((record.region, record.name), [])
        if len(owners) != 1:
            kept_loose.append(record)
            continue
        owner = merged[owners[0].arn]
        types = dict(owner.init_error_types)
        for kind, n in record.init_error_types.items():
            types[kind] = types.get(kind, 0) + n
        last = max(
            (t for t in (owner.last_init_error, record.last_init_error) if t is not None),
            default=None,
        )
        merged[owner.arn] = replace(
            owner,
            init_errors=owner.init_errors + record.init_errors,
            init_error_types=types,
            last_init_error=last,
        )
    by_arn = dict(merged)
    by_name: dict[tuple[str, str], list[Telemetry]] = {}
    for record in [*merged.values(), *kept_loose]:
        if record.arn and record.account:
            by_arn[record.arn] = record
        by_name.setdefault((record.region, record.name), []).append(record)
    for record in kept_loose:
        by_arn.setdefault(record.arn, record)
    return TelemetryIndex(by_arn, {k: tuple(v) for k, v in by_name.items()})


def _place(arn: str) -> tuple[str, str, str]:
    parts = arn.split(":")
    if len(parts) >= 7:
        return parts[3], parts[4], parts[6]
    return "", "", arn


def read_telemetry(store: Any) -> TelemetryIndex:
    """Read every function's evidence from a store: one query per kind of fact, fleet-wide."""
    days: dict[str, dict[date, tuple[int, int]]] = {}
    for d in store.invocations():
        days.setdefault(d.function_arn, {})[d.day] = (d.count, d.errors + d.timeouts)
    hosts: dict[str, list[HostSeen]] = {}
    for h in store.hosts():
        hosts.setdefault(h.function_arn, []).append(h)
    invoke_errors: dict[str, dict[str, int]] = {}
    init_errors: dict[str, dict[str, int]] = {}
    last_init: dict[str, datetime] = {}
    for e in store.errors():
        target = init_errors if e.phase == "init" else invoke_errors
        target.setdefault(e.function_arn, {})[e.error_type] = e.count
        if e.phase == "init":
            previous = last_init.get(e.function_arn)
            last_init[e.function_arn] = max(previous, e.last_seen) if previous else e.last_seen
    kinds: dict[str, set[str]] = {}
    for t in store.triggers():
        kinds.setdefault(t.function_arn, set()).add(t.kind)
    records: list[Telemetry] = []
    for fn in store.functions():
        region, account, name = _place(fn.arn)
        types = init_errors.get(fn.arn, {})
        records.append(
            Telemetry(
                arn=fn.arn,
                name=fn.name or name,
                region=fn.region or region,
                account=fn.account or account,
                layer_version=fn.layer_version,
                last_seen=fn.last_seen,
                days=days.get(fn.arn, {}),
                error_types=invoke_errors.get(fn.arn, {}),
                init_errors=sum(types.values()),
                init_error_types=types,
                last_init_error=last_init.get(fn.arn),
                hosts=tuple(hosts.get(fn.arn, ())),
                trigger_kinds=tuple(sorted(kinds.get(fn.arn, ()))),
            )
        )
    return index(records)
