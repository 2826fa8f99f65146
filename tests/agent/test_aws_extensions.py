"""Reads through AWS's Parameters and Secrets and AppConfig extensions, against loopback stand-ins."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from lambdaguard import semconv
from lambdaguard.iam import authorizations

from .conftest import Sink, localhost_v4_only
from .test_aws import calls, run

TOKEN = "CANARY-session-token"
SECRET_VALUE = b"CANARY-secret-value"


class Extension:
    """A stand-in of an extension's local HTTP API: answers with a canary, checks the token."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        paths = self.paths

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real extensions

            def do_GET(self) -> None:
                paths.append(self.path)
                ok = self.headers.get("X-Aws-Parameters-Secrets-Token") == TOKEN or (
                    self.path.startswith("/applications/")
                )
                body = json.dumps({"SecretString": SECRET_VALUE.decode()}).encode()
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture
def extensions(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Extension, Extension]]:
    """Stand-ins of both extensions, their ports in the variables the real ones read."""
    secrets, appconfig = Extension(), Extension()
    monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(secrets.port))
    monkeypatch.setenv("AWS_APPCONFIG_EXTENSION_HTTP_PORT", str(appconfig.port))
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    localhost_v4_only(monkeypatch)
    yield secrets, appconfig
    for server in (secrets, appconfig):
        server.server.shutdown()
        server.server.server_close()


def test_secret_parameter_and_configuration_reads_are_the_extensions_aws_calls(
    enable: Callable[..., None], sink: Sink, extensions: tuple[Extension, Extension]
) -> None:
    """Each local read is recorded once as the AWS call behind it, via the extension, and maps to IAM."""
    secrets, appconfig = extensions
    enable()
    headers = {"X-Aws-Parameters-Secrets-Token": TOKEN}

    def handler(event: Any, context: Any) -> None:
        with requests.Session() as session:  # two reads on one kept-alive connection
            for _ in range(2):
                response = session.get(
                    f"http://localhost:{secrets.port}/secretsmanager/get?secretId=prod%2Fdb",
                    headers=headers,
                    timeout=5,
                )
                assert response.json()["SecretString"] == SECRET_VALUE.decode()
        request = urllib.request.Request(
            f"http://localhost:{secrets.port}/systemsmanager/parameters/get"
            "?name=%2Fapp%2Fdb%3A3&withDecryption=true",
            headers=headers,
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        assert requests.get(
            f"http://localhost:{appconfig.port}/applications/shop/environments/prod/configurations/flags",
            timeout=5,
        ).ok

    run(handler)
    assert len(secrets.paths) == 3
    found = calls(sink)
    assert all(c[semconv.AWS_VIA] == semconv.VIA_EXTENSION for c in found)
    assert all(c[semconv.AWS_CREDENTIALS] == semconv.CREDENTIALS_EXECUTION_ROLE for c in found)
    assert [(c[semconv.AWS_SERVICE], c[semconv.AWS_OPERATION]) for c in found] == [
        ("secretsmanager", "GetSecretValue"),
        ("secretsmanager", "GetSecretValue"),
        ("ssm", "GetParameter"),
        ("appconfigdata", "StartConfigurationSession"),
        ("appconfigdata", "GetLatestConfiguration"),
    ]
    (ssm,) = [c for c in found if c[semconv.AWS_SERVICE] == "ssm"]
    assert json.loads(ssm[semconv.AWS_PARAMS]) == {"Name": "/app/db", "WithDecryption": True}
    # A secret, or a SecureString read with decryption, may be under a customer key that
    # the caller must be allowed to use: the mapping adds kms:Decrypt as a dependent
    # request on the key it cannot name.
    mapped = {
        (a.action, a.resource)
        for c in found
        for a in authorizations(
            c[semconv.AWS_SERVICE],
            c[semconv.AWS_OPERATION],
            json.loads(c[semconv.AWS_PARAMS]),
            region=c[semconv.AWS_REGION],
            account="123456789012",
        )
    }
    config = "arn:aws:appconfig:us-east-1:123456789012:application/shop/environment/prod/configuration/flags"
    assert mapped == {
        (
            "secretsmanager:GetSecretValue",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-??????",
        ),
        ("ssm:GetParameter", "arn:aws:ssm:us-east-1:123456789012:parameter/app/db"),
        ("kms:Decrypt", "*"),
        ("appconfig:StartConfigurationSession", config),
        ("appconfig:GetLatestConfiguration", config),
    }
    for body in sink.bodies:
        assert TOKEN.encode() not in body
        assert SECRET_VALUE not in body


def test_other_loopback_ports_and_paths_are_not_aws_calls(
    enable: Callable[..., None], sink: Sink, extensions: tuple[Extension, Extension], http_port: int
) -> None:
    """A loopback server on another port, or an unknown path on the extension's, records no AWS call."""
    secrets, _ = extensions
    enable()

    def handler(event: Any, context: Any) -> None:
        requests.get(f"http://localhost:{http_port}/secretsmanager/get?secretId=x", timeout=5)
        requests.get(f"http://localhost:{secrets.port}/ping", timeout=5)

    run(handler)
    assert calls(sink) == []
