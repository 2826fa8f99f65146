"""Per-function evidence summaries, read from the store.

The store keeps facts; this module turns them into :class:`~.findings.Evidence`
(invocations per day and in total, AWS calls grouped by operation with the IAM
requests each call needs, outbound hosts, triggers seen), limited to a window
when one is given. It is the only reader of the store's evidence tables in
``analysis``; the judgement modules build on what it returns.

The IAM requests come from :func:`lambdaguard.iam.authorizations`, once per
distinct (call, account, region): a fleet shares most calls' shapes, and the
mapping is the costly part of a large report. A call the IAM knowledge cannot
map keeps its count and says why in ``note``; it is never dropped.

Windows: invocation days are kept per day, so they are cut exactly; calls and
hosts are kept as counts with first and last seen, so a call last seen inside
the window counts whole (its count may include earlier calls). The findings
say so in their warnings.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from lambdaguard.analysis.findings import (
    CallGroup,
    DayCount,
    Evidence,
    HostContact,
    IamRequest,
    Invocations,
    ObservedCallSummary,
)

if TYPE_CHECKING:
    from lambdaguard.collector.store import CallRecord, FunctionRecord, Store

__all__ = ["FunctionEvidence", "IamRequests", "collect", "function_names"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class FunctionEvidence:
    """A function as the store knows it, with its evidence inside the window."""

    arn: str
    name: str
    account: str
    region: str
    evidence: Evidence


class IamRequests:
    """The IAM requests of recorded calls, each distinct call mapped once."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, ...], tuple[tuple[IamRequest, ...], str | None]] = {}

    def __call__(
        self, call: CallRecord, *, account: str, region: str
    ) -> tuple[tuple[IamRequest, ...], str | None]:
        """The requests of one call and, when it could not be mapped, why."""
        key = (
            call.service,
            call.operation,
            call.params,
            call.region or region,
            account,
            call.error_code,
            call.kms_key_id,
        )
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = _map(call, account=account, region=call.region or region)
        return hit


def _map(
    call: CallRecord, *, account: str, region: str
) -> tuple[tuple[IamRequest, ...], str | None]:
    from lambdaguard.errors import IamDataError
    from lambdaguard.iam import authorizations

    try:
        params = json.loads(call.params) if call.params else {}
    except ValueError as exc:
        return (), f"the recorded parameters are not JSON ({exc}); the IAM requests are unknown"
    response: dict[str, str] = {}
    if call.error_code:
        response["ErrorCode"] = call.error_code
    if call.kms_key_id:
        response["SSEKMSKeyId"] = call.kms_key_id
    try:
        found = authorizations(
            call.service,
            call.operation,
            params if isinstance(params, dict) else {},
            region=region,
            account=account,
            response=response,
        )
    except IamDataError as exc:
        return (), f"IAM mapping unavailable: {exc}"
    return tuple(
        IamRequest(a.action, a.resource, a.confidence.value, a.explanation) for a in found
    ), None


def _summaries(
    records: Iterable[CallRecord], fn: FunctionRecord, requests: IamRequests
) -> tuple[CallGroup, ...]:
    grouped: dict[tuple[str, str], list[ObservedCallSummary]] = defaultdict(list)
    for call in records:
        mapped, note = requests(call, account=fn.account, region=fn.region)
        grouped[call.service, call.operation].append(
            ObservedCallSummary(
                region=call.region,
                params=call.params,
                phase=call.phase,
                error_code=call.error_code or None,
                presign=call.presign,
                count=call.count,
                first_seen=call.first_seen,
                last_seen=call.last_seen,
                requests=mapped,
                note=note,
            )
        )
    return tuple(
        CallGroup(service, operation, tuple(calls))
        for (service, operation), calls in sorted(grouped.items())
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
    function name or ARN to limit the work to. ``progress`` is called with
    (functions done, functions in all) as the work goes.
    """
    start = now - window if window is not None else None
    requests = requests or IamRequests()
    functions = [
        f
        for f in store.functions()
        if (start is None or f.last_seen >= start) and only in (None, f.arn, f.name)
    ]
    out: list[FunctionEvidence] = []
    for done, fn in enumerate(functions, 1):
        days = tuple(
            DayCount(d.day, d.count, d.cold_starts, d.errors, d.timeouts)
            for d in store.invocations(fn.arn)
            if start is None or d.day >= start.date()
        )
        calls = [c for c in store.calls(fn.arn) if start is None or c.last_seen >= start]
        hosts = tuple(
            HostContact(
                host=h.host,
                port=h.port,
                tls=h.tls,
                aws=h.aws,
                count=h.count,
                failures=h.failures,
                first_seen=h.first_seen,
                last_seen=h.last_seen,
            )
            for h in store.hosts(fn.arn)
            if start is None or h.last_seen >= start
        )
        evidence = Evidence(
            first_seen=fn.first_seen,
            last_seen=fn.last_seen,
            layer_version=fn.layer_version,
            invocations=Invocations.from_days(days),
            calls=_summaries(calls, fn, requests),
            hosts=tuple(sorted(hosts, key=lambda h: (h.aws, h.host, h.port, h.tls))),
        )
        out.append(FunctionEvidence(fn.arn, fn.name, fn.account, fn.region, evidence))
        if progress is not None:
            progress(done, len(functions))
    return tuple(out)


def function_names(store: Store) -> tuple[str, ...]:
    """The names of every function the store knows (to suggest one when a name is not found)."""
    return tuple(sorted({f.name for f in store.functions()}))
