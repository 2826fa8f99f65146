"""What Lambda does with the role, derived from the configuration: every need named and valid."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from lambdaguard.analysis.grants import EventSource, FunctionConfig, FunctionGrant
from lambdaguard.analysis.service_needs import ServiceNeed, service_needs
from lambdaguard.iam import action_exists
from lambdaguard.iam._data import iam_service
from lambdaguard.iam._glob import covers, parse_glob

ACCOUNT = "123456789012"
REGION = "eu-west-1"
BASE = FunctionConfig(
    name="orders",
    arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders",
    account=ACCOUNT,
    region=REGION,
    runtime="python3.12",
    role_arn=f"arn:aws:iam::{ACCOUNT}:role/orders",
    package_type="Zip",
    architectures=("arm64",),
    memory_mb=256,
    timeout_s=10,
    log_group="/aws/lambda/orders",
    vpc_subnets=(),
    vpc_security_groups=(),
    tracing_mode="PassThrough",
    dead_letter_target=None,
    kms_key_arn=None,
    file_systems=(),
    layers=(),
)
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:kafka-AbCdEf"
CLUSTER = f"arn:aws:kafka:{REGION}:{ACCOUNT}:cluster/events/1a2b3c"


def source(kind: str, arn: str | None, **extra: Any) -> EventSource:
    fields: dict[str, Any] = {
        "uuid": "u-1",
        "kind": kind,
        "source_arn": arn,
        "state": "Enabled",
        "on_failure": None,
        "access": (),
        "topics": (),
        "consumer_group": None,
        "kafka_servers": (),
    }
    fields.update(extra)
    return EventSource(**fields)


def grant(
    config: FunctionConfig = BASE,
    sources: tuple[EventSource, ...] = (),
    destinations: tuple[tuple[str, str], ...] = (),
) -> FunctionGrant:
    return FunctionGrant(config, None, sources, destinations, ())


def pairs(needs: tuple[ServiceNeed, ...], source: str | None = None) -> list[tuple[str, str]]:
    return [(n.action, n.resource) for n in needs if source is None or n.source == source]


def test_logs_on_the_default_group() -> None:
    """Every function writes logs: create group, create stream, put events on its own group."""
    needs = service_needs(BASE)
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/orders"
    assert pairs(needs) == [
        ("logs:CreateLogGroup", group),
        ("logs:CreateLogStream", group + ":log-stream:*"),
        ("logs:PutLogEvents", group + ":log-stream:*"),
    ]
    assert "writes the function's logs to /aws/lambda/orders" in needs[2].reason


def test_custom_log_group_is_honoured() -> None:
    """LoggingConfig.LogGroup moves every log need to that group."""
    needs = service_needs(replace(BASE, log_group="/shared/app-logs"))
    assert all(":log-group:/shared/app-logs" in r for _, r in pairs(needs, "logs"))
    assert "the log group its LoggingConfig names" in needs[0].reason


def test_vpc_tracing_dlq_kms_efs() -> None:
    """VPC interfaces, X-Ray, the dead-letter queue, the environment key and EFS each bring theirs."""
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    config = replace(
        BASE,
        vpc_subnets=("subnet-1",),
        vpc_security_groups=("sg-1",),
        tracing_mode="Active",
        dead_letter_target=f"arn:aws:sns:{REGION}:{ACCOUNT}:dead",
        kms_key_arn=key,
        file_systems=(f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:access-point/fsap-1",),
    )
    needs = service_needs(config)
    assert {a for a, r in pairs(needs, "vpc")} == {
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    }
    assert pairs(needs, "xray") == [
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
    ]
    assert pairs(needs, "dead-letter") == [("sns:Publish", f"arn:aws:sns:{REGION}:{ACCOUNT}:dead")]
    (kms,) = [n for n in needs if n.source == "kms"]
    assert (kms.action, kms.resource, kms.certain) == ("kms:Decrypt", key, False)
    efs = {n.action: n.certain for n in needs if n.source == "efs"}
    assert efs == {"elasticfilesystem:ClientMount": True, "elasticfilesystem:ClientWrite": False}


def test_nothing_extra_for_a_plain_function() -> None:
    """Without VPC, tracing, DLQ, key, file system or mappings, only the log needs remain."""
    assert {n.source for n in service_needs(BASE)} == {"logs"}


def test_destinations() -> None:
    """Asynchronous destinations of every type give the action that sends to them."""
    destinations = (
        ("on-success", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:next"),
        ("on-failure", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"),
        ("on-failure", "arn:aws:s3:::failed-events"),
    )
    needs = service_needs(grant(destinations=destinations))
    assert pairs(needs, "destination") == [
        ("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:next"),
        ("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"),
        ("s3:PutObject", "arn:aws:s3:::failed-events/*"),
        ("s3:ListBucket", "arn:aws:s3:::failed-events"),
    ]
    assert "successful asynchronous invocation" in needs[3].reason


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        (
            source("sqs", QUEUE),
            [
                ("sqs:ReceiveMessage", QUEUE),
                ("sqs:DeleteMessage", QUEUE),
                ("sqs:GetQueueAttributes", QUEUE),
            ],
        ),
        (
            source(
                "dynamodb",
                f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/stream/2026-01-01T00:00:00.000",
            ),
            [
                (
                    "dynamodb:DescribeStream",
                    f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/stream/2026-01-01T00:00:00.000",
                ),
                (
                    "dynamodb:GetRecords",
                    f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/stream/2026-01-01T00:00:00.000",
                ),
                (
                    "dynamodb:GetShardIterator",
                    f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/stream/2026-01-01T00:00:00.000",
                ),
                ("dynamodb:ListStreams", "*"),
            ],
        ),
    ],
    ids=["sqs", "dynamodb"],
)
def test_queue_and_stream_mappings(src: EventSource, expected: list[tuple[str, str]]) -> None:
    """SQS and DynamoDB stream mappings need exactly what Lambda's poller calls."""
    assert pairs(service_needs(grant(sources=(src,))), "event-source") == expected


