"""The judgement: is a function still used, can anything still reach it, and what can go.

Every judgement takes ``now`` and the window as parameters: nothing here reads
the clock, so a test pins an instant and the verdict cannot drift.

The verdicts (issue "Dead functions and third-party hosts"):

- ``active``: an invocation in the window (CloudWatch, lambdaguard, or a log event);
- ``idle-expected``: nothing in the window, but every live producer is a
  schedule that was not due in it (a monthly, quarterly or yearly cron);
- ``idle``: nothing in the window, but wired to an enabled trigger whose source
  still exists (a queue, stream, topic, bucket, rule, API): its producer may
  simply have been quiet;
- ``dead``: nothing in the window and nothing left that can fire: no trigger,
  only disabled ones, only triggers whose source is gone, or only entry points
  (a function URL, a permission for an account) that nobody used.

Unknowns lean away from ``dead``: a trigger whose state or source could not be
read counts as live, and lowers the confidence instead. Calling a wanted
function dead is the costly mistake.

Nothing here changes anything in AWS: :func:`plan` prints the commands a person
would run.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from lambdaguard.analysis import inventory as inv
from lambdaguard.analysis.inventory import FunctionInfo, Inventory, Trigger
from lambdaguard.analysis.risk import WEIGHTS
from lambdaguard.analysis.schedules import At, Rate, ScheduleError, parse
from lambdaguard.analysis.telemetry import Telemetry, TelemetryIndex

if TYPE_CHECKING:
    from lambdaguard.analysis.findings import Findings, Judgement

__all__ = [
    "FLAGS",
    "VERDICTS",
    "AttackSurface",
    "Finding",
    "Flag",
    "PlanStep",
    "judge",
    "judge_all",
    "judgement_of",
    "judgement_step",
]

ACTIVE: Final = "active"
IDLE_EXPECTED: Final = "idle-expected"
IDLE: Final = "idle"
DEAD: Final = "dead"
VERDICTS: Final = (ACTIVE, IDLE_EXPECTED, IDLE, DEAD)

BROKEN: Final = "broken"
ORPHANED: Final = "orphaned-trigger"
PUBLIC_URL: Final = "public-url-no-auth"
ADMIN: Final = "admin-equivalent"
DEPRECATED: Final = "deprecated-runtime"
NO_OWNER: Final = "no-owner-tag"
OWNER_GONE: Final = "owner-gone"
PLAINTEXT: Final = "plaintext-egress"
FLAGS: Final = (BROKEN, ORPHANED, PUBLIC_URL, ADMIN, DEPRECATED, NO_OWNER, OWNER_GONE, PLAINTEXT)

# Tag keys (case-insensitive) that name who owns a function.
PERSON_TAGS: Final = ("owner", "created-by", "createdby", "contact", "maintainer")
TEAM_TAGS: Final = ("team", "owner-team", "squad")


@dataclass(frozen=True, slots=True)
class AttackSurface:
    """What the function's role could still do, and who can reach the function.

    ``access`` counts the actions its role is granted, by IAM access level
    (List, Read, Write, Tagging, Permissions management), from the policies
    work (``lambdaguard.iam`` / ``lambdaguard.analysis`` grants); None when
    the grants were not evaluated.
    """

    access: Mapping[str, int] | None = None
    admin_equivalent: bool = False
    escalation: tuple[str, ...] = ()  # privilege-escalation actions granted
    public_entry_points: tuple[str, ...] = ()
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "access_levels": dict(self.access) if self.access is not None else None,
            "admin_equivalent": self.admin_equivalent,
            "privilege_escalation": list(self.escalation),
            "public_entry_points": list(self.public_entry_points),
            "note": self.note or None,
        }


# Given a function, what its role grants; None when it cannot be told.
SurfaceProvider = Callable[[FunctionInfo], AttackSurface | None]


@dataclass(frozen=True, slots=True)
class Flag:
    """A finding independent of the verdict, with why."""

    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class PlanStep:
    """One step of a clean-up plan: what it does and the AWS CLI command for it."""

    description: str
    command: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One function judged."""

    function: FunctionInfo
    verdict: str
    reasons: tuple[str, ...]
    confidence: str  # high | medium | low
    flags: tuple[Flag, ...]
    last_invoked: datetime | None
    surface: AttackSurface
    risk: int
    plan: tuple[PlanStep, ...] = ()
    schedules: tuple[Mapping[str, Any], ...] = ()
    telemetry: Telemetry | None = None
    as_of: datetime | None = None  # the instant judged
    window_days: int | None = None

    @property
    def flag_names(self) -> tuple[str, ...]:
        """The flags' names, in the order of :data:`FLAGS`."""
        return tuple(f.name for f in self.flags)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form documented in the README (``lambdaguard inventory --format json``)."""
        fn = self.function
        return {
            "name": fn.name,
            "arn": fn.arn,
            "region": fn.region,
            "account": fn.account,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "confidence": self.confidence,
            "flags": [f.name for f in self.flags],
            "flag_reasons": {f.name: f.reason for f in self.flags},
            "risk": self.risk,
            "last_invoked": self.last_invoked.isoformat() if self.last_invoked else None,
            "triggers": [t.as_dict() for t in fn.triggers],
            "schedules": [dict(s) for s in self.schedules],
            "runtime": fn.runtime or None,
            "architectures": list(fn.architectures),
            "role": fn.role or None,
            "last_modified": fn.last_modified.isoformat() if fn.last_modified else None,
            "tags": dict(fn.tags),
            "package_type": fn.package_type,
            "layers": list(fn.layers),
            "lambdaguard_layer": fn.lambdaguard,
            "state": fn.state or None,
            "attack_surface": self.surface.as_dict(),
            "plan": [{"step": s.description, "command": s.command} for s in self.plan],
        }


def _fmt(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def _days(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds() // 86400))


@dataclass(slots=True)
class _ScheduleState:
    trigger: Trigger
    previous: datetime | None
    next: datetime | None
    due_in_window: bool | None  # None: cannot be told (a rate without a known start)
    expired: bool = False
    error: str = ""
    exact: bool = True
    as_dict: dict[str, Any] = field(default_factory=dict)


def _schedule_state(trigger: Trigger, now: datetime, window_start: datetime) -> _ScheduleState:
    try:
        schedule = parse(
            trigger.schedule,
            timezone=trigger.timezone or "UTC",
            start=trigger.start,
            end=trigger.end,
            anchor=trigger.anchor if trigger.kind == inv.SCHEDULE else None,
        )
    except ScheduleError as exc:
        state = _ScheduleState(trigger, None, None, None, error=str(exc), exact=False)
        state.as_dict = {
            "source": trigger.source,
            "expression": trigger.schedule,
            "error": str(exc),
        }
        return state
    previous = schedule.previous(now)
    following = schedule.next(now)
    due: bool | None
    exact = True
    if isinstance(schedule, Rate) and previous is None and schedule.anchor is None:
        # A rule's rate started when the rule was created, which is not known:
        # only a period shorter than the window is certainly due in it.
        exact = False
        due = True if schedule.period() <= now - window_start else None
    else:
        due = previous is not None and previous >= window_start
    expired = following is None and (
        isinstance(schedule, At) or trigger.end is not None or previous is not None
    )
    if isinstance(schedule, Rate) and schedule.anchor is None:
        expired = False
    state = _ScheduleState(trigger, previous, following, due, expired=expired, exact=exact)
    state.as_dict = {
        "source": trigger.source,
        "expression": trigger.schedule,
        "timezone": trigger.timezone,
        "last_due": previous.isoformat() if previous else None,
        "next_due": following.isoformat() if following else None,
        "due_in_window": due,
    }
    return state


def _owner_flags(
    fn: FunctionInfo,
    users: frozenset[str] | None,
    directory: frozenset[str] | None,
) -> list[Flag]:
    if not fn.tags_known:
        return []
    lowered = {k.lower(): v for k, v in fn.tags.items()}
    people = [(k, lowered[k]) for k in PERSON_TAGS if lowered.get(k)]
    teams = [(k, lowered[k]) for k in TEAM_TAGS if lowered.get(k)]
    if not people and not teams:
        return [Flag(NO_OWNER, f"no tag among {', '.join(PERSON_TAGS + TEAM_TAGS)}")]
    known_users = {u.lower() for u in users or ()}
    known_names = {d.lower() for d in directory or ()}
    gone: list[str] = []
    for key, value in people:
        who = value.strip().lower()
        local = who.split("@", 1)[0]
        in_iam = who in known_users or local in known_users
        if directory is not None:
            if not (in_iam or who in known_names or local in known_names):
                gone.append(f"{key}={value} is neither in the directory nor an IAM user")
        elif users is not None and not in_iam:
            gone.append(f"{key}={value} is not an IAM user of the account")
    if directory is not None:
        for key, value in teams:
            if value.strip().lower() not in known_names:
                gone.append(f"{key}={value} is not in the directory")
    return [Flag(OWNER_GONE, "; ".join(gone))] if gone else []


def _broken(fn: FunctionInfo, telemetry: Telemetry | None, window_start: datetime) -> str:
    if telemetry is not None and telemetry.init_errors:
        last_ok = telemetry.last_invoked_day()
        last_init = telemetry.last_init_error
        if last_init is not None and (last_ok is None or last_ok <= last_init.date()):
            types = ", ".join(sorted(telemetry.init_error_types)) or "an init error"
            return (
                f"{telemetry.init_errors} init failure(s) ({types}), the last at "
                f"{_fmt(last_init)}, and no invocation recorded after it"
            )
    if telemetry is not None and len(telemetry.error_types) == 1:
        recent = [(n, e) for d, (n, e) in telemetry.days.items() if d >= window_start.date()]
        total = sum(n for n, _ in recent)
        failed = sum(e for _, e in recent)
        if total and failed >= total:
            (kind,) = telemetry.error_types
            return f"all {total} recorded invocation(s) in the window failed with {kind}"
    if fn.invocations and fn.errors is not None:
        days = [d for d in fn.invocations if d >= window_start.date() and fn.invocations[d] > 0]
        total = sum(fn.invocations[d] for d in days)
        failed = sum(fn.errors.get(d, 0) for d in days)
        if total and failed >= total:
            return f"all {total} invocation(s) in the window failed (CloudWatch Errors)"
    return ""


def judge(
    fn: FunctionInfo,
    *,
    now: datetime,
    window: timedelta,
    telemetry: Telemetry | None = None,
    users: frozenset[str] | None = None,
    directory: frozenset[str] | None = None,
    surface: SurfaceProvider | None = None,
) -> Finding:
    """Judge one function at ``now`` over the window ``[now - window, now]``."""
    window_start = now - window
    window_days = _days(window)
    reasons: list[str] = []
    unknowns: list[str] = []

    # -- evidence of use ------------------------------------------------------
    evidence: list[datetime] = []
    metric_day = fn.last_metric_day()
    if metric_day is not None:
        evidence.append(
            datetime(metric_day.year, metric_day.month, metric_day.day, tzinfo=now.tzinfo)
        )
    lg_day = telemetry.last_invoked_day() if telemetry is not None else None
    if lg_day is not None:
        evidence.append(datetime(lg_day.year, lg_day.month, lg_day.day, tzinfo=now.tzinfo))
    if fn.last_log_event is not None:
        evidence.append(fn.last_log_event)
    # A failed INIT is an invocation that could not run: someone still calls it.
    if telemetry is not None and telemetry.last_init_error is not None:
        evidence.append(telemetry.last_init_error)
    last_invoked = max(evidence) if evidence else None
    # A day counts when it overlaps the window. Evidence after ``now`` counts too: a
    # verdict judged as of a stored inventory's reading (analysis.stored) must not
    # call a function dead that lambdaguard has seen invoked since.
    in_window = [e for e in evidence if e >= window_start - timedelta(days=1)]
    cw_count = (
        sum(n for d, n in fn.invocations.items() if d >= window_start.date())
        if fn.invocations is not None
        else None
    )
    lg_count = telemetry.invocations_since(window_start.date()) if telemetry is not None else 0
    if fn.unread:
        unknowns.append(
            "triggers may be incomplete: not read for its region: " + ", ".join(fn.unread)
        )
    if fn.invocations is None:
        unknowns.append("CloudWatch Invocations could not be read")
    elif not fn.metrics_complete:
        unknowns.append("CloudWatch returned partial data for Invocations")

    schedules = [
        _schedule_state(t, now, window_start) for t in fn.triggers if t.schedule and t.wired
    ]
    flags: list[Flag] = []

    if (cw_count or lg_count) or in_window:
        verdict = ACTIVE
        confidence = "high"
        if cw_count:
            reasons.append(f"{cw_count} invocation(s) in the last {window_days} days (CloudWatch)")
        if lg_count:
            reasons.append(f"{lg_count} invocation(s) in the last {window_days} days (lambdaguard)")
        if telemetry is not None and telemetry.last_init_error in in_window:
            reasons.append(
                f"invoked but failing at INIT ({telemetry.init_errors} init error(s), "
                f"the last at {_fmt(telemetry.last_init_error)})"
            )
        elif not cw_count and not lg_count and fn.last_log_event is not None:
            reasons.append(f"last log event {_fmt(fn.last_log_event)}")
    else:
        quiet = (
            f"no invocation since {_fmt(last_invoked)} ({_days(now - last_invoked)} days)"
            if last_invoked
            else f"no invocation recorded (CloudWatch looks back {window_days} days)"
        )
        reasons.append(f"nothing in the last {window_days} days: {quiet}")
        live = [t for t in fn.triggers if t.wired]
        live_schedules = [s for s in schedules if not s.expired and not s.error]
        expired = [s for s in schedules if s.expired]
        for s in expired:
            reasons.append(
                f"{s.trigger.kind} {s.trigger.source}: {s.trigger.schedule} fired last at "
                f"{_fmt(s.previous)} and will not fire again"
            )
        for s in schedules:
            if s.error:
                unknowns.append(f"schedule {s.trigger.source} could not be evaluated: {s.error}")
        expired_triggers = {id(s.trigger) for s in expired}
        producers = [
            t for t in live if not t.schedule and id(t) not in expired_triggers and _producer(t, fn)
        ]
        scheduled = [s for s in live_schedules]
        errored = [s for s in schedules if s.error]
        unknown_live = [t for t in live if t.enabled is None or t.source_exists is None]
        for t in unknown_live:
            unknowns.append(f"{t.kind} {t.source}: its state or source could not be verified")
        if not producers and not scheduled and not errored:
            verdict = DEAD
            confidence = "high"
            reasons.extend(_dead_reasons(fn, expired_triggers))
        elif producers or errored:
            verdict = IDLE
            confidence = "high"
            names = ", ".join(sorted({f"{t.kind} {t.source}" for t in producers}))
            if names:
                reasons.append(f"still wired to {names}: its producer may simply have been quiet")
            for s in scheduled:
                if s.due_in_window:
                    reasons.append(
                        f"{s.trigger.schedule} was due at {_fmt(s.previous)} but no invocation "
                        "was recorded"
                    )
        else:
            due = [s for s in scheduled if s.due_in_window]
            unsure = [s for s in scheduled if s.due_in_window is None]
            if due:
                verdict = IDLE
                confidence = "medium"
                for s in due:
                    reasons.append(
                        f"{s.trigger.schedule} was due at {_fmt(s.previous)} but no invocation "
                        "was recorded: check the target and its permission"
                    )
            else:
                verdict = IDLE_EXPECTED
                confidence = "low" if unsure else "high"
                for s in scheduled:
                    if s.due_in_window is None:
                        reasons.append(
                            f"{s.trigger.schedule} ({s.trigger.source}) fires less often than the "
                            "window; when it last fired cannot be told (a rule's start is not listed)"
                        )
                    else:
                        reasons.append(
                            f"{s.trigger.schedule} ({s.trigger.source}) was not due in the window: "
                            f"last due {_fmt(s.previous)}, next due {_fmt(s.next)}"
                        )
        if window < timedelta(days=90) and verdict == DEAD:
            confidence = "medium"
            reasons.append(f"the window is only {window_days} days")
    if unknowns and verdict != ACTIVE:
        confidence = "low" if fn.invocations is None and telemetry is None else _lower(confidence)
        reasons.extend(unknowns)

    # -- flags ----------------------------------------------------------------
    broken = _broken(fn, telemetry, window_start)
    if broken:
        flags.append(Flag(BROKEN, broken))
    orphaned = [t for t in fn.triggers if t.orphaned]
    if orphaned:
        flags.append(
            Flag(
                ORPHANED,
                "; ".join(
                    f"{t.kind} points at {t.source}, which no longer exists" for t in orphaned
                ),
            )
        )
    public = [t for t in fn.triggers if t.public]
    public_urls = [t for t in public if t.kind == inv.URL]
    if public_urls:
        flags.append(
            Flag(
                PUBLIC_URL,
                "; ".join(f"function URL {t.source} has auth type NONE" for t in public_urls),
            )
        )
    found_surface = surface(fn) if surface is not None else None
    entry_points = tuple(f"{t.kind}: {t.source}" for t in public)
    if found_surface is None:
        found_surface = AttackSurface(
            public_entry_points=entry_points,
            note="the role's grants were not evaluated",
        )
    else:
        found_surface = AttackSurface(
            access=found_surface.access,
            admin_equivalent=found_surface.admin_equivalent,
            escalation=found_surface.escalation,
            public_entry_points=entry_points,
            note=found_surface.note,
        )
    if found_surface.admin_equivalent or found_surface.escalation:
        why = (
            "the role is admin-equivalent"
            if found_surface.admin_equivalent
            else "the role allows privilege escalation: " + ", ".join(found_surface.escalation)
        )
        flags.append(Flag(ADMIN, why))
    if fn.deprecated_runtime:
        flags.append(Flag(DEPRECATED, f"runtime {fn.runtime} is past its deprecation date"))
    flags.extend(_owner_flags(fn, users, directory))
    if telemetry is not None:
        plain = sorted({f"{h.host}:{h.port}" for h in telemetry.hosts if not h.tls and not h.aws})
        if plain:
            flags.append(Flag(PLAINTEXT, "plaintext connections to " + ", ".join(plain)))
    flags.sort(key=lambda f: FLAGS.index(f.name))

    # One set of weights for every view (analysis.risk): the same function ranks alike everywhere.
    risk = sum(WEIGHTS[f.name][0] for f in flags)
    if verdict in (DEAD, IDLE):
        risk += WEIGHTS[verdict][0]
    if found_surface.escalation and not found_surface.admin_equivalent:
        risk += WEIGHTS["escalation"][0]
    if found_surface.access:
        risk += min(20, found_surface.access.get("Write", 0) // 10)
        risk += min(20, found_surface.access.get("Permissions management", 0) // 2)
    steps = tuple(plan(fn)) if verdict == DEAD else ()
    return Finding(
        function=fn,
        verdict=verdict,
        reasons=tuple(reasons),
        confidence=confidence,
        flags=tuple(flags),
        last_invoked=last_invoked,
        surface=found_surface,
        risk=risk,
        plan=steps,
        schedules=tuple(s.as_dict for s in schedules),
        telemetry=telemetry,
        as_of=now,
        window_days=window_days,
    )


# A service permission is only the right to invoke; the rule, notification or
# subscription that uses it is a trigger of its own, found in this listing.
_USED_BY: Final = {
    "events.amazonaws.com": inv.RULES,
    "s3.amazonaws.com": inv.NOTIFICATIONS,
    "sns.amazonaws.com": inv.SUBSCRIPTIONS,
}


def _producer(t: Trigger, fn: FunctionInfo) -> bool:
    """Whether a live trigger can produce invocations by itself."""
    if t.kind != inv.PERMISSION:
        return True
    listing = _USED_BY.get(t.detail)
    # Read in full, the listing would hold the trigger that uses this permission.
    return listing is None or listing in fn.unread


def _lower(confidence: str) -> str:
    return {"high": "medium", "medium": "low"}.get(confidence, "low")


def _dead_reasons(fn: FunctionInfo, expired: set[int]) -> list[str]:
    if not fn.triggers:
        return [
            "no trigger: no event source mapping, permission, URL, rule, schedule or notification"
        ]
    out: list[str] = []
    for t in fn.triggers:
        if id(t) in expired:
            continue
        if t.orphaned:
            out.append(f"{t.kind} {t.source}: its source no longer exists")
        elif t.enabled is False:
            out.append(f"{t.kind} {t.source}: disabled ({t.detail})")
        elif t.kind == inv.URL:
            out.append(
                f"only reachable through its function URL ({t.detail}), unused in the window"
            )
        elif t.kind == inv.PERMISSION and t.detail == "direct":
            out.append(f"only direct invocation by {t.source} is allowed, unused in the window")
        elif t.kind == inv.PERMISSION and not _producer(t, fn):
            out.append(
                f"{t.detail} may invoke it from {t.source}, but no rule, notification or "
                "subscription there does"
            )
    return out or ["no trigger that can still fire"]


def _q(value: str) -> str:
    return shlex.quote(value)


def plan(fn: FunctionInfo) -> list[PlanStep]:
    """The clean-up a person would run: disable triggers, stop it, then delete. Never run here."""
    region = f" --region {_q(fn.region)}" if fn.region else ""
    name = _q(fn.name)
    steps: list[PlanStep] = []
    for t in fn.triggers:
        if t.kind == inv.ESM and t.enabled is not False and t.ident:
            steps.append(
                PlanStep(
                    f"disable the event source mapping from {t.source}",
                    f"aws lambda update-event-source-mapping --uuid {_q(t.ident)} --no-enabled{region}",
                )
            )
        elif t.kind == inv.RULE and t.ident:
            steps.append(
                PlanStep(
                    f"remove the function from rule {t.ident}'s targets (the rule may have others)",
                    f"aws events list-targets-by-rule --rule {_q(t.ident)}{region}  "
                    f"# then: aws events remove-targets --rule {_q(t.ident)} --ids <target id>{region}",
                )
            )
        elif t.kind == inv.SCHEDULE and t.ident:
            group, _, sched = t.ident.partition("/")
            steps.append(
                PlanStep(
                    f"delete Scheduler schedule {t.ident}",
                    f"aws scheduler delete-schedule --group-name {_q(group)} --name {_q(sched)}{region}",
                )
            )
        elif t.kind == inv.SNS and t.ident.startswith("arn:"):
            steps.append(
                PlanStep(
                    f"unsubscribe from {t.source}",
                    f"aws sns unsubscribe --subscription-arn {_q(t.ident)}{region}",
                )
            )
        elif t.kind == inv.S3:
            bucket = t.source.rsplit(":", 1)[-1]
            steps.append(
                PlanStep(
                    f"remove the notification from bucket {bucket}",
                    f"aws s3api get-bucket-notification-configuration --bucket {_q(bucket)}  "
                    "# then put it back without this function's entry",
                )
            )
        elif t.kind == inv.URL:
            steps.append(
                PlanStep(
                    "delete the function URL",
                    f"aws lambda delete-function-url-config --function-name {name}{region}",
                )
            )
        elif t.kind == inv.PERMISSION and t.ident:
            steps.append(
                PlanStep(
                    f"remove permission {t.ident} ({t.source})",
                    f"aws lambda remove-permission --function-name {name} --statement-id {_q(t.ident)}{region}",
                )
            )
    steps.append(
        PlanStep(
            "stop every invocation (reversible: delete-function-concurrency undoes it)",
            f"aws lambda put-function-concurrency --function-name {name} "
            f"--reserved-concurrent-executions 0{region}",
        )
    )
    steps.append(
        PlanStep(
            "after a quiet waiting period, keep a copy of the code and delete the function",
            f"aws lambda get-function --function-name {name}{region} --query Code.Location  "
            f"&& aws lambda delete-function --function-name {name}{region}",
        )
    )
    if fn.role:
        role = fn.role.rsplit("/", 1)[-1]
        steps.append(
            PlanStep(
                f"then review role {role}: delete it if no other function uses it",
                f"aws iam list-attached-role-policies --role-name {_q(role)}",
            )
        )
    return steps


def judge_all(
    inventory: Inventory,
    *,
    now: datetime,
    window: timedelta,
    telemetry: TelemetryIndex | None = None,
    directory: Iterable[str] | None = None,
    surface: SurfaceProvider | None = None,
) -> list[Finding]:
    """Judge every function; riskiest first (then by name)."""
    names = frozenset(directory) if directory is not None else None
    findings = [
        judge(
            fn,
            now=now,
            window=window,
            telemetry=telemetry.find(fn.arn, fn.region, fn.name) if telemetry else None,
            users=inventory.users,
            directory=names,
            surface=surface,
        )
        for fn in inventory.functions
    ]
    findings.sort(key=lambda f: (-f.risk, f.function.region, f.function.name))
    return findings


def summary(findings: Sequence[Finding]) -> Mapping[str, int]:
    """Functions per verdict."""
    counts = dict.fromkeys(VERDICTS, 0)
    for f in findings:
        counts[f.verdict] += 1
    return counts


def judgement_of(finding: Finding) -> Judgement:
    """The inventory's finding in the one findings model every view renders."""
    from lambdaguard.analysis import findings as model

    return model.Judgement(
        verdict=model.Verdict(finding.verdict),
        reasons=finding.reasons,
        confidence=model.Confidence(model.Level(finding.confidence), finding.reasons[-1:]),
        flags=tuple(model.Flag(f.name, f.reason) for f in finding.flags),
        last_invoked=finding.last_invoked,
        triggers=tuple(
            model.ConfiguredTrigger(t.kind, t.source, t.enabled, t.source_exists, t.detail)
            for t in finding.function.triggers
        ),
        public_entry_points=finding.surface.public_entry_points,
        cleanup=tuple(step.command for step in finding.plan),
        plan=tuple(model.CleanupStep(s.description, s.command) for s in finding.plan),
        surface=model.Surface(
            access=tuple(sorted(finding.surface.access.items()))
            if finding.surface.access is not None
            else None,
            admin_equivalent=finding.surface.admin_equivalent,
            escalation=finding.surface.escalation,
            note=finding.surface.note,
        ),
        as_of=finding.as_of,
        window_days=finding.window_days,
        schedules=tuple(tuple(s.items()) for s in finding.schedules),
    )


def judgement_step(found: Sequence[Finding]) -> Callable[[Findings], Findings]:
    """A step for :func:`lambdaguard.analysis.fleet.analyse`: fills each function's judgement.

    Functions the store knows but the inventory did not list keep no
    judgement; functions matched by ARN, or by region and name for records
    without an account.
    """
    import dataclasses

    by_arn = {f.function.arn: f for f in found}
    by_place = {(f.function.region, f.function.name): f for f in found}

    def step(findings: Findings) -> Findings:
        judged = []
        for fn in findings.functions:
            match = by_arn.get(fn.arn) or (
                None if fn.account else by_place.get((fn.region, fn.name))
            )
            judged.append(
                dataclasses.replace(fn, judgement=judgement_of(match)) if match is not None else fn
            )
        return dataclasses.replace(findings, functions=tuple(judged))

    return step
