"""Reducing OTLP spans to the facts lambdaguard stores."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from lambdaguard import semconv
from lambdaguard.collector.spans import extract, normalize_function_arn

from .conftest import ARN, Call, kv, trace_request

TRACE_ID = b"\x01" * 16


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (ARN, ARN),
        (ARN + ":live", ARN),
        (ARN + ":7", ARN),
        ("arn:aws:ecs:eu-west-1:123456789012:task/abc", None),
        ("arn:aws:lambda:eu-west-1:123456789012:layer:x:1", None),
        ("arn:aws:lambda:eu-west-1:123456789012:function:", None),
        ("orders", None),
    ],
)
def test_function_arns_are_unqualified(raw: str, expected: str | None) -> None:
    """Qualified ARNs lose their version/alias; anything not a function ARN is not a function."""
    assert normalize_function_arn(raw) == expected


def test_agent_shaped_request_yields_invocations_calls_and_hosts() -> None:
    """An agent-shaped request gives one fact per invocation and per call, hosts on the invocation."""
    request = trace_request(
        trace_id=TRACE_ID,
        invocations=2,
        calls=[Call(), Call("dynamodb", "PutItem", '{"TableName":"t"}', count=5)],
        hosts=[("api.example.com", 443, True)],
    )
    facts = extract(request, now_ns=1)
    assert facts.total_spans == 6
    assert facts.rejected == 0
    invocations = [f.invocation for f in facts.spans if f.invocation]
    assert [i.cold_start for i in invocations] == [True, False]
    calls = [f.call for f in facts.spans if f.call]
    assert sorted((c.service, c.operation, c.count, c.phase) for c in calls) == [
        ("dynamodb", "PutItem", 5, "invoke"),
        ("dynamodb", "PutItem", 5, "invoke"),
        ("s3", "GetObject", 1, "invoke"),
        ("s3", "GetObject", 1, "invoke"),
    ]
    hosts = [h for f in facts.spans for h, _ in f.hosts]
    assert {(h.host, h.port, h.tls) for h in hosts} == {("api.example.com", 443, True)}
    assert {f.function.arn for f in facts.spans} == {ARN}
    assert facts.spans[0].function.layer_version == "0.1.0"


def test_spans_from_other_sources_contribute_nothing() -> None:
    """Spans without a Lambda function produce no facts and are reported as rejected, with why."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(kv(semconv.SERVICE_NAME, "checkout"))
    span = rs.scope_spans.add().spans.add(trace_id=TRACE_ID, span_id=b"\x02" * 8, name="GET /")
    span.attributes.append(kv(semconv.AWS_SERVICE, "s3"))
    facts = extract(request, now_ns=1)
    assert facts.spans == ()
    assert facts.total_spans == 1
    assert facts.rejected == 1
    assert "no Lambda function" in facts.reject_reason


def test_calls_under_the_init_span_inherit_the_init_phase() -> None:
    """A call span without a phase attribute whose parent is the init span is an init-phase call."""
    request = trace_request(trace_id=TRACE_ID, invocations=0, calls=[])
    ss = request.resource_spans[0].scope_spans[0]
    init = ss.spans.add(trace_id=TRACE_ID, span_id=b"\x09" * 8, name=semconv.INIT_SPAN_NAME)
    init.attributes.append(kv(semconv.PHASE, semconv.PHASE_INIT))
    call = ss.spans.add(trace_id=TRACE_ID, span_id=b"\x0a" * 8, parent_span_id=init.span_id)
    call.attributes.extend(
        [kv(semconv.AWS_SERVICE, "ssm"), kv(semconv.AWS_OPERATION, "GetParameter")]
    )
    facts = extract(request, now_ns=1)
    phases = [f.call.phase for f in facts.spans if f.call]
    assert phases == [semconv.PHASE_INIT]
    assert not any(f.invocation for f in facts.spans)


