"""What a function needed: the authorization requests of its recorded calls, per role, with the calls.

The input is the evidence (:class:`~.findings.MappedCall`: a stored
:class:`~lambdaguard.evidence.ObservedCall` and the IAM requests
:func:`lambdaguard.iam.authorizations_for_call` derived from it), plus what
the Lambda service needs through the role (derived from the configuration,
never seen by a hook). The output is one :class:`Need` per distinct
(action, resource), each citing the calls behind it, grouped by whose
credentials signed them:

- the execution role (as Lambda set them; calls recorded before the agent
  said whose credentials it used count here too);
- each role the function assumed (``sts:AssumeRole*``): those calls are that
  role's need, and the execution role needs ``sts:AssumeRole`` on it;
- other static credentials: nobody's need here (reported, never proposed).

A call the IAM knowledge could not map is never dropped: it needs "every
action of its service" (``prefix:*`` on ``*``), which the proposal reads as
"keep what today's grant allows for that service", and confidence drops.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from lambdaguard import semconv
from lambdaguard.analysis.findings import Citation, MappedCall

__all__ = [
    "ROLE_EXECUTION",
    "Need",
    "Needs",
    "ServiceNeedLike",
    "citation",
    "citation_order",
    "collect_needs",
    "merge_needs",
]

# The key of the execution role's needs in Needs.by_role.
ROLE_EXECUTION: Final = ""
# Confidence labels beyond the mapping's own (exact, template, wildcard, dependent).
SERVICE: Final = "service"
UNMAPPED: Final = "unmapped"
ASSUMED: Final = "assumed-role"


class ServiceNeedLike(Protocol):
    """A permission the Lambda service exercises through the role, and why.

    :class:`lambdaguard.analysis.service_needs.ServiceNeed` is one.
    """

    @property
    def action(self) -> str: ...
    @property
    def resource(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def certain(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Need:
    """One authorization request a role needs, with every reason and recorded call behind it."""

    action: str
    resource: str
    confidence: str  # exact | template | wildcard | dependent | service | unmapped | assumed-role
    explanations: tuple[str, ...]
    evidence: tuple[Citation, ...] = ()
    origin: str = "used"  # used | lambda-service | assumed-role | unmapped
    denied_calls: int = 0  # citing calls that failed with an access-denied error
    succeeded_calls: int = 0  # citing calls that returned without an error
    # KMS used on the caller's behalf by these services only (kms:ViaService values,
    # "ssm.eu-west-1.amazonaws.com"); empty when some call used the key directly.
    via: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Needs:
    """A function's needs, by whose credentials signed the calls."""

    by_role: dict[str, tuple[Need, ...]]  # ROLE_EXECUTION or an assumed role's ARN
    static: tuple[Citation, ...] = ()  # calls signed with other credentials: reported only
    unmapped: tuple[str, ...] = ()  # "service Operation: why", one per call shape
    wildcard: int = 0  # requests whose resource could not be named (resource "*")
    incomplete: int = 0  # calls whose recorded params were cut
    otel_only: int = 0  # calls reported by another instrumentation (fewer resources)
    assumed: tuple[str, ...] = field(default=())  # role ARNs the function assumed

    @property
    def execution(self) -> tuple[Need, ...]:
        """The execution role's needs."""
        return self.by_role.get(ROLE_EXECUTION, ())


def citation(m: MappedCall, resource: str) -> Citation:
    """The citation of one recorded call for one resource it needed."""
    c = m.call
    return Citation(
        service=c.service,
        operation=c.operation,
        resource=resource,
        count=c.count,
        first_seen=c.first_seen,
        last_seen=c.last_seen,
        trace_id=c.trace_id,
        span_id=c.span_id,
        error_code=c.error_code,
        region=c.region,
        function=c.function_arn.rsplit(":", 1)[-1],
    )


@dataclass(slots=True)
class _Acc:
    confidence: str
    origin: str
    explanations: list[str] = field(default_factory=list)
    evidence: list[Citation] = field(default_factory=list)
    denied: int = 0
    succeeded: int = 0
    via: set[str] = field(default_factory=set)
    direct: bool = False  # some contribution came without a service on whose behalf


class _Builder:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], _Acc] = {}

    def add(
        self,
        action: str,
        resource: str,
        confidence: str,
        explanation: str,
        *,
        origin: str,
        cite: Citation | None = None,
        denied: int = 0,
        succeeded: int = 0,
        via: str = "",
    ) -> None:
        item = self.items.get((action, resource))
        if item is None:
            item = self.items[action, resource] = _Acc(confidence, origin)
        if explanation and explanation not in item.explanations:
            item.explanations.append(explanation)
        if cite is not None:
            item.evidence.append(cite)
        # A request both recorded and needed by the service counts as recorded.
        if origin == "used" and item.origin != "used":
            item.origin, item.confidence = "used", confidence
        item.denied += denied
        item.succeeded += succeeded
        if via:
            item.via.add(via)
        else:
            item.direct = True

    def build(self) -> tuple[Need, ...]:
        return tuple(
            Need(
                action=action,
                resource=resource,
                confidence=item.confidence,
                explanations=tuple(item.explanations),
                evidence=tuple(sorted(item.evidence, key=citation_order)),
                origin=item.origin,
                denied_calls=item.denied,
                succeeded_calls=item.succeeded,
                via=() if item.direct else tuple(sorted(item.via)),
            )
            for (action, resource), item in sorted(self.items.items())
        )


