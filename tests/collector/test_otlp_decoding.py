"""Decoding OTLP bodies: what is accepted, and the 4xx for everything else."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

from lambdaguard.collector.otlp import (
    decode_body,
    decompress,
    encode_response,
    encode_status,
    negotiate,
)
from lambdaguard.errors import IngestError

from .conftest import kv, trace_request

TRACE_ID = bytes(range(16))


def _json_body(request: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON: canonical proto JSON with ids rewritten to hex as the spec requires."""
    doc = json_format.MessageToDict(request)
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        import base64

                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(doc).encode()


def test_protobuf_round_trips() -> None:
    """A valid protobuf body decodes to the same message and keeps its bytes for forwarding."""
    body = trace_request(trace_id=TRACE_ID).SerializeToString()
    decoded = decode_body("traces", body, "protobuf", max_attributes=128)
    assert decoded.payload == body
    assert decoded.message.resource_spans[0].scope_spans[0].spans[0].trace_id == TRACE_ID


def test_json_hex_ids_decode_to_bytes() -> None:
    """OTLP/JSON hex trace and span ids become the same bytes protobuf carries."""
    request = trace_request(trace_id=TRACE_ID)
    decoded = decode_body("traces", _json_body(request), "json", max_attributes=128)
    assert decoded.message == request
    assert ExportTraceServiceRequest.FromString(decoded.payload) == request


def test_json_unknown_fields_are_ignored() -> None:
    """Unknown JSON fields are ignored, as the OTLP specification requires."""
    body = json.dumps({"resourceSpans": [], "somethingNew": {"x": 1}}).encode()
    assert decode_body("traces", body, "json", max_attributes=8).message.resource_spans == []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"\xff\xfe{", "UTF-8"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be an object"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', "not hex"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "abcd"}]}]}]}', "16 bytes"),
        (b'{"resourceSpans": "nope"}', "not a valid OTLP/JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_bad_json_is_a_400_with_a_clear_message(body: bytes, needle: str) -> None:
    """Invalid JSON, invalid UTF-8, bad ids and wrong shapes are 400s naming the problem."""
    with pytest.raises(IngestError) as exc:
        decode_body("traces", body, "json", max_attributes=8)
    assert exc.value.status == 400
    assert needle in str(exc.value)


def test_truncated_protobuf_is_a_400() -> None:
    """A protobuf body cut short is rejected with 400, not half-stored."""
    body = trace_request(trace_id=TRACE_ID).SerializeToString()
    with pytest.raises(IngestError) as exc:
        decode_body("traces", body[:-7], "protobuf", max_attributes=128)
    assert exc.value.status == 400


def test_invalid_utf8_in_one_span_rejects_that_span_only() -> None:
    """A span whose string holds invalid UTF-8 is rejected alone; the other spans decode."""
    request = trace_request(trace_id=TRACE_ID, invocations=3)
    spans = request.resource_spans[0].scope_spans[0].spans
    total = len(spans)
    spans[1].name = "MARKER"
    body = request.SerializeToString().replace(b"MARKER", b"\xff\xfe\xfd\xfc\xfb\xfa")
    decoded = decode_body("traces", body, "protobuf", max_attributes=128)
    assert decoded.rejected == 1
    assert "UTF-8" in decoded.reason
    kept = decoded.message.resource_spans[0].scope_spans[0].spans
    assert len(kept) == total - 1
    assert spans[1].span_id not in {s.span_id for s in kept}
    assert ExportTraceServiceRequest.FromString(decoded.payload) == decoded.message


def test_invalid_utf8_in_the_resource_is_a_400() -> None:
    """Invalid UTF-8 outside any span (here in the resource) still rejects the body (400)."""
    request = trace_request(trace_id=TRACE_ID, layer_version="MARKER")
    body = request.SerializeToString().replace(b"MARKER", b"\xff\xfe\xfd\xfc\xfb\xfa")
    with pytest.raises(IngestError) as exc:
        decode_body("traces", body, "protobuf", max_attributes=128)
    assert exc.value.status == 400
    assert "resource" in str(exc.value)


def test_enormous_attribute_counts_are_a_413() -> None:
    """A span with more attributes than the limit is refused with a message naming the limit."""
    request = trace_request(trace_id=TRACE_ID)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.extend(kv(f"k{i}", i) for i in range(5000))
    with pytest.raises(IngestError, match="limit is 1024") as exc:
        decode_body("traces", request.SerializeToString(), "protobuf", max_attributes=1024)
    assert exc.value.status == 413


def test_gzip_bomb_stops_at_the_limit() -> None:
    """A small gzip body inflating past the limit is a 413 after at most limit+1 bytes."""
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100_000
    with pytest.raises(IngestError) as exc:
        decompress(bomb, "gzip", 1024 * 1024)
    assert exc.value.status == 413


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("identity", bytes), (None, bytes)],
)
def test_supported_encodings_decompress(encoding: str | None, compress: object) -> None:
    """gzip, deflate and identity bodies come back byte for byte."""
    data = b"otlp" * 1000
    assert decompress(compress(data), encoding, 1 << 20) == data  # type: ignore[operator]


