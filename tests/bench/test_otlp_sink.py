"""The OTLP sink the benchmark times exports with counts requests and connections by arrival."""

from __future__ import annotations

import http.client
import time

from _otlp_sink import OtlpSink


def test_sink_counts_requests_and_connections_in_a_window(sink: OtlpSink) -> None:
    """Requests are counted by arrival time, so 'before the response' is a window query."""
    host, port = sink.endpoint.removeprefix("http://").split(":")
    start = time.perf_counter_ns()
    c = http.client.HTTPConnection(host, int(port), timeout=5)
    for _ in range(2):
        c.request(
            "POST",
            "/v1/traces",
            body=b"\x0a\x00",
            headers={"Content-Type": "application/x-protobuf"},
        )
        r = c.getresponse()
        assert r.status == 200
        r.read()
    end = time.perf_counter_ns()
    assert sink.count_between(start, end) == (2, 1)
    assert sink.count_between(end + 1, end + 10**9) == (0, 0)
    assert sink.wait_requests(2, 1)
    assert sink.bodies_between(start, end) == [b"\x0a\x00", b"\x0a\x00"]
