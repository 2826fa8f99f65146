"""The collector service: OTLP/HTTP (4318) and OTLP/gRPC (4317) receivers over one store.

:func:`start_collector` binds both listeners (a busy port, a bad address or a
missing certificate is a :class:`ListenError` naming it, before anything
starts), then serves them in background threads and returns a
:class:`CollectorHandle`; ``lambdaguard serve`` and the tests use the same
function. Every request goes through one :class:`Ingestor`:

1. bearer token (constant-time compare against each configured token);
2. the whole body arrives (HTTP: :mod:`.http_receiver` enforces the request
   deadline, connection limits and the bytes being buffered);
3. an ingest slot (``max_inflight``), taken only now, so slow senders cost a
   connection, never a slot; none free means 429 / RESOURCE_EXHAUSTED;
4. :meth:`Ingestor.prepare`: decompress, decode within :class:`DecodeLimits`,
   reduce to facts (:mod:`.spans`), then the slot is released;
5. :meth:`Ingestor.commit`: the facts join the next group commit
   (:mod:`.commit`); the request is answered only after that transaction
   committed, and only then is what the store accepted as new handed to the
   forwarder.

HTTP status codes follow the OTLP/HTTP specification: 200 with an (optionally
partial-success) Export*ServiceResponse in the request's encoding; 400 with a
google.rpc.Status for malformed data; 401; 404; 405; 408; 413; 415; 429 and
503 with ``Retry-After``; 503 only when the store is really unavailable.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import socket
import ssl
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Final

from lambdaguard.collector.caps import Caps
from lambdaguard.collector.commit import GroupCommitter
from lambdaguard.collector.forward import Forwarder
from lambdaguard.collector.metrics import extract_metrics
from lambdaguard.collector.otlp import (
    DecodeLimits,
    Encoding,
    Signal,
    decode_body,
    decompress,
)
from lambdaguard.collector.rollup import start_rollup, stop_rollup
from lambdaguard.collector.settings import CollectorConfig
from lambdaguard.collector.spans import extract
from lambdaguard.collector.store import IngestResult, Store, open_store
from lambdaguard.collector.telemetry import Metrics, get_logger
from lambdaguard.errors import IngestError, LambdaguardError, StoreError

__all__ = [
    "CollectorConfig",
    "CollectorHandle",
    "Ingestor",
    "ListenError",
    "Outcome",
    "start_collector",
]

log = get_logger("lambdaguard.collector")

_SERIES_WINDOW_S: Final = 7 * 24 * 3600
_DONE: Final[Future[IngestResult]] = Future()
_DONE.set_result(IngestResult(0, 0))


class ListenError(LambdaguardError):
    """A listener cannot start: busy port, bad address, unreadable certificate or key."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an accepted request ended: items rejected, and why."""

    rejected: int
    message: str


@dataclass(slots=True)
class Prepared:
    """A decoded request, ready to commit: its facts, what to forward, what was rejected."""

    signal: Signal
    facts: Any
    payload: bytes
    message: Any
    received: int
    rejected: int
    reason: str
    over_cap: int = 0  # of ``rejected``: counted in metrics when capped


class Throttled(Exception):
    """No in-flight slot is free; the client should retry later."""


