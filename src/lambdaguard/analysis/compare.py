"""Granted versus used for one role: what was never used, by access level and risk, and the diff.

"Granted" is read from the policy text the way a reviewer reads it: an action
is granted when an ``Allow`` statement of the identity policies names it
(``Action`` patterns, or everything outside a ``NotAction``), no
unconditional ``Deny`` on every resource takes it away, and the permissions
boundary (when there is one) grants it too. Where it is granted is the
``Resource`` of the statements that name it. Conditions do not take an action
out of "granted": it is granted under them.

"Used" is what the proposal keeps: every request of the recorded calls (and
of the Lambda service) that today's grant allowed.

What goes:

- :class:`~.findings.UnusedPermission` for every granted action not used,
  riskiest first (privilege-escalation or data-exfiltration classes of
  :mod:`lambdaguard.iam.risk`, then Permissions management, Write, Tagging,
  Read, List), each "never used in the window" or "not used since …" when the
  store holds an older use; only the first :data:`MAX_LISTED` are listed, the
  count says how many there are;
- :class:`~.findings.AccessUse` rows: granted and used actions per service and
  access level (services a wide grant opens but the function never touched are
  summed in one "other" row per level once there are many);
- the diff, one line per action pattern of each statement, removed / kept /
  added, each with what the evidence says about it;
- the privilege-escalation and exfiltration paths of today's grant and of the
  proposal (expected: none), and whether today's grant is admin-equivalent.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

from lambdaguard.analysis.findings import (
    AccessUse,
    DiffLine,
    EscalationPath,
    ProposedStatement,
    UnusedPermission,
)
from lambdaguard.iam import Grant, Policy, Statement
from lambdaguard.iam.risk import (
    ADMIN_PROBES,
    RISK_CLASSES,
    AccessLevel,
    RiskClass,
    RiskPath,
    access_level,
    action_risks,
    admin_equivalent,
    risk_paths,
)

if TYPE_CHECKING:
    from lambdaguard.analysis.proposal import Built, RoleLike

__all__ = ["MAX_LISTED", "Comparison", "compare", "granted_actions", "granted_where"]

MAX_LISTED: Final = 100
# Services whose unused actions are always shown by name in the access table.
_ALWAYS_SHOWN: Final = frozenset(
    {
        "iam",
        "sts",
        "lambda",
        "kms",
        "secretsmanager",
        "ssm",
        "s3",
        "dynamodb",
        "sqs",
        "ec2",
        "glue",
        "cloudformation",
        "datapipeline",
    }
)
_MANY_SERVICES: Final = 30
_LEVEL_ORDER: Final = {
    AccessLevel.PERMISSIONS_MANAGEMENT: 0,
    AccessLevel.WRITE: 1,
    AccessLevel.TAGGING: 2,
    AccessLevel.READ: 3,
    AccessLevel.LIST: 4,
}
_RISKY_LEVELS: Final = frozenset({AccessLevel.PERMISSIONS_MANAGEMENT, AccessLevel.WRITE})


@dataclass(frozen=True, slots=True)
class Comparison:
    """Granted versus used for one role, and the diff between today's policy and the proposal."""

    unused: tuple[UnusedPermission, ...]
    unused_total: int
    unused_risky: tuple[str, ...]
    unused_risky_total: int
    access: tuple[AccessUse, ...]
    diff: tuple[DiffLine, ...]
    paths_now: tuple[EscalationPath, ...]
    paths_after: tuple[EscalationPath, ...]
    admin_equivalent: bool


# ---------------------------------------------------------------------------
# Granted actions, from the policy text


@cache
def _service_actions(prefix: str) -> tuple[str, ...]:
    from lambdaguard.iam._data import iam_service

    service = iam_service(prefix)
    if service is None:
        return ()
    return tuple(sorted(f"{prefix}:{a.name}" for a in service.actions.values()))


@cache
def _all_actions() -> tuple[str, ...]:
    from lambdaguard.iam._data import iam_service_prefixes

    return tuple(a for p in sorted(iam_service_prefixes()) for a in _service_actions(p))


def _pattern_regex(text: str) -> re.Pattern[str]:
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text.lower())
    )


