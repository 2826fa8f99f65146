"""Known hard cases: the permissions a call needs beyond its own action, each resting on AWS's words.

Every case carries the AWS documentation sentence it rests on (``quote``) and
where it is written (``source``): ``botocore:SERVICE:OPERATION`` for AWS's API
reference as botocore ships it (the test checks the sentence is there, word for
word), or the URL of an AWS guide page (checked by hand when the case was
written). A case lists authorizations that must be in the answer
(``expect``: action, resource, confidence) and actions that must not be
(``absent``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest

from lambdaguard.errors import IamDataError
from lambdaguard.iam import Confidence, authorizations
from lambdaguard.iam._models import _model

from .conftest import ACCOUNT, REGION

A, R = ACCOUNT, REGION
E, T, W, D = Confidence.EXACT, Confidence.TEMPLATE, Confidence.WILDCARD, Confidence.DEPENDENT
ROLE = f"arn:aws:iam::{A}:role/app"
KEY = f"arn:aws:kms:{R}:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OUTPOST = f"arn:aws:s3-outposts:{R}:{A}:outpost/op-01ac5d28a6a232904"

SAR_DEPENDENT = (
    "There are also some operations that require multiple actions in a policy. "
    "These additional actions are called dependent actions."
)
SAR_URL = "https://docs.aws.amazon.com/transcribe/latest/dg/security_iam_service-with-iam.html"
ATHENA_URL = "https://docs.aws.amazon.com/athena/latest/ug/s3-permissions.html"
SQS_URL = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html"


@dataclass(frozen=True)
class Case:
    """One hard case."""

    id: str
    service: str
    operation: str
    params: dict[str, Any]
    quote: str
    source: str
    expect: tuple[tuple[str, str, Confidence], ...] = ()
    absent: tuple[str, ...] = ()
    response: dict[str, Any] = field(default_factory=dict)
    raises: str | None = None


def bc(service: str, operation: str) -> str:
    """The source of a sentence of botocore's copy of the API reference."""
    return f"botocore:{service}:{operation}"