class Ingestor:
    """The transport-independent core: auth, admission, decode, group commit, forward."""

    def __init__(
        self,
        config: CollectorConfig,
        store: Store,
        forwarder: Forwarder | None,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.forwarder = forwarder
        self.metrics = metrics or Metrics()
        self.limits: DecodeLimits = config.decode_limits
        self.committer = GroupCommitter(store, metrics=self.metrics)
        # What the store holds (functions, and per function its calls and hosts)
        # is loaded once here, so the caps hold across restarts.
        self.caps = Caps.load(config, store)
        caps = self.caps
        known = self.metrics.known
        known.labels("functions").set_function(lambda: caps.known()[0])
        known.labels("calls").set_function(lambda: caps.known()[1])
        known.labels("hosts").set_function(lambda: caps.known()[2])
        # The span outcome counters every request adds to, looked up once.
        self._span_counters = tuple(
            self.metrics.spans.labels(outcome)
            for outcome in ("received", "stored", "duplicate", "rejected")
        )
        self._slots = threading.BoundedSemaphore(config.max_inflight)
        self._tokens = tuple(t.encode("utf-8") for t in config.tokens)
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys(
            (
                "requests",
                "spans_received",
                "spans_stored",
                "spans_duplicate",
                "spans_rejected",
                "log_records",
                "data_points",
                "series_applied",
                "series_unchanged",
                "data_points_rejected",
                "throttled",
                "unauthenticated",
                "bad_requests",
                "store_errors",
                "timeouts",
                "over_cap",
            ),
            0,
        )

    # -- counters ----------------------------------------------------------------------
    def count(self, **deltas: int) -> None:
        """Add to the counters behind :meth:`stats`."""
        with self._lock:
            for key, delta in deltas.items():
                self._counts[key] += delta

    def stats(self) -> dict[str, int]:
        """Counters since start (requests, spans stored/duplicate/rejected, throttled …)."""
        with self._lock:
            values = dict(self._counts)
        # What the cardinality caps remember (their memory: ~134 bytes a call, ~120 a host).
        values["known_functions"], values["known_calls"], values["known_hosts"] = self.caps.known()
        if self.forwarder is not None:
            fwd = self.forwarder.stats()
            values.update(
                forward_sent=fwd.sent,
                forward_dropped=fwd.dropped,
                forward_failed=fwd.failed,
                forward_backlog_bytes=fwd.backlog_bytes,
            )
        return values

    # -- admission ---------------------------------------------------------------------
    def authorized(self, authorization: str | None) -> bool:
        """True when no token is configured or the header carries one of them."""
        if not self._tokens:
            return True
        scheme, _, presented = (authorization or "").partition(" ")
        candidate = presented.strip().encode("utf-8", "surrogateescape")
        ok = scheme.lower() == "bearer"
        # Compare against every token without short-circuiting, so timing
        # reveals neither which token matched nor how much of one did.
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(candidate, token)
        if not (ok and matched):
            self.count(unauthenticated=1)
        return ok and matched

    def admit(self) -> bool:
        """Take an ingest slot without waiting; False means "throttle"."""
        if self._slots.acquire(blocking=False):
            self.metrics.inflight.inc()
            return True
        self.count(throttled=1)
        self.metrics.throttled.labels("no_ingest_slot").inc()
        return False

    def release(self) -> None:
        """Give back the slot taken by :meth:`admit`."""
        self.metrics.inflight.dec()
        self._slots.release()

    # -- the work ----------------------------------------------------------------------
    def prepare(
        self,
        signal: Signal,
        body: bytes,
        encoding: Encoding,
        content_encoding: str | None = None,
        *,
        now_ns: int | None = None,
    ) -> Prepared:
        """Decompress, decode within the limits and reduce to facts (CPU only; no I/O)."""
        self.count(requests=1)
        now = time.time_ns() if now_ns is None else now_ns
        try:
            raw = decompress(body, content_encoding, self.config.max_decompressed_bytes)
            decoded = decode_body(signal, raw, encoding, limits=self.limits, defer_span_counts=True)
            if signal == "traces":
                # The limits of a small body are counted as its spans are read.
                facts = extract(
                    decoded.message,
                    now_ns=now,
                    payload=decoded.payload,
                    limits=None if decoded.counted else self.limits,
                )
        except IngestError:
            self.count(bad_requests=1)
            raise
        del body
        if signal == "traces":
            capped = self.caps.apply(facts.spans)
            if capped.over:
                self.count(over_cap=capped.over)
                self.metrics.rejected.labels("traces", "over_cap").inc(capped.over)
            rejected = decoded.rejected + facts.rejected + capped.over
            reasons = "; ".join(
                r for r in (decoded.reason, facts.reject_reason, capped.reason) if r
            )
            received = facts.total_spans + decoded.rejected
            return Prepared(
                signal,
                capped.kept,
                decoded.payload,
                decoded.message,
                received,
                rejected,
                reasons,
                capped.over,
            )
        if signal == "metrics":
            # Evidence mode's counts (collector/metrics.py): series points for the store.
            mfacts = extract_metrics(decoded.message, now)
            # Counts for a function, call or host over its cap create no row either.
            capped = self.caps.apply_points(mfacts.points)
            self.count(
                data_points=mfacts.data_points,
                data_points_rejected=mfacts.rejected + capped.over,
                over_cap=capped.over,
            )
            self.metrics.items.labels("metrics").inc(mfacts.data_points)
            if capped.over:
                self.metrics.rejected.labels("metrics", "over_cap").inc(capped.over)
            return Prepared(
                signal,
                capped.kept,
                decoded.payload,
                decoded.message,
                mfacts.data_points,
                decoded.rejected + mfacts.rejected + capped.over,
                "; ".join(r for r in (decoded.reason, mfacts.reject_reason, capped.reason) if r),
                capped.over,
            )
        records = sum(
            len(sl.log_records) for rl in decoded.message.resource_logs for sl in rl.scope_logs
        )
        self.count(log_records=records)
        self.metrics.items.labels("logs").inc(records)
        return Prepared(
            signal, (), decoded.payload, decoded.message, records, decoded.rejected, decoded.reason
        )

    def commit(self, prepared: Prepared) -> Future[Any]:
        """Queue the facts for the next group commit; the future resolves after it committed."""
        if not prepared.facts:
            return _DONE
        if prepared.signal == "metrics":
            points = prepared.facts
            return self.committer.call(lambda: self.store.ingest_metrics(points))
        if prepared.signal != "traces":
            return _DONE
        return self.committer.submit(prepared.facts)

    def commit_async(self, prepared: Prepared, loop: asyncio.AbstractEventLoop) -> Any:
        """:meth:`commit` for a caller on ``loop``'s thread: an awaitable of that loop."""
        if prepared.signal == "traces" and prepared.facts:
            return self.committer.submit_async(prepared.facts, loop)
        return asyncio.wrap_future(self.commit(prepared), loop=loop)

    def finish(self, prepared: Prepared, result: Any) -> Outcome:
        """After the commit: count, forward what is new, and say what was rejected."""
        if prepared.signal == "metrics" and not isinstance(result, IngestResult):
            self.count(series_applied=result.applied, series_unchanged=result.unchanged)
            result = IngestResult(0, 0)
        if prepared.signal == "traces":
            self.count(
                spans_received=prepared.received,
                spans_stored=result.new_spans,
                spans_duplicate=result.duplicate_spans,
                spans_rejected=prepared.rejected,
            )
            counts = (
                prepared.received,
                result.new_spans,
                result.duplicate_spans,
                prepared.rejected,
            )
            for counter, n in zip(self._span_counters, counts, strict=True):
                if n:
                    counter.inc(n)
        other = prepared.rejected - prepared.over_cap
        if other:
            self.metrics.rejected.labels(prepared.signal, _reason_label(prepared.reason)).inc(other)
        if self.forwarder is not None:
            self.forwarder.submit_new(prepared.signal, prepared.message, prepared.payload, result)
        return Outcome(prepared.rejected, prepared.reason)

    def ingest(
        self,
        signal: Signal,
        body: bytes,
        encoding: Encoding,
        content_encoding: str | None = None,
    ) -> Outcome:
        """prepare + commit + wait + finish, for synchronous callers (gRPC, tests)."""
        prepared = self.prepare(signal, body, encoding, content_encoding)
        try:
            result = self.commit(prepared).result(timeout=max(30.0, self.config.request_timeout_s))
        except StoreError:
            self.count(store_errors=1)
            raise
        return self.finish(prepared, result)

    def ready(self) -> tuple[bool, str]:
        """(ready, why): the store answers and its schema is this lambdaguard's."""
        from lambdaguard.collector.store import SCHEMA_VERSION

        try:
            version = self.store.schema_version()
        except StoreError as exc:
            return False, f"store unreachable: {exc}"
        if version != SCHEMA_VERSION:
            return False, f"store schema version {version}, expected {SCHEMA_VERSION}"
        return True, "ok"

    def close(self) -> None:
        """Commit what is queued and stop the writer."""
        self.committer.close()


def _reason_label(reason: str) -> str:
    # A fixed, small set of label values (the message itself goes in the answer).
    lowered = reason.lower()
    for needle, label in (
        ("utf-8", "invalid_utf8"),
        ("trace_id", "bad_ids"),
        ("not valid protobuf", "undecodable"),
        ("no lambda function", "no_function"),
        ("shape", "not_lambdaguard"),
        ("limit", "over_limit"),
    ):
        if needle in lowered:
            return label
    return "other"


# -- binding -------------------------------------------------------------------------


def _check_tls_files(config: CollectorConfig) -> ssl.SSLContext | None:
    if not (config.tls_cert and config.tls_key):
        return None
    for what, path in (("certificate", config.tls_cert), ("key", config.tls_key)):
        if not os.path.isfile(path):
            raise ListenError(f"TLS {what} file {path} does not exist")
        if not os.access(path, os.R_OK):
            raise ListenError(f"TLS {what} file {path} is not readable")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (ssl.SSLError, OSError) as exc:
        raise ListenError(
            f"TLS certificate {config.tls_cert} and key {config.tls_key} cannot be loaded: {exc}"
        ) from exc
    return context


def bind_socket(host: str, port: int, what: str) -> socket.socket:
    """A listening TCP socket on host:port, or a ListenError naming the address."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen for {what}: bad bind address {host!r} ({exc})") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        reason = "port in use" if exc.errno == 98 else exc.strerror or str(exc)
        raise ListenError(f"cannot listen for {what} on {_bracket(host)}:{port}: {reason}") from exc
    sock.setblocking(False)
    return sock


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _client_host(bind: str) -> str:
    if bind in ("0.0.0.0", ""):  # noqa: S104 - mapping a wildcard bind to a client address
        return "127.0.0.1"
    if bind == "::":
        return "[::1]"
    return _bracket(bind)


class CollectorHandle:
    """A running collector: its addresses, its store, and :meth:`stop`."""

    def __init__(
        self,
        *,
        config: CollectorConfig,
        ingestor: Ingestor,
        http: Any,
        grpc_server: Any,
        grpc_port: int | None,
        pruner: threading.Thread,
        stopping: threading.Event,
        rollup: threading.Thread | None = None,
    ) -> None:
        self.config = config
        self._ingestor = ingestor
        self._http = http
        self._grpc = grpc_server
        self._pruner = pruner
        self._rollup = rollup
        self._stopping = stopping
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        scheme = "https" if config.tls_cert else "http"
        host = _client_host(config.bind)
        self.http_url = f"{scheme}://{host}:{http.port}"
        self.grpc_target = f"{host}:{grpc_port}" if grpc_port is not None else None

    @property
    def store(self) -> Store:
        """The store this collector writes to."""
        return self._ingestor.store

    @property
    def live(self) -> Any:
        """The live view at /ui (:class:`lambdaguard.views.live.LiveView`)."""
        return self._http.live

    @property
    def metrics(self) -> Metrics:
        """The collector's Prometheus metrics."""
        return self._ingestor.metrics

    def stats(self) -> dict[str, int]:
        """Counters since start."""
        return self._ingestor.stats()

    def wait(self) -> None:
        """Block until :meth:`stop` has finished (called from another thread or a signal handler)."""
        while not self._stopped.wait(0.5):
            pass

    def stop(self) -> None:
        """Stop accepting, finish in-flight requests, drain forwarding (saving the rest), close."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            self._stopping.set()
            log.info("stopping")
            if self._grpc is not None:
                self._grpc.stop(grace=2).wait(3)
            self._http.stop()
            self._ingestor.close()
            if self._ingestor.forwarder is not None:
                self._ingestor.forwarder.close(self.config.forward_drain_s)
            self._pruner.join(2)
            stop_rollup(self._ingestor.store, self._rollup)
            self._ingestor.store.close()
            log.info("stopped")
            self._stopped.set()


def _pruner(store: Store, window_s: int, stopping: threading.Event) -> threading.Thread:
    def run() -> None:
        interval = max(1.0, min(3600.0, window_s / 4))
        while True:
            try:
                removed = store.prune_span_keys(window_s)
                if removed:
                    log.info("span_ids_forgotten", removed=removed, window_s=window_s)
                # Metric series of environments gone for a week (none lives that long).
                store.prune_metric_series(max(window_s, _SERIES_WINDOW_S))
            except StoreError as exc:
                log.warning("span_id_pruning_failed", error=str(exc))
            if stopping.wait(interval):
                return

    thread = threading.Thread(target=run, name="lambdaguard-prune", daemon=True)
    thread.start()
    return thread


def start_collector(config: CollectorConfig, *, store: Store | None = None) -> CollectorHandle:
    """Bind the listeners, open the store (migrating it), start serving, return a handle.

    Raises :class:`ListenError` (busy port, bad address, missing certificate)
    and :class:`~lambdaguard.errors.StoreError` before anything is started.
    """
    from lambdaguard.collector.grpc_receiver import start_grpc
    from lambdaguard.collector.http_receiver import HttpReceiver

    ssl_context = _check_tls_files(config)
    http_sock = bind_socket(config.bind, config.http_port, "OTLP/HTTP")
    grpc_server = grpc_port = None
    try:
        if store is None:
            store = open_store(config.store_url, sqlite_synchronous=config.sqlite_synchronous)
        metrics = Metrics()
        forwarder = (
            Forwarder.from_config(config, store=store, metrics=metrics)
            if config.forward_url
            else None
        )
        ingestor = Ingestor(config, store, forwarder, metrics=metrics)
        if config.grpc_port is not None:
            grpc_server, grpc_port = start_grpc(config, ingestor)
        http = HttpReceiver(config, ingestor, http_sock, ssl_context)
    except BaseException:
        http_sock.close()
        raise
    stopping = threading.Event()
    pruner = _pruner(store, config.span_window_s, stopping)
    rollup = start_rollup(store, config.counter_rollup_s, stopping)
    if forwarder is not None:
        forwarder.start()
    return CollectorHandle(
        config=config,
        ingestor=ingestor,
        http=http,
        grpc_server=grpc_server,
        grpc_port=grpc_port,
        pruner=pruner,
        stopping=stopping,
        rollup=rollup,
    )
