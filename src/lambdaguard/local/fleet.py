"""A moto account whose functions cover every inventory verdict and flag.

:func:`seed_fleet` adds, beside whatever the account already holds, functions
that are active, idle (wired to a quiet queue, topic or bucket), idle-expected
(a yearly schedule outside the window), dead (no trigger, only a disabled
mapping, a queue or bucket that was deleted, only a URL), broken (every
invocation fails), and flagged (a URL without auth, an admin role, a
deprecated runtime, no owner tag, an owner who left). CloudWatch metrics and
log events are written relative to ``now``, so a test that pins ``now`` gets
the same account every run. Used by the inventory's end-to-end tests and by
``make demo``.

Only moto is touched; nothing here runs outside the local stand-ins.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

__all__ = ["Expected", "Fleet", "seed_fleet"]

_TRUST: Final = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@dataclass(frozen=True, slots=True)
class Expected:
    """What the inventory should say of one seeded function."""

    verdict: str
    flags: frozenset[str] = frozenset()
    layer: bool = False


@dataclass(frozen=True, slots=True)
class Fleet:
    """What was seeded: function name -> what the inventory should find."""

    region: str
    account: str
    expected: Mapping[str, Expected] = field(default_factory=dict)
    users: tuple[str, ...] = ()


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return None\n")
    return buf.getvalue()


def seed_fleet(
    server: Any,
    *,
    now: datetime,
    region: str = "us-east-1",
    active: int = 28,
    prefix: str = "fleet-",
) -> Fleet:
    """Create the fleet in moto and return what each function should be judged."""
    iam = server.client("iam", region)
    lam = server.client("lambda", region)
    sqs = server.client("sqs", region)
    s3 = server.client("s3", region)
    sns = server.client("sns", region)
    events = server.client("events", region)
    scheduler = server.client("scheduler", region)
    cw = server.client("cloudwatch", region)
    kinesis = server.client("kinesis", region)
    expected: dict[str, Expected] = {}

    for user in ("alice", "carol"):
        iam.create_user(UserName=user)
    basic = iam.create_role(RoleName=f"{prefix}basic", AssumeRolePolicyDocument=json.dumps(_TRUST))[
        "Role"
    ]["Arn"]
    admin = iam.create_role(RoleName=f"{prefix}admin", AssumeRolePolicyDocument=json.dumps(_TRUST))[
        "Role"
    ]["Arn"]
    iam.put_role_policy(
        RoleName=f"{prefix}admin",
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    layer_arn = lam.publish_layer_version(
        LayerName="lambdaguard-python312-x86_64",
        Content={"ZipFile": _zip()},
        CompatibleRuntimes=["python3.12"],
    )["LayerVersionArn"]
    account = basic.split(":")[4]
    code = _zip()

    def function(
        name: str,
        *,
        role: str = basic,
        runtime: str = "python3.12",
        tags: Mapping[str, str] | None = None,
        layer: bool = False,
    ) -> str:
        kwargs: dict[str, Any] = {}
        if layer:
            kwargs["Layers"] = [layer_arn]
        return str(
            lam.create_function(
                FunctionName=name,
                Runtime=runtime,
                Role=role,
                Handler="app.handler",
                Code={"ZipFile": code},
                Tags=dict({"owner": "alice"} if tags is None else tags),
                **kwargs,
            )["FunctionArn"]
        )

    def invoked(name: str, days_ago: int, count: int = 1, errors: int = 0) -> None:
        when = now - timedelta(days=days_ago)
        data = [
            {
                "MetricName": "Invocations",
                "Dimensions": [{"Name": "FunctionName", "Value": name}],
                "Value": float(count),
                "Timestamp": when,
                "Unit": "Count",
            }
        ]
        if errors:
            data.append({**data[0], "MetricName": "Errors", "Value": float(errors)})
        cw.put_metric_data(Namespace="AWS/Lambda", MetricData=data)

    def queue(name: str) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return str(url), str(arn)

    # -- active, half of them with the lambdaguard layer ------------------------------
    for i in range(active):
        name = f"{prefix}api-{i:02d}"
        function(name, layer=i % 2 == 0)
        invoked(name, days_ago=1 + i % 5, count=10 + i)
        expected[name] = Expected("active", layer=i % 2 == 0)
    # -- active with flags ---------------------------------------------------------------
    name = f"{prefix}admin-worker"
    function(name, role=admin)
    invoked(name, days_ago=1)
    expected[name] = Expected("active", frozenset({"admin-equivalent"}))
    name = f"{prefix}legacy-py38"
    function(name, runtime="python3.8")
    invoked(name, days_ago=3)
    expected[name] = Expected("active", frozenset({"deprecated-runtime"}))
    name = f"{prefix}untagged"
    function(name, tags={})
    invoked(name, days_ago=2)
    expected[name] = Expected("active", frozenset({"no-owner-tag"}))
    name = f"{prefix}left-company"
    function(name, tags={"owner": "bob"})
    invoked(name, days_ago=2)
    expected[name] = Expected("active", frozenset({"owner-gone"}))
    name = f"{prefix}always-failing"
    function(name)
    invoked(name, days_ago=1, count=30, errors=30)
    invoked(name, days_ago=2, count=12, errors=12)
    expected[name] = Expected("active", frozenset({"broken"}))
    name = f"{prefix}monthly-report"
    arn = function(name, layer=True)
    rule = events.put_rule(Name=f"{prefix}monthly", ScheduleExpression="cron(0 3 1 * ? *)")
    events.put_targets(Rule=f"{prefix}monthly", Targets=[{"Id": "fn", "Arn": arn}])
    lam.add_permission(
        FunctionName=name,
        StatementId="monthly",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule["RuleArn"],
    )
    last_first = now.replace(day=1, hour=3, minute=0, second=0, microsecond=0)
    invoked(name, days_ago=(now - last_first).days)
    expected[name] = Expected("active", layer=True)

    # -- idle: wired to producers that exist -------------------------------------------
    name = f"{prefix}queue-consumer"
    function(name)
    _, arn_q = queue(f"{prefix}jobs")
    lam.create_event_source_mapping(EventSourceArn=arn_q, FunctionName=name, Enabled=True)
    invoked(name, days_ago=150)
    expected[name] = Expected("idle")
    name = f"{prefix}stream-consumer"
    function(name)
    kinesis.create_stream(StreamName=f"{prefix}clicks", ShardCount=1)
    stream_arn = kinesis.describe_stream(StreamName=f"{prefix}clicks")["StreamDescription"][
        "StreamARN"
    ]
    lam.create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=name, StartingPosition="LATEST", Enabled=True
    )
    expected[name] = Expected("idle")
    name = f"{prefix}topic-subscriber"
    fn_arn = function(name)
    topic = sns.create_topic(Name=f"{prefix}alerts")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn_arn)
    expected[name] = Expected("idle")
    name = f"{prefix}daily-missed"
    fn_arn = function(name)
    events.put_rule(Name=f"{prefix}daily", ScheduleExpression="cron(0 4 * * ? *)")
    events.put_targets(Rule=f"{prefix}daily", Targets=[{"Id": "fn", "Arn": fn_arn}])
    expected[name] = Expected("idle")
    name = f"{prefix}upload-handler"
    fn_arn = function(name)
    s3.create_bucket(Bucket=f"{prefix}uploads")
    lam.add_permission(
        FunctionName=name,
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn=f"arn:aws:s3:::{prefix}uploads",
    )
    s3.put_bucket_notification_configuration(
        Bucket=f"{prefix}uploads",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": fn_arn, "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    expected[name] = Expected("idle")

    # -- idle-expected: yearly schedules outside the window --------------------------------
    name = f"{prefix}yearly-close"
    fn_arn = function(name, layer=True)
    events.put_rule(Name=f"{prefix}yearly", ScheduleExpression="cron(0 9 1 JAN ? *)")
    events.put_targets(Rule=f"{prefix}yearly", Targets=[{"Id": "fn", "Arn": fn_arn}])
    expected[name] = Expected("idle-expected", layer=True)
    name = f"{prefix}yearly-audit"
    fn_arn = function(name)
    scheduler.create_schedule(
        Name=f"{prefix}audit",
        ScheduleExpression="cron(0 6 15 AUG ? *)",
        ScheduleExpressionTimezone="Europe/Paris",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": fn_arn, "RoleArn": basic},
    )
    expected[name] = Expected("idle-expected")

    # -- dead ----------------------------------------------------------------------------
    name = f"{prefix}no-trigger"
    function(name)
    invoked(name, days_ago=300)
    expected[name] = Expected("dead")
    name = f"{prefix}disabled-mapping"
    function(name)
    _, arn_q = queue(f"{prefix}paused")
    lam.create_event_source_mapping(EventSourceArn=arn_q, FunctionName=name, Enabled=False)
    expected[name] = Expected("dead")
    name = f"{prefix}queue-deleted"
    function(name)
    url, arn_q = queue(f"{prefix}retired")
    lam.create_event_source_mapping(EventSourceArn=arn_q, FunctionName=name, Enabled=True)
    sqs.delete_queue(QueueUrl=url)
    expected[name] = Expected("dead", frozenset({"orphaned-trigger"}))
    name = f"{prefix}bucket-deleted"
    function(name)
    s3.create_bucket(Bucket=f"{prefix}old-exports")
    lam.add_permission(
        FunctionName=name,
        StatementId="s3-old",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn=f"arn:aws:s3:::{prefix}old-exports",
    )
    s3.delete_bucket(Bucket=f"{prefix}old-exports")
    expected[name] = Expected("dead", frozenset({"orphaned-trigger"}))
    name = f"{prefix}public-url"
    function(name)
    lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    expected[name] = Expected("dead", frozenset({"public-url-no-auth"}))
    name = f"{prefix}iam-url"
    function(name, tags={"owner": "carol"})
    lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")
    expected[name] = Expected("dead")
    name = f"{prefix}cross-account"
    function(name)
    lam.add_permission(
        FunctionName=name,
        StatementId="partner",
        Action="lambda:InvokeFunction",
        Principal="111122223333",
    )
    expected[name] = Expected("dead")
    name = f"{prefix}one-time-done"
    fn_arn = function(name)
    scheduler.create_schedule(
        Name=f"{prefix}once",
        ScheduleExpression=f"at({(now - timedelta(days=200)).strftime('%Y-%m-%dT%H:%M:%S')})",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": fn_arn, "RoleArn": basic},
    )
    expected[name] = Expected("dead")
    name = f"{prefix}disabled-rule"
    fn_arn = function(name)
    events.put_rule(Name=f"{prefix}off", ScheduleExpression="rate(1 hour)", State="DISABLED")
    events.put_targets(Rule=f"{prefix}off", Targets=[{"Id": "fn", "Arn": fn_arn}])
    expected[name] = Expected("dead")
    return Fleet(region=region, account=account, expected=expected, users=("alice", "carol"))
