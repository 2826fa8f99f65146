"""The permissions a call needs beyond its own action.

Four kinds, each added after the call's own authorizations:

- ``iam:PassRole`` on every IAM role ARN the request hands to the service,
  wherever it sits (EventBridge targets, Scheduler targets, ECS overrides,
  S3 replication rules, Firehose destinations, SNS attribute maps ...).
  Which members can carry a role is known from botocore's shapes
  (:func:`role_paths`); the agent keeps every role ARN it sees (the same rule
  in :mod:`lambdaguard.agent._reduce`), so the mapping reads the values.
- Tagging at creation: a request that carries tags (``Tags``,
  ``TagSpecifications`` ...) is also authorized by the service's tagging
  action on the new resource.
- Reads and writes the service makes with the caller's permissions (forward
  access sessions): the S3 object a Textract or Rekognition request names,
  Rekognition's output bucket, Athena's query results location; and KMS use
  on the caller's behalf (an SQS queue, SNS topic or secret under a
  customer-managed key, a copy's source object, an SSM SecureString read with
  ``WithDecryption``). When the key is not recorded the authorization is
  ``DEPENDENT`` on ``*`` and says which key it needs.
- Dependent actions the Service Authorization Reference lists (``_dependent``)
  that the request cannot decide: ``DEPENDENT``, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from lambdaguard.iam._arns import parse_arn, usable
from lambdaguard.iam._authorize import Call, lookup_action
from lambdaguard.iam._data import iam_service
from lambdaguard.iam._dependent import dependent_actions
from lambdaguard.iam._model import Authorization, Confidence

__all__ = [
    "EVIDENCE_FACTS",
    "TAG_MEMBERS",
    "dependents",
    "on_behalf",
    "passed_roles",
    "role_paths",
    "tagging_action",
    "tags_at_creation",
]

# Operations that read or describe never hand a role to a service.
READ_VERBS = ("Get", "List", "Describe", "Search", "BatchGet", "Head", "Check", "Validate")
_MAX_NODES = 512
_MAX_DEPTH = 10


def _walk(value: object, path: str = "", depth: int = 0) -> Iterator[tuple[str, str, object]]:
    """(path, key, value) for every member of a nested request, bounded in size and depth."""
    budget = [_MAX_NODES]

    def go(node: object, here: str, level: int) -> Iterator[tuple[str, str, object]]:
        if level > _MAX_DEPTH or budget[0] <= 0:
            return
        if isinstance(node, Mapping):
            for key, item in node.items():
                budget[0] -= 1
                if budget[0] <= 0:
                    return
                where = f"{here}.{key}" if here else str(key)
                yield where, str(key), item
                yield from go(item, where, level + 1)
        elif isinstance(node, list):
            for item in node[:100]:
                budget[0] -= 1
                if budget[0] <= 0:
                    return
                yield f"{here}[]", "", item
                yield from go(item, f"{here}[]", level + 1)

    yield from go(value, path, depth)


def is_role_arn(value: object) -> bool:
    """True for an IAM role ARN (``arn:PARTITION:iam::ACCOUNT:role/...``)."""
    arn = parse_arn(value)
    return arn is not None and arn.service == "iam" and arn.resource.startswith("role/")


def passed_roles(call: Call) -> list[Authorization]:
    """``iam:PassRole`` on each role ARN the request hands to the service, at any depth.

    AWS: to configure a service with a role (a function's execution role, an
    EventBridge target's role, a state machine's role ...), the caller needs
    iam:PassRole on that role. STS and IAM calls name roles without passing
    them, and reads never pass. A role ARN under a member named for a
    principal (kms:CreateGrant's GranteePrincipal, lambda:AddPermission's
    Principal) is granted access, not passed.
    """
    if call.service in ("sts", "iam") or call.operation.startswith(READ_VERBS):
        return []
    out: list[Authorization] = []
    seen: set[str] = set()
    for path, _key, value in _walk(call.params):
        strings = [value] if isinstance(value, str) else []
        if "principal" in path.lower() or not strings:
            continue
        for text in strings:
            if is_role_arn(text) and text not in seen and usable(text) is None:
                seen.add(text)
                out.append(
                    Authorization(
                        "iam:PassRole",
                        text,
                        Confidence.EXACT,
                        f"The request passes the role in {path} to the service.",
                    )
                )
    return out


@cache
def role_paths(service: str, operation: str) -> tuple[str, ...]:
    """Request paths (``Targets[].RoleArn``) whose members can carry a role the call passes.

    Found from botocore's input shape: string members (or lists of strings)
    whose name ends in ``Role``, ``RoleArn`` or ``RoleArns`` at any depth, not
    under a principal. Read operations and STS/IAM pass no role.
    """
    from lambdaguard.iam._models import _model

    if service in ("sts", "iam") or operation.startswith(READ_VERBS):
        return ()
    shape = _model(service).operation_model(operation).input_shape
    found: list[str] = []

    def go(node: Any, here: str, seen: frozenset[str]) -> None:
        if node is None or len(seen) > _MAX_DEPTH or node.name in seen:
            return
        kind = node.type_name
        if kind == "structure":
            for name, member in node.members.items():
                where = f"{here}.{name}" if here else name
                low = name.lower()
                target = member.member if member.type_name == "list" else member
                if (
                    low.endswith(("role", "rolearn", "rolearns"))
                    and "principal" not in where.lower()
                    and target.type_name == "string"
                ):
                    found.append(where + ("[]" if member.type_name == "list" else ""))
                else:
                    go(member, where, seen | {node.name})
        elif kind == "list":
            go(node.member, here + "[]", seen | {node.name})
        elif kind == "map":
            if here.lower().endswith("attributes") and node.value.type_name == "string":
                # SNS topic attributes carry roles under keys such as
                # LambdaSuccessFeedbackRoleArn.
                found.append(here + ".*")
            go(node.value, here + ".*", seen | {node.name})

    go(shape, "", frozenset())
    return tuple(found)


# -- tagging at creation ---------------------------------------------------------

# Request members that attach tags to the resource being created.
TAG_MEMBERS = frozenset({"tags", "tagspecifications", "taglist", "resourcetags", "tagsmap"})
_CREATE_VERBS = ("Create", "Put", "Register", "Run", "Start", "Allocate", "Import", "Copy", "Add")


# CloudWatch Logs CreateLogGroup: "you must have either the logs:TagResource
# or logs:TagLogGroup permission"; TagLogGroup is the deprecated one.
_TAGGING_EXCEPTIONS = {("logs", "CreateLogGroup"): "logs:TagResource"}


@cache
def tagging_action(prefix: str, operation: str) -> str | None:
    """The action that authorizes tagging a resource this operation creates, if the data has one."""
    service = iam_service(prefix)
    if service is None:
        return None
    noun = operation
    for verb in _CREATE_VERBS:
        if operation.startswith(verb):
            noun = operation[len(verb) :]
            break
    if (prefix, operation) in _TAGGING_EXCEPTIONS:
        return _TAGGING_EXCEPTIONS[(prefix, operation)]
    # The resource's own tagging action first: kinesis CreateStream "must also
    # have the kinesis:AddTagsToStream permission ... The kinesis:TagResource
    # permission won't work to tag streams on creation." (API reference).
    for name in (
        f"Tag{noun}",
        f"AddTagsTo{noun}",
        "TagResource",
        "CreateTags",
        "AddTagsToResource",
        "AddTags",
    ):
        action = service.action(name)
        if action is not None and "Tagging" in action.access_level:
            return f"{prefix}:{action.name}"
    return None


def _tag_member(params: Mapping[str, Any]) -> str | None:
    for key, value in params.items():
        if str(key).lower() in TAG_MEMBERS and value:
            return str(key)
    for key, value in params.items():
        # One level down: S3 CreateBucket's CreateBucketConfiguration.Tags.
        if isinstance(value, Mapping):
            inner = _tag_member({k: v for k, v in value.items() if not isinstance(v, Mapping)})
            if inner is not None:
                return f"{key}.{inner}"
    return None


def tags_at_creation(
    call: Call, own: list[str], found: list[Authorization] | None = None
) -> list[Authorization]:
    """The service's tagging action when the request tags the resource it creates.

    AWS authorizes tags given at creation with the service's tagging action
    as well (ec2:CreateTags for TagSpecifications, sqs:TagQueue for
    CreateQueue's tags, dynamodb:TagResource for CreateTable's Tags ...).
    S3 objects are tagged by PutObject's own rule (``Tagging``); tags on a
    Send or Publish call tag the message, not a resource.
    """
    if not call.operation.startswith(_CREATE_VERBS) or (
        call.service == "s3" and "Object" in call.operation
    ):
        return []
    member = _tag_member(call.params)
    if member is None:
        return []
    action = tagging_action(call.prefix, call.operation)
    if action is None or action in own:
        return []
    why = f"The request tags the new resource ({member}), which AWS authorizes as {action}."
    if call.prefix == "ec2" and member == "TagSpecifications":
        return _ec2_tag_specifications(call, action, why)
    if call.service == "ecs" and call.operation in ("RunTask", "StartTask"):
        cluster = call.params.get("cluster")
        name = cluster if isinstance(cluster, str) and usable(cluster) is None else "*"
        return [
            Authorization(
                action,
                f"arn:{call.partition}:ecs:{call.region}:{call.account}:task/"
                f"{name.rsplit('/', 1)[-1]}/*",
                Confidence.TEMPLATE,
                why[:-1] + "; the new task's id is generated, so it is '*'.",
            )
        ]
    # The new resource is the one the call's own action names: tag that one
    # when the tagging action can take it.
    created = [a for a in found or () if a.action in own and a.resource != "*"]
    templates = [s.template for s in _slots_of(action)]
    same = [a for a in created if any(t.pattern.match(a.resource) for t in templates)]
    if same:
        return list(
            dict.fromkeys(Authorization(action, a.resource, a.confidence, why) for a in same)
        )
    if not templates or not lookup_action(action).resources:
        return [Authorization(action, "*", Confidence.EXACT, why)]
    return [
        Authorization(
            action, "*", Confidence.WILDCARD, why[:-1] + "; the new resource's ARN is not known."
        )
    ]


def _arn_type(prefix: str, arn: str) -> str | None:
    """The resource type an ARN is, by the most specific template of the service that matches."""
    from lambdaguard.iam._arns import compile_template

    service = iam_service(prefix)
    best: tuple[int, str] | None = None
    for rtype in service.resource_types.values() if service is not None else ():
        for text in rtype.arn.split(","):
            template = compile_template(text.strip())
            if template.pattern.match(arn) and (best is None or template.specificity > best[0]):
                best = (template.specificity, rtype.key)
    return best[1] if best is not None else None


def _slots_of(action: str) -> tuple[Any, ...]:
    from lambdaguard.iam._authorize import _slots

    return _slots(action)


def _ec2_tag_specifications(call: Call, action: str, why: str) -> list[Authorization]:
    specs = call.params.get("TagSpecifications")
    types: list[str] = []
    for spec in specs if isinstance(specs, list) else []:
        kind = spec.get("ResourceType") if isinstance(spec, Mapping) else None
        if isinstance(kind, str) and re.fullmatch(r"[a-z0-9-]{1,64}", kind):
            types.append(kind)
    if not types:
        return [
            Authorization(action, "*", Confidence.WILDCARD, why[:-1] + "; of unrecorded types.")
        ]
    service = iam_service("ec2")
    out: list[Authorization] = []
    for kind in dict.fromkeys(types):
        if service is None or kind not in service.resource_types:
            out.append(
                Authorization(action, "*", Confidence.WILDCARD, f"{why[:-1]}; {kind!r} has no ARN.")
            )
            continue
        out.append(
            Authorization(
                action,
                f"arn:{call.partition}:ec2:{call.region}:{call.account}:{kind}/*",
                Confidence.TEMPLATE,
                f"{why[:-1]}; the new {kind}'s id is generated, so it is '*'.",
            )
        )
    return out


# -- dependent actions -------------------------------------------------------------


def dependents(
    call: Call, own: list[str], found: list[Authorization]
) -> tuple[list[Authorization], list[str]]:
    """The dependent actions of the call's own actions the request did not already decide.

    Tagging actions are decided by the request (tags given or not), and
    iam:PassRole by the roles found in it; for IAM's own operations that
    name a role (AddRoleToInstanceProfile) the role is the one named. Every
    other dependent action is DEPENDENT: on the resource the request names
    when it names one of the dependent action's types, else '*'.
    Returns the authorizations and the dependent actions that were listed.
    """
    emitted = {a.action for a in found}
    own_resources = frozenset(a.resource for a in found if a.action in own)
    listed: list[str] = []
    out: list[Authorization] = []
    for action in own:
        for dep in dependent_actions(action):
            listed.append(dep)
            by_reference = (call.service, call.operation) in _ROLES_BY_REFERENCE
            if dep in emitted and not (dep == "iam:PassRole" and by_reference):
                continue
            emitted.add(dep)
            act = lookup_action(dep)
            if "Tagging" in act.access_level:
                continue  # tags_at_creation decided it
            if dep == "iam:PassRole":
                out += _pass_role_dependency(call, action)
                continue
            member = DECIDED_BY.get((action, dep))
            if member is not None:
                if call.params.get(member):
                    out += _decided(call, action, dep, member)
                continue
            out += _dependent(call, action, dep, own_resources)
    return out, listed


# Dependent actions a request member decides: needed when the member is given
# (and true), never otherwise. The agent records these members (PRESENCE and
# FLAGS in lambdaguard.recorded).
DECIDED_BY: dict[tuple[str, str], str] = {
    # Lambda API reference, CreateFunction: a function on a capacity provider
    # (CapacityProviderConfig) needs lambda:PassCapacityProvider on it.
    ("lambda:CreateFunction", "lambda:PassCapacityProvider"): "CapacityProviderConfig",
    # Step Functions: "publish" set to true publishes a version of the state
    # machine, authorized by states:PublishStateMachineVersion.
    ("states:CreateStateMachine", "states:PublishStateMachineVersion"): "publish",
    ("states:UpdateStateMachine", "states:PublishStateMachineVersion"): "publish",
}


def _decided(call: Call, action: str, dep: str, member: str) -> list[Authorization]:
    from lambdaguard.iam._rules import authorize_prepared

    why = f"The request sets {member}, which makes {action} also need {dep}."
    return [
        Authorization(
            a.action, a.resource, a.confidence, why if a.resource != "*" else a.explanation
        )
        for a in authorize_prepared(call, dep)
    ]


# Operations that pass roles named by another resource they reference: ECS
# RunTask and StartTask pass the task definition's task and execution roles.
_ROLES_BY_REFERENCE = frozenset({("ecs", "RunTask"), ("ecs", "StartTask")})


def _pass_role_dependency(call: Call, action: str) -> list[Authorization]:
    if call.service == "iam":
        from lambdaguard.iam._rules import authorize_prepared

        found = authorize_prepared(call, "iam:PassRole")
        why = f"{action} also needs iam:PassRole on the role the request names."
        return [
            Authorization(a.action, a.resource, a.confidence, why)
            for a in found
            if a.resource != "*"
        ]
    if role_paths(call.service, call.operation) and (call.service, call.operation) not in (
        _ROLES_BY_REFERENCE
    ):
        # The request could carry the role and does not: no role is passed.
        return []
    return [
        Authorization(
            "iam:PassRole",
            "*",
            Confidence.DEPENDENT,
            f"The Service Authorization Reference lists iam:PassRole as a dependent action of "
            f"{action}; the roles passed (a task definition's, a template's) are not in the request.",
        )
    ]


def _dependent(
    call: Call, action: str, dep: str, own_resources: frozenset[str] = frozenset()
) -> list[Authorization]:
    if dep == "iam:CreateServiceLinkedRole":
        return [
            Authorization(
                dep,
                f"arn:{call.partition}:iam::{call.account}:role/aws-service-role/*",
                Confidence.DEPENDENT,
                f"{action} creates the service's service-linked role the first time it is "
                "needed in the account (a dependent action in the Service Authorization Reference).",
            )
        ]
    why = (
        f"The Service Authorization Reference lists {dep} as a dependent action of {action}: "
        "AWS may evaluate it too, depending on what the request does."
    )
    prefix = dep.partition(":")[0]
    if prefix == call.prefix:
        from lambdaguard.iam._rules import authorize_prepared

        # An ARN in the request counts only if it is the call's own resource
        # (rds-data's cluster); another one (a restore's backup) names
        # something else than the dependent action's resource.
        kinds = {slot.key for slot in _slots_of(dep)}
        named = {
            k: v
            for k, v in call.params.items()
            if not (isinstance(v, str) and v.startswith("arn:"))
            or (v in own_resources and _arn_type(prefix, v) in kinds)
        }
        found = [a for a in authorize_prepared(call, dep, params=named) if a.resource != "*"]
    else:
        found = []
    if found:
        return [Authorization(a.action, a.resource, Confidence.DEPENDENT, why) for a in found]
    return [Authorization(dep, "*", Confidence.DEPENDENT, why)]


# -- reads, writes and KMS use on the caller's behalf ------------------------------------

# Services that read an S3 object the request names with the caller's
# permissions: "For Amazon Rekognition/Textract to process an S3 object, the
# user must have permission to access the S3 object." (their API references).
_READS_S3_OBJECTS = frozenset({"textract", "rekognition"})
_S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,62})(?:/(?P<key>.*))?$")


def _object_arn(call: Call, bucket: object, key: object) -> tuple[str, Confidence] | None:
    if not isinstance(bucket, str) or usable(bucket) is not None or "/" in bucket:
        return None
    if not isinstance(key, str) or (usable(key) is not None and key != ""):
        return f"arn:{call.partition}:s3:::{bucket}/*", Confidence.TEMPLATE
    if key == "" or key.endswith("/"):
        return f"arn:{call.partition}:s3:::{bucket}/{key}*", Confidence.TEMPLATE
    return f"arn:{call.partition}:s3:::{bucket}/{key}", Confidence.EXACT


def _s3_objects(call: Call) -> list[Authorization]:
    out: list[Authorization] = []
    for path, key, value in _walk(call.params):
        if key not in ("S3Object", "ManifestS3Object") or not isinstance(value, Mapping):
            continue
        target = _object_arn(call, value.get("Bucket"), value.get("Name"))
        if target is None:
            continue
        version = value.get("Version")
        action = "s3:GetObjectVersion" if isinstance(version, str) and version else "s3:GetObject"
        out.append(
            Authorization(
                action,
                target[0],
                target[1],
                f"{call.service} reads the S3 object in {path} with the caller's permissions.",
            )
        )
    return out


def _s3_outputs(call: Call) -> list[Authorization]:
    out: list[Authorization] = []
    if call.service == "rekognition":
        # "You need s3:PutObject permission on the bucket." (CreateProjectVersion
        # OutputConfig); "Requires that the caller has the s3:PutObject permission
        # on the Amazon S3 bucket." (CreateFaceLivenessSession).
        for path, key, value in _walk(call.params):
            if key != "OutputConfig" or not isinstance(value, Mapping):
                continue
            prefix = value.get("S3KeyPrefix")
            target = _object_arn(
                call, value.get("S3Bucket"), prefix if isinstance(prefix, str) else ""
            )
            if target is not None:
                resource = target[0] if target[0].endswith("*") else target[0] + "*"
                out.append(
                    Authorization(
                        "s3:PutObject",
                        resource,
                        Confidence.TEMPLATE,
                        f"Rekognition writes its output to the bucket in {path} with the caller's "
                        "s3:PutObject permission.",
                    )
                )
    if call.service == "athena" and call.operation == "StartQueryExecution":
        # "When actors interact with Athena, their permissions pass through
        # Athena to determine what Athena can access." (Athena user guide,
        # "Access to Amazon S3"): the results are written with the caller's
        # permissions.
        config = call.params.get("ResultConfiguration")
        location = config.get("OutputLocation") if isinstance(config, Mapping) else None
        m = _S3_URI.match(location) if isinstance(location, str) else None
        why = "Athena writes the query results with the caller's permissions"
        if m is None:
            out.append(
                Authorization(
                    "s3:PutObject",
                    "*",
                    Confidence.DEPENDENT,
                    why + " to the workgroup's results location, which the request does not name.",
                )
            )
        else:
            key = m.group("key") or ""
            target = _object_arn(call, m.group("bucket"), key if key.endswith("/") else key + "/")
            if target is not None:
                out.append(
                    Authorization(
                        "s3:PutObject", target[0], Confidence.TEMPLATE, why + " to OutputLocation."
                    )
                )
                out.append(
                    Authorization(
                        "s3:GetBucketLocation",
                        f"arn:{call.partition}:s3:::{m.group('bucket')}",
                        Confidence.EXACT,
                        why + "; it looks up the results bucket's region.",
                    )
                )
    return out


# (service, operation) -> KMS actions the service uses with the caller's
# permissions when the resource is encrypted under a customer-managed key, and
# the resource that names the key.
_KMS_ON_BEHALF: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("sqs", "SendMessage"): (("kms:GenerateDataKey", "kms:Decrypt"), "queue"),
    ("sqs", "SendMessageBatch"): (("kms:GenerateDataKey", "kms:Decrypt"), "queue"),
    ("sqs", "ReceiveMessage"): (("kms:Decrypt",), "queue"),
    ("sns", "Publish"): (("kms:GenerateDataKey", "kms:Decrypt"), "topic"),
    ("sns", "PublishBatch"): (("kms:GenerateDataKey", "kms:Decrypt"), "topic"),
    ("secretsmanager", "GetSecretValue"): (("kms:Decrypt",), "secret"),
    ("secretsmanager", "BatchGetSecretValue"): (("kms:Decrypt",), "secret"),
    ("kinesis", "PutRecord"): (("kms:GenerateDataKey",), "stream"),
    ("kinesis", "PutRecords"): (("kms:GenerateDataKey",), "stream"),
    ("kinesis", "GetRecords"): (("kms:Decrypt",), "stream"),
}
# Response facts naming the KMS key: KeyId as the agent records it
# (lambdaguard.recorded.RESPONSE_FACTS), and the facts below, which no
# response of the call itself carries but the analysis may add from the
# store's evidence (a GetQueueAttributes, DescribeSecret or DescribeParameters
# response recorded for the same resource, a HeadObject of a copy's source).
EVIDENCE_FACTS: dict[str, str] = {
    "KmsKeyId": "the KMS key of the queue, topic, secret or parameter the call used",
    "SourceSSEKMSKeyId": "the SSE-KMS key of a copy's source object",
}
_KEY_FACTS = ("KeyId", "KmsKeyId")


def _kms_on(call: Call, actions: tuple[str, ...], what: str) -> list[Authorization]:
    """KMS actions on the key the evidence names, or DEPENDENT on '*' saying which key."""
    key = next(
        (call.response.get(k) for k in _KEY_FACTS if isinstance(call.response.get(k), str)),
        None,
    )
    arn = parse_arn(key)
    if arn is not None and arn.service == "kms" and arn.resource.startswith("key/"):
        return [
            Authorization(
                action,
                str(key),
                Confidence.EXACT,
                f"The service uses the caller's {action} on the key that encrypts the {what}.",
            )
            for action in actions
        ]
    return [
        Authorization(
            action,
            "*",
            Confidence.DEPENDENT,
            f"Needed only if the {what} is encrypted under a customer-managed KMS key: the "
            f"service uses the caller's {action} on that key, which the request does not name.",
        )
        for action in actions
    ]


def _ssm_decrypt(call: Call) -> list[Authorization]:
    """SecureString parameters read with WithDecryption need kms:Decrypt on their key.

    SSM API reference (GetParameter, WithDecryption): "Return decrypted values
    for secure string parameters."; reading them decrypts with the caller's
    kms:Decrypt permission on the parameter's key (the AWS managed key
    aws/ssm is usable by every principal of the account that may use SSM).
    The agent records WithDecryption and the response's parameter types.
    """
    if call.service != "ssm" or call.operation not in (
        "GetParameter",
        "GetParameters",
        "GetParametersByPath",
        "GetParameterHistory",
    ):
        return []
    if call.params.get("WithDecryption") not in (True, "true", "*"):
        return []
    types = call.response.get("ParameterType")
    if isinstance(types, str) and types and "SecureString" not in types.split(","):
        return []
    found = _kms_on(call, ("kms:Decrypt",), "SecureString parameter")
    if not isinstance(types, str) or not types:
        return [
            Authorization(
                a.action,
                a.resource,
                Confidence.DEPENDENT if a.resource == "*" else a.confidence,
                a.explanation + " The parameter type was not recorded (SecureString or not).",
            )
            for a in found
        ]
    return found


def on_behalf(call: Call) -> list[Authorization]:
    """S3 and KMS permissions the service exercises with the caller's permissions."""
    out: list[Authorization] = []
    if call.service in _READS_S3_OBJECTS:
        out += _s3_objects(call)
    out += _s3_outputs(call)
    out += _ssm_decrypt(call)
    spec = _KMS_ON_BEHALF.get((call.service, call.operation))
    if spec is not None:
        out += _kms_on(call, *spec)
    if call.service == "s3" and call.operation in ("CopyObject", "UploadPartCopy"):
        # S3 API reference, CopyObject: "If the object is encrypted with
        # SSE-KMS, you must also have the kms:GenerateDataKey and kms:Decrypt
        # permissions ... for the KMS key." The destination key is in the
        # response (SSEKMSKeyId); the source object's key is not recorded.
        key = call.response.get("SourceSSEKMSKeyId")
        arn = parse_arn(key)
        if arn is not None and arn.service == "kms":
            out.append(
                Authorization(
                    "kms:Decrypt",
                    str(key),
                    Confidence.EXACT,
                    "S3 decrypts the copy's source object with the caller's kms:Decrypt.",
                )
            )
        else:
            out.append(
                Authorization(
                    "kms:Decrypt",
                    "*",
                    Confidence.DEPENDENT,
                    "Needed only if the copy's source object is encrypted with SSE-KMS under a "
                    "customer-managed key: S3 decrypts it with the caller's kms:Decrypt on that key.",
                )
            )
    return out
