"""aiobotocore clients (the async client under aioboto3 and s3fs) recorded like botocore's, against moto.

aiobotocore and aioboto3 each pin botocore, so these tests run under ``make
test-async`` (a venv per client) and are skipped in the dev venv.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from lambdaguard import instrument, semconv
from lambdaguard.agent import flush
from lambdaguard.iam import authorizations

from .conftest import Context, Sink
from .test_aws import calls, find

aiobotocore_session = pytest.importorskip("aiobotocore.session")


def _client(session: Any, name: str, endpoint: str) -> Any:
    from botocore.config import Config as BotoConfig

    return session.create_client(
        name,
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=BotoConfig(retries={"max_attempts": 1, "mode": "standard"}),
    )


def ops(found: list[dict[str, Any]]) -> list[str]:
    """The operations recorded, in order."""
    return [c[semconv.AWS_OPERATION] for c in found]


def test_s3_dynamodb_sqs_paginators_and_waiters_are_recorded_once_each(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """S3, DynamoDB and SQS calls, a paginator's pages and a waiter's polls: each once, with facts."""
    enable()

    async def work() -> dict[str, Any]:
        session = aiobotocore_session.get_session()
        async with (
            _client(session, "s3", moto_endpoint) as s3,
            _client(session, "dynamodb", moto_endpoint) as ddb,
            _client(session, "sqs", moto_endpoint) as sqs,
        ):
            await s3.create_bucket(Bucket="async-media")
            for n in range(3):
                await s3.put_object(Bucket="async-media", Key=f"in/2026/f{n}.jpg", Body=b"x")
            pages = 0
            paginator = s3.get_paginator("list_objects_v2")
            async for _ in paginator.paginate(
                Bucket="async-media", Prefix="in/", PaginationConfig={"PageSize": 1}
            ):
                pages += 1
            await ddb.create_table(
                TableName="async-orders",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            await ddb.get_waiter("table_exists").wait(
                TableName="async-orders", WaiterConfig={"Delay": 0, "MaxAttempts": 3}
            )
            await ddb.put_item(TableName="async-orders", Item={"pk": {"S": "canary-pk-1"}})
            queue = (await sqs.create_queue(QueueName="async-jobs"))["QueueUrl"]
            await sqs.send_message(QueueUrl=queue, MessageBody="canary-body-async")
            missing = ""
            try:
                await s3.head_bucket(Bucket="no-such-async-bucket")
            except Exception as exc:  # the ClientError aiobotocore raises, unchanged
                missing = type(exc).__name__
            return {"pages": pages, "queue": queue, "missing": missing}

    def handler(event: Any, context: Any) -> dict[str, Any]:
        return asyncio.run(work())

    result = instrument(handler)({}, Context())
    assert flush(5000)
    assert result["pages"] == 3
    assert result["missing"] == "ClientError"
    found = calls(sink)
    recorded = ops(found)
    assert recorded.count("PutObject") == 3
    assert recorded.count("ListObjectsV2") == 3  # one per page
    assert recorded.count("DescribeTable") >= 1  # the waiter's polls
    assert recorded.count("PutItem") == recorded.count("SendMessage") == 1
    put = find(found, "PutObject")
    assert json.loads(put[semconv.AWS_PARAMS]) == {"Bucket": "async-media", "Key": "in/"}
    assert put[semconv.AWS_SERVICE] == "s3"
    assert put[semconv.HTTP_RESPONSE_STATUS_CODE] == 200
    assert put[semconv.AWS_CREDENTIALS] == semconv.CREDENTIALS_EXECUTION_ROLE
    assert semconv.AWS_VIA not in put  # an SDK operation, not a signed request
    listed = find(found, "ListObjectsV2")
    assert json.loads(listed[semconv.AWS_PARAMS]) == {"Bucket": "async-media", "Prefix": "in/"}
    head = find(found, "HeadBucket")
    assert head[semconv.HTTP_RESPONSE_STATUS_CODE] == 404
    assert head[semconv.AWS_ERROR_CODE] == "404"
    # Each call maps to the IAM request the sync client's would.
    (listing,) = authorizations(
        "s3",
        "ListObjectsV2",
        json.loads(listed[semconv.AWS_PARAMS]),
        region="us-east-1",
        account="123456789012",
    )
    assert (listing.action, listing.resource) == ("s3:ListBucket", "arn:aws:s3:::async-media")
    (item,) = authorizations(
        "dynamodb",
        "PutItem",
        json.loads(find(found, "PutItem")[semconv.AWS_PARAMS]),
        region="us-east-1",
        account="123456789012",
    )
    assert item.resource == "arn:aws:dynamodb:us-east-1:123456789012:table/async-orders"
    assert not any(c.get(semconv.AWS_VIA) == semconv.VIA_SIGV4 for c in found)
    for body in sink.bodies:
        assert b"canary-pk-1" not in body
        assert b"canary-body-async" not in body


def test_calls_from_a_task_started_during_init_belong_to_their_phase(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """A task started at INIT: what it calls at INIT is INIT's, what it calls later the invocation's."""
    enable()
    loop = asyncio.new_event_loop()
    session = aiobotocore_session.get_session()
    state: dict[str, Any] = {}

    async def open_client() -> None:
        state["cm"] = _client(session, "sqs", moto_endpoint)
        state["sqs"] = await state["cm"].__aenter__()
        state["url"] = (await state["sqs"].create_queue(QueueName="init-q"))["QueueUrl"]

    async def handle() -> int:
        await state["sqs"].send_message(QueueUrl=state["url"], MessageBody="x")
        return 1

    def handler(event: Any, context: Any) -> int:
        return loop.run_until_complete(handle())

    wrapped = instrument(handler)
    init_task = loop.create_task(open_client())  # started during INIT, as a module would
    loop.run_until_complete(init_task)
    try:
        assert wrapped({}, Context()) == 1
        assert flush(5000)
    finally:
        loop.run_until_complete(state["cm"].__aexit__(None, None, None))
        loop.close()
    spans = sink.spans()
    init = next(s for s in spans if s.name == semconv.INIT_SPAN_NAME)
    invocation = next(s for s in spans if s.name == "orders")
    by_parent = {c["_parent"]: [] for c in calls(sink)}
    for c in calls(sink):
        by_parent[c["_parent"]].append(c[semconv.AWS_OPERATION])
    assert by_parent[init.span_id] == ["CreateQueue"]
    assert by_parent[invocation.span_id] == ["SendMessage"]


def test_async_presigned_url_is_a_signing_event(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """aiobotocore's generate_presigned_url is recorded as a presign, once, and not as a sent request."""
    enable()

    async def work() -> str:
        async with _client(aiobotocore_session.get_session(), "s3", moto_endpoint) as s3:
            url: str = await s3.generate_presigned_url(
                "get_object", Params={"Bucket": "media-a", "Key": "a/b/secret-name.txt"}
            )
            return url

    def handler(event: Any, context: Any) -> str:
        return asyncio.run(work())

    assert instrument(handler)({}, Context()).startswith(moto_endpoint)
    assert flush(5000)
    (signed,) = calls(sink)
    assert signed[semconv.AWS_OPERATION] == "GetObject"
    assert signed[semconv.AWS_PRESIGN] is True
    assert json.loads(signed[semconv.AWS_PARAMS]) == {"Bucket": "media-a", "Key": "a/"}


