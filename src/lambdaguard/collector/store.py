"""The collector's durable store: SQLite (WAL) by default, PostgreSQL by DSN.

One code path (SQLAlchemy Core) serves both. What is kept is what analysis
needs, aggregated: per function the distinct AWS calls, the outbound hosts,
the invocations per day (with a duration histogram), and the triggers,
versions and error types seen, each with counts and first/last seen. Raw
spans are not kept; only their ids (``trace_id + span_id``), for
``span_window`` seconds, so a batch delivered twice changes nothing.

Reads hand out the typed records of :mod:`lambdaguard.evidence` and work
fleet-wide: each read method takes an optional function ARN and, without one,
answers for every function in one query. The schema's versions are frozen in
:mod:`.migrations`; the tables below describe the newest one.

Writes are idempotent and safe with several writer processes:

1. insert the batch's span keys with ``ON CONFLICT DO NOTHING RETURNING key``
   and aggregate only the facts whose key came back (a concurrent writer
   holding the same key makes this insert wait for its commit, so exactly one
   of them counts it);
2. upsert the aggregates with increments (``count = count + excluded.count``),
   rows sorted by key so two writers never lock in opposite orders;
3. commit, and only then acknowledge the request (SIGKILL after the
   acknowledgement loses nothing: the commit is in the WAL / PostgreSQL log).

Deadlocks and serialization failures are retried a few times. SQLAlchemy
errors are translated to :class:`~lambdaguard.errors.StoreError` here.
"""

from __future__ import annotations

import json
import math
import operator
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from lambdaguard import semconv
from lambdaguard.collector.migrations import MIGRATIONS, SCHEMA_VERSION
from lambdaguard.collector.spans import SpanFacts, call_key
from lambdaguard.errors import StoreError, StoreNotFound, StoreRejected

if TYPE_CHECKING:
    from lambdaguard.collector.metrics import SeriesPoint
from lambdaguard.evidence import (
    DurationDay,
    ErrorSeen,
    FunctionSeen,
    HostSeen,
    InventoryEntry,
    InventoryReading,
    InvocationDay,
    ObservedCall,
    Principal,
    TriggerSeen,
    VersionSeen,
    parse_params,
)

__all__ = [
    "SCHEMA_VERSION",
    "IngestResult",
    "MetricsResult",
    "Store",
    "StoreStats",
    "TrialCall",
    "TrialDenial",
    "TrialRecord",
    "open_store",
]

# Arbitrary constant naming lambdaguard's migration lock in PostgreSQL.
_PG_MIGRATION_LOCK: Final = 0x6C67_7561_7264
# ... and the lock one collector holds while it rolls pending counts up.
_PG_ROLLUP_LOCK: Final = 0x6C67_726F_6C6C
_RETRIES: Final = 6


class _Bytes(sa.types.TypeDecorator[bytes]):
    """BLOB/BYTEA passed straight through: sqlite3 and psycopg take bytes as is.

    Skipping SQLAlchemy's per-value bind processing matters here: every
    ingested span binds one key.
    """

    impl = sa.LargeBinary
    cache_ok = True

    def bind_processor(self, dialect: sa.Dialect) -> None:
        return None


metadata = sa.MetaData()

