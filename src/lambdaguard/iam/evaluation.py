"""Evaluate identity policies and a permissions boundary for one request, as IAM does.

::

    from lambdaguard.iam import Grant, evaluate
    grant = Grant(policies, boundary=boundary)          # compile once
    d = grant.evaluate("s3:GetObject", "arn:aws:s3:::photos/uploads/*")
    d.effect            # Effect.ALLOW | Effect.EXPLICIT_DENY | Effect.IMPLICIT_DENY
    d.conditional       # True: allowed only under a condition (see d.conditions)
    d.partial           # a pattern allowed for some of its ARNs only (see d.allowed_patterns)
    d.statements        # every statement that applied, as StatementRef (policy, Sid or index)
    d.reason            # one sentence
    evaluate(action, resource, policies, boundary=boundary)   # one request, no compiled grant

The rules, each from the IAM User Guide ("Policy evaluation logic" and the
policy element pages; the tests quote the sentences):

- Everything is denied unless a statement allows it (implicit deny); an
  explicit ``Deny`` overrides any ``Allow``.
- ``Action``/``NotAction`` match action names case-insensitively with ``*`` and
  ``?``; ``Resource``/``NotResource`` match ARNs case-sensitively with the
  segment rules of ``_glob``.
- A permissions boundary is intersected: the request is allowed only if both
  the identity policies and the boundary allow it; a deny in either denies.
- Conditions are never decided: a statement with a ``Condition`` applies
  "under a condition". An allow that holds only under conditions, or a deny
  that may apply under one, makes the decision ``conditional`` and lists the
  statements in ``conditions``; a conditional deny never turns an allow into a
  deny here, and a conditional allow never counts as a certain allow.
- Policy variables (``${aws:username}``, in Version 2012-10-17 policies only)
  cannot be resolved: a resource pattern holding one "depends on a policy
  variable" and is treated like a condition (the statement could apply, never
  certainly does).

A request's resource may be a pattern (``arn:aws:s3:::photos/uploads/*``, a
secret's ``-??????`` suffix) rather than one ARN: the decision is then for every
ARN the pattern matches. ``effect`` is ``ALLOW`` only if the grant allows all
of them; if it allows some, ``partial`` is true and ``allowed_patterns`` names
the part allowed, exactly (each an :class:`AllowedResource`: a pattern, the
sub-patterns it excludes, whether that part is conditional). A ``*`` resource
for an action that supports no resource types is the literal ``*`` IAM
evaluates, not a pattern.

Speed: :class:`Grant` compiles each statement once (one regex per element),
filters statements per action once, and caches decisions per request, so
evaluating many recorded requests against one role costs a dict lookup each
after the first.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache

from lambdaguard.errors import PolicyError
from lambdaguard.iam._data import iam_service
from lambdaguard.iam._glob import (
    STAR_ALL,
    Glob,
    Token,
    TooComplex,
    _regex,
    action_matcher,
    covers,
    intersect,
    nonempty,
    parse_glob,
)
from lambdaguard.iam.policy import Policy, Statement

__all__ = [
    "AllowedResource",
    "Decision",
    "Effect",
    "Grant",
    "StatementRef",
    "evaluate",
]

_CACHE_LIMIT = 200_000  # decisions kept per Grant before the cache starts over


class Effect(enum.Enum):
    """The outcome of a request: allowed, explicitly denied, or denied because nothing allows it."""

    ALLOW = "allow"
    EXPLICIT_DENY = "explicit-deny"
    IMPLICIT_DENY = "implicit-deny"


@dataclass(frozen=True, slots=True)
class StatementRef:
    """Which statement of which policy took part in a decision."""

    policy: str  # the policy's ARN (managed) or name (inline)
    index: int  # 0-based position in its Statement list
    sid: str | None
    effect: str  # "Allow" | "Deny"
    boundary: bool  # the statement is the permissions boundary's
    condition: str | None  # its Condition element, verbatim JSON, when it has one
    variables: tuple[str, ...]  # policy variables its resource patterns depend on

    @property
    def label(self) -> str:
        """``policy#Sid`` or ``policy#index`` (plus ``(boundary)``), for messages."""
        where = f"{self.policy}#{self.sid if self.sid else self.index}"
        return f"{where} (boundary)" if self.boundary else where

    def describe(self) -> str:
        """The statement and what makes it conditional, in a few words."""
        parts = [self.label]
        if self.condition is not None:
            parts.append(f"Condition {self.condition}")
        if self.variables:
            names = ", ".join("${" + v + "}" for v in self.variables)
            parts.append(f"depends on a policy variable ({names})")
        return ": ".join(parts[:1]) + (" — " + "; ".join(parts[1:]) if len(parts) > 1 else "")


