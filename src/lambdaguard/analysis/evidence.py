"""Per-function evidence summaries, read from the store with fleet-wide reads.

The store keeps facts; this module turns them into :class:`~.findings.Evidence`
(invocations per day with durations and error types, AWS calls grouped by
operation with the IAM requests each needs, outbound hosts, triggers and
versions seen), limited to a window when one is given. Each kind of fact is
read once for every function (one query per table, whatever the fleet's
size) and grouped here.

The IAM requests come from :func:`lambdaguard.iam.authorizations_for_call`,
the one door from an observed call to the mapping, once per distinct call
shape: a fleet shares most calls' shapes, and the mapping is the costly part
of a large report. A call the IAM knowledge cannot map keeps its count and
says why in ``note``; it is never dropped.

Windows: invocation days are kept per day, so they are cut exactly; calls,
hosts and triggers are kept as counts with first and last seen, so one last
seen inside the window counts whole (its count may include earlier ones).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from lambdaguard.analysis.findings import (
    CallGroup,
    DayCount,
    Evidence,
    IamRequest,
    Invocations,
    MappedCall,
)
from lambdaguard.evidence import ObservedCall

if TYPE_CHECKING:
    from lambdaguard.collector.store import Store

__all__ = ["FunctionEvidence", "IamRequests", "Progress", "collect", "function_names"]

# Called with (functions done, functions in all) as the work goes.
Progress = Callable[[int, int], None]
_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class FunctionEvidence:
    """A function as the store knows it, with its evidence inside the window."""

    arn: str
    name: str
    account: str
    region: str
    evidence: Evidence


class IamRequests:
    """The IAM requests of observed calls, each distinct call shape mapped once."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], tuple[tuple[IamRequest, ...], str | None]] = {}

    def __call__(self, call: ObservedCall) -> tuple[tuple[IamRequest, ...], str | None]:
        """The requests of one call and, when it could not be mapped, why."""
        key = (
            call.service,
            call.operation,
            call.region,
            call.account,
            json.dumps(call.params, sort_keys=True, default=str),
            call.error_code,
            tuple(sorted(call.response.items())),
            call.params_complete,
        )
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = _map(call)
        return hit


def _map(call: ObservedCall) -> tuple[tuple[IamRequest, ...], str | None]:
    from lambdaguard.errors import IamDataError
    from lambdaguard.iam import authorizations_for_call

    try:
        found = authorizations_for_call(call)
    except IamDataError as exc:
        return (), f"IAM mapping unavailable: {exc}"
    return tuple(
        IamRequest(a.action, a.resource, a.confidence.value, a.explanation) for a in found
    ), None


def _by_function(rows: Iterable[_R], arn_of: Callable[[_R], str]) -> dict[str, list[_R]]:
    out: dict[str, list[_R]] = defaultdict(list)
    for row in rows:
        out[arn_of(row)].append(row)
    return out


def _groups(calls: Sequence[ObservedCall], requests: IamRequests) -> tuple[CallGroup, ...]:
    grouped: dict[tuple[str, str], list[MappedCall]] = defaultdict(list)
    for call in calls:
        mapped, note = requests(call)
        grouped[call.service, call.operation].append(MappedCall(call, mapped, note))
    return tuple(
        CallGroup(service, operation, tuple(found))
        for (service, operation), found in sorted(grouped.items())
    )


def collect(
    store: Store,
    *,
    now: datetime,
    window: timedelta | None = None,
    only: str | None = None,
    progress: Progress | None = None,
    requests: IamRequests | None = None,
) -> tuple[FunctionEvidence, ...]:
    """Every function the store knows that was seen inside the window, with its evidence.

    ``now`` is the end of the window (the caller's clock: never read here);
    ``window`` its length, or None for everything the store holds; ``only`` a
    function name or ARN to limit the work to.
    """
    start = now - window if window is not None else None
    requests = requests or IamRequests()
    functions = [
        f
        for f in store.functions()
        if (start is None or f.last_seen >= start) and only in (None, f.arn, f.name)
    ]
    # One function: read its rows only. Otherwise one query per table for all.
    arn = functions[0].arn if only is not None and len(functions) == 1 else None
    if only is not None and not functions:
        return ()

    def recent(last_seen: datetime | None) -> bool:
        return start is None or (last_seen is not None and last_seen >= start)

    calls = _by_function(
        (c for c in store.calls(arn) if recent(c.last_seen)), lambda c: c.function_arn
    )
    hosts = _by_function(
        (h for h in store.hosts(arn) if recent(h.last_seen)), lambda h: h.function_arn
    )
    triggers = _by_function(
        (t for t in store.triggers(arn) if recent(t.last_seen)), lambda t: t.function_arn
    )
    versions = _by_function(
        (v for v in store.versions(arn) if recent(v.last_seen)), lambda v: v.function_arn
    )
    errors = _by_function(
        (e for e in store.errors(arn) if recent(e.last_seen)), lambda e: e.function_arn
    )
    first_day = start.date() if start is not None else None
    days = _by_function(
        (d for d in store.invocations(arn) if first_day is None or d.day >= first_day),
        lambda d: d.function_arn,
    )
    durations = {(d.function_arn, d.day): d for d in store.durations(arn)}

    out: list[FunctionEvidence] = []
    for done, fn in enumerate(functions, 1):
        day_counts = []
        for d in days.get(fn.arn, ()):
            spread = durations.get((fn.arn, d.day))
            day_counts.append(
                DayCount(
                    d.day,
                    d.count,
                    d.cold_starts,
                    d.errors,
                    d.timeouts,
                    spread.p50_ms if spread else None,
                    spread.p95_ms if spread else None,
                )
            )
        evidence = Evidence(
            first_seen=fn.first_seen,
            last_seen=fn.last_seen,
            layer_version=fn.layer_version,
            invocations=Invocations.from_days(
                day_counts, sorted(errors.get(fn.arn, ()), key=lambda e: (-e.count, e.error_type))
            ),
            calls=_groups(calls.get(fn.arn, ()), requests),
            hosts=tuple(
                sorted(hosts.get(fn.arn, ()), key=lambda h: (h.aws, h.host, h.port, h.tls))
            ),
            triggers=tuple(sorted(triggers.get(fn.arn, ()), key=lambda t: (-t.count, t.kind))),
            versions=tuple(versions.get(fn.arn, ())),
            runtime=fn.runtime,
            last_invoked=fn.last_invoked,
        )
        out.append(FunctionEvidence(fn.arn, fn.name, fn.account, fn.region, evidence))
        if progress is not None:
            progress(done, len(functions))
    return tuple(out)


def function_names(store: Store) -> tuple[str, ...]:
    """The names of every function the store knows (to suggest one when a name is not found)."""
    return tuple(sorted({f.name for f in store.functions()}))
