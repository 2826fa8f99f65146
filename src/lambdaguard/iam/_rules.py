"""Hand-written rules for operations that do not map 1:1 to an IAM action by name.

Every rule here is derived from AWS documentation (the "Permissions" section
of each API reference page, the S3 "Required permissions for Amazon S3 API
operations" page, and the DynamoDB PartiQL and transaction permission pages)
and has a test in ``tests/iam/``. Tables are written from those pages, not
copied from any other project's mapping file.

Four kinds of knowledge live here:

- :data:`RENAMES`: the operation is authorized by one differently named action.
- :data:`PERMISSION_FREE`: AWS authorizes the operation with no IAM action.
- :data:`RULES`: the actions depend on the parameters (versions, batches,
  transactions, PartiQL, copies, multi-object deletes).
- :data:`PREPARERS`: per-service parsing of identifiers that are not plain
  names (queue URLs, partial function ARNs, secret names, SSM parameter
  names, object key prefixes, KMS key ids and aliases).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from lambdaguard.iam._arns import parse_arn, usable
from lambdaguard.iam._authorize import Call, authorize, unscoped
from lambdaguard.iam._model import Authorization, Confidence

__all__ = ["PERMISSION_FREE", "PREPARERS", "RENAMES", "RULES", "RULE_ACTIONS", "Prepared"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a service's preparer learned from identifiers that are not plain names."""

    values: dict[str, str] = field(default_factory=dict)
    note: str | None = None
    arn: str | None = None
    blocked: str | None = None  # why no resource can be named: the result is "*"


Rule = Callable[[Call], list[Authorization]]
RULES: dict[tuple[str, str], Rule] = {}
# Every action a rule may emit (the coverage report and the action-walk test read it).
RULE_ACTIONS: dict[tuple[str, str], tuple[str, ...]] = {}


def _rule(
    service: str, operations: Iterable[str], actions: tuple[str, ...]
) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for op in operations:
            RULES[(service, op)] = fn
            RULE_ACTIONS[(service, op)] = actions
        return fn

    return register


