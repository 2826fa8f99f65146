"""Risk: every point has a reason, read from whichever parts of the findings exist."""

from __future__ import annotations

from datetime import UTC, datetime

from lambdaguard.analysis.findings import (
    Confidence,
    Findings,
    Flag,
    FunctionFindings,
    Judgement,
    Level,
    PolicyProposal,
    Verdict,
)
from lambdaguard.analysis.fleet import rank
from lambdaguard.analysis.risk import WEIGHTS, assess

NOW = datetime(2026, 11, 29, tzinfo=UTC)
SURE = Confidence(Level.HIGH, ("90 days observed",))


def _fn(name: str, **parts: object) -> FunctionFindings:
    return FunctionFindings(
        f"arn:aws:lambda:eu-west-1:111122223333:function:{name}",
        name,
        "111122223333",
        "eu-west-1",
        None,
        **parts,  # type: ignore[arg-type]
    )


def test_nothing_known_is_no_risk() -> None:
    """A function with no evidence, proposal or judgement scores 0 with no reasons."""
    assert assess(_fn("quiet")).score == 0
    assert assess(_fn("quiet")).reasons == ()


def test_flags_and_verdicts_add_their_weights() -> None:
    """Each flag and a dead verdict add their weight, each with its reason."""
    judged = _fn(
        "old",
        judgement=Judgement(
            Verdict.DEAD,
            ("no invocation in 90 days",),
            SURE,
            flags=(
                Flag("public-url-no-auth", "AuthType NONE"),
                Flag("deprecated-runtime", "python3.8"),
                Flag("some-future-flag", "not weighted"),
            ),
        ),
    )
    risk = assess(judged)
    expected = (
        WEIGHTS["public-url-no-auth"][0] + WEIGHTS["deprecated-runtime"][0] + WEIGHTS["dead"][0]
    )
    assert risk.score == expected
    assert len(risk.reasons) == 3
    assert any("function URL" in r for r in risk.reasons)


def test_unused_risky_actions_are_capped() -> None:
    """Unused write/permissions-management actions add 3 points each, at most 30, with examples."""
    many = tuple(f"iam:Put{i}Policy" for i in range(20))
    risk = assess(
        _fn(
            "wide",
            proposal=PolicyProposal(
                "arn:aws:iam::111122223333:role/wide",
                ("{}",),
                SURE,
                unused_risky=many,
                admin_equivalent=True,
            ),
        )
    )
    assert risk.score == 30 + WEIGHTS["admin-equivalent"][0]
    assert any("iam:Put0Policy" in r for r in risk.reasons)


def test_rank_puts_the_riskiest_first() -> None:
    """rank() assesses every function and orders by score, then by name."""
    findings = Findings(
        NOW,
        None,
        NOW,
        "test",
        (
            _fn("b-quiet"),
            _fn("a-quiet"),
            _fn("dead", judgement=Judgement(Verdict.DEAD, (), SURE)),
        ),
    )
    ranked = rank(findings)
    assert [f.name for f in ranked.functions] == ["dead", "a-quiet", "b-quiet"]
    assert ranked.functions[0].risk.score == WEIGHTS["dead"][0]


def test_matching_by_name_or_arn() -> None:
    """A name found in two regions matches both; an ARN matches exactly one."""
    east = FunctionFindings(
        "arn:aws:lambda:us-east-1:111122223333:function:api",
        "api",
        "111122223333",
        "us-east-1",
        None,
    )
    west = FunctionFindings(
        "arn:aws:lambda:eu-west-1:111122223333:function:api",
        "api",
        "111122223333",
        "eu-west-1",
        None,
    )
    findings = Findings(NOW, None, NOW, "test", (east, west))
    assert findings.matching("api") == (east, west)
    assert findings.matching(west.arn) == (west,)
    assert findings.matching("nope") == ()
