"""Build authorizations: one IAM action plus a call's recorded parameters -> action on resource.

This is the generic path every mapping ends in: look the action up in the IAM
data, take its resource types, and find the resource the request names,
either an ARN given verbatim in a parameter or a template filled from
parameters. When nothing fits, the resource is ``*`` and the explanation says
why; a value is never made up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from lambdaguard.errors import IamDataError
from lambdaguard.iam._arns import (
    CONTEXT_VARIABLES,
    Template,
    compile_template,
    fill,
    matches,
    parse_arn,
    usable,
)
from lambdaguard.iam._data import IamAction, iam_service
from lambdaguard.iam._model import Authorization, Confidence
from lambdaguard.iam._models import operation_members

__all__ = ["Call", "authorize", "lookup_action", "unscoped"]

# Template placeholders whose request member does not share their name. Keyed
# by (IAM prefix, placeholder); the value lists request members to try, in
# order. Everything else binds by name: ${TableName} <- TableName,
# ${BucketName} <- Bucket (the "Name"/"Id" suffix may be absent on either side).
_ALIASES: dict[tuple[str, str], tuple[str, ...]] = {
    ("s3", "ObjectName"): ("Key",),
    ("lambda", "LayerVersion"): ("VersionNumber",),
    ("events", "RuleName"): ("Rule", "Name"),
    ("kinesis", "StreamName"): ("StreamName",),
    ("states", "StateMachineName"): ("name",),
    ("cognito-idp", "UserPoolId"): ("UserPoolId",),
    ("ses", "IdentityName"): ("Identity", "EmailIdentity", "Source", "FromEmailAddress"),
    ("ses", "TemplateName"): ("TemplateName",),
    ("ses", "ConfigurationSetName"): ("ConfigurationSetName",),
    ("athena", "WorkGroupName"): ("WorkGroup",),
    ("appconfig", "ApplicationId"): ("ApplicationIdentifier", "ApplicationId"),
    ("appconfig", "EnvironmentId"): ("EnvironmentIdentifier", "EnvironmentId"),
    ("appconfig", "ConfigurationProfileId"): (
        "ConfigurationProfileIdentifier",
        "ConfigurationProfileId",
    ),
    ("logs", "LogGroupName"): ("logGroupName", "logGroupIdentifier"),
    ("ecr", "RepositoryName"): ("repositoryName",),
    ("xray", "GroupName"): ("GroupName",),
    ("scheduler", "ScheduleGroupName"): ("GroupName",),
    ("scheduler", "ScheduleName"): ("Name",),
    ("ec2", "KeyPairName"): ("KeyName",),
    ("ssm", "RoleName"): ("IamRole",),
    ("lambda", "Alias"): ("Qualifier",),
    ("sns", "TopicName"): ("Name",),
    ("states", "ActivityName"): ("name",),
    ("xray", "SamplingRuleName"): ("RuleName",),
    ("glue", "UserDefinedFunctionName"): ("FunctionName",),
    ("rekognition", "ProjectName"): ("ProjectName",),
    ("sts", "FederatedUserName"): ("Name",),
    # Restores name the table they create TargetTableName.
    ("dynamodb", "TableName"): ("TableName", "TargetTableName"),
}
_SUFFIXES = ("Name", "Id", "Identifier", "Arn")
_OWNER_MEMBERS = ("accountid", "awsaccountid")
_ACCOUNT = re.compile(r"^\d{12}$")


@dataclass(frozen=True, slots=True)
class Call:
    """One recorded call, as the mapper sees it."""

    service: str  # botocore client name
    prefix: str  # IAM service prefix
    operation: str  # botocore operation name
    params: Mapping[str, Any]
    region: str
    account: str
    partition: str
    response: Mapping[str, Any] = field(default_factory=dict)

    def context(self) -> dict[str, str]:
        """The context placeholders every template may use."""
        return {"Partition": self.partition, "Region": self.region, "Account": self.account}


def lookup_action(action: str) -> IamAction:
    """The IAM data for ``prefix:Name``; a mapping rule naming a missing action is a bug."""
    prefix, _, name = action.partition(":")
    service = iam_service(prefix)
    found = service.action(name) if service is not None else None
    if found is None:
        raise IamDataError(f"the IAM data has no action {action!r}")
    return found


@dataclass(frozen=True, slots=True)
class _Slot:
    key: str
    required: bool
    template: Template


@cache
def _slots(action: str) -> tuple[_Slot, ...]:
    prefix = action.partition(":")[0]
    service = iam_service(prefix)
    act = lookup_action(action)
    assert service is not None  # lookup_action proved it
    slots = []
    for res in act.resources:
        rtype = service.resource_types.get(res.key.lower())
        if rtype is None:
            continue
        # A few types list several ARN formats in one field, comma-separated
        # (API Gateway's authorizer: /apis/... and /restapis/...).
        for text in rtype.arn.split(","):
            if text.strip():
                slots.append(_Slot(res.key, res.required, compile_template(text.strip())))
    return tuple(slots)


def _lower_params(params: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    return {str(k).lower(): (str(k), v) for k, v in params.items()}


@cache
def _candidates(prefix: str, variable: str) -> tuple[str, ...]:
    names = list(_ALIASES.get((prefix, variable), ()))
    names.append(variable)
    for suffix in _SUFFIXES:
        if variable.endswith(suffix) and len(variable) > len(suffix):
            names.append(variable[: -len(suffix)])
        names.append(variable + suffix)
    if variable.endswith("Id"):
        # Newer APIs take "DatasetIdentifier" (an id or an ARN) for ${DatasetId}.
        names.append(variable[:-2] + "Identifier")
    return tuple(dict.fromkeys(n.lower() for n in names))


def bind(
    prefix: str, template: Template, lowered: dict[str, tuple[str, Any]], values: dict[str, str]
) -> tuple[dict[str, str], list[str], frozenset[str]]:
    """Bind the template's placeholders; returns the values, the problems, the members used."""
    out = dict(values)
    problems: list[str] = []
    used: set[str] = set()
    for variable in template.variables:
        if variable in out:
            continue
        for candidate in _candidates(prefix, variable):
            hit = lowered.get(candidate)
            if hit is None:
                continue
            member, value = hit
            # Versions are numbers in some request shapes (VersionNumber: 3).
            problem = usable(value, numbers="Version" in variable)
            if problem is None and parse_arn(value) is not None:
                problem = "is an ARN that is not of this resource type"
            if problem is None:
                out[variable] = str(value)
                used.add(member)
            else:
                problems.append(f"{member} {problem}")
            break
        else:
            problems.append(f"no parameter gives ${{{variable}}}")
    return out, problems, frozenset(used)


