"""AWS without AWS: moto in server mode on loopback, seeded as a small account.

The server speaks the real AWS wire protocols, so functions use plain boto3
with ``AWS_ENDPOINT_URL`` pointing here. :func:`seed_account` creates the
account the sample functions (``examples/functions``) expect:

- one execution role per function, each deliberately over-broad (AWS managed
  full-access policies, an inline ``"Action": "*"``, a ``NotAction`` policy);
- S3 buckets, DynamoDB tables, SQS queues, SNS topics, Secrets Manager
  secrets (one holds a *canary* value that must never leave a function) and
  SSM parameters;
- the Lambda functions themselves with their triggers: an SQS event source
  mapping, an S3 bucket notification, an EventBridge schedule rule and an
  HTTP API (API Gateway v2) — created only; they are invoked through
  :mod:`lambdaguard.local.runtime`, never through moto (which would need Docker).

Public surface: :class:`MotoServer`, :func:`start_moto`, :class:`Account`,
:func:`seed_account`, :data:`FUNCTIONS`.
"""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from lambdaguard.local.runtime import Credentials

__all__ = [
    "FUNCTIONS",
    "Account",
    "FunctionSpec",
    "MotoServer",
    "moto_server",
    "seed_account",
    "start_moto",
]

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"

# Every resource name in one place: the samples read them from their environment.
BUCKET_UPLOADS = "lg-demo-uploads"
BUCKET_THUMBNAILS = "lg-demo-thumbnails"
BUCKET_REPORTS = "lg-demo-reports"
TABLE_ORDERS = "lg-demo-orders"
TABLE_INVENTORY = "lg-demo-inventory"
QUEUE_ORDERS = "lg-demo-order-events"
QUEUE_NOTIFICATIONS = "lg-demo-notifications"
TOPIC_REPORTS = "lg-demo-reports"
SECRET_API_KEY = "lg-demo/payments/api-key"  # noqa: S105 - a name, not a secret
PARAM_REPORT_PREFIX = "/lg-demo/report/recipients"
PARAM_FEATURE_FLAG = "/lg-demo/feature/thumbnails"
SEEDED_UPLOADS = 25  # objects in the uploads bucket (list pages of 10 -> 3 pages)

_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
_MANAGED = "arn:aws:iam::aws:policy/"
_BASIC = f"{_MANAGED}service-role/AWSLambdaBasicExecutionRole"


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A sample function as the account knows it: its role's grants and its trigger."""

    name: str
    handler: str
    source: str  # folder under examples/functions
    trigger: str  # api | sqs | s3 | schedule | direct
    managed_policies: tuple[str, ...] = ()
    inline_policies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    timeout_s: float = 10.0
    memory_mb: int = 256
    packages: tuple[str, ...] = ()  # distributions shipped in the deployment package


# The sample functions and the over-broad roles they run with.
FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        name="orders-api",
        handler="app.handler",
        source="orders_api",
        trigger="api",
        managed_policies=(
            _BASIC,
            f"{_MANAGED}AmazonDynamoDBFullAccess",
            f"{_MANAGED}AmazonSQSFullAccess",
            f"{_MANAGED}SecretsManagerReadWrite",
        ),
    ),
    FunctionSpec(
        name="thumbnailer",
        handler="app.handler",
        source="thumbnailer",
        trigger="s3",
        managed_policies=(_BASIC, f"{_MANAGED}AmazonS3FullAccess"),
        timeout_s=20.0,
        memory_mb=512,
    ),
    FunctionSpec(
        name="nightly-report",
        handler="app.handler",
        source="nightly_report",
        trigger="schedule",
        inline_policies={
            "everything": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        },
        packages=("aws-lambda-powertools", "typing-extensions"),
    ),
    FunctionSpec(
        name="queue-worker",
        handler="app.handler",
        source="queue_worker",
        trigger="sqs",
        managed_policies=(_BASIC,),
        inline_policies={
            "all-but-iam": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}],
            }
        },
    ),
    FunctionSpec(
        name="slow-export",
        handler="app.handler",
        source="slow_export",
        trigger="direct",
        managed_policies=(_BASIC,),
        inline_policies={
            "reports-bucket": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "s3:*",
                        "Resource": [
                            f"arn:aws:s3:::{BUCKET_REPORTS}",
                            f"arn:aws:s3:::{BUCKET_REPORTS}/*",
                        ],
                    }
                ],
            }
        },
        timeout_s=2.0,
    ),
    FunctionSpec(
        name="broken-import",
        handler="app.handler",
        source="broken_import",
        trigger="direct",
        managed_policies=(_BASIC,),
    ),
)


