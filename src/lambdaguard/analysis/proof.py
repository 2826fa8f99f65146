"""The proof a proposal passes before anything calls it valid.

Five checks, each a :class:`~.findings.ProofCheck` naming what failed:

- ``actions``: every action of every statement exists in the IAM data;
- ``resources``: every resource of an Allow statement is ``*`` or matches a
  resource type of each of its actions (:mod:`lambdaguard.iam.validity`);
- ``within-grant``: every (action, resource) the proposal allows is allowed by
  today's grant, and where the grant allows it only under a condition the
  statement carries one: the proposal is never wider than the grant;
- ``replay``: every request the recorded calls (and the Lambda service)
  needed that today's grant allowed is allowed by the proposal, evaluated by
  the same evaluator with the role's permissions boundary still attached;
- ``size``: every document fits a managed policy (6,144 characters without
  whitespace) and the role's quota of managed policies.

A second, independent proof lives in the tests: moto's own IAM enforcement
runs the sample functions with credentials of a role that carries only the
proposal (``tests/integration/test_policy_enforced.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambdaguard.analysis.findings import ProofCheck
from lambdaguard.iam import Decision, Grant, Policy, parse_policy
from lambdaguard.iam._glob import TooComplex, nonempty, parse_glob
from lambdaguard.iam.validity import action_problem, resource_problem

if TYPE_CHECKING:
    from lambdaguard.analysis.proposal import Built, Options, RoleLike

__all__ = ["inside", "proposal_policies", "prove"]

_SHOWN = 20  # failures listed per check; the count says how many there were


def proposal_policies(documents: tuple[str, ...], role_arn: str) -> tuple[Policy, ...]:
    """The proposed documents parsed as policies, named after the role they are for."""
    name = role_arn.rsplit("/", 1)[-1] or role_arn
    return tuple(
        parse_policy(text, name=f"{name}/proposed-{i}") for i, text in enumerate(documents, 1)
    )


def inside(part: str, excluding: tuple[str, ...], decision: Decision) -> bool:
    """True if every ARN of ``part`` but those in ``excluding`` is allowed by ``decision``.

    ``decision`` is for the request ``part`` (or a pattern containing it); when
    it allows only parts of it, the question is decided exactly over the
    patterns (the boolean combination "in part, in no exclusion, in no allowed
    part" must be empty).
    """
    if decision.allowed:
        return True
    if not decision.partial:
        return False
    globs = [parse_glob(part, variables=True)]
    globs += [parse_glob(e, variables=True) for e in excluding]
    n = len(excluding)
    spans: list[tuple[int, int, int]] = []
    for allowed in decision.allowed_patterns:
        start = len(globs)
        globs.append(parse_glob(allowed.pattern, variables=True))
        globs += [parse_glob(e, variables=True) for e in allowed.excluding]
        spans.append((start, start + 1, len(globs)))

    def outside(flags: tuple[bool, ...]) -> bool:
        if not flags[0] or any(flags[1 : 1 + n]):
            return False
        return not any(flags[g] and not any(flags[e:end]) for g, e, end in spans)

    try:
        return not nonempty(globs, outside)
    except TooComplex:
        return False


def _wider(action: str, resource: str, grant: Grant, proposal: Grant) -> str | None:
    """Why the proposal allows more of (action, resource) than the grant, or None."""
    mine = proposal.evaluate(action, resource)
    today = grant.evaluate(action, resource)
    if mine.allowed:
        if not today.allowed:
            return f"today's grant: {today.reason}"
        if mine.certainly_allowed and not today.certainly_allowed:
            return "allowed today only under a condition the proposal does not keep"
        return None
    for part in mine.allowed_patterns if mine.partial else ():
        again = grant.evaluate(action, part.pattern)
        if not inside(part.pattern, part.excluding, again):
            return f"the proposal allows {part.pattern}; today's grant: {again.reason}"
        if not part.conditional and again.allowed and not again.certainly_allowed:
            return (
                f"{part.pattern} is allowed today only under a condition the proposal does not keep"
            )
    return None


def _check(name: str, failures: list[str], ok: str, bad: str) -> ProofCheck:
    if not failures:
        return ProofCheck(name, True, ok)
    unique = list(dict.fromkeys(failures))
    return ProofCheck(name, False, bad.format(n=len(unique)), tuple(unique[:_SHOWN]))


def prove(
    role: RoleLike, built: Built, *, grant: Grant, options: Options
) -> tuple[tuple[ProofCheck, ...], Grant]:
    """Run the checks; return them and the proposal compiled (with the role's boundary)."""
    from lambdaguard.analysis.proposal import compact_size

    policies = proposal_policies(built.documents, role.arn)
    proposal = Grant(policies, boundary=role.boundary)
    pairs = 0
    actions: list[str] = [str(w) for p in policies for w in p.warnings]
    resources: list[str] = []
    wider: list[str] = []
    for policy in policies:
        for st in policy.statements:
            sid = st.label
            for action in st.actions:
                problem = action_problem(action)
                if problem:
                    actions.append(f"{sid}: {problem}")
                    continue
                if st.effect != "Allow" or st.not_resource or st.not_action:
                    continue
                for resource in st.resources:
                    pairs += 1
                    problem = resource_problem(action, resource)
                    if problem:
                        resources.append(f"{sid}: {problem}")
                    why = _wider(action, resource, grant, proposal)
                    if why:
                        wider.append(f"{sid}: {action} on {resource}: {why}")
    missed: list[str] = []
    for action, resource, excluding in built.replay:
        d = proposal.evaluate(action, resource)
        if not inside(resource, excluding, d):
            but = f" (except {', '.join(excluding)})" if excluding else ""
            missed.append(f"{action} on {resource}{but}: {d.reason}")
    sizes = []
    for i, text in enumerate(built.documents, 1):
        import json

        size = compact_size(json.loads(text))
        if size > options.document_limit:
            sizes.append(
                f"document {i} has {size:,} characters, more than {options.document_limit:,}"
            )
    if len(built.documents) > options.max_documents:
        sizes.append(
            f"{len(built.documents)} documents, more than the {options.max_documents} managed "
            "policies a role may carry by default"
        )
    checks = (
        _check(
            "actions",
            actions,
            "every action exists in the IAM data",
            "{n} action problem(s)",
        ),
        _check(
            "resources",
            resources,
            "every resource matches a resource type of its action",
            "{n} resource(s) match no resource type of their action",
        ),
        _check(
            "within-grant",
            wider,
            f"each of the {pairs:,} allowed (action, resource) pairs is allowed by today's grant",
            "{n} pair(s) are not allowed by today's grant",
        ),
        _check(
            "replay",
            missed,
            f"all {len(built.replay):,} recorded requests today's grant allowed are allowed by "
            "the proposal",
            "{n} recorded request(s) would be denied",
        ),
        _check(
            "size",
            sizes,
            f"{len(built.documents)} document(s), each within {options.document_limit:,} "
            "characters",
            "{n} size problem(s)",
        ),
    )
    return checks, proposal
