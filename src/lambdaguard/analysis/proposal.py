"""The right-sized policy for one role: what was needed, intersected with what is granted.

::

    from lambdaguard.analysis.proposal import Role, propose
    proposal = propose(Role(arn, policies, boundary), needs, account="123456789012",
                       confidence=confidence, now=now)
    proposal.documents        # IAM policy documents (JSON text), each within 6,144 characters
    proposal.statements       # each with its reasons and the recorded calls it cites
    proposal.proved           # the proof (analysis.proof) passed

The rules, in the order they are applied:

1. **Need ∩ grant.** Every needed request (action, resource) is evaluated
   against today's grant (identity policies and permissions boundary,
   :class:`lambdaguard.iam.Grant`). Allowed: it is kept as it is. Allowed only
   under a condition: it is kept with that condition (a statement's own
   ``Condition``; a policy variable becomes the condition it amounts to,
   ``${aws:PrincipalTag/team}`` in ``.../${aws:PrincipalTag/team}/*`` becomes
   ``StringEquals aws:PrincipalTag/team``); a ``Deny`` that applies only under a
   condition is carried over for that action. Allowed for part of a pattern:
   the part is kept. Not allowed: nothing is proposed, and the request is
   reported (denied, or working thanks to a resource policy). So the proposal
   is never wider than the grant, and never misses a request the grant allowed.
2. **Generalize with restraint.** Exact ARNs stay exact. Resources one
   pattern already covers are folded into it (``bucket/uploads/*`` covers
   ``bucket/uploads/a.jpg``). When many resources of one action share a path
   prefix (at least :attr:`Options.threshold`, below the first path segment),
   they become ``prefix/*`` if the grant allows the whole prefix
   unconditionally: never wider than the evidence's common prefix, never
   wider than the grant.
3. **Compact.** Per service and origin, resources with the same set of
   actions share a statement (or actions with the same resources, whichever
   is shorter). Statements are ordered, named (readable ``Sid``\\ s such as
   ``S3Read``, ``LambdaServiceLogs``) and packed into documents of at most
   6,144 characters (a managed policy's limit, whitespace not counted); a
   statement too large for one is split. If more than ten documents would be
   needed (a role's default quota of managed policies), the generalization
   threshold is lowered step by step, and failing that the proposal says so.
4. **Deterministic.** Everything is sorted; the same input gives the same
   bytes.

The proof (:mod:`.proof`) then checks the result before anything calls it valid.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Final, Protocol

from lambdaguard.analysis.findings import (
    Citation,
    Confidence,
    PolicyProposal,
    ProposedStatement,
    UsedPermission,
)
from lambdaguard.analysis.need import Need, citation_order
from lambdaguard.iam import Decision, Grant, Policy, StatementRef
from lambdaguard.iam._glob import TooComplex, covers, parse_glob
from lambdaguard.iam.risk import AccessLevel, access_level

__all__ = [
    "DEFAULT_OPTIONS",
    "MANAGED_POLICY_LIMIT",
    "MAX_DOCUMENTS",
    "ROLE_INLINE_LIMIT",
    "Options",
    "Role",
    "RoleLike",
    "compact_size",
    "propose",
    "render_document",
]

VERSION: Final = "2012-10-17"
# IAM quotas ("IAM and AWS STS quotas", IAM User Guide): characters, whitespace not counted.
MANAGED_POLICY_LIMIT: Final = 6_144
ROLE_INLINE_LIMIT: Final = 10_240
MAX_DOCUMENTS: Final = 10  # managed policies per role, by default
_ORIGIN_ORDER: Final = {
    "used": 0,
    "assumed-role": 1,
    "lambda-service": 2,
    "unmapped": 3,
    "kept-deny": 4,
}
_LEVEL_WORD: Final = {
    AccessLevel.PERMISSIONS_MANAGEMENT: "Permissions",
    AccessLevel.WRITE: "Write",
    AccessLevel.TAGGING: "Tagging",
    AccessLevel.READ: "Read",
    AccessLevel.LIST: "List",
}
# A statement is named after its most sensitive action ...
_LEVEL_RANK: Final = {level: i for i, level in enumerate(_LEVEL_WORD)}
# ... and statements read from the least sensitive to the most.
_READING_ORDER: Final = {level: -i for i, level in enumerate(_LEVEL_WORD)}
_VARIABLE: Final = re.compile(r"\$\{([^}]*)\}")


class RoleLike(Protocol):
    """What a proposal needs of a role: its ARN, identity policies and boundary.

    :class:`lambdaguard.analysis.grants.RoleGrant` is one; :class:`Role` is the
    plain form.
    """

    @property
    def arn(self) -> str: ...
    @property
    def policies(self) -> tuple[Policy, ...]: ...
    @property
    def boundary(self) -> Policy | None: ...
    @property
    def partial(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Role:
    """A role's identity policies and permissions boundary, as the proposal reads them."""

    arn: str
    policies: tuple[Policy, ...]
    boundary: Policy | None = None
    partial: bool = False


