"""The agent's configuration: every environment variable it reads, in one place.

Precedence, highest first: an explicit argument (``@instrument(endpoint=...)``),
a ``LAMBDAGUARD_*`` variable, the standard ``OTEL_*`` variable, the default.
Inside a function a bad value never raises: it prints one warning on stderr
naming the variable and falls back to the default (see :mod:`lambdaguard.errors`).

:class:`Config` is a hand-written slotted class, not a dataclass: this module
is on every cold start's INIT path, and creating a 20-field frozen dataclass
(its generated ``__init__``, ``__eq__``, ``__repr__``) cost ~1 ms there.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

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
# true: export after the response on awslambdaric's thread, else through an
# internal extension; always: through the extension; false: a worker thread.
LAMBDAGUARD_EXTENSION = "LAMBDAGUARD_EXTENSION"
# Bounds on records whose export failed, kept to go out with the next export.
LAMBDAGUARD_CARRY_RECORDS = "LAMBDAGUARD_CARRY_RECORDS"
LAMBDAGUARD_CARRY_BYTES = "LAMBDAGUARD_CARRY_BYTES"
# Set by the exec wrapper: the function's own handler, as `_HANDLER` had it.
LAMBDAGUARD_HANDLER = "LAMBDAGUARD_HANDLER"
# Evidence mode: seconds of wall time between two flushes of the repeat counts.
LAMBDAGUARD_FLUSH_INTERVAL = "LAMBDAGUARD_FLUSH_INTERVAL"
# Trace mode: all | sampled | off (per-invocation spans beside the evidence).
LAMBDAGUARD_TRACES = "LAMBDAGUARD_TRACES"
# How many distinct facts one environment remembers (beyond, facts are exported
# every time they occur: never lost, only sent more often).
LAMBDAGUARD_MAX_FACTS = "LAMBDAGUARD_MAX_FACTS"

OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
OTEL_EXPORTER_OTLP_HEADERS = "OTEL_EXPORTER_OTLP_HEADERS"
OTEL_EXPORTER_OTLP_TRACES_HEADERS = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
OTEL_EXPORTER_OTLP_TIMEOUT = "OTEL_EXPORTER_OTLP_TIMEOUT"
OTEL_EXPORTER_OTLP_TRACES_TIMEOUT = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"
OTEL_EXPORTER_OTLP_METRICS_ENDPOINT = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"
# Sampling and propagation, as the OpenTelemetry SDK configuration names them.
OTEL_TRACES_SAMPLER = "OTEL_TRACES_SAMPLER"
OTEL_TRACES_SAMPLER_ARG = "OTEL_TRACES_SAMPLER_ARG"
OTEL_PROPAGATORS = "OTEL_PROPAGATORS"

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
    LAMBDAGUARD_FLUSH_INTERVAL,
    LAMBDAGUARD_TRACES,
    LAMBDAGUARD_MAX_FACTS,
)
"""Every ``LAMBDAGUARD_*`` variable the agent reads."""

DEFAULT_ENDPOINT = "http://localhost:4318"
TRACES_PATH = "/v1/traces"
METRICS_PATH = "/v1/metrics"
TRACES_ALL = "all"
TRACES_SAMPLED = "sampled"
TRACES_OFF = "off"
TRACES_MODES = (TRACES_ALL, TRACES_SAMPLED, TRACES_OFF)
# LAMBDAGUARD_TRACES=sampled without OTEL_TRACES_SAMPLER_ARG: one trace in ten.
DEFAULT_SAMPLE_RATIO = 0.1
# OTEL_TRACES_SAMPLER -> (trace mode, parent-based); the ratio comes from
# OTEL_TRACES_SAMPLER_ARG (default 1.0, as the SDK specification says).
_SAMPLERS = {
    "always_on": (TRACES_ALL, False),
    "always_off": (TRACES_OFF, False),
    "traceidratio": (TRACES_SAMPLED, False),
    "parentbased_always_on": (TRACES_ALL, True),
    "parentbased_always_off": (TRACES_OFF, True),
    "parentbased_traceidratio": (TRACES_SAMPLED, True),
}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


_DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "traces_url": DEFAULT_ENDPOINT + TRACES_PATH,
    "metrics_url": DEFAULT_ENDPOINT + METRICS_PATH,
    "headers": (),
    "key_prefix_depth": 1,
    "record_full_keys": False,
    "log": True,
    "log_repeats": False,
    "export_timeout_ms": 1000,
    "max_aws_spans": 200,
    "extension": True,
    "force_extension": False,
    "carry_records": 100,
    "carry_bytes": 1024 * 1024,
    "service_name": "",
    "flush_interval_s": 60.0,
    "traces": TRACES_OFF,
    "sample_ratio": 1.0,
    "parent_based": True,
    "xray_parent": False,
    "max_facts": 4096,
}


class Config:
    """Everything the agent needs to know, decided once when it is installed (immutable).

    ``traces`` is the trace mode (:data:`TRACES_MODES`); ``sample_ratio`` the
    share of invocations traced in ``sampled`` mode, ``parent_based`` whether
    an incoming sampled/not-sampled decision (W3C ``traceparent`` flags) is
    followed there; ``xray_parent`` makes the X-Ray context of
    ``_X_AMZN_TRACE_ID`` the invocation span's parent instead of a link.
    ``log`` writes the JSON log line; ``log_repeats`` also for invocations
    that were only counted (``LAMBDAGUARD_LOG=true``), not only for those
    exported as spans and those that failed or timed out
    (``LAMBDAGUARD_LOG=exported``, the default: the log follows the spans).
    ``warnings`` are not part of equality.
    """

    __slots__ = (*_DEFAULTS, "warnings")

    enabled: bool
    traces_url: str
    metrics_url: str
    headers: tuple[tuple[str, str], ...]
    key_prefix_depth: int
    record_full_keys: bool
    log: bool
    log_repeats: bool
    export_timeout_ms: int
    max_aws_spans: int
    extension: bool
    force_extension: bool
    carry_records: int
    carry_bytes: int
    service_name: str
    flush_interval_s: float
    traces: str
    sample_ratio: float
    parent_based: bool
    xray_parent: bool
    max_facts: int
    warnings: tuple[str, ...]

    def __init__(self, *, warnings: tuple[str, ...] = (), **values: Any) -> None:
        unknown = set(values) - set(_DEFAULTS)
        if unknown:
            raise TypeError(f"unknown Config fields: {sorted(unknown)}")
        for name, default in _DEFAULTS.items():
            object.__setattr__(self, name, values.get(name, default))
        object.__setattr__(self, "warnings", warnings)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Config is immutable (tried to set {name!r})")

    def _key(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in _DEFAULTS)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _DEFAULTS)
        return f"Config({fields})"


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


LOG_EXPORTED = "exported"


def _log(env: Mapping[str, str], warnings: list[str]) -> tuple[bool, bool]:
    # (log, log_repeats): exported (the default) = a line for every invocation
    # exported as spans and every error or timeout, as the spans go; true = a
    # line per invocation, repeats included; false = none. Why not a line per
    # invocation by default: in evidence mode a repeat's ids reach no backend
    # (its counts go out as metrics, Lambda's own REPORT line has its request
    # id and duration), a line costs billed time on every invocation (~60 µs
    # of CPU in `make bench`'s loop) and CloudWatch Logs ingestion at fleet
    # scale (300 bytes x 50,000 invocations/s is ~1.3 TB a day).
    raw = env.get(LAMBDAGUARD_LOG)
    if raw is None or raw.strip().lower() in ("", LOG_EXPORTED):
        return True, False
    accepted: list[str] = []
    on = bool(_bool(env, LAMBDAGUARD_LOG, True, accepted))
    if accepted:
        _warn(warnings, LAMBDAGUARD_LOG, raw or "", "true, exported or false", LOG_EXPORTED)
        return True, False
    return on, on


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


def _metrics_url(base: str) -> str:
    base = base.strip().rstrip("/").removesuffix(TRACES_PATH)
    return base if base.endswith(METRICS_PATH) else base + METRICS_PATH


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


def _metrics_endpoint(env: Mapping[str, str], traces_url: str) -> str:
    # Same precedence as the traces URL; a traces URL given exactly (with no
    # base URL beside it) lends its scheme and host: /v1/traces -> /v1/metrics.
    for name, append in (
        (LAMBDAGUARD_ENDPOINT, True),
        (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, False),
        (OTEL_EXPORTER_OTLP_ENDPOINT, True),
    ):
        raw = env.get(name, "").strip()
        if raw.startswith(("http://", "https://")):
            return _metrics_url(raw) if append else raw
    if traces_url.endswith(TRACES_PATH):
        return traces_url.removesuffix(TRACES_PATH) + METRICS_PATH
    scheme, _, rest = traces_url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}{METRICS_PATH}"


def _float(
    env: Mapping[str, str],
    name: str,
    default: float,
    warnings: list[str],
    *,
    low: float,
    high: float,
) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # also false for NaN
        _warn(warnings, name, raw, f"a number from {low:g} to {high:g}", default)
        return default
    return value


def _tracing(env: Mapping[str, str], warnings: list[str]) -> tuple[str, float, bool, bool]:
    """(trace mode, ratio, parent-based, X-Ray context as parent) from the variables."""
    sampler_raw = env.get(OTEL_TRACES_SAMPLER, "").strip()
    sampler = _SAMPLERS.get(sampler_raw.lower())
    if sampler_raw and sampler is None:
        _warn(
            warnings,
            OTEL_TRACES_SAMPLER,
            sampler_raw,
            ", ".join(_SAMPLERS),
            "parentbased_always_on",
        )
    parent_based = sampler[1] if sampler is not None else True
    raw = env.get(LAMBDAGUARD_TRACES, "").strip()
    mode = raw.lower()
    if raw and mode not in TRACES_MODES:
        _warn(warnings, LAMBDAGUARD_TRACES, raw, "all, sampled or off", TRACES_OFF)
        mode = ""
    if not mode:
        # Unset: follow OTEL_TRACES_SAMPLER if given, else evidence mode only.
        mode = sampler[0] if sampler is not None else TRACES_OFF
    ratio = 1.0 if mode == TRACES_ALL else 0.0
    if mode == TRACES_SAMPLED:
        # OTEL_TRACES_SAMPLER=*traceidratio defaults its argument to 1.0 (SDK
        # configuration spec); LAMBDAGUARD_TRACES=sampled alone means one in ten.
        given = sampler is not None and sampler[0] == TRACES_SAMPLED
        default = 1.0 if given else DEFAULT_SAMPLE_RATIO
        ratio = _float(env, OTEL_TRACES_SAMPLER_ARG, default, warnings, low=0.0, high=1.0)
    propagators = [p.strip().lower() for p in env.get(OTEL_PROPAGATORS, "").split(",")]
    # semconv docs/faas/aws-lambda.md: "xray-lambda" in OTEL_PROPAGATORS gives the
    # X-Ray Active Tracing context priority (the user reports to X-Ray).
    return mode, ratio, parent_based, "xray-lambda" in propagators


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
            out[_unquote(key.strip()).lower()] = _unquote(value.strip())
    token = env.get(LAMBDAGUARD_TOKEN, "").strip()
    if token:
        out["authorization"] = f"Bearer {token}"
    return tuple(sorted(out.items()))


def _unquote(text: str) -> str:
    # urllib.parse.unquote, without importing urllib.parse at INIT for a
    # variable most functions do not set.
    if "%" not in text:
        return text
    from urllib.parse import unquote

    return unquote(text)


def load(env: Mapping[str, str] | None = None, **overrides: object) -> Config:
    """Build the configuration from ``env`` (default ``os.environ``) and explicit overrides.

    Overrides use the :class:`Config` field names, plus ``endpoint`` (a base URL).
    Unknown override names and ill-typed values are warned about and ignored.
    """
    env = os.environ if env is None else env
    warnings: list[str] = []
    in_lambda = bool(env.get(AWS_LAMBDA_FUNCTION_NAME))
    forced = _bool(env, LAMBDAGUARD_ENABLED, None, warnings)
    traces_url = _endpoint(env, warnings)
    mode, ratio, parent_based, xray_parent = _tracing(env, warnings)
    # "always": the internal extension even where the runtime hook would do
    # (other runtimes get it anyway); true/false as for any switch.
    always = env.get(LAMBDAGUARD_EXTENSION, "").strip().lower() == "always"
    log, log_repeats = _log(env, warnings)
    values: dict[str, object] = {
        "enabled": in_lambda if forced is None else forced,
        "traces_url": traces_url,
        "metrics_url": _metrics_endpoint(env, traces_url),
        "headers": _headers(env, warnings),
        "key_prefix_depth": _int(env, (LAMBDAGUARD_KEY_PREFIX_DEPTH,), 1, 0, warnings),
        "record_full_keys": bool(_bool(env, LAMBDAGUARD_RECORD_FULL_KEYS, False, warnings)),
        "log": log,
        "log_repeats": log_repeats,
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
        "extension": bool(_bool(env, LAMBDAGUARD_EXTENSION, True, [] if always else warnings)),
        "force_extension": always,
        # 0 turns the carry-over off (a failed export's records are dropped).
        "carry_records": _int(env, (LAMBDAGUARD_CARRY_RECORDS,), 100, 0, warnings),
        "carry_bytes": _int(env, (LAMBDAGUARD_CARRY_BYTES,), 1024 * 1024, 0, warnings),
        "service_name": env.get(OTEL_SERVICE_NAME, "") or env.get(AWS_LAMBDA_FUNCTION_NAME, ""),
        "flush_interval_s": _float(
            env, LAMBDAGUARD_FLUSH_INTERVAL, 60.0, warnings, low=0.0, high=86_400.0
        ),
        "traces": mode,
        "sample_ratio": ratio,
        "parent_based": parent_based,
        "xray_parent": xray_parent,
        "max_facts": _int(env, (LAMBDAGUARD_MAX_FACTS,), 4096, 0, warnings),
    }
    for name, value in overrides.items():
        if name == "endpoint" and isinstance(value, str):
            values["traces_url"] = _traces_url(value)
            values["metrics_url"] = _metrics_url(value)
        elif name == "traces" and value not in TRACES_MODES:
            warnings.append(f"lambdaguard: ignoring the argument {name}={value!r}")
        elif name in ("flush_interval_s", "sample_ratio") and type(value) is int:
            values[name] = float(value)
        elif name == "headers" and isinstance(value, Mapping):
            values["headers"] = tuple(sorted((str(k).lower(), str(v)) for k, v in value.items()))
        elif name in values and name != "headers" and type(value) is type(values[name]):
            values[name] = value
        else:
            warnings.append(f"lambdaguard: ignoring the argument {name}={value!r}")
    return Config(warnings=tuple(warnings), **values)


def emit_warnings(config: Config) -> None:
    """Print the configuration's warnings on stderr, one line each (never raises)."""
    for line in config.warnings:
        try:
            print(line, file=sys.stderr)
        except Exception:  # noqa: BLE001 - stderr closed: nothing else to do
            return