class MotoServer:
    """moto's ThreadedMotoServer on 127.0.0.1 with an ephemeral port."""

    def __init__(self) -> None:
        import logging
        import urllib.request

        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        # AWS managed policies (AmazonS3FullAccess …) are only attachable when
        # moto loads its copy of them; it does not by default.
        default_user_config.setdefault("iam", {})["load_aws_managed_policies"] = True
        # moto delivers S3 notifications to Lambda by running the function in
        # Docker (its server ignores use_docker there). Here the local runtime
        # is the Lambda service and the demo driver delivers S3 events, so
        # moto's delivery is switched off (the server runs in this process).
        import moto.s3.notifications as s3_notifications

        s3_notifications._invoke_awslambda = _skip_lambda_delivery
        # werkzeug logs every request on stderr; the demo's output is the report.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # The key the drivers sign with. moto accepts any key until its IAM
        # enforcement is switched on (lambdaguard.local.enforce); then it must be
        # a key moto issued, so that module puts an administrator's here.
        self.credentials: tuple[str, str] = ("testing", "testing")
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        # moto's backends are process-global: a second server in the same
        # process would see the first one's account. Start empty.
        reset = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(reset, timeout=10):  # noqa: S310 - our loopback server
            pass

    def client(self, service: str, region: str = REGION, **kwargs: Any) -> Any:
        """A boto3 client for this server, signed with :attr:`credentials`."""
        import boto3

        key, secret = self.credentials
        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            **kwargs,
        )

    def stop(self) -> None:
        """Stop the server thread."""
        self._server.stop()


def _skip_lambda_delivery(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
    return None


def start_moto() -> MotoServer:
    """Start a moto server on loopback and return its handle."""
    return MotoServer()


@contextmanager
def moto_server() -> Iterator[MotoServer]:
    """A moto server for the duration of the block."""
    server = start_moto()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True, slots=True)
