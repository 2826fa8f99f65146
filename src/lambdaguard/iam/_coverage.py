"""How much of botocore the IAM knowledge covers, per service and in total."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from lambdaguard.errors import IamDataError
from lambdaguard.iam._authorize import Call, _slots, lookup_action
from lambdaguard.iam._mapper import operation_plan
from lambdaguard.iam._model import Confidence
from lambdaguard.iam._models import available_services, operation_members, service_info
from lambdaguard.iam._rules import authorize_prepared

__all__ = ["TOP_SERVICES", "CoverageReport", "ServiceCoverage", "coverage", "emittable_actions"]

# The 40 services Lambda functions call most, with the reason each is here.
# Chosen from the event sources, destinations and SDK clients that AWS's Lambda
# documentation and the Serverless Application Repository patterns use.
TOP_SERVICES: dict[str, str] = {
    "s3": "object storage: the most common read/write target and event source",
    "dynamodb": "the default serverless database",
    "dynamodbstreams": "stream reads from DynamoDB tables",
    "sqs": "queues: event source, destination and dead-letter target",
    "sns": "notifications: fan-out and dead-letter target",
    "lambda": "functions invoking functions, and event source mappings",
    "secretsmanager": "secrets read at cold start",
    "ssm": "Parameter Store configuration read at cold start",
    "kms": "encrypt/decrypt of environment variables and payloads",
    "sts": "assume-role for cross-account work; identity checks",
    "events": "EventBridge: PutEvents to buses",
    "scheduler": "EventBridge Scheduler schedules created by functions",
    "logs": "CloudWatch Logs: the function's own log writes and queries",
    "cloudwatch": "custom metrics (PutMetricData)",
    "xray": "tracing segments",
    "stepfunctions": "starting and reporting on workflows",
    "kinesis": "stream producer and consumer",
    "firehose": "delivery-stream producer",
    "ses": "sending e-mail (v1 API)",
    "sesv2": "sending e-mail (v2 API)",
    "apigatewaymanagementapi": "WebSocket APIs: posting to connections",
    "apigateway": "REST API automation",
    "rds-data": "the Data API for Aurora Serverless",
    "athena": "queries over S3 data",
    "glue": "data catalog lookups in ETL functions",
    "cognito-idp": "user-pool triggers and admin user management",
    "cognito-identity": "identity pools",
    "bedrock-runtime": "model invocation in generative-AI functions",
    "textract": "document analysis pipelines",
    "rekognition": "image analysis pipelines",
    "comprehend": "text analysis pipelines",
    "translate": "translation pipelines",
    "sagemaker-runtime": "model endpoints invoked from functions",
    "iot-data": "publishing to IoT topics and device shadows",
    "appconfigdata": "AppConfig feature flags (the Lambda extension's calls)",
    "ecr": "image automation",
    "ecs": "running tasks from functions",
    "codepipeline": "custom actions reporting job results",
    "cloudformation": "custom resources and stack automation",
    "iam": "account automation and policy checks",
}


@dataclass(frozen=True, slots=True)
class ServiceCoverage:
    """Coverage of one botocore service."""

    service: str
    prefix: str | None
    operations: int
    mapped: int  # map to actions that exist in the IAM data
    templated: int  # mapped, and each action with resource types has ARN templates in the data
    scoped: int  # mapped, and every action with resource types gets an ARN from the request
    needs_resource: int  # mapped operations whose actions have resource types
    free: int  # known to need no permission
    unknown: tuple[str, ...]  # operations with no mapping
    unscoped: tuple[str, ...]  # mapped but the request members cannot name the resource
    # Second pass (beyond the call's own action):
    data_older: tuple[
        str, ...
    ] = ()  # unknown, but the IAM service exists: the data predates the API
    with_dependent: int = 0  # mapped operations whose actions list dependent actions
    nested_roles: int = 0  # operations whose request can pass a role below the top level
    # Authorizations of a sample request per mapped operation (every top-level
    # string member named), by confidence.
    exact: int = 0
    template: int = 0
    wildcard: int = 0
    dependent: int = 0

    @property
    def known(self) -> int:
        """Operations that map to an existing action or are known permission-free."""
        return self.mapped + self.free


@dataclass(frozen=True, slots=True)
class CoverageReport:
    """Coverage of a set of services, with totals."""

    services: tuple[ServiceCoverage, ...]

    @property
    def operations(self) -> int:
        """Operations in total."""
        return sum(s.operations for s in self.services)

    @property
    def known(self) -> int:
        """Operations mapped or known permission-free, in total."""
        return sum(s.known for s in self.services)

    @property
    def mapped(self) -> int:
        """Operations mapped to existing actions, in total."""
        return sum(s.mapped for s in self.services)

    @property
    def templated(self) -> int:
        """Mapped operations whose actions have ARN templates where they have resource types."""
        return sum(s.templated for s in self.services)

    @property
    def scoped(self) -> int:
        """Mapped operations whose resources get ARNs, in total."""
        return sum(s.scoped for s in self.services)

    @property
    def needs_resource(self) -> int:
        """Mapped operations whose actions have resource types, in total."""
        return sum(s.needs_resource for s in self.services)

    @property
    def free(self) -> int:
        """Permission-free operations, in total."""
        return sum(s.free for s in self.services)

    @property
    def unknown(self) -> int:
        """Operations with no mapping, in total."""
        return sum(len(s.unknown) for s in self.services)

    def total(self, field: str) -> int:
        """The sum of an integer field (or the length of a tuple field) over the services."""
        values = (getattr(s, field) for s in self.services)
        return sum(len(v) if isinstance(v, tuple) else int(v) for v in values)


# Sample values for members whose shape the preparers parse.
_SAMPLES: dict[str, str] = {
    "queueurl": "https://sqs.us-east-1.amazonaws.com/123456789012/example",
    "keyid": "1234abcd-12ab-34cd-56ef-1234567890ab",
    "targetkeyid": "1234abcd-12ab-34cd-56ef-1234567890ab",
    "aliasname": "alias/example",
    "qualifier": "live",
    "versionnumber": "1",
    "modelid": "anthropic.claude-3-haiku-20240307-v1:0",
}


def _sample_params(service: str, operation: str) -> dict[str, Any]:
    """A request naming every top-level string member, as the agent would record it."""
    from lambdaguard.iam._models import _model

    shape = _model(service).operation_model(operation).input_shape
    params: dict[str, Any] = {}
    if shape is None:
        return params
    for name, member in shape.members.items():
        sample = _SAMPLES.get(name.lower(), "example")
        if member.type_name == "string":
            params[name] = sample
        elif member.type_name in ("integer", "long") and name.lower() in _SAMPLES:
            params[name] = int(sample)
        elif member.type_name == "list" and getattr(member.member, "type_name", "") == "string":
            params[name] = [sample]
    return params


def _addressable(service: str, operation: str, action: str) -> bool | None:
    """None if the action has no resource types; else whether a request can name one.

    Runs the real mapping path on a request that names every top-level string
    member; a member holding an ARN (``...Arn``) is taken to name its resource.
    """
    if not lookup_action(action).resources:
        return None
    members = operation_members(service, operation)
    if any(m.lower().endswith(("arn", "arns")) or m.lower() == "resource" for m in members):
        return True
    prefix = action.partition(":")[0]
    call = Call(
        service,
        prefix,
        operation,
        _sample_params(service, operation),
        "us-east-1",
        "123456789012",
        "aws",
    )
    found = authorize_prepared(call, action)
    if all(a.resource == "*" and a.confidence is Confidence.EXACT for a in found):
        return None  # the request targets none of the action's optional resource types
    return any(a.resource != "*" for a in found)


@cache
def service_coverage(service: str) -> ServiceCoverage:
    """The coverage of one botocore service."""
    info = service_info(service)
    mapped = templated = scoped = needs = free = 0
    unknown: list[str] = []
    unscoped: list[str] = []
    prefix: str | None = None
    for op in info.operations:
        plan = operation_plan(service, op)
        prefix = plan.prefix
        if plan.kind == "free":
            free += 1
            continue
        if plan.kind == "unknown":
            unknown.append(op)
            continue
        try:
            for action in plan.actions:
                lookup_action(action)
        except IamDataError:
            unknown.append(op)
            continue
        mapped += 1
        if all(_slots(a) or not lookup_action(a).resources for a in plan.actions):
            templated += 1
        if plan.kind in ("rule", "rest") or service == "apigatewaymanagementapi":
            # Rules and the API Gateway path scheme build their ARNs themselves;
            # each has tests.
            needs += 1
            scoped += 1
            continue
        verdict = _addressable(service, op, plan.actions[0])
        if verdict is None:
            continue
        needs += 1
        if verdict:
            scoped += 1
        else:
            unscoped.append(op)
    second = _second_pass(service, info.operations, frozenset(unknown))
    return ServiceCoverage(
        service=service,
        prefix=prefix,
        operations=len(info.operations),
        mapped=mapped,
        templated=templated,
        scoped=scoped,
        needs_resource=needs,
        free=free,
        unknown=tuple(unknown),
        unscoped=tuple(unscoped),
        data_older=tuple(op for op in unknown if operation_plan(service, op).prefix is not None),
        **second,
    )


def _second_pass(
    service: str, operations: tuple[str, ...], unknown: frozenset[str]
) -> dict[str, int]:
    """Dependent actions, nested roles and answer confidences of one service's operations."""
    from lambdaguard.iam._beyond import role_paths
    from lambdaguard.iam._dependent import dependent_actions
    from lambdaguard.iam._mapper import authorizations

    counts = {c.value: 0 for c in Confidence}
    with_dependent = nested = 0
    for op in operations:
        plan = operation_plan(service, op)
        if op in unknown or plan.kind == "free":
            continue
        if any(dependent_actions(a) for a in plan.actions):
            with_dependent += 1
        if any("." in p or "[]" in p for p in role_paths(service, op)):
            nested += 1
        try:
            found = authorizations(
                service,
                op,
                _sample_params(service, op),
                region="us-east-1",
                account="123456789012",
            )
        except IamDataError:
            continue
        for auth in found:
            counts[auth.confidence.value] += 1
    return {
        "with_dependent": with_dependent,
        "nested_roles": nested,
        "exact": counts["exact"],
        "template": counts["template"],
        "wildcard": counts["wildcard"],
        "dependent": counts["dependent"],
    }


