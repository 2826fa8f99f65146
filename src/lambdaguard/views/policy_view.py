"""Terminal views of policy proposals: ``lambdaguard policy`` and ``lambdaguard findings``.

Drawn with ``rich`` from the findings model only. On a terminal the diff is
coloured (removed red, added green); in a pipe it is the same text without
colour, so ``grep '^-'`` finds what goes. Every view of a proposal says its
confidence first, and a low one in capitals.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from rich.console import Console
from rich.text import Text

from lambdaguard.analysis.findings import (
    Citation,
    Findings,
    FunctionFindings,
    PolicyProposal,
    Trial,
)
from lambdaguard.views.policy_formats import header_lines
from lambdaguard.views.terminal import plain, safe_text, since, table

__all__ = ["render_findings", "render_policy", "render_trial"]

# Statements whose cited calls are listed one by one; the JSON has them all.
_CITED: Final = 3
_DIFF_STYLE: Final = {"removed": "red", "added": "green", "kept": ""}
_DIFF_SIGN: Final = {"removed": "-", "added": "+", "kept": " "}


def _heading(console: Console, text: str) -> None:
    console.print()
    console.print(Text(text, style="bold"))


def _cite(c: Citation) -> str:
    when = (
        f"{c.first_seen:%Y-%m-%d} … {c.last_seen:%Y-%m-%d}" if c.first_seen and c.last_seen else ""
    )
    trace = f" trace {c.trace_id} span {c.span_id}" if c.trace_id else ""
    fn = f"{c.function}: " if c.function else ""
    error = f" ({c.error_code})" if c.error_code else ""
    return f"{fn}{c.service}:{c.operation}{error} x{c.count:,} {when}{trace}"


def render_trial(trial: Trial | None, console: Console) -> None:
    """A trial's state: days pinned, calls checked, would-be denials and the verdict."""
    if trial is None:
        console.print(
            Text("no proposal is pinned: `lambdaguard policy FUNCTION --pin` starts a trial")
        )
        return
    style = "green" if trial.ready else ("red" if trial.denials else "yellow")
    console.print(safe_text(trial.status, style))
    for d in trial.denials:
        console.print(
            safe_text(
                f"  would deny {d.action} on {d.resource} (found {d.first_detected:%Y-%m-%d %H:%M}): "
                + _cite(d.citation),
                "red",
            )
        )


def _proposal(fn: FunctionFindings, p: PolicyProposal, console: Console, now: datetime) -> None:
    level = p.confidence.level.value
    for i, line in enumerate(header_lines(p, fn.name)):
        style = "bold" if i == 0 else ""
        if line.startswith(("LOW CONFIDENCE", "PROOF FAILED")):
            style = "bold red"
        elif line.startswith("confidence:"):
            style = {"low": "red", "medium": "yellow", "high": "green"}.get(level, "")
        console.print(safe_text(line, style))
    if not p.grant_read:
        for note in p.notes:
            console.print(safe_text(note, "yellow"))
    else:
        _heading(console, "Today's policy against the proposal")
        service = None
        for d in p.diff:
            if d.service != service:
                service = d.service
                console.print(safe_text(f"{service}:", "bold"))
            row = Text()
            row.append_text(safe_text(f"{_DIFF_SIGN[d.change]} {d.text}", _DIFF_STYLE[d.change]))
            if d.note:
                row.append_text(safe_text(f"    # {d.note}", "dim"))
            console.print(row)

        _heading(console, "Why each statement stays")
        for st in p.statements:
            console.print(
                safe_text(
                    f"{st.sid} ({st.origin}): {st.effect} {', '.join(st.actions)} on "
                    f"{', '.join(st.resources)}" + (f" if {st.condition}" if st.condition else ""),
                    "bold",
                )
            )
            for reason in st.reasons:
                console.print(safe_text(f"  - {reason}"))
            for cited in st.evidence[:_CITED]:
                console.print(safe_text(f"  - {_cite(cited)}", "dim"))
            if len(st.evidence) > _CITED:
                console.print(
                    safe_text(
                        f"  - and {len(st.evidence) - _CITED} more call(s): see --format json",
                        "dim",
                    )
                )
        if p.policies:
            _heading(console, "Proposed policy documents")
            for text in p.documents:
                console.print(safe_text(text))

    denied = p.denied
    if denied:
        _heading(console, f"Needed but not granted: {len(denied)}")
        for gap in denied:
            console.print(safe_text(f"{gap.status}: {gap.action} on {gap.resource}", "yellow"))
            console.print(safe_text(f"  {gap.reason}"))
    if p.unused_total:
        _heading(
            console,
            f"Granted, never used: {p.unused_total:,} action(s)"
            + (
                f" (the {len(p.unused)} riskiest below; --format json lists them)"
                if p.unused_total > len(p.unused)
                else ""
            ),
        )
        rows = table(console, "ACTION", "LEVEL", "RISKS", "WHERE GRANTED", "LAST USE")
        for u in p.unused[:25]:
            rows.add_row(
                safe_text(u.action),
                safe_text(u.access_level or "-"),
                safe_text(", ".join(u.risks) or "-", "red" if u.risks else ""),
                safe_text(", ".join(u.resources[:2]) + (" …" if len(u.resources) > 2 else "")),
                safe_text(u.since),
            )
        plain(console, rows)
    _heading(
        console,
        f"Privilege-escalation and exfiltration paths: {p.escalation_paths_now} today, "
        f"{p.escalation_paths_after} under the proposal",
    )
    for path in p.paths_now:
        console.print(
            safe_text(f"  today: {path.description}", "red" if path.scope == "all" else "")
        )
    for path in p.paths_after:
        style = "red" if path.scope == "all" else "dim"
        console.print(safe_text(f"  proposal: {path.description}", style))
    if p.admin_equivalent:
        console.print(safe_text("today's grant is admin-equivalent", "bold red"))
    _heading(console, "Proof")
    for c in p.proof:
        mark = "ok  " if c.passed else "FAIL"
        console.print(
            safe_text(f"{mark} {c.name}: {c.detail}", "green" if c.passed else "bold red")
        )
        for f in c.failures:
            console.print(safe_text(f"       {f}", "red"))
    if p.notes and p.grant_read:
        _heading(console, "Notes")
        for note in p.notes:
            console.print(safe_text(f"  - {note}"))
    _heading(console, "Trial")
    render_trial(p.trial, console)


