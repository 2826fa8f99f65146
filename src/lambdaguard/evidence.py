"""The evidence records the store hands out: one typed record per kind of fact.

:class:`ObservedCall` is *the* record of an AWS call a function made, as the
store keeps it: the only input of the IAM mapping in analysis
(:func:`lambdaguard.iam.authorizations_for_call`). The agent's hot-path
named tuple (``agent.recorder.AwsCall``) and the collector's per-request
``CallFact`` are how a call travels; this is how it is read. What a call
carries on the wire is listed once, in :mod:`lambdaguard.semconv` and
:mod:`lambdaguard.recorded`.

The other records are a function's evidence beside its calls: hosts it
connected to, invocations per day (with duration percentiles), the triggers,
versions and error types seen. Every record names its function's ARN, so a
fleet-wide read (one query for every function) returns a flat list.

Collector side only: the agent never imports this module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from lambdaguard import semconv

__all__ = [
    "SOURCE_LAMBDAGUARD",
    "SOURCE_OTEL",
    "DurationDay",
    "ErrorSeen",
    "FunctionSeen",
    "HostSeen",
    "InventoryEntry",
    "InventoryReading",
    "InvocationDay",
    "ObservedCall",
    "Principal",
    "TriggerSeen",
    "VersionSeen",
    "parse_params",
]

# Where a call's evidence came from: lambdaguard's own agent, or another
# OpenTelemetry instrumentation (botocore, the JavaScript AWS SDK, ADOT) whose
# spans name fewer resources, so a proposal built on them is less certain.
SOURCE_LAMBDAGUARD: Final = "lambdaguard"
SOURCE_OTEL: Final = "otel"


@dataclass(frozen=True, slots=True)
class Principal:
    """Whose credentials signed a call: the kind (``semconv.CREDENTIALS_*``) and a role ARN.

    ``role_arn`` is set for assumed-role credentials only; the execution role's
    ARN is known from the function's configuration, not from the call.
    """

    kind: str = semconv.CREDENTIALS_EXECUTION_ROLE
    role_arn: str = ""

    @property
    def is_execution_role(self) -> bool:
        """True when the call is charged to the function's own execution role.

        Calls recorded before the agent said whose credentials they used
        (``unknown`` or empty) are charged to the execution role, as they
        always were.
        """
        return self.kind in (
            semconv.CREDENTIALS_EXECUTION_ROLE,
            semconv.CREDENTIALS_UNKNOWN,
            "",
        )


def parse_params(text: str) -> tuple[dict[str, Any], bool]:
    """The recorded params as a dict, and whether they are whole.

    Rows written before schema version 2 could hold JSON cut mid-string; such
    params read as ``{}`` and not whole, so the mapping widens the resource and
    says why instead of failing or dropping the call.
    """
    if not text:
        return {}, True
    try:
        value = json.loads(text)
    except ValueError:
        return {}, False
    if not isinstance(value, dict):
        return {}, False
    return value, True


@dataclass(frozen=True, slots=True)
class ObservedCall:
    """A distinct AWS call a function made, with how often and when.

    ``params`` are the identifying request members the agent kept (see
    :mod:`lambdaguard.recorded`), ``params_complete`` is False when the agent
    or the collector had to cut them; ``response`` holds the response facts
    (``SSEKMSKeyId``, ``KeyId``, ``VersionId`` ...); ``error_code`` is empty on
    success. ``trace_id``/``span_id`` (hex) name one occurrence, so a reviewer
    can open it in a tracing backend.
    """

    function_arn: str
    account: str
    service: str  # botocore client name, e.g. "s3"
    operation: str  # botocore operation name, e.g. "GetObject"
    region: str
    params: Mapping[str, Any]
    phase: str = semconv.PHASE_INVOKE
    error_code: str = ""
    response: Mapping[str, str] = field(default_factory=dict)
    presign: bool = False
    params_complete: bool = True
    principal: Principal = Principal()
    via: str = semconv.VIA_SDK
    source: str = SOURCE_LAMBDAGUARD
    count: int = 1
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    trace_id: str = ""
    span_id: str = ""

    @property
    def succeeded(self) -> bool:
        """True when the call returned without an error code."""
        return not self.error_code

    @property
    def denied(self) -> bool:
        """True when the call failed with an authorization error."""
        code = self.error_code.lower()
        return "accessdenied" in code or "unauthorized" in code or code == "forbidden"


@dataclass(frozen=True, slots=True)
class FunctionSeen:
    """A function the collector has evidence for."""

    arn: str
    account: str
    region: str
    name: str
    layer_version: str
    runtime: str
    first_seen: datetime
    last_seen: datetime
    last_invoked: datetime | None


@dataclass(frozen=True, slots=True)
class HostSeen:
    """An outbound (host, port, tls) a function connected to."""

    function_arn: str
    host: str
    port: int
    tls: bool
    aws: bool
    count: int
    failures: int
    first_seen: datetime
    last_seen: datetime
    proxy: str = ""  # the HTTP proxy it was reached through (the host is the destination)


@dataclass(frozen=True, slots=True)
class InvocationDay:
    """A function's invocations on one UTC day."""

    function_arn: str
    day: date
    count: int
    cold_starts: int
    errors: int
    timeouts: int


@dataclass(frozen=True, slots=True)
class DurationDay:
    """A function's invocation durations on one UTC day (percentiles within ~5 %)."""

    function_arn: str
    day: date
    count: int
    p50_ms: float
    p95_ms: float
    max_ms: float


@dataclass(frozen=True, slots=True)
class TriggerSeen:
    """A trigger kind and source that invoked a function."""

    function_arn: str
    kind: str
    source: str
    count: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class VersionSeen:
    """A version (and alias, when invoked through one) that ran."""

    function_arn: str
    version: str
    alias: str
    count: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class ErrorSeen:
    """An error type a function's invocations (or its INIT) ended with."""

    function_arn: str
    phase: str
    error_type: str
    count: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class InventoryEntry:
    """A function as the account listed it (``lambdaguard inventory``), telemetry or not."""

    arn: str
    account: str
    region: str
    name: str
    runtime: str = ""
    role: str = ""
    package_type: str = "Zip"
    architectures: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()
    lambdaguard: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
    state: str = ""
    last_modified: datetime | None = None
    source: str = "live"  # live | export
    read_at: datetime | None = None
    # The rest of what was read, as JSON-ready data (schema v8): triggers, CloudWatch
    # days, last log event, attack surface. Written and read by analysis.inventory;
    # empty for rows an older lambdaguard wrote.
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InventoryReading:
    """One run of ``lambdaguard inventory`` as the store keeps it (schema v8).

    ``read_at`` is the instant it judged as of (the ``read_at`` of the
    :class:`InventoryEntry` rows it wrote); ``users`` and ``directory`` are
    None when they were not read or given.
    """

    read_at: datetime
    source: str  # live | export
    window_s: int
    functions: int
    partial: bool = False
    scopes: tuple[tuple[str, str], ...] = ()  # (account, region) listed in full
    users: tuple[str, ...] | None = None
    directory: tuple[str, ...] | None = None
    warnings: tuple[str, ...] = ()
    api_calls: Mapping[str, int] = field(default_factory=dict)