@dataclass(frozen=True, slots=True)
class Options:
    """Tuning of the proposal; the defaults are what the commands use."""

    threshold: int = 10  # resources sharing a prefix before it becomes prefix/*
    max_documents: int = MAX_DOCUMENTS
    document_limit: int = MANAGED_POLICY_LIMIT


DEFAULT_OPTIONS: Final = Options()


# ---------------------------------------------------------------------------
# Step 1: need ∩ grant


@dataclass(slots=True)
class _Info:
    evidence: dict[tuple[Any, ...], Citation] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    origins: set[str] = field(default_factory=set)

    def absorb(self, other: _Info) -> None:
        self.evidence.update(other.evidence)
        for r in other.reasons:
            if r not in self.reasons:
                self.reasons.append(r)
        self.origins |= other.origins

    def note(self, reason: str) -> None:
        if reason and reason not in self.reasons:
            self.reasons.append(reason)


# (action, resource, condition JSON or None)
_Key = tuple[str, str, str | None]
# (action, resources, not_resource, condition JSON or None)
_DenyKey = tuple[str, tuple[str, ...], bool, str | None]


def _cite_key(c: Citation) -> tuple[Any, ...]:
    return citation_order(c)


class _Intersection:
    """The allowed items, carried denies and the answer to every need."""

    def __init__(self, grant: Grant, policies: Sequence[Policy], boundary: Policy | None) -> None:
        self.grant = grant
        self.policies = tuple(policies)
        self.where: dict[str, tuple[str, ...]] = {}
        self.statements: dict[tuple[str, bool], Policy] = {(p.label, False): p for p in policies}
        if boundary is not None:
            self.statements[boundary.label, True] = boundary
        self.allow: dict[_Key, _Info] = {}
        self.deny: dict[_DenyKey, _Info] = {}
        self.used: list[UsedPermission] = []
        # Requests the proposal must allow: (action, resource, the parts excluded from it).
        self.replay: dict[tuple[str, str, tuple[str, ...]], None] = {}
        self.notes: list[str] = []

    # -- adding ------------------------------------------------------------------
    def _allow(self, action: str, resource: str, condition: str | None, need: Need) -> None:
        if need.via:
            # KMS used on the caller's behalf: only through the services that did so.
            via = {"StringEquals": {"kms:ViaService": list(need.via)}}
            merged = _merge_conditions(condition, _dump(via))
            if not isinstance(merged, _Conflict):
                condition = merged
        info = self.allow.setdefault((action, resource, condition), _Info())
        if need.via:
            info.note(
                f"{action} only through {', '.join(need.via)} (kms:ViaService): the service uses "
                "the key with the function's permission"
            )
        info.origins.add(need.origin)
        for c in need.evidence:
            info.evidence.setdefault(_cite_key(c), c)
        if need.origin in ("lambda-service", "assumed-role", "unmapped"):
            for e in need.explanations:
                info.note(e)
        if resource != need.resource:
            info.note(f"{need.action} on {need.resource} is granted today only as {resource}")

    def _deny(self, action: str, ref: StatementRef, why: str) -> None:
        policy = self.statements.get((ref.policy, ref.boundary))
        if policy is None or ref.index >= len(policy.statements):
            self.notes.append(f"statement {ref.label} could not be found to carry over")
            return
        st = policy.statements[ref.index]
        key = (action, st.resources, st.not_resource, st.condition)
        info = self.deny.setdefault(key, _Info())
        info.origins.add("kept-deny")
        info.note(f"carried over from {ref.label}: {why}")

    # -- one need ------------------------------------------------------------------
    def add(self, need: Need, actions: Sequence[str]) -> None:
        for action in actions:
            decision = self.grant.evaluate(action, need.resource)
            kept = self._absorb(action, need.resource, decision, need, depth=0)
            if need.origin == "unmapped" and not kept and not decision.partial:
                continue  # one line for the whole service below
            self.used.append(self._answer(action, need, decision, kept))
        if need.origin == "unmapped":
            n = sum(1 for u in self.used if u.status.startswith("granted"))
            self.notes.append(
                f"{need.action} on *: calls could not be mapped; today's grant allows "
                f"{n} action(s) of the service, all kept"
            )

    def _answer(self, action: str, need: Need, d: Decision, kept: bool) -> UsedPermission:
        from lambdaguard.analysis.compare import granted_where

        # Where the policy text grants the action, as a reviewer reads it.
        granted_as = self.where.get(action)
        if granted_as is None:
            granted_as = self.where[action] = granted_where(self.policies, action)
        if d.allowed:
            status = "granted-conditional" if d.conditional else "granted"
            reason = d.reason
            if d.conditional and not kept:
                reason += "; the condition could not be carried over, so it is not proposed"
        elif d.partial:
            status, reason = "granted-in-part", d.reason
        elif need.confidence == "dependent":
            # AWS asks for these only in some cases (a KMS-encrypted queue, a role passed on).
            status = "not-covered"
            reason = f"{d.reason}; AWS asks for it only in some cases"
            if need.succeeded_calls:
                reason += " and the calls succeeded without it here (or a key policy allowed it)"
        elif need.denied_calls:
            status = "denied"
            reason = f"{d.reason}; the call failed with an access-denied error"
        elif need.succeeded_calls:
            status = "resource-policy"
            reason = (
                f"{d.reason}; yet the call succeeded, so a resource policy (or a grant "
                "lambdaguard did not read) allowed it"
            )
        else:
            status, reason = "not-covered", d.reason
        if d.allowed and need.denied_calls:
            reason += (
                "; the call was still denied: something else (a service control policy, a "
                "resource policy, a session policy) refuses it"
            )
        return UsedPermission(
            action=action,
            resource=need.resource,
            status=status,
            reason=reason,
            confidence=need.confidence,
            explanation="; ".join(need.explanations),
            evidence=need.evidence,
            granted_as=granted_as,
        )

    def _absorb(self, action: str, resource: str, d: Decision, need: Need, *, depth: int) -> bool:
        """Add what ``d`` allows of (action, resource); True if anything was kept."""
        if d.allowed and not d.conditional:
            self._allow(action, resource, None, need)
            self.replay[action, resource, ()] = None
            return True
        if d.allowed:
            return self._conditional(action, resource, d, need)
        if not d.partial:
            return False
        kept = False
        for part in d.allowed_patterns:
            if part.excluding and not self._exclusions_denied(action, part.excluding):
                self.notes.append(
                    f"{action} on {part.pattern} except {', '.join(part.excluding)}: the "
                    "exception is allowed elsewhere, so the part cannot be written exactly; "
                    "left out"
                )
                continue
            if part.conditional:
                if depth > 0 or part.excluding:
                    self.notes.append(
                        f"{action} on {part.pattern}: allowed only in part and under a "
                        "condition; left out"
                    )
                    continue
                again = self.grant.evaluate(action, part.pattern)
                kept = self._absorb(action, part.pattern, again, need, depth=depth + 1) or kept
                continue
            self._allow(action, part.pattern, None, need)
            for pattern in part.excluding:
                key = (action, (pattern,), False, None)
                self.deny.setdefault(key, _Info(origins={"kept-deny"})).note(
                    f"today's grant does not allow {action} on {pattern}"
                )
            self.replay[action, part.pattern, part.excluding] = None
            kept = True
        return kept

    def _exclusions_denied(self, action: str, excluding: Sequence[str]) -> bool:
        # A Deny for an excluded part is exact only if nothing else allows that part.
        for pattern in excluding:
            d = self.grant.evaluate(action, pattern)
            if d.allowed or d.partial:
                return False
        return True

    def _conditional(self, action: str, resource: str, d: Decision, need: Need) -> bool:
        allows_i = [r for r in d.conditions if r.effect == "Allow" and not r.boundary]
        allows_b = [r for r in d.conditions if r.effect == "Allow" and r.boundary]
        denies = [r for r in d.conditions if r.effect == "Deny"]
        options_i = [self._condition(r, resource) for r in allows_i] or [_Cond(None)]
        options_b = [self._condition(r, resource) for r in allows_b] or [_Cond(None)]
        kept = False
        for ci in options_i:
            for cb in options_b:
                if ci.failed or cb.failed:
                    self.notes.append(f"{action} on {resource}: {ci.failed or cb.failed}")
                    continue
                merged = _merge_conditions(ci.value, cb.value)
                if isinstance(merged, _Conflict):
                    self.notes.append(
                        f"{action} on {resource}: the identity policy and the boundary set a "
                        "condition on the same key; one statement cannot say both, left out"
                    )
                    continue
                self._allow(action, resource, merged, need)
                kept = True
        if kept:
            self.replay[action, resource, ()] = None
            for ref in denies:
                self._deny(action, ref, "it denies this action under a condition")
        return kept

    def _condition(self, ref: StatementRef, resource: str) -> _Cond:
        """The condition under which ``ref`` allows ``resource``, as one Condition element."""
        base = json.loads(ref.condition) if ref.condition else {}
        if not ref.variables:
            return _Cond(_dump(base))
        policy = self.statements.get((ref.policy, ref.boundary))
        st = policy.statements[ref.index] if policy and ref.index < len(policy.statements) else None
        if st is None or st.not_resource:
            return _Cond(None, f"{ref.label} depends on a policy variable and cannot be carried")
        for pattern in st.resources:
            values = _variable_values(pattern, resource)
            if values is None:
                continue
            extra = {"StringEquals": dict(values)}
            merged = _merge_conditions(_dump(base) if base else None, _dump(extra))
            if isinstance(merged, _Conflict) or merged is None:
                break
            return _Cond(merged)
        return _Cond(
            None,
            f"{ref.label} allows it through a policy variable whose value cannot be read from "
            "the resource; left out",
        )


