"""Read one recorded AWS call from its span attributes (the wire contract in semconv)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lambdaguard import semconv
from lambdaguard.errors import IamDataError
from lambdaguard.iam._mapper import authorizations
from lambdaguard.iam._model import Authorization

__all__ = ["authorizations_for_span"]


def authorizations_for_span(
    attributes: Mapping[str, Any],
    *,
    account: str,
    region: str | None = None,
    partition: str = "aws",
) -> list[Authorization]:
    """The authorizations of the AWS call one CLIENT span records.

    ``attributes`` are the span's attributes (``lambdaguard.aws.service``,
    ``.operation``, ``.params`` as JSON, ``.region``, ``.response`` as JSON
    (or, from older agents, ``.kms_key_id`` / ``.version_id``) ...);
    ``account`` is the calling function's account (``cloud.account.id`` of the
    span's resource); ``region`` defaults to the span's own region.
    """
    service = attributes.get(semconv.AWS_SERVICE)
    operation = attributes.get(semconv.AWS_OPERATION) or attributes.get(semconv.RPC_METHOD)
    if not isinstance(service, str) or not isinstance(operation, str):
        raise IamDataError("the span names no AWS service and operation")
    raw = attributes.get(semconv.AWS_PARAMS)
    params: Any = {}
    if isinstance(raw, str) and raw:
        try:
            params = json.loads(raw)
        except ValueError as exc:
            raise IamDataError(f"{semconv.AWS_PARAMS} is not valid JSON: {exc}") from exc
    elif isinstance(raw, Mapping):
        params = raw
    response: dict[str, Any] = {}
    raw_response = attributes.get(semconv.AWS_RESPONSE)
    if isinstance(raw_response, str) and raw_response:
        try:
            decoded = json.loads(raw_response)
        except ValueError as exc:
            raise IamDataError(f"{semconv.AWS_RESPONSE} is not valid JSON: {exc}") from exc
        if isinstance(decoded, Mapping):
            response.update({str(k): v for k, v in decoded.items() if isinstance(v, str)})
    for attribute, fact in (
        (semconv.AWS_KMS_KEY_ID, "SSEKMSKeyId"),
        (semconv.AWS_VERSION_ID, "VersionId"),
        (semconv.AWS_ERROR_CODE, "ErrorCode"),
    ):
        value = attributes.get(attribute)
        if isinstance(value, str) and value:
            # Older agents sent these as their own attributes.
            response.setdefault(fact, value)
    call_region = (
        region or attributes.get(semconv.AWS_REGION) or attributes.get(semconv.CLOUD_REGION)
    )
    if not isinstance(call_region, str):
        raise IamDataError("the span names no region and none was given")
    return authorizations(
        service,
        operation,
        params,
        region=call_region,
        account=account,
        partition=partition,
        response=response,
    )
