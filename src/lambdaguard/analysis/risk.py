"""How urgently a function deserves a look: a score and the reasons that add up to it.

The score adds fixed weights for what makes a function dangerous to leave as
it is, read from whichever parts of its findings are present: what its role
could still do (admin-equivalent, unused write and permissions-management
actions, privilege-escalation paths: from the proposal), how it can be
reached and what it talks to (public URL without auth, orphaned triggers,
plaintext egress: from the judgement's flags and the evidence), and whether
anybody still uses or owns it. The weights order functions; they are not a
probability. Every point has a reason a person can check.
"""

from __future__ import annotations

from typing import Final

from lambdaguard.analysis.findings import FunctionFindings, Risk, Verdict

__all__ = ["WEIGHTS", "assess"]

# flag or signal -> (points, why it matters). Flag names are the inventory's.
WEIGHTS: Final[dict[str, tuple[int, str]]] = {
    "admin-equivalent": (50, "its role is admin-equivalent"),
    "public-url-no-auth": (40, "anyone on the internet can invoke its function URL (auth NONE)"),
    "escalation": (20, "its role allows privilege escalation"),
    "plaintext-egress": (20, "it sends traffic to third parties in plaintext"),
    "orphaned-trigger": (15, "a trigger or permission points at a source that no longer exists"),
    "dead": (15, "nobody invoked it in the window, yet its role keeps its permissions"),
    "broken": (10, "every recent invocation failed the same way"),
    "deprecated-runtime": (10, "it runs on a deprecated runtime"),
    "owner-gone": (10, "its owner tag names a person or team that is gone"),
    "idle": (5, "it was not invoked in the window"),
    "no-owner-tag": (3, "no owner tag says who can vouch for it"),
}
# Per unused Write/Permissions-management action, capped.
_UNUSED_RISKY_POINTS: Final = 3
_UNUSED_RISKY_CAP: Final = 30


def assess(fn: FunctionFindings) -> Risk:
    """The function's risk, from its proposal, judgement and evidence, whichever are present."""
    hits: dict[str, str] = {}

    def hit(name: str, detail: str = "") -> None:
        why = WEIGHTS[name][1]
        hits.setdefault(name, f"{why} ({detail})" if detail else why)

    score = 0
    reasons: list[str] = []
    proposal = fn.proposal
    if proposal is not None:
        if proposal.admin_equivalent:
            hit("admin-equivalent")
        if proposal.escalation_paths_now:
            hit("escalation", f"{proposal.escalation_paths_now} path(s)")
        if proposal.unused_risky:
            n = max(proposal.unused_risky_total, len(proposal.unused_risky))
            points = min(_UNUSED_RISKY_CAP, _UNUSED_RISKY_POINTS * n)
            score += points
            reasons.append(
                f"{n} unused write or permissions-management action(s) are granted, e.g. "
                + ", ".join(proposal.unused_risky[:3])
            )
    judgement = fn.judgement
    if judgement is not None:
        for flag in judgement.flags:
            if flag.name in WEIGHTS:
                hit(flag.name, flag.subject)
        if judgement.verdict is Verdict.DEAD:
            hit("dead")
        elif judgement.verdict is Verdict.IDLE:
            hit("idle")
    if fn.evidence is not None:
        plain = sorted(
            {h.host for h in fn.evidence.third_party_hosts if not h.tls and h.count > h.failures}
        )
        if plain:
            hit("plaintext-egress", ", ".join(plain[:3]))
    for name, why in hits.items():
        score += WEIGHTS[name][0]
        reasons.append(why)
    return Risk(score, tuple(reasons))
