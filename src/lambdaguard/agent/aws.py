"""AWS API calls, seen where every botocore client makes them.

Two methods of ``botocore.client.BaseClient`` are wrapped, on the class, so a
client created before lambdaguard loaded is covered as well as one created
after, in the handler, at module level or in a worker thread:

- ``_make_api_call`` runs once per API call *around* botocore's retry loop,
  so one wrap sees the final outcome, ``ResponseMetadata.RetryAttempts`` and
  the total latency.
- ``_emit_api_params`` is also called by ``generate_presigned_url`` and
  ``generate_presigned_post`` with ``context["is_presign_request"]``: that is
  recorded as a signing event (the permission is used when the URL is used).

The patch is applied when the function's code first imports
``botocore.client`` (see :mod:`lambdaguard.agent._imports`).

What is kept of the request (:func:`identifying_params`): only members that
name a resource, in botocore's request shape, as compact sorted JSON.
Object keys (S3 ``Key``, ``Prefix``, ``CopySource``) are cut to their first
``depth`` directory segments, as a prefix ending in ``/`` (``"photos/2024/a.jpg"``
at depth 1 is ``"photos/"``; a key with no directory is ``""``); the last
segment, the object's own name, is never kept unless full keys are configured.
PartiQL statements become ``"VERB table"``; DynamoDB ``RequestItems`` become
``{"table": {}}``; ``TransactItems`` keep each item's kind and table name;
EventBridge ``Entries`` keep only ``EventBusName`` (``{}`` for the default bus).
S3 ``Delete`` keeps one ``{"Key": prefix}`` per distinct prefix. Members whose
mere presence changes the IAM actions (``Tagging``, ``ACL``, ``Grant*``,
``Tags``, ``SourceIdentity``, ``PhoneNumber`` …) are kept as ``"*"``. Maps (DynamoDB keys and
items), bodies, attributes and every other member are dropped.
"""

from __future__ import annotations

import json
import re
import sys
import time
import weakref
from collections.abc import Mapping
from types import ModuleType
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from lambdaguard.agent import _guard, _imports, network, recorder

__all__ = ["identifying_params", "install", "uninstall"]

_MARK = "__lambdaguard_original__"

# Top-level member names that identify a resource, beyond the suffix rules below.
_NAMES = frozenset(
    {
        "Bucket",
        "SecretId",
        "KeyId",
        "Qualifier",
        "QueueUrl",
        "Name",
        "Names",
        "Path",
        "GroupName",
        "Resource",
        "Id",
        "DestinationKeyId",
        "SourceKeyId",
        "Destination",
        "RegistryId",
        "repositoryName",
        "registryId",
        "clusterArn",
        "cluster",
        "AccessPointArn",
        "ConsumerARN",
        "Rule",
        "Identity",
        "EmailIdentity",
        "WorkGroup",
        "SecretIdList",
    }
)
# SES authorizes sending on the sender's identity (an address or its domain).
_SES_SENDER = frozenset({"Source", "FromEmailAddress"})
# Members whose presence (not value) changes what IAM authorizes: tagging,
# ACLs, session tags, source identity, SMS to a phone number. Kept as "*".
_PRESENCE = frozenset(
    {"Tagging", "ACL", "Tags", "TransitiveTagKeys", "SourceIdentity", "PhoneNumber"}
)
# Suffixes (compared case-insensitively) of member names that identify a
# resource: AWS APIs name resources *Arn, *Name, *Url, *Id(s), *Identifier.
_SUFFIXES = ("arn", "arns", "name", "names", "url", "id", "ids", "identifier")
# Members that look like identifiers by suffix but carry user data (people's
# names, file names) or options; none names a resource IAM authorizes on.
_EXCLUDED = frozenset(
    {
        "ContentDisposition",
        "SSECustomerKey",
        "PartitionKey",
        "ExplicitHashKey",
        "FileName",
        "Filename",
        "Username",
        "PreferredUsername",
        "FirstName",
        "LastName",
        "GivenName",
        "FamilyName",
        "FullName",
        "DisplayName",
        "Nickname",
        "HostName",
        # ids that name a message, a request or a person, not a resource
        "MessageGroupId",
        "MessageDeduplicationId",
        "ClientRequestId",
        "RequestId",
        "TraceId",
        "SessionId",
        "UserId",
        "CustomerId",
        "ContactId",
        "IdentityId",
        "DeviceId",
        "MessageId",
        "ReceiptHandle",
        "UploadId",
    }
)
_KEY_MEMBERS = frozenset({"Key", "Prefix", "StartAfter", "Delimiter"})
_MAX_VALUE = 512
# Patterns are kept as strings and compiled by re's own cache on first use:
# compiling at import would put them on every cold start's INIT path, and most
# functions never run a PartiQL statement.
_STATEMENT = (
    r"^\s*(?P<verb>[A-Za-z]+)\b.*?\b(?:FROM|INTO|UPDATE|EXISTS\s*\(\s*SELECT.*?FROM)\s+"
    r"(?P<table>\"[^\"]+\"(?:\.\"[^\"]+\")?|[A-Za-z0-9_.\-]+)"
)
_UPDATE = r"^\s*UPDATE\s+(?P<table>\"[^\"]+\"(?:\.\"[^\"]+\")?|[A-Za-z0-9_.\-]+)"