schema_version = sa.Table(
    "lg_schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.BigInteger, nullable=False),
)
functions_t = sa.Table(
    "lg_functions",
    metadata,
    sa.Column("arn", sa.Text, primary_key=True),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("region", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("layer_version", sa.Text, nullable=False),
    sa.Column("first_seen", sa.BigInteger, nullable=False),  # unix ns
    sa.Column("last_seen", sa.BigInteger, nullable=False),
    sa.Column("runtime", sa.Text, nullable=False),
    sa.Column("last_invoked", sa.BigInteger, nullable=False),  # unix ns, 0 = never
)
calls_t = sa.Table(
    "lg_calls",
    metadata,
    sa.Column("arn", sa.Text, primary_key=True),
    sa.Column("call_key", _Bytes(16), primary_key=True),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("operation", sa.Text, nullable=False),
    sa.Column("region", sa.Text, nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("phase", sa.Text, nullable=False),
    sa.Column("error_code", sa.Text, nullable=False),
    sa.Column("kms_key_id", sa.Text, nullable=False),  # v1 only; superseded by response
    sa.Column("presign", sa.Boolean, nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("first_seen", sa.BigInteger, nullable=False),
    sa.Column("last_seen", sa.BigInteger, nullable=False),
    sa.Column("response", sa.Text, nullable=False),  # JSON object of response facts
    sa.Column("params_complete", sa.Boolean, nullable=False),
    sa.Column("credentials", sa.Text, nullable=False),
    sa.Column("role_arn", sa.Text, nullable=False),
    sa.Column("via", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("trace_id", sa.Text, nullable=False),  # hex, of one occurrence
    sa.Column("span_id", sa.Text, nullable=False),
)
hosts_t = sa.Table(
    "lg_hosts",
    metadata,
    sa.Column("arn", sa.Text, primary_key=True),
    sa.Column("host", sa.Text, primary_key=True),
    sa.Column("port", sa.Integer, primary_key=True),
    sa.Column("tls", sa.Boolean, primary_key=True),
    sa.Column("aws", sa.Boolean, nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("failures", sa.BigInteger, nullable=False),
    sa.Column("first_seen", sa.BigInteger, nullable=False),
    sa.Column("last_seen", sa.BigInteger, nullable=False),
    sa.Column("proxy", sa.Text, nullable=False),  # the HTTP proxy it was reached through
)
invocations_t = sa.Table(
    "lg_invocations",
    metadata,
    sa.Column("arn", sa.Text, primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),  # YYYY-MM-DD, UTC
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("cold_starts", sa.BigInteger, nullable=False),
    sa.Column("errors", sa.BigInteger, nullable=False),
    sa.Column("timeouts", sa.BigInteger, nullable=False),
)
span_keys_t = sa.Table(
    "lg_span_keys",
    metadata,
    sa.Column("key", _Bytes(24), primary_key=True),  # trace_id + span_id
    sa.Column("seen_at", sa.BigInteger, nullable=False, index=True),  # unix s
)
# Evidence mode: the last cumulative value applied per metric series (see .series).
metric_series_t = sa.Table(
    "lg_metric_series",
    metadata,
    sa.Column("series", _Bytes(16), primary_key=True),  # environment x metric x attributes
    sa.Column("start_ns", sa.BigInteger, nullable=False),
    sa.Column("value", sa.BigInteger, nullable=False),
    sa.Column("buckets", sa.Text, nullable=False),  # JSON {store bucket: count}, histograms
    sa.Column("updated_at", sa.BigInteger, nullable=False, index=True),  # unix s
)
# Counter increments waiting to be rolled up (PostgreSQL with counter_rollup_s > 0).
pending_counts_t = sa.Table(
    "lg_pending_counts",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("rows", sa.Text, nullable=False),  # JSON: the aggregate rows of one transaction
    sa.Column("created_at", sa.BigInteger, nullable=False),  # unix s
)


def _seen_table(name: str, *key: sa.Column[Any]) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("arn", sa.Text, primary_key=True),
        *key,
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("first_seen", sa.BigInteger, nullable=False),
        sa.Column("last_seen", sa.BigInteger, nullable=False),
    )


triggers_t = _seen_table(
    "lg_triggers",
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("source", sa.Text, primary_key=True),
)
versions_t = _seen_table(
    "lg_versions",
    sa.Column("version", sa.Text, primary_key=True),
    sa.Column("alias", sa.Text, primary_key=True),
)
errors_t = _seen_table(
    "lg_errors",
    sa.Column("phase", sa.Text, primary_key=True),
    sa.Column("error_type", sa.Text, primary_key=True),
)
durations_t = sa.Table(
    "lg_durations",
    metadata,
    sa.Column("arn", sa.Text, primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("bucket", sa.Integer, primary_key=True),  # spans.duration_bucket
    sa.Column("count", sa.BigInteger, nullable=False),
)
# The account's listing (schema v3), written by `lambdaguard inventory`.
inventory_t = sa.Table(
    "lg_inventory",
    metadata,
    sa.Column("arn", sa.Text, primary_key=True),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("region", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("runtime", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("package_type", sa.Text, nullable=False),
    sa.Column("architectures", sa.Text, nullable=False),
    sa.Column("layers", sa.Text, nullable=False),
    sa.Column("lambdaguard", sa.Boolean, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("last_modified", sa.BigInteger, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("read_at", sa.BigInteger, nullable=False),
    sa.Column("facts", sa.Text, nullable=False),  # schema v8
)
# One row per inventory reading (schema v8).
readings_t = sa.Table(
    "lg_inventory_readings",
    metadata,
    sa.Column("read_at", sa.BigInteger, primary_key=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("window_s", sa.BigInteger, nullable=False),
    sa.Column("functions", sa.Integer, nullable=False),
    sa.Column("partial", sa.Boolean, nullable=False),
    sa.Column("scopes", sa.Text, nullable=False),
    sa.Column("users", sa.Text, nullable=False),
    sa.Column("directory", sa.Text, nullable=False),
    sa.Column("warnings", sa.Text, nullable=False),
    sa.Column("api_calls", sa.Text, nullable=False),
)
# Policy trials (schema v5, `lambdaguard policy --pin`): written by analysis, never by ingestion.
trials_t = sa.Table(
    "lg_trials",
    metadata,
    sa.Column("arn", sa.Text, primary_key=True),
    sa.Column("pinned_at", sa.BigInteger, nullable=False),  # unix ns
    sa.Column("trial_days", sa.Integer, nullable=False),
    sa.Column("documents", sa.Text, nullable=False),  # {"role ARN": ["policy JSON", ...]}
    sa.Column("digest", sa.Text, nullable=False),
)
trial_baseline_t = sa.Table(
    "lg_trial_baseline",
    metadata,
    sa.Column("arn", sa.Text, primary_key=True),
    sa.Column("call_key", _Bytes(16), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
)
trial_denials_t = sa.Table(
    "lg_trial_denials",
    metadata,
    sa.Column("arn", sa.Text, primary_key=True),
    sa.Column("call_key", _Bytes(16), primary_key=True),
    sa.Column("action", sa.Text, primary_key=True),
    sa.Column("resource", sa.Text, primary_key=True),
    sa.Column("role_arn", sa.Text, nullable=False),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("operation", sa.Text, nullable=False),
    sa.Column("region", sa.Text, nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("trace_id", sa.Text, nullable=False),
    sa.Column("span_id", sa.Text, nullable=False),
    sa.Column("first_detected", sa.BigInteger, nullable=False),  # unix ns
)
# Every evidence table, in the order writers lock them and stats counts them.
_TABLES: Final = (
    functions_t,
    calls_t,
    hosts_t,
    invocations_t,
    triggers_t,
    versions_t,
    errors_t,
    durations_t,
    span_keys_t,
    metric_series_t,
    pending_counts_t,
)

# Payloads accepted but not yet forwarded upstream (an outage, a stop): sent,
# oldest first, when the upstream answers again, also after a restart.
forward_backlog_t = sa.Table(
    "lg_forward_backlog",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("signal", sa.String(16), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),  # OTLP protobuf, uncompressed
    sa.Column("spans", sa.BigInteger, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),  # unix s
)


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one ingest did: spans counted now and spans already seen (and their keys)."""

    new_spans: int
    duplicate_spans: int
    duplicate_keys: frozenset[bytes] = frozenset()


@dataclass(frozen=True, slots=True)
class MetricsResult:
    """What one metrics ingest did: series that added counts, series already applied."""

    applied: int
    unchanged: int
    increments: int


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Row counts, for `lambdaguard store stats`."""

    backend: str
    schema_version: int
    functions: int
    calls: int
    hosts: int
    invocation_days: int
    span_keys: int


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """A proposal under trial for one function, as pinned."""

    function_arn: str
    pinned_at: datetime
    trial_days: int
    documents: str  # JSON: {"role ARN": ["policy document JSON", ...]}
    digest: str


@dataclass(frozen=True, slots=True)
class TrialCall:
    """A call recorded since the pin: the stored call and how many times it happened since."""

    key: bytes
    call: ObservedCall
    since_pin: int


@dataclass(frozen=True, slots=True)
class TrialDenial:
    """A call the pinned proposal would deny, as recorded when first found."""

    function_arn: str
    key: bytes
    action: str
    resource: str
    role_arn: str
    service: str
    operation: str
    region: str
    params: str
    count: int
    trace_id: str
    span_id: str
    first_detected: datetime


def _dt(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


def _observed(r: Any) -> ObservedCall:
    """A stored call row (joined with its function's account) as the one observed-call record."""
    params, whole = parse_params(r.params)
    response, _ = parse_params(r.response)
    return ObservedCall(
        function_arn=r.arn,
        account=r.account or r.arn.split(":")[4],
        service=r.service,
        operation=r.operation,
        region=r.region,
        params=params,
        phase=r.phase,
        error_code=r.error_code,
        response={k: str(v) for k, v in response.items()},
        presign=bool(r.presign),
        params_complete=bool(r.params_complete) and whole,
        principal=Principal(r.credentials, r.role_arn),
        via=r.via,
        source=r.source,
        count=int(r.count),
        first_seen=_dt(r.first_seen),
        last_seen=_dt(r.last_seen),
        trace_id=r.trace_id,
        span_id=r.span_id,
    )


def _earliest(col: Any, new: Any) -> Any:
    # CASE rather than min()/LEAST(): SQLite and PostgreSQL spell those differently.
    return sa.case((new < col, new), else_=col)


def _latest(col: Any, new: Any) -> Any:
    return sa.case((new > col, new), else_=col)


# The two key columns (after arn) of each "seen" table.
_SEEN_KEYS: Final = {
    "lg_triggers": ("kind", "source"),
    "lg_versions": ("version", "alias"),
    "lg_errors": ("phase", "error_type"),
}


def _percentile(buckets: Sequence[tuple[int, int]], total: int, q: float) -> float:
    # Nearest-rank percentile over the log-scale histogram: the bucket holding
    # the ceil(q * total)-th duration, reported as its centre 1.1**bucket.
    rank = max(1, math.ceil(q * total))
    running = 0
    for bucket, count in buckets:
        running += count
        if running >= rank:
            return round(1.1**bucket, 3)
    return round(1.1 ** buckets[-1][0], 3)


def _sorted_rows(rows: Mapping[Any, dict[str, Any]]) -> list[dict[str, Any]]:
    return [rows[k] for k in sorted(rows)]


# The key columns of each aggregate table, and how two rows of one key combine.
_PENDING_KEYS: Final = {
    "functions": ("arn",),
    "calls": ("arn", "call_key"),
    "hosts": ("arn", "host", "port", "tls"),
    "days": ("arn", "day"),
    "lg_triggers": ("arn", "kind", "source"),
    "lg_versions": ("arn", "version", "alias"),
    "lg_errors": ("arn", "phase", "error_type"),
    "durations": ("arn", "day", "bucket"),
}
_SUMMED: Final = frozenset({"count", "cold_starts", "errors", "timeouts", "failures"})
_ROLLUP_BATCH: Final = 20_000


def _combine(kept: dict[str, Any], row: dict[str, Any]) -> None:
    if row.get("last_seen", 0) >= kept.get("last_seen", 0):
        for name in ("layer_version", "runtime"):
            if row.get(name):
                kept[name] = row[name]
    for name, value in row.items():
        if name in _SUMMED:
            kept[name] += value
        elif name == "first_seen":
            kept[name] = min(kept[name], value)
        elif name in ("last_seen", "last_invoked"):
            kept[name] = max(kept[name], value)
        elif name == "aws":
            kept[name] = kept[name] or value


def _merge_pending(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Sum many transactions' pending rows into one row per key and table."""
    out: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {name: {} for name in _PENDING_KEYS}
    for doc in docs:
        tables = [
            (name, doc.get(name, ()))
            for name in ("functions", "calls", "hosts", "days", "durations")
        ]
        tables += [(name, rows) for name, rows in doc.get("seen", {}).items()]
        for name, rows in tables:
            merged = out[name]
            for raw in rows:
                row = dict(raw)
                if name == "calls":
                    row["call_key"] = bytes.fromhex(row["call_key"])
                key = tuple(row[k] for k in _PENDING_KEYS[name])
                kept = merged.get(key)
                if kept is None:
                    merged[key] = row
                else:
                    _combine(kept, row)
    return {
        "functions": out["functions"],
        "calls": out["calls"],
        "hosts": out["hosts"],
        "days": out["days"],
        "seen": {name: out[name] for name in ("lg_triggers", "lg_versions", "lg_errors")},
        "durations": out["durations"],
    }


def _is_retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code in ("40P01", "40001"):  # deadlock_detected, serialization_failure
        return True
    text = str(exc.orig).lower()
    return "database is locked" in text or "deadlock" in text


@dataclass(frozen=True, slots=True)
class _DriverUpsert:
    """An upsert compiled once to the driver's SQL, executed with plain parameter tuples.

    ``conn.execute(stmt, rows)`` looks the statement up in SQLAlchemy's
    compiled cache and builds every row's parameters through the compiler on
    each call: with an agent request's few rows per table that was most of a
    commit's Python time. The SQL is the same statement SQLAlchemy compiles.
    """

    sql: str
    columns: frozenset[str]
    row: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    constants: tuple[Any, ...]

    @classmethod
    def compile(cls, stmt: Any, table: sa.Table, dialect: sa.Dialect) -> _DriverUpsert | None:
        """The driver form of ``stmt`` (an upsert of every column of ``table``), or None
        when the dialect's parameters are not positional (then SQLAlchemy executes it)."""
        compiled = stmt.compile(dialect=dialect)
        names = list(compiled.positiontup or ())
        columns = [c.name for c in table.columns]
        if dialect.paramstyle != "qmark" or names[: len(columns)] != columns:
            return None
        constants = tuple(compiled.params[n] for n in names[len(columns) :])
        if any(value is None for value in constants):
            return None
        return cls(compiled.string, frozenset(columns), operator.itemgetter(*columns), constants)

    def fits(self, row: Mapping[str, Any]) -> bool:
        """True when the rows carry exactly the table's columns (as the ingest builds them)."""
        return row.keys() == self.columns

    def params(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """Each row's values in the statement's parameter order."""
        get = self.row
        constants = self.constants
        return [get(row) + constants for row in rows]


class Store:
    """A lambdaguard store. Thread-safe; open with :func:`open_store`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.backend = engine.dialect.name
        self._sqlite = self.backend == "sqlite"
        # SQLite allows one writer at a time; serialising our own threads here
        # avoids busy-waiting on the file lock.
        self._write_lock = threading.Lock() if self._sqlite else None
        if self._sqlite:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            self._insert: Callable[[sa.Table], Any] = sqlite_insert
        elif self.backend == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            self._insert = pg_insert
        else:
            raise StoreError(
                f"unsupported store backend {self.backend!r}: use sqlite or postgresql"
            )
        # Counter increments appended to lg_pending_counts and rolled up later
        # (see roll_up); set by the collector on PostgreSQL. Reads roll up first.
        self.defer_counts = False
        self._build_statements()

    # -- setup -----------------------------------------------------------------
    def _build_statements(self) -> None:
        ins = self._insert

        f = ins(functions_t)
        self._functions_stmt = f.on_conflict_do_update(
            index_elements=["arn"],
            set_={
                "account": f.excluded.account,
                "region": f.excluded.region,
                "name": f.excluded.name,
                "layer_version": sa.case(
                    (
                        sa.and_(
                            f.excluded.layer_version != "",
                            f.excluded.last_seen >= functions_t.c.last_seen,
                        ),
                        f.excluded.layer_version,
                    ),
                    else_=functions_t.c.layer_version,
                ),
                "runtime": sa.case(
                    (f.excluded.runtime != "", f.excluded.runtime),
                    else_=functions_t.c.runtime,
                ),
                "first_seen": _earliest(functions_t.c.first_seen, f.excluded.first_seen),
                "last_seen": _latest(functions_t.c.last_seen, f.excluded.last_seen),
                "last_invoked": _latest(functions_t.c.last_invoked, f.excluded.last_invoked),
            },
        )
        c = ins(calls_t)
        self._calls_stmt = c.on_conflict_do_update(
            index_elements=["arn", "call_key"],
            set_={
                "count": calls_t.c.count + c.excluded.count,
                "first_seen": _earliest(calls_t.c.first_seen, c.excluded.first_seen),
                "last_seen": _latest(calls_t.c.last_seen, c.excluded.last_seen),
            },
        )
        h = ins(hosts_t)
        self._hosts_stmt = h.on_conflict_do_update(
            index_elements=["arn", "host", "port", "tls"],
            set_={
                "aws": sa.or_(hosts_t.c.aws, h.excluded.aws),
                "count": hosts_t.c.count + h.excluded.count,
                "failures": hosts_t.c.failures + h.excluded.failures,
                "first_seen": _earliest(hosts_t.c.first_seen, h.excluded.first_seen),
                "last_seen": _latest(hosts_t.c.last_seen, h.excluded.last_seen),
                "proxy": sa.case((h.excluded.proxy != "", h.excluded.proxy), else_=hosts_t.c.proxy),
            },
        )
        self._seen_stmts = {}
        for table, key in (
            (triggers_t, ["arn", "kind", "source"]),
            (versions_t, ["arn", "version", "alias"]),
            (errors_t, ["arn", "phase", "error_type"]),
        ):
            t = ins(table)
            self._seen_stmts[table.name] = t.on_conflict_do_update(
                index_elements=key,
                set_={
                    "count": table.c.count + t.excluded["count"],
                    "first_seen": _earliest(table.c.first_seen, t.excluded.first_seen),
                    "last_seen": _latest(table.c.last_seen, t.excluded.last_seen),
                },
            )
        d = ins(durations_t)
        self._durations_stmt = d.on_conflict_do_update(
            index_elements=["arn", "day", "bucket"],
            set_={"count": durations_t.c.count + d.excluded["count"]},
        )
        i = ins(invocations_t)
        self._invocations_stmt = i.on_conflict_do_update(
            index_elements=["arn", "day"],
            set_={
                "count": invocations_t.c.count + i.excluded.count,
                "cold_starts": invocations_t.c.cold_starts + i.excluded.cold_starts,
                "errors": invocations_t.c.errors + i.excluded.errors,
                "timeouts": invocations_t.c.timeouts + i.excluded.timeouts,
            },
        )
        self._driver: dict[int, _DriverUpsert] = {}
        if self._sqlite:
            for stmt, table in (
                (self._functions_stmt, functions_t),
                (self._calls_stmt, calls_t),
                (self._hosts_stmt, hosts_t),
                (self._invocations_stmt, invocations_t),
                (self._seen_stmts["lg_triggers"], triggers_t),
                (self._seen_stmts["lg_versions"], versions_t),
                (self._seen_stmts["lg_errors"], errors_t),
                (self._durations_stmt, durations_t),
            ):
                driver = _DriverUpsert.compile(stmt, table, self._engine.dialect)
                if driver is not None:
                    self._driver[id(stmt)] = driver

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        if self._write_lock is None:
            with self._engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self._engine.connect() as conn:
            # IMMEDIATE takes the write lock up front (waiting on busy_timeout),
            # so a read-then-write transaction cannot fail with SQLITE_BUSY_SNAPSHOT
            # when another process commits in between.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def _retrying(self, work: Callable[[Connection], Any]) -> Any:
        delay = 0.01
        for attempt in range(_RETRIES):
            try:
                with self._write() as conn:
                    return work(conn)
            except DBAPIError as exc:
                if attempt + 1 < _RETRIES and _is_retryable(exc):
                    time.sleep(delay)
                    delay *= 2
                    continue
                if isinstance(exc, sa.exc.DataError | sa.exc.IntegrityError):
                    # The store is up and refused a value: retrying the same
                    # request can never succeed, so it must not look like an outage.
                    raise StoreRejected(f"the store refused a value: {exc.orig}") from exc
                raise StoreError(f"store write failed: {exc.orig}") from exc
            except SQLAlchemyError as exc:
                raise StoreError(f"store write failed: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def schema_version(self) -> int:
        """The applied schema version (0 for an empty database)."""
        try:
            with self._engine.connect() as conn:
                if not sa.inspect(conn).has_table(schema_version.name):
                    return 0
                value = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
                return int(value or 0)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read the schema version: {exc}") from exc

    def migrate(self) -> int:
        """Apply pending migrations (safe to run from several processes at once)."""

        def work(conn: Connection) -> int:
            if not self._sqlite:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
            schema_version.create(conn, checkfirst=True)
            current = int(
                conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0
            )
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"the store has schema version {current}, newer than this lambdaguard "
                    f"({SCHEMA_VERSION}); upgrade lambdaguard"
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version](conn)
                conn.execute(
                    sa.insert(schema_version).values(version=version, applied_at=int(time.time()))
                )
            return SCHEMA_VERSION

        return int(self._retrying(work))

    def close(self) -> None:
        """Release every connection."""
        self._engine.dispose()

    # -- writing ---------------------------------------------------------------
    def ingest(self, facts: Sequence[SpanFacts], *, now_ns: int | None = None) -> IngestResult:
        """Store a request's facts in one transaction; spans seen before count nothing."""
        return self.ingest_many([facts], now_ns=now_ns)[0]

    def ingest_many(
        self, requests: Sequence[Sequence[SpanFacts]], *, now_ns: int | None = None
    ) -> list[IngestResult]:
        """Store several requests' facts in ONE transaction (group commit); a result per request.

        The span keys of all requests go in one bulk insert; a key repeated
        across requests counts for the first that holds it. Aggregates are
        summed across requests before the upserts, so a group costs one
        statement per table, whatever its size.
        """
        now_s = (now_ns or time.time_ns()) // 1_000_000_000
        # The keys of each request (extract() leaves none twice in one request);
        # a key repeated across requests counts for the first that holds it:
        # filled from the last request back, so the earliest one's entry stays.
        keys_of = [[f.key for f in facts] for facts in requests]
        by_key: dict[bytes, SpanFacts] = {}
        owner: dict[bytes, int] = {}
        for index in range(len(requests) - 1, -1, -1):
            by_key.update(zip(keys_of[index], requests[index], strict=True))
            owner.update(dict.fromkeys(keys_of[index], index))
        if not by_key:
            return [IngestResult(0, 0) for _ in requests]
        keys = sorted(by_key)

        def work(conn: Connection) -> set[bytes]:
            fresh = self._insert_keys(conn, keys, now_s)
            if len(fresh) == len(keys):  # nothing seen before: the usual case
                self._upsert(conn, [by_key[k] for k in keys])
            elif fresh:
                self._upsert(conn, [by_key[k] for k in keys if k in fresh])
            return fresh

        fresh: set[bytes] = self._retrying(work)
        total = sum(map(len, keys_of))
        if len(fresh) == total:  # every key new and in one request only
            return [IngestResult(len(mine), 0) for mine in keys_of]
        results = []
        for index, mine in enumerate(keys_of):
            new = {k for k in mine if k in fresh and owner[k] == index}
            duplicates = frozenset(k for k in mine if k not in new)
            results.append(IngestResult(len(new), len(duplicates), duplicates))
        return results

    # Rows per INSERT of span keys: 2 parameters each, under SQLite's 32,766
    # host parameters and well under PostgreSQL's 65,535.
    _KEYS_PER_INSERT: Final = 8000

    def _insert_keys(self, conn: Connection, keys: Sequence[bytes], now_s: int) -> set[bytes]:
        """Insert span keys in bulk; the ones that were new (ON CONFLICT DO NOTHING, and
        RETURNING where the rows inserted cannot say which: PostgreSQL, or a repeat on SQLite).

        One multi-row statement per 8,000 keys, built as driver SQL: SQLAlchemy's
        own executemany path constructs parameters row by row, which was the
        largest single cost of storing an agent request (21 keys).
        """
        mark = "?" if self._sqlite else "%s"
        fresh: set[bytes] = set()
        for start in range(0, len(keys), self._KEYS_PER_INSERT):
            chunk = keys[start : start + self._KEYS_PER_INSERT]
            rows = ",".join([f"({mark},{mark})"] * len(chunk))
            params: list[Any] = [now_s] * (2 * len(chunk))
            params[::2] = chunk
            # Only placeholders are formatted in; every value is a bound parameter.
            sql = (
                f"INSERT INTO lg_span_keys (key, seen_at) VALUES {rows} "  # noqa: S608
                "ON CONFLICT (key) DO NOTHING"
            )
            if self._sqlite:
                # This transaction holds SQLite's one write lock (BEGIN IMMEDIATE), so the
                # rows inserted say exactly which keys are new. Usually all are: then no
                # RETURNING (which buffers every row and costs half as much again as the
                # insert); else the insert is undone and done again with it.
                self._sqlite_cursor(conn, "SAVEPOINT lg_keys", ())
                if self._sqlite_cursor(conn, sql, params).rowcount == len(chunk):
                    fresh.update(chunk)
                else:
                    self._sqlite_cursor(conn, "ROLLBACK TO lg_keys", ())
                    got = self._sqlite_cursor(conn, sql + " RETURNING key", params).fetchall()
                    fresh.update([row[0] for row in got])
                self._sqlite_cursor(conn, "RELEASE lg_keys", ())
            else:
                sql += " RETURNING key"
                result = conn.exec_driver_sql(sql, tuple(params))
                fresh.update(map(bytes, result.scalars().all()))
        return fresh

    @staticmethod
    def _sqlite_cursor(
        conn: Connection, sql: str, params: Sequence[Any], *, many: bool = False
    ) -> Any:
        """Run driver SQL on SQLite's own cursor, inside ``conn``'s transaction.

        The ingest's statements are already driver SQL with plain parameters;
        going through ``exec_driver_sql`` added SQLAlchemy's execution context
        and result objects to each of a group's six or seven statements.
        sqlite3's errors are translated as SQLAlchemy translates them, so
        retries and :class:`StoreRejected` work as before.
        """
        import sqlite3

        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if many:
                return cursor.executemany(sql, params)
            return cursor.execute(sql, params)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc

    # -- forward backlog -----------------------------------------------------------
    def backlog_put(self, rows: Sequence[tuple[str, bytes, int]]) -> None:
        """Append (signal, payload, spans) rows to the forward backlog."""
        now_s = int(time.time())
        values = [
            {
                "signal": sig,
                "payload": payload,
                "spans": spans,
                "bytes": len(payload),
                "created_at": now_s,
            }
            for sig, payload, spans in rows
        ]
        if values:
            self._retrying(lambda conn: conn.execute(sa.insert(forward_backlog_t), values))

    def backlog_take(self, limit: int, *, after_id: int = 0) -> list[tuple[int, str, bytes, int]]:
        """The oldest backlog rows after ``after_id``: (id, signal, payload, spans)."""
        t = forward_backlog_t.c
        stmt = (
            sa.select(t.id, t.signal, t.payload, t.spans)
            .where(t.id > after_id)
            .order_by(t.id)
            .limit(limit)
        )
        return [(int(r[0]), str(r[1]), bytes(r[2]), int(r[3])) for r in self._rows(stmt)]

    def backlog_delete(self, ids: Sequence[int]) -> None:
        """Forget backlog rows (sent, or given up)."""
        stmt = sa.delete(forward_backlog_t).where(forward_backlog_t.c.id.in_(list(ids)))
        self._retrying(lambda conn: conn.execute(stmt))

    def backlog_bytes(self) -> int:
        """Payload bytes held in the forward backlog."""
        stmt = sa.select(sa.func.coalesce(sa.func.sum(forward_backlog_t.c.bytes), 0))
        return int(self._rows(stmt)[0][0])

    def backlog_trim(self, max_bytes: int) -> tuple[int, int, int]:
        """Drop the oldest rows until at most ``max_bytes`` remain: (spans, bytes, rows) dropped."""
        t = forward_backlog_t.c

        def work(conn: Connection) -> tuple[int, int, int]:
            rows = list(conn.execute(sa.select(t.id, t.bytes, t.spans).order_by(t.id.desc())))
            total = 0
            drop: list[int] = []
            spans = size = 0
            for row_id, nbytes, nspans in rows:
                total += int(nbytes)
                if total > max_bytes:
                    drop.append(int(row_id))
                    spans += int(nspans)
                    size += int(nbytes)
            if drop:
                conn.execute(sa.delete(forward_backlog_t).where(t.id.in_(drop)))
            return spans, size, len(drop)

        result: tuple[int, int, int] = self._retrying(work)
        return result

    def function_arns(self) -> list[str]:
        """Every function ARN in the store (for the store-wide function cap)."""
        return [str(r[0]) for r in self._rows(sa.select(functions_t.c.arn))]

    def call_keys(self) -> Iterator[tuple[str, bytes]]:
        """(function ARN, call key) of every stored call (for the per-function call cap)."""
        return self._stream(sa.select(calls_t.c.arn, calls_t.c.call_key))

    def host_keys(self) -> Iterator[tuple[str, str, int, bool]]:
        """(function ARN, host, port, tls) of every stored host (for the per-function host cap)."""
        return self._stream(sa.select(hosts_t.c.arn, hosts_t.c.host, hosts_t.c.port, hosts_t.c.tls))

    def _stream(self, stmt: Any) -> Iterator[Any]:
        # Rows in chunks (a server-side cursor on PostgreSQL), not one list of every row.
        self._settle()
        try:
            with self._engine.connect() as conn:
                yield from conn.execution_options(yield_per=10_000).execute(stmt)
        except SQLAlchemyError as exc:
            raise StoreError(f"store read failed: {exc}") from exc

    def ping(self) -> bool:
        """True when the store answers a trivial query."""
        try:
            with self._engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def _upsert(self, conn: Connection, facts: Sequence[SpanFacts]) -> None:
        functions: dict[str, dict[str, Any]] = {}
        calls: dict[tuple[str, bytes], dict[str, Any]] = {}
        hosts: dict[tuple[str, str, int, bool], dict[str, Any]] = {}
        days: dict[tuple[str, str], dict[str, Any]] = {}
        seen: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {
            "lg_triggers": {},
            "lg_versions": {},
            "lg_errors": {},
        }
        durations: dict[tuple[str, str, int], dict[str, Any]] = {}

        def count_seen(table: str, arn: str, key: tuple[str, str], t: int) -> None:
            rows = seen[table]
            row = rows.get((arn, *key))
            if row is None:
                names = _SEEN_KEYS[table]
                rows[(arn, *key)] = {
                    "arn": arn,
                    names[0]: key[0],
                    names[1]: key[1],
                    "count": 1,
                    "first_seen": t,
                    "last_seen": t,
                }
            else:
                row["count"] += 1
                row["first_seen"] = min(row["first_seen"], t)
                row["last_seen"] = max(row["last_seen"], t)

        # Most spans carry only a call, and the same few (function, call) objects
        # again and again (extract() shares them): those are summed here first, one
        # entry per pair where it first occurs (facts come in key order), with their
        # number and earliest and latest time; every other span stays on its own.
        items: list[list[Any]] = []
        alike: dict[tuple[int, int], list[Any]] = {}
        for f in facts:
            t = f.time_ns
            if f.invocation is None and not f.hosts and not f.init_error and f.call is not None:
                pair = (id(f.function), id(f.call))
                item = alike.get(pair)
                if item is not None:
                    item[1] += 1
                    if t < item[2]:
                        item[2] = t
                    elif t > item[3]:
                        item[3] = t
                    continue
                item = alike[pair] = [f, 1, t, t]
            else:
                item = [f, 1, t, t]
            items.append(item)

        for f, n, t, last in items:
            fn = f.function
            row = functions.get(fn.arn)
            if row is None:
                row = functions[fn.arn] = {
                    "arn": fn.arn,
                    "account": fn.account,
                    "region": fn.region,
                    "name": fn.name,
                    "layer_version": fn.layer_version,
                    "runtime": fn.runtime,
                    "first_seen": t,
                    "last_seen": last,
                    "last_invoked": 0,
                }
            else:
                if t < row["first_seen"]:  # noqa: PLR1730 - cheaper than min() per span
                    row["first_seen"] = t
                if last >= row["last_seen"]:
                    row["last_seen"] = last
                    row["layer_version"] = fn.layer_version or row["layer_version"]
                    row["runtime"] = fn.runtime or row["runtime"]
            if f.call is not None:
                c = f.call
                ck = (fn.arn, call_key(c))  # memoised per distinct CallFact object
                crow = calls.get(ck)
                if crow is None:
                    calls[ck] = {
                        "arn": fn.arn,
                        "call_key": ck[1],
                        "service": c.service,
                        "operation": c.operation,
                        "region": c.region,
                        "params": c.params,
                        "phase": c.phase,
                        "error_code": c.error_code,
                        "kms_key_id": "",
                        "presign": c.presign,
                        "count": c.count * n,
                        "first_seen": t,
                        "last_seen": last,
                        "response": c.response,
                        "params_complete": c.params_complete,
                        "credentials": c.credentials,
                        "role_arn": c.role_arn,
                        "via": c.via,
                        "source": c.source,
                        "trace_id": f.key[:16].hex(),
                        "span_id": f.key[16:].hex(),
                    }
                else:
                    crow["count"] += c.count * n
                    if t < crow["first_seen"]:  # noqa: PLR1730 - cheaper than min()
                        crow["first_seen"] = t
                    if last > crow["last_seen"]:  # noqa: PLR1730
                        crow["last_seen"] = last
            if f.invocation is not None:
                inv = f.invocation
                row["last_invoked"] = max(row["last_invoked"], t)
                dk = (fn.arn, inv.day)
                drow = days.setdefault(
                    dk,
                    {
                        "arn": fn.arn,
                        "day": inv.day,
                        "count": 0,
                        "cold_starts": 0,
                        "errors": 0,
                        "timeouts": 0,
                    },
                )
                drow["count"] += 1
                drow["cold_starts"] += inv.cold_start
                drow["errors"] += inv.outcome == semconv.OUTCOME_ERROR
                drow["timeouts"] += inv.outcome == semconv.OUTCOME_TIMEOUT
                if inv.trigger_kind:
                    count_seen("lg_triggers", fn.arn, (inv.trigger_kind, inv.trigger_source), t)
                if inv.version or inv.alias:
                    count_seen("lg_versions", fn.arn, (inv.version, inv.alias), t)
                if inv.outcome == semconv.OUTCOME_TIMEOUT:
                    count_seen("lg_errors", fn.arn, (semconv.PHASE_INVOKE, "timeout"), t)
                elif inv.outcome == semconv.OUTCOME_ERROR:
                    error = inv.error_type or "error"
                    count_seen("lg_errors", fn.arn, (semconv.PHASE_INVOKE, error), t)
                if inv.duration_bucket is not None:
                    bk = (fn.arn, inv.day, inv.duration_bucket)
                    brow = durations.get(bk)
                    if brow is None:
                        durations[bk] = {
                            "arn": fn.arn,
                            "day": inv.day,
                            "bucket": inv.duration_bucket,
                            "count": 1,
                        }
                    else:
                        brow["count"] += 1
            if f.init_error:
                count_seen("lg_errors", fn.arn, (semconv.PHASE_INIT, f.init_error), t)
            for host, ht in f.hosts:
                hk = (fn.arn, host.host, host.port, host.tls)
                hrow = hosts.get(hk)
                if hrow is None:
                    hosts[hk] = {
                        "arn": fn.arn,
                        "host": host.host,
                        "port": host.port,
                        "tls": host.tls,
                        "aws": host.aws,
                        "count": host.count,
                        "failures": host.failures,
                        "first_seen": ht,
                        "last_seen": ht,
                        "proxy": host.proxy,
                    }
                else:
                    hrow["proxy"] = host.proxy or hrow["proxy"]
                    hrow["aws"] = hrow["aws"] or host.aws
                    hrow["count"] += host.count
                    hrow["failures"] += host.failures
                    hrow["first_seen"] = min(hrow["first_seen"], ht)
                    hrow["last_seen"] = max(hrow["last_seen"], ht)
        self._apply_rows(
            conn,
            functions=functions,
            calls=calls,
            hosts=hosts,
            days=days,
            seen=seen,
            durations=durations,
        )

    def _apply_rows(
        self,
        conn: Connection,
        *,
        functions: Mapping[Any, dict[str, Any]],
        calls: Mapping[Any, dict[str, Any]],
        hosts: Mapping[Any, dict[str, Any]],
        days: Mapping[Any, dict[str, Any]],
        seen: Mapping[str, Mapping[Any, dict[str, Any]]],
        durations: Mapping[Any, dict[str, Any]],
    ) -> None:
        """Add the aggregate rows built by a span or metrics ingest (or defer them)."""
        if self.defer_counts:
            self._defer(conn, functions, calls, hosts, days, seen, durations)
        else:
            self._upsert_aggregates(conn, functions, calls, hosts, days, seen, durations)

    def _upsert_aggregates(self, conn: Connection, *tables: Mapping[Any, Any]) -> None:
        functions, calls, hosts, days, seen, durations = tables
        # Sorted rows, tables in a fixed order: concurrent writers take row
        # locks in the same order and cannot deadlock each other.
        for stmt, rows in (
            (self._functions_stmt, _sorted_rows(functions)),
            (self._calls_stmt, _sorted_rows(calls)),
            (self._hosts_stmt, _sorted_rows(hosts)),
            (self._invocations_stmt, _sorted_rows(days)),
            (self._seen_stmts["lg_triggers"], _sorted_rows(seen["lg_triggers"])),
            (self._seen_stmts["lg_versions"], _sorted_rows(seen["lg_versions"])),
            (self._seen_stmts["lg_errors"], _sorted_rows(seen["lg_errors"])),
            (self._durations_stmt, _sorted_rows(durations)),
        ):
            if rows:
                driver = self._driver.get(id(stmt))
                if driver is not None and driver.fits(rows[0]):
                    params = driver.params(rows)
                    if len(params) == 1:
                        self._sqlite_cursor(conn, driver.sql, params[0])
                    else:
                        self._sqlite_cursor(conn, driver.sql, params, many=True)
                else:
                    conn.execute(stmt, rows)

    # -- counter roll-up (PostgreSQL, several collectors) -----------------------------
    def _defer(self, conn: Connection, *tables: Mapping[Any, Any]) -> None:
        functions, calls, hosts, days, seen, durations = tables
        doc = {
            "functions": list(functions.values()),
            "calls": [{**row, "call_key": row["call_key"].hex()} for row in calls.values()],
            "hosts": list(hosts.values()),
            "days": list(days.values()),
            "seen": {name: list(rows.values()) for name, rows in seen.items()},
            "durations": list(durations.values()),
        }
        if any(doc[k] for k in ("functions", "calls", "hosts", "days", "durations")):
            conn.execute(
                sa.insert(pending_counts_t),
                {"rows": json.dumps(doc, separators=(",", ":")), "created_at": int(time.time())},
            )

    def roll_up(self, *, wait: bool = False, limit: int = 20_000) -> int:
        """Apply up to ``limit`` pending increments to the evidence tables; how many were applied.

        One collector at a time (a PostgreSQL advisory lock; with ``wait``
        False another roll-up in progress means "nothing to do now"). The
        pending rows are deleted and their sums upserted in one transaction,
        so an increment counts exactly once whoever rolls it up.
        """
        if self._sqlite:
            return 0
        lock = sa.func.pg_advisory_xact_lock if wait else sa.func.pg_try_advisory_xact_lock
        oldest = sa.select(pending_counts_t.c.id).order_by(pending_counts_t.c.id).limit(limit)
        take = (
            sa.delete(pending_counts_t)
            .where(pending_counts_t.c.id.in_(oldest.scalar_subquery()))
            .returning(pending_counts_t.c.rows)
        )

        def work(conn: Connection) -> int:
            got = conn.execute(sa.select(lock(_PG_ROLLUP_LOCK))).scalar()
            if not wait and not got:
                return 0
            docs = [json.loads(row[0]) for row in conn.execute(take)]
            if docs:
                m = _merge_pending(docs)
                self._upsert_aggregates(
                    conn,
                    m["functions"],
                    m["calls"],
                    m["hosts"],
                    m["days"],
                    m["seen"],
                    m["durations"],
                )
            return len(docs)

        return int(self._retrying(work))

    def _settle(self) -> None:
        # Reads see every increment committed before them: pending ones are
        # rolled up first (waiting for a roll-up in progress).
        if self._sqlite:
            return
        try:
            with self._engine.connect() as conn:
                pending = conn.execute(sa.select(pending_counts_t.c.id).limit(1)).first()
        except SQLAlchemyError:
            return  # no table yet (an older schema): nothing can be pending
        if pending is not None:
            # Until a batch comes back short: what was pending when the read
            # started is then applied (newer increments may still arrive).
            while self.roll_up(wait=True, limit=_ROLLUP_BATCH) >= _ROLLUP_BATCH:
                pass

    def ingest_metrics(
        self, points: Sequence[SeriesPoint], *, now_ns: int | None = None
    ) -> MetricsResult:
        """Apply evidence-mode metric points in one transaction; values seen before add nothing."""
        from lambdaguard.collector import series

        if not points:
            return MetricsResult(0, 0, 0)
        now_s = (now_ns or time.time_ns()) // 1_000_000_000

        def work(conn: Connection) -> MetricsResult:
            result = series.apply(self, conn, points, now_s)
            return MetricsResult(result.applied, result.unchanged, result.increments)

        done: MetricsResult = self._retrying(work)
        return done

    def prune_metric_series(self, older_than_s: int, *, now: datetime | None = None) -> int:
        """Forget series not updated for ``older_than_s`` (environments long gone); rows removed.

        A series forgotten while its environment still lives would count its
        whole value again at its next flush, so the window must outlast any
        environment (Lambda recycles them within hours; the default is 7 days).
        """
        cutoff = int((now or datetime.now(UTC)).timestamp()) - older_than_s
        stmt = sa.delete(metric_series_t).where(metric_series_t.c.updated_at < cutoff)

        def work(conn: Connection) -> int:
            return int(conn.execute(stmt).rowcount or 0)

        return int(self._retrying(work))

    # -- reading -----------------------------------------------------------------
    def _rows(self, stmt: Any, *, settle: bool = True) -> list[Any]:
        if settle:
            self._settle()
        try:
            with self._engine.connect() as conn:
                return list(conn.execute(stmt))
        except SQLAlchemyError as exc:
            raise StoreError(f"store read failed: {exc}") from exc

    @staticmethod
    def _where_arn(stmt: Any, table: sa.Table, function_arn: str | None) -> Any:
        return stmt if function_arn is None else stmt.where(table.c.arn == function_arn)

    def functions(self) -> list[FunctionSeen]:
        """Every function seen, by ARN."""
        t = functions_t.c
        rows = self._rows(sa.select(functions_t).order_by(t.arn))
        return [
            FunctionSeen(
                arn=r.arn,
                account=r.account,
                region=r.region,
                name=r.name,
                layer_version=r.layer_version,
                runtime=r.runtime,
                first_seen=_dt(r.first_seen),
                last_seen=_dt(r.last_seen),
                last_invoked=_dt(r.last_invoked) if r.last_invoked else None,
            )
            for r in rows
        ]

    def calls(
        self, function_arn: str | None = None, *, last_seen_before: datetime | None = None
    ) -> list[ObservedCall]:
        """The distinct AWS calls of one function, or of every function (one query).

        Ordered by function, service, operation, params, phase and error code.
        ``last_seen_before``: leave out the calls last seen after that moment
        (the history before a window, read without the window's rows); a
        millisecond's slack is kept for the conversion from nanoseconds, so the
        caller still compares ``last_seen`` itself.
        """
        t = calls_t.c
        stmt = (
            sa.select(calls_t, functions_t.c.account)
            .join(functions_t, functions_t.c.arn == t.arn, isouter=True)
            .order_by(t.arn, t.service, t.operation, t.params, t.phase, t.error_code, t.call_key)
        )
        if last_seen_before is not None:
            stmt = stmt.where(t.last_seen < _ns(last_seen_before) + 1_000_000)
        return [_observed(r) for r in self._rows(self._where_arn(stmt, calls_t, function_arn))]

    def hosts(self, function_arn: str | None = None) -> list[HostSeen]:
        """The outbound hosts of one function, or of every function (one query)."""
        t = hosts_t.c
        stmt = sa.select(hosts_t).order_by(t.arn, t.host, t.port, t.tls)
        return [
            HostSeen(
                function_arn=r.arn,
                host=r.host,
                port=int(r.port),
                tls=bool(r.tls),
                aws=bool(r.aws),
                count=int(r.count),
                failures=int(r.failures),
                first_seen=_dt(r.first_seen),
                last_seen=_dt(r.last_seen),
                proxy=r.proxy,
            )
            for r in self._rows(self._where_arn(stmt, hosts_t, function_arn))
        ]

    def invocations(self, function_arn: str | None = None) -> list[InvocationDay]:
        """Invocations per UTC day, oldest first, of one function or of every function."""
        t = invocations_t.c
        stmt = sa.select(invocations_t).order_by(t.arn, t.day)
        return [
            InvocationDay(
                function_arn=r.arn,
                day=date.fromisoformat(r.day),
                count=int(r.count),
                cold_starts=int(r.cold_starts),
                errors=int(r.errors),
                timeouts=int(r.timeouts),
            )
            for r in self._rows(self._where_arn(stmt, invocations_t, function_arn))
        ]

    def durations(self, function_arn: str | None = None) -> list[DurationDay]:
        """Duration percentiles per UTC day (p50, p95, max; within 5 %), oldest first."""
        t = durations_t.c
        stmt = sa.select(durations_t).order_by(t.arn, t.day, t.bucket)
        grouped: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for r in self._rows(self._where_arn(stmt, durations_t, function_arn)):
            grouped.setdefault((r.arn, r.day), []).append((int(r.bucket), int(r.count)))
        out = []
        for (arn, day), buckets in grouped.items():
            total = sum(n for _, n in buckets)
            out.append(
                DurationDay(
                    function_arn=arn,
                    day=date.fromisoformat(day),
                    count=total,
                    p50_ms=_percentile(buckets, total, 0.50),
                    p95_ms=_percentile(buckets, total, 0.95),
                    max_ms=round(1.1 ** buckets[-1][0], 3),
                )
            )
        return out

    def triggers(self, function_arn: str | None = None) -> list[TriggerSeen]:
        """The trigger kinds and sources that invoked one function, or every function."""
        t = triggers_t.c
        stmt = sa.select(triggers_t).order_by(t.arn, t.kind, t.source)
        return [
            TriggerSeen(r.arn, r.kind, r.source, int(r.count), _dt(r.first_seen), _dt(r.last_seen))
            for r in self._rows(self._where_arn(stmt, triggers_t, function_arn))
        ]

    def versions(self, function_arn: str | None = None) -> list[VersionSeen]:
        """The versions and aliases that ran, for one function or every function."""
        t = versions_t.c
        stmt = sa.select(versions_t).order_by(t.arn, t.version, t.alias)
        return [
            VersionSeen(
                r.arn, r.version, r.alias, int(r.count), _dt(r.first_seen), _dt(r.last_seen)
            )
            for r in self._rows(self._where_arn(stmt, versions_t, function_arn))
        ]

    def errors(self, function_arn: str | None = None) -> list[ErrorSeen]:
        """The error types invocations (and INIT) ended with, for one or every function."""
        t = errors_t.c
        stmt = sa.select(errors_t).order_by(t.arn, t.phase, t.error_type)
        return [
            ErrorSeen(
                r.arn, r.phase, r.error_type, int(r.count), _dt(r.first_seen), _dt(r.last_seen)
            )
            for r in self._rows(self._where_arn(stmt, errors_t, function_arn))
        ]

    def record_inventory(
        self,
        entries: Sequence[InventoryEntry],
        *,
        read_at: datetime,
        reading: InventoryReading | None = None,
    ) -> int:
        """Replace the listed functions' rows (one transaction); returns rows written.

        With ``reading``, the reading is kept too, and in every (account,
        region) it listed in full, rows of functions it no longer lists are
        removed: a deleted function must not stay "dead" in the views forever.
        """
        if not entries and reading is None:
            return 0
        at = _ns(read_at)
        rows = sorted(
            (
                {
                    "arn": e.arn,
                    "account": e.account,
                    "region": e.region,
                    "name": e.name,
                    "runtime": e.runtime,
                    "role": e.role,
                    "package_type": e.package_type,
                    "architectures": json.dumps(list(e.architectures)),
                    "layers": json.dumps(list(e.layers)),
                    "lambdaguard": e.lambdaguard,
                    "tags": json.dumps(dict(e.tags), sort_keys=True),
                    "state": e.state,
                    "last_modified": _ns(e.last_modified) if e.last_modified else 0,
                    "source": e.source,
                    "read_at": at,
                    "facts": json.dumps(dict(e.facts), sort_keys=True, default=str),
                }
                for e in entries
                if e.arn
            ),
            key=lambda r: str(r["arn"]),
        )
        stmt = self._insert(inventory_t)
        stmt = stmt.on_conflict_do_update(
            index_elements=["arn"],
            set_={c.name: stmt.excluded[c.name] for c in inventory_t.columns if c.name != "arn"},
        )
        listed = {str(r["arn"]) for r in rows}

        def work(conn: Connection) -> int:
            if rows:
                conn.execute(stmt, rows)
            if reading is not None:
                t = inventory_t.c
                for account, region in reading.scopes:
                    gone = [
                        arn
                        for (arn,) in conn.execute(
                            sa.select(t.arn).where(t.account == account, t.region == region)
                        )
                        if arn not in listed
                    ]
                    for arn in sorted(gone):
                        conn.execute(sa.delete(inventory_t).where(t.arn == arn))
                conn.execute(sa.delete(readings_t).where(readings_t.c.read_at == at))
                conn.execute(
                    sa.insert(readings_t).values(
                        read_at=at,
                        source=reading.source,
                        window_s=reading.window_s,
                        functions=reading.functions,
                        partial=reading.partial,
                        scopes=json.dumps([list(s) for s in reading.scopes]),
                        users=json.dumps(
                            sorted(reading.users) if reading.users is not None else None
                        ),
                        directory=json.dumps(
                            sorted(reading.directory) if reading.directory is not None else None
                        ),
                        warnings=json.dumps(list(reading.warnings)),
                        api_calls=json.dumps(dict(reading.api_calls), sort_keys=True),
                    )
                )
            return len(rows)

        written: int = self._retrying(work)
        return written

    def inventory(self) -> list[InventoryEntry]:
        """Every function the account listed at the last inventory, by ARN (one query)."""
        t = inventory_t.c
        return [
            InventoryEntry(
                arn=r.arn,
                account=r.account,
                region=r.region,
                name=r.name,
                runtime=r.runtime,
                role=r.role,
                package_type=r.package_type,
                architectures=tuple(json.loads(r.architectures or "[]")),
                layers=tuple(json.loads(r.layers or "[]")),
                lambdaguard=bool(r.lambdaguard),
                tags=json.loads(r.tags or "{}"),
                state=r.state,
                last_modified=_dt(r.last_modified) if r.last_modified else None,
                source=r.source,
                read_at=_dt(r.read_at),
                facts=json.loads(r.facts or "{}"),
            )
            for r in self._rows(sa.select(inventory_t).order_by(t.arn))
        ]

    def inventory_readings(self) -> list[InventoryReading]:
        """Every inventory reading kept, oldest first (one query)."""

        def names(text: str) -> tuple[str, ...] | None:
            value = json.loads(text or "null")
            return None if value is None else tuple(str(v) for v in value)

        return [
            InventoryReading(
                read_at=_dt(r.read_at),
                source=r.source,
                window_s=int(r.window_s),
                functions=int(r.functions),
                partial=bool(r.partial),
                scopes=tuple((str(a), str(b)) for a, b in json.loads(r.scopes or "[]")),
                users=names(r.users),
                directory=names(r.directory),
                warnings=tuple(json.loads(r.warnings or "[]")),
                api_calls=json.loads(r.api_calls or "{}"),
            )
            for r in self._rows(sa.select(readings_t).order_by(readings_t.c.read_at))
        ]

    def stats(self) -> StoreStats:
        """Row counts per table and the schema version."""
        version = self.schema_version()
        counts = []
        for table in (functions_t, calls_t, hosts_t, invocations_t, span_keys_t):
            counts.append(
                int(self._rows(sa.select(sa.func.count()).select_from(table))[0][0])
                if version
                else 0
            )
        return StoreStats(self.backend, version, *counts)

    # -- policy trials -------------------------------------------------------------
    # Analysis pins a proposal and checks the calls recorded since; ingestion never
    # touches these tables (the collector keeps evidence, it does not judge).

    def pin_trial(
        self, function_arn: str, *, documents: str, digest: str, trial_days: int, now: datetime
    ) -> TrialRecord:
        """Put a proposal under trial for a function, replacing any earlier trial of it.

        The count of every call of the function is kept as the baseline, in the
        same transaction, so calls recorded afterwards are told apart exactly.
        """
        pinned_ns = _ns(now)

        def work(conn: Connection) -> None:
            for table in (trial_denials_t, trial_baseline_t, trials_t):
                conn.execute(sa.delete(table).where(table.c.arn == function_arn))
            conn.execute(
                sa.insert(trials_t).values(
                    arn=function_arn,
                    pinned_at=pinned_ns,
                    trial_days=trial_days,
                    documents=documents,
                    digest=digest,
                )
            )
            conn.execute(
                sa.insert(trial_baseline_t).from_select(
                    ["arn", "call_key", "count"],
                    sa.select(calls_t.c.arn, calls_t.c.call_key, calls_t.c.count).where(
                        calls_t.c.arn == function_arn
                    ),
                )
            )

        self._retrying(work)
        return TrialRecord(function_arn, _dt(pinned_ns), trial_days, documents, digest)

    def unpin_trial(self, function_arn: str) -> bool:
        """End a function's trial (its baseline and would-be denials go too); True if there was one."""

        def work(conn: Connection) -> int:
            n = 0
            for table in (trial_denials_t, trial_baseline_t, trials_t):
                n = int(
                    conn.execute(sa.delete(table).where(table.c.arn == function_arn)).rowcount or 0
                )
            return n

        return bool(self._retrying(work))

    def trials(self, function_arn: str | None = None) -> list[TrialRecord]:
        """The proposals under trial, for one function or every function."""
        stmt = sa.select(trials_t).order_by(trials_t.c.arn)
        return [
            TrialRecord(r.arn, _dt(r.pinned_at), int(r.trial_days), r.documents, r.digest)
            for r in self._rows(self._where_arn(stmt, trials_t, function_arn))
        ]

    def trial_calls(self, function_arn: str) -> list[TrialCall]:
        """The function's calls recorded since its pin, each with its count since the pin."""
        t = calls_t.c
        base = trial_baseline_t.c
        trial = trials_t.c
        stmt = (
            sa.select(calls_t, functions_t.c.account, base["count"].label("baseline"))
            .join(functions_t, functions_t.c.arn == t.arn, isouter=True)
            .join(trials_t, trial.arn == t.arn)
            .join(
                trial_baseline_t,
                sa.and_(base.arn == t.arn, base.call_key == t.call_key),
                isouter=True,
            )
            .where(t.arn == function_arn, t.last_seen >= trial.pinned_at)
            .order_by(t.service, t.operation, t.params, t.phase, t.error_code, t.call_key)
        )
        out = []
        for r in self._rows(stmt):
            # A call pruned and seen again restarts its count: never below zero.
            since = max(0, int(r.count) - int(r.baseline or 0))
            if since:
                out.append(TrialCall(bytes(r.call_key), _observed(r), since))
        return out

    def record_trial_denials(self, denials: Sequence[TrialDenial]) -> int:
        """Keep would-be denials found by a check; ones already kept stay as first found."""
        if not denials:
            return 0
        rows = [
            {
                "arn": d.function_arn,
                "call_key": d.key,
                "action": d.action,
                "resource": d.resource,
                "role_arn": d.role_arn,
                "service": d.service,
                "operation": d.operation,
                "region": d.region,
                "params": d.params,
                "count": d.count,
                "trace_id": d.trace_id,
                "span_id": d.span_id,
                "first_detected": _ns(d.first_detected),
            }
            for d in sorted(denials, key=lambda d: (d.function_arn, d.key, d.action, d.resource))
        ]
        stmt = self._insert(trial_denials_t).on_conflict_do_nothing(
            index_elements=["arn", "call_key", "action", "resource"]
        )

        def work(conn: Connection) -> int:
            return int(conn.execute(stmt, rows).rowcount or 0)

        return int(self._retrying(work))

    def trial_denials(self, function_arn: str) -> list[TrialDenial]:
        """The would-be denials kept for a function's trial, in the order they were found."""
        t = trial_denials_t.c
        stmt = (
            sa.select(trial_denials_t)
            .where(t.arn == function_arn)
            .order_by(t.first_detected, t.service, t.operation, t.action, t.resource, t.call_key)
        )
        return [
            TrialDenial(
                function_arn=r.arn,
                key=bytes(r.call_key),
                action=r.action,
                resource=r.resource,
                role_arn=r.role_arn,
                service=r.service,
                operation=r.operation,
                region=r.region,
                params=r.params,
                count=int(r.count),
                trace_id=r.trace_id,
                span_id=r.span_id,
                first_detected=_dt(r.first_detected),
            )
            for r in self._rows(stmt)
        ]

    # -- retention ---------------------------------------------------------------
    def prune_span_keys(
        self, window_s: int, *, now: datetime | None = None, chunk: int = 20_000
    ) -> int:
        """Forget span ids older than the de-duplication window; returns rows removed.

        Deletes in chunks, each its own short transaction, so a large backlog
        never holds the write lock long enough to stall ingestion.
        """
        cutoff = int((now or datetime.now(UTC)).timestamp()) - window_s
        old = (
            sa.select(span_keys_t.c.key)
            .where(span_keys_t.c.seen_at < cutoff)
            .limit(chunk)
            .scalar_subquery()
        )
        stmt = sa.delete(span_keys_t).where(span_keys_t.c.key.in_(old))

        def work(conn: Connection) -> int:
            return int(conn.execute(stmt).rowcount or 0)

        total = 0
        while True:
            removed = int(self._retrying(work))
            total += removed
            if removed < chunk:
                return total

    def prune(self, older_than_s: int, *, now: datetime | None = None) -> dict[str, int]:
        """Delete everything last seen before ``now - older_than_s``; returns rows removed per table."""
        moment = now or datetime.now(UTC)
        cutoff_dt = moment - timedelta(seconds=older_than_s)
        cutoff_ns = int(cutoff_dt.timestamp()) * 1_000_000_000
        cutoff_day = cutoff_dt.strftime("%Y-%m-%d")

        def work(conn: Connection) -> dict[str, int]:
            removed = {}
            for name, stmt in (
                ("calls", sa.delete(calls_t).where(calls_t.c.last_seen < cutoff_ns)),
                ("hosts", sa.delete(hosts_t).where(hosts_t.c.last_seen < cutoff_ns)),
                ("triggers", sa.delete(triggers_t).where(triggers_t.c.last_seen < cutoff_ns)),
                ("versions", sa.delete(versions_t).where(versions_t.c.last_seen < cutoff_ns)),
                ("errors", sa.delete(errors_t).where(errors_t.c.last_seen < cutoff_ns)),
                ("durations", sa.delete(durations_t).where(durations_t.c.day < cutoff_day)),
                (
                    "invocation_days",
                    sa.delete(invocations_t).where(invocations_t.c.day < cutoff_day),
                ),
                ("functions", sa.delete(functions_t).where(functions_t.c.last_seen < cutoff_ns)),
                (
                    "span_keys",
                    sa.delete(span_keys_t).where(
                        span_keys_t.c.seen_at < cutoff_ns // 1_000_000_000
                    ),
                ),
            ):
                removed[name] = int(conn.execute(stmt).rowcount or 0)
            return removed

        result: dict[str, int] = self._retrying(work)
        return result


def _sqlite_engine(url: sa.URL, synchronous: str, *, create: bool) -> Engine:
    database = url.database
    if database and database != ":memory:":
        path = Path(database).expanduser()
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.is_file():
            raise StoreNotFound(
                f"no store at {path.resolve()}: the file does not exist (start the collector "
                f"with `lambdaguard serve --store {url}`, or pass --store / LAMBDAGUARD_STORE)"
            )
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=8,
        max_overflow=8,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        # WAL: readers never block the writer; with synchronous=NORMAL a commit
        # survives a process crash (SIGKILL) because it is in the WAL file;
        # only an OS crash/power loss can lose the last commits. FULL fsyncs.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    return engine


def open_store(
    url: str, *, migrate: bool = True, create: bool = True, sqlite_synchronous: str = "NORMAL"
) -> Store:
    """Open (and by default migrate) the store at a ``sqlite:///path`` or ``postgresql://`` URL.

    ``create=False`` opens only a store that exists: a missing SQLite file, or a
    database without lambdaguard's schema, raises :class:`StoreNotFound` naming
    it, and nothing is created on the way (what read-only commands use).
    """
    try:
        parsed = make_url(url)
    except (SQLAlchemyError, ValueError) as exc:
        raise StoreError(f"not a store URL: {url!r} ({exc})") from exc
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            engine = _sqlite_engine(parsed, sqlite_synchronous.upper(), create=create)
        elif backend in ("postgresql", "postgres"):
            if parsed.drivername in ("postgresql", "postgres"):
                parsed = parsed.set(drivername="postgresql+psycopg")
            engine = sa.create_engine(parsed, pool_size=8, max_overflow=8, pool_pre_ping=True)
        else:
            raise StoreError(
                f"unsupported store URL scheme {parsed.drivername!r}: use sqlite:///PATH "
                "or postgresql://USER@HOST/DB"
            )
    except (SQLAlchemyError, ImportError) as exc:
        raise StoreError(f"cannot open the store {parsed!r}: {exc}") from exc
    store = Store(engine)
    if not create and store.schema_version() == 0:
        store.close()
        raise StoreNotFound(
            f"no lambdaguard store in {parsed!r}: it has no lambdaguard schema "
            "(`lambdaguard store migrate` creates one)"
        )
    if migrate:
        store.migrate()
    return store