def unscoped(action: str, why: str) -> Authorization:
    """``*`` because the action supports resource types the request does not name."""
    return Authorization(action, "*", Confidence.WILDCARD, why)


def authorize(
    call: Call,
    action: str,
    *,
    params: Mapping[str, Any] | None = None,
    values: Mapping[str, str] | None = None,
    note: str | None = None,
    arn: str | None = None,
) -> list[Authorization]:
    """The authorizations for ``action`` given the call's (or the given) parameters.

    ``values`` pre-binds placeholders (a rule that parsed a queue URL passes
    ``QueueName``); ``note``, when given, marks the result TEMPLATE with that
    explanation; ``arn`` is a resource ARN the rule already knows.
    """
    act = lookup_action(action)
    if not act.resources:
        return [
            Authorization(action, "*", Confidence.EXACT, "The action supports no resource types.")
        ]
    slots = _slots(action)
    if not slots:
        return [unscoped(action, "The IAM data lists no ARN format for this action's resources.")]
    source = call.params if params is None else params
    prefix = action.partition(":")[0]

    # 1. ARNs the request names verbatim (TopicArn, a function ARN as FunctionName ...).
    arns = [arn] if arn is not None else []
    # A request ARN the rule completed (a partial secret ARN + "-??????") is
    # replaced by the completed form.
    arns += [
        v
        for v in source.values()
        if isinstance(v, str)
        and v.startswith("arn:")
        and not (arn and arn != v and arn.startswith(v))
    ]
    wrong: list[str] = []
    filled: dict[str, list[str]] = {}
    verbatim: set[str] = set()
    for candidate in arns:
        fitting = [s for s in slots if matches(s.template, candidate)]
        if parse_arn(candidate) is None or usable(candidate) is not None or not fitting:
            wrong.append(candidate[:80])
            continue
        best = max(fitting, key=lambda s: s.template.specificity)
        if candidate not in filled.setdefault(best.key, []):
            filled[best.key].append(candidate)
        verbatim.add(best.key)

    # 2. Fill the other resource types from parameters.
    lowered = _lower_params(source)
    base = call.context()
    for member in _OWNER_MEMBERS:
        # APIs that act on another account's resources name it (budgets,
        # s3control, glacier, quicksight): that account owns the ARN.
        owner = lowered.get(member)
        if owner is not None and isinstance(owner[1], str) and _ACCOUNT.match(owner[1]):
            base["Account"] = owner[1]
            break
    base.update(values or {})
    wildcarded: dict[str, list[str]] = {}
    members: dict[str, frozenset[str]] = {}
    problems: list[str] = []
    for slot in slots:
        if slot.key in verbatim or slot.key in filled:
            continue
        fills, issues, used, generated = _fill_slot(call.operation, prefix, slot, lowered, base)
        if fills:
            filled[slot.key] = fills
            members[slot.key] = used
            if generated:
                wildcarded[slot.key] = generated
        else:
            problems.extend(issues)
    chosen, missing = _choose(slots, filled, frozenset(wildcarded), frozenset(verbatim))
    ambiguous = _alternatives(chosen, members)
    if ambiguous:
        # The IAM data lists several resource types one parameter could name
        # (a Bedrock modelId: foundation model, inference profile ...); which
        # one it is cannot be told from the name, so none is claimed.
        return [
            unscoped(
                action,
                f"The request's {'/'.join(sorted(ambiguous[0]))} could name any of "
                f"{', '.join(ambiguous[1])}; the resource type is not known.",
            )
        ]
    if chosen:
        out: list[Authorization] = []
        for key in chosen:
            explanation = note or f"The {key} ARN is filled from the request parameters."
            if key in verbatim:
                explanation = note or f"The request names the {key} ARN."
            confidence = Confidence.TEMPLATE if note else Confidence.EXACT
            if key in wildcarded:
                names = ", ".join("${" + v + "}" for v in wildcarded[key])
                explanation = (
                    f"The {key} ARN ends in {names}, an id AWS generates that the request "
                    "does not carry, so that part is '*'."
                )
                confidence = Confidence.TEMPLATE
            out += [
                _literal(Authorization(action, arn, confidence, explanation)) for arn in filled[key]
            ]
        if missing:
            # AWS also evaluates the required types the request does not name.
            out.append(unscoped(action, f"The request does not name its {'/'.join(missing)}."))
        return out
    if not wrong and not values and optional_only(call, action, slots):
        kinds = "/".join(s.key for s in slots)
        return [
            Authorization(
                action,
                "*",
                Confidence.EXACT,
                f"The operation's request has no member that could name the action's optional "
                f"resource type ({kinds}), so AWS evaluates '*'.",
            )
        ]
    why = "; ".join(dict.fromkeys(problems)) or "the request names no resource"
    if wrong:
        why = f"the ARN {wrong[0]!r} is not a {'/'.join(s.key for s in slots)} ARN; " + why
    return [unscoped(action, f"Cannot name the resource: {why}.")]