def key_prefix(key: str, depth: int, full: bool) -> str:
    """An object key cut to its first ``depth`` directory segments, each ending in ``/``."""
    if full:
        return key
    parts = key.split("/")
    kept = parts[: min(depth, len(parts) - 1)]
    return "".join(part + "/" for part in kept)


def _statement(statement: str) -> str:
    match = re.match(_UPDATE, statement, re.IGNORECASE) or re.match(
        _STATEMENT, statement, re.IGNORECASE | re.DOTALL
    )
    if match is None:
        verb = statement.strip().split(" ", 1)[0].upper()
        return verb if verb.isalpha() else ""
    verb = match.groupdict().get("verb") or "UPDATE"
    return f"{verb.upper()} {match.group('table')}"


def _string(value: object) -> str | None:
    if isinstance(value, str):
        return value[:_MAX_VALUE]
    return None


def _copy_source(value: object, depth: int, full: bool) -> object:
    if isinstance(value, str):
        bucket, _, rest = value.lstrip("/").partition("/")
        key, _, query = rest.partition("?")
        # "?versionId=" makes the read s3:GetObjectVersion: keep the marker.
        version = "?versionId=*" if query.startswith("versionId=") else ""
        return f"{bucket}/{key_prefix(key, depth, full)}{version}"
    if isinstance(value, Mapping):
        out: dict[str, str] = {}
        if isinstance(value.get("Bucket"), str):
            out["Bucket"] = value["Bucket"]
        if isinstance(value.get("Key"), str):
            out["Key"] = key_prefix(value["Key"], depth, full)
        if isinstance(value.get("VersionId"), str):
            out["VersionId"] = value["VersionId"][:_MAX_VALUE]
        return out
    return None


def _delete_objects(value: object, depth: int, full: bool) -> dict[str, list[dict[str, str]]]:
    # S3 DeleteObjects: one entry per distinct key prefix (and version marker).
    objects = value.get("Objects") if isinstance(value, Mapping) else None
    seen: dict[tuple[str, bool], dict[str, str]] = {}
    for entry in objects[:1000] if isinstance(objects, list) else ():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("Key"), str):
            continue
        prefix = key_prefix(entry["Key"], depth, full)
        versioned = isinstance(entry.get("VersionId"), str)
        item = {"Key": prefix, **({"VersionId": "*"} if versioned else {})}
        seen.setdefault((prefix, versioned), item)
    return {"Objects": list(seen.values())}


def _transact(items: object) -> list[dict[str, dict[str, str]]]:
    out: list[dict[str, dict[str, str]]] = []
    if not isinstance(items, list):
        return out
    for item in items:
        if not isinstance(item, Mapping):
            continue
        for kind, body in item.items():
            if isinstance(body, Mapping) and isinstance(body.get("TableName"), str):
                out.append({str(kind): {"TableName": body["TableName"]}})
    return out


