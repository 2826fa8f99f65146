"""Forwarding: pass received telemetry on to an upstream OTLP/HTTP endpoint.

Teams without an OpenTelemetry Collector still see their traces in their own
backend. Forwarding never blocks ingestion: requests are queued (bounded) and
sent by one background thread; a full queue, a slow upstream or a failed send
drops the batch and counts it. One attempt per batch, plus one retry when the
upstream asks for it (429/502/503/504, the OTLP retryable statuses), so a dead
upstream costs one timeout per batch at most twice.
"""

from __future__ import annotations

import gzip
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Final

from lambdaguard.collector.otlp import CONTENT_TYPE_PROTOBUF, Signal
from lambdaguard.errors import ConfigError

__all__ = ["ForwardStats", "Forwarder"]

log = logging.getLogger("lambdaguard.collector.forward")

_RETRYABLE: Final = frozenset({429, 502, 503, 504})
_STOP: Final = object()


@dataclass(frozen=True, slots=True)
class ForwardStats:
    """Counters since start: batches sent, dropped (queue full) and failed upstream."""

    sent: int
    dropped: int
    failed: int
    queued: int


def _retry_after(value: str | None) -> float:
    # Retry-After may be seconds or an HTTP date; anything odd means "1 s".
    try:
        return max(0.0, min(float(value or 1), 5.0))
    except ValueError:
        return 1.0


class Forwarder:
    """Sends OTLP protobuf payloads to ``{endpoint}/v1/traces`` and ``/v1/logs``."""

    def __init__(
        self,
        endpoint: str,
        *,
        headers: tuple[tuple[str, str], ...] = (),
        max_queue: int = 1000,
        timeout_s: float = 5.0,
    ) -> None:
        if not endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"forward URL must be http:// or https://, got {endpoint!r}")
        base = endpoint.rstrip("/")
        # Like OTEL_EXPORTER_OTLP_ENDPOINT: a base URL gets the per-signal path;
        # a URL already ending in /v1/traces is used for traces as is.
        for suffix in ("/v1/traces", "/v1/logs", "/v1/metrics"):
            base = base.removesuffix(suffix)
        self._urls: dict[str, str] = {
            "traces": f"{base}/v1/traces",
            "logs": f"{base}/v1/logs",
            "metrics": f"{base}/v1/metrics",
        }
        self._headers = dict(headers)
        self._timeout = timeout_s
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._sent = self._dropped = self._failed = 0
        self._thread = threading.Thread(target=self._run, name="lambdaguard-forward", daemon=True)
        self._thread.start()

    def submit(self, signal: Signal, payload: bytes) -> bool:
        """Queue a payload; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait((signal, payload))
        except queue.Full:
            with self._lock:
                self._dropped += 1
            return False
        return True

    def stats(self) -> ForwardStats:
        """The counters so far."""
        with self._lock:
            return ForwardStats(self._sent, self._dropped, self._failed, self._queue.qsize())

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop after sending what is queued, waiting at most ``timeout_s``."""
        try:
            self._queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            return
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, tuple)
            ok = self._send(str(item[0]), bytes(item[1]))
            with self._lock:
                if ok:
                    self._sent += 1
                else:
                    self._failed += 1

    def _send(self, signal: str, payload: bytes) -> bool:
        body = gzip.compress(payload, compresslevel=1)
        headers = {
            **self._headers,
            "Content-Type": CONTENT_TYPE_PROTOBUF,
            "Content-Encoding": "gzip",
        }
        for attempt in range(2):
            request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
                self._urls[signal], data=body, headers=headers, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                    response.read()
                    return True
            except urllib.error.HTTPError as exc:
                if exc.code in _RETRYABLE and attempt == 0:
                    time.sleep(_retry_after(exc.headers.get("Retry-After")))
                    continue
                log.warning("forward to %s failed: HTTP %s", self._urls[signal], exc.code)
                return False
            except (OSError, ValueError) as exc:
                log.warning("forward to %s failed: %s", self._urls[signal], exc)
                return False
        return False