# -- renamed actions ----------------------------------------------------------------
# (botocore service, operation) -> the one IAM action AWS evaluates.
RENAMES: dict[tuple[str, str], str] = {
    # S3: "Required permissions for Amazon S3 API operations". Deleting a bucket
    # sub-configuration is authorized by the Put action of that configuration.
    ("s3", "CompleteMultipartUpload"): "s3:PutObject",
    ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject",
    ("s3", "SelectObjectContent"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "ListMultipartUploads"): "s3:ListBucketMultipartUploads",
    ("s3", "ListParts"): "s3:ListMultipartUploadParts",
    ("s3", "ListDirectoryBuckets"): "s3express:ListAllMyDirectoryBuckets",
    ("s3", "CreateSession"): "s3express:CreateSession",
    # RenameObject exists only for directory buckets, whose zonal endpoint
    # calls are authorized by the session CreateSession opens.
    ("s3", "RenameObject"): "s3express:CreateSession",
    ("s3", "WriteGetObjectResponse"): "s3-object-lambda:WriteGetObjectResponse",
    ("s3", "CreateBucketMetadataConfiguration"): "s3:CreateBucketMetadataTableConfiguration",
    ("s3", "DeleteBucketMetadataConfiguration"): "s3:DeleteBucketMetadataTableConfiguration",
    ("s3", "GetBucketMetadataConfiguration"): "s3:GetBucketMetadataTableConfiguration",
    ("s3", "DeleteBucketAnalyticsConfiguration"): "s3:PutAnalyticsConfiguration",
    ("s3", "DeleteBucketCors"): "s3:PutBucketCORS",
    ("s3", "DeleteBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "DeleteBucketIntelligentTieringConfiguration"): "s3:PutIntelligentTieringConfiguration",
    ("s3", "DeleteBucketInventoryConfiguration"): "s3:PutInventoryConfiguration",
    ("s3", "DeleteBucketLifecycle"): "s3:PutLifecycleConfiguration",
    ("s3", "DeleteBucketMetricsConfiguration"): "s3:PutMetricsConfiguration",
    ("s3", "DeleteBucketOwnershipControls"): "s3:PutBucketOwnershipControls",
    ("s3", "DeleteBucketReplication"): "s3:PutReplicationConfiguration",
    ("s3", "DeleteBucketTagging"): "s3:PutBucketTagging",
    ("s3", "DeletePublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "GetBucketAccelerateConfiguration"): "s3:GetAccelerateConfiguration",
    ("s3", "GetBucketAnalyticsConfiguration"): "s3:GetAnalyticsConfiguration",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "GetBucketIntelligentTieringConfiguration"): "s3:GetIntelligentTieringConfiguration",
    ("s3", "GetBucketInventoryConfiguration"): "s3:GetInventoryConfiguration",
    ("s3", "GetBucketLifecycle"): "s3:GetLifecycleConfiguration",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3", "GetBucketMetricsConfiguration"): "s3:GetMetricsConfiguration",
    ("s3", "GetBucketNotificationConfiguration"): "s3:GetBucketNotification",
    ("s3", "GetBucketReplication"): "s3:GetReplicationConfiguration",
    ("s3", "GetObjectLockConfiguration"): "s3:GetBucketObjectLockConfiguration",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "ListBucketAnalyticsConfigurations"): "s3:GetAnalyticsConfiguration",
    ("s3", "ListBucketIntelligentTieringConfigurations"): "s3:GetIntelligentTieringConfiguration",
    ("s3", "ListBucketInventoryConfigurations"): "s3:GetInventoryConfiguration",
    ("s3", "ListBucketMetricsConfigurations"): "s3:GetMetricsConfiguration",
    ("s3", "PutBucketAccelerateConfiguration"): "s3:PutAccelerateConfiguration",
    ("s3", "PutBucketAnalyticsConfiguration"): "s3:PutAnalyticsConfiguration",
    ("s3", "PutBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "PutBucketIntelligentTieringConfiguration"): "s3:PutIntelligentTieringConfiguration",
    ("s3", "PutBucketInventoryConfiguration"): "s3:PutInventoryConfiguration",
    ("s3", "PutBucketLifecycle"): "s3:PutLifecycleConfiguration",
    ("s3", "PutBucketLifecycleConfiguration"): "s3:PutLifecycleConfiguration",
    ("s3", "PutBucketMetricsConfiguration"): "s3:PutMetricsConfiguration",
    ("s3", "PutBucketNotificationConfiguration"): "s3:PutBucketNotification",
    ("s3", "PutBucketReplication"): "s3:PutReplicationConfiguration",
    ("s3", "PutObjectLockConfiguration"): "s3:PutBucketObjectLockConfiguration",
    ("s3", "PutPublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    # Lambda: Invoke and its streaming form are authorized as lambda:InvokeFunction.
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("lambda", "InvokeWithResponseStream"): "lambda:InvokeFunction",
    ("lambda", "GetLayerVersionByArn"): "lambda:GetLayerVersion",
    # SQS and SNS batch APIs are authorized by the single-message action.
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("sns", "PublishBatch"): "sns:Publish",
    # API Gateway WebSocket management API: one action for all three operations.
    ("apigatewaymanagementapi", "PostToConnection"): "execute-api:ManageConnections",
    ("apigatewaymanagementapi", "GetConnection"): "execute-api:ManageConnections",
    ("apigatewaymanagementapi", "DeleteConnection"): "execute-api:ManageConnections",
    # DynamoDB: TransactGetItems needs GetItem per item (rule below); these are renames.
    # AWS Budgets: the Service Authorization Reference says its actions "are not
    # APIs": ViewBudget grants viewing budgets and their details (notifications,
    # subscribers, history), ModifyBudget changing them.
    **{
        ("budgets", op): "budgets:ModifyBudget"
        for op in (
            "CreateBudget",
            "UpdateBudget",
            "DeleteBudget",
            "CreateNotification",
            "UpdateNotification",
            "DeleteNotification",
            "CreateSubscriber",
            "UpdateSubscriber",
            "DeleteSubscriber",
        )
    },
    **{
        ("budgets", op): "budgets:ViewBudget"
        for op in (
            "DescribeBudget",
            "DescribeBudgets",
            "DescribeBudgetPerformanceHistory",
            "DescribeBudgetNotificationsForAccount",
            "DescribeNotificationsForBudget",
            "DescribeSubscribersForNotification",
        )
    },
    # Timestream's Query API: the Service Authorization Reference links four
    # actions to it (Select for "select from table" queries, SelectValues for
    # "select 1", Unload, ListMeasures); the query text, which decides, is not
    # recorded, so the common one is named.
    ("timestream-query", "Query"): "timestream:Select",
    # IoT secure tunneling and the IoT data plane live under the iot prefix.
    ("iotsecuretunneling", "OpenTunnel"): "iot:OpenTunnel",
}

# (botocore service, operation) -> why AWS authorizes it with no IAM action.
PERMISSION_FREE: dict[tuple[str, str], str] = {
    ("sts", "GetCallerIdentity"): (
        "STS GetCallerIdentity needs no permission; an explicit deny does not stop it."
    ),
    ("sts", "GetSessionToken"): (
        "STS GetSessionToken is an authentication operation; policies cannot control it."
    ),
}


# -- preparers: identifiers that are not plain names -------------------------------------


def _str(params: Mapping[str, Any], key: str) -> str | None:
    value = params.get(key)
    return value if isinstance(value, str) and usable(value) is None else None


def _s3_object_name(key: str) -> tuple[str, str | None]:
    # The agent cuts keys to a prefix ending in "/" by default (and to "" for
    # a key with no directory); the ARN then covers every object under it.
    if key == "":
        return "*", "The object key was not recorded, so the ARN covers every object in the bucket."
    if key.endswith("/"):
        return (
            key + "*",
            f"The object key was recorded as the prefix {key!r}, so the ARN covers it.",
        )
    return key, None


def _prepare_s3(call: Call) -> Prepared:
    raw = call.params.get("Key")
    key = "" if raw == "" else _str(call.params, "Key")
    bucket = _str(call.params, "Bucket")
    if key is None:
        return Prepared()
    name, note = _s3_object_name(key)
    bucket_arn = parse_arn(bucket) if bucket else None
    if bucket_arn is not None and bucket_arn.resource.startswith("accesspoint/"):
        # Object requests through an access point are authorized on
        # arn:...:accesspoint/NAME/object/KEY.
        return Prepared({"ObjectName": name}, note, f"{bucket}/object/{name}")
    return Prepared({"ObjectName": name}, note)


_QUEUE_HOST = re.compile(
    r"^(?:sqs\.(?P<r1>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?|(?P<r2>[a-z0-9-]+)\.queue\.amazonaws\.com(?:\.cn)?|queue\.amazonaws\.com)$"
)


def _queue_from_url(url: str, call: Call) -> Prepared | None:
    """``https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`` -> queue name, account, region."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    path = [p for p in parts.path.split("/") if p]
    if len(path) != 2 or not re.fullmatch(r"\d{12}", path[0]) or usable(path[1]) is not None:
        return None
    values = {"QueueName": unquote(path[1]), "Account": path[0]}
    host = (parts.hostname or "").lower()
    m = _QUEUE_HOST.match(host)
    if m and (m.group("r1") or m.group("r2")):
        values["Region"] = m.group("r1") or m.group("r2")
    # Any other host (a VPC endpoint, a local stand-in) leaves the call's region.
    return Prepared(values)


def _prepare_sqs(call: Call) -> Prepared:
    url = _str(call.params, "QueueUrl")
    if url is not None:
        return _queue_from_url(url, call) or Prepared()
    owner = _str(call.params, "QueueOwnerAWSAccountId")
    if owner is not None and re.fullmatch(r"\d{12}", owner):
        return Prepared({"Account": owner})
    return Prepared()


_FUNCTION = re.compile(
    r"^(?:arn:(?P<partition>[^:]+):lambda:(?P<region>[a-z0-9-]+):)?"
    r"(?:(?P<account>\d{12}):function:)?(?P<name>[A-Za-z0-9_-]{1,140})(?::(?P<qualifier>\$LATEST|[A-Za-z0-9_-]{1,128}))?$"
)


def _prepare_lambda(call: Call) -> Prepared:
    raw = _str(call.params, "FunctionName")
    if raw is None:
        return Prepared()
    m = _FUNCTION.match(raw)
    if m is None:
        return Prepared()
    values = {"FunctionName": m.group("name")}
    if m.group("account"):
        values["Account"] = m.group("account")
    if m.group("region"):
        values["Region"] = m.group("region")
    if m.group("partition"):
        values["Partition"] = m.group("partition")
    qualifier = m.group("qualifier") or _str(call.params, "Qualifier")
    if qualifier and re.fullmatch(r"\$LATEST|[A-Za-z0-9_-]{1,128}", qualifier):
        arn = (
            f"arn:{values.get('Partition', call.partition)}:lambda:"
            f"{values.get('Region', call.region)}:{values.get('Account', call.account)}:"
            f"function:{values['FunctionName']}:{qualifier}"
        )
        return Prepared(values, None, arn)
    return Prepared(values)


_SECRET_NOTE = (
    "Secrets Manager appends six random characters to a secret's ARN, "  # noqa: S105 - prose, not a password
    "so the ARN ends in '-??????'."
)


_SUFFIXED = re.compile(r"-[A-Za-z0-9]{6}$")


def _secret(value: str) -> Prepared:
    if _SUFFIXED.search(value):
        # "db-AbCdEf" may be a name or a name with its random suffix already
        # (a partial ARN); "db-AbCdEf*" covers both.
        return Prepared(
            {"SecretId": f"{value}*"},
            "The secret id may already end in the six random characters of its ARN, "
            "so the ARN ends in '*'.",
        )
    return Prepared({"SecretId": f"{value}-??????"}, _SECRET_NOTE)


def _secret_arn(value: str) -> Prepared:
    """A secret ARN given without its random suffix (a partial ARN) still needs '-??????'.

    Secrets Manager API reference (SecretId): "For an ARN, we recommend that
    you specify a complete ARN rather than a partial ARN"; a partial ARN
    (without the six characters AWS appends) finds the secret, but IAM
    evaluates the complete ARN, so the grant must allow the suffix.
    """
    arn = parse_arn(value)
    if arn is None or arn.service != "secretsmanager" or not arn.resource.startswith("secret:"):
        return Prepared()
    if _SUFFIXED.search(arn.resource):
        return Prepared()
    return Prepared(
        arn=f"{value}-??????",
        note="The secret ARN was given without its six random characters (a partial ARN), "
        "so the ARN ends in '-??????'.",
    )


def _prepare_secretsmanager(call: Call) -> Prepared:
    raw = _str(call.params, "SecretId") or _str(call.params, "Name")
    if raw is None:
        return Prepared()
    if raw.startswith("arn:"):
        return _secret_arn(raw)
    return _secret(raw)


def _ssm_name(value: str) -> str:
    # GetParameter accepts "name:version" and "name:label" selectors; the ARN
    # names the parameter without them. A leading slash is not part of the ARN
    # (arn:...:parameter/a/b for "/a/b", arn:...:parameter/a for "a").
    return value.split(":", 1)[0].lstrip("/")


def _prepare_ssm(call: Call) -> Prepared:
    raw = _str(call.params, "Name") or _str(call.params, "Path")
    if raw is None or raw.startswith("arn:"):
        return Prepared()
    name = _ssm_name(raw)
    return Prepared({"ParameterNameWithoutLeadingSlash": name}) if name else Prepared()


_KEY_ID = re.compile(
    r"^(?:mrk-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|^mrk-[0-9a-f]{32}$"
)


def _prepare_kms(call: Call) -> Prepared:
    # Cryptographic operations report the key ARN they used in the response.
    used = call.response.get("KeyId")
    if isinstance(used, str) and parse_arn(used) is not None:
        return Prepared(arn=used)
    values: dict[str, str] = {}
    alias = _str(call.params, "AliasName")
    if alias is not None and alias.startswith("alias/") and len(alias) > 6:
        # Alias ARNs are arn:...:alias/NAME; AliasName carries the "alias/" prefix.
        values["Alias"] = alias.removeprefix("alias/")
    target = _str(call.params, "TargetKeyId")
    if target is not None and _KEY_ID.match(target):
        values["KeyId"] = target
    raw = _str(call.params, "KeyId")
    if raw is None:
        return Prepared(values)
    if _KEY_ID.match(raw):
        return Prepared({**values, "KeyId": raw})
    if raw.startswith("alias/") or ":alias/" in raw:
        # Key policies and IAM policies are evaluated on the key an alias
        # points to; the alias itself is not the resource of a cryptographic
        # operation, and the request does not say which key it is.
        return Prepared(
            blocked=f"The request names the alias {raw[:80]!r}; AWS authorizes on the key it points to, which the request does not name"
        )
    return Prepared()


# Cross-region inference profile ids start with a geography ("us.", "eu." ...).
_PROFILE = re.compile(r"^(?:us|eu|apac|ap|jp|au|ca|us-gov|global)\.[a-z0-9-]+\.")


def _prepare_bedrock(call: Call) -> Prepared:
    raw = _str(call.params, "modelId")
    if raw is None or raw.startswith("arn:"):
        return Prepared()
    if _PROFILE.match(raw):
        return Prepared(
            arn=f"arn:{call.partition}:bedrock:{call.region}:{call.account}:inference-profile/{raw}",
            note="The model id names a cross-region inference profile.",
        )
    if re.fullmatch(r"[a-z0-9-]+\.[A-Za-z0-9._:-]+", raw):
        # Foundation model ids are "provider.model-version"; their ARN has no account.
        return Prepared(arn=f"arn:{call.partition}:bedrock:{call.region}::foundation-model/{raw}")
    return Prepared()


def _prepare_iot_data(call: Call) -> Prepared:
    topic = _str(call.params, "topic")
    values = {}
    if topic is not None:
        values["TopicName"] = topic
    thing = _str(call.params, "thingName")
    if thing is not None:
        values["ThingName"] = thing
    return Prepared(values)


def _prepare_apigw_management(call: Call) -> Prepared:
    # The API id and stage are in the endpoint host, which is not a request
    # member; AWS evaluates arn:...:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/@connections/ID.
    method = {"PostToConnection": "POST", "GetConnection": "GET", "DeleteConnection": "DELETE"}
    verb = method.get(call.operation, "*")
    return Prepared(
        arn=f"arn:{call.partition}:execute-api:{call.region}:{call.account}:*/*/{verb}/@connections/*",
        note="The API id and stage are in the endpoint, not the request, so they are '*'.",
    )


def _prepare_events(call: Call) -> Prepared:
    # Rules on the default bus have ARNs without the bus name
    # (rule/NAME); rules on other buses include it (rule/BUS/NAME).
    rule = _str(call.params, "Rule") or (
        _str(call.params, "Name") if "Rule" in call.operation else None
    )
    bus = call.params.get("EventBusName")
    if rule is None or rule.startswith("arn:") or bus not in (None, "default"):
        return Prepared()
    return Prepared(arn=f"arn:{call.partition}:events:{call.region}:{call.account}:rule/{rule}")


def _prepare_dynamodb(call: Call) -> Prepared:
    # DynamoDB accepts a table ARN wherever it takes a TableName; an index
    # under it is then that ARN + "/index/NAME".
    arn = parse_arn(call.params.get("TableName"))
    if arn is None or arn.service != "dynamodb" or not arn.resource.startswith("table/"):
        return Prepared()
    table = arn.resource.removeprefix("table/").split("/", 1)[0]
    return Prepared(
        {
            "TableName": table,
            "Partition": arn.partition,
            "Region": arn.region,
            "Account": arn.account,
        }
    )


_TASK_DEFINITION = re.compile(r"^(?P<family>[A-Za-z0-9_-]{1,255})(?::(?P<revision>\d{1,10}))?$")


def _prepare_ecs(call: Call) -> Prepared:
    # taskDefinition is "family:revision", "family" (the latest ACTIVE
    # revision, so any revision: "*") or a full ARN.
    raw = _str(call.params, "taskDefinition")
    m = _TASK_DEFINITION.match(raw) if raw is not None else None
    if m is None:
        return Prepared()
    values = {"TaskDefinitionFamilyName": m.group("family")}
    if m.group("revision"):
        values["TaskDefinitionRevisionNumber"] = m.group("revision")
        return Prepared(values)
    values["TaskDefinitionRevisionNumber"] = "*"
    return Prepared(
        values,
        "The task definition was named by family only (its latest revision), so the revision is '*'.",
    )


# IAM placeholder -> the request member naming it without its path.
_IAM_PATHED = {
    "RoleNameWithPath": "RoleName",
    "UserNameWithPath": "UserName",
    "GroupNameWithPath": "GroupName",
    "InstanceProfileNameWithPath": "InstanceProfileName",
    "CertificateNameWithPath": "ServerCertificateName",
}


def _prepare_iam(call: Call) -> Prepared:
    # IAM APIs take names without their path (RoleName "app"), but the ARN
    # includes it (role/service-role/app); the path is not in the request, so
    # the ARN allows any: role/*app.
    values = {}
    for variable, member in _IAM_PATHED.items():
        name = _str(call.params, member)
        if name is not None and "/" not in name:
            values[variable] = f"*{name}"
    if not values:
        return Prepared()
    return Prepared(
        values, "IAM names may sit under a path the request does not carry, so the ARN allows any."
    )


PREPARERS: dict[str, Callable[[Call], Prepared]] = {
    "iam": _prepare_iam,
    "ecs": _prepare_ecs,
    "dynamodb": _prepare_dynamodb,
    "events": _prepare_events,
    "s3": _prepare_s3,
    "sqs": _prepare_sqs,
    "lambda": _prepare_lambda,
    "secretsmanager": _prepare_secretsmanager,
    "ssm": _prepare_ssm,
    "kms": _prepare_kms,
    "iot-data": _prepare_iot_data,
    "bedrock-runtime": _prepare_bedrock,
    "apigatewaymanagementapi": _prepare_apigw_management,
}


def authorize_prepared(call: Call, action: str, **overrides: Any) -> list[Authorization]:
    """Grant ``action`` with the service's preparer applied (``overrides`` win)."""
    preparer = PREPARERS.get(call.service)
    prep = preparer(call) if preparer else Prepared()
    if prep.blocked is not None and "arn" not in overrides:
        return [unscoped(action, prep.blocked + ".")]
    kwargs: dict[str, Any] = {"values": prep.values, "note": prep.note, "arn": prep.arn}
    kwargs.update(overrides)
    return authorize(call, action, **kwargs)


def _sub(call: Call, params: Mapping[str, Any]) -> Call:
    return Call(
        call.service,
        call.prefix,
        call.operation,
        params,
        call.region,
        call.account,
        call.partition,
        call.response,
    )


# -- S3 ---------------------------------------------------------------------------

# Operations whose action changes when the request names an object version.
_S3_VERSIONED = {
    "GetObject": ("s3:GetObject", "s3:GetObjectVersion"),
    "HeadObject": ("s3:GetObject", "s3:GetObjectVersion"),
    "DeleteObject": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
    "GetObjectAcl": ("s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
    "PutObjectAcl": ("s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
    "GetObjectTagging": ("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
    "PutObjectTagging": ("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
    "DeleteObjectTagging": ("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
}


def _has_version(params: Mapping[str, Any]) -> bool:
    return isinstance(params.get("VersionId"), str) and bool(params.get("VersionId"))


@_rule("s3", _S3_VERSIONED, tuple(a for pair in _S3_VERSIONED.values() for a in pair))
def _s3_versioned(call: Call) -> list[Authorization]:
    plain, versioned = _S3_VERSIONED[call.operation]
    return authorize_prepared(call, versioned if _has_version(call.params) else plain)


@_rule(
    "s3",
    ["GetObjectAttributes"],
    (
        "s3:GetObject",
        "s3:GetObjectAttributes",
        "s3:GetObjectVersion",
        "s3:GetObjectVersionAttributes",
    ),
)
def _s3_object_attributes(call: Call) -> list[Authorization]:
    # GetObjectAttributes needs read access to the object and the attributes action.
    if _has_version(call.params):
        pair = ("s3:GetObjectVersion", "s3:GetObjectVersionAttributes")
    else:
        pair = ("s3:GetObject", "s3:GetObjectAttributes")
    return [a for action in pair for a in authorize_prepared(call, action)]


def _copy_source(call: Call) -> tuple[dict[str, Any], bool] | None:
    """The source bucket, key and version of CopyObject / UploadPartCopy."""
    raw = call.params.get("CopySource")
    version = False
    if isinstance(raw, Mapping):
        bucket, key = raw.get("Bucket"), raw.get("Key")
        version = isinstance(raw.get("VersionId"), str)
    elif isinstance(raw, str):
        text, _, query = raw.partition("?")
        text = unquote(text).lstrip("/")
        bucket, _, key = text.partition("/")
        version = query.startswith("versionId=")
    else:
        return None
    # The agent records "bucket/prefix/" (or "bucket/" for a key with no
    # directory): the key part may be a prefix or empty.
    if not isinstance(bucket, str) or not isinstance(key, str) or not bucket:
        return None
    return {"Bucket": bucket, "Key": key}, version


@_rule("s3", ["PutObject"], ("s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectAcl"))
def _s3_put(call: Call) -> list[Authorization]:
    # Uploading with a tag set also needs s3:PutObjectTagging, and with an ACL
    # s3:PutObjectAcl (S3 API reference, PutObject "Permissions").
    out = authorize_prepared(call, "s3:PutObject")
    if call.params.get("Tagging"):
        out += authorize_prepared(call, "s3:PutObjectTagging")
    if call.params.get("ACL") or any(str(k).startswith("Grant") for k in call.params):
        out += authorize_prepared(call, "s3:PutObjectAcl")
    return out


@_rule(
    "s3", ["CopyObject", "UploadPartCopy"], ("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject")
)
def _s3_copy(call: Call) -> list[Authorization]:
    # Read on the source object, write on the destination object.
    out: list[Authorization] = []
    source = _copy_source(call)
    if source is None:
        out.append(unscoped("s3:GetObject", "The copy source was not recorded."))
    else:
        params, version = source
        action = "s3:GetObjectVersion" if version else "s3:GetObject"
        out += authorize_prepared(_sub(call, params), action)
    out += authorize_prepared(call, "s3:PutObject")
    return out


@_rule("s3", ["DeleteObjects"], ("s3:DeleteObject", "s3:DeleteObjectVersion"))
def _s3_delete_objects(call: Call) -> list[Authorization]:
    # Multi-object delete is authorized per object as DeleteObject (or
    # DeleteObjectVersion for entries naming a version).
    delete = call.params.get("Delete")
    objects = delete.get("Objects") if isinstance(delete, Mapping) else None
    if not isinstance(objects, list) or not objects:
        return authorize_prepared(
            _sub(call, {"Bucket": call.params.get("Bucket")}),
            "s3:DeleteObject",
            values={"ObjectName": "*"},
            note="The deleted keys were not recorded, so the ARN covers every object in the bucket.",
        )
    out: list[Authorization] = []
    seen: set[tuple[str, str]] = set()
    for entry in objects[:1000]:  # S3 accepts at most 1,000 keys per request
        if not isinstance(entry, Mapping):
            continue
        action = "s3:DeleteObjectVersion" if _has_version(entry) else "s3:DeleteObject"
        if (action, repr(entry.get("Key"))) in seen:  # keys cut to one prefix repeat
            continue
        seen.add((action, repr(entry.get("Key"))))
        out += authorize_prepared(
            _sub(call, {"Bucket": call.params.get("Bucket"), "Key": entry.get("Key")}), action
        )
    return out or [unscoped("s3:DeleteObject", "The request's object list holds no usable key.")]


# -- DynamoDB -----------------------------------------------------------------------

_TABLE = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")


def _table_params(table: object, index: object = None) -> dict[str, Any]:
    params: dict[str, Any] = {"TableName": table}
    if index is not None:
        params["IndexName"] = index
    return params


@_rule(
    "dynamodb",
    ["BatchGetItem", "BatchWriteItem"],
    ("dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"),
)
def _ddb_batch(call: Call) -> list[Authorization]:
    # Batch APIs are authorized once per table named in RequestItems.
    action = f"dynamodb:{call.operation}"
    items = call.params.get("RequestItems")
    if not isinstance(items, Mapping) or not items:
        return [unscoped(action, "The request's tables (RequestItems) were not recorded.")]
    out: list[Authorization] = []
    for table in list(items)[:100]:  # BatchGetItem names at most 100 items, so 100 tables
        out += authorize(_sub(call, _table_params(table)), action)
    return out


_TRANSACT = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


@_rule("dynamodb", ["TransactWriteItems", "TransactGetItems"], tuple(_TRANSACT.values()))
def _ddb_transact(call: Call) -> list[Authorization]:
    # Each transaction item is authorized as its own item action on its own table.
    items = call.params.get("TransactItems")
    if not isinstance(items, list) or not items:
        fallback = (
            "dynamodb:GetItem" if call.operation == "TransactGetItems" else "dynamodb:PutItem"
        )
        return [unscoped(fallback, "The transaction's items were not recorded.")]
    pairs: dict[tuple[str, str], object] = {}
    for item in items[:100]:  # DynamoDB accepts at most 100 items per transaction
        if not isinstance(item, Mapping):
            continue
        for kind, body in item.items():
            action = _TRANSACT.get(str(kind))
            if action is None or not isinstance(body, Mapping):
                continue
            table = body.get("TableName")
            # Items repeat (action, table) pairs: map each pair once.
            pairs.setdefault((action, repr(table)), table)
    out: list[Authorization] = []
    for (action, _), table in pairs.items():
        out += authorize(_sub(call, _table_params(table)), action)
    return out or [unscoped("dynamodb:GetItem", "No transaction item names a known action.")]


_PARTIQL_VERBS = {
    "SELECT": "dynamodb:PartiQLSelect",
    "INSERT": "dynamodb:PartiQLInsert",
    "UPDATE": "dynamodb:PartiQLUpdate",
    "DELETE": "dynamodb:PartiQLDelete",
    "EXISTS": "dynamodb:PartiQLSelect",
}
_IDENT = r'(?:"(?P<{0}q>[^"]{{1,255}})"|(?P<{0}b>[A-Za-z0-9_.-]{{1,255}}))'
_TARGET = re.compile(
    r"(?:^\s*(?:SELECT|INSERT|UPDATE|DELETE)\s+(?!.*\b(?:FROM|INTO)\b)|\bFROM\s+|\bINTO\s+|^\s*UPDATE\s+)"
    + _IDENT.format("t")
    + r"(?:\.\s*"
    + _IDENT.format("i")
    + ")?",
    re.IGNORECASE | re.DOTALL,
)


def partiql_target(statement: object) -> tuple[str, str, str | None] | None:
    """The IAM action, table and index of a PartiQL statement (full or reduced)."""
    if not isinstance(statement, str) or len(statement) > 8192:
        return None
    words = statement.split(None, 1)
    if not words:
        return None
    action = _PARTIQL_VERBS.get(words[0].upper())
    if action is None:
        return None
    m = _TARGET.search(statement)
    if m is None:
        return None
    table = m.group("tq") or m.group("tb")
    index = m.group("iq") or m.group("ib")
    if table is None or not _TABLE.match(table):
        return None
    if index is not None and not _TABLE.match(index):
        index = None
    if index is None and table.count(".") == 1 and m.group("tb"):
        # Unquoted "table.index" reads as one identifier.
        table, index = table.split(".")
    return action, table, index


def _statement_authorizations(call: Call, statements: Iterable[object]) -> list[Authorization]:
    out: list[Authorization] = []
    seen: set[str] = set()
    for statement in statements:
        key = statement if isinstance(statement, str) else repr(statement)
        if key in seen:  # batches repeat one statement with different parameters
            continue
        seen.add(key)
        target = partiql_target(statement)
        if target is None:
            out.append(
                unscoped(
                    "dynamodb:PartiQLSelect",
                    "A PartiQL statement could not be read (verb and table).",
                )
            )
            continue
        action, table, index = target
        out += authorize(_sub(call, _table_params(table, index)), action)
    return out


_PARTIQL_ACTIONS = tuple(dict.fromkeys(_PARTIQL_VERBS.values()))


@_rule("dynamodb", ["ExecuteStatement"], _PARTIQL_ACTIONS)
def _ddb_statement(call: Call) -> list[Authorization]:
    # A PartiQL statement is authorized by its verb's action on its table (or index).
    return _statement_authorizations(call, [call.params.get("Statement")])


@_rule("dynamodb", ["BatchExecuteStatement", "ExecuteTransaction"], _PARTIQL_ACTIONS)
def _ddb_statements(call: Call) -> list[Authorization]:
    key = "Statements" if call.operation == "BatchExecuteStatement" else "TransactStatements"
    raw = call.params.get(key)
    if not isinstance(raw, list) or not raw:
        return [unscoped("dynamodb:PartiQLSelect", f"The statements ({key}) were not recorded.")]
    return _statement_authorizations(
        call, [s.get("Statement") if isinstance(s, Mapping) else s for s in raw[:100]]
    )


# -- Bedrock ------------------------------------------------------------------------------

# Bedrock runtime documentation: InvokeModel and Converse are authorized by
# bedrock:InvokeModel, the streaming forms by InvokeModelWithResponseStream,
# StartAsyncInvoke by InvokeModel. InvokeModelWithBidirectionalStream (Nova
# Sonic) "requires permission for the bedrock:InvokeModel action" (Bedrock API
# reference); it has no action of its own in the Service Authorization Reference.
_BEDROCK = {
    "InvokeModel": "bedrock:InvokeModel",
    "InvokeModelWithBidirectionalStream": "bedrock:InvokeModel",
    "Converse": "bedrock:InvokeModel",
    "StartAsyncInvoke": "bedrock:InvokeModel",
    "InvokeModelWithResponseStream": "bedrock:InvokeModelWithResponseStream",
    "ConverseStream": "bedrock:InvokeModelWithResponseStream",
}


@_rule("bedrock-runtime", _BEDROCK, tuple(dict.fromkeys(_BEDROCK.values())))
def _bedrock_invoke(call: Call) -> list[Authorization]:
    # A cross-region inference profile routes to the foundation model in
    # several regions, and AWS checks the action on the model in each of them
    # as well as on the profile (Bedrock user guide, "Prerequisites for
    # inference profiles").
    action = _BEDROCK[call.operation]
    out = authorize_prepared(call, action)
    raw = _str(call.params, "modelId")
    if raw is not None and _PROFILE.match(raw):
        model = raw.split(".", 1)[1]
        out.append(
            Authorization(
                action,
                f"arn:{call.partition}:bedrock:*::foundation-model/{model}",
                Confidence.TEMPLATE,
                "The inference profile routes to this foundation model in regions it "
                "chooses, so the region is '*'.",
            )
        )
    return out


# -- STS --------------------------------------------------------------------------------

_STS_ASSUME = ("AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity")


@_rule("sts", ["AssumeRole"], ("sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"))
def _sts_assume_role(call: Call) -> list[Authorization]:
    # Passing session tags needs sts:TagSession, and a source identity
    # sts:SetSourceIdentity, on the same role (IAM User Guide, "Passing session
    # tags in AWS STS" and "Monitor and control actions taken with assumed roles").
    out = authorize(call, "sts:AssumeRole")
    if call.params.get("Tags") or call.params.get("TransitiveTagKeys"):
        out += authorize(call, "sts:TagSession")
    if call.params.get("SourceIdentity"):
        out += authorize(call, "sts:SetSourceIdentity")
    return out


# -- SSM, Secrets Manager, EventBridge, KMS, SNS ------------------------------------------


@_rule("ssm", ["GetParameters", "DeleteParameters"], ("ssm:GetParameters", "ssm:DeleteParameters"))
def _ssm_names(call: Call) -> list[Authorization]:
    action = f"ssm:{call.operation}"
    names = call.params.get("Names")
    if not isinstance(names, list) or not names:
        return [unscoped(action, "The parameter names were not recorded.")]
    out: list[Authorization] = []
    for name in names[:10]:  # both operations accept at most 10 names
        if isinstance(name, str) and name.startswith("arn:"):
            out += authorize(_sub(call, {}), action, arn=name)
        elif isinstance(name, str) and usable(name) is None and _ssm_name(name):
            out += authorize(
                _sub(call, {}), action, values={"ParameterNameWithoutLeadingSlash": _ssm_name(name)}
            )
        else:
            out.append(unscoped(action, "A parameter name is not a usable string."))
    return out


@_rule(
    "secretsmanager",
    ["BatchGetSecretValue"],
    ("secretsmanager:BatchGetSecretValue", "secretsmanager:GetSecretValue"),
)
def _secrets_batch(call: Call) -> list[Authorization]:
    # BatchGetSecretValue needs secretsmanager:BatchGetSecretValue, and
    # GetSecretValue on every secret it returns.
    out = authorize(_sub(call, {}), "secretsmanager:BatchGetSecretValue")
    ids = call.params.get("SecretIdList")
    if not isinstance(ids, list) or not ids:
        out.append(
            unscoped(
                "secretsmanager:GetSecretValue", "The secrets were chosen by a filter, not named."
            )
        )
        return out
    for raw in ids[:20]:  # the API accepts at most 20 ids
        if isinstance(raw, str) and raw.startswith("arn:"):
            partial = _secret_arn(raw)
            out += authorize(
                _sub(call, {}),
                "secretsmanager:GetSecretValue",
                arn=partial.arn or raw,
                note=partial.note,
            )
        elif isinstance(raw, str) and usable(raw) is None:
            prep = _secret(raw)
            out += authorize(
                _sub(call, {}), "secretsmanager:GetSecretValue", values=prep.values, note=prep.note
            )
        else:
            out.append(
                unscoped("secretsmanager:GetSecretValue", "A secret id is not a usable string.")
            )
    return out


@_rule("events", ["PutEvents"], ("events:PutEvents",))
def _events_put(call: Call) -> list[Authorization]:
    # Each entry goes to its EventBusName (a name or an ARN), or to the
    # account's "default" bus when the entry names none.
    entries = call.params.get("Entries")
    if not isinstance(entries, list) or not entries:
        return [unscoped("events:PutEvents", "The entries' event buses were not recorded.")]
    out: list[Authorization] = []
    for entry in entries[:10]:  # PutEvents accepts at most 10 entries
        bus = entry.get("EventBusName") if isinstance(entry, Mapping) else None
        if bus is None:
            bus = "default"
        out += authorize(_sub(call, {"EventBusName": bus}), "events:PutEvents")
    return out


@_rule("kms", ["ReEncrypt"], ("kms:ReEncryptFrom", "kms:ReEncryptTo"))
def _kms_reencrypt(call: Call) -> list[Authorization]:
    # ReEncrypt is authorized as ReEncryptFrom on the source key and ReEncryptTo on the destination.
    out: list[Authorization] = []
    for action, param, answer in (
        ("kms:ReEncryptFrom", "SourceKeyId", "SourceKeyId"),
        ("kms:ReEncryptTo", "DestinationKeyId", "KeyId"),
    ):
        used = call.response.get(answer)
        if isinstance(used, str) and parse_arn(used) is not None:
            out += authorize(_sub(call, {}), action, arn=used)
            continue
        raw = call.params.get(param)
        if isinstance(raw, str) and _KEY_ID.match(raw):
            out += authorize(_sub(call, {}), action, values={"KeyId": raw})
        else:
            out += authorize(_sub(call, {param: raw} if isinstance(raw, str) else {}), action)
    return out


@_rule("sns", ["Publish"], ("sns:Publish",))
def _sns_publish(call: Call) -> list[Authorization]:
    # Publishing an SMS straight to a phone number is authorized on "*".
    if (
        not call.params.get("TopicArn")
        and not call.params.get("TargetArn")
        and call.params.get("PhoneNumber")
    ):
        return [
            Authorization(
                "sns:Publish",
                "*",
                Confidence.EXACT,
                "An SMS sent to a phone number is authorized on '*'.",
            )
        ]
    return authorize(call, "sns:Publish")


# -- S3 Control: S3 on Outposts, account-level settings, directory-bucket access points --

# S3 Control operations that exist only for S3 on Outposts buckets (their API
# reference: "This action creates an Amazon S3 on Outposts bucket", "To use
# this operation, you must have permission to perform the
# s3-outposts:PutLifecycleConfiguration action" ...). Deleting a
# sub-configuration is authorized by its Put action, as for S3 buckets.
_OUTPOSTS_BUCKET_OPS: dict[str, str] = {
    "CreateBucket": "s3-outposts:CreateBucket",
    "DeleteBucket": "s3-outposts:DeleteBucket",
    "GetBucket": "s3-outposts:GetBucket",
    "GetBucketLifecycleConfiguration": "s3-outposts:GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "s3-outposts:PutLifecycleConfiguration",
    "DeleteBucketLifecycleConfiguration": "s3-outposts:PutLifecycleConfiguration",
    "GetBucketReplication": "s3-outposts:GetReplicationConfiguration",
    "PutBucketReplication": "s3-outposts:PutReplicationConfiguration",
    "DeleteBucketReplication": "s3-outposts:PutReplicationConfiguration",
    "GetBucketTagging": "s3-outposts:GetBucketTagging",
    "PutBucketTagging": "s3-outposts:PutBucketTagging",
    "DeleteBucketTagging": "s3-outposts:PutBucketTagging",
    "GetBucketPolicy": "s3-outposts:GetBucketPolicy",
    "PutBucketPolicy": "s3-outposts:PutBucketPolicy",
    "DeleteBucketPolicy": "s3-outposts:DeleteBucketPolicy",
    "GetBucketVersioning": "s3-outposts:GetBucketVersioning",
    "PutBucketVersioning": "s3-outposts:PutBucketVersioning",
}
_OUTPOSTS_ARN = re.compile(
    r"^arn:(?P<partition>[^:]+):s3-outposts:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"outpost/(?P<outpost>[A-Za-z0-9-]+)/(?P<kind>bucket|accesspoint)/(?P<name>[^/]+)$"
)


def _outposts_target(call: Call, member: str) -> str | None:
    raw = call.params.get(member)
    return raw if isinstance(raw, str) and _OUTPOSTS_ARN.match(raw) else None


@_rule("s3control", list(_OUTPOSTS_BUCKET_OPS), tuple(dict.fromkeys(_OUTPOSTS_BUCKET_OPS.values())))
def _s3control_outposts_bucket(call: Call) -> list[Authorization]:
    action = _OUTPOSTS_BUCKET_OPS[call.operation]
    arn = _outposts_target(call, "Bucket")
    if arn is not None:
        return authorize(_sub(call, {}), action, arn=arn)
    outpost, bucket = _str(call.params, "OutpostId"), _str(call.params, "Bucket")
    if call.operation == "CreateBucket" and outpost and bucket and "/" not in bucket:
        # CreateBucket names the bucket and its Outpost (x-amz-outpost-id).
        return authorize(
            _sub(call, {}), action, values={"OutpostId": outpost, "BucketName": bucket}
        )
    return [
        unscoped(
            action,
            "S3 on Outposts buckets are named by their ARN "
            "(arn:aws:s3-outposts:REGION:ACCOUNT:outpost/ID/bucket/NAME), which was not recorded.",
        )
    ]


@_rule("s3control", ["ListRegionalBuckets"], ("s3-outposts:ListRegionalBuckets",))
def _s3control_regional_buckets(call: Call) -> list[Authorization]:
    return authorize(call, "s3-outposts:ListRegionalBuckets")


# Account-level Block Public Access (S3 Control): s3:GetAccountPublicAccessBlock
# and s3:PutAccountPublicAccessBlock; deleting the setting is a Put.
_ACCOUNT_BPA = {
    "GetPublicAccessBlock": "s3:GetAccountPublicAccessBlock",
    "PutPublicAccessBlock": "s3:PutAccountPublicAccessBlock",
    "DeletePublicAccessBlock": "s3:PutAccountPublicAccessBlock",
}


@_rule("s3control", list(_ACCOUNT_BPA), tuple(dict.fromkeys(_ACCOUNT_BPA.values())))
def _s3control_account_bpa(call: Call) -> list[Authorization]:
    return authorize(call, _ACCOUNT_BPA[call.operation])


# Access point operations go to s3-outposts for an Outposts access point (named
# by its ARN), to s3express for a directory bucket's access point (its name
# ends in --xa-s3; the bucket's in --x-s3), and to s3 otherwise.
_ACCESS_POINT_OPS = (
    "CreateAccessPoint",
    "DeleteAccessPoint",
    "GetAccessPoint",
    "GetAccessPointPolicy",
    "PutAccessPointPolicy",
    "DeleteAccessPointPolicy",
    "ListAccessPoints",
)
_DIRECTORY_ACCESS_POINT = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}--[a-z0-9-]+--xa-s3$")


@_rule(
    "s3control",
    _ACCESS_POINT_OPS,
    (
        *(
            f"{p}:{op}"
            for op in _ACCESS_POINT_OPS
            for p in ("s3", "s3-outposts", "s3express")
            if f"{p}:{op}" != "s3express:ListAccessPoints"
        ),
        "s3express:ListAccessPointsForDirectoryBuckets",
    ),
)
def _s3control_access_point(call: Call) -> list[Authorization]:
    op = call.operation
    name = _str(call.params, "Name")
    bucket = _str(call.params, "Bucket")
    outposts = _outposts_target(call, "Name") or _outposts_target(call, "Bucket")
    if outposts is not None:
        m = _OUTPOSTS_ARN.match(outposts)
        assert m is not None  # _outposts_target matched it
        if m.group("kind") == "accesspoint":
            return authorize(_sub(call, {}), f"s3-outposts:{op}", arn=outposts)
        ap = name if name and not name.startswith("arn:") else None
        if ap is not None:
            values = {
                "OutpostId": m.group("outpost"),
                "AccessPointName": ap,
                "Account": m.group("account"),
                "Region": m.group("region"),
            }
            return authorize(_sub(call, {}), f"s3-outposts:{op}", values=values)
        return authorize(_sub(call, {}), f"s3-outposts:{op}")
    directory = (name is not None and _DIRECTORY_ACCESS_POINT.match(name) is not None) or (
        bucket is not None and _DIRECTORY_BUCKET.match(bucket) is not None
    )
    if directory:
        if op == "ListAccessPoints":
            return authorize(_sub(call, {}), "s3express:ListAccessPointsForDirectoryBuckets")
        params = {"AccessPointName": name} if name else {}
        return authorize(_sub(call, params), f"s3express:{op}")
    return authorize_prepared(call, f"s3:{op}")


_DIRECTORY_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{0,62}--[a-z0-9-]+--x-s3$")
_DIRECTORY_AP_OPS = (
    "GetAccessPointScope",
    "PutAccessPointScope",
    "DeleteAccessPointScope",
    "ListAccessPointsForDirectoryBuckets",
)


@_rule("s3control", _DIRECTORY_AP_OPS, tuple(f"s3express:{op}" for op in _DIRECTORY_AP_OPS))
def _s3control_directory_scope(call: Call) -> list[Authorization]:
    # "To use this operation, you must have the permission to perform the
    # s3express:GetAccessPointScope action." (S3 Control API reference)
    name = call.params.get("Name")
    return authorize(_sub(call, {"AccessPointName": name}), f"s3express:{call.operation}")