def test_kinesis_consumer() -> None:
    """A Kinesis mapping through an enhanced fan-out consumer reads the stream and subscribes."""
    stream = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/clicks"
    consumer = stream + "/consumer/lambda:1700000000"
    got = dict(pairs(service_needs(grant(sources=(source("kinesis", consumer),))), "event-source"))
    assert got["kinesis:GetRecords"] == stream
    assert got["kinesis:SubscribeToShard"] == consumer


def test_msk_with_and_without_a_secret() -> None:
    """MSK with a SCRAM secret reads the secret; without one, IAM auth needs are listed as uncertain."""
    with_secret = source(
        "kafka", CLUSTER, access=(("SASL_SCRAM_512_AUTH", SECRET),), topics=("orders",)
    )
    needs = service_needs(grant(sources=(with_secret,)))
    assert ("secretsmanager:GetSecretValue", SECRET) in pairs(needs)
    assert not any(a.startswith("kafka-cluster:") for a, _ in pairs(needs))
    iam_auth = source("kafka", CLUSTER, topics=("orders",), consumer_group="g1")
    needs = service_needs(grant(sources=(iam_auth,)))
    cluster = [n for n in needs if n.action.startswith("kafka-cluster:")]
    assert cluster
    assert not any(n.certain for n in cluster)
    got = {(n.action, n.resource) for n in cluster}
    assert (
        "kafka-cluster:ReadData",
        f"arn:aws:kafka:{REGION}:{ACCOUNT}:topic/events/1a2b3c/orders",
    ) in got
    assert (
        "kafka-cluster:AlterGroup",
        f"arn:aws:kafka:{REGION}:{ACCOUNT}:group/events/1a2b3c/g1",
    ) in got
    assert ("kafka:DescribeClusterV2", CLUSTER) in pairs(needs)


