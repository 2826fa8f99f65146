"""What the agent keeps of an AWS request: only the members that name resources.

What is kept of a request (:func:`identifying_params`): only members that
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
``Tags``, ``SourceIdentity``, ``PhoneNumber`` …) are kept as ``"*"``; flags that
change them (``WithDecryption``, ``publish``) as ``true``. EC2 ``TagSpecifications``
keep each entry's ``ResourceType``. Inside other structures and lists (EventBridge
targets, a Textract ``Document``, an Athena ``ResultConfiguration`` …) only IAM role
ARNs, ``s3://`` URIs (key cut to a prefix), S3 object references (``S3Object``:
bucket, key prefix, version), bucket names, key prefixes and KMS key ids are kept,
in their place, so the mapping finds the roles a call passes and the objects a
service reads for the caller; the walk is bounded (``_MAX_NODES`` members).
Maps (DynamoDB keys and items), bodies, attributes and every other member are
dropped.

The response facts of :data:`lambdaguard.recorded.RESPONSE_FACTS` are read
from botocore's parsed response by :mod:`lambdaguard.agent._facts`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lambdaguard import recorded

__all__ = ["identifying_params", "key_prefix"]

_NAMES = recorded.NAMES
_SES_SENDER = recorded.SES_SENDER
_PRESENCE = recorded.PRESENCE
_SUFFIXES = recorded.SUFFIXES
_EXCLUDED = recorded.EXCLUDED
_KEY_MEMBERS = recorded.KEY_MEMBERS
_FLAGS = recorded.FLAGS
_TAG_MEMBERS = recorded.TAG_MEMBERS
_S3_OBJECTS = recorded.S3_OBJECTS
_NESTED_BUCKETS = recorded.NESTED_BUCKETS
_NESTED_PREFIXES = recorded.NESTED_PREFIXES
_WALK_SKIP = recorded.WALK_SKIP
_MAX_VALUE = 512
_MAX_NODES = 256
_MAX_DEPTH = 8
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


def _role(text: str) -> bool:
    # arn:PARTITION:iam::ACCOUNT:role/NAME, checked without a regex (hot path).
    return (
        text.startswith("arn:")
        and ":iam::" in text
        and ":role/" in text
        and len(text) <= 2048
        and " " not in text
        and "\n" not in text
    )


def _s3_uri(text: str, depth: int, full: bool) -> str:
    bucket, _, key = text[5:].partition("/")
    return f"s3://{bucket}/{key_prefix(key, depth, full)}"


def _leaf(name: str, value: str, depth: int, full: bool) -> str | None:
    """What is kept of a string nested in a structure, or None."""
    if value.startswith("arn:"):
        keep = _role(value) or ("kms" in name.lower() and " " not in value)
        return value[:_MAX_VALUE] if keep else None
    if value.startswith("s3://"):
        return _s3_uri(value[:_MAX_VALUE], depth, full)
    if name in _NESTED_BUCKETS or "kms" in name.lower():
        return value[:_MAX_VALUE]
    if name in _NESTED_PREFIXES:
        return key_prefix(value, depth, full)
    return None


def _nested(value: object, depth: int, full: bool, budget: list[int], level: int) -> Any:
    """The kept part of a nested structure or list (None when nothing is kept)."""
    if level > _MAX_DEPTH or budget[0] <= 0:
        return None
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for name, item in value.items():
            budget[0] -= 1
            if budget[0] <= 0:
                break
            if not isinstance(name, str) or name in _WALK_SKIP:
                continue
            if name.lower() in _TAG_MEMBERS:
                if item:
                    out[name] = "*"  # tags at creation, nested (S3 CreateBucketConfiguration)
                continue
            if isinstance(item, str):
                kept = _leaf(name, item, depth, full)
                if kept is not None:
                    out[name] = kept
            elif name in _S3_OBJECTS and isinstance(item, Mapping):
                ref = _s3_object(item, depth, full)
                if ref:
                    out[name] = ref
            elif isinstance(item, (Mapping, list)):
                inner = _nested(item, depth, full, budget, level + 1)
                if inner:
                    out[name] = inner
        return out or None
    if isinstance(value, list):
        items: list[Any] = []
        for item in value[:100]:
            budget[0] -= 1
            if budget[0] <= 0:
                break
            if isinstance(item, str):
                if _role(item):
                    items.append(item[:_MAX_VALUE])
            else:
                inner = _nested(item, depth, full, budget, level + 1)
                if inner:
                    items.append(inner)
        return items or None
    return None


def _s3_object(value: Mapping[str, Any], depth: int, full: bool) -> dict[str, str]:
    # Textract / Rekognition S3Object: {Bucket, Name (the key), Version}.
    out: dict[str, str] = {}
    if isinstance(value.get("Bucket"), str):
        out["Bucket"] = value["Bucket"][:_MAX_VALUE]
    if isinstance(value.get("Name"), str):
        out["Name"] = key_prefix(value["Name"], depth, full)
    if isinstance(value.get("Version"), str):
        out["Version"] = value["Version"][:_MAX_VALUE]
    return out


def _tag_specifications(value: object) -> list[dict[str, str]]:
    # EC2: the resource types tagged at creation, never the tags.
    return [
        {"ResourceType": spec["ResourceType"][:64]}
        if isinstance(spec, Mapping) and isinstance(spec.get("ResourceType"), str)
        else {}
        for spec in (value[:50] if isinstance(value, list) else ())
    ]


def identifying_params(
    service: str, params: Mapping[str, Any], depth: int = 1, full_keys: bool = False
) -> dict[str, Any]:
    """The members of a request that name resources, reduced as the module docstring says."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name in _EXCLUDED:
            continue
        low = name.lower()
        if name in _KEY_MEMBERS:
            if service == "s3" and isinstance(value, str) and name != "Delimiter":
                out[name] = key_prefix(value, depth, full_keys)
            continue
        if name in _PRESENCE or name.startswith("Grant"):
            if value:
                out[name] = "*"
            continue
        if low in _TAG_MEMBERS:
            if value:
                out[name] = "*"
            continue
        if name in _FLAGS:
            if value is True:
                out[name] = True
            continue
        if name == "TagSpecifications":
            if value:
                out[name] = _tag_specifications(value)
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
        if name in _NAMES or low.endswith(_SUFFIXES):
            text = _string(value)
            if text is not None and low.endswith("url"):
                # A URL's query or fragment may carry tokens; the resource is in the path.
                text = text.split("?", 1)[0].split("#", 1)[0]
            if text is not None:
                out[name] = text
                continue
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                out[name] = [v[:_MAX_VALUE] for v in value[:100]]
                continue
        if isinstance(value, str):
            # A role passed under any name (Role, ServiceRole ...), an s3:// URI.
            if _role(value):
                out[name] = value[:_MAX_VALUE]
            elif value.startswith("s3://"):
                out[name] = _s3_uri(value[:_MAX_VALUE], depth, full_keys)
        elif isinstance(value, (Mapping, list)) and name not in _WALK_SKIP:
            inner = _nested(value, depth, full_keys, [_MAX_NODES], 1)
            if inner:
                out[name] = inner
    return out
