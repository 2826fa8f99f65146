"""The shadow run: a proposal tried on live traffic before anyone applies it.

::

    lambdaguard policy orders-api --pin       # pin today's proposal: the trial starts
    lambdaguard policy orders-api --status    # days pinned, calls checked, would-be denials

:func:`pin` keeps the proposal's documents (the execution role's and those of
the roles the function assumed) in the store, with each recorded call's count
at that moment. :func:`check` then takes every call recorded since (a call's
count now minus its count at the pin: exactly the calls that happened after),
maps it to its IAM requests and evaluates them against the pinned documents;
a request they would deny is a *would-be denial*, kept with the call (service,
operation, parameters, one trace and span id) and when the check first found
it. A call that itself failed with an access-denied error is not one: it is
refused today already.

Why at read time, in analysis, rather than in the collector as calls arrive:
the collector keeps evidence and does not judge (the IAM mapping and the
evaluator live on this side, and a better mapping re-judges old calls), and
the store already holds exactly what a check needs, the distinct calls with
their counts and first/last seen. The baseline makes the count of calls since
the pin exact; what is lost is only when within the trial each one happened,
which the check records as "first found" when it runs (``--status``, the
report, the findings).

A proposal is **ready to apply** only after its trial period (14 days by
default) with zero would-be denials. When the proposal changes (new calls were
recorded, grants changed), the pinned one is reported as no longer current.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from lambdaguard.analysis.findings import Citation, PolicyProposal, Trial, WouldBeDenial
from lambdaguard.analysis.proof import proposal_policies
from lambdaguard.errors import LambdaguardError
from lambdaguard.iam import Grant

if TYPE_CHECKING:
    from lambdaguard.analysis.evidence import IamRequests
    from lambdaguard.collector.store import Store, TrialDenial, TrialRecord

__all__ = ["TRIAL_DAYS", "NotProved", "check", "digest", "pin", "pinned_documents"]

TRIAL_DAYS: Final = 14


class NotProved(LambdaguardError):
    """A proposal whose proof failed (or that has nothing to propose) cannot be put on trial."""


def pinned_documents(
    execution: PolicyProposal | None, assumed: Sequence[PolicyProposal] = ()
) -> dict[str, Any]:
    """What a pin keeps: the execution role's documents and those of every assumed role."""
    return {
        "execution-role": (
            {"arn": execution.role_arn, "documents": list(execution.documents)}
            if execution is not None
            else None
        ),
        "assumed-roles": {
            p.role_arn: list(p.documents)
            for p in sorted(assumed, key=lambda p: p.role_arn)
            if p.documents
        },
    }