def identifying_params(
    service: str, params: Mapping[str, Any], depth: int = 1, full_keys: bool = False
) -> dict[str, Any]:
    """The members of a request that name resources, reduced as the module docstring says."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name in _EXCLUDED:
            continue
        if name in _KEY_MEMBERS:
            if service == "s3" and isinstance(value, str) and name != "Delimiter":
                out[name] = key_prefix(value, depth, full_keys)
            continue
        if name in _PRESENCE or name.startswith("Grant"):
            if value:
                out[name] = "*"
            continue
        if name == "Delete" and service == "s3":
            out[name] = _delete_objects(value, depth, full_keys)
            continue
        if name in _SES_SENDER and service in ("ses", "sesv2"):
            text = _string(value)
            if text is not None:
                out[name] = text
            continue
        if name == "CopySource":
            reduced = _copy_source(value, depth, full_keys)
            if reduced:
                out[name] = reduced
            continue
        if name == "RequestItems" and isinstance(value, Mapping):
            out[name] = {str(table): {} for table in value}
            continue
        if name == "TransactItems":
            out[name] = _transact(value)
            continue
        if name == "Statement" and isinstance(value, str):
            out[name] = _statement(value)
            continue
        if name in ("Statements", "TransactStatements") and isinstance(value, list):
            out[name] = [
                {"Statement": _statement(s["Statement"])}
                for s in value
                if isinstance(s, Mapping) and isinstance(s.get("Statement"), str)
            ]
            continue
        if name == "Entries" and isinstance(value, list):
            out[name] = [
                {"EventBusName": e["EventBusName"]}
                if isinstance(e, Mapping) and isinstance(e.get("EventBusName"), str)
                else {}
                for e in value[:10]
            ]
            continue
        low = name.lower()
        if name in _NAMES or low.endswith(_SUFFIXES):
            text = _string(value)
            if text is not None and low.endswith("url"):
                # A URL's query or fragment may carry tokens; the resource is in the path.
                text = text.split("?", 1)[0].split("#", 1)[0]
            if text is not None:
                out[name] = text
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                out[name] = [v[:_MAX_VALUE] for v in value[:100]]
    return out


def _endpoint(url: str | None) -> tuple[str, str, int]:
    if not url:
        return "", "", 0
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    netloc = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{netloc}", host, port


class _Pending(NamedTuple):
    rec: recorder.Recording
    service: str
    service_id: str
    operation: str
    region: str
    endpoint: str
    params: str
    t0: int


_settings = {"depth": 1, "full": False}
# Compact sorted JSON, as json.dumps(sort_keys=True, separators=(",", ":"))
# gives, without building an encoder on every call (this runs in the call).
_PARAMS_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


# A client's service, region and endpoint never change after it is created:
# computed once per client (a weak map, so clients are not kept alive).
_clients: weakref.WeakKeyDictionary[Any, tuple[str, str, str, str]] = weakref.WeakKeyDictionary()


def _client_facts(client: Any) -> tuple[str, str, str, str]:
    facts = _clients.get(client)
    if facts is None:
        meta = client.meta
        model = meta.service_model
        endpoint, host, port = _endpoint(meta.endpoint_url)
        if host:
            network.mark_aws(host, port)
        facts = (
            str(model.service_name),
            str(model.service_id),
            str(meta.region_name or ""),
            endpoint,
        )
        _clients[client] = facts
    return facts


def _describe(client: Any, operation: str, params: Any, rec: recorder.Recording) -> _Pending:
    service, service_id, region, endpoint = _client_facts(client)
    reduced = identifying_params(
        service,
        params if isinstance(params, Mapping) else {},
        int(_settings["depth"]),
        bool(_settings["full"]),
    )
    return _Pending(
        rec=rec,
        service=service,
        service_id=service_id,
        operation=operation,
        region=region,
        endpoint=endpoint,
        params=_PARAMS_JSON.encode(reduced) if reduced else "{}",
        t0=time.time_ns(),
    )


def _meta(response: Any) -> tuple[int, str, int]:
    if not isinstance(response, Mapping):
        return 0, "", 0
    meta = response.get("ResponseMetadata")
    if not isinstance(meta, Mapping):
        return 0, "", 0
    return (
        int(meta.get("HTTPStatusCode") or 0),
        str(meta.get("RequestId") or ""),
        int(meta.get("RetryAttempts") or 0),
    )


def _finish(pending: _Pending, result: Any, exc: BaseException | None) -> None:
    end = time.time_ns()
    error_code = ""
    kms = version = ""
    if exc is None:
        status, request_id, retries = _meta(result)
        if isinstance(result, Mapping):
            kms = str(result.get("SSEKMSKeyId") or "")
            version = str(result.get("VersionId") or "")
    else:
        response = getattr(exc, "response", None)
        status, request_id, retries = _meta(response)
        error = response.get("Error") if isinstance(response, Mapping) else None
        code = error.get("Code") if isinstance(error, Mapping) else None
        error_code = str(code) if code else type(exc).__name__
    pending.rec.add_call(
        recorder.AwsCall(
            service=pending.service,
            service_id=pending.service_id,
            operation=pending.operation,
            region=pending.region,
            endpoint=pending.endpoint,
            params=pending.params,
            start_ns=pending.t0,
            end_ns=end,
            status=status,
            request_id=request_id,
            error_code=error_code,
            kms_key_id=kms,
            version_id=version,
            retries=retries,
        )
    )


def _presigned(client: Any, params: Any, operation_model: Any, caller: str) -> None:
    rec = recorder.current()
    if rec is None:
        return
    operation = str(operation_model.name)
    if caller == "generate_presigned_post":
        # botocore serialises a presigned POST through the CreateBucket model;
        # the permission the URL will exercise is s3:PutObject on the bucket.
        operation = "PutObject"
    pending = _describe(client, operation, params, rec)
    rec.add_call(
        recorder.AwsCall(
            service=pending.service,
            service_id=pending.service_id,
            operation=operation,
            region=pending.region,
            endpoint=pending.endpoint,
            params=pending.params,
            start_ns=pending.t0,
            end_ns=pending.t0,
            presign=True,
        )
    )


def _start(client: Any, operation: str, params: Any) -> _Pending | None:
    rec = recorder.current()
    if rec is None:
        return None
    return _describe(client, operation, params, rec)


def _patch(module: ModuleType) -> None:
    base = module.BaseClient
    if getattr(base._make_api_call, _MARK, None) is not None:
        return  # already installed: installing twice must not wrap twice
    original_call = base._make_api_call
    original_emit = base._emit_api_params

    def _make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
        pending = _guard.safe("aws.start", _start, self, operation_name, api_params, default=None)
        if pending is None:
            return original_call(self, operation_name, api_params)
        try:
            result = original_call(self, operation_name, api_params)
        except BaseException as exc:
            _guard.safe("aws.finish", _finish, pending, None, exc, default=None)
            raise
        _guard.safe("aws.finish", _finish, pending, result, None, default=None)
        return result

    def _emit_api_params(self: Any, api_params: Any, operation_model: Any, context: Any) -> Any:
        result = original_emit(self, api_params, operation_model, context)
        if isinstance(context, Mapping) and context.get("is_presign_request"):
            caller = sys._getframe(1).f_code.co_name
            _guard.safe(
                "aws.presign", _presigned, self, result, operation_model, caller, default=None
            )
        return result

    setattr(_make_api_call, _MARK, original_call)
    setattr(_emit_api_params, _MARK, original_emit)
    base._make_api_call = _make_api_call
    base._emit_api_params = _emit_api_params


def install(key_prefix_depth: int = 1, record_full_keys: bool = False) -> None:
    """Record every botocore call from now on (idempotent; defers until botocore is imported)."""
    _settings["depth"] = key_prefix_depth
    _settings["full"] = record_full_keys
    _imports.when_imported("botocore.client", _patch)


def uninstall() -> None:
    """Put botocore back as it was (idempotent)."""
    module = sys.modules.get("botocore.client")
    if module is None:
        return
    base = module.BaseClient
    for name in ("_make_api_call", "_emit_api_params"):
        original = getattr(getattr(base, name), _MARK, None)
        if original is not None:
            setattr(base, name, original)
