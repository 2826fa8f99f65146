"""What the agent records of an AWS call: the one list, shared by agent, store and IAM mapping.

The agent (:mod:`lambdaguard.agent._reduce`) keeps only the request members
that name a resource or change what IAM authorizes, and a few facts of the
response that change the permissions a call needs. Those lists live here, once:
the agent reads them to decide what to keep, the collector to know what it
stores, and the contract tests (``tests/contract``) prove that every member and
response fact the IAM mapping reads is recorded by the agent and kept by the
store. Standard library only: the agent imports this module at INIT.
"""

from __future__ import annotations

import json
from typing import Any, Final

__all__ = [
    "EXCLUDED",
    "FLAGS",
    "KEY_MEMBERS",
    "NAMES",
    "NESTED_BUCKETS",
    "NESTED_PREFIXES",
    "PRESENCE",
    "RESPONSE_FACTS",
    "S3_OBJECTS",
    "SES_SENDER",
    "SUFFIXES",
    "TAG_MEMBERS",
    "WALK_SKIP",
    "bound_params",
]

# -- request members -----------------------------------------------------------
# Top-level member names that identify a resource, beyond the suffix rules below.
NAMES: Final = frozenset(
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
        # ECS names its resources without a suffix.
        "taskDefinition",
        "service",
        "services",
        "task",
        "tasks",
        "containerInstance",
        "containerInstances",
        "gateway",
    }
)
# SES authorizes sending on the sender's identity (an address or its domain).
SES_SENDER: Final = frozenset({"Source", "FromEmailAddress"})
# Members whose presence (not value) changes what IAM authorizes: tagging,
# ACLs, session tags, source identity, SMS to a phone number. Kept as "*".
# Tags given at creation add the service's tagging action; a capacity provider
# adds lambda:PassCapacityProvider.
PRESENCE: Final = frozenset(
    {
        "Tagging",
        "ACL",
        "Tags",
        "tags",
        "TagList",
        "ResourceTags",
        "TransitiveTagKeys",
        "SourceIdentity",
        "PhoneNumber",
        "CapacityProviderConfig",
    }
)
# Members (compared lower-case) that tag the resource being created: the
# service's tagging action is then needed too. Kept as "*" (EC2's
# TagSpecifications keep their resource types).
TAG_MEMBERS: Final = frozenset({"tags", "taglist", "resourcetags", "tagsmap"})
# Boolean members that change what IAM authorizes, kept as true when set:
# SSM's WithDecryption (kms:Decrypt on a SecureString's key), Step Functions'
# publish (states:PublishStateMachineVersion).
FLAGS: Final = frozenset({"WithDecryption", "publish"})
# Suffixes (compared case-insensitively) of member names that identify a
# resource: AWS APIs name resources *Arn, *Name, *Url, *Id(s), *Identifier.
SUFFIXES: Final = ("arn", "arns", "name", "names", "url", "id", "ids", "identifier")
# Members that look like identifiers by suffix but carry user data (people's
# names, file names) or options; none names a resource IAM authorizes on.
EXCLUDED: Final = frozenset(
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
KEY_MEMBERS: Final = frozenset({"Key", "Prefix", "StartAfter", "Delimiter"})

# -- nested members ---------------------------------------------------------------
# Inside structures and lists, the agent keeps only: IAM role ARNs (a role the
# call passes, iam:PassRole), s3:// URIs (bucket kept, key cut to a prefix),
# S3 object references (a service reads them with the caller's permissions),
# bucket names and key prefixes, and KMS key ids (members whose name contains
# "kms"). Everything else nested is dropped.
S3_OBJECTS: Final = frozenset({"S3Object", "ManifestS3Object"})  # {Bucket, Name, Version}
NESTED_BUCKETS: Final = frozenset({"Bucket", "S3Bucket", "BucketName"})
NESTED_PREFIXES: Final = frozenset({"S3KeyPrefix", "S3Prefix", "KeyPrefix"})
# Top-level members that hold data, not configuration: never walked (cost).
WALK_SKIP: Final = frozenset(
    {
        "Item",
        "Items",
        "ExpressionAttributeValues",
        "ExpressionAttributeNames",
        "ExclusiveStartKey",
        "AttributeUpdates",
        "Expected",
        "KeyConditions",
        "QueryFilter",
        "ScanFilter",
        "MessageAttributes",
        "MessageSystemAttributes",
        "Body",
        "Payload",
        "Metadata",
        "Records",
        "Parameters",
        "Messages",
        # Lambda environment variables are values, never exported.
        "Environment",
        "Variables",
    }
)

# -- response facts --------------------------------------------------------------
# Facts of a call's (successful) response that change the permissions the call
# needed, by the name they are stored under -> the paths in botocore's parsed
# response to read them from, tried in order. A path is member names joined by
# "."; a "[]" segment means every item of a list, whose distinct values are
# joined by ",". Values are strings, each cut to 512 characters.
RESPONSE_FACTS: Final[dict[str, tuple[str, ...]]] = {
    # S3 wrote or read the object with SSE-KMS under this key, using the
    # caller's KMS permissions (kms:GenerateDataKey / kms:Decrypt).
    "SSEKMSKeyId": ("SSEKMSKeyId",),
    # The object version read or written: s3:GetObjectVersion and friends.
    "VersionId": ("VersionId",),
    # The KMS key a Decrypt (ciphertext names no key in the request) or a
    # data-key call used: the resource of kms:Decrypt.
    "KeyId": ("KeyId",),
    # kms:ReEncrypt reports the source key it decrypted under: the resource of
    # kms:ReEncryptFrom when the request named none.
    "SourceKeyId": ("SourceKeyId",),
    # SSM parameter types read (String, StringList, SecureString): only a
    # SecureString read WithDecryption needs kms:Decrypt.
    "ParameterType": ("Parameter.Type", "Parameters[].Type"),
}


# -- size -------------------------------------------------------------------------
# The longest encoded params the agent sends and the collector keeps. Resource
# identifiers are short; a request naming hundreds of them is cut (see below).
MAX_PARAMS_BYTES: Final = 4096

_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _size(value: Any) -> int:
    return len(_JSON.encode(value).encode("utf-8", "surrogatepass"))


def _longest_list(value: Any, path: tuple[Any, ...] = ()) -> tuple[int, tuple[Any, ...]]:
    best: tuple[int, tuple[Any, ...]] = (0, ())
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        if len(value) > 1:
            best = (_size(value), path)
        items = enumerate(value)
    else:
        return best
    for key, item in items:
        found = _longest_list(item, (*path, key))
        if found[0] > best[0]:
            best = found
    return best


def _largest_member(
    value: Any, path: tuple[Any, ...] = (), *, scalars: bool = True
) -> tuple[int, tuple[Any, ...]]:
    # The largest object member at any depth (a member inside a list item too);
    # with ``scalars``, only members holding a string or number, so the cut is
    # as deep (and as small) as it can be.
    best: tuple[int, tuple[Any, ...]] = (0, ())
    is_dict = isinstance(value, dict)
    if is_dict:
        children: Any = value.items()
    elif isinstance(value, list):
        children = enumerate(value)
    else:
        return best
    for key, item in children:
        if is_dict and not (scalars and isinstance(item, dict | list)):
            size = _size(item)
            if size > best[0]:
                best = (size, (*path, key))
        found = _largest_member(item, (*path, key), scalars=scalars)
        if found[0] > best[0]:
            best = found
    return best


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def bound_params(params: dict[str, Any], limit: int = MAX_PARAMS_BYTES) -> tuple[str, bool]:
    """Compact sorted JSON of ``params`` within ``limit`` bytes, and whether nothing was cut.

    Too large, the longest list anywhere is halved (its first items kept) until
    the whole fits; if no list is left to cut, the largest member is dropped.
    A string is never cut in half: a half identifier would name another
    resource. The result is always valid JSON, and the same input always gives
    the same bytes.
    """
    text = _JSON.encode(params)
    if len(text) <= limit // 4 or len(text.encode("utf-8", "surrogatepass")) <= limit:
        return text, True
    value = json.loads(text)  # a private copy to cut
    while _size(value) > limit:
        size, path = _longest_list(value)
        if size:
            items = _at(value, path)
            del items[max(1, len(items) // 2) :]
            continue
        size, path = _largest_member(value)
        if not size:
            size, path = _largest_member(value, scalars=False)
        if not size or not path:
            return "{}", False
        del _at(value, path[:-1])[path[-1]]
    return _JSON.encode(value), False
