"""SigV4-signed HTTP requests made without an SDK operation, mapped to what IAM authorizes.

The agent records such a request (``lambdaguard.aws.via = "sigv4"``) as a
pseudo-operation of its signing service: operation ``"HTTP " + method``
(:data:`lambdaguard.semconv.SIGV4_OPERATION_PREFIX`) and params ``{"Host":
host, "Path": path}``, the path cut like an object key (``/orders/`` of
``/orders/_doc/7``). The body and query string are never recorded, so what
depends on them (a GraphQL field, a Gremlin query's verbs) is widened and the
explanation says so.

========================  ==========================================  ============================================
signing service           IAM actions                                 resource
========================  ==========================================  ============================================
``es`` (OpenSearch)       ``es:ESHttp<Method>``                       ``domain/NAME/PATH*`` (name from the
                                                                      ``search-NAME-ID`` / ``vpc-NAME-ID`` host)
``aoss`` (Serverless)     ``aoss:APIAccessAll``                       ``collection/ID`` (from the host)
``execute-api``           ``execute-api:Invoke``                      ``API/STAGE/METHOD/PATH*`` (API id from the
                                                                      host, stage the first path segment)
``lambda`` (function URL) ``lambda:InvokeFunctionUrl`` and            ``function:*``: a URL id does not name its
                          ``lambda:InvokeFunction`` (AWS: new URLs    function
                          need both, from October 2025)
``appsync``               ``appsync:GraphQL``                         ``apis/ID/*`` (fields are in the body)
``neptune-db``            ``neptune-db:ReadDataViaQuery`` (GET);       ``*/*``: the cluster resource id is not in
                          Read/Write/DeleteDataViaQuery otherwise     the host
========================  ==========================================  ============================================

Any other signing service raises :class:`~lambdaguard.errors.IamDataError`
naming it. Hosts that are not the service's own (custom domains, a loopback
stand-in) leave their part of the ARN as ``*``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lambdaguard.errors import IamDataError
from lambdaguard.iam._model import Authorization, Confidence
from lambdaguard.semconv import SIGV4_OPERATION_PREFIX

__all__ = ["is_sigv4_operation", "sigv4_authorizations"]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
# search-NAME-ID.REGION.es.amazonaws.com / vpc-NAME-ID...: domain names are 3-28
# characters of a-z, 0-9 and "-"; the id AWS appends is 26 of a-z and 0-9.
_ES_HOST = re.compile(r"^(?:search|vpc)-(?P<name>[a-z][a-z0-9-]{2,27})-[a-z0-9]{26}\.")
_AOSS_HOST = re.compile(r"^(?P<id>[a-z0-9]{3,40})\.[a-z0-9-]+\.aoss\.amazonaws\.com$")
_API_HOST = re.compile(r"^(?P<id>[a-z0-9]{10})\.execute-api\.[a-z0-9-]+\.amazonaws\.com$")
_APPSYNC_HOST = re.compile(r"^(?P<id>[a-z0-9]{26})\.appsync-api\.[a-z0-9-]+\.amazonaws\.com$")
_SEGMENT = re.compile(r"^[A-Za-z0-9._~@:+=,-]{1,128}$")


def is_sigv4_operation(operation: str) -> bool:
    """Whether ``operation`` is a signed request's pseudo-operation (``"HTTP GET"``)."""
    return operation.startswith(SIGV4_OPERATION_PREFIX)


def _path_prefix(path: object) -> tuple[str, ...]:
    # The recorded path's whole segments (it ends in "/" when cut; "/" alone: none).
    if not isinstance(path, str):
        return ()
    return tuple(s for s in path.strip("/").split("/") if s and _SEGMENT.match(s))


