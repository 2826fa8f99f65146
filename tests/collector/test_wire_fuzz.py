"""Hostile traffic at the socket: random bodies, headers and encodings never crash the receiver."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdaguard.collector.server import CollectorHandle

CONTENT_TYPES = st.sampled_from(
    [
        "application/x-protobuf",
        "application/json",
        "text/plain",
        "",
        "application/json; charset=latin-1",
    ]
)
ENCODINGS = st.sampled_from([None, "gzip", "deflate", "br", "identity", "gzip, gzip"])


@pytest.fixture(scope="module")
def shared_collector(tmp_path_factory: pytest.TempPathFactory) -> CollectorHandle:
    """One collector for every example (starting one per example would dominate the run)."""
    from lambdaguard.collector.server import start_collector
    from lambdaguard.collector.settings import CollectorConfig

    path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    handle = start_collector(
        CollectorConfig(store_url=f"sqlite:///{path}", http_port=0, grpc_port=None)
    )
    yield handle  # type: ignore[misc]
    handle.stop()


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    request=st.tuples(
        st.binary(max_size=4096),
        CONTENT_TYPES,
        ENCODINGS,
        st.booleans(),
        st.sampled_from(["/v1/traces", "/v1/logs"]),
    )
)
def test_random_requests_get_2xx_or_4xx(
    shared_collector: CollectorHandle, request: tuple[bytes, str, str | None, bool, str]
) -> None:
    """Whatever arrives, the answer is 200 or a 4xx with a body, and the server keeps serving."""
    body, content_type, encoding, compress, path = request
    if compress and encoding == "gzip":
        body = gzip.compress(body)
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    response = httpx.post(f"{shared_collector.http_url}{path}", content=body, headers=headers)
    assert response.status_code == 200 or 400 <= response.status_code < 500, response.status_code
    if response.status_code != 200:
        assert response.content  # a google.rpc.Status explaining why


def test_json_logs_with_hex_ids_are_accepted(shared_collector: CollectorHandle) -> None:
    """OTLP/JSON logs with hex trace/span ids are accepted and counted."""
    doc = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "1764000000000000000",
                                "severityNumber": 9,
                                "body": {"stringValue": "hello"},
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                            }
                        ]
                    }
                ]
            }
        ]
    }
    before = shared_collector.stats()["log_records"]
    response = httpx.post(
        f"{shared_collector.http_url}/v1/logs",
        content=json.dumps(doc).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert response.json() == {}
    assert shared_collector.stats()["log_records"] == before + 1
