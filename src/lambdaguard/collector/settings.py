"""Collector configuration: every setting, its environment variable and its default.

Precedence is explicit: command-line flag > environment variable > config file
(TOML) > default. :class:`CollectorConfig` is built once, frozen, and handed to
:func:`lambdaguard.collector.server.start_collector`. A bad value is a
:class:`~lambdaguard.errors.ConfigError` naming the setting and what is accepted.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from lambdaguard.collector.otlp import DecodeLimits
from lambdaguard.errors import ConfigError

__all__ = [
    "DEFAULT_STORE_URL",
    "ENV",
    "CollectorConfig",
    "is_loopback",
    "load_config",
    "parse_duration",
]

# Relative to the working directory, like git's .git: `lambdaguard serve`
# with no flags "just works" in the folder it is started from.
DEFAULT_STORE_URL: Final = "sqlite:///.lambdaguard/lambdaguard.db"

# setting name -> environment variable. The only place these names live.
ENV: Final[Mapping[str, str]] = {
    "store_url": "LAMBDAGUARD_STORE",
    "bind": "LAMBDAGUARD_COLLECTOR_BIND",
    "http_port": "LAMBDAGUARD_COLLECTOR_HTTP_PORT",
    "grpc_port": "LAMBDAGUARD_COLLECTOR_GRPC_PORT",
    # Several tokens (rotation) are comma-separated in the variable.
    "tokens": "LAMBDAGUARD_COLLECTOR_TOKEN",
    "tls_cert": "LAMBDAGUARD_COLLECTOR_TLS_CERT",
    "tls_key": "LAMBDAGUARD_COLLECTOR_TLS_KEY",
    "forward_url": "LAMBDAGUARD_FORWARD_URL",
    # "name=value" pairs, comma-separated, as OTEL_EXPORTER_OTLP_HEADERS spells them.
    "forward_headers": "LAMBDAGUARD_FORWARD_HEADERS",
    "forward_timeout_s": "LAMBDAGUARD_FORWARD_TIMEOUT",
    "forward_queue_bytes": "LAMBDAGUARD_FORWARD_QUEUE_BYTES",
    "forward_backlog_bytes": "LAMBDAGUARD_FORWARD_BACKLOG_BYTES",
    "forward_workers": "LAMBDAGUARD_FORWARD_WORKERS",
    "forward_retry_max_s": "LAMBDAGUARD_FORWARD_RETRY_MAX",
    "forward_drain_s": "LAMBDAGUARD_FORWARD_DRAIN",
    "max_body_bytes": "LAMBDAGUARD_MAX_BODY_BYTES",
    "max_decompressed_bytes": "LAMBDAGUARD_MAX_DECOMPRESSED_BYTES",
    "max_inflight": "LAMBDAGUARD_MAX_INFLIGHT",
    "max_connections": "LAMBDAGUARD_MAX_CONNECTIONS",
    "max_connections_per_client": "LAMBDAGUARD_MAX_CONNECTIONS_PER_CLIENT",
    "max_buffered_bytes": "LAMBDAGUARD_MAX_BUFFERED_BYTES",
    "max_header_bytes": "LAMBDAGUARD_MAX_HEADER_BYTES",
    "request_timeout_s": "LAMBDAGUARD_REQUEST_TIMEOUT",
    "idle_timeout_s": "LAMBDAGUARD_IDLE_TIMEOUT",
    "max_attributes": "LAMBDAGUARD_MAX_ATTRIBUTES",
    "max_attributes_total": "LAMBDAGUARD_MAX_ATTRIBUTES_TOTAL",
    "max_resources": "LAMBDAGUARD_MAX_RESOURCES",
    "max_items": "LAMBDAGUARD_MAX_ITEMS",
    "max_events": "LAMBDAGUARD_MAX_EVENTS",
    "max_functions_per_request": "LAMBDAGUARD_MAX_FUNCTIONS_PER_REQUEST",
    "max_calls_per_request": "LAMBDAGUARD_MAX_CALLS_PER_REQUEST",
    "max_hosts_per_request": "LAMBDAGUARD_MAX_HOSTS_PER_REQUEST",
    "max_functions": "LAMBDAGUARD_MAX_FUNCTIONS",
    "max_calls_per_function": "LAMBDAGUARD_MAX_CALLS_PER_FUNCTION",
    "max_hosts_per_function": "LAMBDAGUARD_MAX_HOSTS_PER_FUNCTION",
    "span_window": "LAMBDAGUARD_SPAN_WINDOW",
    "sqlite_synchronous": "LAMBDAGUARD_SQLITE_SYNCHRONOUS",
    "counter_rollup_s": "LAMBDAGUARD_COUNTER_ROLLUP",
}

_SYNC_MODES: Final = ("OFF", "NORMAL", "FULL", "EXTRA")


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    """Everything `lambdaguard serve` needs; ports 0 mean "pick a free one", None disables gRPC."""

    store_url: str = DEFAULT_STORE_URL
    bind: str = "127.0.0.1"
    http_port: int = 4318
    grpc_port: int | None = 4317
    tokens: tuple[str, ...] = ()
    tls_cert: str | None = None
    tls_key: str | None = None
    forward_url: str | None = None
    forward_headers: tuple[tuple[str, str], ...] = ()
    # One upstream send may take this long before it counts as failed (and is retried).
    forward_timeout_s: float = 10.0
    # Bytes of accepted payloads waiting in memory to be forwarded; beyond it
    # they go to the durable backlog in the store.
    forward_queue_bytes: int = 64 * 1024 * 1024
    # Bytes kept in the store's forward backlog (an upstream outage, a stop);
    # beyond it the oldest payloads are dropped and counted (spans and bytes).
    # 512 MiB holds about 10 minutes at 20,000 spans/s of agent traffic.
    forward_backlog_bytes: int = 512 * 1024 * 1024
    forward_workers: int = 2  # concurrent upstream sends (each a keep-alive connection)
    forward_retry_max_s: float = 30.0  # backoff ceiling between retries of one payload
    forward_drain_s: float = 10.0  # on SIGTERM, how long to keep sending before saving the rest
    # Largest body accepted on the wire (413 beyond).
    max_body_bytes: int = 8 * 1024 * 1024
    # Largest body after decompression (413 beyond).
    max_decompressed_bytes: int = 16 * 1024 * 1024
    # Requests decoded at once; more get 429 + Retry-After. Taken only once the
    # whole body has arrived. With the decode limits this bounds memory.
    max_inflight: int = 4
    # Open HTTP connections, in all and from one client address; more get 503.
    max_connections: int = 1024
    max_connections_per_client: int = 512
    # Bytes of request bodies being received across all connections (before
    # any slot is taken); a connection that would pass it gets 503.
    max_buffered_bytes: int = 128 * 1024 * 1024
    max_header_bytes: int = 64 * 1024  # request line + headers (431 beyond)
    # Whole-request deadline: headers and body must arrive within it from the
    # request's first byte (or the connection's opening), whatever is sent.
    request_timeout_s: float = 10.0
    # A keep-alive connection with no request in flight is closed after this.
    idle_timeout_s: float = 30.0
    # What a decoded request may expand into (413 beyond; see collector.otlp).
    max_attributes: int = 1024  # per resource, scope, span, event, link, record or point
    max_attributes_total: int = 500_000
    max_resources: int = 1_000
    max_items: int = 50_000  # spans, log records or data points per request
    max_events: int = 100_000  # span events, links and exemplars per request
    # Cardinality caps (see collector.caps): what is over is counted and reported, not stored.
    max_functions_per_request: int = 1_000
    max_calls_per_request: int = 1_000  # distinct calls per function in one request
    max_hosts_per_request: int = 1_000  # distinct hosts per function in one request
    max_functions: int = 100_000  # functions in the store
    # Distinct calls and hosts per function in the store. A function's calls
    # are keyed by service, operation, region, identifying params (S3 keys cut
    # to a prefix), error and response facts: tens to a few hundred in real
    # functions; 10,000 leaves room for record_full_keys and still bounds a
    # flood. Hosts: tens for real functions, 1,000 bounds a crawler's. The
    # collector keeps ~134 bytes per stored call and ~121 per host (caps.py).
    max_calls_per_function: int = 10_000
    max_hosts_per_function: int = 1_000
    retry_after_s: int = 1
    # How long span ids are kept for de-duplicating redelivered batches
    # (seconds). Exporter retries end within minutes (the OTel Collector's
    # retry_on_failure gives up after 5 min by default); a day also covers a
    # gateway's persistent queue replayed after a restart. Rows kept =
    # spans/s x window, so this is the store's main size knob.
    span_window_s: int = 24 * 3600
    sqlite_synchronous: str = "NORMAL"
    # PostgreSQL only: seconds between roll-ups of counter increments (0: every
    # request updates the counter rows itself). Rolling up keeps a busy
    # function's rows from serialising several collectors; reads roll up first.
    counter_rollup_s: float = 1.0

    def __post_init__(self) -> None:
        for name in ("http_port", "grpc_port"):
            port = getattr(self, name)
            if port is not None and not 0 <= port <= 65535:
                raise ConfigError(f"{name} must be 0..65535, got {port}")
        for name in _POSITIVE_INTS:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)}")
        for name in _POSITIVE_FLOATS:
            if not getattr(self, name) > 0:
                raise ConfigError(
                    f"{name} must be a positive number of seconds, got {getattr(self, name)}"
                )
        if not 0 <= self.counter_rollup_s <= 3600:
            raise ConfigError(
                f"counter_rollup_s must be 0..3600 seconds, got {self.counter_rollup_s}"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("tls_cert and tls_key must be given together")
        if self.sqlite_synchronous.upper() not in _SYNC_MODES:
            raise ConfigError(
                f"sqlite_synchronous must be one of {', '.join(_SYNC_MODES)}, "
                f"got {self.sqlite_synchronous!r}"
            )
        if any(not t for t in self.tokens):
            raise ConfigError("an empty bearer token is not a token")
        if not self.tokens and not is_loopback(self.bind):
            raise ConfigError(
                f"refusing to listen on {self.bind} without a bearer token: set --token or "
                f"{ENV['tokens']} (tokens are optional only on loopback addresses)"
            )

    @property
    def auth_required(self) -> bool:
        """True when requests must carry one of the bearer tokens."""
        return bool(self.tokens)

    @property
    def decode_limits(self) -> DecodeLimits:
        """The limits on what one request may expand into."""
        return DecodeLimits(
            max_decompressed_bytes=self.max_decompressed_bytes,
            max_resources=self.max_resources,
            max_items=self.max_items,
            max_events=self.max_events,
            max_attributes=self.max_attributes,
            max_attributes_total=self.max_attributes_total,
        )


_POSITIVE_INTS: Final = (
    "forward_queue_bytes",
    "forward_backlog_bytes",
    "forward_workers",
    "max_body_bytes",
    "max_decompressed_bytes",
    "max_inflight",
    "max_connections",
    "max_connections_per_client",
    "max_buffered_bytes",
    "max_header_bytes",
    "max_attributes",
    "max_attributes_total",
    "max_resources",
    "max_items",
    "max_events",
    "max_functions_per_request",
    "max_calls_per_request",
    "max_hosts_per_request",
    "max_functions",
    "max_calls_per_function",
    "max_hosts_per_function",
    "span_window_s",
)
_POSITIVE_FLOATS: Final = (
    "forward_timeout_s",
    "forward_retry_max_s",
    "forward_drain_s",
    "request_timeout_s",
    "idle_timeout_s",
)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"; everything else needs a token."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_S: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str, *, name: str) -> int:
    """Parse "30d", "12h", "90m", "45s" or plain seconds into seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"{name}: {text!r} is not a duration (e.g. 30d, 12h, 90m, 45s)")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def _parse_headers(text: str, *, name: str) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{name}: expected name=value pairs, got {part!r}")
        out.append((key.strip(), value.strip()))
    return tuple(out)