def test_truncated_gzip_and_unknown_encodings_are_refused() -> None:
    """A cut gzip stream is a 400 and an unknown Content-Encoding a 415."""
    with pytest.raises(IngestError) as exc:
        decompress(gzip.compress(b"x" * 10_000)[:-20], "gzip", 1 << 20)
    assert exc.value.status == 400
    with pytest.raises(IngestError) as exc:
        decompress(b"x", "br", 1 << 20)
    assert exc.value.status == 415


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/x-protobuf", "protobuf"),
        ("application/json; charset=utf-8", "json"),
        ("Application/JSON", "json"),
    ],
)
def test_content_types_negotiate(content_type: str, expected: str) -> None:
    """The two OTLP media types (parameters and case aside) select the encoding."""
    assert negotiate(content_type) == expected


@pytest.mark.parametrize(
    "content_type", [None, "", "text/plain", "application/grpc", "multipart/form-data"]
)
def test_wrong_content_types_are_415(content_type: str | None) -> None:
    """Any other Content-Type is a 415 naming the accepted ones."""
    with pytest.raises(IngestError, match="application/x-protobuf") as exc:
        negotiate(content_type)
    assert exc.value.status == 415


def test_partial_success_response_carries_count_and_message() -> None:
    """A partial success response says how many spans were rejected and why, in JSON too."""
    body = encode_response("traces", "json", rejected=3, error_message="bad ids")
    assert json.loads(body) == {"partialSuccess": {"rejectedSpans": "3", "errorMessage": "bad ids"}}
    assert encode_response("traces", "protobuf") == b""


def test_status_body_is_a_google_rpc_status() -> None:
    """Error bodies are google.rpc.Status with the message the client should see."""
    from google.rpc import status_pb2

    status = status_pb2.Status.FromString(encode_status(400, "broken", "protobuf"))
    assert (status.code, status.message) == (3, "broken")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=2048), signal=st.sampled_from(["traces", "logs"]))
def test_fuzz_protobuf_decoder_only_raises_ingest_errors(body: bytes, signal: str) -> None:
    """Arbitrary bytes either decode or raise IngestError(400) — never anything else."""
    status = None
    try:
        decode_body(signal, body, "protobuf", max_attributes=64)  # type: ignore[arg-type]
    except IngestError as exc:
        status = exc.status
    assert status in (None, 400)


@settings(max_examples=200, deadline=None)
@given(
    mutation=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    cut=st.integers(0, 10_000),
)
def test_fuzz_mutated_valid_requests(mutation: list[tuple[int, int]], cut: int) -> None:
    """Valid requests with flipped bytes or cut short decode or give IngestError(400)."""
    data = bytearray(trace_request(trace_id=TRACE_ID, hosts=[("h", 443, True)]).SerializeToString())
    for pos, value in mutation:
        data[pos % len(data)] = value
    status = None
    try:
        decode_body(
            "traces", bytes(data[: max(1, cut % (len(data) + 1))]), "protobuf", max_attributes=64
        )
    except IngestError as exc:
        status = exc.status
    assert status in (None, 400)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(
    doc=st.fixed_dictionaries(
        {},
        optional={
            "resourceSpans": st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "resource": json_values,
                        "scopeSpans": st.lists(
                            st.fixed_dictionaries(
                                {},
                                optional={
                                    "spans": st.lists(
                                        st.dictionaries(
                                            st.sampled_from(
                                                [
                                                    "traceId",
                                                    "spanId",
                                                    "name",
                                                    "attributes",
                                                    "kind",
                                                    "events",
                                                ]
                                            ),
                                            json_values,
                                        ),
                                        max_size=3,
                                    )
                                },
                            ),
                            max_size=2,
                        ),
                    },
                ),
                max_size=2,
            )
        },
    )
)
def test_fuzz_json_decoder_only_raises_ingest_errors(doc: dict[str, object]) -> None:
    """Structurally plausible but arbitrary OTLP/JSON decodes or raises IngestError(400)."""
    status = None
    try:
        decode_body("traces", json.dumps(doc).encode(), "json", max_attributes=64)
    except IngestError as exc:
        status = exc.status
    assert status in (None, 400)


