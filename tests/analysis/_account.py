"""A moto account for the grant readers: the sample account plus a role with every kind of grant."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from lambdaguard.local.aws import ACCOUNT_ID, REGION, Account, MotoServer, seed_account

DATA_POLICY_V1 = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}
DATA_POLICY_V2 = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Reports",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": "arn:aws:s3:::lg-demo-reports/*",
        },
        {"Sid": "Audit", "Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"},
    ],
}
BOUNDARY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:*", "sqs:*", "logs:*", "kms:Decrypt"], "Resource": "*"}
    ],
}
# A single Statement object and NotResource, as people write them.
INLINE = {
    "Version": "2012-10-17",
    "Statement": {
        "Effect": "Allow",
        "Action": "sqs:SendMessage",
        "NotResource": "arn:aws:sqs:*:*:admin-*",
    },
}


@dataclass(frozen=True)
class GrantsAccount:
    """What the grant tests need to know about the seeded account."""

    base: Account
    worker_arn: str
    worker_role: str
    key_arn: str
    dlq_arn: str
    topic_arn: str


def _zip() -> bytes:
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return None\n")
    return buf.getvalue()


def seed_grants_account(server: MotoServer) -> GrantsAccount:
    """Seed the sample account, then a VPC worker whose role has managed, inline and boundary policies."""
    base = seed_account(server)
    iam, lam = server.client("iam"), server.client("lambda")
    sqs, sns, kms, ec2 = (server.client(s) for s in ("sqs", "sns", "kms", "ec2"))
    data = iam.create_policy(PolicyName="data-access", PolicyDocument=json.dumps(DATA_POLICY_V1))[
        "Policy"
    ]["Arn"]
    iam.create_policy_version(
        PolicyArn=data, PolicyDocument=json.dumps(DATA_POLICY_V2), SetAsDefault=True
    )
    boundary = iam.create_policy(PolicyName="worker-boundary", PolicyDocument=json.dumps(BOUNDARY))[
        "Policy"
    ]["Arn"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(
        RoleName="vpc-worker-role",
        Path="/service/",
        AssumeRolePolicyDocument=json.dumps(trust),
        PermissionsBoundary=boundary,
    )["Role"]["Arn"]
    iam.attach_role_policy(RoleName="vpc-worker-role", PolicyArn=data)
    iam.attach_role_policy(
        RoleName="vpc-worker-role",
        PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
    )
    iam.put_role_policy(
        RoleName="vpc-worker-role", PolicyName="send", PolicyDocument=json.dumps(INLINE)
    )
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="worker", Description="worker", VpcId=vpc)[
        "GroupId"
    ]
    dlq_url = sqs.create_queue(QueueName="worker-dlq")["QueueUrl"]
    dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic = sns.create_topic(Name="worker-done")["TopicArn"]
    key = kms.create_key()["KeyMetadata"]["Arn"]
    worker = lam.create_function(
        FunctionName="vpc-worker",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": _zip()},
        VpcConfig={"SubnetIds": [subnet], "SecurityGroupIds": [group]},
        TracingConfig={"Mode": "Active"},
        DeadLetterConfig={"TargetArn": dlq},
        KMSKeyArn=key,
        Environment={"Variables": {"STAGE": "test"}},
    )["FunctionArn"]
    lam.put_function_event_invoke_config(
        FunctionName="vpc-worker",
        DestinationConfig={"OnSuccess": {"Destination": topic}, "OnFailure": {"Destination": dlq}},
    )
    return GrantsAccount(base, worker, role, key, dlq, topic)


def _pages(client: Any, operation: str, **kwargs: Any) -> list[dict[str, Any]]:
    return list(client.get_paginator(operation).paginate(**kwargs))


def _merged(pages: list[dict[str, Any]], *fields: str) -> dict[str, Any]:
    """Pages merged as the AWS CLI prints them (it follows the markers itself)."""
    return {f: [item for page in pages for item in page.get(f, ())] for f in fields}


def export_account(server: MotoServer, folder: Path) -> dict[str, Path]:
    """Write the account as the AWS CLI exports it; the file paths by kind."""
    iam, lam = server.client("iam"), server.client("lambda", REGION)
    files = {
        "auth": _merged(
            _pages(iam, "get_account_authorization_details"),
            "UserDetailList",
            "GroupDetailList",
            "RoleDetailList",
            "Policies",
        ),
        "functions": _merged(_pages(lam, "list_functions"), "Functions"),
        "esm": _merged(_pages(lam, "list_event_source_mappings"), "EventSourceMappings"),
        "invoke": [
            _merged(
                _pages(lam, "list_function_event_invoke_configs", FunctionName=f["FunctionName"]),
                "FunctionEventInvokeConfigs",
            )
            for f in _merged(_pages(lam, "list_functions"), "Functions")["Functions"]
        ],
    }
    out = {}
    for kind, doc in files.items():
        path = folder / f"{kind}.json"
        path.write_text(json.dumps(doc, default=str, indent=1))
        out[kind] = path
    return out


__all__ = ["ACCOUNT_ID", "REGION", "GrantsAccount", "export_account", "seed_grants_account"]
