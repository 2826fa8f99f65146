"""Verdicts and flags on plain inputs, at fixed instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from lambdaguard.analysis import inventory as inv
from lambdaguard.analysis.inventory import FunctionInfo, Inventory, Trigger
from lambdaguard.analysis.telemetry import Telemetry, index
from lambdaguard.analysis.verdicts import AttackSurface, judge, judge_all
from lambdaguard.evidence import HostSeen

NOW = datetime(2026, 5, 15, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=90)
ARN = "arn:aws:lambda:eu-west-1:123456789012:function:"
QUEUE = "arn:aws:sqs:eu-west-1:123456789012:jobs"


def fn(name: str, *triggers: Trigger, **kw: object) -> FunctionInfo:
    values: dict[str, object] = {
        "name": name,
        "arn": ARN + name,
        "region": "eu-west-1",
        "account": "123456789012",
        "runtime": "python3.12",
        "role": f"arn:aws:iam::123456789012:role/{name}",
        "tags": {"owner": "alice"},
        "triggers": triggers,
        "invocations": {},
        "errors": {},
        "metrics_complete": True,
    }
    values.update(kw)
    return FunctionInfo(**values)  # type: ignore[arg-type]


def days_ago(n: int) -> date:
    return (NOW - timedelta(days=n)).date()


def test_invocations_in_the_window_make_it_active() -> None:
    """CloudWatch counts in the window give 'active' with high confidence."""
    found = judge(fn("a", invocations={days_ago(3): 12}), now=NOW, window=WINDOW)
    assert found.verdict == "active"
    assert found.confidence == "high"
    assert "12 invocation(s)" in found.reasons[0]
    assert found.last_invoked == datetime(*days_ago(3).timetuple()[:3], tzinfo=UTC)


def test_lambdaguard_records_alone_prove_use() -> None:
    """An invocation lambdaguard saw counts even when CloudWatch could not be read."""
    tele = Telemetry(ARN + "a", "a", "eu-west-1", "123456789012", days={days_ago(1): (2, 0)})
    found = judge(fn("a", invocations=None), now=NOW, window=WINDOW, telemetry=tele)
    assert found.verdict == "active"


def test_use_seen_after_the_instant_judged_still_counts() -> None:
    """Judged as of an older inventory reading, a function lambdaguard saw failing at INIT since is not dead."""
    later = NOW + timedelta(days=2)
    tele = Telemetry(
        ARN + "a", "a", "eu-west-1", "123456789012", init_errors=1, last_init_error=later
    )
    found = judge(fn("a"), now=NOW, window=WINDOW, telemetry=tele)
    assert found.verdict == "active"
    assert found.plan == ()


def test_no_trigger_and_no_use_is_dead_with_a_plan() -> None:
    """Nothing in the window and nothing that can fire: dead, and a plan that changes nothing here."""
    found = judge(fn("a", invocations={days_ago(200): 4}), now=NOW, window=WINDOW)
    assert found.verdict == "dead"
    assert found.confidence == "high"
    assert any("no trigger" in r for r in found.reasons)
    assert any("200 days" in r for r in found.reasons)
    commands = [s.command for s in found.plan]
    assert any(
        "put-function-concurrency" in c and "--reserved-concurrent-executions 0" in c
        for c in commands
    )
    assert commands[-2].startswith("aws lambda get-function")
    assert "delete-function --function-name a" in commands[-2]


@pytest.mark.parametrize(
    ("trigger", "reason"),
    [
        (Trigger(inv.ESM, QUEUE, enabled=False, detail="Disabled", ident="u-1"), "disabled"),
        (Trigger(inv.ESM, QUEUE, source_exists=False, ident="u-1"), "no longer exists"),
        (Trigger(inv.URL, "https://x.lambda-url.on.aws", detail="auth AWS_IAM"), "function URL"),
        (Trigger(inv.PERMISSION, "111122223333", detail="direct", ident="s1"), "direct invocation"),
    ],
    ids=["disabled", "source-gone", "url-only", "direct-only"],
)
def test_dead_when_only_unusable_triggers_remain(trigger: Trigger, reason: str) -> None:
    """Only disabled triggers, gone sources, a URL or direct invocation: dead, with why."""
    found = judge(fn("a", trigger), now=NOW, window=WINDOW)
    assert found.verdict == "dead"
    assert any(reason in r for r in found.reasons), found.reasons


def test_an_enabled_queue_makes_it_idle_not_dead() -> None:
    """A live producer that was quiet gives 'idle', with how long it has been quiet."""
    found = judge(
        fn("a", Trigger(inv.ESM, QUEUE, ident="u"), invocations={days_ago(120): 1}),
        now=NOW,
        window=WINDOW,
    )
    assert found.verdict == "idle"
    assert any("120 days" in r for r in found.reasons)
    assert any("may simply have been quiet" in r for r in found.reasons)
    assert found.plan == ()


def test_unknown_source_lowers_confidence_instead_of_calling_it_dead() -> None:
    """A mapping whose queue could not be checked counts as live and says so."""
    found = judge(fn("a", Trigger(inv.ESM, QUEUE, source_exists=None)), now=NOW, window=WINDOW)
    assert found.verdict == "idle"
    assert found.confidence == "medium"
    assert any("could not be verified" in r for r in found.reasons)


def test_monthly_cron_not_due_in_a_short_window_is_idle_expected() -> None:
    """A monthly schedule last due before a 10-day window: idle-expected, with last and next due."""
    monthly = Trigger(inv.RULE, "arn:aws:events:eu-west-1:1:rule/m", schedule="cron(0 3 1 * ? *)")
    found = judge(fn("a", monthly), now=NOW, window=timedelta(days=10))
    assert found.verdict == "idle-expected"
    assert found.confidence == "high"
    assert any(
        "last due 2026-05-01 03:00 UTC, next due 2026-06-01 03:00 UTC" in r for r in found.reasons
    )
    assert found.schedules[0]["due_in_window"] is False


def test_yearly_cron_is_idle_expected_in_a_90_day_window() -> None:
    """A yearly job (1 January) is not due between mid-February and mid-May."""
    yearly = Trigger(
        inv.SCHEDULE,
        "arn:aws:scheduler:eu-west-1:1:schedule/default/y",
        schedule="cron(0 6 1 1 ? *)",
        timezone="Europe/Paris",
        ident="default/y",
    )
    found = judge(fn("a", yearly, invocations={date(2026, 1, 1): 1}), now=NOW, window=WINDOW)
    assert found.verdict == "idle-expected"
    assert found.schedules[0]["next_due"] == "2027-01-01T05:00:00+00:00"


def test_a_schedule_due_in_the_window_without_invocations_is_idle() -> None:
    """A daily schedule that fired in the window but left no invocation is not 'expected'."""
    daily = Trigger(inv.RULE, "arn:aws:events:eu-west-1:1:rule/d", schedule="cron(0 3 * * ? *)")
    found = judge(fn("a", daily), now=NOW, window=WINDOW)
    assert found.verdict == "idle"
    assert any("was due at" in r for r in found.reasons)


def test_a_one_time_schedule_that_already_fired_leaves_it_dead() -> None:
    """at() in the past never fires again: it does not keep the function alive."""
    once = Trigger(
        inv.SCHEDULE,
        "arn:aws:scheduler:::schedule/default/o",
        schedule="at(2025-01-01T00:00:00)",
        ident="default/o",
    )
    found = judge(fn("a", once), now=NOW, window=WINDOW)
    assert found.verdict == "dead"
    assert any("will not fire again" in r for r in found.reasons)


def test_a_rule_rate_longer_than_the_window_is_idle_expected_with_low_confidence() -> None:
    """A rule's rate start is unknown: a 200-day rate may not have been due, and says so."""
    rate = Trigger(inv.RULE, "arn:aws:events:eu-west-1:1:rule/r", schedule="rate(200 days)")
    found = judge(fn("a", rate), now=NOW, window=WINDOW)
    assert found.verdict == "idle-expected"
    assert found.confidence == "low"


