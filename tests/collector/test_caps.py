"""Store-wide cardinality caps per function: distinct calls and hosts stop at the cap, across
requests and restarts, counted and reported; repeats and other functions are unaffected."""

from __future__ import annotations

import argparse
from typing import Any

import httpx
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from lambdaguard.agent.ledger import Ledger
from lambdaguard.collector.caps import Caps
from lambdaguard.collector.settings import ENV, load_config
from lambdaguard.collector.spans import extract

from .conftest import ARN, Call, trace_request
from .test_metrics import CONFIG, T0, Clock, _call, _record

OTHER = "arn:aws:lambda:eu-west-1:123456789012:function:billing"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
S = 10**9

_sent = iter(range(1, 10**6))


def _trace_id() -> bytes:
    return next(_sent).to_bytes(16, "big")  # a fresh trace per request: no span is a duplicate


def _buckets(names: range) -> list[Call]:
    return [Call(params=f'{{"Bucket":"b{i}"}}') for i in names]


def _post(handle: Any, **request: Any) -> tuple[int, str]:
    """Send one agent-shaped trace request; (rejected_spans, error_message) of its answer."""
    body = trace_request(trace_id=_trace_id(), **request).SerializeToString()
    response = httpx.post(f"{handle.http_url}/v1/traces", content=body, headers=PROTOBUF)
    assert response.status_code == 200, response.content
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    return partial.rejected_spans, partial.error_message


def _over_cap_metric(handle: Any, signal: str = "traces") -> float:
    text = httpx.get(f"{handle.http_url}/metrics").text
    needle = f'lambdaguard_rejected_total{{reason="over_cap",signal="{signal}"}} '
    line = next((ln for ln in text.splitlines() if ln.startswith(needle)), None)
    return float(line.split()[-1]) if line else 0.0


def test_call_flood_stops_at_the_store_cap_and_repeats_still_count(
    store_url: str, collector_factory: Any
) -> None:
    """200 distinct calls of one function over ten requests: 50 are stored, 150 reported (partial
    success, stats, metric); repeats of stored calls still count; another function is unaffected."""
    handle = collector_factory(store_url=store_url, max_calls_per_function=50)
    rejected = []
    for r in range(10):
        n, message = _post(handle, calls=_buckets(range(r * 20, r * 20 + 20)))
        rejected.append(n)
        if n:
            assert "max_calls_per_function=50" in message
    assert rejected == [0, 0, 10, 20, 20, 20, 20, 20, 20, 20]
    calls = handle.store.calls(ARN)
    assert len(calls) == 50
    assert {c.params["Bucket"] for c in calls} == {f"b{i}" for i in range(50)}
    stats = handle.stats()
    assert stats["over_cap"] == 150
    assert (stats["known_functions"], stats["known_calls"]) == (1, 50)  # memory stops at the cap
    assert _over_cap_metric(handle) == 150
    assert (
        'lambdaguard_cap_known{kind="calls"} 50.0' in httpx.get(f"{handle.http_url}/metrics").text
    )
    # The invocation spans of the capped requests were stored all the same.
    assert sum(day.count for day in handle.store.invocations(ARN)) == 10
    # Repeats of stored calls at the cap are not new: all counted, nothing rejected.
    assert _post(handle, calls=_buckets(range(5)) * 2) == (0, "")
    assert {c.params["Bucket"]: c.count for c in handle.store.calls(ARN)}["b0"] == 3
    # Another function has its own room.
    assert _post(handle, arn=OTHER, calls=_buckets(range(100, 140))) == (0, "")
    assert len(handle.store.calls(OTHER)) == 40
    assert handle.stats()["over_cap"] == 150


