"""OTLP request decoding and response encoding (protobuf and JSON), with limits.

Everything a hostile client can send stops here as an
:class:`~lambdaguard.errors.IngestError` carrying the HTTP status to answer:
bodies over the limit (413, checked on the wire *and* while decompressing, so
a gzip bomb costs at most ``limit`` bytes), unknown content types (415) or
encodings, invalid protobuf or JSON (400), and bodies that *expand* past a
limit (413, naming it). This is the one place protobuf/JSON errors are
translated.

Why expansion is counted before parsing: protobuf's parser (upb) spends about
85 bytes of memory per body byte on a body of empty messages (measured: 7 MB
of empty spans -> ~600 MB, 0.75 s), so a 7 KB gzip body could take most of a
gigabyte. :class:`DecodeLimits` bounds what a request may hold: resources,
items (spans / log records / data points), events (span events, links,
exemplars), attributes (per container and in total, including array and
key-value-list values) and nesting depth. Bodies above
:data:`SCAN_THRESHOLD` bytes are walked on the wire format first (a small
pure-Python scanner that stops at the first limit crossed, so an amplified
body costs microseconds); smaller bodies are parsed directly (at most about
``85 x 64 KiB`` = 5.5 MiB of parser memory whatever they hold) and their counts
checked on the parsed message. JSON bodies are bounded before ``json.loads``
by their number of ``{`` and ``[`` (a byte count in C): at most
``max_json_containers`` Python containers are ever built. With the defaults,
one in-flight request holds at most: the wire body (``max_body_bytes``), the
decompressed body (``max_decompressed_bytes``), and a parsed message bounded by
the counts above (about 200 bytes per counted element) -- stated as
:data:`MEMORY_PER_REQUEST_BYTES` and checked by a test on the process's RSS.

A span that cannot be decoded on its own (invalid UTF-8 in a string field, an
unpaired surrogate, a malformed field) rejects that span only: when the whole
body fails to parse, each resource, scope and span is re-parsed separately,
the bad ones are dropped and counted with the reason (OTLP partial success).

OTLP/JSON differs from protobuf's canonical JSON mapping in one way that
matters: ``traceId``/``spanId``/``parentSpanId`` are hex strings, not base64
(OTLP specification, "JSON Protobuf Encoding"). Field names may be
lowerCamelCase or the original names, enums are integers, and unknown fields
must be ignored; ``json_format`` does the rest.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import zlib
from dataclasses import dataclass
from typing import Any, Final, Literal

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2  # type: ignore[import-untyped]
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from lambdaguard.errors import IngestError

__all__ = [
    "CONTENT_TYPE_JSON",
    "CONTENT_TYPE_PROTOBUF",
    "MEMORY_PER_REQUEST_BYTES",
    "SCAN_THRESHOLD",
    "DecodeLimits",
    "DecodedRequest",
    "Encoding",
    "ParsedCounter",
    "Signal",
    "check_attribute_counts",
    "check_limits",
    "decode_body",
    "decompress",
    "encode_response",
    "encode_status",
    "negotiate",
]

Signal = Literal["traces", "logs", "metrics"]
Encoding = Literal["protobuf", "json"]

CONTENT_TYPE_PROTOBUF: Final = "application/x-protobuf"
CONTENT_TYPE_JSON: Final = "application/json"

_REQUEST: Final = {
    "traces": trace_service_pb2.ExportTraceServiceRequest,
    "logs": logs_service_pb2.ExportLogsServiceRequest,
    "metrics": metrics_service_pb2.ExportMetricsServiceRequest,
}
_RESPONSE: Final = {
    "traces": trace_service_pb2.ExportTraceServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
}
_ITEM_NAME: Final = {"traces": "span", "logs": "log record", "metrics": "data point"}

# Bodies (decompressed) up to this size are parsed without a pre-scan: their
# worst case is bounded by their size (~85 parser bytes per body byte).
SCAN_THRESHOLD: Final = 64 * 1024
# Parser memory per counted element (span, attribute, value, event ...), an
# upper figure from measurement (an empty span ~170 B, an attribute ~110 B).
_BYTES_PER_ELEMENT: Final = 200


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """What one request may expand into; beyond a limit the answer is 413 naming it."""

    max_decompressed_bytes: int = 16 * 1024 * 1024
    max_resources: int = 1_000
    max_items: int = 50_000
    max_events: int = 100_000
    max_attributes: int = 1024  # per resource, scope, span, event, link, record, point
    max_attributes_total: int = 500_000  # attributes + array/kvlist values, whole request
    max_depth: int = 16
    max_json_containers: int = 250_000

    def memory_bound(self, max_body_bytes: int) -> int:
        """Upper figure of the memory one in-flight request can hold (bytes)."""
        elements = self.max_resources + self.max_items + self.max_events
        elements += self.max_attributes_total
        small = 85 * SCAN_THRESHOLD
        return (
            max_body_bytes + self.max_decompressed_bytes + max(small, elements * _BYTES_PER_ELEMENT)
        )


MEMORY_PER_REQUEST_BYTES: Final = DecodeLimits().memory_bound(8 * 1024 * 1024)


@dataclass(frozen=True, slots=True)
class DecodedRequest:
    """A decoded export request and its protobuf bytes (what forwarding sends on).

    ``rejected`` items (spans, log records, data points) could not be decoded
    on their own and were left out of ``message`` and ``payload``; ``reason``
    says why (for the partial-success answer).
    """

    signal: Signal
    message: Any  # ExportTraceServiceRequest | ExportLogsServiceRequest | ...
    payload: bytes
    rejected: int = 0
    reason: str = ""
    # False: the limits are still to be counted on ``message`` (defer_span_counts).
    counted: bool = True


def negotiate(content_type: str | None) -> Encoding:
    """Map a Content-Type header to an encoding; anything else is a 415."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in (CONTENT_TYPE_PROTOBUF, "application/protobuf"):
        return "protobuf"
    if media == CONTENT_TYPE_JSON:
        return "json"
    raise IngestError(
        f"unsupported Content-Type {content_type!r}: send {CONTENT_TYPE_PROTOBUF} "
        f"or {CONTENT_TYPE_JSON}",
        status=415,
    )


