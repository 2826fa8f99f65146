"""Forwarding: pass received telemetry on to an upstream OTLP/HTTP endpoint, without losing it.

Teams without an OpenTelemetry Collector still see their traces in their own
backend. What is forwarded, and how:

- only what the store accepted as new: spans whose ids the store had already
  seen (a retried or re-delivered batch) are taken out of the payload, and a
  payload left empty is not sent (spans the store does not keep, such as a
  plain web app's, cannot be checked and are forwarded as received);
- accepted payloads wait in memory up to ``forward_queue_bytes``; beyond that,
  and whenever the upstream is failing, they go to the store's durable
  backlog (``forward_backlog_bytes``; the oldest are dropped beyond it and
  counted in spans and bytes), which is sent, oldest first, once the upstream
  answers again -- also after a restart;
- ``forward_workers`` threads send over one keep-alive connection pool;
- a refused connection, a timeout, 429, 502, 503 and 504 are retried with
  exponential backoff and full jitter (1 s doubling up to
  ``forward_retry_max_s``), honouring ``Retry-After``, as the OTLP exporter
  specification asks; other 4xx answers are permanent and counted as failed;
- on stop (SIGTERM) nothing new is accepted, the queue is sent for at most
  ``forward_drain_s`` seconds, and whatever is left is written to the backlog
  and logged with its size: an acknowledged payload is never silently lost.
"""

from __future__ import annotations

import contextlib
import email.utils
import gzip
import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

from lambdaguard.collector.otlp import CONTENT_TYPE_PROTOBUF
from lambdaguard.collector.telemetry import get_logger
from lambdaguard.errors import ConfigError, StoreError

__all__ = ["ForwardStats", "Forwarder"]

log = get_logger("lambdaguard.collector.forward")

_RETRYABLE: Final = frozenset({429, 502, 503, 504})
_BACKOFF_BASE_S: Final = 1.0


@dataclass(frozen=True, slots=True)
class ForwardStats:
    """Counters since start: payloads sent, dropped and failed upstream; bytes waiting."""

    sent: int
    dropped: int
    failed: int
    queued: int
    backlog_bytes: int = 0
    dropped_spans: int = 0
    dropped_bytes: int = 0