CASES: list[Case] = [
    # -- iam:PassRole, wherever the role sits ---------------------------------------
    Case(
        "passrole-iam-instance-profile",
        "iam",
        "AddRoleToInstanceProfile",
        {"RoleName": "app", "InstanceProfileName": "web"},
        "The caller of this operation must be granted the PassRole permission on the IAM role by a permissions policy.",
        bc("iam", "AddRoleToInstanceProfile"),
        expect=(("iam:PassRole", f"arn:aws:iam::{A}:role/*app", T),),
    ),
    Case(
        "passrole-events-targets",
        "events",
        "PutTargets",
        {
            "Rule": "nightly",
            "Targets": [{"Id": "1", "Arn": f"arn:aws:ecs:{R}:{A}:cluster/c", "RoleArn": ROLE}],
        },
        "For EC2 instances, Kinesis Data Streams, Step Functions state machines and API Gateway APIs, EventBridge relies on IAM roles that you specify in the RoleARN argument in PutTargets .",
        bc("events", "PutTargets"),
        expect=(("iam:PassRole", ROLE, E),),
    ),
    Case(
        "passrole-ecs-gateway",
        "ecs",
        "CreateGateway",
        {"name": "gw", "infrastructureRoleArn": ROLE},
        "To use this operation, you must have the iam:PassRole permission for the infrastructure role that you specify in infrastructureRoleArn .",
        bc("ecs", "CreateGateway"),
        expect=(("iam:PassRole", ROLE, E),),
    ),
    Case(
        "passrole-ecs-gateway-update",
        "ecs",
        "UpdateGateway",
        {"gateway": "gw", "infrastructureRoleArn": ROLE},
        "If you specify infrastructureRoleArn , you must have the iam:PassRole permission for that role.",
        bc("ecs", "UpdateGateway"),
        expect=(("iam:PassRole", ROLE, E),),
    ),
    Case(
        "passrole-logs-destination",
        "logs",
        "PutDestination",
        {"destinationName": "d", "targetArn": f"arn:aws:kinesis:{R}:{A}:stream/s", "roleArn": ROLE},
        "To perform a PutDestination operation, you must also have the iam:PassRole permission.",
        bc("logs", "PutDestination"),
        expect=(("iam:PassRole", ROLE, E),),
    ),
    Case(
        "passrole-logs-subscription",
        "logs",
        "PutSubscriptionFilter",
        {
            "logGroupName": "/aws/lambda/f",
            "filterName": "all",
            "filterPattern": "",
            "destinationArn": f"arn:aws:kinesis:{R}:{A}:stream/s",
            "roleArn": ROLE,
        },
        "To perform a PutSubscriptionFilter operation for any destination except a Lambda function, you must also have the iam:PassRole permission.",
        bc("logs", "PutSubscriptionFilter"),
        expect=(("iam:PassRole", ROLE, E),),
    ),
    Case(
        "passrole-s3-replication-nested",
        "s3",
        "PutBucketReplication",
        {"Bucket": "src", "ReplicationConfiguration": {"Role": ROLE, "Rules": []}},
        "To perform this operation, the user or role performing the action must have the iam:PassRole permission.",
        bc("s3", "PutBucketReplication"),
        expect=(
            ("iam:PassRole", ROLE, E),
            ("s3:PutReplicationConfiguration", "arn:aws:s3:::src", E),
        ),
    ),
    Case(
        "passrole-kinesis-channel",
        "kinesis",
        "CreateChannel",
        {"ChannelName": "c", "RoleArn": ROLE},
        "To use this operation, you must have permission to pass the specified service execution IAM role to Amazon Kinesis Data Streams (the iam:PassRole permission on that role).",
        bc("kinesis", "CreateChannel"),
        expect=(("iam:PassRole", ROLE, E),),
    ),
    Case(
        "passrole-datasync-manifest",
        "datasync",
        "StartTaskExecution",
        {
            "TaskArn": f"arn:aws:datasync:{R}:{A}:task/task-0123456789abcdef0",
            "ManifestConfig": {
                "Source": {"S3": {"BucketAccessRoleArn": ROLE, "S3BucketArn": "arn:aws:s3:::m"}}
            },
        },
        "When using this parameter, your caller identity (the role that you're using DataSync with) must have the iam:PassRole permission.",
        bc("datasync", "StartTaskExecution"),
        expect=(("iam:PassRole", ROLE, E),),
    ),
    Case(
        "passrole-bedrock-customization",
        "bedrock",
        "CreateModelCustomizationJob",
        {
            "jobName": "j",
            "customModelName": "m",
            "roleArn": ROLE,
            "baseModelIdentifier": "amazon.titan-text-lite-v1",
        },
        "To pass this role to Amazon Bedrock, the caller of this API must have the iam:PassRole permission.",
        bc("bedrock", "CreateModelCustomizationJob"),
        expect=(("iam:PassRole", ROLE, E),),
    ),
    Case(
        "passrole-scheduler-target",
        "scheduler",
        "CreateSchedule",
        {"Name": "n", "Target": {"Arn": f"arn:aws:lambda:{R}:{A}:function:f", "RoleArn": ROLE}},
        SAR_DEPENDENT,
        SAR_URL,
        expect=(("iam:PassRole", ROLE, E),),
    ),
    Case(
        "passrole-ecs-overrides",
        "ecs",
        "RunTask",
        {"taskDefinition": "app:3", "overrides": {"taskRoleArn": ROLE}},
        SAR_DEPENDENT,
        SAR_URL,
        expect=(("iam:PassRole", ROLE, E), ("iam:PassRole", "*", D)),
    ),
    Case(
        "passrole-ecs-task-definition-roles",
        "ecs",
        "RunTask",
        {"taskDefinition": "app:3"},
        SAR_DEPENDENT,
        SAR_URL,
        expect=(
            ("iam:PassRole", "*", D),
            ("ecs:RunTask", f"arn:aws:ecs:{R}:{A}:task-definition/app:3", E),
        ),
    ),
    Case(
        "passrole-sns-attributes",
        "sns",
        "CreateTopic",
        {"Name": "t", "Attributes": {"LambdaSuccessFeedbackRoleArn": ROLE}},
        SAR_DEPENDENT,
        SAR_URL,
        expect=(("iam:PassRole", ROLE, E),),
    ),
    Case(
        "passrole-not-for-sns-without-role",
        "sns",
        "CreateTopic",
        {"Name": "t"},
        SAR_DEPENDENT,
        SAR_URL,
        expect=(("sns:CreateTopic", f"arn:aws:sns:{R}:{A}:t", E),),
        absent=("iam:PassRole",),
    ),
    Case(
        "passrole-lambda-role",
        "lambda",
        "CreateFunction",
        {"FunctionName": "f", "Role": ROLE},
        SAR_DEPENDENT,
        SAR_URL,
        expect=(("iam:PassRole", ROLE, E),),
        absent=("lambda:PassCapacityProvider",),
    ),
    Case(
        "passrole-stepfunctions",
        "stepfunctions",
        "CreateStateMachine",
        {"name": "sm", "roleArn": ROLE, "publish": True},
        SAR_DEPENDENT,
        SAR_URL,
        expect=(
            ("iam:PassRole", ROLE, E),
            ("states:PublishStateMachineVersion", f"arn:aws:states:{R}:{A}:stateMachine:sm", E),
        ),
    ),
    Case(
        "no-passrole-for-grant-principal",
        "kms",
        "CreateGrant",
        {
            "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
            "GranteePrincipal": ROLE,
            "Operations": ["Decrypt"],
        },
        SAR_DEPENDENT,
        SAR_URL,
        absent=("iam:PassRole",),
    ),
    Case(
        "no-passrole-for-reads",
        "events",
        "ListTargetsByRule",
        {"Rule": "r"},
        SAR_DEPENDENT,
        SAR_URL,
        absent=("iam:PassRole",),
    ),
    Case(
        "no-passrole-for-assume",
        "sts",
        "AssumeRole",
        {"RoleArn": ROLE, "RoleSessionName": "s"},
        SAR_DEPENDENT,
        SAR_URL,
        expect=(("sts:AssumeRole", ROLE, E),),
        absent=("iam:PassRole",),
    ),
    # -- tags at creation --------------------------------------------------------------
    Case(
        "tags-sns-topic",
        "sns",
        "CreateTopic",
        {"Name": "t", "Tags": "*"},
        "To be able to tag a topic on creation, you must have the sns:CreateTopic and sns:TagResource permissions.",
        bc("sns", "CreateTopic"),
        expect=(("sns:TagResource", f"arn:aws:sns:{R}:{A}:t", E),),
    ),
    Case(
        "tags-sqs-queue",
        "sqs",
        "CreateQueue",
        {"QueueName": "q", "tags": "*"},
        "To be able to tag a queue on creation, you must have the sqs:CreateQueue and sqs:TagQueue permissions.",
        bc("sqs", "CreateQueue"),
        expect=(("sqs:TagQueue", f"arn:aws:sqs:{R}:{A}:q", E),),
    ),
    Case(
        "tags-events-rule",
        "events",
        "PutRule",
        {"Name": "r", "Tags": "*"},
        "To use the PutRule operation and assign tags, you must have both the events:PutRule and events:TagResource permissions.",
        bc("events", "PutRule"),
        expect=(("events:TagResource", f"arn:aws:events:{R}:{A}:rule/r", E),),
    ),
    Case(
        "tags-secret",
        "secretsmanager",
        "CreateSecret",
        {"Name": "db", "Tags": "*"},
        "If you include tags in the secret, you also need secretsmanager:TagResource .",
        bc("secretsmanager", "CreateSecret"),
        expect=(
            ("secretsmanager:TagResource", f"arn:aws:secretsmanager:{R}:{A}:secret:db-??????", T),
        ),
    ),
    Case(
        "tags-kms-key",
        "kms",
        "CreateKey",
        {"Tags": "*"},
        "To use this parameter, you must have kms:TagResource permission in an IAM policy.",
        bc("kms", "CreateKey"),
        expect=(("kms:TagResource", "*", W),),
    ),
    Case(
        "tags-log-group",
        "logs",
        "CreateLogGroup",
        {"logGroupName": "/app", "tags": "*"},
        "To assign tags when you create a log group, you must have either the logs:TagResource or logs:TagLogGroup permission.",
        bc("logs", "CreateLogGroup"),
        expect=(("logs:TagResource", f"arn:aws:logs:{R}:{A}:log-group:/app", E),),
    ),
    Case(
        "tags-kinesis-stream",
        "kinesis",
        "CreateStream",
        {"StreamName": "s", "Tags": "*"},
        "If you pass the Tags parameter, in addition to having the kinesis:CreateStream permission, you must also have the kinesis:AddTagsToStream permission for the stream that will be created.",
        bc("kinesis", "CreateStream"),
        expect=(("kinesis:AddTagsToStream", f"arn:aws:kinesis:{R}:{A}:stream/s", E),),
        absent=("kinesis:TagResource",),
    ),
    Case(
        "tags-kinesis-consumer",
        "kinesis",
        "RegisterStreamConsumer",
        {"StreamARN": f"arn:aws:kinesis:{R}:{A}:stream/s", "ConsumerName": "c", "Tags": "*"},
        "If you pass the Tags parameter, in addition to having the kinesis:RegisterStreamConsumer permission, you must also have the kinesis:TagResource permission for the consumer that will be registered.",
        bc("kinesis", "RegisterStreamConsumer"),
        expect=(),
        absent=("kinesis:AddTagsToStream",),
    ),
    Case(
        "tags-s3-bucket-nested",
        "s3",
        "CreateBucket",
        {"Bucket": "b", "CreateBucketConfiguration": {"Tags": "*"}},
        "You must have the s3:TagResource permission to create a general purpose bucket with tags or the s3express:TagResource permission to create a directory bucket with tags.",
        bc("s3", "CreateBucket"),
        expect=(("s3:TagResource", "arn:aws:s3:::b", E),),
    ),
    Case(
        "tags-storage-lens-group",
        "s3control",
        "CreateStorageLensGroup",
        {"AccountId": A, "StorageLensGroup": {"Name": "g"}, "Tags": "*"},
        "If you’re trying to create a Storage Lens group with Amazon Web Services resource tags, you must also have permission to perform the s3:TagResource action.",  # noqa: RUF001 - AWS's own apostrophe
        bc("s3control", "CreateStorageLensGroup"),
        expect=(("s3:TagResource", "*", W),),
    ),
    Case(
        "tags-ec2-tag-specifications",
        "ec2",
        "RunInstances",
        {"TagSpecifications": [{"ResourceType": "instance"}, {"ResourceType": "volume"}]},
        SAR_DEPENDENT,
        SAR_URL,
        expect=(
            ("ec2:CreateTags", f"arn:aws:ec2:{R}:{A}:instance/*", T),
            ("ec2:CreateTags", f"arn:aws:ec2:{R}:{A}:volume/*", T),
        ),
    ),
    Case(
        "no-tags-no-tagging",
        "sqs",
        "CreateQueue",
        {"QueueName": "q"},
        "To be able to tag a queue on creation, you must have the sqs:CreateQueue and sqs:TagQueue permissions.",
        bc("sqs", "CreateQueue"),
        absent=("sqs:TagQueue",),
    ),
    Case(
        "message-tags-are-not-resource-tags",
        "ses",
        "SendEmail",
        {"Source": "a@example.com", "Tags": "*"},
        "The email address that is sending the email.",
        bc("ses", "SendEmail"),
        absent=("ses:TagResource",),
    ),
    Case(
        "tags-dynamodb-table",
        "dynamodb",
        "CreateTable",
        {"TableName": "t", "Tags": "*"},
        SAR_DEPENDENT,
        SAR_URL,
        expect=(("dynamodb:TagResource", f"arn:aws:dynamodb:{R}:{A}:table/t", E),),
    ),
    Case(
        "tags-ecs-run-task",
        "ecs",
        "RunTask",
        {"cluster": "prod", "taskDefinition": "app:3", "tags": "*"},
        SAR_DEPENDENT,
        SAR_URL,
        expect=(("ecs:TagResource", f"arn:aws:ecs:{R}:{A}:task/prod/*", T),),
    ),
    Case(
        "s3-put-tagging",
        "s3",
        "PutObject",
        {"Bucket": "b", "Key": "up/", "Tagging": "*"},
        SAR_DEPENDENT,
        SAR_URL,
        expect=(("s3:PutObjectTagging", "arn:aws:s3:::b/up/*", T),),
    ),
    # -- reads and writes on the caller's behalf ------------------------------------------
    Case(
        "fas-textract-document",
        "textract",
        "AnalyzeDocument",
        {"Document": {"S3Object": {"Bucket": "docs", "Name": "in/"}}},
        "For Amazon Textract to process an S3 object, the user must have permission to access the S3 object.",
        bc("textract", "AnalyzeExpense"),
        expect=(("s3:GetObject", "arn:aws:s3:::docs/in/*", T),),
    ),
    Case(
        "fas-textract-async",
        "textract",
        "StartDocumentTextDetection",
        {"DocumentLocation": {"S3Object": {"Bucket": "docs", "Name": "scan.pdf"}}},
        "For Amazon Textract to process an S3 object, the user must have permission to access the S3 object.",
        bc("textract", "AnalyzeExpense"),
        expect=(("s3:GetObject", "arn:aws:s3:::docs/scan.pdf", E),),
    ),
    Case(
        "fas-textract-expense",
        "textract",
        "AnalyzeExpense",
        {"Document": {"S3Object": {"Bucket": "docs", "Name": "r/"}}},
        "For Amazon Textract to process an S3 object, the user must have permission to access the S3 object.",
        bc("textract", "AnalyzeExpense"),
        expect=(("s3:GetObject", "arn:aws:s3:::docs/r/*", T),),
    ),
    Case(
        "fas-rekognition-image",
        "rekognition",
        "DetectLabels",
        {"Image": {"S3Object": {"Bucket": "pics", "Name": "cats/"}}},
        "For Amazon Rekognition to process an S3 object, the user must have permission to access the S3 object.",
        bc("rekognition", "DetectCustomLabels"),
        expect=(("s3:GetObject", "arn:aws:s3:::pics/cats/*", T),),
    ),
    Case(
        "fas-rekognition-version",
        "rekognition",
        "DetectText",
        {"Image": {"S3Object": {"Bucket": "pics", "Name": "a.png", "Version": "v1"}}},
        "If the bucket is versioning enabled, you can specify the object version.",
        bc("rekognition", "DetectText"),
        expect=(("s3:GetObjectVersion", "arn:aws:s3:::pics/a.png", E),),
    ),
    Case(
        "fas-rekognition-compare",
        "rekognition",
        "CompareFaces",
        {
            "SourceImage": {"S3Object": {"Bucket": "a", "Name": "x/"}},
            "TargetImage": {"S3Object": {"Bucket": "b", "Name": "y/"}},
        },
        "For Amazon Rekognition to process an S3 object, the user must have permission to access the S3 object.",
        bc("rekognition", "DetectCustomLabels"),
        expect=(
            ("s3:GetObject", "arn:aws:s3:::a/x/*", T),
            ("s3:GetObject", "arn:aws:s3:::b/y/*", T),
        ),
    ),
    Case(
        "fas-rekognition-video",
        "rekognition",
        "StartLabelDetection",
        {"Video": {"S3Object": {"Bucket": "vids", "Name": "in/"}}},
        "For Amazon Rekognition to process an S3 object, the user must have permission to access the S3 object.",
        bc("rekognition", "DetectCustomLabels"),
        expect=(("s3:GetObject", "arn:aws:s3:::vids/in/*", T),),
    ),
    Case(
        "fas-rekognition-output",
        "rekognition",
        "CreateFaceLivenessSession",
        {"Settings": {"OutputConfig": {"S3Bucket": "audit", "S3KeyPrefix": "live/"}}},
        "Requires that the caller has the s3:PutObject permission on the Amazon S3 bucket.",
        bc("rekognition", "CreateFaceLivenessSession"),
        expect=(("s3:PutObject", "arn:aws:s3:::audit/live/*", T),),
    ),
    Case(
        "fas-rekognition-training-output",
        "rekognition",
        "CreateProjectVersion",
        {
            "ProjectArn": f"arn:aws:rekognition:{R}:{A}:project/p/1",
            "VersionName": "v",
            "OutputConfig": {"S3Bucket": "models"},
        },
        "You need s3:PutObject permission on the bucket.",
        bc("rekognition", "CreateProjectVersion"),
        expect=(("s3:PutObject", "arn:aws:s3:::models/*", T),),
    ),
    Case(
        "fas-athena-results",
        "athena",
        "StartQueryExecution",
        {"ResultConfiguration": {"OutputLocation": "s3://results/q/"}, "WorkGroup": "primary"},
        "When actors interact with Athena, their permissions pass through Athena to determine what Athena can access.",
        ATHENA_URL,
        expect=(
            ("s3:PutObject", "arn:aws:s3:::results/q/*", T),
            ("s3:GetBucketLocation", "arn:aws:s3:::results", E),
        ),
    ),
    Case(
        "fas-athena-workgroup-location",
        "athena",
        "StartQueryExecution",
        {"WorkGroup": "analytics"},
        "When actors interact with Athena, their permissions pass through Athena to determine what Athena can access.",
        ATHENA_URL,
        expect=(("s3:PutObject", "*", D),),
    ),
    Case(
        "fas-data-api-secret",
        "rds-data",
        "ExecuteStatement",
        {
            "resourceArn": f"arn:aws:rds:{R}:{A}:cluster:db",
            "secretArn": f"arn:aws:secretsmanager:{R}:{A}:secret:db-AbCdEf",
        },
        SAR_DEPENDENT,
        SAR_URL,
        expect=(
            (
                "secretsmanager:GetSecretValue",
                f"arn:aws:secretsmanager:{R}:{A}:secret:db-AbCdEf",
                E,
            ),
        ),
    ),
    # -- KMS on the caller's behalf ------------------------------------------------------------
    Case(
        "kms-copy-source-unknown",
        "s3",
        "CopyObject",
        {"Bucket": "dst", "Key": "out/", "CopySource": "src/in/"},
        "If the object is encrypted with SSE-KMS, you must also have the kms:GenerateDataKey and kms:Decrypt permissions in IAM identity-based policies and KMS key policies for the KMS key.",
        bc("s3", "CopyObject"),
        expect=(("kms:Decrypt", "*", D),),
    ),
    Case(
        "kms-copy-source-evidence",
        "s3",
        "CopyObject",
        {"Bucket": "dst", "Key": "out/", "CopySource": "src/in/"},
        "If the object is encrypted with SSE-KMS, you must also have the kms:GenerateDataKey and kms:Decrypt permissions in IAM identity-based policies and KMS key policies for the KMS key.",
        bc("s3", "CopyObject"),
        response={"SourceSSEKMSKeyId": KEY, "SSEKMSKeyId": KEY},
        expect=(("kms:Decrypt", KEY, E), ("kms:GenerateDataKey", KEY, E)),
    ),
    Case(
        "kms-multipart",
        "s3",
        "CreateMultipartUpload",
        {"Bucket": "b", "Key": "big/"},
        "To perform a multipart upload with encryption by using an Amazon Web Services KMS key, the requester must have permission to the kms:Decrypt and kms:GenerateDataKey* actions on the key.",
        bc("s3", "CreateMultipartUpload"),
        response={"SSEKMSKeyId": KEY},
        expect=(("kms:Decrypt", KEY, E), ("kms:GenerateDataKey", KEY, E)),
    ),
    Case(
        "kms-upload-part",
        "s3",
        "UploadPart",
        {"Bucket": "b", "Key": "big/"},
        "Then, the requester needs permissions for the kms:Decrypt action on the UploadPart and UploadPartCopy APIs.",
        bc("s3", "UploadPart"),
        response={"SSEKMSKeyId": KEY},
        expect=(("kms:Decrypt", KEY, E),),
    ),
    Case(
        "kms-secret-cmk",
        "secretsmanager",
        "GetSecretValue",
        {"SecretId": "db"},
        "If the secret is encrypted using a customer-managed key instead of the Amazon Web Services managed key aws/secretsmanager , then you also need kms:Decrypt permissions for that key.",
        bc("secretsmanager", "GetSecretValue"),
        expect=(("kms:Decrypt", "*", D),),
    ),
    Case(
        "kms-secret-cmk-evidence",
        "secretsmanager",
        "GetSecretValue",
        {"SecretId": "db"},
        "If the secret is encrypted using a customer-managed key instead of the Amazon Web Services managed key aws/secretsmanager , then you also need kms:Decrypt permissions for that key.",
        bc("secretsmanager", "GetSecretValue"),
        response={"KmsKeyId": KEY},
        expect=(("kms:Decrypt", KEY, E),),
    ),
    Case(
        "kms-batch-secrets",
        "secretsmanager",
        "BatchGetSecretValue",
        {"SecretIdList": ["a", "b"]},
        "If the secrets are encrypted using customer-managed keys instead of the Amazon Web Services managed key aws/secretsmanager , then you also need kms:Decrypt permissions for the keys.",
        bc("secretsmanager", "BatchGetSecretValue"),
        expect=(("kms:Decrypt", "*", D),),
    ),
    Case(
        "kms-sqs-send",
        "sqs",
        "SendMessage",
        {"QueueUrl": f"https://sqs.{R}.amazonaws.com/{A}/jobs"},
        "Alternatively, you can specify the required permissions in an IAM policy assigned to the principals that produce and consume encrypted messages.",
        SQS_URL,
        expect=(("kms:GenerateDataKey", "*", D), ("kms:Decrypt", "*", D)),
    ),
    Case(
        "kms-sqs-receive",
        "sqs",
        "ReceiveMessage",
        {"QueueUrl": f"https://sqs.{R}.amazonaws.com/{A}/jobs"},
        "Alternatively, you can specify the required permissions in an IAM policy assigned to the principals that produce and consume encrypted messages.",
        SQS_URL,
        expect=(("kms:Decrypt", "*", D),),
        absent=("kms:GenerateDataKey",),
    ),
    Case(
        "kms-sqs-evidence",
        "sqs",
        "SendMessage",
        {"QueueUrl": f"https://sqs.{R}.amazonaws.com/{A}/jobs"},
        "Alternatively, you can specify the required permissions in an IAM policy assigned to the principals that produce and consume encrypted messages.",
        SQS_URL,
        response={"KmsKeyId": KEY},
        expect=(("kms:GenerateDataKey", KEY, E), ("kms:Decrypt", KEY, E)),
    ),
    # -- SSM WithDecryption -------------------------------------------------------------------------
    Case(
        "ssm-decrypt-securestring",
        "ssm",
        "GetParameter",
        {"Name": "/app/db", "WithDecryption": True},
        "Return decrypted values for secure string parameters.",
        bc("ssm", "GetParameter"),
        response={"ParameterType": "SecureString"},
        expect=(
            ("kms:Decrypt", "*", D),
            ("ssm:GetParameter", f"arn:aws:ssm:{R}:{A}:parameter/app/db", E),
        ),
    ),
    Case(
        "ssm-decrypt-string-ignored",
        "ssm",
        "GetParameter",
        {"Name": "/app/flag", "WithDecryption": True},
        "This flag is ignored for String and StringList parameter types.",
        bc("ssm", "GetParameter"),
        response={"ParameterType": "String"},
        absent=("kms:Decrypt",),
    ),
    Case(
        "ssm-no-decryption",
        "ssm",
        "GetParameter",
        {"Name": "/app/db"},
        "Return decrypted values for secure string parameters.",
        bc("ssm", "GetParameter"),
        response={"ParameterType": "SecureString"},
        absent=("kms:Decrypt",),
    ),
    Case(
        "ssm-decrypt-by-path",
        "ssm",
        "GetParametersByPath",
        {"Path": "/app/", "WithDecryption": True},
        "Retrieve all parameters in a hierarchy with their value decrypted.",
        bc("ssm", "GetParametersByPath"),
        response={"ParameterType": "String,SecureString"},
        expect=(("kms:Decrypt", "*", D),),
    ),
    Case(
        "ssm-decrypt-key-known",
        "ssm",
        "GetParameters",
        {"Names": ["/a", "/b"], "WithDecryption": True},
        "Return decrypted values for secure string parameters.",
        bc("ssm", "GetParameters"),
        response={"ParameterType": "SecureString", "KmsKeyId": KEY},
        expect=(("kms:Decrypt", KEY, E),),
    ),
    Case(
        "ssm-decrypt-type-unrecorded",
        "ssm",
        "GetParameter",
        {"Name": "/app/db", "WithDecryption": True},
        "Return decrypted values for secure string parameters.",
        bc("ssm", "GetParameter"),
        expect=(("kms:Decrypt", "*", D),),
    ),
    # -- dependent actions the request cannot decide ---------------------------------------------
    Case(
        "dependent-textract-sar",
        "textract",
        "DetectDocumentText",
        {"Document": {"Bytes": "*"}},
        SAR_DEPENDENT,
        SAR_URL,
        expect=(("s3:GetObject", "*", D),),
    ),
    Case(
        "dependent-restore-table",
        "dynamodb",
        "RestoreTableFromBackup",
        {"TargetTableName": "t2", "BackupArn": f"arn:aws:dynamodb:{R}:{A}:table/t/backup/01"},
        SAR_DEPENDENT,
        SAR_URL,
        expect=(("dynamodb:PutItem", f"arn:aws:dynamodb:{R}:{A}:table/t2", D),),
    ),
    Case(
        "dependent-rds-data-commit",
        "rds-data",
        "CommitTransaction",
        {
            "resourceArn": f"arn:aws:rds:{R}:{A}:cluster:db",
            "secretArn": f"arn:aws:secretsmanager:{R}:{A}:secret:db-AbCdEf",
        },
        SAR_DEPENDENT,
        SAR_URL,
        expect=(("rds-data:BeginTransaction", f"arn:aws:rds:{R}:{A}:cluster:db", D),),
    ),
    Case(
        "dependent-service-linked-role",
        "ecr",
        "PutReplicationConfiguration",
        {},
        SAR_DEPENDENT,
        SAR_URL,
        expect=(("iam:CreateServiceLinkedRole", f"arn:aws:iam::{A}:role/aws-service-role/*", D),),
    ),
    Case(
        "dependent-cloudformation-describe",
        "cloudformation",
        "DescribeStacks",
        {"StackName": "app"},
        SAR_DEPENDENT,
        SAR_URL,
        expect=(("cloudformation:ListStacks", "*", D),),
    ),
    Case(
        "dependent-timestream-endpoints",
        "timestream-query",
        "Query",
        {},
        SAR_DEPENDENT,
        SAR_URL,
        expect=(("timestream:DescribeEndpoints", "*", D),),
    ),
    Case(
        "decided-capacity-provider",
        "lambda",
        "CreateFunction",
        {"FunctionName": "f", "Role": ROLE, "CapacityProviderConfig": "*"},
        SAR_DEPENDENT,
        SAR_URL,
        expect=(("lambda:PassCapacityProvider", "*", W),),
    ),
    Case(
        "decided-no-publish",
        "stepfunctions",
        "UpdateStateMachine",
        {"stateMachineArn": f"arn:aws:states:{R}:{A}:stateMachine:sm"},
        SAR_DEPENDENT,
        SAR_URL,
        absent=("states:PublishStateMachineVersion",),
    ),
    # -- S3 Control, S3 on Outposts, S3 Express ---------------------------------------------------------
    Case(
        "outposts-delete-lifecycle",
        "s3control",
        "DeleteBucketLifecycleConfiguration",
        {"AccountId": A, "Bucket": f"{OUTPOST}/bucket/b"},
        "To use this operation, you must have permission to perform the s3-outposts:PutLifecycleConfiguration action.",
        bc("s3control", "DeleteBucketLifecycleConfiguration"),
        expect=(("s3-outposts:PutLifecycleConfiguration", f"{OUTPOST}/bucket/b", E),),
    ),
    Case(
        "outposts-get-lifecycle",
        "s3control",
        "GetBucketLifecycleConfiguration",
        {"AccountId": A, "Bucket": f"{OUTPOST}/bucket/b"},
        "To use this action, you must have permission to perform the s3-outposts:GetLifecycleConfiguration action.",
        bc("s3control", "GetBucketLifecycleConfiguration"),
        expect=(("s3-outposts:GetLifecycleConfiguration", f"{OUTPOST}/bucket/b", E),),
    ),
    Case(
        "outposts-get-replication",
        "s3control",
        "GetBucketReplication",
        {"AccountId": A, "Bucket": f"{OUTPOST}/bucket/b"},
        "This action requires permissions for the s3-outposts:GetReplicationConfiguration action.",
        bc("s3control", "GetBucketReplication"),
        expect=(("s3-outposts:GetReplicationConfiguration", f"{OUTPOST}/bucket/b", E),),
    ),
    Case(
        "outposts-delete-replication",
        "s3control",
        "DeleteBucketReplication",
        {"AccountId": A, "Bucket": f"{OUTPOST}/bucket/b"},
        "To use this operation, you must have permissions to perform the s3-outposts:PutReplicationConfiguration action.",
        bc("s3control", "DeleteBucketReplication"),
        expect=(("s3-outposts:PutReplicationConfiguration", f"{OUTPOST}/bucket/b", E),),
    ),
    Case(
        "outposts-put-tagging",
        "s3control",
        "PutBucketTagging",
        {"AccountId": A, "Bucket": f"{OUTPOST}/bucket/b"},
        "To use this action, you must have permissions to perform the s3-outposts:PutBucketTagging action.",
        bc("s3control", "PutBucketTagging"),
        expect=(("s3-outposts:PutBucketTagging", f"{OUTPOST}/bucket/b", E),),
    ),
    Case(
        "outposts-delete-policy",
        "s3control",
        "DeleteBucketPolicy",
        {"AccountId": A, "Bucket": f"{OUTPOST}/bucket/b"},
        "If you are using an identity other than the root user of the Amazon Web Services account that owns the bucket, the calling identity must have the s3-outposts:DeleteBucketPolicy permissions on the specified Outposts bucket and belong to the bucket owner's account to use this action.",
        bc("s3control", "DeleteBucketPolicy"),
        expect=(("s3-outposts:DeleteBucketPolicy", f"{OUTPOST}/bucket/b", E),),
    ),
    Case(
        "outposts-get-bucket",
        "s3control",
        "GetBucket",
        {"AccountId": A, "Bucket": f"{OUTPOST}/bucket/b"},
        "If you are using an identity other than the root user of the Amazon Web Services account that owns the Outposts bucket, the calling identity must have the s3-outposts:GetBucket permissions on the specified Outposts bucket and belong to the Outposts bucket owner's account in order to use this action.",
        bc("s3control", "GetBucket"),
        expect=(("s3-outposts:GetBucket", f"{OUTPOST}/bucket/b", E),),
    ),
    Case(
        "outposts-create-bucket",
        "s3control",
        "CreateBucket",
        {"Bucket": "b", "OutpostId": "op-01ac5d28a6a232904"},
        "This action creates an Amazon S3 on Outposts bucket.",
        bc("s3control", "CreateBucket"),
        expect=(("s3-outposts:CreateBucket", f"{OUTPOST}/bucket/b", E),),
        absent=("s3:CreateBucket",),
    ),
    Case(
        "outposts-regional-buckets",
        "s3control",
        "ListRegionalBuckets",
        {"AccountId": A, "OutpostId": "op-01ac5d28a6a232904"},
        "Returns a list of all Outposts buckets in an Outpost that are owned by the authenticated sender of the request.",
        bc("s3control", "ListRegionalBuckets"),
        expect=(("s3-outposts:ListRegionalBuckets", "*", E),),
    ),
    Case(
        "outposts-versioning",
        "s3control",
        "GetBucketVersioning",
        {"AccountId": A, "Bucket": f"{OUTPOST}/bucket/b"},
        "This operation returns the versioning state for S3 on Outposts buckets only.",
        bc("s3control", "GetBucketVersioning"),
        expect=(("s3-outposts:GetBucketVersioning", f"{OUTPOST}/bucket/b", E),),
        absent=("s3:GetBucketVersioning",),
    ),
    Case(
        "outposts-access-point",
        "s3control",
        "CreateAccessPoint",
        {"AccountId": A, "Name": "ap", "Bucket": f"{OUTPOST}/bucket/b"},
        "S3 on Outposts only supports VPC-style access points.",
        bc("s3control", "CreateAccessPoint"),
        expect=(("s3-outposts:CreateAccessPoint", f"{OUTPOST}/accesspoint/ap", E),),
    ),
    Case(
        "account-public-access-block",
        "s3control",
        "GetPublicAccessBlock",
        {"AccountId": A},
        "Retrieves the PublicAccessBlock configuration for an Amazon Web Services account.",
        bc("s3control", "GetPublicAccessBlock"),
        expect=(("s3:GetAccountPublicAccessBlock", "*", E),),
    ),
    Case(
        "account-public-access-block-delete",
        "s3control",
        "DeletePublicAccessBlock",
        {"AccountId": A},
        "Removes the PublicAccessBlock configuration for an Amazon Web Services account.",
        bc("s3control", "DeletePublicAccessBlock"),
        expect=(("s3:PutAccountPublicAccessBlock", "*", E),),
    ),
    Case(
        "express-access-point-scope",
        "s3control",
        "GetAccessPointScope",
        {"AccountId": A, "Name": "ap--usw2-az1--xa-s3"},
        "To use this operation, you must have the permission to perform the s3express:GetAccessPointScope action.",
        bc("s3control", "GetAccessPointScope"),
        expect=(
            (
                "s3express:GetAccessPointScope",
                f"arn:aws:s3express:{R}:{A}:accesspoint/ap--usw2-az1--xa-s3",
                E,
            ),
        ),
    ),
    Case(
        "express-list-access-points",
        "s3control",
        "ListAccessPointsForDirectoryBuckets",
        {"AccountId": A, "DirectoryBucket": "db--usw2-az1--x-s3"},
        "To use this operation, you must have the permission to perform the s3express:ListAccessPointsForDirectoryBuckets action.",
        bc("s3control", "ListAccessPointsForDirectoryBuckets"),
        expect=(("s3express:ListAccessPointsForDirectoryBuckets", "*", E),),
    ),
    Case(
        "express-create-access-point",
        "s3control",
        "CreateAccessPoint",
        {"AccountId": A, "Name": "ap--usw2-az1--xa-s3", "Bucket": "db--usw2-az1--x-s3"},
        "Creates an access point and associates it to a specified bucket.",
        bc("s3control", "CreateAccessPoint"),
        expect=(
            (
                "s3express:CreateAccessPoint",
                f"arn:aws:s3express:{R}:{A}:accesspoint/ap--usw2-az1--xa-s3",
                E,
            ),
        ),
        absent=("s3:CreateAccessPoint",),
    ),
    Case(
        "express-directory-bucket-policy",
        "s3",
        "PutBucketPolicy",
        {"Bucket": "db--usw2-az1--x-s3"},
        "Directory buckets - The HTTP Host header syntax is s3express-control. region-code .amazonaws.com .",
        bc("s3", "PutBucketPolicy"),
        expect=(
            (
                "s3express:PutBucketPolicy",
                f"arn:aws:s3express:{R}:{A}:bucket/db--usw2-az1--x-s3",
                E,
            ),
        ),
        absent=("s3:PutBucketPolicy",),
    ),
    Case(
        "express-directory-bucket-encryption",
        "s3",
        "PutBucketEncryption",
        {"Bucket": "db--usw2-az1--x-s3"},
        "To set a directory bucket default encryption with SSE-KMS, you must also have the kms:GenerateDataKey and the kms:Decrypt permissions in IAM identity-based policies and KMS key policies for the target KMS key.",
        bc("s3", "PutBucketEncryption"),
        expect=(
            (
                "s3express:PutEncryptionConfiguration",
                f"arn:aws:s3express:{R}:{A}:bucket/db--usw2-az1--x-s3",
                E,
            ),
        ),
    ),
    Case(
        "express-zonal-object",
        "s3",
        "GetObject",
        {"Bucket": "db--usw2-az1--x-s3", "Key": "k"},
        "If you want to encrypt objects with SSE-KMS, you must also have the kms:GenerateDataKey and the kms:Decrypt permissions in IAM identity-based policies and KMS key policies for the target KMS key.",
        bc("s3", "CreateSession"),
        expect=(
            ("s3express:CreateSession", f"arn:aws:s3express:{R}:{A}:bucket/db--usw2-az1--x-s3", E),
        ),
    ),
    Case(
        "outposts-object",
        "s3",
        "GetObject",
        {"Bucket": f"{OUTPOST}/bucket/b", "Key": "in/"},
        "This action creates an Amazon S3 on Outposts bucket.",
        bc("s3control", "CreateBucket"),
        expect=(("s3-outposts:GetObject", f"{OUTPOST}/bucket/b/object/in/*", T),),
        absent=("s3:GetObject",),
    ),
    # -- documented defaults and partial forms --------------------------------------------------------
    Case(
        "default-schedule-group",
        "scheduler",
        "CreateSchedule",
        {"Name": "nightly"},
        "If you omit this, the default schedule group is used.",
        bc("scheduler", "CreateSchedule"),
        expect=(
            ("scheduler:CreateSchedule", f"arn:aws:scheduler:{R}:{A}:schedule/default/nightly", E),
        ),
    ),
    Case(
        "default-schedule-group-read",
        "scheduler",
        "GetSchedule",
        {"Name": "nightly"},
        "If you omit this, EventBridge Scheduler assumes that the schedule is associated with the default group.",
        bc("scheduler", "GetSchedule"),
        expect=(
            ("scheduler:GetSchedule", f"arn:aws:scheduler:{R}:{A}:schedule/default/nightly", E),
        ),
    ),
    Case(
        "named-schedule-group",
        "scheduler",
        "DeleteSchedule",
        {"Name": "nightly", "GroupName": "ops"},
        "The name of the schedule group associated with this schedule. If you omit this, the default schedule group is used.",
        bc("scheduler", "DeleteSchedule"),
        expect=(
            ("scheduler:DeleteSchedule", f"arn:aws:scheduler:{R}:{A}:schedule/ops/nightly", E),
        ),
    ),
    Case(
        "default-ecs-cluster",
        "ecs",
        "DescribeServices",
        {"services": ["web"]},
        "If you do not specify a cluster, the default cluster is assumed.",
        bc("ecs", "DescribeServices"),
        expect=(("ecs:DescribeServices", f"arn:aws:ecs:{R}:{A}:service/default/web", E),),
    ),
    Case(
        "default-event-bus-rule",
        "events",
        "PutRule",
        {"Name": "r"},
        "If you omit this, the default event bus is used.",
        bc("events", "PutRule"),
        expect=(("events:PutRule", f"arn:aws:events:{R}:{A}:rule/r", E),),
    ),
    Case(
        "partial-secret-arn",
        "secretsmanager",
        "GetSecretValue",
        {"SecretId": f"arn:aws:secretsmanager:{R}:{A}:secret:prod/db"},
        "For an ARN, we recommend that you specify a complete ARN rather than a partial ARN.",
        bc("secretsmanager", "GetSecretValue"),
        expect=(
            (
                "secretsmanager:GetSecretValue",
                f"arn:aws:secretsmanager:{R}:{A}:secret:prod/db-??????",
                T,
            ),
        ),
    ),
    Case(
        "complete-secret-arn",
        "secretsmanager",
        "DescribeSecret",
        {"SecretId": f"arn:aws:secretsmanager:{R}:{A}:secret:prod/db-AbCdEf"},
        "For an ARN, we recommend that you specify a complete ARN rather than a partial ARN.",
        bc("secretsmanager", "GetSecretValue"),
        expect=(
            (
                "secretsmanager:DescribeSecret",
                f"arn:aws:secretsmanager:{R}:{A}:secret:prod/db-AbCdEf",
                E,
            ),
        ),
    ),
    Case(
        "partial-secret-arn-in-batch",
        "secretsmanager",
        "BatchGetSecretValue",
        {"SecretIdList": [f"arn:aws:secretsmanager:{R}:{A}:secret:a"]},
        "For an ARN, we recommend that you specify a complete ARN rather than a partial ARN.",
        bc("secretsmanager", "GetSecretValue"),
        expect=(
            ("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{R}:{A}:secret:a-??????", T),
        ),
    ),
    Case(
        "key-name-binds-key-pair",
        "ec2",
        "ImportKeyPair",
        {"KeyName": "deploy"},
        "Imports the public key from an RSA or ED25519 key pair that you created using a third-party tool.",
        bc("ec2", "ImportKeyPair"),
        expect=(("ec2:ImportKeyPair", f"arn:aws:ec2:{R}:{A}:key-pair/deploy", E),),
    ),
    Case(
        "sns-topic-name-binds",
        "sns",
        "CreateTopic",
        {"Name": "alerts"},
        "To be able to tag a topic on creation, you must have the sns:CreateTopic and sns:TagResource permissions.",
        bc("sns", "CreateTopic"),
        expect=(("sns:CreateTopic", f"arn:aws:sns:{R}:{A}:alerts", E),),
    ),
    # -- operations known under another name; data older than the API -----------------------------
    Case(
        "other-name-cloudsearch",
        "cloudsearchdomain",
        "UploadDocuments",
        {},
        "Posts a batch of documents to a search domain for indexing.",
        bc("cloudsearchdomain", "UploadDocuments"),
        expect=(("cloudsearch:document", "*", E),),
    ),
    Case(
        "other-name-timestream",
        "timestream-query",
        "Query",
        {},
        "Query is a synchronous operation that enables you to run a query against your Amazon Timestream data.",
        bc("timestream-query", "Query"),
        expect=(("timestream:Select", "*", W),),
    ),
    Case(
        "s3-not-found-proves-list-bucket",
        "s3",
        "GetObject",
        {"Bucket": "photos", "Key": "in/"},
        "If you have the s3:ListBucket permission on the bucket, Amazon S3 returns an HTTP "
        "status code 404 Not Found error.",
        bc("s3", "GetObject"),
        response={"ErrorCode": "NoSuchKey"},
        expect=(
            ("s3:GetObject", "arn:aws:s3:::photos/in/*", T),
            ("s3:ListBucket", "arn:aws:s3:::photos", E),
        ),
    ),
    Case(
        "s3-head-404-proves-list-bucket",
        "s3",
        "HeadObject",
        {"Bucket": "photos", "Key": "in/"},
        "If you have the s3:ListBucket permission on the bucket, Amazon S3 returns an HTTP "
        "status code 404 Not Found error.",
        bc("s3", "HeadObject"),
        response={"ErrorCode": "404"},
        expect=(("s3:ListBucket", "arn:aws:s3:::photos", E),),
    ),
    Case(
        "s3-access-denied-proves-nothing-about-list-bucket",
        "s3",
        "GetObject",
        {"Bucket": "photos", "Key": "in/"},
        "If you don\u2019t have the s3:ListBucket permission, Amazon S3 returns an HTTP status "
        "code 403 Access Denied error.",
        bc("s3", "GetObject"),
        response={"ErrorCode": "AccessDenied"},
        absent=("s3:ListBucket",),
    ),
    Case(
        "data-older-than-api",
        "athena",
        "GetSystemTableConfiguration",
        {},
        SAR_DEPENDENT,
        SAR_URL,
        raises="older than this API",
    ),
]


