"""Records become OTLP spans, counts become OTLP metrics, one JSON log line; the bytes are POSTed.

The shapes follow :mod:`lambdaguard.semconv` (read its docstring). Sending is
plain ``http.client`` (stdlib, already imported by any boto3 function) with a
hard timeout, on one connection kept across invocations (and across Lambda's
freezes, where the far side allows: see :class:`Sender`); the caller decides
*when* (after the response: see :mod:`lambdaguard.agent._agent`). Every byte
sent is built here from a :class:`~lambdaguard.agent.recorder.Record` or a
:class:`~lambdaguard.agent.ledger.Snapshot`, which hold only identifiers and counts.

The log line uses ``json.dumps`` rather than structlog: it is one flat dict
per invocation, and structlog would add ~10 ms of import to INIT for no gain.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lambdaguard import __version__, semconv
from lambdaguard.agent import _http, recorder
from lambdaguard.agent.config import (
    AWS_EXECUTION_ENV,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    AWS_LAMBDA_FUNCTION_NAME,
    AWS_LAMBDA_FUNCTION_VERSION,
    AWS_LAMBDA_LOG_STREAM_NAME,
    AWS_REGION,
    Config,
)
from lambdaguard.agent.recorder import AwsCall, Record
from lambdaguard.agent.triggers import links_of

if TYPE_CHECKING:
    from lambdaguard.agent import _otlp
    from lambdaguard.agent.ledger import Snapshot

# The encoder (_otlp) is imported by the functions that build spans, which run
# after the response; importing it at INIT would put its class creation on the
# cold-start path for nothing.

__all__ = [
    "Backlog",
    "Sender",
    "encode",
    "encode_metrics",
    "instance_id",
    "log_head",
    "log_line",
    "log_tail",
    "resource_attributes",
    "retryable",
    "spans_for",
    "write_line",
    "write_log",
]

SCOPE_NAME = semconv.AGENT_SCOPE
CONTENT_TYPE = "application/x-protobuf"

_instance: list[tuple[int, str]] = []


def instance_id() -> str:
    """A random id for this process (``service.instance.id``), new after a fork."""
    pid = os.getpid()
    if not _instance or _instance[0][0] != pid:
        _instance[:] = [(pid, os.urandom(16).hex())]
    return _instance[0][1]


def _account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def resource_attributes(
    config: Config, record: Record | None, env: Mapping[str, str] | None = None
) -> tuple[_otlp.Attr, ...]:
    """Resource attributes per the OpenTelemetry cloud and FaaS conventions."""
    env = os.environ if env is None else env
    name = (record.function_name if record else "") or env.get(AWS_LAMBDA_FUNCTION_NAME, "")
    arn = record.function_arn if record else ""
    attrs: list[_otlp.Attr] = [
        (semconv.SERVICE_NAME, config.service_name or name or "unknown_service"),
        (semconv.CLOUD_PROVIDER, semconv.CLOUD_PROVIDER_AWS),
        (semconv.CLOUD_PLATFORM, semconv.CLOUD_PLATFORM_LAMBDA),
        (semconv.TELEMETRY_DISTRO_NAME, semconv.DISTRO_NAME),
        (semconv.TELEMETRY_DISTRO_VERSION, __version__),
        (semconv.LAYER_VERSION, __version__),
        (semconv.SERVICE_INSTANCE_ID, instance_id()),
    ]
    optional: list[tuple[str, str]] = [
        (semconv.CLOUD_REGION, env.get(AWS_REGION, "")),
        (semconv.CLOUD_ACCOUNT_ID, _account(arn)),
        (semconv.CLOUD_RESOURCE_ID, arn),
        (semconv.FAAS_NAME, name),
        (
            semconv.FAAS_VERSION,
            (record.version if record else "") or env.get(AWS_LAMBDA_FUNCTION_VERSION, ""),
        ),
        (semconv.FAAS_INSTANCE, env.get(AWS_LAMBDA_LOG_STREAM_NAME, "")),
        (semconv.FUNCTION_RUNTIME, env.get(AWS_EXECUTION_ENV, "").removeprefix("AWS_Lambda_")),
    ]
    attrs.extend((key, value) for key, value in optional if value)
    memory = record.memory_limit_mb if record and record.memory_limit_mb else 0
    if not memory and env.get(AWS_LAMBDA_FUNCTION_MEMORY_SIZE, "").isdigit():
        memory = int(env[AWS_LAMBDA_FUNCTION_MEMORY_SIZE])
    if memory:
        attrs.append((semconv.FAAS_MAX_MEMORY, memory * 1024 * 1024))
    return tuple(attrs)


def _call_attributes(call: AwsCall) -> tuple[_otlp.Attr, ...]:
    parts = urlsplit(call.endpoint) if call.endpoint else None
    attrs: list[_otlp.Attr] = [
        (semconv.RPC_SYSTEM, semconv.RPC_SYSTEM_AWS),
        (semconv.RPC_SERVICE, call.service_id),
        (semconv.RPC_METHOD, call.operation),
        (semconv.AWS_SERVICE, call.service),
        (semconv.AWS_OPERATION, call.operation),
        (semconv.AWS_PARAMS, call.params),
        (semconv.AWS_RETRIES, call.retries),
        (semconv.AWS_LATENCY_MS, (call.end_ns - call.start_ns) / 1e6 / max(call.count, 1)),
    ]
    if call.region:
        attrs += [(semconv.CLOUD_REGION, call.region), (semconv.AWS_REGION, call.region)]
    if call.endpoint:
        attrs.append((semconv.AWS_ENDPOINT, call.endpoint))
    if parts is not None and parts.hostname:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        attrs += [(semconv.SERVER_ADDRESS, parts.hostname), (semconv.SERVER_PORT, port)]
    for key, value in (
        (semconv.AWS_REQUEST_ID, call.request_id),
        (semconv.AWS_ERROR_CODE, call.error_code),
    ):
        if value:
            attrs.append((key, value))
    if call.status:
        attrs.append((semconv.HTTP_RESPONSE_STATUS_CODE, call.status))
    if call.presign:
        attrs.append((semconv.AWS_PRESIGN, True))
    if call.count > 1:
        attrs.append((semconv.AWS_COUNT, call.count))
    attrs.extend(_call_facts(call))
    return tuple(attrs)


# Recorded per occurrence, not part of the fact a call stands for (see ledger.call_fact).
_PER_OCCURRENCE_ATTRIBUTES = frozenset(
    {
        semconv.AWS_REQUEST_ID,
        semconv.AWS_RETRIES,
        semconv.AWS_LATENCY_MS,
        semconv.HTTP_RESPONSE_STATUS_CODE,
        semconv.AWS_COUNT,
    }
)


def fact_attributes(call: AwsCall, phase: str) -> tuple[_otlp.Attr, ...]:
    """The attributes of the fact ``call`` stands for: its span attributes minus per-occurrence ones."""
    attrs = [kv for kv in _call_attributes(call) if kv[0] not in _PER_OCCURRENCE_ATTRIBUTES]
    attrs.append((semconv.PHASE, phase))
    return tuple(attrs)


def _call_facts(call: AwsCall) -> list[_otlp.Attr]:
    # Response facts, the params bound, whose credentials and how the call was
    # seen (issues 8 and 14). The old kms_key_id/version_id attributes are no
    # longer sent: the collector reads AWS_RESPONSE and falls back to them only
    # for older agents.
    attrs: list[_otlp.Attr] = []
    if call.response:
        attrs.append((semconv.AWS_RESPONSE, call.response))
    if call.params_truncated:
        attrs.append((semconv.AWS_PARAMS_TRUNCATED, True))
    if call.credentials:
        attrs.append((semconv.AWS_CREDENTIALS, call.credentials))
    if call.role_arn:
        attrs.append((semconv.AWS_CREDENTIALS_ROLE, call.role_arn))
    if call.via:
        attrs.append((semconv.AWS_VIA, call.via))
    return attrs


def fold(calls: Sequence[AwsCall], cap: int) -> list[AwsCall]:
    """The first ``cap - 1`` calls as they are, the rest folded per distinct call with counts."""
    if len(calls) <= cap:
        return list(calls)
    kept = list(calls[: max(cap - 1, 0)])
    groups: dict[tuple[object, ...], list[AwsCall]] = {}
    for call in calls[len(kept) :]:
        # Everything the collector judges by stays in the key: a response fact
        # (an SSE-KMS key id) decides a kms: permission, the credentials whose
        # role is charged, so calls differing in them never merge.
        key: tuple[object, ...] = (call.service, call.operation, call.region, call.endpoint)
        key = (*key, call.params, call.error_code, call.presign, call.response)
        key = (*key, call.params_truncated, call.credentials, call.role_arn, call.via)
        groups.setdefault(key, []).append(call)
    for group in groups.values():
        first = group[0]
        kept.append(
            first._replace(
                end_ns=first.start_ns + sum(c.end_ns - c.start_ns for c in group),
                retries=sum(c.retries for c in group),
                count=sum(c.count for c in group),
            )
        )
    return kept


def _connection_events(record: Record) -> tuple[_otlp.Event, ...]:
    from lambdaguard.agent import _otlp

    return tuple(
        _otlp.Event(
            semconv.CONNECTION_EVENT,
            record.end_ns,
            (
                (semconv.SERVER_ADDRESS, conn.host),
                (semconv.SERVER_PORT, conn.port),
                (semconv.NET_TLS, conn.tls),
                (semconv.NET_AWS, conn.aws),
                (semconv.NET_COUNT, conn.count),
                (semconv.NET_FAILURES, conn.failures),
                *(((semconv.NET_PROXY, conn.proxy),) if conn.proxy else ()),
            ),
        )
        for conn in record.connections
    )


def _invocation_attributes(record: Record) -> list[_otlp.Attr]:
    trigger = record.trigger
    attrs: list[_otlp.Attr] = [
        (semconv.PHASE, semconv.PHASE_INVOKE),
        (semconv.FAAS_INVOCATION_ID, record.request_id),
        (semconv.FAAS_COLDSTART, record.cold_start),
        (semconv.FAAS_TRIGGER, trigger.faas_trigger),
        (semconv.TRIGGER_KIND, trigger.kind),
        (semconv.INVOCATION_OUTCOME, record.outcome),
        (semconv.INVOCATION_DURATION_MS, (record.end_ns - record.start_ns) / 1e6),
    ]
    if trigger.source:
        attrs.append((semconv.TRIGGER_SOURCE, trigger.source))
    if record.function_arn:
        attrs.append((semconv.FUNCTION_ARN, record.function_arn))
    if record.alias:
        attrs.append((semconv.FUNCTION_ALIAS, record.alias))
    if record.error_type:
        attrs.append((semconv.INVOCATION_ERROR_TYPE, record.error_type))
    if record.remaining_ms >= 0:
        attrs.append((semconv.INVOCATION_REMAINING_MS, record.remaining_ms))
    if record.cold_start and record.init_duration_ms >= 0:
        attrs.append((semconv.INVOCATION_INIT_DURATION_MS, record.init_duration_ms))
    if record.memory_limit_mb:
        attrs.append((semconv.INVOCATION_MEMORY_LIMIT_MB, record.memory_limit_mb))
    return attrs


def spans_for(record: Record, cap: int) -> list[_otlp.Span]:
    """The spans of one record: the phase span, then one CLIENT span per (folded) AWS call."""
    from lambdaguard.agent import _otlp

    trigger = record.trigger
    # Exported spans are sampled, whatever the caller's context said: the
    # decision to export them was taken (and a backend or gateway that honours
    # the flag must not drop them).
    sampled = 1
    if record.phase == semconv.PHASE_INIT:
        name = semconv.INIT_SPAN_NAME
        kind = _otlp.KIND_INTERNAL
        attrs: list[_otlp.Attr] = [(semconv.PHASE, semconv.PHASE_INIT)]
        if record.function_arn:
            attrs.append((semconv.FUNCTION_ARN, record.function_arn))
        if record.outcome != semconv.OUTCOME_SUCCESS:
            # The handler could not be loaded (Agent.init_failed).
            attrs.append((semconv.INVOCATION_OUTCOME, record.outcome))
            if record.error_type:
                attrs.append((semconv.INVOCATION_ERROR_TYPE, record.error_type))
        parent = b""
        flags = 0x101
    else:
        name = record.function_name or "lambda"
        kind = _otlp.KIND_CONSUMER if trigger.consumer else _otlp.KIND_SERVER
        attrs = _invocation_attributes(record)
        parent = trigger.parent_span_id
        # 0x100: "is-remote" is known; 0x200: the parent is remote (came in the event).
        flags = sampled | 0x100 | (0x200 if parent else 0)
    failed = record.outcome != semconv.OUTCOME_SUCCESS
    spans = [
        _otlp.Span(
            trace_id=record.trace_id,
            span_id=record.span_id,
            parent_span_id=parent,
            name=name,
            kind=kind,
            start_ns=record.start_ns,
            end_ns=record.end_ns,
            attributes=tuple(attrs),
            events=_connection_events(record),
            links=tuple(
                _otlp.Link(link.trace_id, link.span_id, 1 if link.sampled else 0)
                for link in links_of(trigger)
            ),
            status_code=_otlp.STATUS_ERROR if failed else _otlp.STATUS_UNSET,
            status_message=record.error_type or (record.outcome if failed else ""),
            flags=flags,
        )
    ]
    for call in fold(record.aws_calls, cap):
        spans.append(
            _otlp.Span(
                trace_id=record.trace_id,
                span_id=recorder.new_id(8),
                parent_span_id=record.span_id,
                name=f"{call.service_id}.{call.operation}",
                kind=_otlp.KIND_CLIENT,
                start_ns=call.start_ns,
                end_ns=call.end_ns,
                attributes=_call_attributes(call),
                status_code=_otlp.STATUS_ERROR if call.error_code else _otlp.STATUS_UNSET,
                status_message=call.error_code,
                flags=sampled | 0x100,
            )
        )
    return spans


def encode(config: Config, records: Sequence[Record]) -> bytes:
    """One OTLP ``ExportTraceServiceRequest`` holding every given record."""
    from lambdaguard.agent import _otlp

    # The invocation record knows the most (memory, version); the init record
    # only what INIT knew.
    described = next(
        (r for r in reversed(records) if r.function_arn), records[-1] if records else None
    )
    spans: list[_otlp.Span] = []
    for record in records:
        spans.extend(spans_for(record, config.max_aws_spans))
    return _otlp.encode_request(
        resource_attributes(config, described), SCOPE_NAME, __version__, spans
    )


def _metric_points(
    snapshot: Snapshot,
) -> list[tuple[str, str, list[tuple[tuple[_otlp.Attr, ...], Any]]]]:
    # (metric name, unit, [(attributes, value or histogram)]) in a fixed order.
    flag = semconv.COUNTED_IN_SPANS
    by_name: dict[str, list[tuple[tuple[_otlp.Attr, ...], Any]]] = {}

    def add(name: str, attrs: tuple[_otlp.Attr, ...], value: Any) -> None:
        by_name.setdefault(name, []).append((attrs, value))

    for (
        kind,
        source,
        alias,
        faas_trigger,
        outcome,
        error_type,
    ), in_spans, n in snapshot.invocations:
        attrs: list[_otlp.Attr] = [
            (semconv.FAAS_TRIGGER, faas_trigger),
            (semconv.TRIGGER_KIND, kind),
        ]
        if source:
            attrs.append((semconv.TRIGGER_SOURCE, source))
        if alias:
            attrs.append((semconv.FUNCTION_ALIAS, alias))
        if outcome == semconv.OUTCOME_ERROR:
            name = semconv.METRIC_ERRORS
            attrs.append((semconv.ERROR_TYPE, error_type or "error"))
        elif outcome == semconv.OUTCOME_TIMEOUT:
            name = semconv.METRIC_TIMEOUTS
        else:
            name = semconv.METRIC_INVOCATIONS
        attrs.append((flag, in_spans))
        add(name, tuple(attrs), n)
    for faas_trigger, in_spans, n in snapshot.coldstarts:
        add(semconv.METRIC_COLDSTARTS, ((semconv.FAAS_TRIGGER, faas_trigger), (flag, in_spans)), n)
    for faas_trigger, in_spans, histogram in snapshot.durations:
        attrs_h = ((semconv.FAAS_TRIGGER, faas_trigger), (flag, in_spans))
        add(semconv.METRIC_INVOKE_DURATION, attrs_h, histogram)
    for (phase, call), in_spans, n in snapshot.calls:
        add(semconv.METRIC_AWS_CALLS, (*fact_attributes(call, phase), (flag, in_spans)), n)
    for (host, port, tls, aws), in_spans, opened, failed in snapshot.hosts:
        host_attrs: tuple[_otlp.Attr, ...] = (
            (semconv.SERVER_ADDRESS, host),
            (semconv.SERVER_PORT, port),
            (semconv.NET_TLS, tls),
            (semconv.NET_AWS, aws),
            (flag, in_spans),
        )
        add(semconv.METRIC_CONNECTIONS, host_attrs, opened)
        add(semconv.METRIC_CONNECTION_FAILURES, host_attrs, failed)
    units = {
        semconv.METRIC_INVOCATIONS: "{invocation}",
        semconv.METRIC_ERRORS: "{error}",
        semconv.METRIC_TIMEOUTS: "{timeout}",
        semconv.METRIC_COLDSTARTS: "{coldstart}",
        semconv.METRIC_INVOKE_DURATION: "s",
        semconv.METRIC_AWS_CALLS: "{call}",
        semconv.METRIC_CONNECTIONS: "{connection}",
        semconv.METRIC_CONNECTION_FAILURES: "{connection}",
    }
    return [(name, units[name], points) for name, points in by_name.items()]


def encode_metrics(config: Config, snapshot: Snapshot, described: Record | None) -> bytes:
    """One OTLP ``ExportMetricsServiceRequest`` with the snapshot's cumulative counts.

    ``described`` (the environment's latest invocation record) gives the
    resource its ARN, version and memory, as for spans.
    """
    from lambdaguard.agent import _otlp

    metrics: list[_otlp.Metric] = []
    start, now = snapshot.start_ns, snapshot.time_ns
    for name, unit, points in _metric_points(snapshot):
        if name == semconv.METRIC_INVOKE_DURATION:
            histograms = []
            for attrs, histogram in points:
                offset, counts = histogram.dense()
                histograms.append(
                    _otlp.ExpHistogramPoint(
                        attributes=attrs,
                        start_ns=start,
                        time_ns=now,
                        count=histogram.count,
                        total=histogram.total,
                        scale=semconv.DURATION_SCALE,
                        zero_count=histogram.zero,
                        offset=offset,
                        counts=counts,
                        low=histogram.low if histogram.count else 0.0,
                        high=histogram.high,
                    )
                )
            metrics.append(_otlp.Metric(name, unit, tuple(histograms)))
        else:
            sums = tuple(_otlp.SumPoint(attrs, start, now, int(value)) for attrs, value in points)
            metrics.append(_otlp.Metric(name, unit, sums))
    return _otlp.encode_metrics_request(
        resource_attributes(config, described), SCOPE_NAME, __version__, metrics
    )


def log_line(record: Record) -> str:
    """The one JSON line written to stdout for an invocation (flat keys for Logs Insights)."""
    return log_head(
        record.trace_id,
        record.span_id,
        record.request_id,
        record.cold_start,
        record.end_ns - record.start_ns,
        record.outcome,
    ) + log_tail(record)


def log_head(  # noqa: PLR0917 - the per-invocation fields of the line, in its order
    trace_id: bytes,
    span_id: bytes,
    request_id: str,
    cold_start: bool,
    duration_ns: int,
    outcome: str,
) -> str:
    """The log line up to its per-invocation fields, without the closing brace.

    Split from :func:`log_tail` so that a repeat writes its line from the tail
    cached for its signature (the calls and hosts do not change between
    repeats) and only these fields. The same text ``json`` makes of the whole
    line (the tests compare them), formatted directly: strings through
    ``json``'s own C escaper, the duration as ``json`` writes a float.
    """
    return _HEAD.format(
        trace_id.hex(),
        span_id.hex(),
        _json_string(request_id),
        "true" if cold_start else "false",
        repr(round(duration_ns / 1e6, 3)),
        _json_string(outcome),
    )


def log_tail(record: Record) -> str:
    """The log line from its AWS calls on: ``,"aws_calls":[…],"hosts":[…]}``."""
    calls: dict[tuple[str, str], list[int]] = {}
    for call in record.aws_calls:
        counts = calls.setdefault((call.service, call.operation), [0, 0])
        counts[0] += call.count
        counts[1] += call.count if call.error_code else 0
    tail = {
        semconv.LOG_AWS_CALLS: [
            {"service": service, "operation": operation, "count": n, "errors": errors}
            for (service, operation), (n, errors) in calls.items()
        ],
        semconv.LOG_HOSTS: [
            {
                "host": conn.host,
                "port": conn.port,
                "tls": conn.tls,
                "count": conn.count,
                "failures": conn.failures,
            }
            for conn in record.connections
        ],
    }
    return "," + _LOG_JSON.encode(tail)[1:]


# One encoder for every line: ``json.dumps`` with non-default separators builds
# a new JSONEncoder per call (the same text either way).
_LOG_JSON = json.JSONEncoder(separators=(",", ":"))
# The head of every line: its keys in order, values filled by log_head.
_HEAD = "{{" + ",".join(
    f'"{key}":{value}'
    for key, value in (
        (semconv.LOG_MARKER, '"invocation"'),
        (semconv.LOG_TRACE_ID, '"{}"'),
        (semconv.LOG_SPAN_ID, '"{}"'),
        (semconv.LOG_REQUEST_ID, "{}"),
        (semconv.LOG_COLDSTART, "{}"),
        (semconv.LOG_DURATION_MS, "{}"),
        (semconv.LOG_OUTCOME, "{}"),
    )
)
_json_string = json.encoder.encode_basestring_ascii  # what _LOG_JSON uses for a str


def write_log(record: Record) -> None:
    """Write the record's log line on stdout as one write (one CloudWatch event)."""
    write_line(log_line(record))


