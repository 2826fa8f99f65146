"""AWS API calls recorded from real botocore clients talking to moto over loopback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from lambdaguard import instrument, semconv
from lambdaguard.agent import aws, flush

from .conftest import Context, Sink, attributes

BOTO = BotoConfig(retries={"max_attempts": 1, "mode": "standard"})


def client(name: str, endpoint: str) -> Any:
    return boto3.client(name, endpoint_url=endpoint, region_name="us-east-1", config=BOTO)


def calls(sink: Sink) -> list[dict[str, Any]]:
    """Attributes of every AWS call span received."""
    out = []
    for span in sink.spans():
        attrs = attributes(span.attributes)
        if attrs.get(semconv.RPC_SYSTEM) == semconv.RPC_SYSTEM_AWS:
            attrs["_name"] = span.name
            attrs["_parent"] = span.parent_span_id
            out.append(attrs)
    return out


def run(handler: Callable[[Any, Any], Any], event: Any = None) -> Any:
    result = instrument(handler)(event or {}, Context())
    assert flush(5000)
    return result


def find(found: list[dict[str, Any]], operation: str) -> dict[str, Any]:
    matches = [c for c in found if c[semconv.AWS_OPERATION] == operation]
    assert matches, f"{operation} not recorded in {[c['_name'] for c in found]}"
    return matches[0]


def test_s3_calls_keep_bucket_and_key_prefix_only(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """S3 put/get/list are recorded with the bucket, and object keys cut to their first directory."""
    enable()
    s3 = client("s3", moto_endpoint)
    s3.create_bucket(Bucket="media-a")

    def handler(event: Any, context: Any) -> int:
        s3.put_object(Bucket="media-a", Key="photos/2026/secret-name.jpg", Body=b"x")
        s3.get_object(Bucket="media-a", Key="photos/2026/secret-name.jpg")["Body"].read()
        s3.list_objects_v2(Bucket="media-a", Prefix="photos/2026/")
        return 1

    assert run(handler) == 1
    found = calls(sink)
    put = find(found, "PutObject")
    assert json.loads(put[semconv.AWS_PARAMS]) == {"Bucket": "media-a", "Key": "photos/"}
    assert put["_name"] == "S3.PutObject"
    assert put[semconv.RPC_SERVICE] == "S3"
    assert put[semconv.AWS_SERVICE] == "s3"
    assert put[semconv.AWS_REGION] == "us-east-1"
    assert put[semconv.HTTP_RESPONSE_STATUS_CODE] == 200
    assert put[semconv.AWS_ENDPOINT] == moto_endpoint
    assert put[semconv.AWS_RETRIES] == 0
    get = find(found, "GetObject")
    assert json.loads(get[semconv.AWS_PARAMS])["Key"] == "photos/"
    listed = find(found, "ListObjectsV2")
    assert json.loads(listed[semconv.AWS_PARAMS]) == {"Bucket": "media-a", "Prefix": "photos/"}
    for body in sink.bodies:
        assert b"secret-name" not in body


def test_upload_file_worker_threads_are_attributed_to_the_invocation(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str, tmp_path: Path
) -> None:
    """Multipart upload_file calls made by s3transfer's worker threads belong to the invocation."""
    enable()
    s3 = client("s3", moto_endpoint)
    s3.create_bucket(Bucket="big")
    path = tmp_path / "blob.bin"
    path.write_bytes(b"0" * (6 * 1024 * 1024))

    def handler(event: Any, context: Any) -> None:
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024
        )
        s3.upload_file(str(path), "big", "uploads/x/blob.bin", Config=config)

    run(handler)
    found = calls(sink)
    invocation = next(s for s in sink.spans() if s.name == "orders")
    ops = {c[semconv.AWS_OPERATION] for c in found if c["_parent"] == invocation.span_id}
    assert {"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"} <= ops
    part = find(found, "UploadPart")
    assert json.loads(part[semconv.AWS_PARAMS]) == {"Bucket": "big", "Key": "uploads/"}


