"""Nightly report run by an EventBridge schedule, written with Powertools for AWS Lambda.

Reads the recipients with Powertools Parameters (SSM GetParameter), lists
the uploads with a paginated ListObjectsV2, stores the report in S3,
announces it on SNS and calls a partner's webhook over plain HTTP (which
lambdaguard flags). Logs go through the Powertools structured Logger.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.request

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import parameters

logger = Logger()
s3 = boto3.client("s3")
sns = boto3.client("sns")


@logger.inject_lambda_context
def handler(event: dict, context: object) -> dict:
    # force_fetch: one GetParameter per run, so the demo's counts are exact
    # (Powertools would otherwise serve it from its 5 s cache).
    recipients = parameters.get_parameter(
        os.environ["REPORT_RECIPIENTS_PARAM"], force_fetch=True
    ).split(",")
    pages = objects = 0
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=os.environ["UPLOADS_BUCKET"], Prefix="incoming/", PaginationConfig={"PageSize": 10}
    ):
        pages += 1
        objects += page.get("KeyCount", 0)
    day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    report = {"day": day, "objects": objects, "recipients": len(recipients)}
    s3.put_object(
        Bucket=os.environ["REPORTS_BUCKET"],
        Key=f"reports/{day}.json",
        Body=json.dumps(report).encode(),
        ContentType="application/json",
    )
    sns.publish(
        TopicArn=os.environ["REPORTS_TOPIC_ARN"],
        Subject="Nightly uploads report",
        Message=json.dumps(report),
    )
    hook = urllib.request.Request(
        os.environ["WEBHOOK_URL"] + "/hooks/nightly",
        data=json.dumps(report).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(hook, timeout=5) as response:
        response.read()
    logger.info("report sent", extra={"objects": objects, "pages": pages})
    return {"objects": objects, "pages": pages, "recipients": len(recipients)}
