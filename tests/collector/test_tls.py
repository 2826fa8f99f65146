"""TLS: given a certificate and key, both receivers speak TLS and still check the token."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from .test_http_receiver import assert_stored, send_with_sdk


@pytest.fixture
def cert(tmp_path: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 made with openssl."""
    key, crt = tmp_path / "key.pem", tmp_path / "cert.pem"
    try:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                str(key),
                "-out",
                str(crt),
            ],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl cannot make a test certificate: {exc}")
    return str(crt), str(key)


def test_https_with_token(
    collector_factory: Any, cert: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over HTTPS the official exporter (trusting the cert) is stored; plaintext and no-token fail."""
    # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a session's
    # `verify`, which would hide the exporter's certificate_file.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    crt, key = cert
    handle = collector_factory(tls_cert=crt, tls_key=key, tokens=("t",))
    assert handle.http_url.startswith("https://")
    url = f"{handle.http_url}/v1/traces"
    import ssl

    assert (
        httpx.post(url, content=b"", verify=ssl.create_default_context(cafile=crt)).status_code
        == 401
    )
    with pytest.raises(httpx.HTTPError):
        httpx.post(url.replace("https://", "http://"), content=b"", timeout=5)
    send_with_sdk(
        OTLPSpanExporter(endpoint=url, certificate_file=crt, headers={"Authorization": "Bearer t"})
    )
    assert_stored(handle)


def test_grpc_tls(collector_factory: Any, cert: tuple[str, str]) -> None:
    """The gRPC receiver serves TLS with the same certificate."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcExporter,
    )

    crt, key = cert
    handle = collector_factory(tls_cert=crt, tls_key=key)
    import grpc

    credentials = grpc.ssl_channel_credentials(root_certificates=Path(crt).read_bytes())
    send_with_sdk(
        GrpcExporter(endpoint=handle.grpc_target, insecure=False, credentials=credentials)
    )
    assert_stored(handle)