def _literal(auth: Authorization) -> Authorization:
    """An EXACT ARN holding '*' or '?' from the request matches more than the resource.

    IAM has no escape for its wildcards, so a key or name containing them can
    only be granted as a pattern; say so instead of claiming EXACT.
    """
    if auth.confidence is Confidence.EXACT and ("*" in auth.resource or "?" in auth.resource):
        return Authorization(
            auth.action,
            auth.resource,
            Confidence.TEMPLATE,
            "The recorded name contains '*' or '?', which IAM reads as wildcards, so the ARN "
            "matches more than this resource.",
        )
    return auth


def optional_only(call: Call, action: str, slots: tuple[_Slot, ...]) -> bool:
    """True if every resource type is optional and the operation's input cannot name any.

    The Service Authorization Reference lists optional resource types on
    actions whose requests usually target none (cloudwatch:PutMetricData and
    its datasets); when the operation's input shape has no member that could
    name one, the request is authorized on '*'.
    """
    if action.partition(":")[0] != call.prefix or any(s.required for s in slots):
        return False
    try:
        names = {m.lower() for m in operation_members(call.service, call.operation)}
    except LookupError:
        return False
    if any(n.endswith(("arn", "arns")) or n in ("resource", "resources") for n in names):
        return False
    op = call.operation.lower()
    for slot in slots:
        if _NOT_ALNUM.sub("", slot.key.lower()) in op and names & set(_OWN_NAMES):
            return False
        for variable in slot.template.variables:
            if variable in CONTEXT_VARIABLES:
                continue
            candidates = _candidates(call.prefix, variable)
            if any(c in names or c + "s" in names for c in candidates):
                return False
    return True