def test_spans_with_bad_ids_are_rejected_and_counted() -> None:
    """Spans whose trace or span id has the wrong length are rejected (partial success)."""
    request = trace_request(trace_id=TRACE_ID)
    request.resource_spans[0].scope_spans[0].spans[0].trace_id = b"short"
    facts = extract(request, now_ns=1)
    assert facts.rejected == 1
    assert "16 bytes" in facts.reject_reason
    assert len(facts.spans) == 1  # the call span is still good


def test_missing_and_odd_attribute_values_take_neutral_defaults() -> None:
    """Wrong-typed or absent attributes never raise: count defaults to 1, port to 0."""
    request = trace_request(trace_id=TRACE_ID, calls=[], hosts=[])
    ss = request.resource_spans[0].scope_spans[0]
    span = ss.spans.add(trace_id=TRACE_ID, span_id=b"\x07" * 8)
    span.attributes.extend(
        [
            kv(semconv.AWS_SERVICE, "sqs"),
            kv(semconv.AWS_OPERATION, "SendMessage"),
            kv(semconv.AWS_COUNT, "many"),
        ]
    )
    ev = span.events.add(name=semconv.CONNECTION_EVENT)
    ev.attributes.extend(
        [kv(semconv.SERVER_ADDRESS, "x.example"), kv(semconv.SERVER_PORT, 99_999_999)]
    )
    facts = extract(request, now_ns=5)
    fact = next(f for f in facts.spans if f.call)
    assert fact.call is not None
    assert fact.call.count == 1
    ((host, when),) = fact.hosts
    assert host.port == 0
    assert when == 5


