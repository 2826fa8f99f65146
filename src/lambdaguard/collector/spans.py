"""What one OTLP trace request contributes to the store.

A request is reduced to :class:`SpanFacts`, one per span that says something
lambdaguard cares about (an invocation, an AWS call, an outbound connection),
keyed by ``trace_id + span_id``. The store keeps those keys for a bounded
window and aggregates only facts whose key it has not seen: exporter retries
and re-batching gateways resend the same spans, so span identity (not a digest
of the batch, which changes when a gateway re-batches) is what makes ingestion
idempotent.

Spans from other sources are tolerated: without a Lambda function ARN (from
the resource's ``cloud.resource_id`` or the span's ``lambdaguard.function.arn``)
a span contributes nothing, and missing attributes take neutral defaults.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from lambdaguard import recorded, semconv
from lambdaguard.evidence import SOURCE_LAMBDAGUARD

__all__ = [
    "CallFact",
    "FunctionFact",
    "HostFact",
    "InvocationFact",
    "SpanFacts",
    "TraceFacts",
    "call_key",
    "duration_bucket",
    "extract",
    "normalize_function_arn",
]

# Longest string kept per stored column; longer values are cut. Bounds row
# size whatever a client sends (the wire limit still bounds the request).
# Params are never cut mid-string: they are bounded as JSON (recorded.bound_params).
MAX_TEXT: Final = 512
MAX_PARAMS: Final = recorded.MAX_PARAMS_BYTES
# Response facts: at most this many, each value whole (a cut key id names no key).
MAX_RESPONSE_FACTS: Final = 16


@dataclass(frozen=True, slots=True)
class FunctionFact:
    """A Lambda function as identified by the resource."""

    arn: str
    account: str
    region: str
    name: str
    layer_version: str
    runtime: str = ""
    version: str = ""


@dataclass(frozen=True, slots=True)
class CallFact:
    """One recorded AWS API call (``count`` > 1 for folded overflow spans).

    ``params`` is valid JSON of the identifying members (``params_complete`` is
    False when the agent or the collector had to cut it); ``response`` is the
    compact sorted JSON of the response facts.
    """

    service: str
    operation: str
    region: str
    params: str
    phase: str
    error_code: str
    response: str
    presign: bool
    count: int
    params_complete: bool = True
    credentials: str = ""
    role_arn: str = ""
    via: str = semconv.VIA_SDK
    source: str = SOURCE_LAMBDAGUARD


@dataclass(frozen=True, slots=True)
class HostFact:
    """One outbound (host, port, tls) seen on a span's connection event."""

    host: str
    port: int
    tls: bool
    aws: bool
    count: int
    failures: int


@dataclass(frozen=True, slots=True)
class InvocationFact:
    """One invocation: its UTC day, cold start, outcome, trigger, version and duration."""

    day: str
    cold_start: bool
    outcome: str
    error_type: str = ""
    trigger_kind: str = ""
    trigger_source: str = ""
    version: str = ""
    alias: str = ""
    duration_bucket: int | None = None  # see duration_bucket()


@dataclass(frozen=True, slots=True)
class SpanFacts:
    """Everything one span contributes; ``key`` is trace_id + span_id (24 bytes)."""

    key: bytes
    function: FunctionFact
    time_ns: int
    call: CallFact | None
    invocation: InvocationFact | None
    hosts: tuple[tuple[HostFact, int], ...]  # (fact, event time ns)
    init_error: str = ""  # the error type an INIT span ended with


@dataclass(frozen=True, slots=True)
class TraceFacts:
    """The facts of one request, plus how many spans were rejected and why."""

    spans: tuple[SpanFacts, ...]
    total_spans: int
    rejected: int
    reject_reason: str


def normalize_function_arn(arn: str) -> str | None:
    """The unqualified function ARN, or None when ``arn`` is not a Lambda function ARN.

    ``arn:aws:lambda:eu-west-1:123456789012:function:name[:qualifier]``; the
    qualifier (version or alias) is dropped because permissions and inventory
    are per function.
    """
    parts = arn.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "lambda" or parts[5] != "function":
        return None
    if not parts[6]:
        return None
    return ":".join(parts[:7])