def test_unreadable_metrics_make_confidence_low() -> None:
    """Without CloudWatch or lambdaguard evidence, a dead verdict says its evidence is missing."""
    found = judge(fn("a", invocations=None, errors=None), now=NOW, window=WINDOW)
    assert found.verdict == "dead"
    assert found.confidence == "low"
    assert any("could not be read" in r for r in found.reasons)


def test_flags() -> None:
    """Each flag is raised by its own evidence, independent of the verdict."""
    url = Trigger(inv.URL, "https://u.lambda-url.on.aws", detail="auth NONE", public=True)
    gone = Trigger(
        inv.PERMISSION,
        "arn:aws:s3:::old-bucket",
        source_exists=False,
        detail="s3.amazonaws.com",
        ident="s3",
    )
    tele = Telemetry(
        ARN + "a",
        "a",
        "eu-west-1",
        "123456789012",
        days={days_ago(1): (5, 0)},
        hosts=(
            HostSeen(
                "arn:aws:lambda:eu-west-1:123456789012:function:f",
                "api.example.com",
                80,
                False,
                False,
                3,
                0,
                NOW,
                NOW,
            ),
        ),
    )
    found = judge(
        fn(
            "a", url, gone, runtime="python3.8", tags={"owner": "bob"}, invocations={days_ago(1): 5}
        ),
        now=NOW,
        window=WINDOW,
        telemetry=tele,
        users=frozenset({"alice"}),
        surface=lambda f: AttackSurface(
            access={"Write": 120, "Permissions management": 4}, admin_equivalent=True
        ),
    )
    assert found.verdict == "active"
    assert set(found.flag_names) == {
        "public-url-no-auth",
        "orphaned-trigger",
        "admin-equivalent",
        "deprecated-runtime",
        "owner-gone",
        "plaintext-egress",
    }
    assert found.surface.public_entry_points == ("function-url: https://u.lambda-url.on.aws",)
    assert found.surface.access == {"Write": 120, "Permissions management": 4}


