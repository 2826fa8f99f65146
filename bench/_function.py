"""The function every variant runs: a module that imports boto3 and makes a client at load.

``handler({"calls": n}, context)`` makes ``n`` S3 ``HeadObject`` calls. They
are answered in-process by a ``before-send`` hook with a canned 200, so no
request leaves the process, yet botocore runs its whole pipeline (parameter
build, signing, ``before-send``, response parsing, ``needs-retry``,
``after-call``) and every instrumentation hook fires as it would against AWS.
botocore's Stubber answers earlier, at ``before-call``, and would skip the
endpoint-level events an agent may hook, which would flatter it.
"""

from __future__ import annotations

import os
from typing import Any

import boto3

s3 = boto3.client("s3", region_name=os.environ.get("AWS_REGION", "us-east-1"))

_answering: list[bool] = []  # non-empty once the canned answer is registered


class _Raw:
    """The raw-body shape botocore's AWSResponse reads (``stream()``)."""

    def stream(self, **_: Any) -> Any:
        return iter((b"",))


def _canned(request: Any, **_: Any) -> Any:
    from botocore.awsrequest import AWSResponse

    # HeadObject answers with headers only; botocore parses them into the output.
    headers = {
        "Content-Length": "0",
        "ETag": '"0123456789abcdef0123456789abcdef"',
        "x-amz-request-id": "BENCHREQUEST0001",
        "x-amz-id-2": "bench",
    }
    # botocore wraps any mapping in its HeadersDict; the stubs ask for HTTPHeaders.
    return AWSResponse(request.url, 200, headers, _Raw())  # type: ignore[arg-type]


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Make ``event["calls"]`` AWS calls; return a small result."""
    calls = int(event.get("calls", 0))
    if calls and not _answering:
        # Registered on first use, last in order, so the load path (INIT) is the
        # plain "import boto3 + client" and every other hook still runs first.
        s3.meta.events.register_last("before-send.s3", _canned)
        _answering.append(True)
    for i in range(calls):
        s3.head_object(Bucket="bench-bucket", Key=f"reports/2026/{i}.json")
    return {"ok": True, "calls": calls}
