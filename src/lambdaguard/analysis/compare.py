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
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Final

from lambdaguard.analysis.findings import (
    AccessUse,
    DiffLine,
    EscalationPath,
    ProposedStatement,
    UnusedPermission,
)
from lambdaguard.iam import Grant, Policy, Statement
from lambdaguard.iam.risk import (
    AccessLevel,
    RiskPath,
    access_level,
    action_risks,
    admin_equivalent,
    risk_paths,
)

if TYPE_CHECKING:
    from lambdaguard.analysis.proposal import Built, RoleLike

__all__ = ["MAX_LISTED", "Comparison", "compare", "granted_actions"]

MAX_LISTED: Final = 200
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


def _statement_actions(st: Statement) -> frozenset[str]:
    return _matching(st.actions, st.not_action)


def _side(policies: Iterable[Policy]) -> frozenset[str]:
    allowed: set[str] = set()
    taken: set[str] = set()
    for p in policies:
        for st in p.statements:
            if not st.usable:
                continue
            if st.effect == "Allow":
                allowed |= _statement_actions(st)
            elif (
                st.effect == "Deny"
                and st.condition is None
                and not st.not_resource
                and "*" in st.resources
            ):
                taken |= _statement_actions(st)
    return frozenset(allowed - taken)


@lru_cache(maxsize=1024)
def granted_actions(policies: tuple[Policy, ...], boundary: Policy | None) -> frozenset[str]:
    """Every action of the IAM data the policies grant on some resource (see the module docstring)."""
    granted = _side(policies)
    if boundary is not None:
        granted &= _side((boundary,))
    return granted


def _granted_where(policies: Sequence[Policy], action: str) -> tuple[str, ...]:
    out: list[str] = []
    for p in policies:
        for st in p.statements:
            if st.usable and st.effect == "Allow" and action in _statement_actions(st):
                if st.not_resource:
                    out.append("everything but " + ", ".join(st.resources))
                else:
                    out.extend(st.resources)
    return tuple(dict.fromkeys(out))


# ---------------------------------------------------------------------------
# Comparison


def _path(p: RiskPath) -> EscalationPath:
    return EscalationPath(
        p.risk.id, p.risk.kind.value, p.risk.title, p.describe(), p.scope, p.conditional
    )


@lru_cache(maxsize=1024)
def _paths_now(
    policies: tuple[Policy, ...], boundary: Policy | None, account: str, partition: str
) -> tuple[tuple[EscalationPath, ...], bool]:
    grant = Grant(policies, boundary=boundary)
    paths = tuple(_path(p) for p in risk_paths(grant, account=account, partition=partition))
    return paths, admin_equivalent(grant) is not None


def _severity(action: str) -> tuple[int, int, str]:
    level = access_level(action)
    return (0 if action_risks(action) else 1, _LEVEL_ORDER.get(level, 5) if level else 5, action)


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
    unused_all = sorted((a for a in granted if a.lower() not in used_lower), key=_severity)
    risky = [a for a in unused_all if action_risks(a) or access_level(a) in _RISKY_LEVELS]
    unused = tuple(
        UnusedPermission(
            action=a,
            resources=_granted_where(policies, a),
            access_level=(lv.value if (lv := access_level(a)) else ""),
            risks=tuple(r.id for r in action_risks(a)),
            last_used=history.get(a.lower()),
        )
        for a in unused_all[:MAX_LISTED]
    )
    paths_now, admin = _paths_now(policies, role.boundary, account, partition)
    paths_after = tuple(
        _path(p) for p in risk_paths(proposal, account=account, partition=partition)
    )
    return Comparison(
        unused=unused,
        unused_total=len(unused_all),
        unused_risky=tuple(risky[:MAX_LISTED]),
        unused_risky_total=len(risky),
        access=_access(granted, used_lower),
        diff=_diff(policies, built.statements, granted, used_lower, history),
        paths_now=paths_now,
        paths_after=paths_after,
        admin_equivalent=admin,
    )


def _access(granted: frozenset[str], used_lower: set[str]) -> tuple[AccessUse, ...]:
    counts: Counter[tuple[str, str]] = Counter()
    used: Counter[tuple[str, str]] = Counter()
    services: set[str] = set()
    for action in granted:
        service = action.split(":", 1)[0]
        found = access_level(action)
        key = (service, found.value if found else "Unknown")
        counts[key] += 1
        services.add(service)
        if action.lower() in used_lower:
            used[key] += 1
    used_services = {s for s, _ in used}
    shown = (
        services if len(services) <= _MANY_SERVICES else used_services | (services & _ALWAYS_SHOWN)
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

    @property
    def key(self) -> tuple[object, ...]:
        return (
            self.effect,
            self.action.lower(),
            self.not_action,
            tuple(sorted(self.resources)),
            self.not_resource,
            self.condition,
        )

    @property
    def service(self) -> str:
        return self.action.split(":", 1)[0].lower() if ":" in self.action else "*"

    def text(self) -> str:
        action = f"everything but {self.action}" if self.not_action else self.action
        where = ", ".join(self.resources)
        if self.not_resource:
            where = f"everything but {where}"
        out = f"{self.effect} {action} on {where}"
        if self.condition is not None:
            out += f" if {self.condition}"
        return out


def _today_lines(policies: Sequence[Policy]) -> list[tuple[_Line, str]]:
    out = []
    for p in policies:
        for st in p.statements:
            if not st.usable or st.effect is None:
                continue
            for action in st.actions if not st.not_action else (", ".join(st.actions),):
                out.append(
                    (
                        _Line(
                            st.effect,
                            action,
                            st.not_action,
                            st.resources,
                            st.not_resource,
                            st.condition,
                        ),
                        p.name,
                    )
                )
    return out


def _proposal_lines(
    statements: Sequence[ProposedStatement],
) -> list[tuple[_Line, ProposedStatement]]:
    return [
        (_Line(st.effect, a, False, st.resources, st.not_resource, st.condition), st)
        for st in statements
        for a in st.actions
    ]


def _removed_note(
    line: _Line,
    policy: str,
    granted: frozenset[str],
    used_lower: set[str],
    history: Mapping[str, datetime],
) -> str:
    if line.effect == "Deny":
        return f"{policy}: no longer needed, the proposal allows nothing this denies"
    pattern = line.action.split(", ") if line.not_action else [line.action]
    names = _matching(tuple(pattern), line.not_action) & granted
    used = sorted(a for a in names if a.lower() in used_lower)
    if not names:
        return f"{policy}: grants nothing the boundary and denies leave"
    if not used:
        seen = [history[a.lower()] for a in names if a.lower() in history]
        if seen:
            return f"{policy}: not used since {max(seen):%Y-%m-%d} ({len(names):,} action(s))"
        return f"{policy}: never used in the window ({len(names):,} action(s))"
    shown = ", ".join(used[:4]) + (f" and {len(used) - 4} more" if len(used) > 4 else "")
    if len(used) == len(names):
        return f"{policy}: used ({shown}), narrowed below"
    return (
        f"{policy}: used {shown}, narrowed below; the other {len(names) - len(used):,} of "
        f"{len(names):,} action(s) never used in the window"
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
            note = _removed_note(line, policy, granted, used_lower, history)
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