def digest(documents: Mapping[str, Any]) -> str:
    """A stable fingerprint of pinned documents (to tell whether the proposal changed)."""
    text = json.dumps(documents, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def pin(
    store: Store,
    function_arn: str,
    execution: PolicyProposal | None,
    assumed: Sequence[PolicyProposal] = (),
    *,
    now: datetime,
    trial_days: int = TRIAL_DAYS,
) -> TrialRecord:
    """Put the function's proposal under trial; raises NotProved when it may not be."""
    if execution is None or not execution.documents:
        raise NotProved(
            f"{function_arn}: there is no proposal for its execution role to try "
            "(its grants were not read, or nothing was recorded)"
        )
    failed = [p for p in (execution, *assumed) if p.proved is False]
    if failed:
        checks = "; ".join(
            f"{p.role_arn}: " + ", ".join(c.name for c in p.proof if not c.passed) for p in failed
        )
        raise NotProved(f"{function_arn}: the proof failed ({checks}); nothing was pinned")
    if trial_days < 1:
        raise NotProved(f"trial days {trial_days}: a trial lasts at least 1 day")
    documents = pinned_documents(execution, assumed)
    return store.pin_trial(
        function_arn,
        documents=json.dumps(documents, sort_keys=True, ensure_ascii=False),
        digest=digest(documents),
        trial_days=trial_days,
        now=now,
    )


def _grants(documents: Mapping[str, Any]) -> tuple[Grant | None, dict[str, Grant]]:
    execution = documents.get("execution-role")
    main = None
    if isinstance(execution, Mapping):
        main = Grant(proposal_policies(tuple(execution["documents"]), str(execution["arn"])))
    assumed = {
        arn: Grant(proposal_policies(tuple(texts), arn))
        for arn, texts in (documents.get("assumed-roles") or {}).items()
    }
    return main, assumed


def check(
    store: Store,
    function_arn: str,
    *,
    now: datetime,
    requests: IamRequests,
    record: bool,
    current: Mapping[str, Any] | None = None,
) -> Trial | None:
    """The function's trial as of ``now``, or None when nothing is pinned.

    ``record`` keeps newly found would-be denials in the store (``policy
    --status``); without it the check only reads (the views). ``current`` is
    what :func:`pinned_documents` gives for today's proposal, to say whether
    the pinned one is still current.
    """
    from lambdaguard.collector.store import TrialDenial

    found = store.trials(function_arn)
    if not found:
        return None
    trial = found[0]
    documents = json.loads(trial.documents)
    main, assumed = _grants(documents)
    checked = 0
    fresh: list[TrialDenial] = []
    for tc in store.trial_calls(function_arn):
        call = tc.call
        if call.principal.is_execution_role:
            grant, role = main, (documents.get("execution-role") or {}).get("arn", "")
        else:
            role = call.principal.role_arn
            grant = assumed.get(role)
        if grant is None:
            continue  # static credentials, or a role whose proposal was not pinned
        checked += tc.since_pin
        if call.denied:
            continue  # refused today already: not the proposal's doing
        mapped, _note = requests(call)
        for r in mapped:
            if grant.evaluate(r.action, r.resource).allowed:
                continue
            fresh.append(
                TrialDenial(
                    function_arn=function_arn,
                    key=tc.key,
                    action=r.action,
                    resource=r.resource,
                    role_arn=str(role),
                    service=call.service,
                    operation=call.operation,
                    region=call.region,
                    params=json.dumps(dict(call.params), sort_keys=True, default=str),
                    count=tc.since_pin,
                    trace_id=call.trace_id,
                    span_id=call.span_id,
                    first_detected=now,
                )
            )
    if record:
        store.record_trial_denials(fresh)
        kept = store.trial_denials(function_arn)
    else:
        kept = store.trial_denials(function_arn)
        known = {(d.key, d.action, d.resource) for d in kept}
        kept += [d for d in fresh if (d.key, d.action, d.resource) not in known]
    denials = tuple(_denial(d) for d in kept)
    days = max(0.0, (now - trial.pinned_at).total_seconds() / 86_400)
    is_current = current is None or digest(current) == trial.digest
    ready = days >= trial.trial_days and not denials and is_current
    return Trial(
        pinned_at=trial.pinned_at,
        trial_days=trial.trial_days,
        days_pinned=days,
        calls_checked=checked,
        denials=denials,
        ready=ready,
        current=is_current,
        status=_status(days, trial.trial_days, checked, len(denials), is_current),
    )


def _denial(d: TrialDenial) -> WouldBeDenial:
    return WouldBeDenial(
        action=d.action,
        resource=d.resource,
        citation=Citation(
            service=d.service,
            operation=d.operation,
            resource=d.resource,
            count=d.count,
            first_seen=None,
            last_seen=None,
            trace_id=d.trace_id,
            span_id=d.span_id,
            region=d.region,
            function=d.function_arn.rsplit(":", 1)[-1],
        ),
        first_detected=d.first_detected,
    )


def _status(days: float, trial_days: int, checked: int, denials: int, current: bool) -> str:
    head = (
        f"pinned {days:.1f} day(s) ago; {checked:,} call(s) checked; {denials} would-be denial(s)"
    )
    if denials:
        return (
            f"{head}: not ready. The pinned proposal would have refused calls the function "
            "made; make a new proposal (it includes them) and pin it again"
        )
    if not current:
        return (
            f"{head}; the proposal has changed since it was pinned (new calls or grants): "
            "pin the new one to try it"
        )
    if days >= trial_days:
        return f"{head}: READY TO APPLY after {trial_days} day(s) without a would-be denial"
    return f"{head}; ready to apply after {trial_days} day(s) without one ({trial_days - days:.1f} to go)"
