"""The findings as one JSON document: what ``--format json`` prints and what the report draws.

Data, then JSON, then page: the HTML report embeds this document and its
script draws every view from it, so the live view can later fetch the same
document from the collector's JSON API and draw the same pages. Every JSON
output of the views comes from here, so a number shown on the page and the
same number printed by ``lambdaguard functions --format json`` cannot differ.

Schema ``lambdaguard.findings/2`` (times are ISO 8601 UTC with a ``Z``; a
part that was not analysed is ``null``, never an empty object). Version 2
adds, and changes nothing of version 1: the top-level ``inventory`` (when the
verdicts' inventory was read, its age) and, in each
judgement, ``plan``, ``attack_surface``, ``schedules``, ``as_of`` and
``window_days``; functions only the inventory knows appear with
``evidence: null``::

    {"schema", "lambdaguard_version", "generated_at", "source", "partial", "warnings",
     "window": {"start": time | null, "end": time},
     "inventory": {"read_at", "oldest_read_at", "age_days", "source", "window_days",
                   "functions", "partial", "listed_only"} | null,
     "summary": {"functions", "by_verdict": {verdict | "unjudged": n}, "invocations",
                 "errors", "timeouts", "cold_starts", "calls", "actions_used",
                 "services_used": {service: distinct actions used}, "third_party_hosts",
                 "plaintext_hosts", "granted_actions": n | null, "unused_actions": n | null},
     "functions": [function, …]}                        riskiest first

    function = row + {"role_arn", "runtime", "tags": {k: v}, "evidence", "proposal",
                      "assumed_roles": [proposal, …], "judgement"}
    evidence.calls[] = {"service", "operation", "count", "failed", "first_seen", "last_seen",
                        "requests": [{"action", "resource", "confidence", "explanation"}, …],
                        "calls": [{…, "requests": [index into the group's requests, …]}]}
    proposal = {"role_arn", "principal", "grant_read", "documents": [JSON text], "policies",
                "statements", "replaces", "boundary", "confidence", "used", "unused",
                "unused_total", "access", "diff", "terraform", "cloudformation", "unused_risky",
                "unused_risky_total", "admin_equivalent", "escalation_paths_now",
                "escalation_paths_after", "paths_now", "paths_after", "proved", "proof",
                "notes", "trial"}                        (README: "Right-sized policies")
    judgement = {"verdict", "reasons", "confidence", "flags": [{"name", "reason", "subject"}],
                 "last_invoked", "triggers": [{"kind", "source", "enabled", "source_exists",
                 "detail"}], "public_entry_points", "cleanup": [command], "plan": [{"step",
                 "command"}], "attack_surface": {"access_levels": {level: n} | null,
                 "admin_equivalent", "privilege_escalation", "public_entry_points", "note"},
                 "schedules": [{"source", "expression", "last_due", "next_due", …}],
                 "as_of", "window_days"}                 (README: "Dead functions")
    row      = {"name", "arn", "account", "region", "verdict": v | null,
                "risk": {"score", "reasons"}, "invocations", "errors", "timeouts",
                "cold_starts", "first_seen", "last_seen", "calls", "operations",
                "hosts", "plaintext_hosts", "layer_version"}      (lambdaguard functions)
               hosts and plaintext_hosts count third-party hosts: AWS endpoints apart
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Final

from lambdaguard import __version__
from lambdaguard.analysis.findings import (
    CallGroup,
    Citation,
    Confidence,
    EscalationPath,
    Evidence,
    Findings,
    FunctionFindings,
    IamRequest,
    Judgement,
    PolicyProposal,
    ProposedStatement,
    Trial,
)
from lambdaguard.evidence import HostSeen

__all__ = [
    "SCHEMA",
    "citation_document",
    "confidence_document",
    "document",
    "function_document",
    "function_row",
    "iso",
    "proposal_document",
    "trial_document",
]

SCHEMA: Final = "lambdaguard.findings/2"


def iso(moment: datetime | date | None) -> str | None:
    """ISO 8601 in UTC, with ``Z`` for datetimes (what every JSON output uses)."""
    if moment is None:
        return None
    return _iso(moment)


# A fleet's records share few distinct instants (a call's first and last seen are
# its invocations'), and a large report formats each of them many times.
@lru_cache(maxsize=1 << 16)
def _iso(moment: datetime | date) -> str:
    if isinstance(moment, datetime):
        return moment.isoformat().replace("+00:00", "Z")
    return moment.isoformat()


def _request(r: IamRequest) -> dict[str, str]:
    return {
        "action": r.action,
        "resource": r.resource,
        "confidence": r.confidence,
        "explanation": r.explanation,
    }


def _call_group(g: CallGroup) -> dict[str, Any]:
    requests = g.requests
    # Each call names its requests by their index in the group's list: the
    # explanations are long and shared, and a large report repeats them otherwise.
    index = {(r.action, r.resource): i for i, r in enumerate(requests)}
    return {
        "service": g.service,
        "operation": g.operation,
        "count": g.count,
        "failed": g.failed,
        "first_seen": iso(g.first_seen),
        "last_seen": iso(g.last_seen),
        "requests": [_request(r) for r in requests],
        "calls": [
            {
                "region": m.call.region,
                "params": dict(m.call.params),
                "params_complete": m.call.params_complete,
                "phase": m.call.phase,
                "error_code": m.call.error_code or None,
                "response": dict(m.call.response),
                "presign": m.call.presign,
                "credentials": m.call.principal.kind or None,
                "role_arn": m.call.principal.role_arn or None,
                "via": m.call.via,
                "source": m.call.source,
                "count": m.call.count,
                "first_seen": iso(m.call.first_seen),
                "last_seen": iso(m.call.last_seen),
                "trace_id": m.call.trace_id or None,
                "span_id": m.call.span_id or None,
                "requests": sorted({index[r.action, r.resource] for r in m.requests}),
                "note": m.note,
            }
            for m in g.calls
        ],
    }


def _host(h: HostSeen) -> dict[str, Any]:
    return {
        "host": h.host,
        "port": h.port,
        "tls": h.tls,
        "aws": h.aws,
        "count": h.count,
        "failures": h.failures,
        "first_seen": iso(h.first_seen),
        "last_seen": iso(h.last_seen),
        # The HTTP proxy the connection went through; the host is the destination.
        "proxy": h.proxy or None,
    }


def _evidence(e: Evidence) -> dict[str, Any]:
    inv = e.invocations
    return {
        "first_seen": iso(e.first_seen),
        "last_seen": iso(e.last_seen),
        "last_invoked": iso(e.last_invoked),
        "layer_version": e.layer_version,
        "runtime": e.runtime or None,
        "versions": [
            {
                "version": v.version,
                "alias": v.alias or None,
                "count": v.count,
                "first_seen": iso(v.first_seen),
                "last_seen": iso(v.last_seen),
            }
            for v in e.versions
        ],
        "invocations": {
            "total": inv.total,
            "cold_starts": inv.cold_starts,
            "errors": inv.errors,
            "timeouts": inv.timeouts,
            "error_types": [
                {
                    "phase": t.phase,
                    "error_type": t.error_type,
                    "count": t.count,
                    "first_seen": iso(t.first_seen),
                    "last_seen": iso(t.last_seen),
                }
                for t in inv.error_types
            ],
            "days": [
                {
                    "day": iso(d.day),
                    "invocations": d.invocations,
                    "cold_starts": d.cold_starts,
                    "errors": d.errors,
                    "timeouts": d.timeouts,
                    "p50_ms": d.p50_ms,
                    "p95_ms": d.p95_ms,
                }
                for d in inv.days
            ],
        },
        "calls": [_call_group(g) for g in e.calls],
        "actions_used": sorted(e.actions_used),
        "hosts": [_host(h) for h in e.hosts],
        "triggers": [
            {
                "kind": t.kind,
                "source": t.source or None,
                "count": t.count,
                "first_seen": iso(t.first_seen),
                "last_seen": iso(t.last_seen),
            }
            for t in e.triggers
        ],
    }


def _confidence(c: Confidence) -> dict[str, Any]:
    return confidence_document(c)


def confidence_document(c: Confidence) -> dict[str, Any]:
    """A confidence level and its reasons, as JSON."""
    return {"level": c.level.value, "reasons": list(c.reasons)}


def _citation(c: Citation) -> dict[str, Any]:
    return citation_document(c)


def citation_document(c: Citation) -> dict[str, Any]:
    """A recorded call cited as evidence, as JSON."""
    return {
        "function": c.function or None,
        "service": c.service,
        "operation": c.operation,
        "resource": c.resource,
        "region": c.region or None,
        "count": c.count,
        "first_seen": iso(c.first_seen),
        "last_seen": iso(c.last_seen),
        "error_code": c.error_code or None,
        "trace_id": c.trace_id or None,
        "span_id": c.span_id or None,
    }


def _statement(st: ProposedStatement) -> dict[str, Any]:
    return {
        "sid": st.sid,
        "effect": st.effect,
        "actions": list(st.actions),
        "resources": list(st.resources),
        "not_resource": st.not_resource,
        "condition": json.loads(st.condition) if st.condition else None,
        "origin": st.origin,
        "reasons": list(st.reasons),
        "evidence": [_citation(c) for c in st.evidence],
    }


def _path(x: EscalationPath) -> dict[str, Any]:
    return {
        "id": x.id,
        "kind": x.kind,
        "title": x.title,
        "description": x.description,
        "scope": x.scope,
        "conditional": x.conditional,
    }


def _trial(t: Trial) -> dict[str, Any]:
    return trial_document(t)


def trial_document(t: Trial) -> dict[str, Any]:
    """A trial as JSON: days pinned, calls checked, would-be denials with their calls."""
    return {
        "pinned_at": iso(t.pinned_at),
        "trial_days": t.trial_days,
        "days_pinned": round(t.days_pinned, 2),
        "calls_checked": t.calls_checked,
        "would_be_denials": [
            {
                "action": d.action,
                "resource": d.resource,
                "first_detected": iso(d.first_detected),
                "call": _citation(d.citation),
            }
            for d in t.denials
        ],
        "ready": t.ready,
        "current": t.current,
        "status": t.status,
    }


def _proposal(p: PolicyProposal, function: str = "") -> dict[str, Any]:
    return proposal_document(p, function)


def proposal_document(p: PolicyProposal, function: str = "") -> dict[str, Any]:
    """One proposal as JSON: documents, statements with their evidence, comparison, proof, trial."""
    from lambdaguard.views.policy_formats import cloudformation, terraform

    return {
        "role_arn": p.role_arn,
        "principal": p.principal,
        "grant_read": p.grant_read,
        "documents": list(p.documents),
        "policies": list(p.policies),
        "statements": [_statement(st) for st in p.statements],
        "replaces": list(p.replaces),
        "boundary": p.boundary,
        "confidence": _confidence(p.confidence),
        "used": [
            {
                "action": u.action,
                "resource": u.resource,
                "status": u.status,
                "reason": u.reason,
                "confidence": u.confidence,
                "explanation": u.explanation,
                "granted_as": list(u.granted_as),
                "evidence": [_citation(c) for c in u.evidence],
            }
            for u in p.used
        ],
        "unused": [
            {
                "action": u.action,
                "resources": list(u.resources),
                "access_level": u.access_level or None,
                "risks": list(u.risks),
                "last_used": iso(u.last_used),
                "since": u.since,
            }
            for u in p.unused
        ],
        "unused_total": p.unused_total,
        "access": [
            {
                "service": a.service,
                "access_level": a.access_level,
                "granted": a.granted,
                "used": a.used,
            }
            for a in p.access
        ],
        "diff": [
            {"change": d.change, "text": d.text, "note": d.note, "service": d.service}
            for d in p.diff
        ],
        "terraform": terraform(p, function) if p.documents else None,
        "cloudformation": cloudformation(p, function) if p.documents else None,
        "unused_risky": list(p.unused_risky),
        "unused_risky_total": p.unused_risky_total,
        "admin_equivalent": p.admin_equivalent,
        "escalation_paths_now": p.escalation_paths_now,
        "escalation_paths_after": p.escalation_paths_after,
        "paths_now": [_path(x) for x in p.paths_now],
        "paths_after": [_path(x) for x in p.paths_after],
        "proved": p.proved,
        "proof": [
            {"check": c.name, "passed": c.passed, "detail": c.detail, "failures": list(c.failures)}
            for c in p.proof
        ],
        "notes": list(p.notes),
        "trial": _trial(p.trial) if p.trial else None,
    }


def _judgement(j: Judgement) -> dict[str, Any]:
    return {
        "verdict": j.verdict.value,
        "reasons": list(j.reasons),
        "confidence": _confidence(j.confidence),
        "flags": [{"name": f.name, "reason": f.reason, "subject": f.subject} for f in j.flags],
        "last_invoked": iso(j.last_invoked),
        "triggers": [
            {
                "kind": t.kind,
                "source": t.source,
                "enabled": t.enabled,
                "source_exists": t.source_exists,
                "detail": t.detail,
            }
            for t in j.triggers
        ],
        "public_entry_points": list(j.public_entry_points),
        "cleanup": list(j.cleanup),
        "plan": [{"step": p.description, "command": p.command} for p in j.plan],
        "attack_surface": {
            "access_levels": dict(j.surface.access) if j.surface.access is not None else None,
            "admin_equivalent": j.surface.admin_equivalent,
            "privilege_escalation": list(j.surface.escalation),
            "public_entry_points": list(j.public_entry_points),
            "note": j.surface.note or None,
        },
        "schedules": [dict(sc) for sc in j.schedules],
        "as_of": iso(j.as_of),
        "window_days": j.window_days,
    }


def function_row(fn: FunctionFindings) -> dict[str, Any]:
    """The one-line summary of a function (``lambdaguard functions``, the report's overview)."""
    e = fn.evidence
    third = e.third_party_hosts if e else ()
    return {
        "name": fn.name,
        "arn": fn.arn,
        "account": fn.account,
        "region": fn.region,
        "verdict": fn.verdict.value if fn.verdict else None,
        "risk": {"score": fn.risk.score, "reasons": list(fn.risk.reasons)},
        "invocations": e.invocations.total if e else None,
        "errors": e.invocations.errors if e else None,
        "timeouts": e.invocations.timeouts if e else None,
        "cold_starts": e.invocations.cold_starts if e else None,
        "first_seen": iso(e.first_seen) if e else None,
        "last_seen": iso(e.last_seen) if e else None,
        "calls": e.calls_count if e else None,
        "operations": len(e.calls) if e else None,
        "hosts": len({h.host for h in third}) if e else None,
        "plaintext_hosts": len({h.host for h in third if not h.tls}) if e else None,
        "layer_version": (e.layer_version or None) if e else None,
    }


def function_document(fn: FunctionFindings) -> dict[str, Any]:
    """Everything about one function (``lambdaguard show --format json``, a report section)."""
    return {
        **function_row(fn),
        "role_arn": fn.role_arn,
        "runtime": fn.runtime,
        "tags": dict(fn.tags),
        "evidence": _evidence(fn.evidence) if fn.evidence else None,
        "proposal": _proposal(fn.proposal, fn.name) if fn.proposal else None,
        "assumed_roles": [_proposal(p, fn.name) for p in fn.assumed_roles],
        "judgement": _judgement(fn.judgement) if fn.judgement else None,
    }


def _summary(findings: Findings) -> dict[str, Any]:
    fns = findings.functions
    evidence = [f.evidence for f in fns if f.evidence is not None]
    verdicts = Counter(f.verdict.value if f.verdict else "unjudged" for f in fns)
    actions = {a for e in evidence for a in e.actions_used}
    by_service = Counter(a.split(":", 1)[0] for a in actions)
    third = {(h.host, h.tls) for e in evidence for h in e.third_party_hosts}
    proposals = [f.proposal for f in fns if f.proposal is not None]
    granted = sum(a.granted for p in proposals for a in p.access) if proposals else None
    used = sum(a.used for p in proposals for a in p.access) if proposals else None
    return {
        "functions": len(fns),
        "by_verdict": dict(sorted(verdicts.items())),
        "invocations": sum(e.invocations.total for e in evidence),
        "errors": sum(e.invocations.errors for e in evidence),
        "timeouts": sum(e.invocations.timeouts for e in evidence),
        "cold_starts": sum(e.invocations.cold_starts for e in evidence),
        "calls": sum(e.calls_count for e in evidence),
        "actions_used": len(actions),
        "services_used": dict(sorted(by_service.items())),
        "third_party_hosts": len({h for h, _ in third}),
        "plaintext_hosts": len({h for h, tls in third if not tls}),
        "granted_actions": granted,
        "unused_actions": None if granted is None or used is None else granted - used,
    }


def inventory_document(findings: Findings) -> dict[str, Any] | None:
    """When the verdicts' inventory was read, and how old it is at ``generated_at``; None without one."""
    inv = findings.inventory
    if inv is None:
        return None
    age = (findings.generated_at - inv.read_at).total_seconds() / 86400 if inv.read_at else None
    return {
        "read_at": iso(inv.read_at),
        "oldest_read_at": iso(inv.oldest),
        "age_days": None if age is None else round(max(0.0, age), 1),
        "source": inv.source or None,
        "window_days": inv.window.days if inv.window is not None else None,
        "functions": inv.functions,
        "partial": inv.partial,
        "listed_only": inv.listed_only,
    }


def document(findings: Findings) -> dict[str, Any]:
    """The whole findings document (``lambdaguard report --format json``; the report's data)."""
    return {
        "schema": SCHEMA,
        "lambdaguard_version": __version__,
        "generated_at": iso(findings.generated_at),
        "source": findings.source,
        "partial": findings.partial,
        "warnings": list(findings.warnings),
        "window": {"start": iso(findings.window_start), "end": iso(findings.window_end)},
        "inventory": inventory_document(findings),
        "summary": _summary(findings),
        "functions": [function_document(fn) for fn in findings.functions],
    }