def coverage(services: Iterable[str] | None = None) -> CoverageReport:
    """Coverage of ``services`` (default: every botocore service), sorted by name."""
    names = sorted(set(services)) if services is not None else list(available_services())
    return CoverageReport(tuple(service_coverage(name) for name in names))


# Actions the mapper adds on top of a plan's own actions (``_beyond`` and the
# S3 KMS / Data API extras), besides the dependent and tagging actions below.
_DEPENDENT_ACTIONS = (
    "iam:PassRole",
    "iam:CreateServiceLinkedRole",
    "kms:GenerateDataKey",
    "kms:Decrypt",
    "s3express:CreateSession",
    "secretsmanager:GetSecretValue",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:PutObject",
    "s3:GetBucketLocation",
)


def extra_actions(service: str, operation: str, actions: Iterable[str]) -> set[str]:
    """Actions the mapper may add for one operation: dependent, tagging, S3 variants."""
    from lambdaguard.iam._beyond import tagging_action
    from lambdaguard.iam._data import iam_service
    from lambdaguard.iam._dependent import dependent_actions

    out: set[str] = set()
    prefix = None
    for action in actions:
        prefix, _, name = action.partition(":")
        out.update(dependent_actions(action))
        if prefix == "s3":
            # Directory buckets (s3express) and S3 on Outposts (s3-outposts).
            for other in ("s3express", "s3-outposts"):
                data = iam_service(other)
                found = data.action(name) if data is not None else None
                if found is not None:
                    out.add(f"{other}:{found.name}")
    if prefix is not None:
        tagging = tagging_action(prefix, operation)
        if tagging is not None:
            out.add(tagging)
    return out


