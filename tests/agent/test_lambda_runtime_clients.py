"""Through the layer in the local Lambda runtime: every client of issue 14, and whose credentials."""

from __future__ import annotations

import http.server
import importlib.util
import json
import threading
from collections.abc import Iterator
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import boto3
import pytest
from packaging.requirements import Requirement

from lambdaguard import semconv
from lambdaguard.iam import authorizations
from lambdaguard.local.runtime import (
    RUNTIME_SDK_DISTRIBUTIONS,
    FunctionConfig,
    LocalLambda,
    build_task_root,
)

from .conftest import Sink, attributes
from .test_lambda_runtime import function, layer_dir, service

__all__ = ["layer_dir", "service"]  # fixtures used here

pytest.importorskip("opensearchpy")
# aiobotocore pins botocore, so it is only in `make test-async`'s venvs; without
# it the function skips its async part and the rest is checked all the same.
ASYNC = importlib.util.find_spec("aiobotocore") is not None

APP = """
    import asyncio
    import os

    import boto3
    import requests
    from aws_lambda_powertools.utilities import parameters
    from opensearchpy import AWSV4SignerAuth, OpenSearch, RequestsHttpConnection

    # The Powertools example's shape: assume another role at INIT, then read SSM
    # with that role's credentials through a Powertools provider.
    sts = boto3.client("sts")
    creds = sts.assume_role(RoleArn=os.environ["ROLE_ARN"], RoleSessionName="pt")["Credentials"]
    assumed = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    ssm_provider = parameters.SSMProvider(boto3_session=assumed)
    search = OpenSearch(
        hosts=[{"host": "127.0.0.1", "port": int(os.environ["SEARCH_PORT"])}],
        http_auth=AWSV4SignerAuth(boto3.Session().get_credentials(), "us-east-1", "es"),
        use_ssl=False,
        connection_class=RequestsHttpConnection,
    )
    EXTENSION = "http://localhost:" + os.environ["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"]


    async def work():
        from aiobotocore.session import get_session

        async with (
            get_session().create_client("s3") as s3,
            get_session().create_client("dynamodb") as ddb,
            get_session().create_client("sqs") as sqs,
        ):
            await s3.put_object(Bucket="rt-media", Key="in/a/CANARY-key.txt", Body=b"x")
            pages = 0
            async for _ in s3.get_paginator("list_objects_v2").paginate(Bucket="rt-media"):
                pages += 1
            await ddb.put_item(TableName="rt-orders", Item={"pk": {"S": "CANARY-item"}})
            url = (await sqs.get_queue_url(QueueName="rt-jobs"))["QueueUrl"]
            await sqs.send_message(QueueUrl=url, MessageBody="CANARY-body")
            return pages


    def handler(event, context):
        flag = ssm_provider.get("/rt/flag")
        pages = asyncio.run(work()) if os.environ.get("ASYNC") else 1
        secret = requests.get(
            EXTENSION + "/secretsmanager/get?secretId=rt%2Fkey",
            headers={"X-Aws-Parameters-Secrets-Token": os.environ.get("AWS_SESSION_TOKEN", "")},
            timeout=5,
        ).status_code
        search.search(index="orders", body={"query": {"match": {"q": "CANARY-query"}}})
        return {"flag": flag, "pages": pages, "secret": secret}
"""