def call_key(call: CallFact) -> bytes:
    """Stable identity of a distinct call within a function (the store's key).

    Schema v1 keyed the SSE-KMS key id where v2 keys the response facts, so a
    call stored by 0.1.0 and seen again gets a second row; analysis merges rows
    by what they say, not by key.
    """
    ident = "\x1f".join(
        (
            call.service,
            call.operation,
            call.region,
            call.params,
            call.phase,
            call.error_code,
            call.response,
            "1" if call.presign else "0",
            "1" if call.params_complete else "0",
            call.credentials,
            call.role_arn,
            call.via,
            call.source,
        )
    )
    return hashlib.blake2b(ident.encode("utf-8", "surrogatepass"), digest_size=16).digest()


_SCALARS: Final = frozenset(("string_value", "bool_value", "int_value", "double_value"))


def _attrs(kvs: Iterable[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in kvs:
        value = kv.value
        which = value.WhichOneof("value")
        # Strings are nearly every attribute lambdaguard reads: test that first.
        if which == "string_value":
            out[kv.key] = value.string_value
        elif which in _SCALARS:
            out[kv.key] = getattr(value, which)
    return out


def _text(attrs: dict[str, Any], key: str, limit: int = MAX_TEXT) -> str:
    value = attrs.get(key)
    if value.__class__ is str:
        return value[:limit]
    if value is None or isinstance(value, bool):
        return "" if value is None else str(value).lower()
    return str(value)[:limit]


def _int(attrs: dict[str, Any], key: str, default: int) -> int:
    value = attrs.get(key)
    if isinstance(value, bool) or value is None:
        return default
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return default
    # Counts are clamped to a sane range so a hostile value cannot overflow
    # the BIGINT columns when summed.
    return max(0, min(number, 1 << 40))


def _bool(attrs: dict[str, Any], key: str) -> bool:
    value = attrs.get(key)
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() == "true"
    return False


@functools.lru_cache(maxsize=64)
def _day_of(day_number: int) -> str:
    return datetime.fromtimestamp(day_number * 86_400, UTC).strftime("%Y-%m-%d")


def _day(time_ns: int) -> str:
    # Unix time has exactly 86,400 s per UTC day (leap seconds are not
    # counted), so the day number is a plain division and the string is cached.
    return _day_of(time_ns // 86_400_000_000_000)


def duration_bucket(ms: float) -> int:
    """The log-scale histogram bucket of a duration: ``round(log(ms) / log(1.1))``.

    Bucket ``b`` stands for ``1.1**b`` ms, within 5 % of every duration in it;
    durations under 0.01 ms share the lowest bucket.
    """
    return round(math.log(max(ms, 0.01)) / _LOG_GROWTH)


_LOG_GROWTH: Final = math.log(1.1)


def _params(raw: Any, truncated: bool) -> tuple[str, bool]:
    # The agent's params, whole when they are a JSON object within the bound;
    # otherwise bounded as JSON (lists cut, never a string), or {} when they are
    # not JSON at all. Either way the call is kept and marked incomplete.
    if raw.__class__ is not str or not raw:
        return "{}", not raw and not truncated
    try:
        value = json.loads(raw)
    except ValueError:
        return "{}", False
    if not isinstance(value, dict):
        return "{}", False
    if len(raw) <= MAX_PARAMS and len(raw.encode("utf-8", "surrogatepass")) <= MAX_PARAMS:
        return raw, not truncated
    text, whole = recorded.bound_params(value, MAX_PARAMS)
    return text, whole and not truncated


def _response(attrs: dict[str, Any]) -> str:
    facts: dict[str, str] = {}
    raw = attrs.get(semconv.AWS_RESPONSE)
    if raw.__class__ is str and raw:
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if isinstance(value, dict):
            for name in sorted(value)[:MAX_RESPONSE_FACTS]:
                item = value[name]
                if isinstance(item, str) and item and len(item) <= MAX_TEXT and len(name) <= 64:
                    facts[name] = item
    # Agents before 0.2 sent two facts as attributes of their own.
    for attribute, name in (
        (semconv.AWS_KMS_KEY_ID, "SSEKMSKeyId"),
        (semconv.AWS_VERSION_ID, "VersionId"),
    ):
        item = attrs.get(attribute)
        if item.__class__ is str and item and len(item) <= MAX_TEXT:
            facts.setdefault(name, item)
    if not facts:
        return "{}"
    return json.dumps(facts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _float(attrs: dict[str, Any], key: str) -> float | None:
    value = attrs.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def _function_from(raw: str, resource: dict[str, Any]) -> FunctionFact | None:
    arn = normalize_function_arn(raw) if raw else None
    if arn is None:
        return None
    parts = arn.split(":")
    return FunctionFact(
        arn=arn,
        account=_text(resource, semconv.CLOUD_ACCOUNT_ID) or parts[4],
        region=_text(resource, semconv.CLOUD_REGION) or parts[3],
        name=_text(resource, semconv.FAAS_NAME) or parts[6],
        layer_version=_text(resource, semconv.LAYER_VERSION),
        runtime=_text(resource, semconv.FUNCTION_RUNTIME),
        version=_text(resource, semconv.FAAS_VERSION),
    )


def _unloaded_function(
    span: Any, attrs: dict[str, Any], resource: dict[str, Any]
) -> FunctionFact | None:
    """The function of a failed INIT span that carries no ARN, from name and region.

    A handler that cannot be imported fails before Lambda hands the runtime a
    context, so the agent knows only ``AWS_LAMBDA_FUNCTION_NAME``,
    ``AWS_REGION`` and the version. Its init error is kept against
    ``arn:aws:lambda:REGION:ACCOUNT:function:NAME`` with the account empty when
    unknown; analysis joins it to the function by region and name.
    """
    if span.name != semconv.INIT_SPAN_NAME and _text(attrs, semconv.PHASE) != semconv.PHASE_INIT:
        return None
    if _text(attrs, semconv.INVOCATION_OUTCOME) != semconv.OUTCOME_ERROR:
        return None
    name = _text(resource, semconv.FAAS_NAME)
    region = _text(resource, semconv.CLOUD_REGION)
    if not name or not region or ":" in name or ":" in region:
        return None
    account = _text(resource, semconv.CLOUD_ACCOUNT_ID)
    return FunctionFact(
        arn=f"arn:aws:lambda:{region}:{account if account.isdigit() else ''}:function:{name}",
        account=account if account.isdigit() else "",
        region=region,
        name=name,
        layer_version=_text(resource, semconv.LAYER_VERSION),
        runtime=_text(resource, semconv.FUNCTION_RUNTIME),
        version=_text(resource, semconv.FAAS_VERSION),
    )


def _hosts(span: Any, default_ns: int) -> Iterator[tuple[HostFact, int]]:
    for event in span.events:
        if event.name != semconv.CONNECTION_EVENT:
            continue
        attrs = _attrs(event.attributes)
        host = _text(attrs, semconv.SERVER_ADDRESS)
        if not host:
            continue
        port = _int(attrs, semconv.SERVER_PORT, 0)
        fact = HostFact(
            host=host,
            port=port if port <= 65535 else 0,
            tls=_bool(attrs, semconv.NET_TLS),
            aws=_bool(attrs, semconv.NET_AWS),
            count=_int(attrs, semconv.NET_COUNT, 1),
            failures=_int(attrs, semconv.NET_FAILURES, 0),
        )
        yield fact, event.time_unix_nano or default_ns


def extract(request: Any, *, now_ns: int) -> TraceFacts:
    """Reduce an ExportTraceServiceRequest to the facts lambdaguard stores."""
    found: dict[bytes, SpanFacts] = {}
    pending_phase: dict[bytes, bytes] = {}  # call span key -> parent span id
    init_span_ids: set[bytes] = set()
    # A request repeats the same few calls and outcomes many times: equal facts
    # are built once per request and shared (they are immutable).
    calls: dict[tuple[Any, ...], CallFact] = {}
    invocations: dict[tuple[Any, ...], InvocationFact] = {}
    total = rejected = 0
    for rs in request.resource_spans:
        resource = _attrs(rs.resource.attributes)
        # The resource names the function once for all its spans; a span's own
        # lambdaguard.function.arn (rare) overrides it.
        resource_function = _function_from(_text(resource, semconv.CLOUD_RESOURCE_ID), resource)
        for ss in rs.scope_spans:
            for span in ss.spans:
                total += 1
                trace_id = span.trace_id
                span_id = span.span_id
                if len(trace_id) != 16 or len(span_id) != 8:
                    rejected += 1
                    continue
                attrs = _attrs(span.attributes)
                own_arn = attrs.get(semconv.FUNCTION_ARN)
                function = (
                    _function_from(str(own_arn)[:MAX_TEXT], resource)
                    if own_arn
                    else resource_function
                )
                if function is None:
                    function = _unloaded_function(span, attrs, resource)
                    if function is None:
                        continue
                time_ns = span.start_time_unix_nano or now_ns
                phase = _text(attrs, semconv.PHASE)
                is_init = span.name == semconv.INIT_SPAN_NAME or phase == semconv.PHASE_INIT
                key = trace_id + span_id
                if is_init:
                    init_span_ids.add(span_id)
                call = invocation = None
                service = _text(attrs, semconv.AWS_SERVICE)
                operation = _text(attrs, semconv.AWS_OPERATION)
                init_error = ""
                if service and operation:
                    if not phase:
                        pending_phase[key] = span.parent_span_id
                    raw = (
                        service,
                        operation,
                        _text(attrs, semconv.AWS_REGION) or function.region,
                        attrs.get(semconv.AWS_PARAMS),
                        phase or semconv.PHASE_INVOKE,
                        _text(attrs, semconv.AWS_ERROR_CODE),
                        attrs.get(semconv.AWS_RESPONSE),
                        attrs.get(semconv.AWS_KMS_KEY_ID),
                        attrs.get(semconv.AWS_VERSION_ID),
                        _bool(attrs, semconv.AWS_PRESIGN),
                        max(1, _int(attrs, semconv.AWS_COUNT, 1)),
                        _bool(attrs, semconv.AWS_PARAMS_TRUNCATED),
                        _text(attrs, semconv.AWS_CREDENTIALS),
                        _text(attrs, semconv.AWS_CREDENTIALS_ROLE),
                        _text(attrs, semconv.AWS_VIA) or semconv.VIA_SDK,
                    )
                    call = calls.get(raw)
                    if call is None:
                        params, complete = _params(raw[3], raw[11])
                        call = calls[raw] = CallFact(
                            service=raw[0],
                            operation=raw[1],
                            region=raw[2],
                            params=params,
                            phase=raw[4],
                            error_code=raw[5],
                            response=_response(attrs),
                            presign=raw[9],
                            count=raw[10],
                            params_complete=complete,
                            credentials=raw[12],
                            role_arn=raw[13],
                            via=raw[14],
                        )
                elif not is_init and (
                    semconv.FAAS_INVOCATION_ID in attrs or semconv.INVOCATION_OUTCOME in attrs
                ):
                    outcome = _text(attrs, semconv.INVOCATION_OUTCOME) or semconv.OUTCOME_SUCCESS
                    duration = _float(attrs, semconv.INVOCATION_DURATION_MS)
                    inv_fields = (
                        _day(time_ns),
                        _bool(attrs, semconv.FAAS_COLDSTART),
                        outcome,
                        _text(attrs, semconv.INVOCATION_ERROR_TYPE),
                        _text(attrs, semconv.TRIGGER_KIND),
                        _text(attrs, semconv.TRIGGER_SOURCE),
                        function.version,
                        _text(attrs, semconv.FUNCTION_ALIAS),
                        None if duration is None else duration_bucket(duration),
                    )
                    invocation = invocations.get(inv_fields)
                    if invocation is None:
                        invocation = invocations[inv_fields] = InvocationFact(*inv_fields)
                elif is_init and (
                    _text(attrs, semconv.INVOCATION_OUTCOME) == semconv.OUTCOME_ERROR
                    or semconv.INVOCATION_ERROR_TYPE in attrs
                ):
                    init_error = _text(attrs, semconv.INVOCATION_ERROR_TYPE) or "error"
                hosts = tuple(_hosts(span, time_ns)) if len(span.events) else ()
                if call is None and invocation is None and not hosts and not is_init:
                    continue
                if key not in found:
                    found[key] = SpanFacts(
                        key, function, time_ns, call, invocation, hosts, init_error
                    )
    # A call span without its own phase attribute inherits it from its parent:
    # the agent makes calls made during INIT children of the init span.
    for key, parent in pending_phase.items():
        facts = found[key]
        if parent in init_span_ids and facts.call is not None:
            call = facts.call
            found[key] = dataclasses.replace(
                facts, call=dataclasses.replace(call, phase=semconv.PHASE_INIT)
            )
    reason = (
        f"{rejected} span(s) rejected: trace_id must be 16 bytes and span_id 8 bytes"
        if rejected
        else ""
    )
    return TraceFacts(tuple(found.values()), total, rejected, reason)