def _ld(field: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field."""
    from google.protobuf.internal.encoder import _VarintBytes  # type: ignore[attr-defined]

    return bytes([field << 3 | 2]) + _VarintBytes(len(payload)) + payload


@pytest.mark.parametrize(
    ("body", "limit"),
    [
        (b"\x0a\x00" * 3_000_000, "max_resources"),  # 6 MB of empty resource spans
        (_ld(1, _ld(2, b"\x12\x00" * 3_000_000)), "max_items"),  # empty spans
        (_ld(1, _ld(2, _ld(2, b"\x5a\x00" * 3_000_000))), "max_events"),  # empty span events
        (_ld(1, _ld(2, _ld(2, b"\x4a\x00" * 3_000_000))), "max_attributes"),  # empty attributes
        (
            _ld(1, _ld(2, _ld(2, _ld(9, _ld(2, _ld(5, b"\x0a\x00" * 3_000_000)))))),
            "max_attributes_total",
        ),  # one attribute whose array value holds millions of empty values
    ],
)
def test_amplified_bodies_are_413_naming_the_limit(body: bytes, limit: str) -> None:
    """Bodies of millions of empty messages are refused (413, naming the limit) before parsing."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(IngestError) as exc:
        decode_body("traces", body, "protobuf")
    assert exc.value.status == 413
    assert limit in str(exc.value)
    # Parsing any of these would take hundreds of MB; the scan takes nothing.
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 64 * 1024


def test_small_and_large_bodies_obey_the_same_limits() -> None:
    """A body under the scan threshold is held to the same counts after parsing."""
    from lambdaguard.collector.otlp import SCAN_THRESHOLD, DecodeLimits

    small = b"\x0a\x00" * 20
    assert len(small) < SCAN_THRESHOLD
    with pytest.raises(IngestError, match="max_resources") as exc:
        decode_body("traces", small, "protobuf", limits=DecodeLimits(max_resources=10))
    assert exc.value.status == 413
    assert decode_body("traces", small, "protobuf", limits=DecodeLimits(max_resources=20))


def test_agent_requests_pass_the_scanner_unchanged() -> None:
    """A large agent-shaped body passes the pre-scan and decodes to the same message."""
    from lambdaguard.collector.otlp import SCAN_THRESHOLD

    request = trace_request(trace_id=TRACE_ID, invocations=300, hosts=[("a.example", 443, True)])
    request.resource_spans[0].scope_spans[0].spans[0].attributes.append(
        KeyValue(
            key="list",
            value=AnyValue(
                array_value=ArrayValue(values=[AnyValue(string_value="x") for _ in range(5)])
            ),
        )
    )
    body = request.SerializeToString()
    assert len(body) > SCAN_THRESHOLD
    assert decode_body("traces", body, "protobuf").message == request


def test_json_container_flood_is_413() -> None:
    """A JSON body of hundreds of thousands of empty objects is refused before json.loads."""
    body = b'{"resourceSpans": [' + b",".join([b"{}"] * 300_000) + b"]}"
    with pytest.raises(IngestError, match="max_json_containers") as exc:
        decode_body("traces", body, "json")
    assert exc.value.status == 413


def test_decompressed_size_limit_is_named() -> None:
    """A decompressed body over max_decompressed_bytes is a 413 naming that limit."""
    from lambdaguard.collector.otlp import DecodeLimits

    with pytest.raises(IngestError, match="max_decompressed_bytes") as exc:
        decode_body(
            "traces", b"\x00" * 2000, "protobuf", limits=DecodeLimits(max_decompressed_bytes=1000)
        )
    assert exc.value.status == 413
