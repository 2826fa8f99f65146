"""The findings model: what analysis concludes about each function, the one input of every renderer.

Renderers (terminal tables, JSON, the HTML report, later Terraform and
CloudFormation) read these records and nothing else: never the store, never
the IAM knowledge. Each part has one owner in ``analysis`` and is filled by it::

    Findings                                  one analysis run over a store
    ├── window_start … window_end, generated_at, source, warnings, partial
    ├── inventory: InventorySummary | None    when the verdicts' inventory was read
    └── functions: FunctionFindings           riskiest first
        ├── arn, name, account, region, role_arn, runtime, tags
        ├── evidence: Evidence | None         what lambdaguard recorded     (analysis.evidence)
        │   ├── invocations: Invocations      totals and per UTC day
        │   ├── calls: CallGroup …            per operation, each recorded call
        │   │                                 (lambdaguard.evidence.ObservedCall) with the
        │   │                                 IAM requests it needs
        │   ├── hosts: HostSeen …             outbound hosts, TLS or plaintext
        │   ├── triggers: TriggerSeen …       trigger kinds and sources seen
        │   └── versions: VersionSeen …       versions and aliases that ran
        ├── proposal: PolicyProposal | None   the right-sized policy        (analysis.policies)
        │   ├── statements: ProposedStatement  each with its reasons and cited calls
        │   ├── used: UsedPermission …        what the calls needed, how the grant answers
        │   ├── unused: UnusedPermission …    granted, never used (access level, risks)
        │   ├── diff, proof, paths_now/after, trial
        ├── assumed_roles: PolicyProposal …   roles the function assumed, each its own
        ├── judgement: Judgement | None       verdict, flags, clean-up plan, attack surface
        │                                     (analysis.verdicts; from the stored inventory)
        └── risk: Risk                        from whichever parts are there (analysis.risk)

``None`` means "not analysed", never "nothing found": a function the inventory
knows but lambdaguard never heard from has ``evidence=None``; a function
whose grants were not read has ``proposal=None``. Renderers must say so.

Every record is a frozen, slotted dataclass; times are aware UTC datetimes.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from lambdaguard.evidence import ErrorSeen, HostSeen, ObservedCall, TriggerSeen, VersionSeen

__all__ = [
    "AccessUse",
    "CallGroup",
    "Citation",
    "CleanupStep",
    "Confidence",
    "ConfiguredTrigger",
    "DayCount",
    "DiffLine",
    "EscalationPath",
    "Evidence",
    "Findings",
    "Flag",
    "FunctionFindings",
    "IamRequest",
    "InventorySummary",
    "Invocations",
    "Judgement",
    "Level",
    "MappedCall",
    "PolicyProposal",
    "ProofCheck",
    "ProposedStatement",
    "Risk",
    "Surface",
    "Trial",
    "UnusedPermission",
    "UsedPermission",
    "Verdict",
    "WouldBeDenial",
]


class Level(enum.StrEnum):
    """How much a conclusion can be trusted."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class Confidence:
    """A confidence level and the reasons behind it (how long, how much was observed)."""

    level: Level
    reasons: tuple[str, ...] = ()


# -- evidence: what lambdaguard recorded ---------------------------------------------
# The store's own records (lambdaguard.evidence) are used as they are where
# nothing needs adding: hosts, triggers, versions and error types.


@dataclass(frozen=True, slots=True)
class DayCount:
    """A function's invocations on one UTC day, with its duration percentiles when kept."""

    day: date
    invocations: int
    cold_starts: int
    errors: int
    timeouts: int
    p50_ms: float | None = None
    p95_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Invocations:
    """Invocation totals over the window, and the days they add up from (oldest first)."""

    total: int
    cold_starts: int
    errors: int
    timeouts: int
    days: tuple[DayCount, ...]
    # Error types invocations (and INIT) ended with, with counts.
    error_types: tuple[ErrorSeen, ...] = ()

    @classmethod
    def from_days(
        cls, days: Iterable[DayCount], error_types: Iterable[ErrorSeen] = ()
    ) -> Invocations:
        """Totals summed from the days."""
        ordered = tuple(sorted(days, key=lambda d: d.day))
        return cls(
            total=sum(d.invocations for d in ordered),
            cold_starts=sum(d.cold_starts for d in ordered),
            errors=sum(d.errors for d in ordered),
            timeouts=sum(d.timeouts for d in ordered),
            days=ordered,
            error_types=tuple(error_types),
        )


@dataclass(frozen=True, slots=True)
class IamRequest:
    """One authorization request AWS evaluates for a recorded call: an action on a resource."""

    action: str
    resource: str
    confidence: str  # exact | template | wildcard | dependent, as lambdaguard.iam.Confidence
    explanation: str


