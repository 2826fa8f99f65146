"""Official exporters nobody in the project wrote deliver and are stored: Node.js over
OTLP/HTTP protobuf, OTLP/HTTP JSON (both send Transfer-Encoding: chunked) and OTLP/gRPC, with
and without gzip; Python's JSON exporter (its protobuf and gRPC exporters are tested in
test_http_receiver and test_grpc_receiver) from its own environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdaguard.collector.server import CollectorHandle

from .conftest import run_js_exporter, run_py_json_exporter
from .test_http_receiver import assert_stored


@pytest.mark.parametrize("compression", ["none", "gzip"])
@pytest.mark.parametrize("kind", ["http-proto", "http-json", "grpc"])
def test_official_javascript_exporters_are_stored(
    collector: CollectorHandle, js_exporters: Path, kind: str, compression: str
) -> None:
    """Spans exported by an official OpenTelemetry JS exporter land in the store."""
    url = f"http://{collector.grpc_target}" if kind == "grpc" else f"{collector.http_url}/v1/traces"
    assert run_js_exporter(js_exporters, kind, url, compression) == "ok"
    assert_stored(collector)


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_official_python_json_exporter_is_stored(
    collector: CollectorHandle, py_json_exporter: Path, compression: str
) -> None:
    """Spans exported by the official Python OTLP/HTTP JSON exporter land in the store."""
    url = f"{collector.http_url}/v1/traces"
    assert run_py_json_exporter(py_json_exporter, url, compression) == "ok"
    assert_stored(collector)
