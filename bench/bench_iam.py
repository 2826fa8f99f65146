"""IAM knowledge: mapping cost per call (warm) and cold load per service.

Prints two tables: microseconds per mapped call once every cache is warm, and
the time of the first call of a service in a fresh process (botocore model +
IAM data for that service, loaded lazily). Budget: well under 1 ms per call
warm. Nothing is asserted; ``--quick`` runs fewer rounds.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

CALLS: list[tuple[str, str, dict[str, Any], dict[str, Any] | None]] = [
    ("s3", "GetObject", {"Bucket": "b", "Key": "uploads/"}, {"SSEKMSKeyId": KEY}),
    ("s3", "ListObjectsV2", {"Bucket": "b"}, None),
    ("s3", "CopyObject", {"Bucket": "d", "Key": "k", "CopySource": "s/a"}, None),
    ("dynamodb", "Query", {"TableName": "t", "IndexName": "i"}, None),
    ("dynamodb", "TransactWriteItems", {"TransactItems": [{"Put": {"TableName": "a"}}] * 5}, None),
    ("dynamodb", "ExecuteStatement", {"Statement": 'SELECT "t"."i"'}, None),
    (
        "sqs",
        "SendMessageBatch",
        {"QueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/q"},
        None,
    ),
    ("lambda", "Invoke", {"FunctionName": "f:live"}, None),
    ("secretsmanager", "GetSecretValue", {"SecretId": "prod/db"}, None),
    ("ssm", "GetParameter", {"Name": "/app/url"}, None),
    ("events", "PutEvents", {"Entries": [{}]}, None),
    ("sts", "GetCallerIdentity", {}, None),
    ("apigateway", "GetRestApi", {"restApiId": "abc"}, None),
]
COLD_SERVICES = ["s3", "dynamodb", "sqs", "lambda", "ec2", "sagemaker-runtime"]

_COLD = """
import time, sys
t0 = time.perf_counter()
from lambdaguard.iam import authorizations
t1 = time.perf_counter()
authorizations(sys.argv[1], sys.argv[2], {}, region="us-east-1", account="123456789012")
t2 = time.perf_counter()
print(f"{(t1 - t0) * 1000:.1f} {(t2 - t1) * 1000:.1f}")
"""
_FIRST_OP = {
    "s3": "GetObject",
    "dynamodb": "GetItem",
    "sqs": "SendMessage",
    "lambda": "Invoke",
    "ec2": "DescribeInstances",
    "sagemaker-runtime": "InvokeEndpoint",
}


def warm(rounds: int) -> None:
    from lambdaguard.iam import authorizations

    print(f"{'call':<36}{'us/call (median)':>18}{'p95':>10}")
    for service, op, params, response in CALLS:
        authorizations(service, op, params, region=REGION, account=ACCOUNT, response=response)
        samples = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(100):
                authorizations(
                    service, op, params, region=REGION, account=ACCOUNT, response=response
                )
            samples.append((time.perf_counter() - t0) / 100 * 1e6)
        samples.sort()
        p95 = samples[int(len(samples) * 0.95) - 1]
        print(f"{service + ' ' + op:<36}{statistics.median(samples):>18.1f}{p95:>10.1f}")


def cold() -> None:
    print(f"\n{'first call in a fresh process':<36}{'import ms':>12}{'first call ms':>16}")
    for service in COLD_SERVICES:
        op = _FIRST_OP[service]
        out = subprocess.run(
            [sys.executable, "-c", _COLD, service, op],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        print(f"{service + ' ' + op:<36}{out[0]:>12}{out[1]:>16}")


def main(argv: list[str]) -> int:
    rounds = 20 if "--quick" in argv else 200
    warm(rounds)
    cold()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