def test_call_cap_survives_a_restart(store_url: str, collector_factory: Any) -> None:
    """A collector started on a store holding a function's cap of calls refuses a new call of
    that function and still counts a stored one."""
    first = collector_factory(store_url=store_url, max_calls_per_function=5)
    assert _post(first, calls=_buckets(range(5))) == (0, "")
    first.stop()
    second = collector_factory(store_url=store_url, max_calls_per_function=5)
    rejected, message = _post(second, calls=_buckets(range(3, 7)))
    assert rejected == 2
    assert "2 over the calls per function in the store cap (max_calls_per_function=5)" in message
    counts = {c.params["Bucket"]: c.count for c in second.store.calls(ARN)}
    assert counts == {"b0": 1, "b1": 1, "b2": 1, "b3": 2, "b4": 2}


def test_host_flood_stops_at_the_store_cap_and_keeps_the_invocations(
    store_url: str, collector_factory: Any
) -> None:
    """Distinct hosts of one function stop at the cap across requests and a restart; a span with
    hosts over it is stored without them (its invocation counts) and is reported."""
    handle = collector_factory(store_url=store_url, max_hosts_per_function=8)
    hosts = [(f"h{i}.example.com", 443, True) for i in range(20)]
    assert _post(handle, calls=(), hosts=hosts[:5]) == (0, "")
    rejected, message = _post(handle, calls=(), hosts=hosts[5:20])
    assert rejected == 1  # one invocation span, stored with 3 of its 15 hosts
    assert "stored without their hosts over the hosts per function in the store cap" in message
    assert "max_hosts_per_function=8" in message
    assert {h.host for h in handle.store.hosts(ARN)} == {h for h, _, _ in hosts[:8]}
    # The same host on another port, or without TLS, is another host.
    rejected, _ = _post(handle, calls=(), hosts=[("h0.example.com", 80, False)])
    assert rejected == 1
    # Known hosts still count; another function is unaffected.
    assert _post(handle, calls=(), hosts=hosts[:2]) == (0, "")
    assert _post(handle, arn=OTHER, calls=(), hosts=hosts[10:18]) == (0, "")
    assert len(handle.store.hosts(OTHER)) == 8
    assert sum(d.count for d in handle.store.invocations(ARN)) == 4
    assert handle.stats()["over_cap"] == 2
    assert _over_cap_metric(handle) == 2
    handle.stop()
    again = collector_factory(store_url=store_url, max_hosts_per_function=8)
    assert _post(again, calls=(), hosts=[hosts[19], hosts[0]])[0] == 1
    by_host = {h.host: h.count for h in again.store.hosts(ARN)}
    assert len(by_host) == 8
    assert by_host["h0.example.com"] == 3


def test_metric_counts_over_the_caps_create_no_rows(store_url: str, collector_factory: Any) -> None:
    """Evidence-mode counts (OTLP metrics) for a call or host over its function's cap are
    rejected data points (named, counted) and create no row; those for stored ones count."""
    handle = collector_factory(
        store_url=store_url, max_calls_per_function=1, max_hosts_per_function=1
    )
    # Spans put GetObject and host other.example.com in the store: both caps are now full.
    assert _post(handle, calls=[Call()], hosts=[("other.example.com", 443, True)]) == (0, "")
    clock = Clock()
    ledger = Ledger(60, 100, clock=clock, start_ns=T0 - 5 * S)
    described = _record(_call())  # its connection is api.example.com: a new host
    for _ in range(3):
        ledger.count(
            [_record(_call(params='{"Bucket":"orders"}'), _call("PutObject"))], in_spans=False
        )
    from lambdaguard.agent import export

    body = export.encode_metrics(CONFIG, ledger.snapshot(), described)
    response = httpx.post(f"{handle.http_url}/v1/metrics", content=body, headers=PROTOBUF)
    assert response.status_code == 200, response.content
    partial = ExportMetricsServiceResponse.FromString(response.content).partial_success
    # The PutObject count, and the new host's two counters (connections and failures).
    assert partial.rejected_data_points == 3
    message = partial.error_message
    assert "1 over the calls per function in the store cap (max_calls_per_function=1)" in message
    assert "2 over the hosts per function in the store cap (max_hosts_per_function=1)" in message
    ((call, count),) = [(c.operation, c.count) for c in handle.store.calls(ARN)]
    assert (call, count) == ("GetObject", 1 + 3)
    assert [h.host for h in handle.store.hosts(ARN)] == ["other.example.com"]
    assert sum(d.count for d in handle.store.invocations(ARN)) == 1 + 3
    assert handle.stats()["over_cap"] == 3
    assert _over_cap_metric(handle, "metrics") == 3


