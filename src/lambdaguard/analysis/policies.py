"""Right-sized policies for every function: the judgement step the views and commands run.

::

    from lambdaguard.analysis.policies import PolicyInputs, policy_step
    step = policy_step(inputs, store=store, now=now, window=timedelta(days=90))
    findings = analyse(store, now=now, window=window, steps=[step])
    findings.functions[0].proposal          # PolicyProposal for the execution role
    findings.functions[0].assumed_roles     # one per role the function assumed

For each function the store has evidence for and whose grant was read
(:class:`FunctionInputs`), the step

1. groups the recorded calls' IAM requests by whose credentials signed them
   (:mod:`.need`), adding what the Lambda service needs through the execution
   role (derived from the configuration, each with its explanation) and
   ``sts:AssumeRole`` on every role the function assumed;
2. proposes a policy for the execution role, and for every assumed role whose
   policies can be read (:mod:`.proposal`), with its proof (:mod:`.proof`) and
   comparison (:mod:`.compare`);
3. says how much the proposal rests on (:func:`proposal_confidence`): days
   observed, invocations, distinct triggers, cold starts, resources the calls
   did not name, calls that could not be mapped. A low-confidence proposal says
   so in every output.

A function with no recorded evidence gets no proposal: with nothing observed,
every permission would look unused, and nothing observed is ever proposed for
removal on that ground alone. "Not used since …" comes from calls the store
holds from before the window (:func:`history`).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from lambdaguard.analysis.findings import (
    Confidence,
    Evidence,
    Findings,
    FunctionFindings,
    Level,
    MappedCall,
    PolicyProposal,
    UsedPermission,
)
from lambdaguard.analysis.need import Need, Needs, ServiceNeedLike, collect_needs, merge_needs
from lambdaguard.analysis.proposal import DEFAULT_OPTIONS, Options, RoleLike, propose

if TYPE_CHECKING:
    from lambdaguard.analysis.evidence import IamRequests
    from lambdaguard.analysis.fleet import Step
    from lambdaguard.collector.store import Store

__all__ = [
    "FunctionInputs",
    "history",
    "policy_step",
    "proposal_confidence",
    "propose_for_function",
    "propose_roles",
]

# Thresholds of confidence: below the first, LOW; below the second, MEDIUM.
LOW_DAYS: Final = 7
HIGH_DAYS: Final = 30
LOW_INVOCATIONS: Final = 100
HIGH_INVOCATIONS: Final = 1_000
# Up to this many functions, "not used since" is read per function; beyond, in one query.
_FEW: Final = 5


@dataclass(frozen=True, slots=True)
class FunctionInputs:
    """What the proposal needs of one function beyond its evidence.

    ``role`` is the execution role's grant (None when it could not be read);
    ``service_needs`` what the Lambda service exercises through it;
    ``roles`` reads another role's grant by ARN (for roles the function
    assumed; None when it cannot be read); ``warnings`` what could not be read.
    """

    arn: str
    role_arn: str | None
    role: RoleLike | None
    account: str
    partition: str = "aws"
    service_needs: tuple[ServiceNeedLike, ...] = ()
    roles: Callable[[str], RoleLike | None] | None = None
    warnings: tuple[str, ...] = ()


def _calls(evidence: Evidence) -> list[MappedCall]:
    return [m for g in evidence.calls for m in g.calls]


def proposal_confidence(
    evidence: Evidence, needs: Needs, *, role: str = "", since: datetime | None = None
) -> Confidence:
    """How much a proposal rests on: how long and how much was observed, and what is uncertain.

    ``since`` is the start of the window: days seen before it do not count.
    """
    inv = evidence.invocations
    first = max(evidence.first_seen, since) if since is not None else evidence.first_seen
    span = max(evidence.last_seen - first, timedelta(0))
    days = span.total_seconds() / 86_400
    active = sum(1 for d in inv.days if d.invocations)
    triggers = sorted({t.kind for t in evidence.triggers})
    reasons = [
        f"observed over {days:.0f} day(s), {active} with invocations",
        f"{inv.total:,} invocation(s), {inv.cold_starts:,} cold start(s)",
        f"{len(triggers)} distinct trigger kind(s)"
        + (f": {', '.join(triggers)}" if triggers else ""),
    ]
    level = Level.HIGH
    if days < LOW_DAYS or inv.total < LOW_INVOCATIONS:
        level = Level.LOW
        reasons.append(
            "little was observed: paths that run rarely (monthly jobs, error handlers, "
            "retries) may not have run yet"
        )
    elif days < HIGH_DAYS or inv.total < HIGH_INVOCATIONS:
        level = Level.MEDIUM
    if needs.unmapped:
        level = Level.LOW
        reasons.append(
            f"{len(needs.unmapped)} kind(s) of call could not be mapped to IAM actions; "
            "what today's grant allows their services is kept"
        )
    if needs.wildcard:
        level = min(level, Level.MEDIUM, key=_rank)
        reasons.append(
            f"{needs.wildcard} request(s) did not name their resource; kept as today's grant "
            "allows them"
        )
    if needs.incomplete:
        level = min(level, Level.MEDIUM, key=_rank)
        reasons.append(f"{needs.incomplete} call(s) had their recorded parameters cut")
    if needs.otel_only:
        level = min(level, Level.MEDIUM, key=_rank)
        reasons.append(
            f"{needs.otel_only} call(s) were reported by another instrumentation, which names "
            "fewer resources"
        )
    if needs.static:
        reasons.append(
            f"{len(needs.static)} call(s) were signed with other credentials (not a role): "
            "reported, not proposed"
        )
    if role:
        reasons.append(f"calls signed with the credentials of {role}")
    return Confidence(level, tuple(reasons))


def _rank(level: Level) -> int:
    return {Level.LOW: 0, Level.MEDIUM: 1, Level.HIGH: 2}[level]


def history(
    store: Store, *, before: datetime, requests: IamRequests, function_arn: str | None = None
) -> dict[str, dict[str, datetime]]:
    """Per function, when each action was last used before ``before`` (lower-case action -> time)."""
    out: dict[str, dict[str, datetime]] = defaultdict(dict)
    for call in store.calls(function_arn, last_seen_before=before):
        if call.last_seen is None or call.last_seen >= before:
            continue
        found, _ = requests(call)
        seen = out[call.function_arn]
        for r in found:
            key = r.action.lower()
            if key not in seen or seen[key] < call.last_seen:
                seen[key] = call.last_seen
    return dict(out)


@dataclass(frozen=True, slots=True)
class _Member:
    fn: FunctionFindings
    inputs: FunctionInputs
    needs: Needs
    confidence: Confidence


def _weakest(confidences: Sequence[Confidence], shared: Sequence[str]) -> Confidence:
    worst = min(confidences, key=lambda c: _rank(c.level))
    if len(shared) <= 1:
        return worst
    return Confidence(
        worst.level,
        (*worst.reasons, f"the role is shared by {len(shared)} functions: {', '.join(shared)}"),
    )


def propose_roles(
    members: Sequence[tuple[FunctionFindings, FunctionInputs]],
    *,
    everyone: Sequence[FunctionInputs] = (),
    last_used: Mapping[str, Mapping[str, datetime]] | None = None,
    options: Options = DEFAULT_OPTIONS,
    since: datetime | None = None,
) -> dict[str, tuple[PolicyProposal | None, tuple[PolicyProposal, ...]]]:
    """Proposals for the functions ``members`` (by function ARN): per role, the union of needs.

    A role's proposal covers every function that runs with it (or assumed
    it), so applying it breaks none of them. ``everyone`` are the inputs of
    every function whose grant was read, evidence or not: a role shared with a
    function lambdaguard recorded nothing for cannot be proved (its needs are
    unknown), and the proposal says so.
    """
    last_used = last_used or {}
    built: list[_Member] = []
    for fn, inputs in members:
        if fn.evidence is None:
            continue
        needs = collect_needs(_calls(fn.evidence), service_needs=inputs.service_needs)
        built.append(
            _Member(fn, inputs, needs, proposal_confidence(fn.evidence, needs, since=since))
        )
    with_evidence = {m.fn.arn for m in built}
    by_role: dict[str, list[_Member]] = defaultdict(list)
    for m in built:
        if m.inputs.role is not None:
            by_role[m.inputs.role.arn].append(m)
    silent: dict[str, list[str]] = defaultdict(list)
    for other in everyone:
        if other.role_arn and other.arn not in with_evidence:
            silent[other.role_arn].append(other.arn.rsplit(":", 1)[-1])
    execution: dict[str, PolicyProposal] = {}
    for role_arn, group in by_role.items():
        role = group[0].inputs.role
        assert role is not None
        names = sorted(m.fn.name for m in group)
        notes: list[str] = []
        for m in group:
            notes.extend(m.inputs.warnings)
            if m.needs.static:
                notes.append(
                    f"{m.fn.name}: {len(m.needs.static)} call(s) were signed with static "
                    "credentials, not a role: they are nobody's need here"
                )
        history: dict[str, datetime] = {}
        for m in group:
            for action, when in last_used.get(m.fn.arn, {}).items():
                if action not in history or history[action] < when:
                    history[action] = when
        proposal = propose(
            role,
            merge_needs(*(m.needs.execution for m in group)),
            account=group[0].inputs.account,
            partition=group[0].inputs.partition,
            confidence=_weakest([m.confidence for m in group], names),
            history=history,
            options=options,
            notes=notes,
        )
        if silent.get(role_arn):
            proposal = _unprovable(proposal, sorted(silent[role_arn]))
        execution[role_arn] = proposal
    by_assumed: dict[str, list[_Member]] = defaultdict(list)
    for m in built:
        for role_arn in m.needs.assumed:
            by_assumed[role_arn].append(m)
    assumed: dict[str, PolicyProposal] = {}
    for role_arn, group in sorted(by_assumed.items()):
        lookup = next((m.inputs.roles for m in group if m.inputs.roles is not None), None)
        role = lookup(role_arn) if lookup is not None else None
        names = sorted(m.fn.name for m in group)
        role_needs = merge_needs(*(m.needs.by_role.get(role_arn, ()) for m in group))
        confidence = _weakest(
            [
                proposal_confidence(m.fn.evidence, m.needs, role=role_arn, since=since)
                for m in group
                if m.fn.evidence
            ],
            names,
        )
        if role is None:
            assumed[role_arn] = _unread(role_arn, role_needs, confidence)
            continue
        assumed[role_arn] = propose(
            role,
            role_needs,
            account=role_arn.split(":")[4] or group[0].inputs.account,
            partition=group[0].inputs.partition,
            confidence=confidence,
            principal="assumed-role",
            options=options,
            notes=(
                [
                    "this role's other users (people, services, functions lambdaguard does not "
                    "watch) are not part of the need: check its trust policy before applying"
                ]
            ),
        )
    out: dict[str, tuple[PolicyProposal | None, tuple[PolicyProposal, ...]]] = {}
    for m in built:
        main = execution.get(m.inputs.role.arn) if m.inputs.role is not None else None
        out[m.fn.arn] = (main, tuple(assumed[r] for r in m.needs.assumed))
    return out


def _unprovable(proposal: PolicyProposal, silent: Sequence[str]) -> PolicyProposal:
    from lambdaguard.analysis.findings import ProofCheck

    check = ProofCheck(
        "shared-role",
        False,
        f"the role is also the execution role of {len(silent)} function(s) lambdaguard has "
        "recorded nothing for; their needs are unknown, so applying this would remove them",
        tuple(silent[:20]),
    )
    return dataclasses.replace(proposal, proved=False, proof=(*proposal.proof, check))


def propose_for_function(
    fn: FunctionFindings,
    inputs: FunctionInputs,
    *,
    last_used: Mapping[str, datetime] | None = None,
    options: Options = DEFAULT_OPTIONS,
) -> tuple[PolicyProposal | None, tuple[PolicyProposal, ...]]:
    """The execution role's proposal and one per assumed role, for one function alone."""
    found = propose_roles(
        [(fn, inputs)], last_used={fn.arn: dict(last_used or {})}, options=options
    )
    return found.get(fn.arn, (None, ()))


