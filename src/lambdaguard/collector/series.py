"""Cumulative metric series applied once: the last value per series, and the increments it yields.

:func:`apply` runs inside the store's write transaction
(:meth:`~lambdaguard.collector.store.Store.ingest_metrics`):

1. the series seen for the first time are inserted with ``ON CONFLICT DO
   NOTHING RETURNING``: their whole value is an increment. A concurrent writer
   inserting the same series makes this insert wait for its commit, so exactly
   one of them counts it (the same rule as span keys);
2. the others are read (``FOR UPDATE`` on PostgreSQL, so two collectors
   applying the same environment's flushes serialise on its series rows, not
   on the aggregates), and only the increase over the kept value counts: a
   value sent again (an exporter retry, a collector that timed out after
   committing) adds nothing. A later start time begins a new run, whose whole
   value counts; an earlier one is stale and adds nothing;
3. the increments become the same rows spans produce, upserted with the
   store's own statements in its fixed table order.

Series rows are keyed by sorted digest and locked in that order, so two
writers never wait on each other in opposite orders.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lambdaguard import semconv
from lambdaguard.collector.metrics import (
    DurationTarget,
    InvocationTarget,
    SeriesPoint,
    histogram_state,
)
from lambdaguard.collector.spans import CallFact, HostFact, call_key

if TYPE_CHECKING:
    from lambdaguard.collector.store import Store

__all__ = ["SeriesResult", "apply"]

_CHUNK: Final = 500  # keys per IN (...) list: well under SQLite's bound variables


@dataclass(frozen=True, slots=True)
class SeriesResult:
    """What one metrics ingest did: series points that counted, and those already applied."""

    applied: int
    unchanged: int
    increments: int  # the sum of every increase (calls, connections, invocations, durations)


def _buckets(text: str) -> dict[int, int]:
    try:
        raw = json.loads(text) if text else {}
    except ValueError:
        return {}
    return {int(k): int(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def _newest(points: Sequence[SeriesPoint]) -> dict[bytes, SeriesPoint]:
    # A request (or a group of them) may hold the same series twice: keep the
    # latest run's largest value; the rest is already in it.
    out: dict[bytes, SeriesPoint] = {}
    for point in points:
        kept = out.get(point.series)
        if kept is None or (point.start_ns, point.value, point.time_ns) > (
            kept.start_ns,
            kept.value,
            kept.time_ns,
        ):
            out[point.series] = point
    return out


def _delta(point: SeriesPoint, old: Any) -> tuple[int, dict[int, int], dict[str, Any] | None]:
    """(sum increase, bucket increases, new state or None if unchanged) against the kept state."""
    new_buckets = dict(point.buckets)
    if point.start_ns < old.start_ns:
        return 0, {}, None  # an earlier run, already superseded
    if point.start_ns > old.start_ns:
        state = {"start_ns": point.start_ns, "value": point.value, "buckets": new_buckets}
        return point.value, {b: n for b, n in new_buckets.items() if n}, state
    kept = _buckets(old.buckets)
    increase = max(point.value - int(old.value), 0)
    bucket_increase = {b: n - kept.get(b, 0) for b, n in new_buckets.items() if n > kept.get(b, 0)}
    if not increase and not bucket_increase:
        return 0, {}, None
    merged = dict(kept)
    for b, n in bucket_increase.items():
        merged[b] = kept.get(b, 0) + n
    state = {"start_ns": old.start_ns, "value": max(point.value, int(old.value)), "buckets": merged}
    return increase, bucket_increase, state


class _Rows:
    """The aggregate rows the increments make, shaped as the store's upserts expect."""

    def __init__(self) -> None:
        self.functions: dict[str, dict[str, Any]] = {}
        self.calls: dict[tuple[str, bytes], dict[str, Any]] = {}
        self.hosts: dict[tuple[str, str, int, bool], dict[str, Any]] = {}
        self.days: dict[tuple[str, str], dict[str, Any]] = {}
        self.seen: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {
            "lg_triggers": {},
            "lg_versions": {},
            "lg_errors": {},
        }
        self.durations: dict[tuple[str, str, int], dict[str, Any]] = {}

    def function(self, point: SeriesPoint, invoked: bool) -> str:
        fn = point.function
        t = point.time_ns
        row = self.functions.get(fn.arn)
        if row is None:
            row = self.functions[fn.arn] = {
                "arn": fn.arn,
                "account": fn.account,
                "region": fn.region,
                "name": fn.name,
                "layer_version": fn.layer_version,
                "runtime": fn.runtime,
                "first_seen": t,
                "last_seen": t,
                "last_invoked": 0,
            }
        row["first_seen"] = min(row["first_seen"], t)
        row["last_seen"] = max(row["last_seen"], t)
        if invoked:
            row["last_invoked"] = max(row["last_invoked"], t)
        return fn.arn

    def call(self, arn: str, call: CallFact, n: int, t: int) -> None:
        key = (arn, call_key(call))
        row = self.calls.get(key)
        if row is None:
            self.calls[key] = {
                "arn": arn,
                "call_key": key[1],
                "service": call.service,
                "operation": call.operation,
                "region": call.region,
                "params": call.params,
                "phase": call.phase,
                "error_code": call.error_code,
                "kms_key_id": "",
                "presign": call.presign,
                "count": n,
                "first_seen": t,
                "last_seen": t,
                "response": call.response,
                "params_complete": call.params_complete,
                "credentials": call.credentials,
                "role_arn": call.role_arn,
                "via": call.via,
                "source": call.source,
                "trace_id": "",  # counted, not one occurrence: the spans row names one
                "span_id": "",
            }
        else:
            row["count"] += n
            row["first_seen"] = min(row["first_seen"], t)
            row["last_seen"] = max(row["last_seen"], t)

    def host(self, arn: str, host: HostFact, n: int, failures: bool, t: int) -> None:
        key = (arn, host.host, host.port, host.tls)
        row = self.hosts.get(key)
        if row is None:
            row = self.hosts[key] = {
                "arn": arn,
                "host": host.host,
                "port": host.port,
                "tls": host.tls,
                "aws": host.aws,
                "count": 0,
                "failures": 0,
                "first_seen": t,
                "last_seen": t,
                "proxy": host.proxy,
            }
        row["failures" if failures else "count"] += n
        row["first_seen"] = min(row["first_seen"], t)
        row["last_seen"] = max(row["last_seen"], t)

    def _seen(self, table: str, arn: str, key: tuple[str, str], n: int, t: int) -> None:
        names = {
            "lg_triggers": ("kind", "source"),
            "lg_versions": ("version", "alias"),
            "lg_errors": ("phase", "error_type"),
        }[table]
        rows = self.seen[table]
        row = rows.get((arn, *key))
        if row is None:
            rows[(arn, *key)] = {
                "arn": arn,
                names[0]: key[0],
                names[1]: key[1],
                "count": n,
                "first_seen": t,
                "last_seen": t,
            }
        else:
            row["count"] += n
            row["first_seen"] = min(row["first_seen"], t)
            row["last_seen"] = max(row["last_seen"], t)

    def invocations(self, arn: str, target: InvocationTarget, n: int, t: int) -> None:
        row = self.days.setdefault(
            (arn, target.day),
            {
                "arn": arn,
                "day": target.day,
                "count": 0,
                "cold_starts": 0,
                "errors": 0,
                "timeouts": 0,
            },
        )
        if target.cold_start:
            row["cold_starts"] += n  # cold starts are a part of the invocations counted below
            return
        row["count"] += n
        if target.trigger_kind:
            self._seen("lg_triggers", arn, (target.trigger_kind, target.trigger_source), n, t)
        if target.version or target.alias:
            self._seen("lg_versions", arn, (target.version, target.alias), n, t)
        if target.outcome == semconv.OUTCOME_ERROR:
            row["errors"] += n
            self._seen("lg_errors", arn, (semconv.PHASE_INVOKE, target.error_type or "error"), n, t)
        elif target.outcome == semconv.OUTCOME_TIMEOUT:
            row["timeouts"] += n
            self._seen("lg_errors", arn, (semconv.PHASE_INVOKE, "timeout"), n, t)

    def duration(self, arn: str, day: str, bucket: int, n: int) -> None:
        row = self.durations.setdefault(
            (arn, day, bucket), {"arn": arn, "day": day, "bucket": bucket, "count": 0}
        )
        row["count"] += n


