"""Secret canaries: nothing the function handles leaks into any exported byte."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import requests

from lambdaguard import instrument
from lambdaguard.agent import flush

from .conftest import Context, Sink

CANARIES = {
    "event": "CANARY-event-7f3a",
    "header": "CANARY-header-19bd",
    "query": "CANARY-query-55e1",
    "env": "CANARY-env-c0de",
    "message": "CANARY-message-a8a8",
    "object": "CANARY-object-0b0b",
    "secret": "CANARY-secret-9999",
    "path": "CANARY-path-4242",
}


@pytest.fixture
def echo() -> Iterator[str]:
    """A loopback HTTP server the function calls with secrets in headers, path and query."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("mode", ["trace", "evidence"])
def test_no_canary_in_otlp_or_logs(  # noqa: PLR0917 - fixtures
    mode: str,
    enable: Callable[..., None],
    sink: Sink,
    moto_endpoint: str,
    echo: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Canaries in event, headers, query, environment, bodies, object keys and secrets never leave.

    In evidence mode the second invocation repeats the first and the interval
    is zero, so its counts go out as metrics: those bytes are checked too.
    """
    if mode == "evidence":
        enable(APP_SECRET=CANARIES["env"], LAMBDAGUARD_TRACES="off", LAMBDAGUARD_FLUSH_INTERVAL="0")
    else:
        enable(APP_SECRET=CANARIES["env"])
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    secrets = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="canary-bucket")
    queue = sqs.create_queue(QueueName="canary-q")["QueueUrl"]
    secrets.create_secret(Name=f"canary/secret-{mode}", SecretString=CANARIES["secret"])

    def handler(event: dict[str, Any], context: Any) -> str:
        import os

        key = f"in/{CANARIES['object']}.txt"
        s3.put_object(Bucket="canary-bucket", Key=key, Body=event["body"].encode())
        s3.copy_object(
            Bucket="canary-bucket",
            Key=f"out/{CANARIES['object']}",
            CopySource=f"canary-bucket/{key}",
        )
        sqs.send_message(
            QueueUrl=queue,
            MessageBody=CANARIES["message"],
            MessageAttributes={
                "k": {"DataType": "String", "StringValue": os.environ["APP_SECRET"]}
            },
        )
        value = secrets.get_secret_value(SecretId=f"canary/secret-{mode}")["SecretString"]
        requests.get(
            f"{echo}/{CANARIES['path']}",
            params={"token": CANARIES["query"]},
            headers={"Authorization": f"Bearer {CANARIES['header']}", "X-Secret": value},
            timeout=5,
        )
        return "ok"

    event = {
        "body": CANARIES["event"],
        "headers": {"authorization": CANARIES["header"]},
        "queryStringParameters": {"token": CANARIES["query"]},
        "requestContext": {"apiId": "a", "stage": "s", "accountId": "1", "httpMethod": "GET"},
        "httpMethod": "GET",
    }
    wrapped = instrument(handler)
    assert wrapped(event, Context("req-1")) == "ok"
    assert wrapped(event, Context("req-2")) == "ok"
    assert flush(5000)
    if mode == "evidence":
        assert any(p.endswith("/v1/metrics") for p in sink.paths), "no metrics were sent"
    out = capsys.readouterr()
    exported = b"".join(sink.bodies) + out.out.encode() + out.err.encode()
    assert sink.bodies, "nothing was exported: the test would prove nothing"
    assert b'"lambdaguard":"invocation"' in exported
    assert b"canary-bucket" in exported  # identifiers are there ...
    for name, canary in CANARIES.items():
        assert canary.encode() not in exported, f"the {name} canary leaked"  # ... secrets are not
