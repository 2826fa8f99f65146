"""The agent's configuration: every environment variable it reads, in one place.

Precedence, highest first: an explicit argument (``@instrument(endpoint=...)``),
a ``LAMBDAGUARD_*`` variable, the standard ``OTEL_*`` variable, the default.
Inside a function a bad value never raises: it prints one warning on stderr
naming the variable and falls back to the default (see :mod:`lambdaguard.errors`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

__all__ = ["ENV", "Config", "load"]

# -- variable names (the only place they are spelled) ------------------------------
LAMBDAGUARD_ENABLED = "LAMBDAGUARD_ENABLED"
LAMBDAGUARD_ENDPOINT = "LAMBDAGUARD_ENDPOINT"
LAMBDAGUARD_TOKEN = "LAMBDAGUARD_TOKEN"  # noqa: S105 - a variable name, not a secret
LAMBDAGUARD_KEY_PREFIX_DEPTH = "LAMBDAGUARD_KEY_PREFIX_DEPTH"
LAMBDAGUARD_RECORD_FULL_KEYS = "LAMBDAGUARD_RECORD_FULL_KEYS"
LAMBDAGUARD_LOG = "LAMBDAGUARD_LOG"
LAMBDAGUARD_EXPORT_TIMEOUT_MS = "LAMBDAGUARD_EXPORT_TIMEOUT_MS"
LAMBDAGUARD_MAX_AWS_SPANS = "LAMBDAGUARD_MAX_AWS_SPANS"
LAMBDAGUARD_EXTENSION = "LAMBDAGUARD_EXTENSION"
# Bounds on records whose export failed, kept to go out with the next export.
LAMBDAGUARD_CARRY_RECORDS = "LAMBDAGUARD_CARRY_RECORDS"
LAMBDAGUARD_CARRY_BYTES = "LAMBDAGUARD_CARRY_BYTES"
# Set by the exec wrapper: the function's own handler, as `_HANDLER` had it.
LAMBDAGUARD_HANDLER = "LAMBDAGUARD_HANDLER"

OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
OTEL_EXPORTER_OTLP_HEADERS = "OTEL_EXPORTER_OTLP_HEADERS"
OTEL_EXPORTER_OTLP_TRACES_HEADERS = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
OTEL_EXPORTER_OTLP_TIMEOUT = "OTEL_EXPORTER_OTLP_TIMEOUT"
OTEL_EXPORTER_OTLP_TRACES_TIMEOUT = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"
OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"

# Set by Lambda itself (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html).
AWS_LAMBDA_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"
AWS_LAMBDA_FUNCTION_VERSION = "AWS_LAMBDA_FUNCTION_VERSION"
AWS_LAMBDA_FUNCTION_MEMORY_SIZE = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
AWS_LAMBDA_LOG_STREAM_NAME = "AWS_LAMBDA_LOG_STREAM_NAME"
AWS_LAMBDA_RUNTIME_API = "AWS_LAMBDA_RUNTIME_API"
AWS_LAMBDA_INITIALIZATION_TYPE = "AWS_LAMBDA_INITIALIZATION_TYPE"
AWS_REGION = "AWS_REGION"
AWS_EXECUTION_ENV = "AWS_EXECUTION_ENV"  # "AWS_Lambda_python3.12": the managed runtime
AWS_DEFAULT_REGION = "AWS_DEFAULT_REGION"
X_AMZN_TRACE_ID = "_X_AMZN_TRACE_ID"
HANDLER = "_HANDLER"
# The function's own credentials, as Lambda puts them in the environment: only
# compared with the key that signed a call (execution role or not), never exported.
AWS_ACCESS_KEY_ID = "AWS_ACCESS_KEY_ID"
# Ports of AWS's own Lambda extensions on localhost, as their documentation names
# them (defaults 2773 and 2772): requests to them are AWS calls the extension makes.
PARAMETERS_SECRETS_EXTENSION_HTTP_PORT = "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"
AWS_APPCONFIG_EXTENSION_HTTP_PORT = "AWS_APPCONFIG_EXTENSION_HTTP_PORT"

ENV = (
    LAMBDAGUARD_ENABLED,
    LAMBDAGUARD_ENDPOINT,
    LAMBDAGUARD_TOKEN,
    LAMBDAGUARD_KEY_PREFIX_DEPTH,
    LAMBDAGUARD_RECORD_FULL_KEYS,
    LAMBDAGUARD_LOG,
    LAMBDAGUARD_EXPORT_TIMEOUT_MS,
    LAMBDAGUARD_MAX_AWS_SPANS,
    LAMBDAGUARD_EXTENSION,
    LAMBDAGUARD_CARRY_RECORDS,
    LAMBDAGUARD_CARRY_BYTES,
    LAMBDAGUARD_HANDLER,
)
"""Every ``LAMBDAGUARD_*`` variable the agent reads."""

DEFAULT_ENDPOINT = "http://localhost:4318"
TRACES_PATH = "/v1/traces"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class Config:
    """Everything the agent needs to know, decided once when it is installed."""

    enabled: bool = False
    traces_url: str = DEFAULT_ENDPOINT + TRACES_PATH
    headers: tuple[tuple[str, str], ...] = ()
    key_prefix_depth: int = 1
    record_full_keys: bool = False
    log: bool = True
    export_timeout_ms: int = 1000
    max_aws_spans: int = 200
    extension: bool = True
    carry_records: int = 100
    carry_bytes: int = 1024 * 1024
    service_name: str = ""
    warnings: tuple[str, ...] = field(default=(), compare=False)


def _warn(warnings: list[str], name: str, value: str, accepted: str, default: object) -> None:
    warnings.append(
        f"lambdaguard: ignoring {name}={value!r} (accepted: {accepted}); using {default!r}"
    )


def _bool(
    env: Mapping[str, str], name: str, default: bool | None, warnings: list[str]
) -> bool | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    _warn(warnings, name, raw, "true/false/1/0/on/off", default)
    return default


def _int(
    env: Mapping[str, str], names: tuple[str, ...], default: int, low: int, warnings: list[str]
) -> int:
    for name in names:
        raw = env.get(name)
        if raw is None or raw.strip() == "":
            continue
        try:
            value = int(raw.strip())
        except ValueError:
            _warn(warnings, name, raw, f"an integer >= {low}", default)
            return default
        if value < low:
            _warn(warnings, name, raw, f"an integer >= {low}", default)
            return default
        return value
    return default


def _traces_url(base: str) -> str:
    base = base.strip().rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


def _endpoint(env: Mapping[str, str], warnings: list[str]) -> str:
    # LAMBDAGUARD_ENDPOINT and OTEL_EXPORTER_OTLP_ENDPOINT are base URLs (the
    # OTLP spec appends /v1/traces to the latter); the signal-specific
    # OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used exactly as given.
    candidates = (
        (LAMBDAGUARD_ENDPOINT, True),
        (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, False),
        (OTEL_EXPORTER_OTLP_ENDPOINT, True),
    )
    for name, append in candidates:
        raw = env.get(name, "").strip()
        if not raw:
            continue
        if not raw.startswith(("http://", "https://")):
            _warn(warnings, name, raw, "an http:// or https:// URL", DEFAULT_ENDPOINT)
            continue
        return _traces_url(raw) if append else raw
    return DEFAULT_ENDPOINT + TRACES_PATH


def _headers(env: Mapping[str, str], warnings: list[str]) -> tuple[tuple[str, str], ...]:
    # W3C-baggage-like "k1=v1,k2=v2" with URL-encoded values, per the OTLP
    # exporter specification; the signal-specific variable wins per key.
    out: dict[str, str] = {}
    for name in (OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_TRACES_HEADERS):
        raw = env.get(name, "")
        for item in raw.split(","):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                warnings.append(f"lambdaguard: ignoring a malformed entry in {name}")
                continue
            out[unquote(key.strip()).lower()] = unquote(value.strip())
    token = env.get(LAMBDAGUARD_TOKEN, "").strip()
    if token:
        out["authorization"] = f"Bearer {token}"
    return tuple(sorted(out.items()))


def load(env: Mapping[str, str] | None = None, **overrides: object) -> Config:
    """Build the configuration from ``env`` (default ``os.environ``) and explicit overrides.

    Overrides use the :class:`Config` field names, plus ``endpoint`` (a base URL).
    Unknown override names and ill-typed values are warned about and ignored.
    """
    env = os.environ if env is None else env
    warnings: list[str] = []
    in_lambda = bool(env.get(AWS_LAMBDA_FUNCTION_NAME))
    forced = _bool(env, LAMBDAGUARD_ENABLED, None, warnings)
    values: dict[str, object] = {
        "enabled": in_lambda if forced is None else forced,
        "traces_url": _endpoint(env, warnings),
        "headers": _headers(env, warnings),
        "key_prefix_depth": _int(env, (LAMBDAGUARD_KEY_PREFIX_DEPTH,), 1, 0, warnings),
        "record_full_keys": bool(_bool(env, LAMBDAGUARD_RECORD_FULL_KEYS, False, warnings)),
        "log": bool(_bool(env, LAMBDAGUARD_LOG, True, warnings)),
        "export_timeout_ms": _int(
            env,
            (
                LAMBDAGUARD_EXPORT_TIMEOUT_MS,
                OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
                OTEL_EXPORTER_OTLP_TIMEOUT,
            ),
            1000,
            1,
            warnings,
        ),
        "max_aws_spans": _int(env, (LAMBDAGUARD_MAX_AWS_SPANS,), 200, 1, warnings),
        "extension": bool(_bool(env, LAMBDAGUARD_EXTENSION, True, warnings)),
        # 0 turns the carry-over off (a failed export's records are dropped).
        "carry_records": _int(env, (LAMBDAGUARD_CARRY_RECORDS,), 100, 0, warnings),
        "carry_bytes": _int(env, (LAMBDAGUARD_CARRY_BYTES,), 1024 * 1024, 0, warnings),
        "service_name": env.get(OTEL_SERVICE_NAME, "") or env.get(AWS_LAMBDA_FUNCTION_NAME, ""),
    }
    for name, value in overrides.items():
        if name == "endpoint" and isinstance(value, str):
            values["traces_url"] = _traces_url(value)
        elif name == "headers" and isinstance(value, Mapping):
            values["headers"] = tuple(sorted((str(k).lower(), str(v)) for k, v in value.items()))
        elif name in values and name != "headers" and type(value) is type(values[name]):
            values[name] = value
        else:
            warnings.append(f"lambdaguard: ignoring the argument {name}={value!r}")
    return Config(warnings=tuple(warnings), **values)  # type: ignore[arg-type]


def emit_warnings(config: Config) -> None:
    """Print the configuration's warnings on stderr, one line each (never raises)."""
    for line in config.warnings:
        try:
            print(line, file=sys.stderr)
        except Exception:  # noqa: BLE001 - stderr closed: nothing else to do
            return
