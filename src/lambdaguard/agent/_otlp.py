"""A minimal OTLP/protobuf encoder for ``ExportTraceServiceRequest`` and ``ExportMetricsServiceRequest``.

Why not opentelemetry-sdk + the OTLP exporter: importing them (with protobuf)
costs well over the agent's whole 30 ms INIT budget and several MB of RSS,
while the agent emits one fixed message shape. The protobuf wire format is
small and stable: varint keys ``(field << 3) | wire_type``, wire type 0
varint, 1 fixed64, 2 length-delimited, 5 fixed32. Field numbers follow
opentelemetry-proto (``trace/v1/trace.proto``, ``common/v1/common.proto``,
``resource/v1/resource.proto``, ``metrics/v1/metrics.proto``); the tests
decode the bytes with the official ``opentelemetry-proto`` classes.

Metrics are only what evidence mode sends: cumulative monotonic sums of
integers and base-2 exponential histograms (positive values), one resource
and one scope per request.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "Attr",
    "Event",
    "ExpHistogramPoint",
    "Link",
    "Metric",
    "Span",
    "SumPoint",
    "encode_metrics_request",
    "encode_request",
]

Value = str | bool | int | float | Sequence[str]
Attr = tuple[str, Value]

KIND_INTERNAL = 1
KIND_SERVER = 2
KIND_CLIENT = 3
KIND_CONSUMER = 5
STATUS_UNSET = 0
STATUS_ERROR = 2
TEMPORALITY_CUMULATIVE = 2


@dataclass(frozen=True, slots=True)
class Event:
    """A span event."""

    name: str
    time_ns: int
    attributes: tuple[Attr, ...] = ()


@dataclass(frozen=True, slots=True)
class Link:
    """A span link."""

    trace_id: bytes
    span_id: bytes
    flags: int = 1


@dataclass(frozen=True, slots=True)
class Span:
    """One span, in the terms the wire format needs."""

    trace_id: bytes
    span_id: bytes
    name: str
    kind: int
    start_ns: int
    end_ns: int
    parent_span_id: bytes = b""
    attributes: tuple[Attr, ...] = ()
    events: tuple[Event, ...] = ()
    links: tuple[Link, ...] = ()
    status_code: int = STATUS_UNSET
    status_message: str = ""
    flags: int = 0x101  # sampled; 0x100: the W3C "has is-remote" bit, parent not remote
    extra: tuple[Attr, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class SumPoint:
    """One data point of a cumulative monotonic integer sum."""

    attributes: tuple[Attr, ...]
    start_ns: int
    time_ns: int
    value: int


@dataclass(frozen=True, slots=True)
class ExpHistogramPoint:
    """One data point of a cumulative base-2 exponential histogram (positive values only).

    ``counts[k]`` is the count of bucket ``offset + k``: values in
    ``(2**((offset + k) / 2**scale), 2**((offset + k + 1) / 2**scale)]``.
    """

    attributes: tuple[Attr, ...]
    start_ns: int
    time_ns: int
    count: int
    total: float
    scale: int
    zero_count: int
    offset: int
    counts: tuple[int, ...]
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Metric:
    """A named metric: its unit and its sum or exponential-histogram points."""

    name: str
    unit: str
    points: tuple[SumPoint, ...] | tuple[ExpHistogramPoint, ...]
    description: str = ""


# Varints below 128 are one byte, and nearly every tag and length here is one:
# a table lookup instead of a loop (the encoder runs after the response of
# every invocation that exports, on the billed path).
_ONE_BYTE = tuple(bytes((i,)) for i in range(128))


def _varint(value: int) -> bytes:
    if 0 <= value < 128:
        return _ONE_BYTE[value]
    if value < 0:
        value += 1 << 64  # int64 negatives are ten-byte two's complement varints
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint((number << 3) | wire)


def _bytes(number: int, payload: bytes) -> bytes:
    size = len(payload)
    tag = (number << 3) | 2
    if size < 128 and tag < 128:
        return bytes((tag, size)) + payload
    return _varint(tag) + _varint(size) + payload


def _str(number: int, text: str) -> bytes:
    return _bytes(number, text.encode("utf-8", "replace")) if text else b""


def _fixed64(number: int, value: int) -> bytes:
    return _key(number, 1) + struct.pack("<Q", value)


def _double(number: int, value: float) -> bytes:
    return _key(number, 1) + struct.pack("<d", value)


def _zigzag(value: int) -> int:
    return (value << 1) ^ (value >> 63)


def _fixed32(number: int, value: int) -> bytes:
    return _key(number, 5) + struct.pack("<I", value)


def _any_value(value: Value) -> bytes:
    # AnyValue: 1 string, 2 bool, 3 int64, 4 double, 5 ArrayValue(1: repeated AnyValue)
    if isinstance(value, bool):
        return _key(2, 0) + _varint(int(value))
    if isinstance(value, int):
        return _key(3, 0) + _varint(value)
    if isinstance(value, float):
        return _key(4, 1) + struct.pack("<d", value)
    if isinstance(value, str):
        return _bytes(1, value.encode("utf-8", "replace"))
    return _bytes(5, b"".join(_bytes(1, _any_value(item)) for item in value))


# Encoded KeyValue messages by (key, value type, value): the same attributes
# (service, operation, region, resource names) come back on every export. The
# type is part of the key because True == 1 == 1.0 as dict keys. Bounded.
_KEY_VALUES: dict[tuple[str, type, Value], bytes] = {}
_MEMO_TYPES = frozenset({str, bool, int, float, tuple})
_KEY_VALUES_MAX = 4096


def _key_value(key: str, value: Value) -> bytes:
    # KeyValue: 1 key, 2 value
    kind = type(value)
    if kind not in _MEMO_TYPES:  # a list (unhashable) or anything unusual: every time
        return _str(1, key) + _bytes(2, _any_value(value))
    memo = (key, kind, value)
    encoded = _KEY_VALUES.get(memo)
    if encoded is None:
        encoded = _str(1, key) + _bytes(2, _any_value(value))
        if len(_KEY_VALUES) >= _KEY_VALUES_MAX:
            _KEY_VALUES.clear()
        _KEY_VALUES[memo] = encoded
    return encoded


def _attributes(number: int, attributes: Iterable[Attr]) -> bytes:
    return b"".join(_bytes(number, _key_value(key, value)) for key, value in attributes)


def _event(event: Event) -> bytes:
    return _fixed64(1, event.time_ns) + _str(2, event.name) + _attributes(3, event.attributes)


def _link(link: Link) -> bytes:
    return _bytes(1, link.trace_id) + _bytes(2, link.span_id) + _fixed32(6, link.flags)


def _span(span: Span) -> bytes:
    status = _str(2, span.status_message) + (
        _key(3, 0) + _varint(span.status_code) if span.status_code else b""
    )
    return b"".join(
        (
            _bytes(1, span.trace_id),
            _bytes(2, span.span_id),
            _bytes(4, span.parent_span_id) if span.parent_span_id else b"",
            _str(5, span.name),
            _key(6, 0) + _varint(span.kind),
            _fixed64(7, span.start_ns),
            _fixed64(8, span.end_ns),
            _attributes(9, (*span.attributes, *span.extra)),
            b"".join(_bytes(11, _event(e)) for e in span.events),
            b"".join(_bytes(13, _link(link)) for link in span.links),
            _bytes(15, status),
            _fixed32(16, span.flags),
        )
    )


def encode_request(
    resource: Sequence[Attr], scope_name: str, scope_version: str, spans: Sequence[Span]
) -> bytes:
    """Serialise one ``ExportTraceServiceRequest`` with one resource and one scope."""
    # ExportTraceServiceRequest: 1 ResourceSpans(1 Resource(1 attributes), 2 ScopeSpans(
    #   1 InstrumentationScope(1 name, 2 version), 2 spans))
    scope = _str(1, scope_name) + _str(2, scope_version)
    scope_spans = _bytes(1, scope) + b"".join(_bytes(2, _span(s)) for s in spans)
    resource_spans = _bytes(1, _attributes(1, resource)) + _bytes(2, scope_spans)
    return _bytes(1, resource_spans)


def _sum_point(point: SumPoint) -> bytes:
    # NumberDataPoint: 7 attributes, 2 start_time_unix_nano, 3 time_unix_nano, 6 as_int (sfixed64)
    return b"".join(
        (
            _attributes(7, point.attributes),
            _fixed64(2, point.start_ns),
            _fixed64(3, point.time_ns),
            _key(6, 1) + struct.pack("<q", point.value),
        )
    )


def _histogram_point(point: ExpHistogramPoint) -> bytes:
    # ExponentialHistogramDataPoint: 1 attributes, 2 start, 3 time, 4 count (fixed64),
    # 5 sum (double), 6 scale (sint32), 7 zero_count (fixed64), 8 positive Buckets
    # (1 offset sint32, 2 packed uint64 bucket_counts), 12 min, 13 max.
    buckets = _key(1, 0) + _varint(_zigzag(point.offset))
    if point.counts:
        buckets += _bytes(2, b"".join(_varint(n) for n in point.counts))
    parts = [
        _attributes(1, point.attributes),
        _fixed64(2, point.start_ns),
        _fixed64(3, point.time_ns),
        _fixed64(4, point.count),
        _double(5, point.total),
        _key(6, 0) + _varint(_zigzag(point.scale)),
        _fixed64(7, point.zero_count),
        _bytes(8, buckets),
    ]
    if point.count:
        parts += [_double(12, point.low), _double(13, point.high)]
    return b"".join(parts)


def _metric(metric: Metric) -> bytes:
    # Metric: 1 name, 2 description, 3 unit, 7 Sum(1 points, 2 temporality, 3 monotonic),
    # 10 ExponentialHistogram(1 points, 2 temporality)
    head = _str(1, metric.name) + _str(2, metric.description) + _str(3, metric.unit)
    temporality = _key(2, 0) + _varint(TEMPORALITY_CUMULATIVE)
    histograms = [p for p in metric.points if isinstance(p, ExpHistogramPoint)]
    if histograms:
        body = b"".join(_bytes(1, _histogram_point(p)) for p in histograms)
        return head + _bytes(10, body + temporality)
    sums = [p for p in metric.points if isinstance(p, SumPoint)]
    body = b"".join(_bytes(1, _sum_point(p)) for p in sums)
    return head + _bytes(7, body + temporality + _key(3, 0) + _varint(1))


def encode_metrics_request(
    resource: Sequence[Attr], scope_name: str, scope_version: str, metrics: Sequence[Metric]
) -> bytes:
    """Serialise one ``ExportMetricsServiceRequest`` with one resource and one scope."""
    # ExportMetricsServiceRequest: 1 ResourceMetrics(1 Resource, 2 ScopeMetrics(
    #   1 InstrumentationScope, 2 metrics))
    scope = _str(1, scope_name) + _str(2, scope_version)
    scope_metrics = _bytes(1, scope) + b"".join(_bytes(2, _metric(m)) for m in metrics)
    resource_metrics = _bytes(1, _attributes(1, resource)) + _bytes(2, scope_metrics)
    return _bytes(1, resource_metrics)
