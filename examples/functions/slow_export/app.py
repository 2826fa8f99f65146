"""An export job invoked directly that sometimes runs past its timeout.

It writes the export to S3 first, then "waits for a slow downstream"; with a
long enough wait Lambda stops it at the deadline. lambdaguard must still
deliver the record of the S3 call it made.
"""

from __future__ import annotations

import json
import os
import time

import boto3

s3 = boto3.client("s3")


def handler(event: dict, context: object) -> dict:
    key = f"exports/{event.get('export_id', 'adhoc')}.json"
    s3.put_object(Bucket=os.environ["REPORTS_BUCKET"], Key=key, Body=json.dumps(event).encode())
    time.sleep(float(event.get("wait_s", 0)))
    return {"exported": key}
