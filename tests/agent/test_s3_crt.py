"""S3 transfers through boto3's CRT transfer manager (`awscrt`), against moto over loopback.

s3transfer's CRT path serializes each transfer through a botocore client (its
``BotocoreCRTRequestSerializer`` calls ``put_object``/``get_object``/… and
captures the request at ``before-send``), then awscrt's own S3 client sends it
from native threads. The agent's wrap of the botocore client sees each
transfer as the API call it is; the CRT's own HTTP request is never read.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from lambdaguard import semconv

from .test_aws import calls, client, find, run

pytest.importorskip(
    "awscrt.s3",
    reason="awscrt is not in this venv: `make test-crt` runs this file in one that has it",
)


def test_crt_transfers_are_recorded_as_the_s3_calls_they_make(
    enable: Callable[..., None], sink: Any, moto_endpoint: str
) -> None:
    """An upload and a download through CRTTransferManager are PutObject and GetObject on their keys."""
    import botocore.session
    from s3transfer.crt import (
        BotocoreCRTCredentialsWrapper,
        BotocoreCRTRequestSerializer,
        CRTTransferManager,
        create_s3_crt_client,
    )

    enable()
    client("s3", moto_endpoint).create_bucket(Bucket="crt-media")
    session = botocore.session.Session()
    credentials = BotocoreCRTCredentialsWrapper(session.get_credentials())
    crt = create_s3_crt_client(
        "us-east-1",
        crt_credentials_provider=credentials.to_crt_credentials_provider(),
        use_ssl=False,
    )
    serializer = BotocoreCRTRequestSerializer(
        session, client_kwargs={"region_name": "us-east-1", "endpoint_url": moto_endpoint}
    )
    payload = b"canary-body-" * 100
    downloaded = io.BytesIO()

    def handler(event: Any, context: Any) -> int:
        with CRTTransferManager(crt, serializer) as transfers:
            transfers.upload(io.BytesIO(payload), "crt-media", "uploads/u-1/a.bin").result(30)
            transfers.download("crt-media", "uploads/u-1/a.bin", downloaded).result(30)
        return len(downloaded.getvalue())

    assert run(handler) == len(payload)
    assert downloaded.getvalue() == payload
    found = calls(sink)
    put = find(found, "PutObject")
    assert put[semconv.AWS_SERVICE] == "s3"
    assert json.loads(put[semconv.AWS_PARAMS]) == {"Bucket": "crt-media", "Key": "uploads/"}
    get = find(found, "GetObject")
    assert json.loads(get[semconv.AWS_PARAMS]) == {"Bucket": "crt-media", "Key": "uploads/"}
    for body in sink.bodies:
        assert b"canary-body" not in body