def decompress(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Undo gzip/deflate, never producing more than ``limit`` bytes (413 beyond)."""
    enc = (content_encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        return body
    if enc == "gzip":
        wbits = 16 + zlib.MAX_WBITS
    elif enc == "deflate":
        # HTTP "deflate" is zlib-wrapped (RFC 9110 8.4.1.2); 32+ also accepts gzip.
        wbits = 32 + zlib.MAX_WBITS
    else:
        raise IngestError(
            f"unsupported Content-Encoding {content_encoding!r}: send gzip, deflate or identity",
            status=415,
        )
    inflater = zlib.decompressobj(wbits)
    try:
        # max_length stops inflation one byte past the limit: a bomb is cut
        # off after `limit` bytes of output however small its input.
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise IngestError(f"body is not valid {enc} data: {exc}") from exc
    if len(out) > limit:
        raise IngestError(
            f"decompressed body exceeds the limit of {limit} bytes (max_decompressed_bytes)",
            status=413,
        )
    if not inflater.eof:
        raise IngestError(f"truncated {enc} body")
    return out


def _hex_to_b64(value: Any, field: str, size: int) -> str:
    if not isinstance(value, str):
        raise IngestError(f"{field} must be a hex string")
    if value == "":
        return ""
    try:
        raw = binascii.unhexlify(value)
    except (binascii.Error, ValueError):
        raise IngestError(f"{field} {value[:40]!r} is not hex") from None
    if len(raw) != size:
        raise IngestError(f"{field} must be {size} bytes ({2 * size} hex digits)")
    return base64.b64encode(raw).decode("ascii")


_ID_FIELDS: Final = (
    ("traceId", "trace_id", 16),
    ("spanId", "span_id", 8),
    ("parentSpanId", "parent_span_id", 8),
)


def _fix_ids(item: Any) -> None:
    if not isinstance(item, dict):
        return
    for camel, snake, size in _ID_FIELDS:
        for key in (camel, snake):
            if key in item:
                item[key] = _hex_to_b64(item[key], camel, size)


def _list(obj: Any, *names: str) -> list[Any]:
    if not isinstance(obj, dict):
        return []
    for name in names:
        value = obj.get(name)
        if isinstance(value, list):
            return value
    return []


def _json_hex_ids(doc: Any, signal: Signal) -> None:
    """Rewrite OTLP/JSON hex ids to the base64 that json_format expects, in place."""
    if signal == "traces":
        for rs in _list(doc, "resourceSpans", "resource_spans"):
            for ss in _list(rs, "scopeSpans", "scope_spans"):
                for span in _list(ss, "spans"):
                    _fix_ids(span)
                    for link in _list(span, "links"):
                        _fix_ids(link)
    elif signal == "logs":
        for rl in _list(doc, "resourceLogs", "resource_logs"):
            for sl in _list(rl, "scopeLogs", "scope_logs"):
                for record in _list(sl, "logRecords", "log_records"):
                    _fix_ids(record)
    else:
        for rm in _list(doc, "resourceMetrics", "resource_metrics"):
            for sm in _list(rm, "scopeMetrics", "scope_metrics"):
                for metric in _list(sm, "metrics"):
                    if not isinstance(metric, dict):
                        continue
                    for kind in ("gauge", "sum", "histogram", "exponentialHistogram", "summary"):
                        for point in _list(metric.get(kind), "dataPoints", "data_points"):
                            for exemplar in _list(point, "exemplars"):
                                _fix_ids(exemplar)


# -- counting what a body expands into ----------------------------------------------

_RES, _ITEMS, _EVENTS, _ATTRS = range(4)
_LIMIT_NAMES: Final = ("max_resources", "max_items", "max_events", "max_attributes_total")


def _ld(field: int) -> int:
    """The one-byte tag of a length-delimited field (fields 1..15)."""
    return field << 3 | 2


# message kind -> {tag: (child kind, counter or -1)}; "kv" is a KeyValue
# (counted as an attribute of the message holding it). Only the fields that
# can multiply are listed; every other field is skipped by its wire type.
_SCHEMAS: Final[dict[str, dict[int, tuple[str, int]]]] = {
    "resource": {_ld(1): ("kv", _ATTRS)},
    "scope": {_ld(3): ("kv", _ATTRS)},
    "traces": {_ld(1): ("resource_spans", _RES)},
    "resource_spans": {_ld(1): ("resource", -1), _ld(2): ("scope_spans", -1)},
    "scope_spans": {_ld(1): ("scope", -1), _ld(2): ("span", _ITEMS)},
    "span": {_ld(9): ("kv", _ATTRS), _ld(11): ("event", _EVENTS), _ld(13): ("link", _EVENTS)},
    "event": {_ld(3): ("kv", _ATTRS)},
    "link": {_ld(4): ("kv", _ATTRS)},
    "logs": {_ld(1): ("resource_logs", _RES)},
    "resource_logs": {_ld(1): ("resource", -1), _ld(2): ("scope_logs", -1)},
    "scope_logs": {_ld(1): ("scope", -1), _ld(2): ("log_record", _ITEMS)},
    "log_record": {_ld(5): ("any", -1), _ld(6): ("kv", _ATTRS)},
    "metrics": {_ld(1): ("resource_metrics", _RES)},
    "resource_metrics": {_ld(1): ("resource", -1), _ld(2): ("scope_metrics", -1)},
    "scope_metrics": {_ld(1): ("scope", -1), _ld(2): ("metric", -1)},
    "metric": {
        _ld(5): ("number_points", -1),
        _ld(7): ("number_points", -1),
        _ld(9): ("histogram_points", -1),
        _ld(10): ("exp_points", -1),
        _ld(11): ("summary_points", -1),
        _ld(12): ("kv", _ATTRS),
    },
    "number_points": {_ld(1): ("number_point", _ITEMS)},
    "histogram_points": {_ld(1): ("histogram_point", _ITEMS)},
    "exp_points": {_ld(1): ("exp_point", _ITEMS)},
    "summary_points": {_ld(1): ("summary_point", _ITEMS)},
    "number_point": {_ld(7): ("kv", _ATTRS), _ld(5): ("exemplar", _EVENTS)},
    "histogram_point": {_ld(9): ("kv", _ATTRS), _ld(8): ("exemplar", _EVENTS)},
    "exp_point": {_ld(1): ("kv", _ATTRS), _ld(11): ("exemplar", _EVENTS)},
    "summary_point": {_ld(7): ("kv", _ATTRS), _ld(6): ("leaf", _EVENTS)},
    "exemplar": {_ld(7): ("kv", _ATTRS)},
    "leaf": {},
    "kv": {_ld(2): ("any", -1)},
    "any": {_ld(5): ("array", -1), _ld(6): ("kvlist", -1)},
    "array": {_ld(1): ("any", _ATTRS)},
    "kvlist": {_ld(1): ("kv", _ATTRS)},
}
_WHAT: Final = {
    "span": "span",
    "event": "span event",
    "link": "span link",
    "log_record": "log record",
    "metric": "metric",
    "number_point": "data point",
    "histogram_point": "data point",
    "exp_point": "data point",
    "summary_point": "data point",
    "exemplar": "exemplar",
    "kvlist": "key-value list",
}


class _Scanner:
    """Walks protobuf wire format, counting what the parsed message would hold."""

    __slots__ = ("buf", "caps", "counts", "limits", "signal")

    def __init__(self, buf: bytes, limits: DecodeLimits, signal: Signal) -> None:
        self.buf = buf
        self.counts = [0, 0, 0, 0]
        self.caps = (
            limits.max_resources,
            limits.max_items,
            limits.max_events,
            limits.max_attributes_total,
        )
        self.limits = limits
        self.signal = signal

    def over(self, counter: int) -> IngestError:
        what = (
            "resources",
            _ITEM_NAME[self.signal] + "s",
            "events, links and exemplars",
            "attributes and attribute values",
        )[counter]
        return IngestError(
            f"the request carries more than {self.caps[counter]} {what} "
            f"(limit {_LIMIT_NAMES[counter]})",
            status=413,
        )

    def scan(self, pos: int, end: int, kind: str, depth: int) -> None:
        if depth > self.limits.max_depth:
            raise IngestError(
                f"values nested deeper than {self.limits.max_depth} levels (limit max_depth)"
            )
        buf = self.buf
        fields = _SCHEMAS[kind]
        counts = self.counts
        caps = self.caps
        attrs_here = 0
        try:
            while pos < end:
                tag = buf[pos]
                pos += 1
                if tag >= 0x80:
                    tag, pos = _varint_rest(buf, pos, tag)
                wire_type = tag & 7
                if wire_type == 2:
                    n = buf[pos]
                    pos += 1
                    if n >= 0x80:
                        n, pos = _varint_rest(buf, pos, n)
                    nxt = pos + n
                    if nxt > end:
                        raise IngestError("body is not valid protobuf: a field runs past its end")
                    child = fields.get(tag)
                    if child is not None:
                        child_kind, counter = child
                        if counter >= 0:
                            counts[counter] += 1
                            if counts[counter] > caps[counter]:
                                raise self.over(counter)
                        if child_kind == "kv":
                            attrs_here += 1
                            self._kv(pos, nxt, depth)
                        elif n:
                            self.scan(pos, nxt, child_kind, depth + 1)
                    pos = nxt
                elif wire_type == 0:
                    while buf[pos] >= 0x80:
                        pos += 1
                    pos += 1
                elif wire_type == 1:
                    pos += 8
                elif wire_type == 5:
                    pos += 4
                else:
                    raise IngestError(f"body is not valid protobuf: wire type {wire_type}")
        except IndexError:
            raise IngestError("body is not valid protobuf: truncated") from None
        if pos != end:
            raise IngestError("body is not valid protobuf: truncated")
        if attrs_here > self.limits.max_attributes:
            raise IngestError(
                f"a {_WHAT.get(kind, kind)} carries {attrs_here} attributes; the limit is "
                f"{self.limits.max_attributes} (max_attributes)",
                status=413,
            )

    def _kv(self, pos: int, end: int, depth: int) -> None:
        # Nearly every value is a scalar: look at the AnyValue's first tag and
        # walk it only when it is an array (0x2a) or a key-value list (0x32).
        buf = self.buf
        if end - pos < 4 or buf[pos] != 0x0A or buf[pos + 1] >= 0x80:
            self.scan(pos, end, "kv", depth + 1)
            return
        value = pos + 2 + buf[pos + 1]
        if value + 2 <= end and buf[value] == 0x12 and buf[value + 1] < 0x80:
            start = value + 2
            if start + buf[value + 1] == end and (start == end or buf[start] not in (0x2A, 0x32)):
                return
        self.scan(pos, end, "kv", depth + 1)


def _varint_rest(buf: bytes, pos: int, first: int) -> tuple[int, int]:
    value = first & 0x7F
    shift = 7
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise IngestError("body is not valid protobuf: varint too long")


class ParsedCounter:
    """The limits of :class:`DecodeLimits`, counted by whoever walks a parsed request.

    :func:`decode_body` counts small bodies on the parsed message; with
    ``defer_span_counts`` it leaves a trace request's counting to
    :func:`~lambdaguard.collector.spans.extract`, which walks every span
    anyway and reads each distinct span shape once, so the counts are not read
    through protobuf objects twice. Same limits, same messages, same order.
    """

    __slots__ = ("caps", "counts", "max_attributes", "max_total", "scanner")

    RESOURCES: Final = _RES
    ITEMS: Final = _ITEMS
    EVENTS: Final = _EVENTS
    ATTRIBUTES: Final = _ATTRS

    def __init__(self, signal: Signal, limits: DecodeLimits) -> None:
        self.scanner = _Scanner(b"", limits, signal)
        self.counts = self.scanner.counts
        self.caps = self.scanner.caps
        self.max_attributes = limits.max_attributes
        self.max_total = limits.max_attributes_total

    def add(self, counter: int, n: int) -> None:
        """Count ``n`` more of one kind (413 past its limit)."""
        self.counts[counter] += n
        if self.counts[counter] > self.caps[counter]:
            raise self.scanner.over(counter)

    def attrs(self, n: int, what: str) -> None:
        """Count one container's ``n`` attributes (413 past max_attributes or the total)."""
        if n > self.max_attributes:
            raise IngestError(
                f"a {what} carries {n} attributes; the limit is {self.max_attributes} "
                "(max_attributes)",
                status=413,
            )
        self.add(_ATTRS, n)


def _check_parsed(signal: Signal, message: Any, limits: DecodeLimits) -> None:
    """The same limits, counted on an already parsed (small or JSON) message."""
    counter = ParsedCounter(signal, limits)
    scanner = counter.scanner
    counts = counter.counts
    add = counter.add
    attrs = counter.attrs

    if signal == "traces":
        max_attributes = limits.max_attributes
        max_total = scanner.caps[_ATTRS]
        add(_RES, len(message.resource_spans))
        for rs in message.resource_spans:
            attrs(len(rs.resource.attributes), "resource")
            for ss in rs.scope_spans:
                attrs(len(ss.scope.attributes), "scope")
                add(_ITEMS, len(ss.spans))
                for span in ss.spans:
                    # attrs() inlined: this loop runs for every span of every request.
                    n = len(span.attributes)
                    if n > max_attributes:
                        attrs(n, "span")
                    counts[_ATTRS] += n
                    if counts[_ATTRS] > max_total:
                        raise scanner.over(_ATTRS)
                    if span.events or span.links:
                        add(_EVENTS, len(span.events) + len(span.links))
                        for event in span.events:
                            attrs(len(event.attributes), "span event")
                        for link in span.links:
                            attrs(len(link.attributes), "span link")
    elif signal == "logs":
        add(_RES, len(message.resource_logs))
        for rl in message.resource_logs:
            attrs(len(rl.resource.attributes), "resource")
            for sl in rl.scope_logs:
                attrs(len(sl.scope.attributes), "scope")
                add(_ITEMS, len(sl.log_records))
                for record in sl.log_records:
                    attrs(len(record.attributes), "log record")
    else:
        add(_RES, len(message.resource_metrics))
        for rm in message.resource_metrics:
            attrs(len(rm.resource.attributes), "resource")
            for sm in rm.scope_metrics:
                attrs(len(sm.scope.attributes), "scope")
                for metric in sm.metrics:
                    which = metric.WhichOneof("data")
                    if which is None:
                        continue
                    points = getattr(metric, which).data_points
                    add(_ITEMS, len(points))
                    for point in points:
                        attrs(len(point.attributes), "data point")


def check_limits(signal: Signal, message: Any, limits: DecodeLimits) -> None:
    """Count a parsed request against ``limits`` (IngestError 413 naming the one crossed)."""
    _check_parsed(signal, message, limits)


def check_attribute_counts(signal: Signal, message: Any, max_attributes: int) -> None:
    """Reject a parsed request whose resource, scope, span, event or link has too many attributes."""
    _check_parsed(signal, message, DecodeLimits(max_attributes=max_attributes))


# -- salvage: one bad span rejects that span, not the batch -----------------------


def _fields(buf: bytes, pos: int, end: int) -> list[tuple[int, int, int, int]]:
    """(field, wire type, start, end) of each field of one message; raises on malformed input."""
    out = []
    while pos < end:
        tag, pos = _varint_rest(buf, pos + 1, buf[pos]) if buf[pos] >= 0x80 else (buf[pos], pos + 1)
        wire_type = tag & 7
        start = pos
        if wire_type == 2:
            n, pos = (
                _varint_rest(buf, pos + 1, buf[pos]) if buf[pos] >= 0x80 else (buf[pos], pos + 1)
            )
            start = pos
            pos += n
        elif wire_type == 0:
            _, pos = _varint_rest(buf, pos + 1, buf[pos]) if buf[pos] >= 0x80 else (0, pos + 1)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        else:
            raise IngestError(f"body is not valid protobuf: wire type {wire_type}")
        if pos > end:
            raise IngestError("body is not valid protobuf: truncated")
        out.append((tag >> 3, wire_type, start, pos))
    return out


# signal -> (item message class, item field of the scope container)
_SALVAGE: Final[dict[str, tuple[Any, str]]] = {
    "traces": (trace_pb2.Span, "spans"),
    "logs": (logs_pb2.LogRecord, "log_records"),
}
_CONTAINERS: Final = {
    "traces": ("resource_spans", "scope_spans"),
    "logs": ("resource_logs", "scope_logs"),
}


def _salvage(signal: Signal, body: bytes, error: Exception) -> tuple[Any, int, str]:
    """Re-parse a body that failed as a whole item by item; (message, rejected, reason).

    Raises the original 400 when the damage is not inside items (a bad
    resource or scope rejects its items; a broken envelope rejects the body).
    """
    if signal not in _SALVAGE:
        raise IngestError(f"body is not a valid OTLP {signal} protobuf: {error}") from error
    item_cls, item_field = _SALVAGE[signal]
    outer, middle = _CONTAINERS[signal]
    message = _REQUEST[signal]()
    rejected = 0
    reasons: set[str] = set()
    try:
        for field, wire_type, start, end in _fields(body, 0, len(body)):
            if field != 1 or wire_type != 2:
                continue
            rs_out = getattr(message, outer).add()
            for f2, w2, s2, e2 in _fields(body, start, end):
                if w2 != 2:
                    continue
                if f2 == 1:
                    try:
                        rs_out.resource.ParseFromString(body[s2:e2])
                    except (DecodeError, RuntimeError, ValueError) as exc:
                        raise IngestError(f"a resource is not valid OTLP: {exc}") from exc
                elif f2 == 2:
                    ss_out = getattr(rs_out, middle).add()
                    for f3, w3, s3, e3 in _fields(body, s2, e2):
                        if w3 != 2:
                            continue
                        if f3 == 1:
                            try:
                                ss_out.scope.ParseFromString(body[s3:e3])
                            except (DecodeError, RuntimeError, ValueError) as exc:
                                raise IngestError(f"a scope is not valid OTLP: {exc}") from exc
                        elif f3 == 2:
                            try:
                                item = item_cls.FromString(body[s3:e3])
                            except (DecodeError, RuntimeError, ValueError) as exc:
                                rejected += 1
                                reasons.add(str(exc) or exc.__class__.__name__)
                                continue
                            getattr(ss_out, item_field).append(item)
    except IndexError:
        raise IngestError(f"body is not a valid OTLP {signal} protobuf: {error}") from error
    if not rejected:
        raise IngestError(f"body is not a valid OTLP {signal} protobuf: {error}") from error
    what = _ITEM_NAME[signal]
    reason = (
        f"{rejected} {what}(s) rejected: not valid protobuf on their own (invalid UTF-8 or an "
        f"unpaired surrogate in a string, or a malformed field): {'; '.join(sorted(reasons))[:200]}"
    )
    return message, rejected, reason


def decode_body(
    signal: Signal,
    body: bytes,
    encoding: Encoding,
    *,
    limits: DecodeLimits | None = None,
    max_attributes: int | None = None,
    defer_span_counts: bool = False,
) -> DecodedRequest:
    """Decode an (already decompressed) export request body, or raise a 400/413.

    ``defer_span_counts``: a small protobuf trace request is parsed but its
    limits are left to the caller (``counted`` is False), who counts them with
    :class:`ParsedCounter` while walking it (:func:`~lambdaguard.collector.spans.extract`).
    """
    if limits is None:
        limits = DecodeLimits()
    if max_attributes is not None:
        limits = dataclasses.replace(limits, max_attributes=max_attributes)
    if len(body) > limits.max_decompressed_bytes:
        raise IngestError(
            f"body of {len(body)} bytes exceeds the limit of {limits.max_decompressed_bytes} "
            "decompressed bytes (max_decompressed_bytes)",
            status=413,
        )
    message = _REQUEST[signal]()
    rejected = 0
    reason = ""
    counted = True
    if encoding == "protobuf":
        scanned = len(body) > SCAN_THRESHOLD
        if scanned:
            _Scanner(body, limits, signal).scan(0, len(body), signal, 0)
        try:
            message.ParseFromString(body)
            payload = body
        except (DecodeError, RuntimeError, ValueError) as exc:
            # upb raises DecodeError for truncation, bad wire types, invalid
            # UTF-8 in string fields and nesting beyond its recursion limit.
            message, rejected, reason = _salvage(signal, body, exc)
            payload = message.SerializeToString()
        if rejected or (not scanned and not (defer_span_counts and signal == "traces")):
            _check_parsed(signal, message, limits)
        elif not scanned:
            counted = False
    else:
        containers = body.count(b"{") + body.count(b"[")
        if containers > limits.max_json_containers:
            raise IngestError(
                f"the JSON body holds more than {limits.max_json_containers} objects and arrays "
                "(limit max_json_containers)",
                status=413,
            )
        try:
            doc = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise IngestError(f"JSON body is not valid UTF-8: {exc}") from exc
        except (ValueError, RecursionError) as exc:
            raise IngestError(f"body is not valid JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise IngestError("JSON body must be an object")
        try:
            _json_hex_ids(doc, signal)
            json_format.ParseDict(doc, message, ignore_unknown_fields=True)
        except IngestError:
            raise
        except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
            raise IngestError(f"body is not a valid OTLP/JSON {signal} request: {exc}") from exc
        del doc
        _check_parsed(signal, message, limits)
        try:
            payload = message.SerializeToString()
        except (RuntimeError, ValueError) as exc:  # pragma: no cover - upb re-validates
            raise IngestError(f"body is not a valid OTLP/JSON {signal} request: {exc}") from exc
    return DecodedRequest(
        signal=signal,
        message=message,
        payload=payload,
        rejected=rejected,
        reason=reason,
        counted=counted,
    )


def _encode(message: Message, encoding: Encoding) -> bytes:
    if encoding == "json":
        return json_format.MessageToJson(message, indent=None).encode("utf-8")
    return message.SerializeToString()


def encode_response(
    signal: Signal, encoding: Encoding, *, rejected: int = 0, error_message: str = ""
) -> bytes:
    """The 200 body: an Export*ServiceResponse, with partial_success when something was dropped."""
    response = _RESPONSE[signal]()
    if rejected or error_message:
        partial = response.partial_success
        if signal == "traces":
            partial.rejected_spans = rejected
        elif signal == "logs":
            partial.rejected_log_records = rejected
        else:
            partial.rejected_data_points = rejected
        partial.error_message = error_message
    return _encode(response, encoding)


# HTTP status -> google.rpc.Code, for the Status body of a failed request.
_GRPC_CODE: Final = {
    400: 3,  # INVALID_ARGUMENT
    401: 16,  # UNAUTHENTICATED
    404: 5,  # NOT_FOUND
    405: 12,  # UNIMPLEMENTED
    413: 8,  # RESOURCE_EXHAUSTED
    415: 3,
    429: 8,
    503: 14,  # UNAVAILABLE
}


def encode_status(http_status: int, message: str, encoding: Encoding) -> bytes:
    """A google.rpc.Status body, as the OTLP/HTTP specification asks for failed requests."""
    status = status_pb2.Status(code=_GRPC_CODE.get(http_status, 2), message=message)
    return _encode(status, encoding)