def render_policy(fn: FunctionFindings, console: Console, *, now: datetime) -> None:
    """Everything about a function's proposal(s): header, diff, evidence, gaps, paths, proof, trial."""
    if fn.proposal is None:
        console.print(safe_text(f"{fn.name}: no proposal (its grants were not read)", "yellow"))
    else:
        _proposal(fn, fn.proposal, console, now)
    for p in fn.assumed_roles:
        console.print()
        console.print(safe_text(f"=== role {p.role_arn}, assumed by {fn.name} ===", "bold"))
        _proposal(fn, p, console, now)


def _paths(p: PolicyProposal | None) -> str:
    if p is None:
        return "-"
    return f"{p.escalation_paths_now} -> {p.escalation_paths_after}"


def render_findings(findings: Findings, console: Console, *, now: datetime) -> None:
    """One line per function, riskiest first: risk, role, confidence, use, paths, proof, trial."""
    fns: Sequence[FunctionFindings] = findings.functions
    if not fns:
        console.print("no functions in the store yet: point a function's layer at the collector")
        return
    rows = table(
        console,
        "FUNCTION",
        "RISK",
        "VERDICT",
        "CONFIDENCE",
        "GRANTED",
        "USED",
        "UNUSED RISKY",
        "PATHS NOW -> AFTER",
        "PROOF",
        "TRIAL",
        "LAST SEEN",
        right=("RISK", "GRANTED", "USED", "UNUSED RISKY"),
    )
    for fn in fns:
        p = fn.proposal
        granted = sum(a.granted for a in p.access) if p else None
        used = sum(a.used for a in p.access) if p else None
        proof = "-" if p is None or p.proved is None else ("ok" if p.proved else "FAILED")
        trial = "-"
        if p is not None and p.trial is not None:
            trial = "ready" if p.trial.ready else f"{len(p.trial.denials)} denial(s)"
        rows.add_row(
            safe_text(fn.name),
            safe_text(str(fn.risk.score), "red" if fn.risk.score >= 50 else ""),
            safe_text(
                fn.verdict.value if fn.verdict else "unjudged",
                "bold red" if fn.verdict and fn.verdict.value == "dead" else "",
            ),
            safe_text(p.confidence.level.value if p else "-"),
            safe_text("-" if granted is None else f"{granted:,}"),
            safe_text("-" if used is None else f"{used:,}"),
            safe_text(f"{p.unused_risky_total:,}" if p else "-"),
            safe_text(_paths(p)),
            safe_text(proof, "red" if proof == "FAILED" else ""),
            safe_text(trial),
            safe_text(since(fn.evidence.last_seen if fn.evidence else None, now)),
        )
    plain(console, rows)
    from lambdaguard.views.terminal import inventory_age

    console.print(safe_text(inventory_age(findings, now), "dim"))
    dead = [
        fn for fn in fns if fn.judgement is not None and fn.verdict and fn.verdict.value == "dead"
    ]
    for fn in dead:
        j = fn.judgement
        assert j is not None
        reason = j.reasons[1] if len(j.reasons) > 1 else (j.reasons[0] if j.reasons else "")
        console.print(
            safe_text(
                f"dead: {fn.name}: {reason}; {len(j.plan)}-step clean-up plan: "
                f"lambdaguard show {fn.arn}"
            )
        )
    for warning in findings.warnings:
        console.print(safe_text(f"note: {warning}", "dim"))