def _alternatives(
    chosen: list[str], members: dict[str, frozenset[str]]
) -> tuple[frozenset[str], list[str]] | None:
    """Two chosen types filled from the very same request members are alternatives."""
    seen: dict[frozenset[str], list[str]] = {}
    for key in chosen:
        used = members.get(key, frozenset())
        if used:
            seen.setdefault(used, []).append(key)
    for used, keys in seen.items():
        if len(keys) > 1:
            return used, keys
    return None


# Trailing placeholders AWS generates at creation (a stack's ${Id}, an event
# bus's ${OpaqueId}); a request by name never carries them.
_GENERATED = frozenset({"Id", "OpaqueId", "UniqueAttributesHex", "RandomSuffix"})
# Members that name "the" resource of an operation whose name contains the
# resource type (events:CreateConnection {Name} -> connection/${ConnectionName}).
_OWN_NAMES = ("name", "identifier", "id", "arn")
_MAX_LIST = 100
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


def _good(value: object) -> bool:
    return usable(value) is None and parse_arn(value) is None


def _fill_slot(
    operation: str,
    prefix: str,
    slot: _Slot,
    lowered: dict[str, tuple[str, Any]],
    base: dict[str, str],
) -> tuple[list[str], list[str], frozenset[str], list[str]]:
    """ARNs for one resource type: (arns, problems, members used, wildcarded placeholders)."""
    template = slot.template
    bound, issues, used = bind(prefix, template, lowered, base)
    missing = [v for v in template.variables if v not in bound]
    if not missing:
        result = fill(template, bound)
        return ([result] if result else []), [], used, []
    names = set(used)
    listed: list[str] | None = None
    noun = _NOT_ALNUM.sub("", slot.key.lower())
    own = bool(noun) and noun in operation.lower()
    if len(missing) == 1 and not any("no parameter" not in i for i in issues):
        variable = missing[0]
        if own:
            for member in _OWN_NAMES[:3]:
                hit = lowered.get(member)
                if hit is not None and _good(hit[1]):
                    bound[variable] = str(hit[1])
                    names.add(hit[0])
                    break
        if variable not in bound:
            plural = [c + "s" for c in _candidates(prefix, variable)]
            if own:
                plural += [m + "s" for m in _OWN_NAMES[:3]]
            for candidate in plural:
                hit = lowered.get(candidate)
                if hit is None or not isinstance(hit[1], list) or not hit[1]:
                    continue
                items = hit[1][:_MAX_LIST]
                if all(_good(v) for v in items):
                    listed = [str(v) for v in items]
                    bound[variable] = "\0"
                    names.add(hit[0])
                break
    missing = [v for v in template.variables if v not in bound]
    generated: list[str] = []
    request_bound = [v for v in template.variables if v in bound and v not in CONTEXT_VARIABLES]
    if missing == [template.variables[-1]] and missing[0] in _GENERATED and request_bound:
        bound[missing[0]] = "*"
        generated.append(missing[0])
        missing = []
    if missing:
        return [], issues, frozenset(), []
    result = fill(template, bound)
    if result is None:
        return [], issues, frozenset(), []
    arns = [result.replace("\0", v) for v in listed] if listed is not None else [result]
    return arns, [], frozenset(names), generated


