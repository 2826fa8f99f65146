"""What the store keeps per function for the judgement: triggers, versions, errors, durations, calls whole."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdaguard import recorded, semconv
from lambdaguard.collector.spans import MAX_PARAMS, extract
from lambdaguard.collector.store import open_store

from .conftest import ARN, Call, kv, trace_request

T = int(datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp()) * 1_000_000_000
OTHER = ARN.replace("orders", "billing")


def _ingest(store: Any, request: Any) -> None:
    store.ingest(extract(request, now_ns=T).spans, now_ns=T)


def test_invocation_evidence_is_kept_per_function(store_url: str) -> None:
    """Triggers, version and alias, error types, runtime, last invocation and duration percentiles are stored."""
    store = open_store(store_url)
    for i, (duration, outcome, error) in enumerate(
        [(10.0, "success", ""), (12.0, "success", ""), (200.0, "error", "KeyError")] * 10
    ):
        attrs = [
            (semconv.TRIGGER_KIND, "sqs"),
            (semconv.TRIGGER_SOURCE, "arn:aws:sqs:eu-west-1:123456789012:orders"),
            (semconv.FUNCTION_ALIAS, "live"),
            (semconv.INVOCATION_DURATION_MS, duration),
            (semconv.INVOCATION_OUTCOME, outcome),
        ]
        if error:
            attrs.append((semconv.INVOCATION_ERROR_TYPE, error))
        _ingest(
            store,
            trace_request(
                trace_id=i.to_bytes(16, "big"),
                start_ns=T + i,
                invocation_attrs=attrs,
                resource_attrs=[
                    (semconv.FAAS_VERSION, "7"),
                    (semconv.FUNCTION_RUNTIME, "python3.12"),
                ],
            ),
        )
    (fn,) = store.functions()
    assert fn.runtime == "python3.12"
    assert fn.last_invoked == datetime.fromtimestamp((T + 29) / 1e9, UTC)
    (trigger,) = store.triggers(ARN)
    assert (trigger.kind, trigger.source, trigger.count) == (
        "sqs",
        "arn:aws:sqs:eu-west-1:123456789012:orders",
        30,
    )
    (version,) = store.versions(ARN)
    assert (version.version, version.alias, version.count) == ("7", "live", 30)
    (error,) = store.errors(ARN)
    assert (error.phase, error.error_type, error.count) == ("invoke", "KeyError", 10)
    (day,) = store.durations(ARN)
    assert day.day == date(2026, 3, 1)
    assert day.count == 30
    # Nearest-rank: the 15th of 30 durations is 12 ms, the 29th is 200 ms (within 5 %).
    assert day.p50_ms == pytest.approx(12.0, rel=0.05)
    assert day.p95_ms == pytest.approx(200.0, rel=0.05)
    assert day.max_ms == pytest.approx(200.0, rel=0.05)
    store.close()


def test_init_errors_and_timeouts_are_error_types(store_url: str) -> None:
    """An INIT span that failed and a timed-out invocation are counted as error types with their phase."""
    store = open_store(store_url)
    request = trace_request(
        trace_id=b"\x31" * 16,
        start_ns=T,
        calls=(),
        invocation_attrs=[(semconv.INVOCATION_OUTCOME, semconv.OUTCOME_TIMEOUT)],
    )
    init = (
        request.resource_spans[0]
        .scope_spans[0]
        .spans.add(
            trace_id=b"\x31" * 16, span_id=b"\x00" * 7 + b"\x99", name=semconv.INIT_SPAN_NAME
        )
    )
    init.start_time_unix_nano = T - 1000
    init.attributes.extend(
        [
            kv(semconv.PHASE, semconv.PHASE_INIT),
            kv(semconv.INVOCATION_OUTCOME, semconv.OUTCOME_ERROR),
            kv(semconv.INVOCATION_ERROR_TYPE, "Runtime.ImportModuleError"),
        ]
    )
    _ingest(store, request)
    errors = {(e.phase, e.error_type): e.count for e in store.errors(ARN)}
    assert errors == {("init", "Runtime.ImportModuleError"): 1, ("invoke", "timeout"): 1}
    store.close()


def test_fleet_wide_reads_answer_for_every_function_in_one_query(sqlite_url: str) -> None:
    """Each read without an ARN returns every function's rows, with one SELECT each."""
    import sqlalchemy as sa

    store = open_store(sqlite_url)
    for n, arn in enumerate((ARN, OTHER)):
        _ingest(
            store,
            trace_request(
                trace_id=(n + 1).to_bytes(16, "big"),
                arn=arn,
                hosts=[("api.example.com", 443, True)],
                invocation_attrs=[(semconv.TRIGGER_KIND, "direct")],
            ),
        )
    statements: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    sa.event.listen(store._engine, "before_cursor_execute", count)
    reads = {
        "calls": store.calls(),
        "hosts": store.hosts(),
        "invocations": store.invocations(),
        "triggers": store.triggers(),
    }
    sa.event.remove(store._engine, "before_cursor_execute", count)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 4
    for name, rows in reads.items():
        assert {r.function_arn for r in rows} == {ARN, OTHER}, name
    store.close()