def write_line(line: str) -> None:
    """Write one log line on stdout as one write (one CloudWatch event)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def retryable(status: int) -> bool:
    """Whether a send that ended with ``status`` (0: no response) may succeed if sent again.

    No response (endpoint down, refused, timed out, DNS), 408, 429 and 5xx are
    passing trouble; any other 4xx says the request itself is refused (bad
    body, bad token, too large), and sending it again would only fail again.
    """
    return status in (0, 408, 429) or 500 <= status < 600


class Backlog:
    """Export bodies whose send failed, kept (bounded) to go out with the next export.

    Kept as the encoded bytes of each failed ``ExportTraceServiceRequest``: a
    resend then carries exactly the same trace and span ids (the collector
    deduplicates on them, so a body that did arrive despite a timeout is
    harmless), and the byte bound is exact. Protobuf concatenation merges
    repeated fields, so the kept bodies followed by the new one are one valid
    request with one ``ResourceSpans`` per original body. When a bound is
    exceeded the oldest bodies go first; their records are counted in
    :attr:`dropped`.
    """

    __slots__ = (
        "_entries",
        "_lock",
        "dropped",
        "kept_bytes",
        "kept_records",
        "max_bytes",
        "max_records",
    )

    def __init__(self, max_records: int, max_bytes: int) -> None:
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._entries: list[tuple[bytes, int]] = []  # (body, records in it), oldest first
        self._lock = threading.Lock()
        self.kept_records = 0
        self.kept_bytes = 0
        self.dropped = 0

    def take(self) -> list[tuple[bytes, int]]:
        """Remove and return every kept (body, records), oldest first."""
        with self._lock:
            entries, self._entries = self._entries, []
            self.kept_records = self.kept_bytes = 0
        return entries

    def keep(self, entries: Sequence[tuple[bytes, int]]) -> int:
        """Keep ``entries`` (oldest first) after those already kept; the records dropped now."""
        with self._lock:
            self._entries.extend(entries)
            self.kept_records += sum(n for _, n in entries)
            self.kept_bytes += sum(len(body) for body, _ in entries)
            dropped = 0
            while self._entries and (
                self.kept_records > self.max_records or self.kept_bytes > self.max_bytes
            ):
                body, n = self._entries.pop(0)
                self.kept_records -= n
                self.kept_bytes -= len(body)
                dropped += n
            self.dropped += dropped
        return dropped

    def discard(self, entries: Sequence[tuple[bytes, int]]) -> int:
        """Count ``entries`` as dropped without keeping them; the records dropped."""
        n = sum(count for _, count in entries)
        with self._lock:
            self.dropped += n
        return n


def _closed_by_peer(sock: socket.socket) -> bool:
    # A connection kept across a freeze may have been closed by the far side
    # meanwhile (its idle timeout): then it is readable (EOF, a reset, a TLS
    # close_notify). An idle HTTP/1.1 connection has nothing to read, so
    # anything readable means it cannot be reused. poll(), not select(): file
    # descriptors above 1023 are legal in a busy function.
    import select

    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return True


# Failures that mean "the kept connection was already dead", not "the collector failed".
_STALE = (
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
)


class Sender:
    """POSTs OTLP bytes on connections kept across invocations; never raises, never records itself.

    Lambda freezes the environment between invocations, so a connection kept
    open may have been closed by the far side meanwhile (a collector's or load
    balancer's idle timeout). Before reusing one, a non-blocking peek tells
    whether it was closed; a request that still fails on a reused connection
    before any response arrives is sent once more on a new connection. Both
    signals are idempotent (span ids are de-duplicated by the collector,
    metrics are cumulative), so a duplicate costs nothing. :attr:`connects`,
    :attr:`reused` and :attr:`stale` count what happened (``make bench``
    prints them).
    """

    def __init__(self, config: Config) -> None:
        self._config = config
        self._targets: dict[str, tuple[tuple[bool, str, int], str]] = {}
        for signal, url in (("traces", config.traces_url), ("metrics", config.metrics_url)):
            parts = urlsplit(url)
            https = parts.scheme == "https"
            try:
                port = parts.port or (443 if https else 80)
            except ValueError:
                port = 443 if https else 80
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            self._targets[signal] = ((https, parts.hostname or "localhost", port), path)
        self._connections: dict[tuple[bool, str, int], _http.Client] = {}
        headers = {
            "Content-Type": CONTENT_TYPE,
            "User-Agent": f"lambdaguard/{__version__}",
            "Accept-Encoding": "identity",
        }
        headers.update(dict(config.headers))
        # Request heads, built once per signal (a header that would split the
        # head makes every send fail with 0, as http.client refused it).
        self._heads: dict[str, bytes | None] = {}
        for signal, (key, path) in self._targets.items():
            https, host, port = key
            try:
                self._heads[signal] = _http.Client(host, port, tls=https).head_bytes(
                    "POST", path, headers
                )
            except ValueError:
                self._heads[signal] = None
        self.last_status = 0
        self.connects = 0  # connections opened (TCP, and TLS for https)
        self.reused = 0  # requests sent on a connection kept from an earlier request
        self.stale = 0  # kept connections found closed by the far side (replaced)

    def _connection(self, key: tuple[bool, str, int], timeout: float) -> _http.Client:
        connection = self._connections.get(key)
        if connection is None:
            https, host, port = key
            connection = self._connections[key] = _http.Client(host, port, tls=https)
        elif connection.sock is not None and _closed_by_peer(connection.sock):
            self.stale += 1
            connection.close()
        connection.timeout = timeout
        return connection

    def send(self, body: bytes, timeout_ms: int | None = None, *, signal: str = "traces") -> int:
        """Send one request (``signal``: traces or metrics); the HTTP status, or 0 if none came in time."""
        timeout = (timeout_ms or self._config.export_timeout_ms) / 1000
        key, _ = self._targets[signal]
        head = self._heads[signal]
        if head is None:
            self.last_status = 0
            return 0
        request = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
        with recorder.suppressed():
            for attempt in (0, 1):
                connection = self._connection(key, timeout)
                reused = connection.sock is not None
                if reused:
                    self.reused += 1
                else:
                    self.connects += 1
                try:
                    status, _, _ = connection.send(request)
                except (*_STALE, _http.ProtocolError) as exc:
                    # Nothing came back: on a kept connection, it had died
                    # during the freeze; once more on a new one.
                    quiet = not isinstance(exc, _http.ProtocolError) or exc.args == (_http.CLOSED,)
                    if reused and attempt == 0 and quiet:
                        self.stale += 1
                        continue
                    self.last_status = 0
                    return 0
                except (OSError, ValueError):
                    self.last_status = 0
                    return 0
                self.last_status = status
                return status
        return 0  # pragma: no cover - the loop always returns

    def close(self) -> None:
        """Close every kept connection."""
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()
