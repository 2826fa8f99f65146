"""The findings model: what analysis concludes about each function, the one input of every renderer.

Renderers (terminal tables, JSON, the HTML report, later Terraform and
CloudFormation) read these records and nothing else: never the store, never
the IAM knowledge. Each part has one owner in ``analysis`` and is filled by it::

    Findings                                  one analysis run over a store
    ├── window_start … window_end, generated_at, source, warnings, partial
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
        ├── proposal: PolicyProposal | None   the right-sized policy        (policies issue)
        ├── judgement: Judgement | None       verdict, flags, clean-up plan (inventory issue)
        └── risk: Risk                        from whichever parts are there (analysis.risk)

``None`` means "not analysed", never "nothing found": a function the inventory
knows but lambdaguard never heard from has ``evidence=None``; a function
whose grants were not read has ``proposal=None``. Renderers must say so.

Every record is a frozen, slotted dataclass; times are aware UTC datetimes.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from lambdaguard.evidence import ErrorSeen, HostSeen, ObservedCall, TriggerSeen, VersionSeen

__all__ = [
    "AccessUse",
    "CallGroup",
    "Confidence",
    "ConfiguredTrigger",
    "DayCount",
    "DiffLine",
    "Evidence",
    "Findings",
    "Flag",
    "FunctionFindings",
    "IamRequest",
    "Invocations",
    "Judgement",
    "Level",
    "MappedCall",
    "PolicyProposal",
    "Risk",
    "Verdict",
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


# -- the proposal (policies issue): filled by analysis' policy modules ---------------


@dataclass(frozen=True, slots=True)
class AccessUse:
    """Granted versus used actions of one service at one access level (List, Read, Write, …)."""

    service: str
    access_level: str
    granted: int
    used: int


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of the human diff between today's policy and the proposal."""

    change: str  # "removed" | "kept" | "added"
    text: str


@dataclass(frozen=True, slots=True)
class PolicyProposal:
    """A right-sized policy for the function's role, its diff and its proof."""

    role_arn: str
    # Each proposed IAM policy document as the generator wrote it (deterministic JSON text).
    documents: tuple[str, ...]
    confidence: Confidence
    access: tuple[AccessUse, ...] = ()
    diff: tuple[DiffLine, ...] = ()
    terraform: str | None = None
    cloudformation: str | None = None
    # Unused actions of Write or Permissions-management level, or that allow escalation.
    unused_risky: tuple[str, ...] = ()
    admin_equivalent: bool = False
    escalation_paths_now: int = 0
    escalation_paths_after: int = 0
    proved: bool | None = None
    proof: tuple[str, ...] = ()


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

    def matching(self, name_or_arn: str) -> tuple[FunctionFindings, ...]:
        """The function with this ARN; else every function of this name (one per account/region)."""
        by_arn = tuple(f for f in self.functions if f.arn == name_or_arn)
        return by_arn or tuple(f for f in self.functions if f.name == name_or_arn)
