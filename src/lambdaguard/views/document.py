"""The findings as one JSON document: what ``--format json`` prints and what the report draws.

Data, then JSON, then page: the HTML report embeds this document and its
script draws every view from it, so the live view can later fetch the same
document from the collector's JSON API and draw the same pages. Every JSON
output of the views comes from here, so a number shown on the page and the
same number printed by ``lambdaguard functions --format json`` cannot differ.

Schema ``lambdaguard.findings/1`` (times are ISO 8601 UTC with a ``Z``; a
part that was not analysed is ``null``, never an empty object)::

    {"schema", "lambdaguard_version", "generated_at", "source", "partial", "warnings",
     "window": {"start": time | null, "end": time},
     "summary": {"functions", "by_verdict": {verdict | "unjudged": n}, "invocations",
                 "errors", "timeouts", "cold_starts", "calls", "actions_used",
                 "services_used": {service: distinct actions used}, "third_party_hosts",
                 "plaintext_hosts", "granted_actions": n | null, "unused_actions": n | null},
     "functions": [function, …]}                        riskiest first

    function = row + {"role_arn", "runtime", "tags": {k: v}, "evidence", "proposal", "judgement"}
    evidence.calls[] = {"service", "operation", "count", "failed", "first_seen", "last_seen",
                        "requests": [{"action", "resource", "confidence", "explanation"}, …],
                        "calls": [{…, "requests": [index into the group's requests, …]}]}
    row      = {"name", "arn", "account", "region", "verdict": v | null,
                "risk": {"score", "reasons"}, "invocations", "errors", "timeouts",
                "cold_starts", "first_seen", "last_seen", "calls", "operations",
                "hosts", "plaintext_hosts", "layer_version"}      (lambdaguard functions)
               hosts and plaintext_hosts count third-party hosts: AWS endpoints apart
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Final

from lambdaguard import __version__
from lambdaguard.analysis.findings import (
    CallGroup,
    Confidence,
    Evidence,
    Findings,
    FunctionFindings,
    IamRequest,
    Judgement,
    PolicyProposal,
)
from lambdaguard.evidence import HostSeen

__all__ = ["SCHEMA", "document", "function_document", "function_row", "iso"]

SCHEMA: Final = "lambdaguard.findings/1"


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
        # The proxy a connection went through, once the store keeps it.
        "proxy": getattr(h, "proxy", None) or None,
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
    return {"level": c.level.value, "reasons": list(c.reasons)}


def _proposal(p: PolicyProposal) -> dict[str, Any]:
    return {
        "role_arn": p.role_arn,
        "documents": list(p.documents),
        "confidence": _confidence(p.confidence),
        "access": [
            {
                "service": a.service,
                "access_level": a.access_level,
                "granted": a.granted,
                "used": a.used,
            }
            for a in p.access
        ],
        "diff": [{"change": d.change, "text": d.text} for d in p.diff],
        "terraform": p.terraform,
        "cloudformation": p.cloudformation,
        "unused_risky": list(p.unused_risky),
        "admin_equivalent": p.admin_equivalent,
        "escalation_paths_now": p.escalation_paths_now,
        "escalation_paths_after": p.escalation_paths_after,
        "proved": p.proved,
        "proof": list(p.proof),
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
        "proposal": _proposal(fn.proposal) if fn.proposal else None,
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
        "summary": _summary(findings),
        "functions": [function_document(fn) for fn in findings.functions],
    }
