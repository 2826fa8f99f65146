"""The benchmark's delaying proxy forwards, counts connections and closes as an idle timeout would."""

from __future__ import annotations

import pytest
from _delay_proxy import DelayProxy
from _otlp_sink import OtlpSink

from lambdaguard.agent import config, export


@pytest.mark.parametrize(("close", "connections"), [(False, 1), (True, 3)])
def test_proxy_forwards_and_counts_connections(
    sink: OtlpSink, close: bool, connections: int
) -> None:
    """Three exports through the proxy: one kept connection, or one each when it closes after answering."""
    port = int(sink.endpoint.rsplit(":", 1)[1])
    proxy = DelayProxy(
        ("127.0.0.1", port), one_way_ms=0.1, handshake_rtts=1, close_after_response=close
    )
    try:
        sender = export.Sender(config.load({}, endpoint=proxy.endpoint))
        assert [sender.send(b"\x0a\x00") for _ in range(3)] == [200, 200, 200]
        assert sink.wait_requests(3, 5)
        assert proxy.connections == connections
        sender.close()
    finally:
        proxy.close()