def apply(
    store: Store, conn: Connection, points: Sequence[SeriesPoint], now_s: int
) -> SeriesResult:
    """Apply ``points`` in the open transaction ``conn``; see the module docstring."""
    from lambdaguard.collector.store import metric_series_t as t

    newest = _newest(points)
    if not newest:
        return SeriesResult(0, 0, 0)
    keys = sorted(newest)
    insert = (
        store._insert(t).on_conflict_do_nothing(index_elements=["series"]).returning(t.c.series)
    )
    fresh: set[bytes] = set()
    for i in range(0, len(keys), _CHUNK):
        rows = [
            {
                "series": k,
                "start_ns": newest[k].start_ns,
                "value": newest[k].value,
                "buckets": histogram_state(newest[k].buckets),
                "updated_at": now_s,
            }
            for k in keys[i : i + _CHUNK]
        ]
        fresh.update(bytes(found[0]) for found in conn.execute(insert, rows))
    increments: list[tuple[SeriesPoint, int, dict[int, int]]] = [
        (newest[k], newest[k].value, dict(newest[k].buckets)) for k in keys if k in fresh
    ]
    rest = [k for k in keys if k not in fresh]
    updates: list[dict[str, Any]] = []
    for i in range(0, len(rest), _CHUNK):
        chunk = rest[i : i + _CHUNK]
        select = (
            sa.select(t.c.series, t.c.start_ns, t.c.value, t.c.buckets)
            .where(t.c.series.in_(chunk))
            .order_by(t.c.series)
        )
        if store.backend == "postgresql":
            select = select.with_for_update()
        for row in conn.execute(select):
            point = newest[bytes(row.series)]
            increase, bucket_increase, state = _delta(point, row)
            if state is None:
                continue
            increments.append((point, increase, bucket_increase))
            updates.append(
                {
                    "k": bytes(row.series),
                    "s": state["start_ns"],
                    "v": state["value"],
                    "b": histogram_state(tuple(sorted(state["buckets"].items()))),
                    "u": now_s,
                }
            )
    if updates:
        conn.execute(
            sa.update(t)
            .where(t.c.series == sa.bindparam("k"))
            .values(
                start_ns=sa.bindparam("s"),
                value=sa.bindparam("v"),
                buckets=sa.bindparam("b"),
                updated_at=sa.bindparam("u"),
            ),
            updates,
        )
    out = _Rows()
    total = 0
    for point, increase, bucket_increase in increments:
        target = point.target
        if isinstance(target, DurationTarget):
            if not bucket_increase:
                continue
            arn = out.function(point, invoked=False)
            for bucket, n in bucket_increase.items():
                out.duration(arn, target.day, bucket, n)
                total += n
            continue
        if increase <= 0:
            continue
        total += increase
        invoked = isinstance(target, InvocationTarget)
        arn = out.function(point, invoked=invoked)
        if isinstance(target, CallFact):
            out.call(arn, target, increase, point.time_ns)
        elif isinstance(target, HostFact):
            out.host(arn, target, increase, point.failures, point.time_ns)
        elif isinstance(target, InvocationTarget):
            out.invocations(arn, target, increase, point.time_ns)
    store._apply_rows(
        conn,
        functions=out.functions,
        calls=out.calls,
        hosts=out.hosts,
        days=out.days,
        seen=out.seen,
        durations=out.durations,
    )
    applied = len(increments)
    return SeriesResult(applied, len(newest) - applied, total)