def _otel_request(resource: dict[str, str], *, on_span: dict[str, str] | None = None) -> Any:
    """Spans as the OpenTelemetry aws-lambda + botocore instrumentations shape them."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend(kv(k, v) for k, v in resource.items())
    ss = rs.scope_spans.add()
    inv = ss.spans.add(trace_id=TRACE_ID, span_id=b"\x01" * 8, name="handler", kind=2)
    inv.start_time_unix_nano = 10**18
    inv.attributes.extend(kv(k, v) for k, v in (on_span or {}).items())
    inv.attributes.append(kv(semconv.FAAS_INVOCATION_ID, "req-1"))
    calls = [
        ("S3", "GetObject", {semconv.OTEL_S3_BUCKET: "photos", semconv.OTEL_S3_KEY: "2026/a.jpg"}),
        ("DynamoDB", "BatchGetItem", {}),
        (
            "SQS",
            "SendMessage",
            {semconv.OTEL_SQS_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/1/q"},
        ),
        (
            "Secrets Manager",
            "GetSecretValue",
            {semconv.OTEL_SECRET_ARN: "arn:aws:secretsmanager:eu-west-1:1:secret:db"},
        ),
    ]
    for n, (service, method, extra) in enumerate(calls, start=2):
        span = ss.spans.add(
            trace_id=TRACE_ID, span_id=bytes([n]) * 8, parent_span_id=inv.span_id, kind=3
        )
        span.name = f"{service}.{method}"
        span.start_time_unix_nano = 10**18 + n
        span.attributes.extend(
            [
                kv(semconv.RPC_SYSTEM, semconv.RPC_SYSTEM_AWS),
                kv(semconv.RPC_SERVICE, service),
                kv(semconv.RPC_METHOD, method),
                kv(semconv.OTEL_AWS_REGION, "eu-west-1"),
                *(kv(k, v) for k, v in extra.items()),
            ]
        )
        if method == "BatchGetItem":
            span.attributes.append(
                KeyValue(
                    key=semconv.OTEL_DYNAMODB_TABLE_NAMES,
                    value=AnyValue(
                        array_value=ArrayValue(
                            values=[AnyValue(string_value="orders"), AnyValue(string_value="users")]
                        )
                    ),
                )
            )
    return request


@pytest.mark.parametrize(
    ("resource", "on_span"),
    [
        ({semconv.CLOUD_RESOURCE_ID: ARN}, None),
        ({semconv.FAAS_ID: ARN}, None),
        (
            {
                semconv.FAAS_NAME: "orders",
                semconv.CLOUD_ACCOUNT_ID: "123456789012",
                semconv.CLOUD_REGION: "eu-west-1",
            },
            None,
        ),
        ({semconv.SERVICE_NAME: "orders"}, {semconv.CLOUD_RESOURCE_ID: ARN + ":live"}),
    ],
)
def test_calls_from_other_instrumentations_are_kept_and_marked(
    resource: dict[str, str], on_span: dict[str, str] | None
) -> None:
    """botocore / JS SDK / ADOT call spans become calls marked source=otel, with the resources
    their attributes name, whichever convention names the function."""
    import json

    from lambdaguard.evidence import SOURCE_OTEL

    facts = extract(_otel_request(resource, on_span=on_span), now_ns=1)
    calls = {(f.call.service, f.call.operation): f.call for f in facts.spans if f.call}
    assert {f.function.arn for f in facts.spans} == {ARN}
    assert set(calls) == {
        ("s3", "GetObject"),
        ("dynamodb", "BatchGetItem"),
        ("sqs", "SendMessage"),
        ("secretsmanager", "GetSecretValue"),
    }
    assert all(c.source == SOURCE_OTEL and not c.params_complete for c in calls.values())
    assert json.loads(calls["s3", "GetObject"].params) == {"Bucket": "photos", "Key": "2026/"}
    assert json.loads(calls["dynamodb", "BatchGetItem"].params) == {
        "RequestItems": {"orders": {}, "users": {}}
    }
    assert json.loads(calls["sqs", "SendMessage"].params)["QueueUrl"].endswith("/1/q")
    assert any(f.invocation for f in facts.spans)
    assert facts.rejected == 0


def test_otel_calls_are_stored_beside_the_agents(sqlite_url: str) -> None:
    """Stored, an OTel call reads back as an ObservedCall with source=otel."""
    from lambdaguard.collector.store import open_store
    from lambdaguard.evidence import SOURCE_OTEL

    store = open_store(sqlite_url)
    store.ingest(extract(_otel_request({semconv.CLOUD_RESOURCE_ID: ARN}), now_ns=1).spans)
    calls = store.calls(ARN)
    assert len(calls) == 4
    assert {c.source for c in calls} == {SOURCE_OTEL}
    s3 = next(c for c in calls if c.service == "s3")
    assert s3.params == {"Bucket": "photos", "Key": "2026/"}
    store.close()


def test_caps_per_function_for_calls_and_hosts() -> None:
    """Distinct calls per function beyond the per-request cap are left out and counted; hosts
    beyond it are left out of their span, which is kept and counted; the reason names the caps."""
    from lambdaguard.collector.caps import Caps

    request = trace_request(
        trace_id=TRACE_ID,
        calls=[Call(params=f'{{"Bucket":"b{i}"}}') for i in range(10)],
        hosts=[(f"h{i}.example", 443, True) for i in range(5)],
        invocations=1,
    )
    facts = extract(request, now_ns=1).spans
    caps = Caps(
        max_functions_per_request=10,
        max_calls_per_request=4,
        max_hosts_per_request=3,
        max_functions=10,
        max_calls_per_function=100,
        max_hosts_per_function=100,
    )
    result = caps.apply(facts)
    assert sum(1 for f in result.kept if f.call) == 4
    # The invocation span with 5 hosts keeps 3 of them (and its invocation).
    (invocation,) = [f for f in result.kept if f.invocation]
    assert [h.host for h, _ in invocation.hosts] == ["h0.example", "h1.example", "h2.example"]
    assert result.over == 6 + 1
    assert "max_calls_per_request=4" in result.reason
    assert "max_hosts_per_request=3" in result.reason


def _odd_order_request() -> Any:
    """Spans whose fields come in an unusual order: attributes split around an event, an
    init span, and equal attributes under different names, statuses and resources."""
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    request = trace_request(
        trace_id=TRACE_ID,
        invocations=3,
        calls=[Call(), Call(), Call("dynamodb", "PutItem", '{"TableName":"t"}', count=2)],
        hosts=[("api.example.com", 443, True)],
    )
    ss = request.resource_spans[0].scope_spans[0]
    init = ss.spans.add(trace_id=TRACE_ID, span_id=b"\x70" * 8, name=semconv.INIT_SPAN_NAME)
    init.attributes.append(kv(semconv.INVOCATION_OUTCOME, semconv.OUTCOME_ERROR))
    under_init = ss.spans.add(trace_id=TRACE_ID, span_id=b"\x71" * 8, parent_span_id=init.span_id)
    under_init.attributes.extend(
        [kv(semconv.AWS_SERVICE, "s3"), kv(semconv.AWS_OPERATION, "GetObject")]
    )
    under_init.attributes.extend(
        [kv(semconv.AWS_PARAMS, '{"Bucket":"orders"}'), kv(semconv.AWS_COUNT, 1)]
    )
    # Attribute entries on both sides of an event: written by hand on the wire.
    head = Span(trace_id=TRACE_ID, span_id=b"\x72" * 8, name="s3.GetObject")
    head.attributes.extend([kv(semconv.AWS_SERVICE, "s3"), kv(semconv.AWS_OPERATION, "GetObject")])
    event = Span()
    event.events.add(name="other")
    tail = Span()
    tail.attributes.extend([kv(semconv.AWS_PARAMS, '{"Bucket":"other"}'), kv(semconv.AWS_COUNT, 3)])
    split = Span.FromString(
        head.SerializeToString() + event.SerializeToString() + tail.SerializeToString()
    )
    ss.spans.append(split)
    # The same attributes as the first call span, in another resource with another region.
    other = request.resource_spans.add()
    other.CopyFrom(request.resource_spans[0])
    del other.resource.attributes[:]
    other.resource.attributes.append(
        kv(semconv.CLOUD_RESOURCE_ID, ARN.replace("eu-west-1", "us-east-1"))
    )
    for i, span in enumerate(other.scope_spans[0].spans):
        span.span_id = bytes([0x80 + i]) * 8
    return request


@pytest.mark.parametrize(
    "build",
    [
        lambda: trace_request(
            trace_id=TRACE_ID,
            invocations=5,
            calls=[Call(), Call("dynamodb", "PutItem", '{"TableName":"t"}'), Call()],
            hosts=[("api.example.com", 443, True)],
        ),
        lambda: _otel_request({semconv.CLOUD_RESOURCE_ID: ARN}),
        lambda: _otel_request({semconv.SERVICE_NAME: "x"}, on_span={semconv.FAAS_ID: ARN}),
        _odd_order_request,
        lambda: trace_request(
            trace_id=TRACE_ID,
            # More distinct calls than a request's memo holds, and calls too long for it.
            calls=[Call(params=f'{{"Bucket":"b{i}"}}') for i in range(300)]
            + [Call(params='{"Bucket":"' + "x" * 5000 + '"}')] * 3,
        ),
    ],
)
def test_spans_with_equal_attribute_bytes_are_read_once_with_the_same_facts(build: Any) -> None:
    """Reading a request's repeated spans once gives exactly the facts of reading every span."""
    request = build()
    shared = extract(request, now_ns=7, payload=request.SerializeToString())
    # A payload that does not match the request: every span is read on its own.
    each = extract(request, now_ns=7, payload=b"")
    assert shared == each
    assert shared == extract(request, now_ns=7)
    assert shared.spans