def test_call_records_keep_response_facts_principal_and_one_occurrence(store_url: str) -> None:
    """Response facts (new JSON and old attributes), credentials, via and a trace/span id are stored."""
    store = open_store(store_url)
    call = Call(
        "kms",
        "Decrypt",
        "{}",
        extra=(
            (semconv.AWS_RESPONSE, '{"KeyId":"arn:aws:kms:eu-west-1:123456789012:key/k"}'),
            (semconv.AWS_CREDENTIALS, semconv.CREDENTIALS_ASSUMED_ROLE),
            (semconv.AWS_CREDENTIALS_ROLE, "arn:aws:iam::210987654321:role/reader"),
            (semconv.AWS_VIA, semconv.VIA_EXTENSION),
        ),
    )
    old = Call("s3", "GetObject", '{"Bucket":"b"}', extra=((semconv.AWS_VERSION_ID, "v1"),))
    _ingest(store, trace_request(trace_id=b"\x41" * 16, calls=(call, old)))
    calls = {c.operation: c for c in store.calls(ARN)}
    decrypt = calls["Decrypt"]
    assert decrypt.response == {"KeyId": "arn:aws:kms:eu-west-1:123456789012:key/k"}
    assert decrypt.principal.kind == "assumed-role"
    assert decrypt.principal.role_arn == "arn:aws:iam::210987654321:role/reader"
    assert not decrypt.principal.is_execution_role
    assert decrypt.via == "extension"
    assert decrypt.trace_id == (b"\x41" * 16).hex()
    assert len(decrypt.span_id) == 16
    assert calls["GetObject"].response == {"VersionId": "v1"}
    assert calls["GetObject"].principal.is_execution_role
    store.close()


@pytest.mark.parametrize(
    ("params", "truncated", "expect_complete"),
    [
        ('{"Bucket":"b"}', False, True),
        ('{"Bucket":"b"}', True, False),
        ('{"Bucket":"b","Key":"half-a-str', False, False),  # cut mid-string by an old agent
        ("[1,2]", False, False),
    ],
)
def test_params_stay_valid_json_and_say_when_cut(
    sqlite_url: str, params: str, truncated: bool, expect_complete: bool
) -> None:
    """Params are stored as valid JSON; anything cut or unreadable is marked incomplete, never dropped."""
    store = open_store(sqlite_url)
    extra = ((semconv.AWS_PARAMS_TRUNCATED, True),) if truncated else ()
    _ingest(
        store,
        trace_request(trace_id=b"\x51" * 16, calls=(Call("s3", "GetObject", params, extra=extra),)),
    )
    (call,) = store.calls(ARN)
    assert call.params_complete is expect_complete
    assert isinstance(call.params, dict)
    store.close()


def test_oversized_params_are_cut_as_json_not_as_text(sqlite_url: str) -> None:
    """A request naming thousands of resources is kept as valid JSON within the bound, marked incomplete."""
    store = open_store(sqlite_url)
    names = [f"arn:aws:sqs:eu-west-1:123456789012:queue-{i:05d}" for i in range(2000)]
    params = json.dumps({"QueueUrls": names, "Bucket": "keep-me"}, separators=(",", ":"))
    assert len(params) > MAX_PARAMS
    _ingest(store, trace_request(trace_id=b"\x61" * 16, calls=(Call("sqs", "X", params),)))
    (call,) = store.calls(ARN)
    assert not call.params_complete
    assert call.params["Bucket"] == "keep-me"
    assert 0 < len(call.params["QueueUrls"]) < 2000
    assert set(call.params["QueueUrls"]) <= set(names)
    store.close()


_json = st.recursive(
    st.one_of(st.text(max_size=300), st.integers(), st.booleans(), st.none()),
    lambda inner: (
        st.lists(inner, max_size=40) | st.dictionaries(st.text(max_size=20), inner, max_size=8)
    ),
    max_leaves=200,
)


def _strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set(value).union(*(_strings(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value))
    return set()


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=20), _json, max_size=8), st.integers(64, 4096))
def test_bound_params_is_valid_bounded_deterministic_and_never_cuts_a_string(
    params: dict[str, Any], limit: int
) -> None:
    """bound_params gives valid JSON within the limit, the same bytes twice, only whole input strings."""
    text, whole = recorded.bound_params(params, limit)
    again, _ = recorded.bound_params(params, limit)
    assert text == again
    kept = json.loads(text)
    assert len(text.encode("utf-8", "surrogatepass")) <= limit or kept == {}
    assert _strings(kept) <= _strings(params)
    assert whole == (kept == json.loads(json.dumps(params)))


def test_every_recorded_response_fact_survives_the_store(sqlite_url: str) -> None:
    """Each fact in RESPONSE_FACTS sent on the wire comes back, whole, on the observed call."""
    facts = {name: f"value-of-{name}" for name in recorded.RESPONSE_FACTS}
    call = Call(
        "s3", "GetObject", '{"Bucket":"b"}', extra=((semconv.AWS_RESPONSE, json.dumps(facts)),)
    )
    store = open_store(sqlite_url)
    request = trace_request(trace_id=b"\x71" * 16, calls=(call,))
    store.ingest(extract(request, now_ns=1).spans, now_ns=1)
    (observed,) = store.calls(ARN)
    assert dict(observed.response) == facts
    store.close()


def test_hosts_reached_through_a_proxy_keep_the_proxy_beside_the_destination(
    store_url: str,
) -> None:
    """A connection event naming a proxy is stored under its destination, with the proxy kept."""
    store = open_store(store_url)
    request = trace_request(trace_id=b"\x81" * 16, hosts=[("api.partner.example", 443, True)])
    event = request.resource_spans[0].scope_spans[0].spans[0].events[0]
    event.attributes.append(kv(semconv.NET_PROXY, "proxy.corp.internal:3128"))
    _ingest(store, request)
    _ingest(store, trace_request(trace_id=b"\x82" * 16, hosts=[("api.partner.example", 443, True)]))
    (host,) = store.hosts(ARN)
    assert (host.host, host.port, host.tls, host.count) == ("api.partner.example", 443, True, 2)
    # A later direct connection does not erase the proxy the host was reached through.
    assert host.proxy == "proxy.corp.internal:3128"
    store.close()