def _to_int(value: Any, *, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected an integer, got {value!r}") from None


def _coerce(name: str, value: Any, source: str) -> Any:
    """Turn a raw env/file value into the field's type."""
    label = f"{name} (from {source})"
    if name == "tokens":
        if isinstance(value, str):
            return tuple(t.strip() for t in value.split(",") if t.strip())
        return tuple(str(t) for t in value)
    if name == "forward_headers":
        if isinstance(value, str):
            return _parse_headers(value, name=label)
        if isinstance(value, Mapping):
            return tuple((str(k), str(v)) for k, v in value.items())
        raise ConfigError(f"{label}: expected name=value pairs or a table")
    if name == "grpc_port":
        if value in ("off", "none", "", None, -1):
            return None
        return _to_int(value, name=label)
    if name == "span_window":
        return parse_duration(str(value), name=label)
    if name in _POSITIVE_INTS or name in {"http_port", "retry_after_s"}:
        return _to_int(value, name=label)
    if name in _POSITIVE_FLOATS or name == "counter_rollup_s":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{label}: expected seconds, got {value!r}") from None
    return str(value)


_FILE_KEYS: Final = frozenset(
    {f.name for f in dataclasses.fields(CollectorConfig)} | {"span_window", "store"}
)


def _field_name(key: str) -> str:
    key = key.replace("-", "_")
    return {"store": "store_url", "span_window": "span_window_s"}.get(key, key)


def load_config(
    overrides: Mapping[str, Any] | None = None,
    *,
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> CollectorConfig:
    """Build the configuration: ``overrides`` (flags) > ``environ`` > ``config_file`` > defaults.

    ``overrides`` uses field names; ``None`` values mean "not given". The config
    file is TOML with the same names at the top level (or under ``[collector]``).
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {path}: {exc}") from exc
        data = data.get("collector", data)
        for key, raw in data.items():
            norm = key.replace("-", "_")
            if norm not in _FILE_KEYS:
                raise ConfigError(f"config file {path}: unknown setting {key!r}")
            coerced = _coerce(norm, raw, str(path))
            values[_field_name(norm)] = coerced
    for name, var in ENV.items():
        if var in env and env[var] != "":
            values[_field_name(name)] = _coerce(name, env[var], var)
    for name, raw in (overrides or {}).items():
        if raw is not None:
            values[_field_name(name)] = raw
    if "sqlite_synchronous" in values:
        values["sqlite_synchronous"] = str(values["sqlite_synchronous"]).upper()
    return CollectorConfig(**values)