@lru_cache(maxsize=8192)
def _matching(patterns: tuple[str, ...], not_action: bool) -> frozenset[str]:
    """The IAM data's actions an Action (or NotAction) element names."""
    if not_action:
        return frozenset(_all_actions()) - _matching(patterns, False)
    out: set[str] = set()
    for pattern in patterns:
        prefix, sep, name = pattern.partition(":")
        if pattern == "*":
            return frozenset(_all_actions())
        if not sep:
            continue
        regex = _pattern_regex(pattern)
        if "*" in prefix or "?" in prefix:
            pool: Iterable[str] = _all_actions()
        else:
            pool = _service_actions(prefix.lower())
        if "*" not in name and "?" not in name:
            out.update(a for a in pool if a.lower() == pattern.lower())
        else:
            out.update(a for a in pool if regex.fullmatch(a.lower()))
    return frozenset(out)


# Statements are immutable and long-lived (managed policies are shared): remember
# each one's actions by identity, which is cheaper than hashing its fields.
_STATEMENT_ACTIONS: dict[int, tuple[Statement, frozenset[str]]] = {}


def _statement_actions(st: Statement) -> frozenset[str]:
    found = _STATEMENT_ACTIONS.get(id(st))
    if found is not None and found[0] is st:
        return found[1]
    if len(_STATEMENT_ACTIONS) >= 65_536:
        _STATEMENT_ACTIONS.clear()
    actions = _matching(st.actions, st.not_action)
    _STATEMENT_ACTIONS[id(st)] = (st, actions)
    return actions


def _side(policies: Iterable[Policy]) -> frozenset[str]:
    allows: list[frozenset[str]] = []
    denies: list[frozenset[str]] = []
    for p in policies:
        for st in p.statements:
            if not st.usable:
                continue
            if st.effect == "Allow":
                allows.append(_statement_actions(st))
            elif (
                st.effect == "Deny"
                and st.condition is None
                and not st.not_resource
                and "*" in st.resources
            ):
                denies.append(_statement_actions(st))
    # The sets come from a cache shared by equal statements, so roles written
    # alike (``*``, all but IAM, the same managed policies) give equal keys; the
    # union of sets of every action AWS has is worth doing once.
    return _union_minus(tuple(allows), tuple(denies))


@lru_cache(maxsize=1024)
def _union_minus(
    allows: tuple[frozenset[str], ...], denies: tuple[frozenset[str], ...]
) -> frozenset[str]:
    allowed: set[str] = set()
    taken: set[str] = set()
    for a in allows:
        allowed |= a
    for d in denies:
        taken |= d
    return frozenset(allowed - taken)


@lru_cache(maxsize=1024)
def granted_actions(policies: tuple[Policy, ...], boundary: Policy | None) -> frozenset[str]:
    """Every action of the IAM data the policies grant on some resource (see the module docstring)."""
    granted = _side(policies)
    if boundary is not None:
        granted &= _side((boundary,))
    return _interned(granted)


# Roles of a fleet grant few distinct sets of actions (the same managed policies,
# ``*``, the same inline template), and each set may hold every action AWS has.
# The per-set caches below (ranked, counted, indexed) are keyed by the set: one
# object per distinct set makes each lookup an identity check instead of a
# comparison of thousands of strings.
_GRANTED: dict[frozenset[str], frozenset[str]] = {}


def _interned(granted: frozenset[str]) -> frozenset[str]:
    found = _GRANTED.get(granted)
    if found is not None:
        return found
    if len(_GRANTED) >= 1024:
        _GRANTED.clear()
    _GRANTED[granted] = granted
    return granted


def granted_where(policies: Sequence[Policy], action: str) -> tuple[str, ...]:
    """Where the policy text grants ``action``: the Resource of each Allow statement naming it."""
    return _granted_where(tuple(policies), action)


def _granted_where(policies: tuple[Policy, ...], action: str) -> tuple[str, ...]:
    if len(policies) == 1:
        return _policy_where(policies[0], action)
    return tuple(dict.fromkeys(r for p in policies for r in _policy_where(p, action)))


