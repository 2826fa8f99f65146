"""botocore's service models: which operations exist and how they are named.

Operations and their request members come from the installed botocore, so a
botocore upgrade brings new APIs with it. Models load lazily, per service, and
stay cached.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache
from typing import Any

from lambdaguard.errors import UnknownOperation, UnknownService

__all__ = [
    "ServiceInfo",
    "available_services",
    "operation_http",
    "operation_members",
    "operation_unsigned",
    "resolve_operation",
    "service_info",
]


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """What the mapper needs from one botocore service model."""

    name: str  # botocore client name, e.g. "iot-data"
    signing_name: str
    endpoint_prefix: str
    service_id: str
    bearer_only: bool  # signed with a bearer token, never with SigV4: IAM does not authorize it
    operations: tuple[str, ...]  # botocore operation names, sorted
    by_lower: dict[str, str]  # lower-case name and snake_case name -> operation name


@cache
def _session() -> Any:
    import botocore.session

    return botocore.session.get_session()


@cache
def available_services() -> tuple[str, ...]:
    """Every botocore client name of the installed botocore, sorted."""
    return tuple(sorted(_session().get_available_services()))


@cache
def _model(service: str) -> Any:
    return _session().get_service_model(service)


@cache
def service_info(service: str) -> ServiceInfo:
    """The model facts of ``service`` (a botocore client name); raises UnknownService."""
    if not isinstance(service, str) or service not in available_services():
        name = service if isinstance(service, str) else repr(service)
        nearest = tuple(difflib.get_close_matches(str(name).lower(), available_services(), n=3))
        hint = f"; nearest: {', '.join(nearest)}" if nearest else ""
        raise UnknownService(f"unknown AWS service {name!r}{hint}", nearest=nearest)
    from botocore import xform_name

    model = _model(service)
    meta = model.metadata
    operations = tuple(sorted(model.operation_names))
    by_lower: dict[str, str] = {}
    for op in operations:
        by_lower[op.lower()] = op
        by_lower[xform_name(op)] = op
    auth = tuple(meta.get("auth") or ())
    bearer_only = meta.get("signatureVersion") == "bearer" and not any("sigv4" in a for a in auth)
    return ServiceInfo(
        name=service,
        signing_name=str(meta.get("signingName") or meta.get("endpointPrefix") or service),
        endpoint_prefix=str(meta.get("endpointPrefix") or service),
        service_id=str(meta.get("serviceId") or service),
        bearer_only=bearer_only,
        operations=operations,
        by_lower=by_lower,
    )


def resolve_operation(info: ServiceInfo, operation: str) -> str:
    """The botocore operation name for ``operation`` (either spelling); raises UnknownOperation."""
    if isinstance(operation, str):
        found = info.by_lower.get(operation.lower())
        if found is not None:
            return found
    name = operation if isinstance(operation, str) else repr(operation)
    nearest = tuple(
        difflib.get_close_matches(str(name), info.operations, n=3, cutoff=0.5)
        or difflib.get_close_matches(str(name).lower(), sorted(info.by_lower), n=3, cutoff=0.5)
    )
    nearest = tuple(dict.fromkeys(info.by_lower.get(n, n) for n in nearest))
    hint = f"; nearest: {', '.join(nearest)}" if nearest else ""
    raise UnknownOperation(
        f"service {info.name!r} has no operation {name!r}{hint}", nearest=nearest
    )


@cache
def operation_members(service: str, operation: str) -> frozenset[str]:
    """The top-level request member names of one operation (empty if it takes no input)."""
    shape = _model(service).operation_model(operation).input_shape
    return frozenset(shape.members) if shape is not None else frozenset()


@cache
def operation_unsigned(service: str, operation: str) -> bool:
    """True if botocore sends the operation unsigned (``authtype: none``): IAM never sees it."""
    op = _model(service).operation_model(operation)
    return op.auth_type == "none" or "smithy.api#noAuth" in (op.auth or ())


@cache
def operation_http(service: str, operation: str) -> tuple[str, str]:
    """The HTTP method and request URI template of a REST-style operation."""
    http = _model(service).operation_model(operation).http
    return str(http.get("method", "POST")), str(http.get("requestUri", "/"))