class _Conflict:
    """Two conditions set the same key to different values: one statement cannot say both."""


CONFLICT: Final = _Conflict()


@dataclass(frozen=True, slots=True)
class _Cond:
    value: str | None
    failed: str = ""


def _dump(condition: Mapping[str, Any]) -> str | None:
    if not condition:
        return None
    ordered = {op: dict(sorted(keys.items())) for op, keys in sorted(condition.items())}
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False)


def _merge_conditions(a: str | None, b: str | None) -> str | _Conflict | None:
    """Both conditions in one Condition element (AND); CONFLICT when they set the same key."""
    if a is None:
        return b
    if b is None:
        return a
    out: dict[str, dict[str, Any]] = {}
    for cond in (json.loads(a), json.loads(b)):
        for op, keys in cond.items():
            slot = out.setdefault(op, {})
            for key, value in keys.items():
                if key in slot and slot[key] != value:
                    return CONFLICT
                slot[key] = value
    return _dump(out)


def _variable_values(pattern: str, resource: str) -> tuple[tuple[str, str], ...] | None:
    """The values the policy variables of ``pattern`` take so that it covers ``resource``.

    Only plain variables (no default value) with values free of wildcards and
    separators; None when there is no such reading.
    """
    names = _VARIABLE.findall(pattern)
    if not names or any("," in n or n in ("*", "?", "$") for n in names):
        return None
    regex = ""
    pos = 0
    for m in _VARIABLE.finditer(pattern):
        regex += _literal_regex(pattern[pos : m.start()]) + "([^/:*?]+?)"
        pos = m.end()
    regex += _literal_regex(pattern[pos:])
    found = re.fullmatch(regex, resource)
    if found is None:
        return None
    values: dict[str, str] = {}
    for name, value in zip(names, found.groups(), strict=True):
        if values.setdefault(name, value) != value:
            return None
    filled = pattern
    for name, value in values.items():
        filled = filled.replace("${" + name + "}", value)
    try:
        if not covers([parse_glob(filled)], parse_glob(resource)):
            return None
    except TooComplex:
        return None
    return tuple(sorted(values.items()))