def test_call_spans_alike_across_requests_keep_each_functions_region() -> None:
    """A call span read once for the whole process still takes each request's function and region."""
    east_arn = "arn:aws:lambda:us-east-1:123456789012:function:orders"
    for _ in range(2):  # the second time, both requests' call spans are already known
        west = extract(trace_request(trace_id=b"\x01" * 16), now_ns=1)
        east = extract(trace_request(trace_id=b"\x02" * 16, arn=east_arn), now_ns=1)
        assert {(f.function.arn, f.call.region) for f in west.spans if f.call} == {
            (ARN, "eu-west-1")
        }
        assert {(f.function.arn, f.call.region) for f in east.spans if f.call} == {
            (east_arn, "us-east-1")
        }


def _limits_outcome(body: bytes, bound: Any, *, defer: bool) -> str:
    """How a trace body fares under ``bound``: counted by decode_body(), or (``defer``)
    by extract() from its shapes; "accepted" or the refusal's status and message."""
    from lambdaguard.collector.otlp import decode_body
    from lambdaguard.errors import IngestError

    try:
        decoded = decode_body("traces", body, "protobuf", limits=bound, defer_span_counts=defer)
        assert decoded.counted is not defer
        extract(
            decoded.message,
            now_ns=1,
            payload=decoded.payload,
            limits=None if decoded.counted else bound,
        )
    except IngestError as exc:
        return f"{exc.status} {exc}"
    return "accepted"