@dataclass(frozen=True, slots=True)
class MappedCall:
    """One distinct recorded call and the IAM requests it needed (or why they are unknown)."""

    call: ObservedCall
    requests: tuple[IamRequest, ...]
    note: str | None = None


@dataclass(frozen=True, slots=True)
class CallGroup:
    """All recorded calls of one AWS operation, and the IAM requests they needed."""

    service: str
    operation: str
    calls: tuple[MappedCall, ...]

    @property
    def count(self) -> int:
        """How many times the operation was called."""
        return sum(c.call.count for c in self.calls)

    @property
    def failed(self) -> int:
        """How many of those calls failed with an AWS error code."""
        return sum(c.call.count for c in self.calls if c.call.error_code)

    @property
    def first_seen(self) -> datetime | None:
        """The first time the operation was seen."""
        return min((c.call.first_seen for c in self.calls if c.call.first_seen), default=None)

    @property
    def last_seen(self) -> datetime | None:
        """The last time the operation was seen."""
        return max((c.call.last_seen for c in self.calls if c.call.last_seen), default=None)

    @property
    def requests(self) -> tuple[IamRequest, ...]:
        """Every distinct IAM request of the operation's calls, by action then resource."""
        seen = {(r.action, r.resource): r for c in self.calls for r in c.requests}
        return tuple(seen[k] for k in sorted(seen))


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything lambdaguard recorded for one function inside the window."""

    first_seen: datetime
    last_seen: datetime
    layer_version: str
    invocations: Invocations
    calls: tuple[CallGroup, ...]
    hosts: tuple[HostSeen, ...]
    triggers: tuple[TriggerSeen, ...] = ()
    versions: tuple[VersionSeen, ...] = ()
    runtime: str = ""
    last_invoked: datetime | None = None

    @property
    def calls_count(self) -> int:
        """AWS API calls made in the window."""
        return sum(g.count for g in self.calls)

    @property
    def third_party_hosts(self) -> tuple[HostSeen, ...]:
        """Hosts that are not AWS endpoints."""
        return tuple(h for h in self.hosts if not h.aws)

    @property
    def actions_used(self) -> frozenset[str]:
        """Every IAM action the recorded calls needed.

        A ``dependent`` request (AWS may evaluate it, depending on what the
        record does not show) is not counted as used.
        """
        return frozenset(
            r.action
            for g in self.calls
            for c in g.calls
            for r in c.requests
            if r.confidence != "dependent"
        )


# -- the proposal (policies issue): filled by analysis.policies ---------------------
# Why each permission stays, or goes, is part of the record: a reviewer checks a
# proposal against the observed calls it cites, not against our word.


@dataclass(frozen=True, slots=True)
class AccessUse:
    """Granted versus used actions of one service at one access level (List, Read, Write, …)."""

    service: str
    access_level: str
    granted: int
    used: int


@dataclass(frozen=True, slots=True)
class Citation:
    """One recorded call behind a permission, enough to find it in a tracing backend."""

    service: str
    operation: str
    resource: str  # the IAM resource the call needed (an ARN, a pattern, or "*")
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    trace_id: str = ""
    span_id: str = ""
    error_code: str = ""
    region: str = ""
    function: str = ""  # the function that made it (roles may be shared by several)


@dataclass(frozen=True, slots=True)
class ProposedStatement:
    """One statement of the proposal, with why it is there and the calls that need it."""

    sid: str
    effect: str  # "Allow" | "Deny"
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resource: bool = False  # only Deny statements carried over from today's grant
    condition: str | None = None  # the Condition element as JSON text
    # "used" (recorded calls), "lambda-service" (the Lambda service through the
    # role), "assumed-role" (sts:AssumeRole for roles the function assumed),
    # "kept-deny" (a Deny of today's grant that still applies), "unmapped"
    # (calls the IAM knowledge could not map: what today's grant allows their service)
    origin: str = "used"
    reasons: tuple[str, ...] = ()
    evidence: tuple[Citation, ...] = ()


@dataclass(frozen=True, slots=True)
class UsedPermission:
    """An authorization request the recorded calls needed, and how today's grant answers it.

    ``status``: ``granted``; ``granted-conditional`` (only under a condition
    of the grant, kept); ``granted-in-part`` (the grant covers part of the
    pattern); ``denied`` (the grant does not allow it and the call failed with
    an access-denied error); ``resource-policy`` (the grant does not allow it,
    yet the call succeeded: a resource policy, or another grant, allowed it);
    ``not-covered`` (the grant does not allow it; the calls failed otherwise).
    ``granted_as`` is where today's grant allows the action, for "``s3:*`` on
    ``*`` granted; used ``s3:GetObject`` on ``photos/uploads/*``".
    """

    action: str
    resource: str
    status: str
    reason: str
    confidence: str  # of the IAM mapping: exact | template | wildcard | dependent | service
    explanation: str
    evidence: tuple[Citation, ...] = ()
    granted_as: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UnusedPermission:
    """A granted action no recorded call used in the window."""

    action: str
    resources: tuple[str, ...]  # where today's grant allows it (its statements' Resource)
    access_level: str  # List | Read | Write | Tagging | Permissions management | "" (unknown)
    risks: tuple[str, ...] = ()  # ids of lambdaguard.iam.risk classes the action takes part in
    last_used: datetime | None = None  # seen before the window: "not used since"

    @property
    def since(self) -> str:
        """ "not used since …" or "never used in the window"."""
        if self.last_used is None:
            return "never used in the window"
        return f"not used since {self.last_used:%Y-%m-%d}"


@dataclass(frozen=True, slots=True)
class EscalationPath:
    """A privilege-escalation or data-exfiltration path a grant opens."""

    id: str
    kind: str  # privilege-escalation | data-exfiltration
    title: str
    description: str
    # "all": open on every resource the path needs; "some": only on part of them
    # (a proposal that reads its own bucket has "read every object" on "some").
    scope: str = "all"
    conditional: bool = False


@dataclass(frozen=True, slots=True)
class ProofCheck:
    """One check of the proof, its outcome and what failed."""

    name: str  # actions | resources | within-grant | replay | size
    passed: bool
    detail: str
    failures: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WouldBeDenial:
    """A call recorded after the pin that the pinned proposal would deny."""

    action: str
    resource: str
    citation: Citation
    first_detected: datetime


@dataclass(frozen=True, slots=True)
class Trial:
    """A proposal under trial (``lambdaguard policy FUNCTION --pin``) and how it is doing."""

    pinned_at: datetime
    trial_days: int
    days_pinned: float
    calls_checked: int
    denials: tuple[WouldBeDenial, ...]
    ready: bool  # the trial period passed with zero would-be denials
    current: bool  # the pinned documents equal today's proposal
    status: str  # one sentence


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of the human diff between today's policy and the proposal.

    ``removed``: granted today, not in the proposal; ``kept``: in both, as
    written; ``added``: the narrower line that replaces what was removed (never
    wider than today's grant).
    """

    change: str  # "removed" | "kept" | "added"
    text: str
    note: str = ""
    service: str = ""


@dataclass(frozen=True, slots=True)
class PolicyProposal:
    """A right-sized policy for one role of the function, its comparison, diff and proof.

    ``documents`` are the proposed IAM policy documents, each as the generator
    wrote it (deterministic JSON text, each within a managed policy's 6,144
    characters); they replace the role's identity policies (``replaces``), and
    the permissions boundary stays as it is. An empty ``documents`` with
    ``grant_read`` False means the role's policies could not be read: the
    need is listed in ``used``, nothing is proposed.
    """

    role_arn: str
    # Each proposed IAM policy document as the generator wrote it (deterministic JSON text).
    documents: tuple[str, ...]
    confidence: Confidence
    access: tuple[AccessUse, ...] = ()
    diff: tuple[DiffLine, ...] = ()
    # Unused actions of Write or Permissions-management level, or that allow
    # escalation (the first 100; unused_risky_total counts them all).
    unused_risky: tuple[str, ...] = ()
    admin_equivalent: bool = False
    # Paths open on every resource they need and under no condition; paths_now/after list all.
    escalation_paths_now: int = 0
    escalation_paths_after: int = 0
    proved: bool | None = None
    proof: tuple[ProofCheck, ...] = ()
    principal: str = "execution-role"  # or "assumed-role": calls signed as a role it assumed
    grant_read: bool = True
    statements: tuple[ProposedStatement, ...] = ()
    replaces: tuple[str, ...] = ()  # today's identity policies of the role (ARNs or names)
    boundary: str | None = None  # the permissions boundary that stays attached
    used: tuple[UsedPermission, ...] = ()
    # The first unused actions, riskiest first (unused_total counts them all).
    unused: tuple[UnusedPermission, ...] = ()
    unused_total: int = 0
    unused_risky_total: int = 0
    paths_now: tuple[EscalationPath, ...] = ()
    paths_after: tuple[EscalationPath, ...] = ()
    notes: tuple[str, ...] = ()
    trial: Trial | None = None

    @property
    def denied(self) -> tuple[UsedPermission, ...]:
        """What the calls needed and today's grant does not allow."""
        return tuple(u for u in self.used if u.status in _NOT_GRANTED)

    @property
    def policies(self) -> tuple[dict[str, Any], ...]:
        """The proposed documents as JSON objects."""
        return tuple(json.loads(d) for d in self.documents)


_NOT_GRANTED: Final = frozenset({"denied", "resource-policy", "not-covered"})


# -- the judgement (inventory issue): filled by analysis' inventory modules ----------


class Verdict(enum.StrEnum):
    """Whether a function is in use."""

    ACTIVE = "active"
    IDLE_EXPECTED = "idle-expected"
    IDLE = "idle"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Flag:
    """A finding independent of the verdict (``public-url-no-auth``, ``plaintext-egress``, …)."""

    name: str
    reason: str
    subject: str = ""  # what it is about (a host, a trigger's source), when not the function


@dataclass(frozen=True, slots=True)
class ConfiguredTrigger:
    """A trigger configured in AWS (event source mapping, permission, URL, rule, …)."""

    kind: str
    source: str
    enabled: bool | None = None
    source_exists: bool | None = None  # None: not known
    detail: str = ""


@dataclass(frozen=True, slots=True)
class CleanupStep:
    """One step of the clean-up plan: what it does, and the AWS CLI command a person runs."""

    description: str
    command: str


@dataclass(frozen=True, slots=True)
class Surface:
    """What the function's role could still do (its attack surface), when its grants were evaluated.

    ``access`` counts the actions its role allows on every resource, by IAM
    access level; None when the grants were not evaluated.
    """

    access: tuple[tuple[str, int], ...] | None = None
    admin_equivalent: bool = False
    escalation: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class Judgement:
    """The verdict on a function, its reasons and flags, and the clean-up plan for a person."""

    verdict: Verdict
    reasons: tuple[str, ...]
    confidence: Confidence
    flags: tuple[Flag, ...] = ()
    last_invoked: datetime | None = None
    triggers: tuple[ConfiguredTrigger, ...] = ()
    public_entry_points: tuple[str, ...] = ()
    cleanup: tuple[str, ...] = ()  # AWS CLI commands, in the order to run them
    plan: tuple[CleanupStep, ...] = ()  # the same commands, each with what it does
    surface: Surface = Surface()
    # When the inventory was read: the verdict is as of then, over window_days before it.
    as_of: datetime | None = None
    window_days: int | None = None
    # Schedules that target it: expression, last and next due, due in the window.
    schedules: tuple[tuple[tuple[str, Any], ...], ...] = ()


@dataclass(frozen=True, slots=True)
class InventorySummary:
    """The inventory readings the verdicts come from (``lambdaguard inventory``, kept in the store)."""

    read_at: datetime | None  # the newest reading
    oldest: datetime | None  # the oldest reading a verdict comes from
    source: str  # live | export
    window: timedelta | None  # the newest reading's window
    functions: int
    partial: bool = False
    listed_only: int = 0  # listed by an older lambdaguard, not judged


# -- the function and the run ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Risk:
    """How urgently a function deserves a look, with the reasons that add up to it."""

    score: int
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FunctionFindings:
    """Everything concluded about one function."""

    arn: str
    name: str
    account: str
    region: str
    evidence: Evidence | None
    proposal: PolicyProposal | None = None
    judgement: Judgement | None = None
    risk: Risk = Risk(0)
    # Proposals for roles the function assumed (calls signed with their credentials).
    assumed_roles: tuple[PolicyProposal, ...] = ()
    role_arn: str | None = None
    runtime: str | None = None
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def verdict(self) -> Verdict | None:
        """The verdict when the inventory judged the function, else None."""
        return self.judgement.verdict if self.judgement else None


@dataclass(frozen=True, slots=True)
class Findings:
    """One analysis run: every function, riskiest first, and what the run could not see."""

    generated_at: datetime
    window_start: datetime | None  # None: everything the store holds
    window_end: datetime
    source: str  # where the evidence came from (a store URL, without credentials)
    functions: tuple[FunctionFindings, ...]
    warnings: tuple[str, ...] = ()
    partial: bool = False
    inventory: InventorySummary | None = None  # None: no inventory in the store

    def matching(self, name_or_arn: str) -> tuple[FunctionFindings, ...]:
        """The function with this ARN; else every function of this name (one per account/region)."""
        by_arn = tuple(f for f in self.functions if f.arn == name_or_arn)
        return by_arn or tuple(f for f in self.functions if f.name == name_or_arn)