def _request_variables(slot: _Slot) -> frozenset[str]:
    return frozenset(slot.template.variables) - CONTEXT_VARIABLES


def _choose(
    slots: tuple[_Slot, ...],
    filled: dict[str, list[str]],
    partial: frozenset[str],
    verbatim: frozenset[str] = frozenset(),
) -> tuple[list[str], list[str]]:
    """Which filled resource types AWS evaluates.

    Every required type is evaluated. An optional type that refines a required
    one (its template extends the required template, like a DynamoDB index
    below its table) replaces it when the request names it: a Query on an index
    is authorized against the index ARN. With no required type, the most
    specific filled template is the one the request addresses.
    """
    required = [s for s in slots if s.required]
    if required:
        chosen: list[str] = []
        missing: list[str] = []
        for slot in required:
            refinements = [
                o
                for o in slots
                if not o.required
                and o.key in filled
                and o.key not in partial
                and o.template.text.startswith(slot.template.text)
                and len(o.template.text) > len(slot.template.text)
            ]
            if refinements:
                chosen.append(max(refinements, key=lambda o: o.template.specificity).key)
            elif slot.key in filled:
                chosen.append(slot.key)
            else:
                missing.append(slot.key)
        chosen = list(dict.fromkeys(chosen))
        # The reference marks every type "required" both for actions that need
        # all of them (glue:GetTable: catalog, database and table) and for
        # actions whose types are alternatives for one parameter (Bedrock's
        # foundation-model/${ResourceId}, inference-profile/${ResourceId} ...).
        # Two required types named by the same placeholders mark the second
        # kind: then types sharing a chosen one's placeholders, and fixed ARNs,
        # are alternatives, not further resources AWS evaluates.
        by_key = {s.key: s for s in slots}
        groups: dict[frozenset[str], int] = {}
        for slot in required:
            names = _request_variables(slot)
            if names:
                groups[names] = groups.get(names, 0) + 1
        if any(count > 1 for count in groups.values()):
            chosen = [k for k in chosen if _request_variables(by_key[k])] or chosen
            chosen_vars = {_request_variables(by_key[k]) for k in chosen}
            missing = [
                k
                for k in missing
                if _request_variables(by_key[k])
                and _request_variables(by_key[k]) not in chosen_vars
            ]
        return chosen, missing
    present = [s for s in slots if s.key in filled]
    if not present:
        return [], []
    # An ARN the request names beats a filled template; a template the request
    # fills beats a fixed ARN; a fully named type beats one with a generated id
    # wildcarded.
    best = max(
        present,
        key=lambda s: (
            s.key in verbatim,
            bool(_request_variables(s)),
            s.key not in partial,
            s.template.specificity,
            len(s.template.variables),
        ),
    )
    return [best.key], []
