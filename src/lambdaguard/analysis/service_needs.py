"""What the Lambda service itself does with a function's execution role, from its configuration.

No hook inside the function sees these calls: Lambda makes them with the
role's credentials, outside the handler. They are part of the function's need
all the same, so a proposal that dropped them would break the function
(logs lost, a queue no longer polled, no network interface in the VPC).

::

    from lambdaguard.analysis.service_needs import service_needs
    for need in service_needs(function_grant):
        need.action, need.resource, need.reason, need.source, need.certain

Each :class:`ServiceNeed` names the action, the resource (an ARN, an ARN
pattern, or ``*`` for actions that support no resource type), a one-sentence
reason a reviewer can check, where it comes from (``logs``,
``event-source``, ``vpc``, ``xray``, ``dead-letter``, ``destination``,
``kms``, ``efs``), and whether the configuration shows Lambda will exercise it
(``certain``) or it depends on something the configuration does not show
(a cluster's authentication mode, a KMS grant Lambda manages itself). The
facts come from the AWS Lambda Developer Guide; the page behind each is cited
where the need is made. Every action emitted exists in the IAM data (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lambdaguard.analysis.grants import EventSource, FunctionConfig, FunctionGrant

__all__ = ["ServiceNeed", "service_needs"]


@dataclass(frozen=True, slots=True)
class ServiceNeed:
    """One permission the Lambda service uses through the role, and why."""

    action: str
    resource: str
    reason: str
    source: str  # logs | event-source | vpc | xray | dead-letter | destination | kms | efs
    certain: bool = True  # False: needed only if something the configuration does not show holds


class _Add(Protocol):
    def __call__(
        self, action: str, resource: str, reason: str, *, certain: bool = True
    ) -> None: ...


# AWSLambdaVPCAccessExecutionRole lists these; the Lambda Developer Guide
# ("Giving Lambda functions access to resources in an Amazon VPC") says Lambda
# uses the function's permissions to create and manage the network interfaces.
_VPC_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)
# What an event source mapping in a VPC needs ("Configuring Lambda execution
# role permissions" for Amazon MSK, self-managed Kafka, Amazon MQ, DocumentDB).
_POLLER_VPC_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
)
# Secret kinds a mapping's SourceAccessConfigurations may name.
_SECRET_TYPES = frozenset(
    {
        "BASIC_AUTH",
        "SASL_SCRAM_256_AUTH",
        "SASL_SCRAM_512_AUTH",
        "CLIENT_CERTIFICATE_TLS_AUTH",
        "SERVER_ROOT_CA_CERTIFICATE",
    }
)


def service_needs(fg: FunctionGrant | FunctionConfig) -> tuple[ServiceNeed, ...]:
    """The permissions Lambda exercises through the function's role, deduplicated, in a stable order.

    Given only a :class:`FunctionConfig`, event sources and destinations are
    taken as none; a :class:`FunctionGrant` whose mappings were not read says
    so in its own warnings.
    """
    if isinstance(fg, FunctionGrant):
        config, sources, destinations = fg.config, fg.event_sources or (), fg.destinations or ()
    else:
        config, sources, destinations = fg, (), ()
    needs: list[ServiceNeed] = []
    needs += _logs(config)
    needs += _vpc(config)
    needs += _xray(config)
    needs += _dead_letter(config)
    needs += _kms(config)
    needs += _efs(config)
    for source in sources:
        needs += _event_source(config, source)
    for kind, arn in destinations:
        needs += _destination(
            arn,
            f"Lambda sends the record of each {_kind(kind)} asynchronous invocation to {arn}",
            "destination",
        )
    return tuple(dict.fromkeys(needs))


def _kind(kind: str) -> str:
    return "successful" if kind == "on-success" else "failed"


def _arn(config: FunctionConfig, service: str, resource: str, *, region: bool = True) -> str:
    where = config.region if region else ""
    return f"arn:{config.partition}:{service}:{where}:{config.account}:{resource}"


def _logs(config: FunctionConfig) -> list[ServiceNeed]:
    # Lambda Developer Guide, "Sending Lambda function logs to CloudWatch Logs":
    # the execution role needs logs:CreateLogGroup, logs:CreateLogStream and
    # logs:PutLogEvents (AWSLambdaBasicExecutionRole); with a custom log group
    # (LoggingConfig.LogGroup) the role needs them on that group instead.
    group = config.log_group
    streams = _arn(config, "logs", f"log-group:{group}:log-stream:*")
    where = (
        "its default log group"
        if group == f"/aws/lambda/{config.name}"
        else "the log group its LoggingConfig names"
    )
    return [
        ServiceNeed(
            "logs:CreateLogGroup",
            _arn(config, "logs", f"log-group:{group}"),
            f"Lambda creates {where} ({group}) the first time the function writes logs, if it does not exist",
            "logs",
        ),
        ServiceNeed(
            "logs:CreateLogStream",
            streams,
            f"Lambda creates a log stream in {group} for each execution environment",
            "logs",
        ),
        ServiceNeed(
            "logs:PutLogEvents",
            streams,
            f"Lambda writes the function's logs to {group}",
            "logs",
        ),
    ]


def _vpc(config: FunctionConfig) -> list[ServiceNeed]:
    if not config.vpc_subnets:
        return []
    subnets = ", ".join(config.vpc_subnets)
    return [
        ServiceNeed(
            action,
            "*",
            f"the function is attached to a VPC (subnets {subnets}): Lambda manages its network "
            "interfaces with the execution role, as AWSLambdaVPCAccessExecutionRole grants",
            "vpc",
        )
        for action in _VPC_ACTIONS
    ]


def _xray(config: FunctionConfig) -> list[ServiceNeed]:
    # Lambda Developer Guide, "Visualize Lambda function invocations using AWS
    # X-Ray": with Active tracing the function needs permission to upload trace
    # data (AWSXRayDaemonWriteAccess: xray:PutTraceSegments, PutTelemetryRecords).
    if config.tracing_mode != "Active":
        return []
    return [
        ServiceNeed(
            action, "*", "active tracing is on: Lambda sends trace segments to X-Ray", "xray"
        )
        for action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
    ]


def _dead_letter(config: FunctionConfig) -> list[ServiceNeed]:
    # Lambda Developer Guide, "Dead-letter queues": the execution role needs
    # sqs:SendMessage on the queue or sns:Publish on the topic.
    if config.dead_letter_target is None:
        return []
    target = config.dead_letter_target
    return _destination(
        target,
        f"Lambda sends events that failed every retry to the dead-letter target {target}",
        "dead-letter",
    )


def _destination(arn: str, reason: str, source: str) -> list[ServiceNeed]:
    # Lambda Developer Guide, "Capturing records of Lambda asynchronous
    # invocations" and the event source mapping pages: the execution role needs
    # permission to send to the destination (SQS, SNS, Lambda, EventBridge, S3).
    parts = arn.split(":")
    service = parts[2] if len(parts) > 2 else ""
    if service == "sqs":
        return [ServiceNeed("sqs:SendMessage", arn, reason, source)]
    if service == "sns":
        return [ServiceNeed("sns:Publish", arn, reason, source)]
    if service == "lambda":
        return [ServiceNeed("lambda:InvokeFunction", arn, reason, source)]
    if service == "events":
        return [ServiceNeed("events:PutEvents", arn, reason, source)]
    if service == "s3":
        return [
            ServiceNeed("s3:PutObject", f"{arn}/*", reason, source),
            ServiceNeed(
                "s3:ListBucket", arn, reason + " (it lists the bucket to name the record)", source
            ),
        ]
    return []


def _kms(config: FunctionConfig) -> list[ServiceNeed]:
    # Lambda decrypts environment variables encrypted with a customer managed
    # key using the execution role at INIT (a KMSAccessDeniedException otherwise);
    # it creates a KMS grant for the role when the function is configured, so the
    # role's own policies need not allow it unless that grant is gone.
    if config.kms_key_arn is None:
        return []
    return [
        ServiceNeed(
            "kms:Decrypt",
            config.kms_key_arn,
            "Lambda decrypts the function's environment variables with this customer managed key, "
            "as the execution role, at each cold start (usually through a KMS grant Lambda creates)",
            "kms",
            certain=False,
        )
    ]


def _efs(config: FunctionConfig) -> list[ServiceNeed]:
    # Lambda Developer Guide, "Configuring file system access": the execution
    # role needs elasticfilesystem:ClientMount, and ClientWrite for read-write.
    if not config.file_systems:
        return []
    file_systems = _arn(config, "elasticfilesystem", "file-system/*")
    points = ", ".join(config.file_systems)
    return [
        ServiceNeed(
            "elasticfilesystem:ClientMount",
            file_systems,
            f"Lambda mounts the file system behind access point(s) {points}",
            "efs",
        ),
        ServiceNeed(
            "elasticfilesystem:ClientWrite",
            file_systems,
            f"Lambda mounts {points} read-write unless the access point is read-only",
            "efs",
            certain=False,
        ),
    ]


def _event_source(config: FunctionConfig, source: EventSource) -> list[ServiceNeed]:
    arn = source.source_arn
    out: list[ServiceNeed] = []
    label = f"event source mapping {source.uuid}"

    def need(action: str, resource: str, reason: str, *, certain: bool = True) -> None:
        out.append(ServiceNeed(action, resource, f"{label}: {reason}", "event-source", certain))

    if source.kind == "sqs" and arn:
        # "Lambda execution role permissions" (with-sqs): ReceiveMessage,
        # DeleteMessage, GetQueueAttributes on the queue.
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
            need(
                action, arn, f"Lambda polls the queue {arn} and deletes what the function processed"
            )
    elif source.kind == "kinesis" and arn:
        # with-kinesis: DescribeStream, DescribeStreamSummary, GetRecords,
        # GetShardIterator, ListShards, SubscribeToShard (enhanced fan-out consumer).
        stream = arn.split("/consumer/")[0]
        for action in (
            "kinesis:DescribeStream",
            "kinesis:DescribeStreamSummary",
            "kinesis:GetRecords",
            "kinesis:GetShardIterator",
            "kinesis:ListShards",
        ):
            need(action, stream, f"Lambda reads the stream {stream}")
        if "/consumer/" in arn:
            need("kinesis:SubscribeToShard", arn, f"Lambda reads through the consumer {arn}")
    elif source.kind == "dynamodb" and arn:
        # with-ddb: DescribeStream, GetRecords, GetShardIterator, ListStreams.
        for action in (
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
        ):
            need(action, arn, f"Lambda reads the table's stream {arn}")
        need("dynamodb:ListStreams", "*", "Lambda lists the table's streams")
    elif source.kind == "kafka" and arn:
        _msk(source, arn, need)
    elif source.kind == "self-managed-kafka":
        servers = ", ".join(source.kafka_servers) or "its brokers"
        _secrets(
            source, need, f"Lambda authenticates to the Kafka cluster ({servers}) with the secret"
        )
        if any(t == "VPC_SUBNET" for t, _ in source.access):
            for action in _POLLER_VPC_ACTIONS:
                need(
                    action,
                    "*",
                    "Lambda reaches the Kafka cluster through network interfaces in its VPC",
                )
    elif source.kind == "mq" and arn:
        # with-mq: mq:DescribeBroker, secretsmanager:GetSecretValue and the VPC actions.
        need("mq:DescribeBroker", arn, f"Lambda looks up the broker {arn}")
        _secrets(source, need, "Lambda logs in to the broker with the secret")
        for action in _POLLER_VPC_ACTIONS:
            need(action, "*", "Lambda reaches the broker through network interfaces in its VPC")
    elif source.kind == "docdb" and arn:
        # with-documentdb: rds:DescribeDBClusters, DescribeDBClusterParameters,
        # DescribeDBSubnetGroups, the VPC actions and the cluster's secret.
        need("rds:DescribeDBClusters", arn, f"Lambda looks up the DocumentDB cluster {arn}")
        need("rds:DescribeDBClusterParameters", "*", "Lambda reads the cluster's parameters")
        need("rds:DescribeDBSubnetGroups", "*", "Lambda reads the cluster's subnet groups")
        _secrets(source, need, "Lambda connects to the change stream with the secret")
        for action in _POLLER_VPC_ACTIONS:
            need(action, "*", "Lambda reaches the cluster through network interfaces in its VPC")
    if source.on_failure:
        out += _destination(
            source.on_failure,
            f"{label}: Lambda sends records of batches that failed to {source.on_failure}",
            "event-source",
        )
    return out


def _secrets(source: EventSource, need: _Add, reason: str) -> None:
    for kind, uri in source.access:
        if kind in _SECRET_TYPES:
            need("secretsmanager:GetSecretValue", uri, f"{reason} {uri} ({kind})")


def _msk(source: EventSource, arn: str, need: _Add) -> None:
    # with-msk-permissions: kafka:DescribeClusterV2 and kafka:GetBootstrapBrokers,
    # the VPC actions, the SASL/SCRAM or mTLS secret; and "If IAM auth is active
    # on your MSK cluster, and you don't provide a secret for auth, Lambda
    # automatically defaults to using IAM auth" (kafka-cluster:* on cluster,
    # topics and group).
    need("kafka:DescribeClusterV2", arn, f"Lambda looks up the MSK cluster {arn}")
    need("kafka:GetBootstrapBrokers", "*", "Lambda asks for the cluster's brokers")
    for action in _POLLER_VPC_ACTIONS:
        need(action, "*", "Lambda reaches the MSK cluster through network interfaces in its VPC")
    _secrets(source, need, "Lambda authenticates to the MSK cluster with the secret")
    if not any(kind in _SECRET_TYPES for kind, _ in source.access):
        # arn:aws:kafka:region:account:cluster/NAME/UUID -> topic/NAME/UUID/T, group/NAME/UUID/G
        tail = arn.split(":cluster/", 1)[1] if ":cluster/" in arn else "*/*"
        base = arn.split(":cluster/", 1)[0]
        why = (
            "Lambda uses IAM access control when no secret is configured (if the cluster has it on)"
        )
        need("kafka-cluster:Connect", arn, why, certain=False)
        need("kafka-cluster:DescribeClusterDynamicConfiguration", arn, why, certain=False)
        for topic in source.topics or ("*",):
            for action in ("kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"):
                need(action, f"{base}:topic/{tail}/{topic}", why, certain=False)
        group = source.consumer_group or "*"
        for action in ("kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"):
            need(action, f"{base}:group/{tail}/{group}", why, certain=False)