def _literal_regex(text: str) -> str:
    # The resource is matched as text: a wildcard of the pattern matches any text,
    # wildcards of the resource included.
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)


# ---------------------------------------------------------------------------
# Step 2: generalize


def _wild(resource: str) -> bool:
    return "*" in resource or "?" in resource


def _generalize(
    allow: dict[_Key, _Info], grant: Grant, threshold: int
) -> tuple[dict[_Key, _Info], list[str]]:
    """Fold covered resources into the patterns that cover them; collapse shared prefixes."""
    notes: list[str] = []
    by_action: dict[tuple[str, str | None], list[str]] = defaultdict(list)
    for action, resource, cond in allow:
        by_action[action, cond].append(resource)
    out: dict[_Key, _Info] = {}

    def move(action: str, cond: str | None, src: str, dst: str, why: str | None) -> None:
        info = allow[action, src, cond]
        target = out.setdefault((action, dst, cond), _Info())
        target.absorb(info)
        if why:
            target.note(why)

    for (action, cond), found in sorted(
        by_action.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
    ):
        resources = sorted(set(found))
        if "*" in resources:
            for r in resources:
                move(action, cond, r, "*", None)
            continue
        target = {r: r for r in resources}
        patterns = [r for r in resources if _wild(r)]
        for r in resources:
            for p in patterns:
                if p != r and _covered(p, r):
                    target[r] = p
                    break
        if cond is None:
            target = _collapse(action, target, grant, threshold, notes)
        for r in resources:
            move(action, cond, r, target[r], None)
        for dst in sorted(set(target.values()) - set(resources)):
            n = sum(1 for r in resources if target[r] == dst)
            out[action, dst, cond].note(
                f"{n} resources of {action} share the prefix {dst[:-1]}, so one pattern covers them"
            )
    # What is allowed under a condition where it is also allowed without one is
    # allowed: the conditional copy adds nothing.
    for key in [k for k in out if k[2] is not None]:
        action, resource, _ = key
        for plain in ((action, resource, None), (action, "*", None)):
            if plain in out:
                out[plain].absorb(out.pop(key))
                break
    return out, notes