def test_no_owner_tag_and_owner_in_directory() -> None:
    """No owner tag is flagged; an owner present in the directory is not gone."""
    untagged = judge(fn("a", tags={}), now=NOW, window=WINDOW)
    assert "no-owner-tag" in untagged.flag_names
    team = judge(
        fn("b", tags={"team": "payments", "owner": "carol@example.com"}),
        now=NOW,
        window=WINDOW,
        users=frozenset(),
        directory=frozenset({"payments", "carol@example.com"}),
    )
    assert "owner-gone" not in team.flag_names
    left = judge(
        fn("c", tags={"team": "growth"}), now=NOW, window=WINDOW, directory=frozenset({"payments"})
    )
    assert "owner-gone" in left.flag_names


def test_broken_from_init_errors_and_from_cloudwatch_errors() -> None:
    """Init failures with nothing succeeding after them, or every invocation failing, flag broken."""
    init = Telemetry(
        "",
        "a",
        "eu-west-1",
        "",
        init_errors=3,
        init_error_types={"Runtime.ImportModuleError": 3},
        last_init_error=NOW - timedelta(days=2),
    )
    found = judge(fn("a"), now=NOW, window=WINDOW, telemetry=init)
    assert "broken" in found.flag_names
    assert "Runtime.ImportModuleError" in dict((f.name, f.reason) for f in found.flags)["broken"]
    failing = judge(
        fn("b", invocations={days_ago(2): 4}, errors={days_ago(2): 4}), now=NOW, window=WINDOW
    )
    assert "broken" in failing.flag_names
    fine = judge(
        fn("c", invocations={days_ago(2): 4}, errors={days_ago(2): 1}), now=NOW, window=WINDOW
    )
    assert "broken" not in fine.flag_names


def test_judge_all_sorts_by_risk_and_joins_init_errors_by_name() -> None:
    """The riskiest come first; an account-less init error joins its function by region and name."""
    functions = (
        fn("quiet-ok", Trigger(inv.ESM, QUEUE)),
        fn("dead-public", Trigger(inv.URL, "https://x", detail="auth NONE", public=True)),
        fn("busy", invocations={days_ago(1): 3}),
    )
    tele = index([Telemetry("", "busy", "eu-west-1", "", init_errors=1, last_init_error=NOW)])
    findings = judge_all(Inventory(functions), now=NOW, window=WINDOW, telemetry=tele)
    assert next(f.function.name for f in findings) == "dead-public"
    busy = next(f for f in findings if f.function.name == "busy")
    assert busy.telemetry is not None
    assert busy.telemetry.init_errors == 1


def test_same_inputs_same_answer_whatever_the_clock() -> None:
    """The judgement depends on the now it is given, not on the machine's clock."""
    f = fn("a", invocations={date(2026, 5, 1): 1})
    assert judge(f, now=NOW, window=WINDOW).verdict == "active"
    assert judge(f, now=NOW + timedelta(days=365), window=WINDOW).verdict == "dead"
