"""Thumbnailer triggered by S3 ObjectCreated notifications on the uploads bucket.

For each new object: read it, "render" a large rendition and upload it with
``upload_file`` (a multipart upload whose parts go up on s3transfer's worker
threads), hand back a presigned download URL (signed locally, not sent),
and look for a previous rendition's marker, which does not exist (a call
that fails with NoSuchKey, handled).
"""

from __future__ import annotations

import os
import tempfile
import urllib.parse

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

THUMBNAILS = os.environ["THUMBNAILS_BUCKET"]
RENDITION_BYTES = 11 * 1024 * 1024  # 3 parts of at most 5 MiB
# S3's smallest part is 5 MiB; threads upload the parts concurrently.
TRANSFER = TransferConfig(
    multipart_threshold=5 * 1024 * 1024,
    multipart_chunksize=5 * 1024 * 1024,
    max_concurrency=3,
    use_threads=True,
)

s3 = boto3.client("s3")


def _render(source: bytes, path: str) -> None:
    block = (source or b"\0") * (1024 * 1024 // max(1, len(source)) + 1)
    with open(path, "wb") as fh:
        written = 0
        while written < RENDITION_BYTES:
            chunk = block[: RENDITION_BYTES - written]
            fh.write(chunk)
            written += len(chunk)


def handler(event: dict, context: object) -> dict:
    out = []
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        source = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        target = f"thumbs/{key}"
        with tempfile.NamedTemporaryFile(suffix=".bin") as tmp:
            _render(source, tmp.name)
            s3.upload_file(tmp.name, THUMBNAILS, target, Config=TRANSFER)
        url = s3.generate_presigned_url(
            "get_object", Params={"Bucket": THUMBNAILS, "Key": target}, ExpiresIn=300
        )
        try:
            s3.get_object(Bucket=THUMBNAILS, Key=f"{target}.previous")
            previous = True
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchKey":
                raise
            previous = False
        out.append({"key": target, "url_signed": "Signature=" in url, "previous": previous})
    return {"thumbnails": out}