_LIMITED = [
    {"max_attributes": 3},
    {"max_items": 5},
    {"max_events": 1},
    {"max_attributes_total": 20},
    {"max_resources": 1},
    {},
]


@pytest.mark.parametrize("limits", _LIMITED, ids=lambda d: ",".join(d) or "within")
def test_limits_counted_while_extracting_answer_as_decoding_does(limits: dict[str, int]) -> None:
    """A small trace body counted by extract() is refused (or not) exactly as decode_body() refuses it."""
    from lambdaguard.collector.otlp import DecodeLimits

    request = trace_request(
        trace_id=b"\x03" * 16,
        invocations=2,
        calls=[Call(), Call("sqs", "SendMessage", '{"QueueUrl":"q"}')],
        hosts=[("api.example.com", 443, True)],
    )
    request.resource_spans.append(request.resource_spans[0])  # a second resource, alike
    body = request.SerializeToString()
    bound = DecodeLimits(**limits)

    def outcome(defer: bool) -> str:
        return _limits_outcome(body, bound, defer=defer)

    for _ in range(2):  # and again, with every shape already known
        assert outcome(defer=True) == outcome(defer=False)
    assert (outcome(defer=False) == "accepted") == (not limits)


def _per_occurrence(i: int) -> tuple[tuple[str, Any], ...]:
    """What the layer's export puts on each call span per occurrence (agent/export.py)."""
    return (
        (semconv.AWS_RETRIES, i % 2),
        (semconv.AWS_LATENCY_MS, 3.0 + i / 7),
        (semconv.AWS_REQUEST_ID, f"req-{i:06d}"),
        (semconv.HTTP_RESPONSE_STATUS_CODE, 200 + i % 3),
    )


def test_call_spans_alike_but_for_per_occurrence_attributes_are_read_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Request ids, latencies, retries and statuses differ on every call span the layer sends;
    the spans are read once all the same, with exactly the facts of reading each."""
    from lambdaguard.collector import spans

    reads: list[object] = []
    real_shape = spans._shape

    def counted(*args: Any) -> Any:
        reads.append(args[0])
        return real_shape(*args)

    monkeypatch.setattr(spans, "_shared_shapes", {})
    monkeypatch.setattr(spans, "_shape", counted)
    marked = ((semconv.AWS_ERROR_CODE, "\n\x0eaws.request_id"),)  # the key's wire bytes in a value
    request = trace_request(
        trace_id=b"\x05" * 16,
        invocations=2,
        calls=[Call(extra=_per_occurrence(i)) for i in range(6)]
        + [Call("sqs", "SendMessage", '{"QueueUrl":"q"}', count=3, extra=_per_occurrence(9))]
        + [Call(extra=(*marked, *_per_occurrence(i))) for i in range(2)]
        + [Call(extra=marked), Call(extra=(*_per_occurrence(1), *_per_occurrence(2)))],
    )
    shared = extract(request, now_ns=7, payload=request.SerializeToString())
    # Two invocation spans, and three call shapes: plain S3, S3 with an error code, SQS.
    assert len(reads) == 5
    each = extract(request, now_ns=7, payload=b"")  # every span read on its own
    assert shared == each
    calls = [f.call for f in shared.spans if f.call is not None]
    plain = [c for c in calls if c.service == "s3" and not c.error_code]
    assert len(plain) == 2 * 7  # 6 + the span with the attributes twice, per invocation
    assert all(c is plain[0] for c in plain)  # one shape, one fact: read once
    assert {c.error_code for c in calls if c.service == "s3"} == {"", marked[0][1]}
    assert {c.count for c in calls if c.service == "sqs"} == {3}


@pytest.mark.parametrize("spare", [-1, 0])
def test_per_occurrence_attributes_still_count_towards_the_limits(spare: int) -> None:
    """Attributes left out of a span's memo key are counted for max_attributes all the same."""
    from lambdaguard.collector.otlp import DecodeLimits

    request = trace_request(
        trace_id=b"\x06" * 16, calls=[Call(extra=_per_occurrence(i)) for i in range(3)]
    )
    widest = max(
        len(s.attributes) for ss in request.resource_spans[0].scope_spans for s in ss.spans
    )
    body = request.SerializeToString()
    bound = DecodeLimits(max_attributes=widest + spare)

    def outcome(defer: bool) -> str:
        return _limits_outcome(body, bound, defer=defer)

    for _ in range(2):  # and again, with every shape already known
        assert outcome(defer=True) == outcome(defer=False)
    assert (outcome(defer=True) == "accepted") == (spare == 0)