def _unread(role_arn: str, needs: Iterable[Need], confidence: Confidence) -> PolicyProposal:
    used = tuple(
        UsedPermission(
            action=n.action,
            resource=n.resource,
            status="not-covered",
            reason="the role's policies could not be read",
            confidence=n.confidence,
            explanation="; ".join(n.explanations),
            evidence=n.evidence,
        )
        for n in needs
    )
    return PolicyProposal(
        role_arn=role_arn,
        documents=(),
        confidence=confidence,
        principal="assumed-role",
        grant_read=False,
        used=used,
        notes=(
            f"the policies of {role_arn} could not be read: its need is listed, nothing is "
            "proposed (read grants with credentials that may read that role, or include it "
            "in the authorization details export)",
        ),
    )


def policy_step(
    inputs: Iterable[FunctionInputs],
    *,
    store: Store | None = None,
    now: datetime,
    window: timedelta | None = None,
    options: Options = DEFAULT_OPTIONS,
    requests: IamRequests | None = None,
) -> Step:
    """A findings step that fills every function's proposal (and assumed roles') from ``inputs``."""
    everyone = tuple(inputs)
    by_arn = {i.arn: i for i in everyone}

    def step(findings: Findings) -> Findings:
        from lambdaguard.analysis.fleet import paused_gc

        with paused_gc():
            return _step(findings)

    def _step(findings: Findings) -> Findings:
        from lambdaguard.analysis.evidence import IamRequests
        from lambdaguard.analysis.trial import check, pinned_documents

        mapper = requests or IamRequests()
        members = [(fn, by_arn[fn.arn]) for fn in findings.functions if fn.arn in by_arn]
        last: dict[str, dict[str, datetime]] = {}
        if store is not None and window is not None:
            if len(members) <= _FEW:
                for fn, _ in members:
                    last.update(
                        history(store, before=now - window, requests=mapper, function_arn=fn.arn)
                    )
            else:
                last = history(store, before=now - window, requests=mapper)
        found = propose_roles(
            members,
            everyone=everyone,
            last_used=last,
            options=options,
            since=findings.window_start,
        )
        pinned = {t.function_arn for t in store.trials()} if store is not None else set()
        functions = []
        for fn in findings.functions:
            inputs = by_arn.get(fn.arn)
            if inputs is None:
                functions.append(fn)
                continue
            main, assumed = found.get(fn.arn, (None, ()))
            if main is not None and store is not None and fn.arn in pinned:
                main = dataclasses.replace(
                    main,
                    trial=check(
                        store,
                        fn.arn,
                        now=now,
                        requests=mapper,
                        record=False,
                        current=pinned_documents(main, assumed),
                    ),
                )
            functions.append(
                dataclasses.replace(
                    fn,
                    proposal=main,
                    assumed_roles=assumed,
                    role_arn=inputs.role_arn or fn.role_arn,
                )
            )
        missing = len([f for f in findings.functions if f.arn not in by_arn])
        warnings = list(findings.warnings)
        if missing:
            warnings.append(
                f"{missing} function(s) have evidence but their grants were not read: no proposal"
            )
        return dataclasses.replace(findings, functions=tuple(functions), warnings=tuple(warnings))

    return step