def _ids() -> list[str]:
    return [c.id for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_hard_case(case: Case) -> None:
    """The call's answer holds every expected authorization and none of the absent actions."""
    if case.raises is not None:
        with pytest.raises(IamDataError, match=case.raises):
            authorizations(case.service, case.operation, case.params, region=R, account=A)
        return
    found = authorizations(
        case.service, case.operation, case.params, region=R, account=A, response=case.response
    )
    got = {(a.action, a.resource, a.confidence) for a in found}
    missing = [e for e in case.expect if e not in got]
    assert missing == [], sorted((a, r, c.value) for a, r, c in got)
    present = sorted({a.action for a in found} & set(case.absent))
    assert present == []
    for auth in found:
        if auth.confidence is Confidence.DEPENDENT:
            assert len(auth.explanation) > 40


@cache
def _documentation(service: str, operation: str) -> str:
    """The operation's documentation and its input members', as plain text."""
    model = _model(service).operation_model(operation)
    texts = [model.documentation or ""]

    def walk(shape: Any, seen: frozenset[str]) -> None:
        if shape is None or shape.name in seen or len(seen) > 8:
            return
        texts.append(getattr(shape, "documentation", "") or "")
        if shape.type_name == "structure":
            for member in shape.members.values():
                texts.append(member.documentation or "")
                walk(member, seen | {shape.name})
        elif shape.type_name == "list":
            walk(shape.member, seen | {shape.name})

    walk(model.input_shape, frozenset())
    return " ".join(" ".join(re.sub(r"<[^>]+>", " ", t).split()) for t in texts)


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_quote_is_awss_own_words(case: Case) -> None:
    """A quote from the API reference appears word for word in botocore's copy of it."""
    assert len(case.quote) >= 40
    if not case.source.startswith("botocore:"):
        assert case.source.startswith("https://docs.aws.amazon.com/")
        return
    _, service, operation = case.source.split(":")
    assert case.quote in _documentation(service, operation)


def test_enough_hard_cases() -> None:
    """The table holds at least 80 cases, with unique ids."""
    assert len(CASES) >= 80
    assert len(set(_ids())) == len(CASES)
