"""What one OTLP trace request contributes to the store.

A request is reduced to :class:`SpanFacts`, one per span that says something
lambdaguard cares about (an invocation, an AWS call, an outbound connection),
keyed by ``trace_id + span_id``. The store keeps those keys for a bounded
window and aggregates only facts whose key it has not seen: exporter retries
and re-batching gateways resend the same spans, so span identity (not a digest
of the batch, which changes when a gateway re-batches) is what makes ingestion
idempotent.

Spans from other instrumentations count too. An AWS call span from the
OpenTelemetry botocore or JavaScript AWS SDK instrumentation (or ADOT) --
``rpc.system=aws-api`` with ``rpc.service`` and ``rpc.method`` -- becomes a
call marked ``source="otel"``, with the resources those instrumentations name
(``aws.s3.bucket``, ``aws.dynamodb.table_names``, ``aws.sqs.queue_url``,
``messaging.destination.name`` ...) as its params, never complete (they name
fewer members than the agent records, so analysis gives them less
confidence). The function is found from the resource (``cloud.resource_id``,
``faas.id``, or ``faas.name`` with ``cloud.account.id`` and ``cloud.region``),
else from a span of the same trace that names it (the aws-lambda
instrumentation puts ``cloud.resource_id`` on the invocation span).

A span that says nothing lambdaguard keeps (no function, or neither a call,
an invocation, an init nor a connection) is not stored and is counted as
rejected with the reason, as the OTLP partial-success answer asks; it is
still forwarded. Missing attributes take neutral defaults.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

from lambdaguard import recorded, semconv
from lambdaguard.collector.otlp import DecodeLimits, ParsedCounter, check_limits
from lambdaguard.evidence import SOURCE_LAMBDAGUARD, SOURCE_OTEL

__all__ = [
    "CallFact",
    "FunctionFact",
    "HostFact",
    "InvocationFact",
    "SpanFacts",
    "TraceFacts",
    "call_key",
    "client_name",
    "duration_bucket",
    "extract",
    "normalize_function_arn",
]

# Longest string kept per stored column; longer values are cut. Bounds row
# size whatever a client sends (the wire limit still bounds the request).
# Params are never cut mid-string: they are bounded as JSON (recorded.bound_params).
MAX_TEXT: Final = 512
# What a NUL character in an attribute value is stored as, on every backend.
NUL_REPLACEMENT: Final = "\ufffd"
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
    proxy: str = ""  # the HTTP proxy the connection went through, "" when direct


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


class SpanFacts(NamedTuple):
    """Everything one span contributes; ``key`` is trace_id + span_id (24 bytes).

    A NamedTuple rather than a frozen dataclass: one is built per stored span
    (21 per agent request), and a frozen dataclass's ``__init__`` (a
    ``object.__setattr__`` per field) cost four times as much. Immutable all the same.
    """

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


# call_key's memo: extract() shares one CallFact among equal calls (of a request,
# and of requests whose call spans repeat byte for byte), and both the caps and the
# store need its key, so each distinct object is hashed once. By id, holding the
# object so its id cannot be reused; emptied when full. Dict operations are atomic
# under the GIL, so the receivers and the store's writer thread may share it.
_CALL_KEY_MEMO: Final = 4096
_call_keys: dict[int, tuple[CallFact, bytes]] = {}


def call_key(call: CallFact) -> bytes:
    """Stable identity of a distinct call within a function (the store's key).

    Schema v1 keyed the SSE-KMS key id where v2 keys the response facts, so a
    call stored by 0.1.0 and seen again gets a second row; analysis merges rows
    by what they say, not by key.
    """
    known = _call_keys.get(id(call))
    if known is not None and known[0] is call:
        return known[1]
    digest = _call_digest(call)
    if len(_call_keys) >= _CALL_KEY_MEMO:
        _call_keys.clear()
    _call_keys[id(call)] = (call, digest)
    return digest


def _call_digest(call: CallFact) -> bytes:
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


def _attrs(kvs: Iterable[Any], skip: frozenset[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in kvs:
        if skip is not None and kv.key in skip:
            continue
        value = kv.value
        which = value.WhichOneof("value")
        # Strings are nearly every attribute lambdaguard reads: test that first.
        if which == "string_value":
            text = value.string_value
            # PostgreSQL text cannot hold NUL (SQLite can, but then compares
            # oddly): every stored string enters here, so it is made safe here.
            out[kv.key] = text.replace("\x00", NUL_REPLACEMENT) if "\x00" in text else text
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


def _named_function(attrs: dict[str, Any], resource: dict[str, Any]) -> FunctionFact | None:
    """The function named by attributes, in either convention (see the module docstring)."""
    for key in (semconv.CLOUD_RESOURCE_ID, semconv.FAAS_ID):
        raw = attrs.get(key)
        if raw.__class__ is str and raw:
            found = _function_from(raw[:MAX_TEXT], resource)
            if found is not None:
                return found
    name = _text(attrs, semconv.FAAS_NAME)
    account = _text(attrs, semconv.CLOUD_ACCOUNT_ID)
    region = _text(attrs, semconv.CLOUD_REGION)
    if name and account.isdigit() and len(account) == 12 and region and ":" not in name + region:
        return _function_from(f"arn:aws:lambda:{region}:{account}:function:{name}", resource)
    return None


# rpc.service (the SDK's service id) -> botocore client name, where they differ
# by more than case and spaces ("Secrets Manager" -> "secretsmanager" needs no row).
_SERVICE_IDS: Final = {
    "cloudwatch logs": "logs",
    "eventbridge": "events",
    "sfn": "stepfunctions",
    "cognito identity provider": "cognito-idp",
    "api gateway": "apigateway",
    "apigatewaymanagementapi": "apigatewaymanagementapi",
    "bedrock runtime": "bedrock-runtime",
    "bedrock agent runtime": "bedrock-agent-runtime",
    "iot data plane": "iot-data",
    "elastic load balancing v2": "elbv2",
    "elastic load balancing": "elb",
    "route 53": "route53",
    "lex runtime v2": "lexv2-runtime",
    "sagemaker runtime": "sagemaker-runtime",
    "timestream write": "timestream-write",
    "timestream query": "timestream-query",
    "dynamodb streams": "dynamodbstreams",
}


def client_name(service_id: str) -> str:
    """The botocore client name for an SDK service id ("DynamoDB" -> "dynamodb")."""
    lowered = service_id.strip().lower()
    return _SERVICE_IDS.get(lowered) or lowered.replace(" ", "").replace("_", "")


def _string_list(span: Any, key: str) -> list[str]:
    for kv in span.attributes:
        if kv.key == key:
            value = kv.value
            if value.WhichOneof("value") == "array_value":
                return [v.string_value for v in value.array_value.values if v.string_value][:16]
            if value.WhichOneof("value") == "string_value" and value.string_value:
                return [value.string_value]
    return []


def _otel_params(
    service: str, operation: str, attrs: dict[str, Any], span: Any, function: FunctionFact
) -> dict[str, Any]:
    """The request members another instrumentation's attributes name, in botocore's shape."""
    params: dict[str, Any] = {}
    bucket = _text(attrs, semconv.OTEL_S3_BUCKET)
    if bucket:
        params["Bucket"] = bucket
        key = _text(attrs, semconv.OTEL_S3_KEY)
        if "/" in key:  # like the agent: keep the first directory only
            params["Key"] = key.split("/", 1)[0] + "/"
    tables = _string_list(span, semconv.OTEL_DYNAMODB_TABLE_NAMES)
    if tables:
        if operation.startswith("Batch"):
            params["RequestItems"] = {t: {} for t in tables}
        elif operation.startswith("Transact"):
            params["TransactItems"] = [{"Put": {"TableName": t}} for t in tables]
        else:
            params["TableName"] = tables[0]
    queue_url = _text(attrs, semconv.OTEL_SQS_QUEUE_URL)
    destination = _text(attrs, semconv.MESSAGING_DESTINATION_NAME)
    if queue_url:
        params["QueueUrl"] = queue_url
    elif service == "sqs" and destination:
        params["QueueUrl"] = (
            f"https://sqs.{function.region}.amazonaws.com/{function.account}/{destination}"
        )
    topic = _text(attrs, semconv.OTEL_SNS_TOPIC_ARN)
    if not topic and service == "sns" and destination.startswith("arn:"):
        topic = destination
    if topic:
        params["TopicArn"] = topic
    invoked = _text(attrs, semconv.OTEL_LAMBDA_INVOKED_ARN) or _text(
        attrs, semconv.FAAS_INVOKED_NAME
    )
    if invoked and service == "lambda":
        params["FunctionName"] = invoked
    for attribute, member in (
        (semconv.OTEL_SECRET_ARN, "SecretId"),
        (semconv.OTEL_STATE_MACHINE_ARN, "stateMachineArn"),
        (semconv.OTEL_KINESIS_STREAM_NAME, "StreamName"),
    ):
        value = _text(attrs, attribute)
        if value:
            params[member] = value
    return params


def _otel_call(attrs: dict[str, Any], span: Any, function: FunctionFact) -> CallFact | None:
    """A call from another instrumentation's span (rpc.system=aws-api), or None."""
    service_id = _text(attrs, semconv.RPC_SERVICE)
    operation = _text(attrs, semconv.RPC_METHOD)
    if not service_id or not operation:
        return None
    service = client_name(service_id)
    params = _otel_params(service, operation, attrs, span, function)
    error = ""
    if span.status.code == 2:  # STATUS_CODE_ERROR
        error = _text(attrs, semconv.ERROR_TYPE) or "Error"
    return CallFact(
        service=service,
        operation=operation,
        region=_text(attrs, semconv.OTEL_AWS_REGION) or function.region,
        params=json.dumps(params, sort_keys=True, separators=(",", ":")),
        phase=semconv.PHASE_INVOKE,
        error_code=error,
        response="{}",
        presign=False,
        count=1,
        # Another instrumentation names only a few members: never the whole request.
        params_complete=False,
        credentials=semconv.CREDENTIALS_UNKNOWN,
        source=SOURCE_OTEL,
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
            proxy=_text(attrs, semconv.NET_PROXY),
        )
        yield fact, event.time_unix_nano or default_ns


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _children(buf: bytes, pos: int, end: int, want: int) -> list[tuple[int, int]]:
    """(start, end) of each length-delimited field with tag byte ``want`` in buf[pos:end]."""
    out = []
    while pos < end:
        tag = buf[pos]
        pos += 1
        if tag >= 0x80:
            tag, pos = _varint(buf, pos - 1)
        wire_type = tag & 7
        if wire_type == 2:
            n = buf[pos]
            pos += 1
            if n >= 0x80:  # a span is usually 128 bytes to 16 KiB: two bytes of length
                second = buf[pos]
                if second < 0x80:
                    n = (n & 0x7F) | second << 7
                    pos += 1
                else:
                    n, pos = _varint(buf, pos - 1)
            if tag == want:
                out.append((pos, pos + n))
            pos += n
        elif wire_type == 0:
            while buf[pos] >= 0x80:
                pos += 1
            pos += 1
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        else:
            raise ValueError(f"wire type {wire_type}")
    if pos != end:
        raise ValueError("truncated")
    return out


_ATTRIBUTES_TAG: Final = 9 << 3 | 2  # Span.attributes
_EVENTS_TAG: Final = 11 << 3 | 2
_LINKS_TAG: Final = 13 << 3 | 2
_ATTRIBUTES: Final = ParsedCounter.ATTRIBUTES
# Distinct attribute sets remembered per request, and the longest one remembered: the
# agent sends a few short ones; a request of large or all-different spans (each read on
# its own past these) holds at most 256 x 4 KiB more than before.
_MAX_SHAPES: Final = 256
_MAX_SHAPE_BYTES: Final = 4096
# Shared by every request (the collector's process): the agent's call spans repeat
# byte for byte across invocations of a function, and so do its resources. At most
# this many entries each, of at most _MAX_SHAPE_BYTES of key; a full memo is emptied
# and refilled (a flood of distinct shapes costs what it cost before, no more memory).
# Only what a span's bytes fully determine is shared: call shapes (never an
# invocation's, which carries its own id) and a resource's function.
_MAX_SHARED: Final = 1024
_shared_shapes: dict[bytes, _Shape] = {}
_shared_resources: dict[bytes, tuple[dict[str, Any], FunctionFact | None, int]] = {}
_shared_calls: dict[tuple[Any, ...], CallFact] = {}


def _attribute_start(buf: bytes, pos: int, end: int) -> int:
    """Where a span's bytes from its first attribute on start (``end`` when it has none).

    Every attribute of the span is in it, so two spans with equal such bytes
    have equal attributes; the span's own ids and times come before the
    attributes in every encoder's field order, so the agent's repeated calls
    give equal bytes (a span whose fields come in another order only misses
    the sharing).
    """
    # The usual head, straight through: trace_id (16 bytes), span_id (8),
    # parent_span_id (8), a short name, kind, start and end times.
    if (
        pos + 28 <= end
        and buf[pos] == 0x0A
        and buf[pos + 1] == 16
        and buf[pos + 18] == 0x12
        and buf[pos + 19] == 8
    ):
        pos += 28
        if pos + 10 <= end and buf[pos] == 0x22 and buf[pos + 1] == 8:
            pos += 10
        if pos + 2 <= end and buf[pos] == 0x2A and buf[pos + 1] < 0x80:
            pos += 2 + buf[pos + 1]
        if pos + 2 <= end and buf[pos] == 0x30 and buf[pos + 1] < 0x80:
            pos += 2
        if pos + 9 <= end and buf[pos] == 0x39:
            pos += 9
        if pos + 9 <= end and buf[pos] == 0x41:
            pos += 9
        if pos < end and buf[pos] == _ATTRIBUTES_TAG:
            return pos
    while pos < end:
        start = pos
        tag = buf[pos]
        pos += 1
        if tag >= 0x80:
            tag, pos = _varint(buf, start)
        wire_type = tag & 7
        if wire_type == 2:
            if tag == _ATTRIBUTES_TAG:
                return start
            if tag in (_EVENTS_TAG, _LINKS_TAG):
                # What the limits count must all lie in the shared bytes.
                raise ValueError("events or links before the attributes")
            n = buf[pos]
            pos += 1
            if n >= 0x80:
                n, pos = _varint(buf, pos - 1)
            pos += n
        elif wire_type == 0:
            while buf[pos] >= 0x80:
                pos += 1
            pos += 1
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        else:
            raise ValueError(f"wire type {wire_type}")
    if pos != end:
        raise ValueError("truncated")
    return end


def _attribute_keys(payload: bytes, spans: int, resources: int) -> list[int] | None:
    """Per resource, where its bytes start and end, then per span of it, in order, where
    the bytes that hold all its attributes start and end (two offsets each; see
    _attribute_start): equal bytes parse to equal attributes, so repeated spans and
    resources are read once. Offsets, not copies, so the request's bytes are not held
    twice. None when the payload does not hold exactly ``resources`` resources and
    ``spans`` spans as walked (then every span is read on its own)."""
    keys: list[int] = []
    try:
        for rs in _children(payload, 0, len(payload), 0x0A):  # resource_spans
            resource = _children(payload, rs[0], rs[1], 0x0A)
            # Where the resource's bytes are (-1, -1: none, or more than one).
            keys += resource[0] if len(resource) == 1 else (-1, -1)
            for ss in _children(payload, rs[0], rs[1], 0x12):  # scope_spans
                for start, end in _children(payload, ss[0], ss[1], 0x12):  # spans
                    keys.append(_attribute_start(payload, start, end))
                    keys.append(end)
    except (IndexError, ValueError):
        return None
    return keys if len(keys) == 2 * spans + 2 * resources else None


# Attributes an exporter sets per occurrence of a call, which the collector never
# reads: the layer's (agent/export.py) and OpenTelemetry's AWS SDK instrumentations'.
# Left out of a call span's memo key (and its shape), so the layer's call spans,
# alike but for these, are read once per process, not once per span.
_OCCURRENCE_KEYS: Final = frozenset(
    (
        semconv.AWS_REQUEST_ID,
        semconv.AWS_RETRIES,
        semconv.AWS_LATENCY_MS,
        semconv.HTTP_RESPONSE_STATUS_CODE,
    )
)
_OCCURRENCE_KEY_BYTES: Final = frozenset(k.encode() for k in _OCCURRENCE_KEYS)
# A KeyValue's own bytes start with its key field: tag 1 (0x0A), length, key.
_OCCURRENCE_MARKS: Final = tuple(b"\x0a" + bytes((len(k),)) + k for k in _OCCURRENCE_KEY_BYTES)


# One search finds the next of them in a span's bytes (C speed, not a Python walk).
_OCCURRENCE_MARK: Final = re.compile(b"|".join(re.escape(m) for m in _OCCURRENCE_MARKS))
# Byte runs known to be a whole number of attribute fields (tag 9, length-delimited),
# as a walk from a field boundary found them: equal bytes from a field boundary parse to
# equal fields, so the same run met again at a boundary ends at a boundary, and the walk
# over it is skipped. In the layer's call spans these are the runs between the
# per-occurrence attributes, the same in every span of a call. Bounded as the memos are.
_attribute_runs: set[bytes] = set()


class _Layout(NamedTuple):
    """A call span's bytes but for the values of its per-occurrence attributes (see _fact_key)."""

    fields: tuple[tuple[bytes, bytes], ...]  # per left-out field: the bytes before it, its key's
    tail: bytes  # the bytes after the last one
    key: bytes


# Layouts of spans read before, by their first attribute bytes (short, so that they end
# before a per-occurrence field: in the layer's call spans rpc.system and the start of
# rpc.service); the newest few per head, at most _MAX_SHARED in all (emptied when full,
# without a count that threads share), each of at most _MAX_SHAPE_BYTES of bytes and as
# much of key: at most 8 MiB, whatever the traffic.
_LAYOUT_HEAD: Final = 48
_LAYOUTS_PER_HEAD: Final = 16
_MAX_LAYOUT_HEADS: Final = _MAX_SHARED // _LAYOUTS_PER_HEAD
_layouts: dict[bytes, list[_Layout]] = {}


def _fact_key(buf: bytes, start: int, end: int) -> tuple[bytes, int]:
    """The span's memo key without its per-occurrence attributes, and how many it had.

    A span laid out like one read before (the same bytes but for the values of the
    fields left out, each field as long as its own header says) has that span's key:
    equal bytes from a field boundary parse to equal fields, and each left-out field's
    header says where the next bytes start. A few byte compares instead of a search per
    field; any other span is read by _searched_fact_key.
    """
    head = buf[start : start + _LAYOUT_HEAD]
    for layout in _layouts.get(head, ()):
        pos = start
        for before, key in layout.fields:
            if not buf.startswith(before, pos):
                break
            pos += len(before)
            if pos + 2 >= end or buf[pos] != _ATTRIBUTES_TAG:
                break
            n = buf[pos + 1]
            if n < 0x80:
                body = pos + 2
            elif buf[pos + 2] < 0x80:
                n = (n & 0x7F) | buf[pos + 2] << 7
                body = pos + 3
            else:
                break
            if n < len(key) or not buf.startswith(key, body):
                break
            pos = body + n
        else:
            if end - pos == len(layout.tail) and buf.startswith(layout.tail, pos):
                return layout.key, len(layout.fields)
    left_out: list[tuple[int, int, int]] = []
    key, skipped = _searched_fact_key(buf, start, end, left_out)
    if skipped and len(left_out) == skipped:
        _learn_layout(buf, start, end, head, left_out, key=key)
    return key, skipped


def _learn_layout(
    buf: bytes,
    start: int,
    end: int,
    head: bytes,
    left_out: list[tuple[int, int, int]],
    *,
    key: bytes,
) -> None:
    fields = []
    at = start
    for field, mark, following in left_out:
        fields.append((buf[at:field], buf[mark : mark + 2 + buf[mark + 1]]))
        at = following
    known = _layouts.get(head)
    if known is None:
        known = []
        if len(_layouts) >= _MAX_LAYOUT_HEADS:
            _layouts.clear()
    # Replaced, not changed in place: a reader on another thread (the decode pool) keeps
    # iterating the list it took.
    _layouts[head] = [*known[1 - _LAYOUTS_PER_HEAD :], _Layout(tuple(fields), buf[at:end], key)]


def _searched_fact_key(
    buf: bytes, start: int, end: int, left_out: list[tuple[int, int, int]]
) -> tuple[bytes, int]:
    """The span's memo key without its per-occurrence attributes, and how many it had;
    ``left_out`` gets (field start, key start, field end) of each field left out.

    ``start`` is where the span's attributes start (a field boundary, see
    _attribute_start), ``end`` where the span ends. What is left out is always a
    whole attribute field (tag 9, length-delimited) whose key is per occurrence,
    reached from ``start`` through attribute fields only: the next key's bytes are
    found by a search, and the run of fields before it is walked field by field
    (or known, see _attribute_runs) to prove the key starts a field. The first field
    that is not an attribute ends the skipping; what follows stays in the key. A span
    not read this way is keyed by all its bytes, as before.
    """
    found = _OCCURRENCE_MARK.search(buf, start, end)
    if found is None:
        return buf[start:end], 0
    parts: list[bytes] = []
    keep = pos = start  # pos: a field boundary, reached through attribute fields only
    skipped = 0
    runs = _attribute_runs
    try:
        while found is not None:
            mark = found.start()
            # The field holding the key starts with tag 9 and its length: one byte, or two.
            if buf[mark - 2] == _ATTRIBUTES_TAG and buf[mark - 1] < 0x80:
                field = mark - 2
            elif buf[mark - 3] == _ATTRIBUTES_TAG and buf[mark - 2] >= 0x80 > buf[mark - 1]:
                field = mark - 3
            else:
                field = -1
            if field < pos:  # not where a field of this span can start: inside a value
                found = _OCCURRENCE_MARK.search(buf, mark + 1, end)
                continue
            if field > pos:
                run = buf[pos:field]
                if run not in runs:
                    at = pos
                    while at < field and buf[at] == _ATTRIBUTES_TAG:
                        n = buf[at + 1]
                        if n < 0x80:
                            at += 2 + n
                        elif buf[at + 2] < 0x80:
                            at += 3 + ((n & 0x7F) | buf[at + 2] << 7)
                        else:  # a field over 16 KiB: no per-occurrence attribute
                            return _joined(parts, buf, keep, end), skipped
                    if at < field:  # a field that is not an attribute: skipping ends
                        break
                    if at > field:  # the key's bytes were inside a value; go on after it
                        pos = at
                        found = _OCCURRENCE_MARK.search(buf, at, end)
                        continue
                    if len(run) <= _MAX_SHAPE_BYTES:
                        if len(runs) >= _MAX_SHARED:
                            runs.clear()
                        runs.add(run)
            # An attribute field starts here; when its key is per occurrence, it is left out.
            n = buf[field + 1]
            following = mark + (n if n < 0x80 else (n & 0x7F) | buf[field + 2] << 7)
            if following > end:
                return buf[start:end], 0
            if found.end() <= following:  # the key lies within the field: it is its key
                parts.append(buf[keep:field])
                keep = following
                skipped += 1
                left_out.append((field, mark, following))
            pos = following
            found = _OCCURRENCE_MARK.search(buf, pos, end)
    except IndexError:
        return buf[start:end], 0
    return _joined(parts, buf, keep, end), skipped


def _joined(parts: list[bytes], buf: bytes, keep: int, end: int) -> bytes:
    parts.append(buf[keep:end])
    return b"".join(parts)


@dataclass(slots=True)
class _Shape:
    """What a span's attributes say, read once per distinct attribute bytes in a request."""

    attrs: dict[str, Any]
    own_arn: Any
    names_function: bool
    phase: str
    service: str
    operation: str
    invocation: bool
    rpc_aws: bool
    calls: dict[str, CallFact | None]  # by the function's region (the call's default region)
    # What the decode limits count: attributes, events (connection events are
    # read only when there are some), and each event's and link's attributes.
    n_attrs: int
    n_events: int
    sub_attrs: tuple[tuple[int, str], ...]


def _shape(span: Any, skipped: int = 0) -> _Shape:
    """``skipped``: how many per-occurrence attributes the span's memo key left out
    (see _fact_key); they are left out of the shape too, and counted per span."""
    attributes = span.attributes
    attrs = _attrs(attributes, _OCCURRENCE_KEYS if skipped else None)
    events = span.events
    links = span.links
    return _Shape(
        n_attrs=len(attributes) - skipped,
        n_events=len(events),
        sub_attrs=(
            *[(len(e.attributes), "span event") for e in events],
            *[(len(link.attributes), "span link") for link in links],
        ),
        attrs=attrs,
        own_arn=attrs.get(semconv.FUNCTION_ARN),
        names_function=semconv.CLOUD_RESOURCE_ID in attrs or semconv.FAAS_ID in attrs,
        phase=_text(attrs, semconv.PHASE),
        service=_text(attrs, semconv.AWS_SERVICE),
        operation=_text(attrs, semconv.AWS_OPERATION),
        invocation=semconv.FAAS_INVOCATION_ID in attrs or semconv.INVOCATION_OUTCOME in attrs,
        rpc_aws=attrs.get(semconv.RPC_SYSTEM) == semconv.RPC_SYSTEM_AWS,
        calls={},
    )


def _count(counter: ParsedCounter, shape: _Shape, n_attrs: int | None = None) -> None:
    """Count one span for the decode limits, as otlp's check of a parsed request does."""
    counter.attrs(shape.n_attrs if n_attrs is None else n_attrs, "span")
    if shape.sub_attrs:
        counter.add(counter.EVENTS, len(shape.sub_attrs))
        for n, what in shape.sub_attrs:
            counter.attrs(n, what)


def _agent_call(
    shape: _Shape,
    attrs: dict[str, Any],
    function: FunctionFact,
    calls: dict[tuple[Any, ...], CallFact],
) -> CallFact:
    """The call an agent span records; equal calls of a request share one CallFact."""
    raw = (
        shape.service,
        shape.operation,
        _text(attrs, semconv.AWS_REGION) or function.region,
        attrs.get(semconv.AWS_PARAMS),
        shape.phase or semconv.PHASE_INVOKE,
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
        call = _shared_calls.get(raw)
        if call is not None:
            calls[raw] = call
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
        if len(str(raw[3])) + len(str(raw[6])) <= _MAX_SHAPE_BYTES:
            if len(_shared_calls) >= _MAX_SHARED:
                _shared_calls.clear()
            _shared_calls[raw] = call
    return call


def extract(
    request: Any,
    *,
    now_ns: int,
    payload: bytes | None = None,
    limits: DecodeLimits | None = None,
) -> TraceFacts:
    """Reduce an ExportTraceServiceRequest to the facts lambdaguard stores.

    ``payload`` is the request's protobuf encoding when the caller has it (the
    decoded body); without it the request is serialized once here. Spans with
    the same attribute bytes (the agent's repeated calls) are read once per
    request, and call spans and resources alike across requests: reading
    attributes through protobuf objects is most of the cost.

    ``limits``: the request was decoded with ``defer_span_counts``; its
    attributes, events and spans are counted here, from the same shapes
    (:class:`~lambdaguard.collector.otlp.IngestError` 413 past a limit, as
    :func:`~lambdaguard.collector.otlp.decode_body` would have answered).
    """
    found: dict[bytes, SpanFacts] = {}
    pending_phase: dict[bytes, bytes] = {}  # call span key -> parent span id
    init_span_ids: set[bytes] = set()
    # A request repeats the same few calls and outcomes many times: equal facts
    # are built once per request and shared (they are immutable).
    calls: dict[tuple[Any, ...], CallFact] = {}
    invocations: dict[tuple[Any, ...], InvocationFact] = {}
    # Other instrumentations: the function named by a span of the same trace.
    trace_functions: dict[bytes, FunctionFact] = {}
    deferred: list[tuple[bytes, bytes, Any, dict[str, Any]]] = []
    total = rejected = unnamed = shapeless = 0
    count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    if payload is None:
        payload = request.SerializeToString()
    keys = _attribute_keys(payload, count, len(request.resource_spans))
    counter = None
    if limits is not None:
        if keys is None:  # spans not walked: counted on the message, as decode_body does
            check_limits("traces", request, limits)
        else:
            counter = ParsedCounter("traces", limits)
            counter.add(counter.RESOURCES, len(request.resource_spans))
            counts = counter.counts
            max_attributes = counter.max_attributes
            max_total = counter.max_total
    shapes: dict[bytes, _Shape] = {}
    at = 0  # the next offset pair in keys
    for rs in request.resource_spans:
        rkey = None
        if keys is not None:
            start = keys[at]
            end = keys[at + 1]
            at += 2
            if start >= 0 and end - start <= _MAX_SHAPE_BYTES:
                rkey = payload[start:end]
        known = _shared_resources.get(rkey) if rkey is not None else None
        if known is None:
            attributes = rs.resource.attributes
            resource = _attrs(attributes)
            # The resource names the function once for all its spans; a span's own
            # lambdaguard.function.arn (rare) overrides it.
            resource_function = _named_function(resource, resource)
            resource_attrs = len(attributes)
            if rkey is not None:
                if len(_shared_resources) >= _MAX_SHARED:
                    _shared_resources.clear()
                _shared_resources[rkey] = (resource, resource_function, resource_attrs)
        else:
            resource, resource_function, resource_attrs = known
        if counter is not None:
            counter.attrs(resource_attrs, "resource")
        for ss in rs.scope_spans:
            if counter is not None:
                counter.attrs(len(ss.scope.attributes), "scope")
                counter.add(counter.ITEMS, len(ss.spans))
            for span in ss.spans:
                total += 1
                trace_id = span.trace_id
                span_id = span.span_id
                if len(trace_id) != 16 or len(span_id) != 8:
                    rejected += 1
                    at += 2
                    if counter is not None:
                        _count(counter, _shape(span))
                    continue
                akey = None
                skipped = 0
                if keys is not None:
                    start = keys[at]
                    end = keys[at + 1]
                    if end - start <= _MAX_SHAPE_BYTES:
                        akey, skipped = _fact_key(payload, start, end)
                at += 2
                shape = None
                if akey is not None:
                    shape = shapes.get(akey) or _shared_shapes.get(akey)
                if shape is None:
                    shape = _shape(span, skipped)
                    if akey is not None:
                        if len(shapes) < _MAX_SHAPES:
                            shapes[akey] = shape
                        if shape.service and shape.operation:
                            if len(_shared_shapes) >= _MAX_SHARED:
                                _shared_shapes.clear()
                            _shared_shapes[akey] = shape
                if counter is not None:
                    # _count() inlined for the usual span: attributes only, within limits.
                    n = shape.n_attrs + skipped
                    counts[_ATTRIBUTES] += n
                    if n > max_attributes or counts[_ATTRIBUTES] > max_total or shape.sub_attrs:
                        counts[_ATTRIBUTES] -= n
                        _count(counter, shape, n)
                attrs = shape.attrs
                own_arn = shape.own_arn
                function = (
                    _function_from(str(own_arn)[:MAX_TEXT], resource)
                    if own_arn
                    else resource_function
                )
                if function is None and shape.names_function:
                    function = _named_function(attrs, resource)
                if function is not None and function is not resource_function:
                    trace_functions.setdefault(trace_id, function)
                if function is None:
                    function = _unloaded_function(span, attrs, resource)
                if function is None:
                    if shape.rpc_aws:
                        deferred.append((trace_id, span_id, span, attrs))
                    else:
                        unnamed += 1
                    continue
                time_ns = span.start_time_unix_nano or now_ns
                phase = shape.phase
                is_init = phase == semconv.PHASE_INIT or span.name == semconv.INIT_SPAN_NAME
                key = trace_id + span_id
                if is_init:
                    init_span_ids.add(span_id)
                call = invocation = None
                init_error = ""
                if shape.service and shape.operation:
                    if not phase:
                        pending_phase[key] = span.parent_span_id
                    call = shape.calls.get(function.region)
                    if call is None:
                        call = shape.calls[function.region] = _agent_call(
                            shape, attrs, function, calls
                        )
                elif not is_init and shape.invocation:
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
                elif shape.rpc_aws:
                    call = _otel_call(attrs, span, function)
                elif is_init and (
                    _text(attrs, semconv.INVOCATION_OUTCOME) == semconv.OUTCOME_ERROR
                    or semconv.INVOCATION_ERROR_TYPE in attrs
                ):
                    init_error = _text(attrs, semconv.INVOCATION_ERROR_TYPE) or "error"
                hosts = tuple(_hosts(span, time_ns)) if shape.n_events else ()
                if call is None and invocation is None and not hosts and not is_init:
                    shapeless += 1
                    continue
                if key not in found:
                    found[key] = SpanFacts(
                        key, function, time_ns, call, invocation, hosts, init_error
                    )
    for trace_id, span_id, span, attrs in deferred:
        function = trace_functions.get(trace_id)
        call = _otel_call(attrs, span, function) if function is not None else None
        if function is None or call is None:
            unnamed += 1
            continue
        key = trace_id + span_id
        if key not in found:
            found[key] = SpanFacts(
                key, function, span.start_time_unix_nano or now_ns, call, None, ()
            )
    # A call span without its own phase attribute inherits it from its parent:
    # the agent makes calls made during INIT children of the init span.
    for key, parent in pending_phase.items() if init_span_ids else ():
        facts = found[key]
        if parent in init_span_ids and facts.call is not None:
            call = facts.call
            found[key] = facts._replace(call=dataclasses.replace(call, phase=semconv.PHASE_INIT))
    reasons = []
    if rejected:
        reasons.append(
            f"{rejected} span(s) rejected: trace_id must be 16 bytes and span_id 8 bytes"
        )
    if unnamed:
        reasons.append(
            f"{unnamed} span(s) not stored: no Lambda function named (cloud.resource_id, faas.id, "
            "or faas.name with cloud.account.id and cloud.region, on the resource or the trace)"
        )
    if shapeless:
        reasons.append(
            f"{shapeless} span(s) not stored: not lambdaguard's shape (neither an AWS call, an "
            "invocation, an init nor a connection)"
        )
    return TraceFacts(
        tuple(found.values()), total, rejected + unnamed + shapeless, "; ".join(reasons)
    )