@cache
def _covered(pattern: str, resource: str) -> bool:
    try:
        return covers([parse_glob(pattern)], parse_glob(resource))
    except TooComplex:
        return False


def _prefixes(resource: str) -> list[str]:
    """Path prefixes of an ARN's resource part, two segments deep or more, without wildcards."""
    parts = resource.split(":", 5)
    if len(parts) != 6:
        return []
    head, path = ":".join(parts[:5]) + ":", parts[5]
    segments = path.split("/")
    out = []
    for k in range(2, len(segments)):
        if any(_wild(s) for s in segments[:k]):
            break
        out.append(head + "/".join(segments[:k]) + "/")
    return out


def _collapse(
    action: str, target: dict[str, str], grant: Grant, threshold: int, notes: list[str]
) -> dict[str, str]:
    loose = sorted(r for r, t in target.items() if t == r)
    members: dict[str, list[str]] = defaultdict(list)
    for r in loose:
        for prefix in _prefixes(r):
            members[prefix].append(r)
    done: set[str] = set()
    # Deepest prefix first: the narrowest pattern that gathers enough resources.
    for prefix in sorted(members, key=lambda p: (-p.count("/"), p)):
        group = [r for r in members[prefix] if r not in done]
        if len(group) < threshold:
            continue
        pattern = prefix + "*"
        if not grant.evaluate(action, pattern).certainly_allowed:
            notes.append(
                f"{action}: {len(group)} resources share {prefix} but today's grant does not "
                "allow all of it, so they stay listed one by one"
            )
            continue
        for r in group:
            target[r] = pattern
            done.add(r)
    for r, t in list(target.items()):
        if t != r and t in target and target[t] != t:
            target[r] = target[t]  # a pattern itself folded into a wider one
    return target


# ---------------------------------------------------------------------------
# Step 3: statements and documents


def _service(action: str) -> str:
    return action.split(":", 1)[0].lower()


