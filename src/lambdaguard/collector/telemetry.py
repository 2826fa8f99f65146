"""The collector's own telemetry: Prometheus metrics and structured JSON logs.

Metrics use the official ``prometheus_client`` with one
:class:`~prometheus_client.CollectorRegistry` per running collector (tests
start several in one process), served as Prometheus text on ``GET /metrics``.
No label carries a function name, host or token: cardinality stays fixed and
the endpoint reveals only counts, so it needs no token.

Logs go through ``structlog``: one JSON object per line on stderr, with the
standard library's loggers (uvicorn, grpc, SQLAlchemy) routed through the same
renderer. Ordinary client behaviour (a disconnect, a timeout, a refused
connection) is an event with a reason, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Final

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["METRICS_CONTENT_TYPE", "Metrics", "configure_logging", "get_logger"]

METRICS_CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

# Store commits are milliseconds on SQLite, tens of ms on a busy PostgreSQL.
_LATENCY_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class Metrics:
    """Every counter the collector keeps, registered in its own registry."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "lambdaguard_requests",
            "Export requests answered, by transport, signal and status code.",
            ("transport", "signal", "code"),
            registry=r,
        )
        self.spans = Counter(
            "lambdaguard_spans",
            "Spans by what became of them: received, stored (new), duplicate, rejected.",
            ("outcome",),
            registry=r,
        )
        self.rejected = Counter(
            "lambdaguard_rejected",
            "Items (spans, log records, data points) not stored, by reason.",
            ("signal", "reason"),
            registry=r,
        )
        self.items = Counter(
            "lambdaguard_items_received",
            "Log records and metric data points received.",
            ("signal",),
            registry=r,
        )
        self.throttled = Counter(
            "lambdaguard_throttled",
            "Requests or connections refused to protect the collector, by reason.",
            ("reason",),
            registry=r,
        )
        self.timeouts = Counter(
            "lambdaguard_request_timeouts",
            "HTTP connections cut because a request did not arrive within request_timeout_s.",
            registry=r,
        )
        self.known = Gauge(
            "lambdaguard_cap_known",
            "Distinct functions, calls and hosts the cardinality caps count as stored (in memory).",
            ("kind",),
            registry=r,
        )
        self.connections = Gauge(
            "lambdaguard_http_connections", "Open OTLP/HTTP connections.", registry=r
        )
        self.buffered = Gauge(
            "lambdaguard_http_buffered_bytes",
            "Bytes of request bodies being received.",
            registry=r,
        )
        self.inflight = Gauge(
            "lambdaguard_inflight", "Requests holding an ingest slot.", registry=r
        )
        self.commit_queue = Gauge(
            "lambdaguard_commit_queue", "Requests waiting for a store commit.", registry=r
        )
        self.store_latency = Histogram(
            "lambdaguard_store_commit_seconds",
            "Time of one store transaction (a group of requests).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.commit_group = Histogram(
            "lambdaguard_store_commit_requests",
            "Requests committed together in one transaction.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=r,
        )
        self.store_errors = Counter(
            "lambdaguard_store_errors", "Store transactions that failed.", registry=r
        )
        self.forward = Counter(
            "lambdaguard_forward_spans",
            "Spans (or records) passed upstream, by outcome: sent, dropped, backlogged.",
            ("outcome",),
            registry=r,
        )
        self.forward_bytes = Counter(
            "lambdaguard_forward_bytes",
            "Payload bytes passed upstream, by outcome: sent, dropped, backlogged.",
            ("outcome",),
            registry=r,
        )
        self.forward_retries = Counter(
            "lambdaguard_forward_retries", "Upstream sends retried.", registry=r
        )
        self.forward_queue = Gauge(
            "lambdaguard_forward_queue_bytes",
            "Bytes waiting in memory to be forwarded.",
            registry=r,
        )
        self.forward_backlog = Gauge(
            "lambdaguard_forward_backlog_bytes",
            "Bytes waiting in the durable forward backlog.",
            registry=r,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return bytes(generate_latest(self.registry))


def configure_logging(level: int = logging.INFO, stream: Any = None) -> None:
    """Send structlog and standard-library logs to ``stream`` (stderr) as JSON lines."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's own error logger reports client misbehaviour we already count.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)


def get_logger(name: str) -> Any:
    """A structlog logger (``log.info("event", key=value)``)."""
    return structlog.stdlib.get_logger(name)
