"""Official exporters nobody in the project wrote deliver and are stored: Node.js over
OTLP/HTTP protobuf, OTLP/HTTP JSON (both send Transfer-Encoding: chunked) and OTLP/gRPC, with
and without gzip; Python's over the same (JSON from its own exporter package, when installed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lambdaguard.collector.server import CollectorHandle

from .conftest import run_js_exporter
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


def test_python_json_exporter_is_stored(collector: CollectorHandle) -> None:
    """The official Python OTLP/HTTP JSON exporter, where installed, is stored too."""
    exporter_module = pytest.importorskip(
        "opentelemetry.exporter.otlp.json.http.trace_exporter",
        reason="opentelemetry-exporter-otlp-json-http pins an SDK other than the dev one; "
        "the JSON encoding is covered by the JavaScript exporter",
    )
    from .test_http_receiver import send_with_sdk

    exporter: Any = exporter_module.OTLPSpanExporter(endpoint=f"{collector.http_url}/v1/traces")
    send_with_sdk(exporter)
    assert_stored(collector)