def test_aioboto3_client_and_resource_calls_are_recorded_once(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """aioboto3's client and its DynamoDB resource layer: every call once, with its table and bucket."""
    aioboto3 = pytest.importorskip("aioboto3")
    enable()

    async def work() -> None:
        session = aioboto3.Session()
        options = {"endpoint_url": moto_endpoint, "region_name": "us-east-1"}
        async with session.client("s3", **options) as s3:
            await s3.create_bucket(Bucket="aioboto3-media")
            await s3.put_object(Bucket="aioboto3-media", Key="up/CANARY-name.txt", Body=b"x")
        async with session.resource("dynamodb", **options) as dynamodb:
            table = await dynamodb.create_table(
                TableName="aioboto3-orders",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            await table.put_item(Item={"pk": "CANARY-pk"})

    def handler(event: Any, context: Any) -> None:
        asyncio.run(work())

    instrument(handler)({}, Context())
    assert flush(5000)
    found = calls(sink)
    assert ops(found) == ["CreateBucket", "PutObject", "CreateTable", "PutItem"]
    assert json.loads(find(found, "PutItem")[semconv.AWS_PARAMS]) == {
        "TableName": "aioboto3-orders"
    }
    assert json.loads(find(found, "PutObject")[semconv.AWS_PARAMS]) == {
        "Bucket": "aioboto3-media",
        "Key": "up/",
    }
    for body in sink.bodies:
        assert b"CANARY" not in body
