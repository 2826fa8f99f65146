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

from typing import Final

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
    # kms:ReEncrypt: the key the ciphertext was decrypted with (kms:ReEncryptFrom).
    "SourceKeyId": ("SourceKeyId",),
    # SSM parameter types read (String, StringList, SecureString): only a
    # SecureString read WithDecryption needs kms:Decrypt.
    "ParameterType": ("Parameter.Type", "Parameters[].Type"),
}