@dataclass(slots=True)
class _Item:
    signal: str
    payload: bytes
    spans: int
    backlog_id: int | None = None


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def backoff_s(attempt: int, cap_s: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base x 2^attempt)]."""
    return rng.uniform(0, min(cap_s, _BACKOFF_BASE_S * (2**attempt)))


def drop_duplicates(
    signal: str, message: Any, payload: bytes, duplicate_keys: frozenset[bytes]
) -> bytes:
    """The payload without the spans whose trace_id+span_id the store had already seen."""
    if signal != "traces" or not duplicate_keys:
        return payload
    removed = 0
    for rs in message.resource_spans:
        for ss in rs.scope_spans:
            keep = [s for s in ss.spans if s.trace_id + s.span_id not in duplicate_keys]
            if len(keep) != len(ss.spans):
                removed += len(ss.spans) - len(keep)
                del ss.spans[:]
                ss.spans.extend(keep)
    if not removed:
        return payload
    if not any(ss.spans for rs in message.resource_spans for ss in rs.scope_spans):
        return b""
    return bytes(message.SerializeToString())


class Forwarder:
    """Sends OTLP protobuf payloads to ``{endpoint}/v1/traces``, ``/v1/metrics`` and ``/v1/logs``."""

    def __init__(
        self,
        endpoint: str,
        *,
        headers: tuple[tuple[str, str], ...] = (),
        max_queue_bytes: int = 64 * 1024 * 1024,
        timeout_s: float = 10.0,
        workers: int = 2,
        retry_max_s: float = 30.0,
        backlog: Any = None,
        backlog_bytes: int = 512 * 1024 * 1024,
        metrics: Any = None,
        seed: int | None = None,
    ) -> None:
        if not endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"forward URL must be http:// or https://, got {endpoint!r}")
        base = endpoint.rstrip("/")
        # Like OTEL_EXPORTER_OTLP_ENDPOINT: a base URL gets the per-signal path;
        # a URL already ending in /v1/<signal> is used for that signal as is.
        for suffix in ("/v1/traces", "/v1/logs", "/v1/metrics"):
            base = base.removesuffix(suffix)
        self._urls = {s: f"{base}/v1/{s}" for s in ("traces", "logs", "metrics")}
        self._headers = {
            **dict(headers),
            "Content-Type": CONTENT_TYPE_PROTOBUF,
            "Content-Encoding": "gzip",
        }
        self._timeout = timeout_s
        self._max_queue = max_queue_bytes
        self._retry_max = retry_max_s
        self._backlog = backlog
        self._backlog_max = backlog_bytes
        self._metrics = metrics
        self._rng = random.Random(seed)  # noqa: S311 - jitter, not secrecy
        self._cond = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._queued_bytes = 0
        self._inflight: set[int] = set()
        self._inflight_items: dict[int, _Item] = {}
        self._closing = False
        self._stop_now = False
        self._down_until = 0.0
        self._failures = 0
        self._sent = self._dropped = self._failed = 0
        self._dropped_spans = self._dropped_bytes = 0
        self._backlog_pending = False
        self._cursor = 0  # backlog rows up to this id are being sent
        self._workers = [
            threading.Thread(target=self._run, name=f"lambdaguard-forward-{i}", daemon=True)
            for i in range(max(1, workers))
        ]
        import urllib3

        self._http = urllib3.PoolManager(
            num_pools=4, maxsize=max(1, workers), retries=False, block=False
        )
        self._started = False

    @classmethod
    def from_config(cls, config: Any, *, store: Any = None, metrics: Any = None) -> Forwarder:
        """A forwarder built from a CollectorConfig, with the store as its durable backlog."""
        return cls(
            config.forward_url,
            headers=config.forward_headers,
            max_queue_bytes=config.forward_queue_bytes,
            timeout_s=config.forward_timeout_s,
            workers=config.forward_workers,
            retry_max_s=config.forward_retry_max_s,
            backlog=store,
            backlog_bytes=config.forward_backlog_bytes,
            metrics=metrics,
        )

    def start(self) -> None:
        """Start the sending threads (what an earlier run left in the backlog goes first)."""
        if self._started:
            return
        self._started = True
        self._backlog_pending = self._backlog is not None and self._backlog_size() > 0
        for worker in self._workers:
            worker.start()

    # -- accepting -------------------------------------------------------------------
    def submit_new(self, signal: str, message: Any, payload: bytes, result: Any) -> bool:
        """Queue what the store accepted as new (duplicates taken out); False when nothing is sent."""
        payload = drop_duplicates(
            signal, message, payload, getattr(result, "duplicate_keys", frozenset())
        )
        if not payload:
            return False
        spans = getattr(result, "new_spans", 0) or _count_items(signal, message)
        return self.submit(signal, payload, spans=spans)

    def submit(self, signal: str, payload: bytes, *, spans: int = 0) -> bool:
        """Queue a payload; beyond the memory bound it goes to the durable backlog."""
        if not self._started:
            self.start()
        item = _Item(signal, payload, spans)
        with self._cond:
            if self._closing:
                self._to_backlog([item], why="stopping")
                return False
            if self._queued_bytes + len(payload) <= self._max_queue and not self._backlog_pending:
                self._queue.append(item)
                self._queued_bytes += len(payload)
                self._gauge()
                self._cond.notify()
                return True
        self._to_backlog([item], why="queue full")
        return True

    # -- stats -----------------------------------------------------------------------
    def stats(self) -> ForwardStats:
        """The counters so far."""
        with self._cond:
            return ForwardStats(
                self._sent,
                self._dropped,
                self._failed,
                len(self._queue),
                self._backlog_size(),
                self._dropped_spans,
                self._dropped_bytes,
            )

    # -- stopping --------------------------------------------------------------------
    def close(self, timeout_s: float = 10.0) -> None:
        """Stop accepting; send for at most ``timeout_s``; keep the rest in the backlog."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            while (self._queue or self._inflight) and time.monotonic() < deadline:
                self._cond.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            self._stop_now = True
            left = list(self._queue) + [
                i for i in self._inflight_items.values() if i.backlog_id is None
            ]
            self._queue.clear()
            self._queued_bytes = 0
            self._cond.notify_all()
        if left:
            kept = self._to_backlog(left, why="stopping")
            log.warning(
                "forward_drain_incomplete",
                payloads=len(left),
                bytes=sum(len(i.payload) for i in left),
                kept_in_backlog=kept,
                drain_s=timeout_s,
            )
        for worker in self._workers:
            if worker.is_alive():
                worker.join(max(0.1, deadline - time.monotonic()) + self._timeout)
        self._http.clear()

    # -- sending ---------------------------------------------------------------------
    def _run(self) -> None:
        me = threading.get_ident()
        while True:
            item = self._next(me)
            if item is None:
                return
            ok = self._deliver(item)
            with self._cond:
                self._inflight.discard(me)
                self._inflight_items.pop(me, None)
                self._cond.notify_all()
            del ok

    def _next(self, me: int) -> _Item | None:
        with self._cond:
            while True:
                if self._stop_now:
                    return None
                wait = self._down_until - time.monotonic()
                if wait > 0:
                    self._cond.wait(min(wait, 0.5))
                    continue
                if self._queue:
                    item = self._queue.popleft()
                    self._queued_bytes -= len(item.payload)
                    self._gauge()
                    self._inflight.add(me)
                    self._inflight_items[me] = item
                    return item
                if self._backlog_pending and not self._closing:
                    items = self._from_backlog()
                    if items:
                        for extra in items[1:]:
                            self._queue.append(extra)
                            self._queued_bytes += len(extra.payload)
                        self._inflight.add(me)
                        self._inflight_items[me] = items[0]
                        return items[0]
                    self._backlog_pending = False
                    continue
                if self._closing:
                    return None
                self._cond.wait(0.5)

    def _deliver(self, item: _Item) -> bool:
        """Send one payload, retrying while it makes sense; on giving up keep it in the backlog."""
        import urllib3

        body = gzip.compress(item.payload, compresslevel=1)
        url = self._urls.get(item.signal, self._urls["traces"])
        attempt = 0
        while True:
            delay: float | None
            try:
                response = self._http.request(
                    "POST",
                    url,
                    body=body,
                    headers=self._headers,
                    timeout=urllib3.Timeout(connect=min(5.0, self._timeout), read=self._timeout),
                    preload_content=True,
                )
                status = response.status
                if 200 <= status < 300:
                    self._succeeded(item)
                    return True
                if status not in _RETRYABLE:
                    log.warning("forward_rejected", url=url, status=status, bytes=len(item.payload))
                    self._gave_up(item, failed=True)
                    return False
                delay = retry_after_seconds(response.headers.get("Retry-After"))
                reason = f"HTTP {status}"
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                delay = None
                reason = exc.__class__.__name__
            self._count("retries")
            with self._cond:
                self._failures += 1
                pause = backoff_s(min(self._failures, 16), self._retry_max, self._rng)
                if delay is not None:
                    pause = min(max(pause, delay), max(self._retry_max, delay))
                self._down_until = max(self._down_until, time.monotonic() + pause)
                closing = self._closing or self._stop_now
            attempt += 1
            if attempt == 1:
                log.info("forward_retrying", url=url, reason=reason, pause_s=round(pause, 2))
            if item.backlog_id is None and (attempt >= 3 or closing):
                # The upstream is down: keep the payload durably and free the worker.
                self._to_backlog([item], why=reason)
                return False
            if item.backlog_id is not None and (attempt >= 3 or closing):
                with self._cond:
                    self._backlog_pending = True
                    self._cursor = min(self._cursor, item.backlog_id - 1)
                return False
            with self._cond:
                while not self._stop_now and time.monotonic() < self._down_until:
                    self._cond.wait(min(0.5, self._down_until - time.monotonic()))
                stop = bool(self._stop_now)
            if stop:
                if item.backlog_id is None:
                    self._to_backlog([item], why="stopping")
                return False

    def _succeeded(self, item: _Item) -> None:
        with self._cond:
            self._sent += 1
            self._failures = 0
        if item.backlog_id is not None and self._backlog is not None:
            try:
                self._backlog.backlog_delete([item.backlog_id])
            except StoreError as exc:
                log.warning("forward_backlog_delete_failed", error=str(exc))
            self._backlog_gauge()
        self._count("sent", item)

    def _gave_up(self, item: _Item, *, failed: bool) -> None:
        with self._cond:
            if failed:
                self._failed += 1
        if item.backlog_id is not None and self._backlog is not None:
            with contextlib.suppress(StoreError):
                self._backlog.backlog_delete([item.backlog_id])
        self._count("dropped", item)

    # -- the durable backlog ----------------------------------------------------------
    def _to_backlog(self, items: list[_Item], *, why: str) -> int:
        """Write items to the store's backlog (oldest dropped beyond the bound); returns kept."""
        fresh = [i for i in items if i.backlog_id is None]
        if not fresh:
            return 0
        if self._backlog is None:
            for item in fresh:
                self._drop(item, why=f"{why}; no backlog")
            return 0
        try:
            self._backlog.backlog_put([(i.signal, i.payload, i.spans) for i in fresh])
            dropped_spans, dropped_bytes, dropped_rows = self._backlog.backlog_trim(
                self._backlog_max
            )
        except StoreError as exc:
            log.warning("forward_backlog_write_failed", error=str(exc))
            for item in fresh:
                self._drop(item, why="backlog unavailable")
            return 0
        for item in fresh:
            item.backlog_id = -1  # in the backlog now
            self._count("backlogged", item)
        if dropped_rows:
            with self._cond:
                self._dropped += dropped_rows
                self._dropped_spans += dropped_spans
                self._dropped_bytes += dropped_bytes
            self._metric("dropped", dropped_spans, dropped_bytes)
            log.warning(
                "forward_backlog_full", dropped_spans=dropped_spans, dropped_bytes=dropped_bytes
            )
        with self._cond:
            self._backlog_pending = True
        self._backlog_gauge()
        return len(fresh)

    def _from_backlog(self) -> list[_Item]:
        if self._backlog is None:
            return []
        try:
            rows = self._backlog.backlog_take(16, after_id=self._cursor)
        except StoreError as exc:
            log.warning("forward_backlog_read_failed", error=str(exc))
            return []
        if rows:
            self._cursor = max(r[0] for r in rows)
        else:
            self._cursor = 0
        return [_Item(signal, payload, spans, row_id) for row_id, signal, payload, spans in rows]

    def _backlog_size(self) -> int:
        if self._backlog is None:
            return 0
        try:
            return int(self._backlog.backlog_bytes())
        except StoreError:
            return 0

    def _drop(self, item: _Item, *, why: str) -> None:
        with self._cond:
            self._dropped += 1
            self._dropped_spans += item.spans
            self._dropped_bytes += len(item.payload)
        log.warning("forward_dropped", reason=why, spans=item.spans, bytes=len(item.payload))
        self._count("dropped", item)

    # -- metrics ------------------------------------------------------------------------
    def _count(self, outcome: str, item: _Item | None = None) -> None:
        if self._metrics is None:
            return
        if outcome == "retries":
            self._metrics.forward_retries.inc()
            return
        assert item is not None
        self._metric(outcome, item.spans, len(item.payload))

    def _metric(self, outcome: str, spans: int, size: int) -> None:
        if self._metrics is not None:
            self._metrics.forward.labels(outcome).inc(spans)
            self._metrics.forward_bytes.labels(outcome).inc(size)

    def _gauge(self) -> None:
        if self._metrics is not None:
            self._metrics.forward_queue.set(self._queued_bytes)

    def _backlog_gauge(self) -> None:
        if self._metrics is not None:
            self._metrics.forward_backlog.set(self._backlog_size())


def _count_items(signal: str, message: Any) -> int:
    if signal == "traces":
        return sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)
    return 0