def _walked_fact_key(buf: bytes, start: int, end: int) -> tuple[bytes, int]:
    """The memo key as a plain walk of every attribute field from ``start`` gives it
    (what spans._fact_key computed before it searched for the keys and knew runs)."""
    from lambdaguard.collector.spans import _OCCURRENCE_KEYS

    keys = {k.encode() for k in _OCCURRENCE_KEYS}
    parts: list[bytes] = []
    keep = pos = start
    skipped = 0
    while pos < end and buf[pos] == 0x4A:
        n = buf[pos + 1]
        body = pos + 2
        if n >= 0x80:
            if buf[pos + 2] >= 0x80:
                break
            n = (n & 0x7F) | buf[pos + 2] << 7
            body = pos + 3
        following = body + n
        size = buf[body + 1] if buf[body] == 0x0A else 0x80
        if size + 2 <= n and buf[body + 2 : body + 2 + size] in keys:
            parts.append(buf[keep:pos])
            keep = following
            skipped += 1
        pos = following
    parts.append(buf[keep:end])
    return b"".join(parts), skipped


_OCCURRENCE_KEYS = (
    semconv.AWS_REQUEST_ID,
    semconv.AWS_RETRIES,
    semconv.AWS_LATENCY_MS,
    semconv.HTTP_RESPONSE_STATUS_CODE,
)
_ATTRIBUTE_KEYS = st.sampled_from(
    [
        semconv.AWS_REQUEST_ID,
        semconv.AWS_RETRIES,
        semconv.AWS_LATENCY_MS,
        semconv.HTTP_RESPONSE_STATUS_CODE,
        semconv.AWS_SERVICE,
        semconv.AWS_PARAMS,
        "aws.request_i",  # a key's bytes cut short
    ]
)
# Values that hold a per-occurrence key's wire bytes, whole or cut, or a field header before it.
_ATTRIBUTE_VALUES = st.one_of(
    st.integers(min_value=0, max_value=2**40),
    st.text(max_size=300),
    st.sampled_from(
        [
            "\n\x0eaws.request_id",
            "J\x10\n\x0eaws.request_id",
            "\n\x0eaws.request_i",
            "x" * 200 + "J\x10\n\x0eaws.request_id",
            "ends like a field header J\x05",
        ]
    ),
)


def _span_bytes(attributes: list[tuple[str, Any]], event: bool, trailing: bool) -> bytes:
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    span = Span(trace_id=TRACE_ID, span_id=b"\x02" * 8, name="s3.GetObject")
    span.attributes.append(kv(semconv.AWS_SERVICE, "s3"))  # the attributes come first
    span.attributes.extend(kv(k, v) for k, v in attributes)
    if event:
        span.events.add(name="e").attributes.append(kv(semconv.AWS_REQUEST_ID, "r"))
    buf = span.SerializeToString()
    if event:  # an attribute after a field that is not one (a repeated field may be split): kept
        buf += Span(attributes=[kv(semconv.AWS_RETRIES, 1)]).SerializeToString()
    if trailing:  # a field after the attributes whose bytes are a per-occurrence key's
        buf += Span(trace_id=semconv.AWS_REQUEST_ID.encode()).SerializeToString()
    return buf