def test_collectors_on_one_store_each_enforce_their_own_view(
    pg_url: str, collector_factory: Any
) -> None:
    """Two collectors on one PostgreSQL may together pass a cap by what the other added (the
    documented overshoot); one started afterwards sees it all and admits nothing new."""
    one = collector_factory(store_url=pg_url, max_calls_per_function=5)
    two = collector_factory(store_url=pg_url, max_calls_per_function=5)
    assert _post(one, calls=_buckets(range(5))) == (0, "")
    assert _post(two, calls=_buckets(range(5, 10))) == (0, "")
    assert len(one.store.calls(ARN)) == 10  # at most (collectors - 1) x the cap over it
    three = collector_factory(store_url=pg_url, max_calls_per_function=5)
    assert _post(three, calls=_buckets(range(8, 12)))[0] == 2
    assert len(three.store.calls(ARN)) == 10


def test_caps_load_what_the_store_holds(sqlite_url: str) -> None:
    """Caps.load knows the store's functions, call keys and hosts, so a restart keeps the caps."""
    from lambdaguard.collector.store import open_store

    store = open_store(sqlite_url)
    request = trace_request(
        trace_id=_trace_id(),
        calls=_buckets(range(3)) * 2,
        hosts=[("a.example", 443, True), ("a.example", 443, False)],
    )
    store.ingest(extract(request, now_ns=T0).spans, now_ns=T0)
    caps = Caps.load(load_config({}, environ={}), store)
    assert caps.known() == (1, 3, 2)
    store.close()


def test_settings_have_a_variable_and_a_flag() -> None:
    """The per-function caps come from LAMBDAGUARD_MAX_*_PER_FUNCTION and from serve flags."""
    from lambdaguard.collector import cli_serve

    env = {ENV["max_calls_per_function"]: "7", ENV["max_hosts_per_function"]: "9"}
    assert ENV["max_calls_per_function"] == "LAMBDAGUARD_MAX_CALLS_PER_FUNCTION"
    config = load_config({}, environ=env)
    assert (config.max_calls_per_function, config.max_hosts_per_function) == (7, 9)
    parser = argparse.ArgumentParser()
    cli_serve.configure(parser)
    args = parser.parse_args(["--max-calls-per-function", "3", "--max-hosts-per-function", "4"])
    overrides = cli_serve._overrides(args)
    config = load_config(overrides, environ=env)
    assert (config.max_calls_per_function, config.max_hosts_per_function) == (3, 4)
    assert load_config({}, environ={}).max_calls_per_function == 10_000


def test_concurrent_requests_cannot_pass_the_cap_together() -> None:
    """Eight threads admitting distinct calls and hosts of one function at once stop exactly at
    the caps: admission is checked and taken under one lock."""
    import threading

    caps = Caps(
        max_functions_per_request=10,
        max_calls_per_request=1_000,
        max_hosts_per_request=1_000,
        max_functions=10,
        max_calls_per_function=100,
        max_hosts_per_function=30,
    )
    requests = [
        extract(
            trace_request(
                trace_id=_trace_id(),
                calls=_buckets(range(t * 50, t * 50 + 50)),
                hosts=[(f"h{t}-{i}.example", 443, True) for i in range(10)],
            ),
            now_ns=T0,
        ).spans
        for t in range(8)
    ]
    over = []
    threads = [
        threading.Thread(target=lambda r=r: over.append(caps.apply(r).over)) for r in requests
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert caps.known() == (1, 100, 30)
    # 300 calls over the cap, and the invocation spans that lost some of their hosts: at least
    # the 5 beyond 3 x 10 hosts, more if the threads interleaved within one span.
    assert 300 + 5 <= sum(over) <= 300 + 8