def test_self_managed_kafka_mq_docdb_and_on_failure() -> None:
    """Self-managed Kafka in a VPC, Amazon MQ and DocumentDB mappings, with an S3 on-failure target."""
    kafka = source(
        "self-managed-kafka",
        None,
        uuid="k",
        access=(("BASIC_AUTH", SECRET), ("VPC_SUBNET", "subnet:subnet-1")),
        kafka_servers=("b-1.example:9092",),
        on_failure="arn:aws:s3:::kafka-failures",
    )
    mq = source(
        "mq",
        f"arn:aws:mq:{REGION}:{ACCOUNT}:broker:b:b-1234",
        uuid="m",
        access=(("BASIC_AUTH", SECRET),),
    )
    docdb = source(
        "docdb",
        f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:docs",
        uuid="d",
        access=(("BASIC_AUTH", SECRET),),
    )
    needs = service_needs(grant(sources=(kafka, mq, docdb)))
    actions = {a for a, _ in pairs(needs, "event-source")}
    assert {
        "secretsmanager:GetSecretValue",
        "ec2:CreateNetworkInterface",
        "mq:DescribeBroker",
        "rds:DescribeDBClusters",
        "s3:PutObject",
        "s3:ListBucket",
    } <= actions
    assert any("b-1.example:9092" in n.reason for n in needs)


def _resource_fits(action: str, resource: str) -> bool:
    prefix, _, name = action.partition(":")
    service = iam_service(prefix)
    assert service is not None
    found = service.action(name)
    assert found is not None
    if resource == "*":
        return True
    # The resource type's ARN template read as a pattern (each ${Var} a "*") must
    # cover every ARN the need names.
    templates = [
        parse_glob(re.sub(r"\$\{[^}]*\}", "*", service.resource_types[r.key.lower()].arn))
        for r in found.resources
    ]
    return bool(templates) and covers(templates, parse_glob(resource))


def test_every_need_is_a_real_action_on_a_real_resource_type() -> None:
    """Every action emitted exists in the IAM data, and every ARN fits one of its resource types."""
    config = replace(
        BASE,
        vpc_subnets=("subnet-1",),
        tracing_mode="Active",
        dead_letter_target=QUEUE,
        kms_key_arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k",
        file_systems=(f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:access-point/fsap-1",),
    )
    sources = (
        source("sqs", QUEUE, uuid="1", on_failure=f"arn:aws:sns:{REGION}:{ACCOUNT}:t"),
        source("kinesis", f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/s/consumer/c:1", uuid="2"),
        source("dynamodb", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/stream/x", uuid="3"),
        source("kafka", CLUSTER, uuid="4", topics=("a",)),
        source("kafka", CLUSTER, uuid="5", access=(("CLIENT_CERTIFICATE_TLS_AUTH", SECRET),)),
        source(
            "self-managed-kafka",
            None,
            uuid="6",
            access=(("SASL_SCRAM_256_AUTH", SECRET), ("VPC_SUBNET", "subnet:s")),
        ),
        source(
            "mq",
            f"arn:aws:mq:{REGION}:{ACCOUNT}:broker:b:b-1",
            uuid="7",
            access=(("BASIC_AUTH", SECRET),),
        ),
        source(
            "docdb",
            f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:docs",
            uuid="8",
            access=(("BASIC_AUTH", SECRET),),
        ),
    )
    destinations = (
        ("on-success", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"),
        ("on-failure", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/b"),
        ("on-failure", "arn:aws:s3:::bucket"),
    )
    needs = service_needs(grant(config, sources, destinations))
    assert {n.source for n in needs} == {
        "logs",
        "vpc",
        "xray",
        "dead-letter",
        "kms",
        "efs",
        "event-source",
        "destination",
    }
    for n in needs:
        assert action_exists(n.action), n.action
        assert _resource_fits(n.action, n.resource), (n.action, n.resource)
        assert n.reason
    assert len(needs) == len(set(needs))