@settings(max_examples=400, deadline=None)
@given(
    attributes=st.lists(st.tuples(_ATTRIBUTE_KEYS, _ATTRIBUTE_VALUES), max_size=12),
    others=st.lists(_ATTRIBUTE_VALUES, min_size=12, max_size=12),
    event=st.booleans(),
    trailing=st.booleans(),
)
def test_a_spans_memo_key_is_what_walking_every_attribute_gives(
    attributes: list[tuple[str, Any]], others: list[Any], event: bool, trailing: bool
) -> None:
    """The memo key found by searching for per-occurrence keys (knowing runs of fields met
    before), or by matching the layout of a span met before, is the key a walk of every
    attribute field gives: for the same span again, and for one whose values differ."""
    from lambdaguard.collector import spans

    first = _span_bytes(attributes, event, trailing)
    # The same attributes, every per-occurrence one (or one named like it) with another value.
    changed = [
        (k, others[i]) if k in _OCCURRENCE_KEYS or k == "aws.request_i" else (k, v)
        for i, (k, v) in enumerate(attributes)
    ]
    second = _span_bytes(changed, event, trailing)
    for buf in (first, first, second, second):
        start = spans._attribute_start(buf, 0, len(buf))
        assert spans._fact_key(buf, start, len(buf)) == _walked_fact_key(buf, start, len(buf))


def test_call_spans_laid_out_alike_are_keyed_without_a_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once one call span is read, the next ones alike but for their per-occurrence values
    get the same key from its layout, without searching their bytes again."""
    from lambdaguard.collector import spans

    searched: list[int] = []
    real = spans._searched_fact_key

    def counted(*args: Any) -> Any:
        searched.append(1)
        return real(*args)

    monkeypatch.setattr(spans, "_layouts", {})
    monkeypatch.setattr(spans, "_searched_fact_key", counted)
    keys = set()
    for i in (1, 2, 130, 20_000):  # values of other lengths: one- and two-byte field lengths
        extra = [*_per_occurrence(i)]
        extra[2] = (semconv.AWS_REQUEST_ID, "r" * (i % 200))
        buf = _span_bytes([(semconv.AWS_PARAMS, '{"Bucket":"b"}'), *extra], False, False)
        start = spans._attribute_start(buf, 0, len(buf))
        key = spans._fact_key(buf, start, len(buf))
        assert key == _walked_fact_key(buf, start, len(buf))
        keys.add(key)
    assert len(keys) == 1
    assert len(searched) == 1


def test_the_layouts_remembered_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """However many distinct call spans arrive, at most 1,024 layouts are remembered, 16 per head."""
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    from lambdaguard.collector import spans

    monkeypatch.setattr(spans, "_layouts", {})
    for head in range(200):  # more heads than kept, each with more layouts than kept
        for call in range(20 if head < 3 else 1):
            span = Span(trace_id=TRACE_ID, span_id=b"\x02" * 8)
            span.attributes.extend(  # the head: the first attribute, which differs
                kv(k, v)
                for k, v in (
                    (semconv.RPC_SYSTEM, f"aws-api-{head:04d}"),
                    (semconv.AWS_PARAMS, f'{{"Bucket":"b{call:02d}"}}'),  # one head
                    *_per_occurrence(call),
                )
            )
            buf = span.SerializeToString()
            start = spans._attribute_start(buf, 0, len(buf))
            spans._fact_key(buf, start, len(buf))
            assert sum(map(len, spans._layouts.values())) <= 1024
            assert all(len(known) <= 16 for known in spans._layouts.values())
    assert len(spans._layouts) <= 64
    assert spans._layouts  # and they are remembered