def _camel(prefix: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", prefix))


def _level(actions: Iterable[str]) -> AccessLevel | None:
    levels = [lv for a in actions if (lv := access_level(a)) is not None]
    return min(levels, key=lambda lv: _LEVEL_RANK[lv]) if levels else None


@dataclass(slots=True)
class _Draft:
    origin: str
    prefix: str
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: str | None
    info: _Info
    not_resource: bool = False

    def as_dict(self, sid: str) -> dict[str, Any]:
        out: dict[str, Any] = {"Sid": sid, "Effect": self.effect}
        out["Action"] = list(self.actions) if len(self.actions) > 1 else self.actions[0]
        key = "NotResource" if self.not_resource else "Resource"
        out[key] = list(self.resources) if len(self.resources) > 1 else self.resources[0]
        if self.condition is not None:
            out["Condition"] = json.loads(self.condition)
        return out


def _group(pairs: Sequence[tuple[str, str]]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Statements (actions, resources) for pairs: the shorter of by-resource and by-action grouping."""
    by_resource: dict[str, set[str]] = defaultdict(set)
    by_action: dict[str, set[str]] = defaultdict(set)
    for a, r in pairs:
        by_resource[r].add(a)
        by_action[a].add(r)
    a_groups: dict[frozenset[str], list[str]] = defaultdict(list)
    for r, acts in by_resource.items():
        a_groups[frozenset(acts)].append(r)
    first = [(_sorted_actions(k), tuple(sorted(v))) for k, v in a_groups.items()]
    r_groups: dict[frozenset[str], list[str]] = defaultdict(list)
    for a, res in by_action.items():
        r_groups[frozenset(res)].append(a)
    second = [(_sorted_actions(v), tuple(sorted(k))) for k, v in r_groups.items()]

    def size(groups: list[tuple[tuple[str, ...], tuple[str, ...]]]) -> tuple[int, int]:
        chars = sum(
            sum(len(a) + 3 for a in acts) + sum(len(r) + 3 for r in res) + 40
            for acts, res in groups
        )
        return chars, len(groups)

    best = first if size(first) <= size(second) else second
    return sorted(best, key=lambda g: (g[0], g[1]))


def _sorted_actions(actions: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(actions), key=lambda a: (a.lower(), a)))


def _drafts(allow: Mapping[_Key, _Info], deny: Mapping[_DenyKey, _Info]) -> list[_Draft]:
    parts: dict[tuple[str, str, str | None], dict[tuple[str, str], _Info]] = defaultdict(dict)
    for (action, resource, cond), info in allow.items():
        origin = min(info.origins or {"used"}, key=lambda o: _ORIGIN_ORDER.get(o, 9))
        parts[origin, _service(action), cond][action, resource] = info
    drafts: list[_Draft] = []
    for (origin, prefix, cond), pairs in parts.items():
        for actions, resources in _group(sorted(pairs)):
            info = _Info()
            for a in actions:
                for r in resources:
                    if (a, r) in pairs:
                        info.absorb(pairs[a, r])
            drafts.append(_Draft(origin, prefix, "Allow", actions, resources, cond, info))
    deny_parts: dict[tuple[str, tuple[str, ...], bool, str | None], list[tuple[str, _Info]]] = (
        defaultdict(list)
    )
    for (action, resources, not_resource, cond), info in deny.items():
        deny_parts[_service(action), resources, not_resource, cond].append((action, info))
    for (prefix, resources, not_resource, cond), found in deny_parts.items():
        info = _Info()
        for _, i in found:
            info.absorb(i)
        drafts.append(
            _Draft(
                "kept-deny",
                prefix,
                "Deny",
                _sorted_actions(a for a, _ in found),
                tuple(sorted(resources)),
                cond,
                info,
                not_resource=not_resource,
            )
        )
    drafts.sort(
        key=lambda d: (
            _ORIGIN_ORDER.get(d.origin, 9),
            d.prefix,
            d.condition or "",
            _READING_ORDER.get(_level(d.actions) or AccessLevel.LIST, 9),
            d.actions,
            d.resources,
        )
    )
    return drafts


def _sid(d: _Draft) -> str:
    base = _camel(d.prefix)
    level = _level(d.actions)
    word = _LEVEL_WORD[level] if level is not None else ""
    if d.origin == "lambda-service":
        name = f"LambdaService{base}"
    elif d.origin == "assumed-role":
        name = "AssumeRoles" if d.prefix == "sts" else f"AssumedRoles{base}"
    elif d.origin == "unmapped":
        name = f"{base}Unmapped"
    elif d.origin == "kept-deny":
        name = f"Deny{base}"
    else:
        name = f"{base}{word}"
    if d.condition is not None and d.effect == "Allow":
        name += "Conditional"
    return name


def compact_size(document: Mapping[str, Any]) -> int:
    """A document's size as IAM counts it: characters without whitespace between elements."""
    return len(json.dumps(document, separators=(",", ":"), ensure_ascii=False))


def render_document(statements: Sequence[Mapping[str, Any]]) -> str:
    """A policy document's JSON text: two-space indents, elements in IAM's usual order."""
    return json.dumps(
        {"Version": VERSION, "Statement": list(statements)}, indent=2, ensure_ascii=False
    )


def _split(d: _Draft, sid: str, limit: int) -> list[tuple[str, _Draft]]:
    """One draft, or pieces of it (resources, then actions, in chunks) that each fit ``limit``."""
    if compact_size({"Version": VERSION, "Statement": [d.as_dict(sid)]}) <= limit:
        return [(sid, d)]
    pieces: list[_Draft] = []
    if len(d.resources) > 1:
        half = len(d.resources) // 2
        chunks = [d.resources[:half], d.resources[half:]]
        pieces = [
            _Draft(d.origin, d.prefix, d.effect, d.actions, c, d.condition, d.info, d.not_resource)
            for c in chunks
        ]
    elif len(d.actions) > 1 and not d.not_resource:
        half = len(d.actions) // 2
        chunks = [d.actions[:half], d.actions[half:]]
        pieces = [
            _Draft(
                d.origin, d.prefix, d.effect, c, d.resources, d.condition, d.info, d.not_resource
            )
            for c in chunks
        ]
    else:
        return [(sid, d)]  # one action on one resource: cannot be smaller (reported by the proof)
    out: list[tuple[str, _Draft]] = []
    for piece in pieces:
        out.extend(_split(piece, sid, limit))
    return out


def _pack(drafts: Sequence[_Draft], limit: int) -> list[list[tuple[str, _Draft]]]:
    named: list[tuple[str, _Draft]] = []
    used: dict[str, int] = {}
    for d in drafts:
        base = _sid(d)
        pieces = _split(d, base, limit)
        for i, (sid, piece) in enumerate(pieces, 1):
            name = sid if len(pieces) == 1 else f"{sid}Part{i}"
            n = used.get(name, 0) + 1
            used[name] = n
            named.append((name if n == 1 else f"{name}{n}", piece))
    # A document's compact size is its frame plus its statements and the commas between.
    frame = compact_size({"Version": VERSION, "Statement": []})
    documents: list[list[tuple[str, _Draft]]] = [[]]
    size = frame
    for sid, d in named:
        current = documents[-1]
        own = len(json.dumps(d.as_dict(sid), separators=(",", ":"), ensure_ascii=False))
        grown = size + own + (1 if current else 0)
        if current and grown > limit:
            documents.append([(sid, d)])
            size = frame + own
        else:
            current.append((sid, d))
            size = grown
    return documents


# ---------------------------------------------------------------------------
# The whole proposal


def _expand(action: str) -> tuple[str, ...]:
    if "*" not in action and "?" not in action:
        return (action,)
    from lambdaguard.iam._data import iam_service

    prefix, _, name = action.partition(":")
    service = iam_service(prefix.lower())
    if service is None:
        return ()
    regex = re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in name.lower())
    )
    return tuple(
        sorted(
            f"{service.prefix}:{a.name}" for k, a in service.actions.items() if regex.fullmatch(k)
        )
    )


