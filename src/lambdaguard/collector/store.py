"""The collector's durable store: SQLite (WAL) by default, PostgreSQL by DSN.

One code path (SQLAlchemy Core) serves both. What is kept is what analysis
needs, aggregated: per function the distinct AWS calls, the outbound hosts and
the invocations per day, each with counts and first/last seen. Raw spans are
not kept; only their ids (``trace_id + span_id``), for ``span_window`` seconds,
so a batch delivered twice changes nothing.

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

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from lambdaguard import semconv
from lambdaguard.collector.spans import SpanFacts, call_key
from lambdaguard.errors import StoreError, StoreNotFound

__all__ = [
    "SCHEMA_VERSION",
    "CallRecord",
    "FunctionRecord",
    "HostRecord",
    "IngestResult",
    "InvocationDay",
    "Store",
    "StoreStats",
    "open_store",
]

SCHEMA_VERSION: Final = 1
# Arbitrary constant naming lambdaguard's migration lock in PostgreSQL.
_PG_MIGRATION_LOCK: Final = 0x6C67_7561_7264
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
    sa.Column("kms_key_id", sa.Text, nullable=False),
    sa.Column("presign", sa.Boolean, nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("first_seen", sa.BigInteger, nullable=False),
    sa.Column("last_seen", sa.BigInteger, nullable=False),
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

_V1_TABLES: Final = (functions_t, calls_t, hosts_t, invocations_t, span_keys_t)


def _migrate_v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(_V1_TABLES), checkfirst=True)


# version -> step. A new schema version appends a step; steps never change.
MIGRATIONS: Final[dict[int, Callable[[Connection], None]]] = {1: _migrate_v1}


@dataclass(frozen=True, slots=True)
class FunctionRecord:
    """A function seen by the collector."""

    arn: str
    account: str
    region: str
    name: str
    layer_version: str
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A distinct AWS API call a function made, with how often and when."""

    service: str
    operation: str
    region: str
    params: str
    phase: str
    error_code: str
    kms_key_id: str
    presign: bool
    count: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class HostRecord:
    """An outbound (host, port, tls) a function connected to."""

    host: str
    port: int
    tls: bool
    aws: bool
    count: int
    failures: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class InvocationDay:
    """A function's invocations on one UTC day."""

    day: date
    count: int
    cold_starts: int
    errors: int
    timeouts: int


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one ingest did: spans counted now and spans already seen."""

    new_spans: int
    duplicate_spans: int


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


def _dt(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def _earliest(col: Any, new: Any) -> Any:
    # CASE rather than min()/LEAST(): SQLite and PostgreSQL spell those differently.
    return sa.case((new < col, new), else_=col)


def _latest(col: Any, new: Any) -> Any:
    return sa.case((new > col, new), else_=col)


def _sorted_rows(rows: Mapping[Any, dict[str, Any]]) -> list[dict[str, Any]]:
    return [rows[k] for k in sorted(rows)]


def _is_retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code in ("40P01", "40001"):  # deadlock_detected, serialization_failure
        return True
    text = str(exc.orig).lower()
    return "database is locked" in text or "deadlock" in text


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
        self._build_statements()

    # -- setup -----------------------------------------------------------------
    def _build_statements(self) -> None:
        ins = self._insert
        keys = ins(span_keys_t).on_conflict_do_nothing(index_elements=["key"])
        self._keys_stmt = keys.returning(span_keys_t.c.key)

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
                "first_seen": _earliest(functions_t.c.first_seen, f.excluded.first_seen),
                "last_seen": _latest(functions_t.c.last_seen, f.excluded.last_seen),
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
            },
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
        if not facts:
            return IngestResult(0, 0)
        now_s = (now_ns or time.time_ns()) // 1_000_000_000
        by_key = {f.key: f for f in facts}
        key_rows = [{"key": k, "seen_at": now_s} for k in sorted(by_key)]

        def work(conn: Connection) -> IngestResult:
            fresh = [row[0] for row in conn.execute(self._keys_stmt, key_rows)]
            if not fresh:
                return IngestResult(0, len(by_key))
            chosen = [by_key[bytes(k)] for k in fresh]
            self._upsert(conn, chosen)
            return IngestResult(len(fresh), len(by_key) - len(fresh))

        result: IngestResult = self._retrying(work)
        return result

    def _upsert(self, conn: Connection, facts: Sequence[SpanFacts]) -> None:
        functions: dict[str, dict[str, Any]] = {}
        calls: dict[tuple[str, bytes], dict[str, Any]] = {}
        hosts: dict[tuple[str, str, int, bool], dict[str, Any]] = {}
        days: dict[tuple[str, str], dict[str, Any]] = {}
        # extract() shares one CallFact among equal calls of a request: hash
        # each distinct object once (ids are stable while `facts` holds them).
        call_keys: dict[int, bytes] = {}
        for f in facts:
            fn = f.function
            t = f.time_ns
            row = functions.get(fn.arn)
            if row is None:
                functions[fn.arn] = {
                    "arn": fn.arn,
                    "account": fn.account,
                    "region": fn.region,
                    "name": fn.name,
                    "layer_version": fn.layer_version,
                    "first_seen": t,
                    "last_seen": t,
                }
            else:
                row["first_seen"] = min(row["first_seen"], t)
                if t >= row["last_seen"]:
                    row["last_seen"] = t
                    row["layer_version"] = fn.layer_version or row["layer_version"]
            if f.call is not None:
                c = f.call
                digest = call_keys.get(id(c))
                if digest is None:
                    digest = call_keys[id(c)] = call_key(c)
                ck = (fn.arn, digest)
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
                        "kms_key_id": c.kms_key_id,
                        "presign": c.presign,
                        "count": c.count,
                        "first_seen": t,
                        "last_seen": t,
                    }
                else:
                    crow["count"] += c.count
                    crow["first_seen"] = min(crow["first_seen"], t)
                    crow["last_seen"] = max(crow["last_seen"], t)
            if f.invocation is not None:
                inv = f.invocation
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
                    }
                else:
                    hrow["aws"] = hrow["aws"] or host.aws
                    hrow["count"] += host.count
                    hrow["failures"] += host.failures
                    hrow["first_seen"] = min(hrow["first_seen"], ht)
                    hrow["last_seen"] = max(hrow["last_seen"], ht)
        # Sorted rows, tables in a fixed order: concurrent writers take row
        # locks in the same order and cannot deadlock each other.
        for stmt, rows in (
            (self._functions_stmt, _sorted_rows(functions)),
            (self._calls_stmt, _sorted_rows(calls)),
            (self._hosts_stmt, _sorted_rows(hosts)),
            (self._invocations_stmt, _sorted_rows(days)),
        ):
            if rows:
                conn.execute(stmt, rows)

    # -- reading -----------------------------------------------------------------
    def _rows(self, stmt: Any) -> list[Any]:
        try:
            with self._engine.connect() as conn:
                return list(conn.execute(stmt))
        except SQLAlchemyError as exc:
            raise StoreError(f"store read failed: {exc}") from exc

    def functions(self) -> list[FunctionRecord]:
        """Every function seen, by ARN."""
        t = functions_t.c
        rows = self._rows(sa.select(functions_t).order_by(t.arn))
        return [
            FunctionRecord(
                r.arn,
                r.account,
                r.region,
                r.name,
                r.layer_version,
                _dt(r.first_seen),
                _dt(r.last_seen),
            )
            for r in rows
        ]

    def calls(self, function_arn: str) -> list[CallRecord]:
        """The distinct AWS calls a function made, by service and operation."""
        t = calls_t.c
        stmt = (
            sa.select(calls_t)
            .where(t.arn == function_arn)
            .order_by(t.service, t.operation, t.params, t.phase, t.error_code, t.call_key)
        )
        return [
            CallRecord(
                r.service,
                r.operation,
                r.region,
                r.params,
                r.phase,
                r.error_code,
                r.kms_key_id,
                bool(r.presign),
                int(r.count),
                _dt(r.first_seen),
                _dt(r.last_seen),
            )
            for r in self._rows(stmt)
        ]

    def hosts(self, function_arn: str) -> list[HostRecord]:
        """The outbound hosts a function connected to."""
        t = hosts_t.c
        stmt = sa.select(hosts_t).where(t.arn == function_arn).order_by(t.host, t.port, t.tls)
        return [
            HostRecord(
                r.host,
                int(r.port),
                bool(r.tls),
                bool(r.aws),
                int(r.count),
                int(r.failures),
                _dt(r.first_seen),
                _dt(r.last_seen),
            )
            for r in self._rows(stmt)
        ]

    def invocations(self, function_arn: str) -> list[InvocationDay]:
        """A function's invocations per UTC day, oldest first."""
        t = invocations_t.c
        stmt = sa.select(invocations_t).where(t.arn == function_arn).order_by(t.day)
        return [
            InvocationDay(
                date.fromisoformat(r.day),
                int(r.count),
                int(r.cold_starts),
                int(r.errors),
                int(r.timeouts),
            )
            for r in self._rows(stmt)
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