@dataclass(frozen=True, slots=True)
class AllowedResource:
    """A part of a request's resource the grant allows: ``pattern`` minus ``excluding``."""

    pattern: str
    excluding: tuple[str, ...] = ()
    conditional: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one (action, resource) request, with the statements behind it."""

    action: str
    resource: str
    effect: Effect
    conditional: bool  # ALLOW that holds only under conditions (see ``conditions``)
    partial: bool  # a pattern allowed for some of its ARNs only (see ``allowed_patterns``)
    statements: tuple[StatementRef, ...]  # every statement that applied to the request
    conditions: tuple[StatementRef, ...]  # the conditional statements the outcome depends on
    allowed_patterns: tuple[AllowedResource, ...]  # what is allowed (the whole request if ALLOW)
    reason: str

    @property
    def allowed(self) -> bool:
        """True if allowed for the whole request, at least under some condition."""
        return self.effect is Effect.ALLOW

    @property
    def certainly_allowed(self) -> bool:
        """True if allowed for the whole request whatever the conditions."""
        return self.effect is Effect.ALLOW and not self.conditional


# ---------------------------------------------------------------------------
# Compiled statements


@dataclass(frozen=True, slots=True)
class _Rule:
    ref: StatementRef
    deny: bool
    not_action: bool
    action_test: Callable[[str], bool] = field(compare=False)
    not_resource: bool
    exact: tuple[Glob, ...]  # resource patterns without policy variables
    variable: tuple[Glob, ...]  # resource patterns with one (read as wildcards)
    exact_names: frozenset[str]  # concrete ARNs among the exact patterns: a set lookup
    exact_prefixes: tuple[str, ...]  # patterns "literal*" (the most common): a prefix test
    exact_re: re.Pattern[str] | None  # the exact patterns with wildcards
    variable_re: re.Pattern[str] | None
    everything: bool  # "*" among the exact patterns
    has_condition: bool

    def applies_to(self, action: str) -> bool:
        return self.action_test(action) != self.not_action


def _literal_then_star(glob: Glob) -> str | None:
    """The literal head of a pattern that is a literal followed by one ``*`` ending it, else None.

    Such a ``*`` ends its segment, so it matches anything (colons included): the
    pattern matches exactly the strings that start with the head.
    """
    tokens = glob.tokens
    if len(tokens) < 2 or tokens[-1] != STAR_ALL or int in map(type, tokens[:-1]):
        return None
    return "".join(str(t) for t in tokens[:-1])


def _alternation(globs: Sequence[Glob]) -> re.Pattern[str] | None:
    if not globs:
        return None
    return _alternation_of(tuple(g.tokens for g in globs))


@lru_cache(maxsize=16384)
def _alternation_of(tokens: tuple[tuple[Token, ...], ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{_regex(t).pattern})" for t in tokens), re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Matchers:
    """What a statement matches, compiled: everything of a rule but whose statement it is."""

    action_test: Callable[[str], bool]
    exact: tuple[Glob, ...]
    variable: tuple[Glob, ...]
    names: tuple[str, ...]  # the policy variables the variable patterns read
    exact_names: frozenset[str]
    exact_prefixes: tuple[str, ...]
    exact_re: re.Pattern[str] | None
    variable_re: re.Pattern[str] | None
    everything: bool


@lru_cache(maxsize=16384)
def _matchers(actions: tuple[str, ...], resources: tuple[str, ...], use_vars: bool) -> _Matchers:
    # A fleet's roles repeat the same statements under other policy names (one
    # inline template per function, the same managed policies): compile each
    # statement's text once, whoever holds it.
    globs = [parse_glob(r, variables=use_vars) for r in resources]
    exact = tuple(g for g in globs if not g.variables)
    variable = tuple(g for g in globs if g.variables)
    return _Matchers(
        action_test=action_matcher(actions),
        exact=exact,
        variable=variable,
        names=tuple(dict.fromkeys(v for g in variable for v in g.variables)),
        exact_names=frozenset(g.head for g in exact if g.concrete),
        exact_prefixes=tuple(p for g in exact if (p := _literal_then_star(g)) is not None),
        exact_re=_alternation(
            [g for g in exact if not g.concrete and _literal_then_star(g) is None]
        ),
        variable_re=_alternation(variable),
        everything=any(g.everything for g in exact),
    )


def _compile(policy: Policy, statement: Statement, *, boundary: bool) -> _Rule | None:
    if not statement.usable or statement.effect is None:
        return None
    m = _matchers(statement.actions, statement.resources, policy.variables)
    ref = StatementRef(
        policy=policy.label,
        index=statement.index,
        sid=statement.sid,
        effect=statement.effect,
        boundary=boundary,
        condition=statement.condition,
        variables=m.names,
    )
    return _Rule(
        ref=ref,
        deny=statement.effect == "Deny",
        not_action=statement.not_action,
        action_test=m.action_test,
        not_resource=statement.not_resource,
        exact=m.exact,
        variable=m.variable,
        exact_names=m.exact_names,
        exact_prefixes=m.exact_prefixes,
        exact_re=m.exact_re,
        variable_re=m.variable_re,
        everything=m.everything,
        has_condition=statement.condition is not None,
    )


@lru_cache(maxsize=4096)
def _compile_policy(policy: Policy, boundary: bool) -> tuple[_Rule, ...]:
    # Managed policies are shared by many roles: compile each once.
    return tuple(
        r for s in policy.statements if (r := _compile(policy, s, boundary=boundary)) is not None
    )


# How a statement's resource element relates to a concrete ARN.
_NO, _YES, _MAYBE = 0, 1, 2


def _match_concrete(rule: _Rule, resource: str) -> int:
    if (
        rule.everything
        or resource in rule.exact_names
        or (rule.exact_prefixes and resource.startswith(rule.exact_prefixes))
        or (rule.exact_re is not None and rule.exact_re.fullmatch(resource))
    ):
        inside = _YES
    elif rule.variable_re is not None and rule.variable_re.fullmatch(resource):
        inside = _MAYBE
    else:
        inside = _NO
    if not rule.not_resource:
        return inside
    # NotResource: the statement applies to every resource outside the list.
    return {_YES: _NO, _MAYBE: _MAYBE, _NO: _YES}[inside]


# ---------------------------------------------------------------------------
# One side (identity policies, or the boundary): its verdict on a request


@dataclass(frozen=True, slots=True)
class _Term:
    glob: Glob
    excluding: tuple[Glob, ...]
    conditional: bool
    refs: tuple[StatementRef, ...]  # the conditional statements this part depends on


@dataclass(frozen=True, slots=True)
class _Side:
    terms: tuple[_Term, ...]  # what is allowed, possibly under conditions
    explicit: bool  # an unconditional Deny applies to (part of) the request
    statements: tuple[StatementRef, ...]
    notes: tuple[str, ...] = ()


def _side_concrete(rules: Sequence[_Rule], resource: str, req: Glob) -> _Side:
    hard_allow: list[StatementRef] = []
    soft_allow: list[StatementRef] = []
    hard_deny: list[StatementRef] = []
    soft_deny: list[StatementRef] = []
    applied: list[StatementRef] = []
    for rule in rules:
        m = _match_concrete(rule, resource)
        if m == _NO:
            continue
        applied.append(rule.ref)
        soft = rule.has_condition or m == _MAYBE
        if rule.deny:
            (soft_deny if soft else hard_deny).append(rule.ref)
        else:
            (soft_allow if soft else hard_allow).append(rule.ref)
    if hard_deny or not (hard_allow or soft_allow):
        return _Side((), bool(hard_deny), tuple(applied))
    conditional = not hard_allow or bool(soft_deny)
    refs = tuple(soft_deny) if hard_allow else (*soft_allow, *soft_deny)
    return _Side((_Term(req, (), conditional, refs),), False, tuple(applied))


def _side_pattern(rules: Sequence[_Rule], req: Glob) -> _Side:
    terms: list[_Term] = []
    applied: list[StatementRef] = []
    explicit = False
    allows = [r for r in rules if not r.deny]
    denies = [r for r in rules if r.deny]
    for rule in allows:
        new = _simplify(_allow_terms(rule, req))
        if new:
            applied.append(rule.ref)
            terms.extend(new)
    for rule in denies:
        hit, terms = _apply_deny(rule, req, terms)
        if hit:
            applied.append(rule.ref)
            explicit = explicit or (hit == _YES)
    return _Side(tuple(_simplify(terms)), explicit, tuple(applied))


def _allow_terms(rule: _Rule, req: Glob) -> list[_Term]:
    ref = (rule.ref,)
    if not rule.not_resource:
        out = [
            _Term(g, (), rule.has_condition, ref if rule.has_condition else ())
            for p in rule.exact
            for g in intersect(req, p)
        ]
        out += [_Term(g, (), True, ref) for p in rule.variable for g in intersect(req, p)]
        return out
    # NotResource: everything outside the list; where a variable pattern could
    # exclude a part, that part is allowed only if the variable does not resolve so.
    out = [
        _Term(
            req, rule.exact + rule.variable, rule.has_condition, ref if rule.has_condition else ()
        )
    ]
    out += [_Term(g, rule.exact, True, ref) for p in rule.variable for g in intersect(req, p)]
    return out


def _apply_deny(rule: _Rule, req: Glob, terms: list[_Term]) -> tuple[int, list[_Term]]:
    """Apply one Deny statement to the allowed terms; say whether it hit (_YES hard, _MAYBE soft)."""
    ref = (rule.ref,)
    if not rule.not_resource:
        hard = [g for p in rule.exact for g in intersect(req, p)]
        soft = [g for p in rule.variable for g in intersect(req, p)]
        if rule.has_condition:
            hard, soft = [], hard + soft
        if not hard and not soft:
            return _NO, terms
        out: list[_Term] = []
        for t in terms:
            base = _Term(t.glob, t.excluding + tuple(hard) + tuple(soft), t.conditional, t.refs)
            out.append(base)
            # The softly denied part stays allowed, but only if the deny does not apply.
            out += [
                _Term(g, t.excluding + tuple(hard), True, t.refs + ref)
                for s in soft
                for g in intersect(t.glob, s)
            ]
        return (_YES if hard else _MAYBE), out
    # NotResource Deny: denies everything outside the list. Inside an exact
    # pattern it never applies; inside a variable pattern it applies unless the
    # variable resolves to include the resource; elsewhere it applies (under
    # its condition, if it has one).
    try:
        if rule.exact and covers(rule.exact, req):
            return _NO, terms
    except TooComplex:
        pass
    try:
        fully_inside = covers(rule.exact + rule.variable, req)
    except TooComplex:
        fully_inside = False
    out = []
    for t in terms:
        out += [
            _Term(g, t.excluding, t.conditional, t.refs)
            for p in rule.exact
            for g in intersect(t.glob, p)
        ]
        if rule.has_condition:
            out.append(_Term(t.glob, t.excluding + rule.exact, True, t.refs + ref))
            continue
        out += [
            _Term(g, t.excluding + rule.exact, True, t.refs + ref)
            for p in rule.variable
            for g in intersect(t.glob, p)
        ]
    return (_MAYBE if rule.has_condition or fully_inside else _YES), out


def _simplify(terms: Iterable[_Term]) -> list[_Term]:
    merged: dict[tuple[Glob, tuple[Glob, ...]], _Term] = {}
    for t in terms:
        excl = tuple(dict.fromkeys(p for e in t.excluding for p in intersect(t.glob, e)))
        try:
            if excl and covers(excl, t.glob):
                continue  # nothing of this part is left
        except TooComplex:
            pass
        key = (t.glob, tuple(sorted(excl, key=lambda g: g.text)))
        prev = merged.get(key)
        if prev is None:
            merged[key] = _Term(t.glob, key[1], t.conditional, t.refs)
        elif prev.conditional and not t.conditional:
            merged[key] = _Term(t.glob, key[1], False, ())
        elif prev.conditional and t.conditional:
            merged[key] = _Term(t.glob, key[1], True, tuple(dict.fromkeys(prev.refs + t.refs)))
    kept = list(merged.values())
    # Drop a part that others (as certain, or it is conditional too) already cover,
    # narrowest first: each step leaves what is allowed, and what is certain, unchanged.
    for t in sorted(kept, key=lambda t: (len(t.glob.tokens), t.glob.text), reverse=True):
        wider = [
            u.glob
            for u in kept
            if u is not t and not u.excluding and (not u.conditional or t.conditional)
        ]
        try:
            if wider and covers(wider, t.glob):
                kept.remove(t)
        except TooComplex:
            continue
    return sorted(kept, key=lambda t: (t.glob.text, [e.text for e in t.excluding], t.conditional))


def _covered(req: Glob, terms: Sequence[_Term]) -> bool:
    """True if every string of ``req`` is in some term (its glob minus its exclusions)."""
    if not terms:
        return False
    plain = [t.glob for t in terms if not t.excluding]
    if plain and covers(plain, req):
        return True
    globs: list[Glob] = [req]
    spans: list[tuple[int, int, int]] = []
    for t in terms:
        start = len(globs)
        globs.append(t.glob)
        globs.extend(t.excluding)
        spans.append((start, start + 1, len(globs)))

    def uncovered(flags: tuple[bool, ...]) -> bool:
        if not flags[0]:
            return False
        return not any(flags[g] and not any(flags[e:end]) for g, e, end in spans)

    return not nonempty(globs, uncovered)


def _intersect_sides(a: _Side, b: _Side) -> tuple[_Term, ...]:
    out: list[_Term] = []
    for x in a.terms:
        for y in b.terms:
            for g in intersect(x.glob, y.glob):
                out.append(
                    _Term(
                        g,
                        x.excluding + y.excluding,
                        x.conditional or y.conditional,
                        tuple(dict.fromkeys(x.refs + y.refs)),
                    )
                )
    return tuple(_simplify(out))


# ---------------------------------------------------------------------------
# The grant


class Grant:
    """Identity policies and an optional permissions boundary, compiled for many evaluations."""

    def __init__(self, policies: Iterable[Policy], *, boundary: Policy | None = None) -> None:
        self.policies: tuple[Policy, ...] = tuple(policies)
        self.boundary: Policy | None = boundary
        for p in (*self.policies, *((boundary,) if boundary is not None else ())):
            if not isinstance(p, Policy):
                raise PolicyError(
                    f"a grant is made of Policy objects (see parse_policy), not {type(p).__name__}"
                )
        self._identity = tuple(r for p in self.policies for r in _compile_policy(p, False))
        self._boundary: tuple[_Rule, ...] | None = None
        if boundary is not None:
            self._boundary = _compile_policy(boundary, True)
        self._per_action: dict[str, tuple[tuple[_Rule, ...], tuple[_Rule, ...] | None]] = {}
        self._decisions: dict[tuple[str, str], Decision] = {}

    @property
    def partial(self) -> bool:
        """True if some statement could not be evaluated (its policy's warnings say which)."""
        return any(p.partial for p in self.policies) or bool(
            self.boundary and self.boundary.partial
        )

    def evaluate(self, action: str, resource: str) -> Decision:
        """The decision for ``action`` on ``resource`` (an ARN, an ARN pattern, or ``*``)."""
        key = (action, resource)
        found = self._decisions.get(key)
        if found is not None:
            return found
        decision = self._decide(action, resource)
        if len(self._decisions) >= _CACHE_LIMIT:
            self._decisions.clear()
        self._decisions[key] = decision
        return decision

    def _rules(self, action: str) -> tuple[tuple[_Rule, ...], tuple[_Rule, ...] | None]:
        found = self._per_action.get(action)
        if found is None:
            ident = tuple(r for r in self._identity if r.applies_to(action))
            bound = (
                tuple(r for r in self._boundary if r.applies_to(action))
                if self._boundary is not None
                else None
            )
            found = (ident, bound)
            self._per_action[action] = found
        return found

    def _decide(self, action: str, resource: str, *, as_pattern: bool = False) -> Decision:
        # as_pattern: decide a concrete ARN through the pattern path (the tests
        # prove both paths agree).
        if not isinstance(action, str) or action.count(":") != 1 or action.startswith(":"):
            raise PolicyError(f"request action {action!r} is not of the form 'service:Action'")
        if not isinstance(resource, str) or not resource:
            raise PolicyError(f"request resource {resource!r} is not an ARN, an ARN pattern or '*'")
        ident_rules, bound_rules = self._rules(action.lower())
        req = _request_glob(action.lower(), resource)
        notes: list[str] = []
        terms: tuple[_Term, ...]
        if req.concrete and not as_pattern:
            # One ARN: each side allows it (possibly under conditions) or not.
            ident = _side_concrete(ident_rules, resource, req)
            bound = _side_concrete(bound_rules, resource, req) if bound_rules is not None else None
            terms = ident.terms
            if bound is not None:
                terms = (
                    (
                        _Term(
                            req,
                            (),
                            ident.terms[0].conditional or bound.terms[0].conditional,
                            tuple(dict.fromkeys(ident.terms[0].refs + bound.terms[0].refs)),
                        ),
                    )
                    if ident.terms and bound.terms
                    else ()
                )
            allowed = bool(terms)
            certain = allowed and not terms[0].conditional
        else:
            ident = _side_pattern(ident_rules, req)
            bound = _side_pattern(bound_rules, req) if bound_rules is not None else None
            terms = ident.terms if bound is None else _intersect_sides(ident, bound)
            try:
                allowed = _covered(req, terms)
                certain = allowed and _covered(req, [t for t in terms if not t.conditional])
            except TooComplex:
                allowed = certain = False
                notes.append(
                    "the pattern is too complex to decide exactly; the parts allowed are listed"
                )
        statements = ident.statements + (bound.statements if bound is not None else ())
        explicit = ident.explicit or (bound is not None and bound.explicit)
        if allowed:
            effect = Effect.ALLOW
        elif explicit:
            effect = Effect.EXPLICIT_DENY
        else:
            effect = Effect.IMPLICIT_DENY
        conditional = allowed and not certain
        conditions: tuple[StatementRef, ...] = ()
        if conditional:
            conditions = tuple(dict.fromkeys(r for t in terms if t.conditional for r in t.refs))
        partial = not allowed and bool(terms)
        if allowed:
            patterns: tuple[AllowedResource, ...] = (AllowedResource(resource, (), conditional),)
        else:
            patterns = tuple(
                AllowedResource(t.glob.text, tuple(e.text for e in t.excluding), t.conditional)
                for t in terms
            )
        reason = _reason(
            effect,
            conditional=conditional,
            partial=partial,
            conditions=conditions,
            statements=statements,
            patterns=patterns,
            boundary_blocks=bound is not None and not bound.terms and bool(ident.terms),
        )
        if notes:
            reason += " (" + "; ".join(notes) + ")"
        return Decision(
            action=action,
            resource=resource,
            effect=effect,
            conditional=conditional,
            partial=partial,
            statements=statements,
            conditions=conditions,
            allowed_patterns=patterns,
            reason=reason,
        )


@cache
def _no_resource_types(action: str) -> bool:
    prefix, _, name = action.partition(":")
    service = iam_service(prefix)
    found = service.action(name) if service is not None else None
    return found is not None and not found.resources


def _request_glob(action: str, resource: str) -> Glob:
    # An action that supports no resource types is authorized against the literal
    # "*" ("you use the wildcard character (*) in the Resource element"), which a
    # statement scoped to ARNs does not match.
    if resource == "*" and _no_resource_types(action):
        return Glob(("*",))
    return _parse_request(resource)


@lru_cache(maxsize=65536)
def _parse_request(resource: str) -> Glob:
    return parse_glob(resource)


def _reason(
    effect: Effect,
    *,
    conditional: bool,
    partial: bool,
    conditions: Sequence[StatementRef],
    statements: Sequence[StatementRef],
    patterns: Sequence[AllowedResource],
    boundary_blocks: bool,
) -> str:
    allows = [s for s in statements if s.effect == "Allow"]
    denies = [s for s in statements if s.effect == "Deny"]
    if effect is Effect.ALLOW:
        by = ", ".join(s.label for s in allows) or "no statement"
        if not conditional:
            return f"allowed by {by}"
        soft_denies = [c for c in conditions if c.effect == "Deny"]
        soft_allows = [c for c in conditions if c.effect == "Allow"]
        parts = []
        if soft_allows:
            parts.append(
                "allowed only under a condition: " + "; ".join(c.describe() for c in soft_allows)
            )
        else:
            parts.append(f"allowed by {by}")
        if soft_denies:
            parts.append(
                "denied under a condition: " + "; ".join(c.describe() for c in soft_denies)
            )
        return ", but ".join(parts) if not soft_allows else "; ".join(parts)
    if effect is Effect.EXPLICIT_DENY:
        text = "explicitly denied by " + ", ".join(s.label for s in denies)
    elif boundary_blocks:
        text = "denied: the identity policies allow it, the permissions boundary does not"
    else:
        text = "denied: no statement allows it (implicit deny)"
    if partial:
        shown = ", ".join(
            p.pattern + (f" except {', '.join(p.excluding)}" if p.excluding else "")
            for p in patterns[:5]
        )
        more = f" and {len(patterns) - 5} more" if len(patterns) > 5 else ""
        text += f"; allowed only for part of the pattern: {shown}{more}"
    return text


@lru_cache(maxsize=256)
def _grant_for(policies: tuple[Policy, ...], boundary: Policy | None) -> Grant:
    return Grant(policies, boundary=boundary)


def evaluate(
    action: str,
    resource: str,
    policies: Iterable[Policy],
    *,
    boundary: Policy | None = None,
) -> Decision:
    """The decision for one request against identity ``policies`` and an optional ``boundary``.

    For many requests against the same policies, build a :class:`Grant` once.
    """
    return _grant_for(tuple(policies), boundary).evaluate(action, resource)