class Account:
    """What :func:`seed_account` created, for drivers and assertions."""

    endpoint: str
    region: str
    account_id: str
    canary: str
    roles: Mapping[str, str]  # function name -> role ARN
    credentials: Mapping[str, Credentials]  # function name -> the role's session
    functions: Mapping[str, str]  # function name -> function ARN
    queues: Mapping[str, str]  # queue name -> queue URL
    topics: Mapping[str, str]  # topic name -> topic ARN
    secrets: Mapping[str, str]  # secret name -> secret ARN
    api_id: str | None

    def function_environment(self, name: str) -> dict[str, str]:
        """The environment variables a sample function is configured with."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "UPLOADS_BUCKET": BUCKET_UPLOADS,
            "THUMBNAILS_BUCKET": BUCKET_THUMBNAILS,
            "REPORTS_BUCKET": BUCKET_REPORTS,
            "ORDERS_TABLE": TABLE_ORDERS,
            "INVENTORY_TABLE": TABLE_INVENTORY,
            "ORDER_EVENTS_QUEUE_URL": self.queues[QUEUE_ORDERS],
            "NOTIFICATIONS_QUEUE_URL": self.queues[QUEUE_NOTIFICATIONS],
            "REPORTS_TOPIC_ARN": self.topics[TOPIC_REPORTS],
            "API_KEY_SECRET_ID": SECRET_API_KEY,
            "REPORT_RECIPIENTS_PARAM": PARAM_REPORT_PREFIX,
            "FEATURE_FLAG_PARAM": PARAM_FEATURE_FLAG,
            "POWERTOOLS_SERVICE_NAME": name,
        }


def _zip_stub() -> bytes:
    # moto stores the code but never runs it here; a minimal valid zip will do.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return None\n")
    return buf.getvalue()


def seed_account(
    server: MotoServer,
    functions: tuple[FunctionSpec, ...] = FUNCTIONS,
    *,
    region: str = REGION,
) -> Account:
    """Create the sample account in moto and return what was created."""
    iam = server.client("iam")
    sts = server.client("sts")
    s3 = server.client("s3", region)
    ddb = server.client("dynamodb", region)
    sqs = server.client("sqs", region)
    sns = server.client("sns", region)
    sm = server.client("secretsmanager", region)
    ssm = server.client("ssm", region)
    lam = server.client("lambda", region)

    for bucket in (BUCKET_UPLOADS, BUCKET_THUMBNAILS, BUCKET_REPORTS):
        s3.create_bucket(Bucket=bucket)
    for i in range(SEEDED_UPLOADS):
        s3.put_object(
            Bucket=BUCKET_UPLOADS, Key=f"incoming/photo-{i:03d}.jpg", Body=b"\xff\xd8" * 64
        )

    for table, key in ((TABLE_ORDERS, "order_id"), (TABLE_INVENTORY, "sku")):
        ddb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    for sku in ("sku-1", "sku-2", "sku-3"):
        ddb.put_item(TableName=TABLE_INVENTORY, Item={"sku": {"S": sku}, "stock": {"N": "100"}})

    queues = {
        name: sqs.create_queue(QueueName=name)["QueueUrl"]
        for name in (QUEUE_ORDERS, QUEUE_NOTIFICATIONS)
    }
    topics = {TOPIC_REPORTS: sns.create_topic(Name=TOPIC_REPORTS)["TopicArn"]}

    canary = f"lg-canary-{secrets.token_hex(12)}"
    secret_arns = {
        SECRET_API_KEY: sm.create_secret(
            Name=SECRET_API_KEY, SecretString=json.dumps({"api_key": canary})
        )["ARN"]
    }
    ssm.put_parameter(
        Name=PARAM_REPORT_PREFIX, Value="ops@example.com,finance@example.com", Type="StringList"
    )
    ssm.put_parameter(Name=PARAM_FEATURE_FLAG, Value="on", Type="String")

    roles: dict[str, str] = {}
    creds: dict[str, Credentials] = {}
    arns: dict[str, str] = {}
    for spec in functions:
        role_name = f"{spec.name}-role"
        role_arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(_TRUST))[
            "Role"
        ]["Arn"]
        for policy_arn in spec.managed_policies:
            iam.attach_role_policy(RoleName=role_name, PolicyArn=policy_arn)
        for policy_name, doc in spec.inline_policies.items():
            iam.put_role_policy(
                RoleName=role_name, PolicyName=policy_name, PolicyDocument=json.dumps(doc)
            )
        roles[spec.name] = role_arn
        # Lambda hands the function the role's temporary credentials (ASIA… + token).
        session = sts.assume_role(RoleArn=role_arn, RoleSessionName=spec.name)["Credentials"]
        creds[spec.name] = Credentials(
            session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"]
        )
        arns[spec.name] = lam.create_function(
            FunctionName=spec.name,
            Runtime="python3.11",
            Role=role_arn,
            Handler=spec.handler,
            Code={"ZipFile": _zip_stub()},
            Timeout=max(1, int(spec.timeout_s)),
            MemorySize=spec.memory_mb,
        )["FunctionArn"]

    api_id = _wire_triggers(server, functions, arns, queues, region)
    return Account(
        endpoint=server.endpoint,
        region=region,
        account_id=ACCOUNT_ID,
        canary=canary,
        roles=roles,
        credentials=creds,
        functions=arns,
        queues=queues,
        topics=topics,
        secrets=secret_arns,
        api_id=api_id,
    )


def _wire_triggers(
    server: MotoServer,
    functions: tuple[FunctionSpec, ...],
    arns: Mapping[str, str],
    queues: Mapping[str, str],
    region: str,
) -> str | None:
    lam = server.client("lambda", region)
    sqs = server.client("sqs", region)
    s3 = server.client("s3", region)
    events = server.client("events", region)
    api_id: str | None = None
    for spec in functions:
        arn = arns[spec.name]
        if spec.trigger == "sqs":
            queue_arn = sqs.get_queue_attributes(
                QueueUrl=queues[QUEUE_ORDERS], AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            # Created disabled: an enabled mapping makes moto consume (and delete)
            # the messages itself on send; the demo's poller plays the mapping.
            lam.create_event_source_mapping(
                EventSourceArn=queue_arn, FunctionName=spec.name, BatchSize=10, Enabled=False
            )
        elif spec.trigger == "s3":
            lam.add_permission(
                FunctionName=spec.name,
                StatementId="s3-uploads",
                Action="lambda:InvokeFunction",
                Principal="s3.amazonaws.com",
                SourceArn=f"arn:aws:s3:::{BUCKET_UPLOADS}",
            )
            s3.put_bucket_notification_configuration(
                Bucket=BUCKET_UPLOADS,
                NotificationConfiguration={
                    "LambdaFunctionConfigurations": [
                        {
                            "LambdaFunctionArn": arn,
                            "Events": ["s3:ObjectCreated:*"],
                            "Filter": {
                                "Key": {"FilterRules": [{"Name": "prefix", "Value": "new/"}]}
                            },
                        }
                    ]
                },
            )
        elif spec.trigger == "schedule":
            rule_arn = events.put_rule(
                Name=f"{spec.name}-schedule", ScheduleExpression="cron(0 2 * * ? *)"
            )["RuleArn"]
            events.put_targets(Rule=f"{spec.name}-schedule", Targets=[{"Id": "fn", "Arn": arn}])
            lam.add_permission(
                FunctionName=spec.name,
                StatementId="events-schedule",
                Action="lambda:InvokeFunction",
                Principal="events.amazonaws.com",
                SourceArn=rule_arn,
            )
        elif spec.trigger == "api":
            apigw = server.client("apigatewayv2", region)
            api_id = apigw.create_api(Name=f"{spec.name}-http", ProtocolType="HTTP", Target=arn)[
                "ApiId"
            ]
            lam.add_permission(
                FunctionName=spec.name,
                StatementId="apigw-http",
                Action="lambda:InvokeFunction",
                Principal="apigateway.amazonaws.com",
                SourceArn=f"arn:aws:execute-api:{region}:{ACCOUNT_ID}:{api_id}/*/*",
            )
    return api_id