def test_dynamodb_batch_and_transact_keep_tables_only(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """DynamoDB batch maps reduce to their table names; transactions keep item kind and table."""
    enable()
    ddb = client("dynamodb", moto_endpoint)
    for name in ("users", "audit"):
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

    def handler(event: Any, context: Any) -> None:
        ddb.batch_write_item(
            RequestItems={
                "users": [{"PutRequest": {"Item": {"pk": {"S": "user-canary-1"}}}}],
                "audit": [{"PutRequest": {"Item": {"pk": {"S": "a1"}}}}],
            }
        )
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "users", "Item": {"pk": {"S": "u2"}}}},
                {"Delete": {"TableName": "audit", "Key": {"pk": {"S": "a1"}}}},
            ]
        )
        ddb.get_item(TableName="users", Key={"pk": {"S": "user-canary-1"}})
        ddb.execute_statement(Statement="SELECT * FROM \"users\" WHERE pk = 'user-canary-1'")

    run(handler)
    found = calls(sink)
    assert json.loads(find(found, "BatchWriteItem")[semconv.AWS_PARAMS]) == {
        "RequestItems": {"audit": {}, "users": {}}
    }
    assert json.loads(find(found, "TransactWriteItems")[semconv.AWS_PARAMS]) == {
        "TransactItems": [{"Put": {"TableName": "users"}}, {"Delete": {"TableName": "audit"}}]
    }
    assert json.loads(find(found, "GetItem")[semconv.AWS_PARAMS]) == {"TableName": "users"}
    assert json.loads(find(found, "ExecuteStatement")[semconv.AWS_PARAMS]) == {
        "Statement": 'SELECT "users"'
    }
    for body in sink.bodies:
        assert b"user-canary-1" not in body


def test_messaging_secrets_parameters_and_invoke(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """SQS batch, SNS, Secrets Manager, SSM and Lambda calls keep their resource identifiers."""
    enable()
    sqs = client("sqs", moto_endpoint)
    sns = client("sns", moto_endpoint)
    secrets = client("secretsmanager", moto_endpoint)
    ssm = client("ssm", moto_endpoint)
    lam = client("lambda", moto_endpoint)
    queue_url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    topic = sns.create_topic(Name="events")["TopicArn"]
    secrets.create_secret(Name="db/password", SecretString="hunter2-canary")
    ssm.put_parameter(Name="/app/flag", Value="on", Type="String")

    def handler(event: Any, context: Any) -> None:
        sqs.send_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": "1", "MessageBody": "body-canary"}]
        )
        sns.publish(TopicArn=topic, Message="message-canary")
        secrets.get_secret_value(SecretId="db/password")
        ssm.get_parameter(Name="/app/flag")
        with pytest.raises(ClientError):
            lam.invoke(FunctionName="missing-fn", Payload=b"{}")

    run(handler)
    found = calls(sink)
    assert json.loads(find(found, "SendMessageBatch")[semconv.AWS_PARAMS])["QueueUrl"] == queue_url
    assert json.loads(find(found, "Publish")[semconv.AWS_PARAMS]) == {"TopicArn": topic}
    assert json.loads(find(found, "GetSecretValue")[semconv.AWS_PARAMS]) == {
        "SecretId": "db/password"
    }
    assert json.loads(find(found, "GetParameter")[semconv.AWS_PARAMS]) == {"Name": "/app/flag"}
    invoke = find(found, "Invoke")
    assert json.loads(invoke[semconv.AWS_PARAMS]) == {"FunctionName": "missing-fn"}
    assert invoke[semconv.AWS_ERROR_CODE] == "ResourceNotFoundException"
    assert invoke[semconv.HTTP_RESPONSE_STATUS_CODE] == 404
    for body in sink.bodies:
        for canary in (b"hunter2-canary", b"body-canary", b"message-canary"):
            assert canary not in body


