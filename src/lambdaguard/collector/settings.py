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
    "forward_queue": "LAMBDAGUARD_FORWARD_QUEUE",
    "max_body_bytes": "LAMBDAGUARD_MAX_BODY_BYTES",
    "max_inflight": "LAMBDAGUARD_MAX_INFLIGHT",
    "max_connections": "LAMBDAGUARD_MAX_CONNECTIONS",
    "max_attributes": "LAMBDAGUARD_MAX_ATTRIBUTES",
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
    forward_queue: int = 1000
    forward_timeout_s: float = 5.0
    # Largest body accepted, on the wire and after decompression (413 beyond).
    max_body_bytes: int = 8 * 1024 * 1024
    # Requests decoded/stored at once; more get 429 + Retry-After. With
    # max_body_bytes this bounds the memory ingestion can take.
    max_inflight: int = 4
    # Open HTTP connections; more get an immediate 503 + Retry-After.
    max_connections: int = 64
    # Attributes allowed on one resource, scope, span, event or link (400 beyond).
    max_attributes: int = 1024
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
        for name in (
            "forward_queue",
            "max_body_bytes",
            "max_inflight",
            "max_connections",
            "max_attributes",
            "span_window_s",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)}")
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
    if name in {
        "http_port",
        "forward_queue",
        "max_body_bytes",
        "max_inflight",
        "max_connections",
        "max_attributes",
        "retry_after_s",
    }:
        return _to_int(value, name=label)
    if name in ("forward_timeout_s", "counter_rollup_s"):
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