def closure(*names: str) -> list[str]:
    """The distributions ``names`` need (without extras), less what the runtime's SDK brings."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        for text in distribution(name).requires or ():
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return sorted(seen - set(RUNTIME_SDK_DISTRIBUTIONS))


class _StandIn(http.server.BaseHTTPRequestHandler):
    # Plays both the OpenSearch domain and the Parameters and Secrets extension.
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length", "0") or 0)
        if length:
            self.rfile.read(length)
        body = b'{"hits": {"hits": []}, "SecretString": "CANARY-secret"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def stand_in() -> Iterator[int]:
    """One loopback server for the OpenSearch domain and the extension."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _seed(moto: str) -> str:
    def client(name: str) -> Any:
        return boto3.client(name, endpoint_url=moto, region_name="us-east-1")

    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    role = client("iam").create_role(
        RoleName="rt-config-reader", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    client("ssm").put_parameter(Name="/rt/flag", Value="on", Type="String", Overwrite=True)
    client("s3").create_bucket(Bucket="rt-media")
    client("dynamodb").create_table(
        TableName="rt-orders",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client("sqs").create_queue(QueueName="rt-jobs")
    return str(role)


def test_every_client_through_the_layer_once_with_phase_credentials_and_iam(  # noqa: PLR0917 - fixtures
    tmp_path: Path,
    service: LocalLambda,
    layer_dir: Path,
    sink: Sink,
    moto_endpoint: str,
    stand_in: int,
) -> None:
    """aiobotocore, a Powertools read as an assumed role, an extension read and a signed request: each once."""
    role = _seed(moto_endpoint)
    source = function(tmp_path, "src", APP)
    code = build_task_root(
        source,
        tmp_path / "task",
        closure(
            *(("aiobotocore",) if ASYNC else ()),
            "aws-lambda-powertools",
            "opensearch-py",
            "requests",
        ),
    )
    service.add(
        FunctionConfig(
            name="orders",
            handler="app.handler",
            code_dir=code,
            layer_dir=layer_dir,
            timeout_s=20.0,
            environment={
                "AWS_LAMBDA_EXEC_WRAPPER": "/opt/lambdaguard-instrument",
                "AWS_ENDPOINT_URL": moto_endpoint,
                "ROLE_ARN": role,
                "SEARCH_PORT": str(stand_in),
                "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(stand_in),
                "LAMBDAGUARD_ENDPOINT": sink.url,
                "ASYNC": "1" if ASYNC else "",
            },
        )
    )
    result = service.invoke("orders", {})
    assert result.ok, (result, service.environment("orders").logs)
    assert result.json() == {"flag": "on", "pages": 1, "secret": 200}
    spans = sink.spans()
    init = next(s for s in spans if s.name == semconv.INIT_SPAN_NAME)
    invocation = next(s for s in spans if s.name == "orders")
    phase: dict[bytes, str] = {init.span_id: "init", invocation.span_id: "invoke"}
    found = []
    for span in spans:
        attrs = attributes(span.attributes)
        if attrs.get(semconv.RPC_SYSTEM) == semconv.RPC_SYSTEM_AWS:
            attrs["_phase"] = phase[span.parent_span_id]
            found.append(attrs)
    seen = sorted(
        (c["_phase"], c[semconv.AWS_SERVICE], c[semconv.AWS_OPERATION], c.get(semconv.AWS_VIA, ""))
        for c in found
    )
    asynchronous = [
        ("invoke", "dynamodb", "PutItem", ""),
        ("invoke", "s3", "ListObjectsV2", ""),
        ("invoke", "s3", "PutObject", ""),
        ("invoke", "sqs", "GetQueueUrl", ""),
        ("invoke", "sqs", "SendMessage", ""),
    ]
    assert seen == sorted(
        [
            ("init", "sts", "AssumeRole", ""),
            ("invoke", "es", "HTTP POST", "sigv4"),
            ("invoke", "secretsmanager", "GetSecretValue", "extension"),
            ("invoke", "ssm", "GetParameter", ""),
            *(asynchronous if ASYNC else []),
        ]
    )
    by_op = {c[semconv.AWS_OPERATION]: c for c in found}
    assert by_op["AssumeRole"][semconv.AWS_CREDENTIALS] == semconv.CREDENTIALS_EXECUTION_ROLE
    parameter = by_op["GetParameter"]
    assert parameter[semconv.AWS_CREDENTIALS] == semconv.CREDENTIALS_ASSUMED_ROLE
    assert parameter[semconv.AWS_CREDENTIALS_ROLE] == role
    assert by_op["HTTP POST"][semconv.AWS_CREDENTIALS] == semconv.CREDENTIALS_EXECUTION_ROLE
    mapped = {
        (a.action, a.resource)
        for c in found
        for a in authorizations(
            c[semconv.AWS_SERVICE],
            c[semconv.AWS_OPERATION],
            json.loads(c[semconv.AWS_PARAMS]),
            region="us-east-1",
            account="123456789012",
        )
    }
    arn = "arn:aws:{}:us-east-1:123456789012:{}".format
    assert mapped >= {
        ("sts:AssumeRole", role),
        ("ssm:GetParameter", arn("ssm", "parameter/rt/flag")),
        ("secretsmanager:GetSecretValue", arn("secretsmanager", "secret:rt/key-??????")),
        ("es:ESHttpPost", arn("es", "domain/*/orders/*")),
    }
    if ASYNC:
        assert mapped >= {
            ("s3:PutObject", "arn:aws:s3:::rt-media/in/*"),
            ("s3:ListBucket", "arn:aws:s3:::rt-media"),
            ("dynamodb:PutItem", arn("dynamodb", "table/rt-orders")),
            ("sqs:SendMessage", arn("sqs", "rt-jobs")),
        }
    for body in sink.bodies:
        for canary in (b"CANARY-key", b"CANARY-item", b"CANARY-body", b"CANARY-secret"):
            assert canary not in body
        assert b"CANARY-query" not in body