def test_failing_call_records_error_code(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """A call that fails with an AWS error is recorded with that error code and re-raised as is."""
    enable()
    s3 = client("s3", moto_endpoint)

    def handler(event: Any, context: Any) -> str:
        try:
            s3.get_object(Bucket="no-such-bucket", Key="k")
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])
        return "no error"

    assert run(handler) == "NoSuchBucket"
    call = find(calls(sink), "GetObject")
    assert call[semconv.AWS_ERROR_CODE] == "NoSuchBucket"
    assert call[semconv.HTTP_RESPONSE_STATUS_CODE] == 404


def test_presigned_url_is_a_signing_event(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """Generating a presigned URL is recorded as a presign call that sent nothing."""
    enable()
    s3 = client("s3", moto_endpoint)

    def handler(event: Any, context: Any) -> str:
        post = s3.generate_presigned_post(Bucket="media-a", Key="in/x.txt")
        assert post["url"]
        return str(
            s3.generate_presigned_url(
                "get_object", Params={"Bucket": "media-a", "Key": "a/b/c.txt"}
            )
        )

    assert run(handler).startswith(moto_endpoint)
    found = calls(sink)
    signed = find(found, "GetObject")
    assert signed[semconv.AWS_PRESIGN] is True
    assert json.loads(signed[semconv.AWS_PARAMS]) == {"Bucket": "media-a", "Key": "a/"}
    assert semconv.HTTP_RESPONSE_STATUS_CODE not in signed
    post = find(found, "PutObject")
    assert post[semconv.AWS_PRESIGN] is True
    assert json.loads(post[semconv.AWS_PARAMS]) == {"Bucket": "media-a"}


def test_clients_created_before_and_after_the_agent_and_during_init(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """Clients from before the agent loaded, from INIT, and from the handler are all recorded."""
    enable()
    before = client("sqs", moto_endpoint)
    before.create_queue(QueueName="q-before")  # no agent yet: not recorded anywhere

    def handler(event: Any, context: Any) -> None:
        before.list_queues(QueueNamePrefix="q-")
        client("sns", moto_endpoint).list_topics()

    wrapped = instrument(handler)
    # Module-level code that runs after the agent is installed is the INIT phase.
    client("sqs", moto_endpoint).get_queue_url(QueueName="q-before")
    wrapped({}, Context())
    assert flush(5000)
    spans = sink.spans()
    init = [s for s in spans if s.name == semconv.INIT_SPAN_NAME]
    invocation = [s for s in spans if s.name == "orders"]
    assert len(init) == 1
    assert len(invocation) == 1
    by_parent: dict[bytes, set[str]] = {}
    for call in calls(sink):
        by_parent.setdefault(call["_parent"], set()).add(call[semconv.AWS_OPERATION])
    assert by_parent[init[0].span_id] == {"GetQueueUrl"}
    assert by_parent[invocation[0].span_id] == {"ListQueues", "ListTopics"}
    assert attributes(init[0].attributes)[semconv.PHASE] == semconv.PHASE_INIT


def test_install_is_idempotent_and_uninstall_restores_botocore() -> None:
    """Installing twice wraps once; uninstalling puts botocore's own methods back."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call
    aws.install()
    wrapped = BaseClient._make_api_call
    aws.install()
    assert BaseClient._make_api_call is wrapped
    assert wrapped is not original
    aws.uninstall()
    assert BaseClient._make_api_call is original
    aws.uninstall()
    assert BaseClient._make_api_call is original


@pytest.mark.parametrize(
    ("service", "params", "expected"),
    [
        ("s3", {"Bucket": "b", "Key": "top.txt"}, {"Bucket": "b", "Key": ""}),
        ("s3", {"Bucket": "b", "Key": "a/b/c/d.txt"}, {"Bucket": "b", "Key": "a/"}),
        (
            "s3",
            {"Bucket": "b", "Key": "k/x", "CopySource": "src/in/deep/file?versionId=1"},
            {"Bucket": "b", "CopySource": "src/in/?versionId=*", "Key": "k/"},
        ),
        (
            "s3",
            {"Bucket": "b", "Key": "x", "CopySource": {"Bucket": "s", "Key": "a/b"}},
            {"Bucket": "b", "CopySource": {"Bucket": "s", "Key": "a/"}, "Key": ""},
        ),
        ("dynamodb", {"TableName": "t", "Key": {"pk": {"S": "v"}}}, {"TableName": "t"}),
        (
            "events",
            {"Entries": [{"EventBusName": "bus", "Detail": "{}"}, {"Detail": "{}"}]},
            {"Entries": [{"EventBusName": "bus"}, {}]},
        ),
        (
            "ssm",
            {"Names": ["/a", "/b"], "WithDecryption": True},
            {"Names": ["/a", "/b"], "WithDecryption": True},
        ),
        (
            "stepfunctions",
            {"stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:s", "input": "{}"},
            {"stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:s"},
        ),
        (
            "dynamodb",
            {"Statement": "UPDATE \"t\" SET a = 'secret' WHERE pk = 'x'"},
            {"Statement": 'UPDATE "t"'},
        ),
        (
            "dynamodb",
            {"Statement": "INSERT INTO orders VALUE {'pk': 'secret'}"},
            {"Statement": "INSERT orders"},
        ),
        (
            "s3",
            {"Bucket": "b", "Key": "k", "Tagging": "secret=1", "GrantRead": "id=x", "Body": b""},
            {"Bucket": "b", "GrantRead": "*", "Key": "", "Tagging": "*"},
        ),
        (
            "s3",
            {
                "Bucket": "b",
                "Delete": {
                    "Objects": [
                        {"Key": "logs/a.txt"},
                        {"Key": "logs/b.txt"},
                        {"Key": "tmp/c", "VersionId": "v"},
                    ]
                },
            },
            {
                "Bucket": "b",
                "Delete": {"Objects": [{"Key": "logs/"}, {"Key": "tmp/", "VersionId": "*"}]},
            },
        ),
        (
            "s3",
            {"Bucket": "b", "Key": "x", "CopySource": "src/a/b.txt?versionId=v1"},
            {"Bucket": "b", "CopySource": "src/a/?versionId=*", "Key": ""},
        ),
        (
            "sts",
            {"RoleArn": "arn:r", "RoleSessionName": "s", "Tags": [{"Key": "k", "Value": "v"}]},
            {"RoleArn": "arn:r", "RoleSessionName": "s", "Tags": "*"},
        ),
        (
            "sns",
            {"PhoneNumber": "+15555550100", "Message": "m"},
            {"PhoneNumber": "*"},
        ),
        (
            "cognito-idp",
            {"UserPoolId": "p", "Username": "alice@example.com", "ClientId": "c"},
            {"ClientId": "c", "UserPoolId": "p"},
        ),
        (
            "sqs",
            {"QueueUrl": "u", "MessageGroupId": "g", "MessageDeduplicationId": "d"},
            {"QueueUrl": "u"},
        ),
        (
            "ec2",
            {"InstanceIds": ["i-1", "i-2"], "DryRun": False},
            {"InstanceIds": ["i-1", "i-2"]},
        ),
        (
            "sqs",
            {"QueueUrl": "https://sqs.example/1/q?X-Amz-Security-Token=tok#frag"},
            {"QueueUrl": "https://sqs.example/1/q"},
        ),
    ],
)
def test_identifying_params(service: str, params: dict[str, Any], expected: dict[str, Any]) -> None:
    """Only identifying members survive, keys cut to prefixes, statements to verb and table."""
    assert aws.identifying_params(service, params, depth=1) == expected


def test_key_prefix_depth_and_full_keys() -> None:
    """The prefix depth is configurable and full keys are kept only when asked for."""
    assert aws.key_prefix("a/b/c/d.txt", 2, False) == "a/b/"
    assert aws.key_prefix("a/b/c/d.txt", 9, False) == "a/b/c/"
    assert aws.key_prefix("a/b/c/d.txt", 0, False) == ""
    assert aws.key_prefix("a/b/c/d.txt", 1, True) == "a/b/c/d.txt"


def test_prefix_depth_and_full_keys_from_the_environment(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """LAMBDAGUARD_KEY_PREFIX_DEPTH deepens the prefix; LAMBDAGUARD_RECORD_FULL_KEYS keeps keys whole."""
    enable(LAMBDAGUARD_KEY_PREFIX_DEPTH="2")
    s3 = client("s3", moto_endpoint)
    s3.create_bucket(Bucket="depth")

    def handler(event: Any, context: Any) -> None:
        s3.put_object(Bucket="depth", Key="a/b/c/file.txt", Body=b"")

    run(handler)
    assert json.loads(find(calls(sink), "PutObject")[semconv.AWS_PARAMS])["Key"] == "a/b/"
    from lambdaguard.agent import _agent

    _agent.reset()
    sink.bodies.clear()
    enable(LAMBDAGUARD_RECORD_FULL_KEYS="true")
    run(handler)
    assert json.loads(find(calls(sink), "PutObject")[semconv.AWS_PARAMS])["Key"] == "a/b/c/file.txt"


def test_calls_after_the_handler_returned_are_kept_for_the_next_record(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """A leftover thread's call made between invocations is not lost: the next record carries it."""
    import threading

    enable()
    sqs = client("sqs", moto_endpoint)
    go = threading.Event()
    threads: list[threading.Thread] = []

    def late() -> None:
        go.wait(5)
        sqs.list_queues(QueueNamePrefix="late")

    def handler(event: Any, context: Any) -> None:
        if event.get("spawn"):
            thread = threading.Thread(target=late)
            thread.start()
            threads.append(thread)

    wrapped = instrument(handler)
    wrapped({"spawn": True}, Context("r1"))
    go.set()
    threads[0].join(5)
    wrapped({}, Context("r2"))
    assert flush(5000)
    invocations = {
        attributes(s.attributes)[semconv.FAAS_INVOCATION_ID]: s.span_id
        for s in sink.spans()
        if s.name == "orders"
    }
    late_call = find(calls(sink), "ListQueues")
    assert late_call["_parent"] == invocations["r2"]


def test_streams_events_and_state_machines(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """Kinesis stream names, EventBridge buses and Step Functions ARNs are kept; payloads are not."""
    enable()
    kinesis = client("kinesis", moto_endpoint)
    events = client("events", moto_endpoint)
    sfn = client("stepfunctions", moto_endpoint)
    kinesis.create_stream(StreamName="clicks", ShardCount=1)
    events.create_event_bus(Name="orders")
    machine = sfn.create_state_machine(
        name="flow",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]

    def handler(event: Any, context: Any) -> None:
        kinesis.put_record(StreamName="clicks", Data=b"data-canary", PartitionKey="pk-canary")
        events.put_events(
            Entries=[
                {"Source": "app", "DetailType": "t", "Detail": '{"x":"detail-canary"}'},
                {"Source": "app", "DetailType": "t", "Detail": "{}", "EventBusName": "orders"},
            ]
        )
        sfn.start_execution(stateMachineArn=machine, input='{"i":"input-canary"}')

    run(handler)
    found = calls(sink)
    assert json.loads(find(found, "PutRecord")[semconv.AWS_PARAMS]) == {"StreamName": "clicks"}
    assert json.loads(find(found, "PutEvents")[semconv.AWS_PARAMS]) == {
        "Entries": [{}, {"EventBusName": "orders"}]
    }
    assert json.loads(find(found, "StartExecution")[semconv.AWS_PARAMS]) == {
        "stateMachineArn": machine
    }
    for body in sink.bodies:
        for canary in (b"data-canary", b"pk-canary", b"detail-canary", b"input-canary"):
            assert canary not in body
