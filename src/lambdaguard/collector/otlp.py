"""OTLP request decoding and response encoding (protobuf and JSON), with limits.

Everything a hostile client can send stops here as an
:class:`~lambdaguard.errors.IngestError` carrying the HTTP status to answer:
bodies over the limit (413, checked on the wire *and* while decompressing, so
a gzip bomb costs at most ``limit`` bytes), unknown content types (415) or
encodings, invalid protobuf or JSON, invalid UTF-8 and oversized attribute
lists (400). This is the one place protobuf/JSON errors are translated.

OTLP/JSON differs from protobuf's canonical JSON mapping in one way that
matters: ``traceId``/``spanId``/``parentSpanId`` are hex strings, not base64
(OTLP specification, "JSON Protobuf Encoding"). Field names may be
lowerCamelCase or the original names, enums are integers, and unknown fields
must be ignored; ``json_format`` does the rest.
"""

from __future__ import annotations

import base64
import binascii
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

from lambdaguard.errors import IngestError

__all__ = [
    "CONTENT_TYPE_JSON",
    "CONTENT_TYPE_PROTOBUF",
    "DecodedRequest",
    "Encoding",
    "Signal",
    "check_attribute_counts",
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


@dataclass(frozen=True, slots=True)
class DecodedRequest:
    """A decoded export request and its protobuf bytes (what forwarding sends on)."""

    signal: Signal
    message: Any  # ExportTraceServiceRequest | ExportLogsServiceRequest
    payload: bytes


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
        raise IngestError(f"decompressed body exceeds the limit of {limit} bytes", status=413)
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


def check_attribute_counts(signal: Signal, message: Any, max_attributes: int) -> None:
    """Reject (400) a request whose resource, scope, span, event or link has too many attributes."""

    def check(n: int, what: str) -> None:
        if n > max_attributes:
            raise IngestError(f"a {what} carries {n} attributes; the limit is {max_attributes}")

    if signal == "traces":
        for rs in message.resource_spans:
            check(len(rs.resource.attributes), "resource")
            for ss in rs.scope_spans:
                check(len(ss.scope.attributes), "scope")
                for span in ss.spans:
                    check(len(span.attributes), "span")
                    for event in span.events:
                        check(len(event.attributes), "span event")
                    for link in span.links:
                        check(len(link.attributes), "span link")
    elif signal == "metrics":
        for rm in message.resource_metrics:
            check(len(rm.resource.attributes), "resource")
            for sm in rm.scope_metrics:
                check(len(sm.scope.attributes), "scope")
                for metric in sm.metrics:
                    kind = metric.WhichOneof("data")
                    for point in getattr(metric, kind).data_points if kind else ():
                        check(len(point.attributes), "data point")
    else:
        for rl in message.resource_logs:
            check(len(rl.resource.attributes), "resource")
            for sl in rl.scope_logs:
                check(len(sl.scope.attributes), "scope")
                for record in sl.log_records:
                    check(len(record.attributes), "log record")


def decode_body(
    signal: Signal, body: bytes, encoding: Encoding, *, max_attributes: int
) -> DecodedRequest:
    """Decode an (already decompressed) export request body, or raise a 400."""
    message = _REQUEST[signal]()
    if encoding == "protobuf":
        try:
            message.ParseFromString(body)
        except (DecodeError, RuntimeError, ValueError) as exc:
            # upb raises DecodeError for truncation, bad wire types, invalid
            # UTF-8 in string fields and nesting beyond its recursion limit.
            raise IngestError(f"body is not a valid OTLP {signal} protobuf: {exc}") from exc
        payload = body
    else:
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
        payload = message.SerializeToString()
    check_attribute_counts(signal, message, max_attributes)
    return DecodedRequest(signal=signal, message=message, payload=payload)


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
        elif signal == "metrics":
            partial.rejected_data_points = rejected
        else:
            partial.rejected_log_records = rejected
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