def _where_many(policies: Sequence[Policy], actions: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """:func:`granted_where` for many actions at once (one pass over each policy's statements)."""
    found: dict[str, list[str]] = {a: [] for a in actions}
    for policy in policies:
        for named, where in _allow_index(policy):
            for action in actions:
                if action in named:
                    found[action].extend(where)
    return {a: tuple(dict.fromkeys(w)) for a, w in found.items()}


_ALLOW_INDEX: dict[int, tuple[Policy, tuple[tuple[frozenset[str], tuple[str, ...]], ...]]] = {}


def _allow_index(policy: Policy) -> tuple[tuple[frozenset[str], tuple[str, ...]], ...]:
    """Each Allow statement of a policy as (the actions it names, where), kept by identity."""
    found = _ALLOW_INDEX.get(id(policy))
    if found is not None and found[0] is policy:
        return found[1]
    if len(_ALLOW_INDEX) >= 65_536:
        _ALLOW_INDEX.clear()
    index = tuple(
        (
            _statement_actions(st),
            ("everything but " + ", ".join(st.resources),) if st.not_resource else st.resources,
        )
        for st in policy.statements
        if st.usable and st.effect == "Allow"
    )
    _ALLOW_INDEX[id(policy)] = (policy, index)
    return index


def _policy_where(policy: Policy, action: str) -> tuple[str, ...]:
    out: list[str] = []
    for actions, where in _allow_index(policy):
        if action in actions:
            out.extend(where)
    return tuple(dict.fromkeys(out)) if len(out) > 1 else tuple(out)


# ---------------------------------------------------------------------------
# Comparison


def _path(p: RiskPath) -> EscalationPath:
    return EscalationPath(
        p.risk.id, p.risk.kind.value, p.risk.title, p.describe(), p.scope, p.conditional
    )


def _possible(granted: frozenset[str]) -> tuple[RiskClass, ...]:
    """The risk classes whose every step names an action the policy text grants.

    The text grants a superset of what the evaluator allows, so a class left
    out here cannot be open; the evaluator decides the rest.
    """
    lower = _lower_index(granted)
    return tuple(
        risk
        for risk in RISK_CLASSES
        if all(any(a.lower() in lower for a in step.actions) for step in risk.steps)
    )


def _applying(policies: Iterable[Policy], actions: frozenset[str]) -> tuple[Statement, ...]:
    return tuple(
        st
        for p in policies
        for st in p.statements
        if st.usable and not actions.isdisjoint(_statement_actions(st))
    )


_PATHS_NOW: dict[tuple[Any, ...], RiskPath | None] = {}
_PATHS_LIMIT: Final = 50_000


def _paths_now(
    grant: Grant,
    *,
    policies: tuple[Policy, ...],
    boundary: Policy | None,
    granted: frozenset[str],
    account: str,
    partition: str,
) -> tuple[EscalationPath, ...]:
    """Today's paths. A class's answer depends only on the statements naming its actions,
    so roles that share those (the same managed policies) share the answer."""
    out: list[RiskPath] = []
    for risk in _possible(granted):
        actions = _class_actions(risk)
        key = (
            risk.id,
            _applying(policies, actions),
            _applying((boundary,), actions) if boundary is not None else None,
            account,
            partition,
        )
        if key not in _PATHS_NOW:
            if len(_PATHS_NOW) >= _PATHS_LIMIT:
                _PATHS_NOW.clear()
            found = risk_paths(grant, account=account, partition=partition, classes=(risk,))
            _PATHS_NOW[key] = found[0] if found else None
        path = _PATHS_NOW[key]
        if path is not None:
            out.append(path)
    return tuple(_path(p) for p in out)


@cache
def _class_actions(risk: RiskClass) -> frozenset[str]:
    from lambdaguard.iam._data import iam_service

    out = set()
    for step in risk.steps:
        for action in step.actions:
            prefix, _, name = action.partition(":")
            service = iam_service(prefix)
            found = service.action(name) if service is not None else None
            out.add(f"{prefix}:{found.name}" if found is not None else action)
    return frozenset(out)


def _paths_after(
    proposal: Grant,
    statements: Sequence[ProposedStatement],
    account: str,
    partition: str,
) -> tuple[EscalationPath, ...]:
    """The proposal's paths open on every resource they need (the ones that count).

    A step can be open on all its resources only if a statement naming one of
    its actions has a resource covering the step's pattern; classes without
    such a statement for every step are not asked about.
    """
    wide: dict[str, list[str]] = defaultdict(list)
    for st in statements:
        if st.effect != "Allow":
            continue
        for action in st.actions:
            wide[action.lower()].extend(r for r in st.resources if "*" in r or "?" in r)
    candidates = []
    for risk in _possible(frozenset(wide)):
        if all(
            any(
                _covered_by(r, step.pattern(account=account, partition=partition))
                for a in step.actions
                for r in wide.get(a.lower(), ())
            )
            for step in risk.steps
        ):
            candidates.append(risk)
    if not candidates:
        return ()
    found = risk_paths(proposal, account=account, partition=partition, classes=candidates)
    return tuple(_path(p) for p in found if p.scope == "all")


@lru_cache(maxsize=65536)
def _covered_by(resource: str, pattern: str) -> bool:
    from lambdaguard.iam._glob import TooComplex, covers, parse_glob

    if resource == "*":
        return True
    try:
        return covers([parse_glob(resource, variables=True)], parse_glob(pattern))
    except TooComplex:
        return True  # cannot tell: ask the evaluator


def _admin(grant: Grant, granted: frozenset[str]) -> bool:
    lower = _lower_index(granted)
    if not all(a.lower() in lower for a in ADMIN_PROBES):
        return False
    return admin_equivalent(grant) is not None


@dataclass(frozen=True, slots=True)
class _Facts:
    action: str
    lower: str
    service: str
    level: str  # access level name, "" when unknown
    risks: tuple[str, ...]
    risky: bool  # flagged, or Write / Permissions management
    rank: tuple[int, int, str]


@cache
def _facts(action: str) -> _Facts:
    level = access_level(action)
    risks = tuple(r.id for r in action_risks(action))
    return _Facts(
        action=action,
        lower=action.lower(),
        service=action.split(":", 1)[0],
        level=level.value if level else "",
        risks=risks,
        risky=bool(risks) or level in _RISKY_LEVELS,
        rank=(0 if risks else 1, _LEVEL_ORDER.get(level, 5) if level else 5, action),
    )


@lru_cache(maxsize=256)
def _risky_count(granted: frozenset[str]) -> int:
    return sum(1 for f in _ranked(granted) if f.risky)


@lru_cache(maxsize=256)
def _ranked(granted: frozenset[str]) -> tuple[_Facts, ...]:
    """The granted actions' facts, riskiest first (shared by every role granting the same)."""
    return tuple(sorted((_facts(a) for a in granted), key=lambda f: f.rank))


def compare(
    role: RoleLike,
    built: Built,
    *,
    grant: Grant,
    proposal: Grant,
    account: str,
    partition: str,
    history: Mapping[str, datetime],
) -> Comparison:
    """Granted versus used for ``role`` and the proposal ``built`` for it."""
    policies = tuple(role.policies)
    granted = granted_actions(policies, role.boundary)
    used_lower = {u.action.lower() for u in built.used if u.status.startswith("granted")} | {
        a.lower() for st in built.statements if st.effect == "Allow" for a in st.actions
    }
    # The used actions are few and the granted ones may be every action AWS has:
    # count by subtraction, and walk the ranked list only until enough are found.
    index = _lower_index(granted)
    used_granted = [_facts(index[u]) for u in used_lower if u in index]
    ranked, risky_count = _ranked(granted), _risky_count(granted)
    unused_all = list(islice((f for f in ranked if f.lower not in used_lower), MAX_LISTED))
    risky = list(
        islice((f.action for f in ranked if f.risky and f.lower not in used_lower), MAX_LISTED)
    )
    unused_total = len(granted) - len(used_granted)
    risky_total = risky_count - sum(1 for f in used_granted if f.risky)
    where = _where_many(policies, [f.action for f in unused_all])
    unused = tuple(
        UnusedPermission(
            action=f.action,
            resources=where[f.action],
            access_level=f.level,
            risks=f.risks,
            last_used=history.get(f.lower),
        )
        for f in unused_all
    )
    paths_now = _paths_now(
        grant,
        policies=policies,
        boundary=role.boundary,
        granted=granted,
        account=account,
        partition=partition,
    )
    admin = _admin(grant, granted)
    paths_after = _paths_after(proposal, built.statements, account, partition)
    return Comparison(
        unused=unused,
        unused_total=unused_total,
        unused_risky=tuple(risky),
        unused_risky_total=risky_total,
        access=_access(granted, used_lower),
        diff=_diff(policies, built.statements, granted, used_lower, history),
        paths_now=paths_now,
        paths_after=paths_after,
        admin_equivalent=admin,
    )


@lru_cache(maxsize=256)
def _access_counts(granted: frozenset[str]) -> tuple[dict[tuple[str, str], int], frozenset[str]]:
    counts: Counter[tuple[str, str]] = Counter()
    for f in _ranked(granted):
        counts[f.service, f.level or "Unknown"] += 1
    return dict(counts), frozenset(s for s, _ in counts)


def _access(granted: frozenset[str], used_lower: set[str]) -> tuple[AccessUse, ...]:
    # Roles granting the same set and using the same actions (a fleet's functions
    # written from one template) get the same table: build it once.
    return _access_table(granted, frozenset(_used_candidates(granted, used_lower)))


@lru_cache(maxsize=4096)
def _access_table(granted: frozenset[str], candidates: frozenset[str]) -> tuple[AccessUse, ...]:
    counts, services = _access_counts(granted)
    used: Counter[tuple[str, str]] = Counter()
    for a in sorted(candidates):
        f = _facts(a)
        used[f.service, f.level or "Unknown"] += 1
    used_services = {s for s, _ in used}
    shown = (
        set(services)
        if len(services) <= _MANY_SERVICES
        else used_services | (services & _ALWAYS_SHOWN)
    )
    others = sorted(services - shown)
    rows: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    other = f"other ({len(others)} services)"
    for (service, level), n in counts.items():
        key = (service if service in shown else other, level)
        rows[key][0] += n
        rows[key][1] += used[service, level]
    order = {lv.value: i for i, lv in enumerate(AccessLevel)}
    return tuple(
        AccessUse(service, level, g, u)
        for (service, level), (g, u) in sorted(
            rows.items(), key=lambda kv: (kv[0][0] == other, kv[0][0], order.get(kv[0][1], 9))
        )
    )


def _used_candidates(granted: frozenset[str], used_lower: set[str]) -> list[str]:
    # The granted actions among the used ones, found from the (few) used names.
    index = _lower_index(granted)
    return [index[u] for u in sorted(used_lower) if u in index]


@lru_cache(maxsize=4096)
def _lower_index(granted: frozenset[str]) -> dict[str, str]:
    return {a.lower(): a for a in granted}


# ---------------------------------------------------------------------------
# The diff


@dataclass(frozen=True, slots=True)
class _Line:
    effect: str
    action: str
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    condition: str | None
    key: tuple[object, ...] = field(init=False, compare=False)
    # Read once: today's lines are kept per policy and shared by every role holding it.
    service: str = field(init=False, compare=False)
    _text: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        key = (
            self.effect,
            self.action.lower(),
            self.not_action,
            tuple(sorted(self.resources)),
            self.not_resource,
            self.condition,
        )
        object.__setattr__(self, "key", key)
        service = self.action.split(":", 1)[0].lower() if ":" in self.action else "*"
        object.__setattr__(self, "service", service)
        action = f"everything but {self.action}" if self.not_action else self.action
        where = ", ".join(self.resources)
        if self.not_resource:
            where = f"everything but {where}"
        out = f"{self.effect} {action} on {where}"
        if self.condition is not None:
            out += f" if {self.condition}"
        object.__setattr__(self, "_text", out)

    def text(self) -> str:
        return self._text


def _today_lines(policies: Sequence[Policy]) -> list[tuple[_Line, str]]:
    return [line for p in policies for line in _policy_lines(p)]


@lru_cache(maxsize=4096)
def _policy_lines(p: Policy) -> tuple[tuple[_Line, str], ...]:
    out = []
    for st in p.statements:
        if not st.usable or st.effect is None:
            continue
        for action in st.actions if not st.not_action else (", ".join(st.actions),):
            line = _Line(
                st.effect, action, st.not_action, st.resources, st.not_resource, st.condition
            )
            out.append((line, p.name))
    return tuple(out)


def _proposal_lines(
    statements: Sequence[ProposedStatement],
) -> list[tuple[_Line, ProposedStatement]]:
    return [
        (_Line(st.effect, a, False, st.resources, st.not_resource, st.condition), st)
        for st in statements
        for a in st.actions
    ]


@lru_cache(maxsize=16384)
def _granted_count(pattern: tuple[str, ...], not_action: bool, granted: frozenset[str]) -> int:
    return len(_matching(pattern, not_action) & granted)


def _removed_note(
    line: _Line,
    policy: str,
    granted: frozenset[str],
    used_lower: frozenset[str],
    history: tuple[tuple[str, datetime], ...],
) -> str:
    if line.effect == "Deny":
        return f"{policy}: no longer needed, the proposal allows nothing this denies"
    return _allow_removed_note(
        line.action,
        line.not_action,
        policy,
        granted=granted,
        used_lower=used_lower,
        history=history,
    )


@lru_cache(maxsize=65_536)
def _allow_removed_note(
    action: str,
    not_action: bool,
    policy: str,
    *,
    granted: frozenset[str],
    used_lower: frozenset[str],
    history: tuple[tuple[str, datetime], ...],
) -> str:
    # Keyed by everything it reads: roles sharing a managed policy and using the
    # same actions (a fleet's template) share the note of each of its lines.
    pattern = tuple(action.split(", ") if not_action else [action])
    count = _granted_count(pattern, not_action, granted)
    named = _lower_index(_matching(pattern, not_action))
    index = _lower_index(granted)
    # The used and seen actions are few: look them up rather than walk the granted ones.
    used = sorted(index[u] for u in used_lower if u in named and u in index)
    if not count:
        return f"{policy}: grants nothing the boundary and denies leave"
    if not used:
        seen = [when for a, when in history if a in named and a in index]
        if seen:
            return f"{policy}: not used since {max(seen):%Y-%m-%d} ({count:,} action(s))"
        return f"{policy}: never used in the window ({count:,} action(s))"
    shown = ", ".join(used[:4]) + (f" and {len(used) - 4} more" if len(used) > 4 else "")
    if len(used) == count:
        return f"{policy}: used ({shown}), narrowed below"
    return (
        f"{policy}: used {shown}, narrowed below; the other {count - len(used):,} of "
        f"{count:,} action(s) never used in the window"
    )


def _added_note(st: ProposedStatement, action: str) -> str:
    calls = [c for c in st.evidence if c.resource in st.resources]
    if calls:
        total = sum(c.count for c in calls)
        last = max((c.last_seen for c in calls if c.last_seen), default=None)
        ops = sorted({c.operation for c in calls})
        shown = ", ".join(ops[:3]) + (" …" if len(ops) > 3 else "")
        return f"{st.sid}: {shown} x{total:,}" + (f", last {last:%Y-%m-%d}" if last else "")
    if st.reasons:
        return f"{st.sid}: {st.reasons[0]}"
    return st.sid


def _diff(
    policies: Sequence[Policy],
    statements: Sequence[ProposedStatement],
    granted: frozenset[str],
    used_lower: set[str],
    history: Mapping[str, datetime],
) -> tuple[DiffLine, ...]:
    today = _today_lines(policies)
    proposed = _proposal_lines(statements)
    used_key = frozenset(used_lower)
    history_key = tuple(sorted(history.items()))
    today_keys = {line.key for line, _ in today}
    proposed_keys = {line.key for line, _ in proposed}
    by_service: dict[str, list[tuple[int, DiffLine]]] = defaultdict(list)
    seen: set[tuple[object, ...]] = set()
    for line, policy in today:
        if line.key in seen:
            continue
        seen.add(line.key)
        if line.key in proposed_keys:
            by_service[line.service].append(
                (1, DiffLine("kept", line.text(), policy, line.service))
            )
        else:
            note = _removed_note(line, policy, granted, used_key, history_key)
            by_service[line.service].append(
                (0, DiffLine("removed", line.text(), note, line.service))
            )
    for line, st in proposed:
        if line.key in today_keys or line.key in seen:
            continue
        seen.add(line.key)
        by_service[line.service].append(
            (2, DiffLine("added", line.text(), _added_note(st, line.action), line.service))
        )
    out: list[DiffLine] = []
    for service in sorted(by_service, key=lambda s: (s != "*", s)):
        # Stable: removed lines in policy order, then kept, then added in proposal order.
        out.extend(d for _, d in sorted(by_service[service], key=lambda x: x[0]))
    return tuple(out)
