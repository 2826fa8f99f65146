"""SigV4-signed requests made without an SDK operation, against loopback stand-ins of AWS endpoints."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import requests

from lambdaguard import semconv
from lambdaguard.iam import authorizations

from .conftest import Sink, hosts
from .test_aws import calls, client, run

ACCOUNT = "123456789012"
# Endpoint names as AWS gives them; the test resolves each to the loopback stand-in.
OPENSEARCH = "search-orders-abcdefghijklmnopqrstuvwxyz.us-east-1.es.amazonaws.com"
API = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
APPSYNC = "abcdefghijklmnopqrstuvwxyz.appsync-api.us-east-1.amazonaws.com"
FUNCTION_URL = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws"
NAMES = (OPENSEARCH, API, APPSYNC, FUNCTION_URL)
CANARIES = (b"CANARY-sig-header", b"CANARY-sig-body", b"CANARY-sig-query", b"CANARY-doc-id")


class StandIn:
    """A loopback HTTP server that answers every request with ``{}`` and keeps what it got."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        received = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length", "0") or 0)
                if length:
                    self.rfile.read(length)
                received.append((self.command, self.path, dict(self.headers.items())))
                body = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

            def log_message(self, *args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """The stand-in, with AWS's endpoint names resolving to it."""
    server = StandIn()
    original = socket.getaddrinfo

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in NAMES:
            host = "127.0.0.1"
        return original(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    yield server
    server.server.shutdown()
    server.server.server_close()


def signed(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The calls recorded as signed requests."""
    return [c for c in found if c.get(semconv.AWS_VIA) == semconv.VIA_SIGV4]


def iam(call: dict[str, Any]) -> set[tuple[str, str]]:
    """(action, resource) of every authorization the recorded call maps to."""
    return {
        (a.action, a.resource)
        for a in authorizations(
            call[semconv.AWS_SERVICE],
            call[semconv.AWS_OPERATION],
            json.loads(call[semconv.AWS_PARAMS]),
            region=call[semconv.AWS_REGION],
            account=ACCOUNT,
        )
    }


def test_opensearch_py_signer_is_recorded_and_mapped(
    enable: Callable[..., None], sink: Sink, stand_in: StandIn
) -> None:
    """opensearch-py's AWSV4SignerAuth: each request once, as es:ESHttp* on the domain and index."""
    opensearchpy = pytest.importorskip("opensearchpy")
    enable()
    credentials = boto3.Session().get_credentials()
    search = opensearchpy.OpenSearch(
        hosts=[{"host": OPENSEARCH, "port": stand_in.port}],
        http_auth=opensearchpy.AWSV4SignerAuth(credentials, "us-east-1", "es"),
        use_ssl=False,
        connection_class=opensearchpy.RequestsHttpConnection,
    )

    def handler(event: Any, context: Any) -> None:
        search.index(index="orders", id="CANARY-doc-id", body={"note": "CANARY-sig-body"})
        search.search(index="orders", body={"query": {"match_all": {}}})

    run(handler)
    assert [r[0] for r in stand_in.requests] == ["PUT", "POST"]
    assert all(r[2]["Authorization"].startswith("AWS4-HMAC-SHA256") for r in stand_in.requests)
    put, post = signed(calls(sink))
    assert put[semconv.AWS_SERVICE] == "es"
    assert put[semconv.AWS_OPERATION] == "HTTP PUT"
    assert put[semconv.AWS_REGION] == "us-east-1"
    assert json.loads(put[semconv.AWS_PARAMS]) == {"Host": OPENSEARCH, "Path": "/orders/"}
    assert put[semconv.AWS_CREDENTIALS] == semconv.CREDENTIALS_EXECUTION_ROLE
    assert iam(put) == {("es:ESHttpPut", f"arn:aws:es:us-east-1:{ACCOUNT}:domain/orders/orders/*")}
    assert iam(post) == {
        ("es:ESHttpPost", f"arn:aws:es:us-east-1:{ACCOUNT}:domain/orders/orders/*")
    }
    # The connection to the signed endpoint is known to be AWS's.
    assert hosts(sink)[(OPENSEARCH, stand_in.port, False)][semconv.NET_AWS] is True
    for body in sink.bodies:
        for canary in CANARIES:
            assert canary not in body


def test_requests_aws4auth_and_botocore_sigv4auth_requests(
    enable: Callable[..., None], sink: Sink, stand_in: StandIn, moto_endpoint: str
) -> None:
    """execute-api via requests-aws4auth, AppSync and a function URL via SigV4Auth: once each, mapped."""
    aws4auth = pytest.importorskip("requests_aws4auth")
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    enable()
    s3 = client("s3", moto_endpoint)
    frozen = boto3.Session().get_credentials().get_frozen_credentials()

    def sigv4(service: str, method: str, url: str, body: bytes) -> requests.Response:
        request = AWSRequest(
            method=method, url=url, data=body, headers={"x-api-key": "CANARY-sig-header"}
        )
        SigV4Auth(frozen, service, "us-east-1").add_auth(request)
        return requests.request(method, url, data=body, headers=dict(request.headers), timeout=5)

    def handler(event: Any, context: Any) -> None:
        auth = aws4auth.AWS4Auth(frozen.access_key, frozen.secret_key, "us-east-1", "execute-api")
        requests.get(
            f"http://{API}:{stand_in.port}/prod/orders/42?token=CANARY-sig-query",
            auth=auth,
            headers={"x-api-key": "CANARY-sig-header"},
            timeout=5,
        ).raise_for_status()
        sigv4(
            "appsync",
            "POST",
            f"http://{APPSYNC}:{stand_in.port}/graphql",
            b'{"q":"CANARY-sig-body"}',
        ).raise_for_status()
        sigv4(
            "lambda",
            "POST",
            f"http://{FUNCTION_URL}:{stand_in.port}/hook?k=CANARY-sig-query",
            b"{}",
        ).raise_for_status()
        s3.list_buckets()  # an SDK call signs through SigV4Auth too: recorded once, as itself

    run(handler)
    assert [r[0] for r in stand_in.requests] == ["GET", "POST", "POST"]
    found = calls(sink)
    api, appsync, url = signed(found)
    assert [c[semconv.AWS_SERVICE] for c in (api, appsync, url)] == [
        "execute-api",
        "appsync",
        "lambda",
    ]
    assert json.loads(api[semconv.AWS_PARAMS]) == {"Host": API, "Path": "/prod/"}
    assert iam(api) == {
        ("execute-api:Invoke", f"arn:aws:execute-api:us-east-1:{ACCOUNT}:a1b2c3d4e5/prod/GET/*")
    }
    assert iam(appsync) == {
        (
            "appsync:GraphQL",
            f"arn:aws:appsync:us-east-1:{ACCOUNT}:apis/abcdefghijklmnopqrstuvwxyz/*",
        )
    }
    assert iam(url) == {
        ("lambda:InvokeFunctionUrl", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:*"),
        ("lambda:InvokeFunction", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:*"),
    }
    assert [c[semconv.AWS_OPERATION] for c in found if semconv.AWS_VIA not in c] == ["ListBuckets"]
    for body in sink.bodies:
        for canary in CANARIES:
            assert canary not in body


def test_presigning_and_signing_outside_a_recording_record_nothing(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """A presigned URL is one presign record, not a signed request; a signing after the handler counts next time."""
    from botocore.auth import SigV4Auth, SigV4QueryAuth
    from botocore.awsrequest import AWSRequest

    enable()
    s3 = client("s3", moto_endpoint)
    frozen = boto3.Session().get_credentials().get_frozen_credentials()

    def handler(event: Any, context: Any) -> None:
        s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
        SigV4QueryAuth(frozen, "execute-api", "us-east-1").add_auth(
            AWSRequest(method="GET", url=f"https://{API}/prod/x")
        )

    run(handler)
    found = calls(sink)
    assert [(c[semconv.AWS_OPERATION], c.get(semconv.AWS_PRESIGN)) for c in found] == [
        ("GetObject", True)
    ]
    # After the handler returned (a leftover thread, say): kept, reported with the next invocation.
    SigV4Auth(frozen, "es", "us-east-1").add_auth(
        AWSRequest(method="GET", url=f"https://{OPENSEARCH}/_cluster/health")
    )
    sink.bodies.clear()
    run(lambda event, context: None)
    (late,) = signed(calls(sink))
    assert (late[semconv.AWS_SERVICE], late[semconv.AWS_OPERATION]) == ("es", "HTTP GET")