@cache
def _bound_in(service: str, operation: str) -> frozenset[tuple[str, str, str]]:
    """(prefix, resource type, placeholder) the operation's sample request fills."""
    from lambdaguard.iam._arns import CONTEXT_VARIABLES

    plan = operation_plan(service, operation)
    if plan.kind not in ("name", "rename", "documented", "rule"):
        return frozenset()
    params = _sample_params(service, operation)
    # A member holding an ARN (``...Arn``) names its resource verbatim.
    verbatim = any(m.lower().endswith("arn") for m in operation_members(service, operation))
    out: set[tuple[str, str, str]] = set()
    for action in plan.actions:
        try:
            slots = _slots(action)
        except IamDataError:
            continue
        prefix = action.partition(":")[0]
        if verbatim and prefix == plan.prefix:
            for slot in slots:
                out.update(
                    (prefix, slot.key, v)
                    for v in slot.template.variables
                    if v not in CONTEXT_VARIABLES
                )
            continue
        call = Call(service, prefix, operation, params, "us-east-1", "123456789012", "aws")
        try:
            found = [a.resource for a in authorize_prepared(call, action)]
        except (IamDataError, LookupError, ValueError, TypeError):
            continue
        for slot in slots:
            if any(slot.template.pattern.match(r) for r in found):
                out.update(
                    (prefix, slot.key, v)
                    for v in slot.template.variables
                    if v not in CONTEXT_VARIABLES
                )
    return frozenset(out)


def unbound_placeholders(services: Iterable[str]) -> frozenset[tuple[str, str, str]]:
    """ARN template placeholders of the services' actions that no request of theirs fills.

    Each is (IAM prefix, resource type, placeholder); a placeholder counts as
    bound when a request naming every top-level string member of some
    operation gets an ARN of that resource type from the real mapping path.
    """
    from lambdaguard.iam._arns import CONTEXT_VARIABLES

    seen: set[tuple[str, str, str]] = set()
    bound: set[tuple[str, str, str]] = set()
    for service in services:
        for op in service_info(service).operations:
            plan = operation_plan(service, op)
            for action in plan.actions:
                try:
                    slots = _slots(action)
                except IamDataError:
                    continue
                prefix = action.partition(":")[0]
                for slot in slots:
                    seen.update(
                        (prefix, slot.key, v)
                        for v in slot.template.variables
                        if v not in CONTEXT_VARIABLES
                    )
            bound.update(_bound_in(service, op))
    return frozenset(seen - bound)


def emittable_actions() -> frozenset[str]:
    """Every IAM action the mapper can emit for any botocore operation."""
    actions: set[str] = set(_DEPENDENT_ACTIONS)
    for service in available_services():
        for op in service_info(service).operations:
            plan = operation_plan(service, op)
            actions.update(plan.actions)
            actions.update(extra_actions(service, op, plan.actions))
    return frozenset(actions)