@dataclass(frozen=True, slots=True)
class Built:
    """The proposal's statements and documents, and what the proof replays against them."""

    statements: tuple[ProposedStatement, ...]
    documents: tuple[str, ...]
    used: tuple[UsedPermission, ...]
    # (action, resource, excluded parts): what the proposal must allow
    replay: tuple[tuple[str, str, tuple[str, ...]], ...]
    notes: tuple[str, ...]


def build(
    role: RoleLike,
    needs: Sequence[Need],
    *,
    options: Options = DEFAULT_OPTIONS,
    grant: Grant | None = None,
) -> Built:
    """Statements and documents for ``needs`` within ``role``'s grant (steps 1 to 3)."""
    grant = grant or Grant(role.policies, boundary=role.boundary)
    x = _Intersection(grant, role.policies, role.boundary)
    for need in needs:
        x.add(need, _expand(need.action))
    notes = list(dict.fromkeys(x.notes))
    threshold = max(2, options.threshold)
    while True:
        allow, gen_notes = _generalize(x.allow, grant, threshold)
        drafts = _drafts(allow, x.deny)
        documents = _pack(drafts, options.document_limit)
        if len(documents) <= options.max_documents or threshold <= 2:
            break
        threshold = max(2, threshold // 2)
    if threshold != max(2, options.threshold):
        notes.append(
            f"to fit in {options.max_documents} policies, resources sharing a prefix were "
            f"gathered from {threshold} on (instead of {options.threshold})"
        )
    if len(documents) > options.max_documents:
        notes.append(
            f"the proposal needs {len(documents)} policies of {options.document_limit} "
            f"characters, more than the {options.max_documents} managed policies a role may "
            "carry by default: ask AWS for a higher quota, or accept wider resources"
        )
    notes.extend(dict.fromkeys(gen_notes))
    total = sum(
        compact_size({"Version": VERSION, "Statement": [d.as_dict(sid) for sid, d in doc]})
        for doc in documents
        if doc
    )
    if total > ROLE_INLINE_LIMIT:
        notes.append(
            f"the documents add up to {total:,} characters, more than the {ROLE_INLINE_LIMIT:,} "
            "all of a role's inline policies may hold: attach them as managed policies"
        )
    statements: list[ProposedStatement] = []
    texts: list[str] = []
    for doc in documents:
        if not doc:
            continue
        texts.append(render_document([d.as_dict(sid) for sid, d in doc]))
        for sid, d in doc:
            statements.append(
                ProposedStatement(
                    sid=sid,
                    effect=d.effect,
                    actions=d.actions,
                    resources=d.resources,
                    not_resource=d.not_resource,
                    condition=d.condition,
                    origin=d.origin,
                    reasons=tuple(d.info.reasons),
                    evidence=tuple(sorted(d.info.evidence.values(), key=_cite_key)),
                )
            )
    used = sorted(x.used, key=lambda u: (u.action.lower(), u.resource, u.status))
    return Built(
        statements=tuple(statements),
        documents=tuple(texts),
        used=tuple(used),
        replay=tuple(sorted(x.replay)),
        notes=tuple(notes),
    )


def _open(paths: Iterable[Any]) -> int:
    """Paths open on every resource they need and under no condition: the ones counted."""
    return sum(1 for x in paths if x.scope == "all" and not x.conditional)


def propose(
    role: RoleLike,
    needs: Sequence[Need],
    *,
    account: str,
    confidence: Confidence,
    partition: str = "aws",
    principal: str = "execution-role",
    history: Mapping[str, datetime] | None = None,
    options: Options = DEFAULT_OPTIONS,
    notes: Sequence[str] = (),
) -> PolicyProposal:
    """The proposal for ``role`` from ``needs``: documents, comparison, diff, paths and proof.

    ``history`` maps lower-case actions to when they were last used before
    the window ("not used since"). ``notes`` are carried into the proposal
    (grant warnings, low-evidence remarks).
    """
    from lambdaguard.analysis.compare import compare
    from lambdaguard.analysis.proof import prove

    grant = Grant(role.policies, boundary=role.boundary)
    built = build(role, needs, options=options, grant=grant)
    proof, proposal_grant = prove(role, built, grant=grant, options=options)
    comparison_result = compare(
        role,
        built,
        grant=grant,
        proposal=proposal_grant,
        account=account,
        partition=partition,
        history=history or {},
    )
    all_notes = [*notes, *built.notes]
    if role.partial:
        all_notes.append(
            "some of the role's policies could not be read or evaluated whole: the proposal "
            "covers what was read"
        )
    return PolicyProposal(
        role_arn=role.arn,
        documents=built.documents,
        confidence=confidence,
        access=comparison_result.access,
        diff=comparison_result.diff,
        unused_risky=comparison_result.unused_risky,
        unused_risky_total=comparison_result.unused_risky_total,
        admin_equivalent=comparison_result.admin_equivalent,
        escalation_paths_now=_open(comparison_result.paths_now),
        escalation_paths_after=_open(comparison_result.paths_after),
        paths_now=comparison_result.paths_now,
        paths_after=comparison_result.paths_after,
        proved=all(c.passed for c in proof),
        proof=proof,
        principal=principal,
        statements=built.statements,
        replaces=tuple(p.label for p in role.policies),
        boundary=role.boundary.label if role.boundary is not None else None,
        used=built.used,
        unused=comparison_result.unused,
        unused_total=comparison_result.unused_total,
        notes=tuple(dict.fromkeys(all_notes)),
    )