def _text(name: str, value: object, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise IamDataError(f"{name} must be a non-empty string of at most {limit} characters")
    return value


def sigv4_authorizations(
    service: str,
    operation: str,
    params: Mapping[str, Any] | None,
    *,
    region: str,
    account: str,
    partition: str = "aws",
) -> list[Authorization]:
    """The authorization requests of one SigV4-signed request (see the module docstring)."""
    method = operation[len(SIGV4_OPERATION_PREFIX) :].strip().upper()
    if method not in _METHODS:
        raise IamDataError(
            f"{operation!r} is not a signed request's operation; expected "
            f"{SIGV4_OPERATION_PREFIX!r} followed by one of {', '.join(sorted(_METHODS))}"
        )
    params = params or {}
    if not isinstance(params, Mapping):
        raise IamDataError(f"params must be a JSON object, not {type(params).__name__}")
    _text("region", region, 64)
    _text("account", account, 64)
    _text("partition", partition, 32)
    host = str(params.get("Host") or "").lower()
    segments = _path_prefix(params.get("Path"))
    base = f"arn:{partition}:{service}:{region}:{account}:"
    if service == "es":
        return _opensearch(base, method, host, segments)
    if service == "aoss":
        match = _AOSS_HOST.match(host)
        resource = f"{base}collection/{match['id'] if match else '*'}"
        why = "OpenSearch Serverless authorizes every data-plane request as aoss:APIAccessAll"
        return [_one("aoss:APIAccessAll", resource, why, host, named=match is not None, exact=True)]
    if service == "execute-api":
        return _execute_api(base, method, host, segments)
    if service == "lambda":
        resource = f"arn:{partition}:lambda:{region}:{account}:function:*"
        why = (
            "A function URL with IAM auth is authorized by lambda:InvokeFunctionUrl and, for "
            "URLs created from October 2025, lambda:InvokeFunction; the URL id does not name "
            "the function, so the function is '*'."
        )
        return [
            Authorization(action, resource, Confidence.WILDCARD, why)
            for action in ("lambda:InvokeFunctionUrl", "lambda:InvokeFunction")
        ]
    if service == "appsync":
        match = _APPSYNC_HOST.match(host)
        resource = f"{base}apis/{match['id'] if match else '*'}/*"
        why = "AppSync authorizes GraphQL requests per field, and the body naming them is not recorded"
        return [_one("appsync:GraphQL", resource, why, host, named=match is not None, exact=False)]
    if service == "neptune-db":
        return _neptune(base, method)
    raise IamDataError(
        f"no IAM mapping for requests signed for service {service!r}; mapped signing services: "
        "aoss, appsync, es, execute-api, lambda, neptune-db"
    )


def _one(
    action: str, resource: str, why: str, host: str, *, named: bool, exact: bool
) -> Authorization:
    # named: the host named the resource; exact: nothing else had to be widened.
    if not named:
        why += f"; the host {host[:80]!r} does not name the resource, so it is '*'"
    confidence = Confidence.EXACT if named and exact else Confidence.TEMPLATE
    return Authorization(action, resource, confidence, why + ".")


def _opensearch(
    base: str, method: str, host: str, segments: tuple[str, ...]
) -> list[Authorization]:
    action = "es:ESHttp" + method.capitalize()
    match = _ES_HOST.match(host)
    name = match["name"] if match else "*"
    path = "".join(f"/{s}" for s in segments)
    resource = f"{base}domain/{name}{path}/*"
    why = f"OpenSearch authorizes {method} requests as {action} on the domain and path"
    if match is None:
        why += f"; the host {host[:80]!r} does not name the domain, so it is '*'"
    return [Authorization(action, resource, Confidence.TEMPLATE, why + ".")]


def _execute_api(
    base: str, method: str, host: str, segments: tuple[str, ...]
) -> list[Authorization]:
    match = _API_HOST.match(host)
    if match is None:
        # A custom domain: its base path mapping, not a stage, starts the path.
        resource = f"{base}*/*/{method}/*"
        why = (
            f"API Gateway authorizes IAM-auth requests as execute-api:Invoke; the host "
            f"{host[:80]!r} is not an execute-api endpoint, so the API and stage are '*'."
        )
        return [Authorization("execute-api:Invoke", resource, Confidence.TEMPLATE, why)]
    stage = segments[0] if segments else "*"
    rest = "".join(f"{s}/" for s in segments[1:])
    resource = f"{base}{match['id']}/{stage}/{method}/{rest}*"
    why = "API Gateway authorizes IAM-auth requests as execute-api:Invoke on the API, stage, method and path"
    return [Authorization("execute-api:Invoke", resource, Confidence.TEMPLATE, why + ".")]


def _neptune(base: str, method: str) -> list[Authorization]:
    resource = f"{base}*/*"
    if method in ("GET", "HEAD"):
        actions: tuple[str, ...] = ("neptune-db:ReadDataViaQuery",)
        why = "A GET query to Neptune reads data (neptune-db:ReadDataViaQuery)"
    else:
        actions = (
            "neptune-db:ReadDataViaQuery",
            "neptune-db:WriteDataViaQuery",
            "neptune-db:DeleteDataViaQuery",
        )
        why = (
            f"A {method} query to Neptune may read, write or delete, and the query text that "
            "would tell is not recorded"
        )
    why += "; the cluster's resource id is not in its host name, so it is '*'."
    return [Authorization(action, resource, Confidence.WILDCARD, why) for action in actions]