def citation_order(c: Citation) -> tuple[str, ...]:
    """The order (and identity) of citations: by call, resource, function, then occurrence."""
    return (
        c.service,
        c.operation,
        c.resource,
        c.function,
        c.region,
        c.error_code,
        c.trace_id,
        c.span_id,
    )


def merge_needs(*groups: Iterable[Need]) -> tuple[Need, ...]:
    """Needs of several functions (sharing a role) as one list, one Need per (action, resource)."""
    builder = _Builder()
    for group in groups:
        for n in group:
            for i, e in enumerate(n.explanations or ("",)):
                builder.add(
                    n.action,
                    n.resource,
                    n.confidence,
                    e,
                    origin=n.origin,
                    denied=n.denied_calls if i == 0 else 0,
                    succeeded=n.succeeded_calls if i == 0 else 0,
                    via=n.via[0] if n.via else "",
                )
            item = builder.items[n.action, n.resource]
            item.evidence.extend(n.evidence)
            item.via.update(n.via)
    return builder.build()


def collect_needs(
    calls: Iterable[MappedCall],
    *,
    service_needs: Sequence[ServiceNeedLike] = (),
    prefix_of: dict[str, str] | None = None,
) -> Needs:
    """Group the mapped calls' requests by role, add the Lambda service's needs to the execution role's.

    ``prefix_of`` maps a botocore service name to its IAM prefix for unmapped
    calls (default: :func:`lambdaguard.iam.iam_prefix`).
    """
    builders: dict[str, _Builder] = {ROLE_EXECUTION: _Builder()}
    static: list[Citation] = []
    unmapped: list[str] = []
    assumed: dict[str, None] = {}
    wildcard = incomplete = otel = 0
    for m in calls:
        c = m.call
        principal = c.principal
        if principal.is_execution_role:
            role = ROLE_EXECUTION
        elif principal.kind == semconv.CREDENTIALS_ASSUMED_ROLE and principal.role_arn:
            role = principal.role_arn
            assumed[role] = None
        else:
            static.extend(citation(m, r.resource) for r in m.requests or ())
            if not m.requests:
                static.append(citation(m, "*"))
            continue
        builder = builders.setdefault(role, _Builder())
        if not c.params_complete:
            incomplete += 1
        if c.source != "lambdaguard":
            otel += 1
        denied = c.count if c.denied else 0
        ok = c.count if c.succeeded else 0
        if not m.requests:
            if m.note is None:
                continue  # no permission needed (STS GetCallerIdentity, unsigned calls)
            prefix = _prefix(c.service, prefix_of)
            unmapped.append(f"{c.service} {c.operation}: {m.note}")
            builder.add(
                f"{prefix}:*",
                "*",
                UNMAPPED,
                f"{c.service} {c.operation} could not be mapped to IAM actions ({m.note}); "
                f"what today's grant allows for {prefix} is kept",
                origin="unmapped",
                cite=citation(m, "*"),
                denied=denied,
                succeeded=ok,
            )
            continue
        for r in m.requests:
            if r.confidence == "wildcard":
                wildcard += 1
            builder.add(
                r.action,
                r.resource,
                r.confidence,
                r.explanation,
                origin="used",
                cite=citation(m, r.resource),
                denied=denied,
                succeeded=ok,
                via=_via(r.action, r.confidence, c.service, c.region),
            )
    execution = builders[ROLE_EXECUTION]
    for role in assumed:
        execution.add(
            "sts:AssumeRole",
            role,
            ASSUMED,
            f"the function signed calls with credentials of {role}, which it assumed",
            origin="assumed-role",
        )
    for need in service_needs:
        why = f"Lambda service ({need.source}): {need.reason}"
        if not need.certain:
            why += " (kept in case: the configuration does not show whether Lambda needs it)"
        execution.add(need.action, need.resource, SERVICE, why, origin="lambda-service")
    return Needs(
        by_role={role: b.build() for role, b in builders.items()},
        static=tuple(sorted(static, key=citation_order)),
        unmapped=tuple(sorted(set(unmapped))),
        wildcard=wildcard,
        incomplete=incomplete,
        otel_only=otel,
        assumed=tuple(sorted(assumed)),
    )


def _via(action: str, confidence: str, service: str, region: str) -> str:
    """The kms:ViaService value when ``service`` uses KMS with the caller's permission, else "".

    S3 (SSE-KMS), SSM (SecureString), Secrets Manager, SQS, DynamoDB … call KMS
    on the caller's behalf; such a request can only come through that service,
    which ``kms:ViaService`` states ("the service's endpoint in the region").
    """
    if not action.lower().startswith("kms:") or service == "kms" or confidence != "dependent":
        return ""
    from lambdaguard.errors import IamDataError
    from lambdaguard.iam._models import service_info

    try:
        endpoint = service_info(service).endpoint_prefix
    except IamDataError:
        return ""
    return f"{endpoint}.{region}.amazonaws.com" if region else ""


def _prefix(service: str, prefix_of: dict[str, str] | None) -> str:
    if prefix_of is not None and service in prefix_of:
        return prefix_of[service]
    from lambdaguard.errors import IamDataError
    from lambdaguard.iam import iam_prefix

    try:
        return str(iam_prefix(service))
    except IamDataError:
        return service
