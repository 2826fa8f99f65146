"""Evidence read from the store: per-function totals, days, calls with IAM requests, windows."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

import sample_fleet as fleet
from lambdaguard import semconv
from lambdaguard.analysis.evidence import collect, function_names
from lambdaguard.analysis.fleet import analyse, open_for_reading
from lambdaguard.collector.store import open_store
from lambdaguard.errors import StoreError, StoreNotFound
from timekeeping import Clock


def _by_name(url: str, clock: Clock, **kwargs: object) -> dict[str, object]:
    store = open_for_reading(url)
    try:
        return {e.name: e.evidence for e in collect(store, now=clock.now, **kwargs)}  # type: ignore[arg-type]
    finally:
        store.close()


def test_invocations_add_up_per_day(fleet_url: str, clock: Clock) -> None:
    """Totals, cold starts, errors and timeouts per function and per UTC day, oldest first."""
    orders = _by_name(fleet_url, clock)["orders-api"]
    inv = orders.invocations  # type: ignore[attr-defined]
    assert (inv.total, inv.cold_starts, inv.errors, inv.timeouts) == (9, 2, 1, 1)
    assert [d.day for d in inv.days] == sorted(d.day for d in inv.days)
    assert sum(d.invocations for d in inv.days) == 9
    assert inv.days[-1].day == clock.now.date() or inv.days[-1].day == clock.ago(hours=1).date()
    assert all(d.p50_ms is not None and d.p95_ms is not None for d in inv.days)
    types = {(t.error_type, t.count) for t in inv.error_types}
    # The collector names a timeout "timeout", whatever the runtime called it.
    assert types == {("KeyError", 1), ("timeout", 1)}


def test_calls_are_grouped_with_their_iam_requests(fleet_url: str, clock: Clock) -> None:
    """Each operation's calls carry counts and the IAM requests the mapping gives them."""
    orders = _by_name(fleet_url, clock)["orders-api"]
    groups = {(g.service, g.operation): g for g in orders.calls}  # type: ignore[attr-defined]
    assert set(groups) == {("s3", "GetObject"), ("dynamodb", "PutItem")}
    assert groups["s3", "GetObject"].count == 9
    assert orders.calls_count == 18  # type: ignore[attr-defined]
    requests = {(r.action, r.resource) for r in groups["dynamodb", "PutItem"].requests}
    assert requests == {
        ("dynamodb:PutItem", "arn:aws:dynamodb:eu-west-1:111122223333:table/orders")
    }
    assert ("s3:GetObject", "arn:aws:s3:::orders/in/*") in {
        (r.action, r.resource) for r in groups["s3", "GetObject"].requests
    }
    assert orders.actions_used == {"s3:GetObject", "dynamodb:PutItem"}  # type: ignore[attr-defined]


def test_whose_credentials_signed_a_call_is_kept(fleet_url: str, clock: Clock) -> None:
    """A call made as an assumed role keeps that role, so it is not charged to the execution role."""
    nightly = _by_name(fleet_url, clock)["nightly-report"]
    (put,) = [g for g in nightly.calls if g.operation == "PutObject"]  # type: ignore[attr-defined]
    (mapped,) = put.calls
    assert mapped.call.principal.kind == semconv.CREDENTIALS_ASSUMED_ROLE
    assert mapped.call.principal.role_arn == "arn:aws:iam::111122223333:role/reporter"
    assert not mapped.call.principal.is_execution_role


def test_hosts_triggers_and_runtime(fleet_url: str, clock: Clock) -> None:
    """Hosts with TLS status, triggers seen and the runtime come through per function."""
    evidence = _by_name(fleet_url, clock)
    orders = evidence["orders-api"]
    hosts = {(h.host, h.port, h.tls): h.count for h in orders.hosts}  # type: ignore[attr-defined]
    assert hosts == {("api.stripe.com", 443, True): 9, ("legacy.example.com", 80, False): 1}
    (trigger,) = orders.triggers  # type: ignore[attr-defined]
    assert (trigger.kind, trigger.count) == ("api_gateway_http", 9)
    assert evidence["nightly-report"].runtime == "python3.11"  # type: ignore[attr-defined]


def test_a_window_cuts_days_and_drops_what_was_not_seen(fleet_url: str, clock: Clock) -> None:
    """With a 1-day window, older days and functions last seen before it are left out."""
    everything = _by_name(fleet_url, clock)
    assert set(everything) == {"orders-api", "nightly-report", "legacy-cron"}
    recent = _by_name(fleet_url, clock, window=timedelta(days=1, hours=12))
    assert set(recent) == {"orders-api", "nightly-report"}
    days = recent["orders-api"].invocations.days  # type: ignore[attr-defined]
    assert min(d.day for d in days) >= clock.ago(days=1, hours=12).date()
    assert recent["orders-api"].invocations.total == 6  # type: ignore[attr-defined]


def test_an_unmappable_call_keeps_its_count_and_says_why(tmp_path: object, clock: Clock) -> None:
    """A call of a service botocore does not know is kept, counted, and explained."""
    url = f"sqlite:///{tmp_path}/odd.db"
    store = open_store(url)
    odd = fleet.Call("no-such-service", "DoThing", {"Name": "x"})
    fleet.seed(
        store,
        [fleet.Function(fleet.arn("odd"), [fleet.Inv(clock.ago(hours=1), calls=(odd,))])],
        now=clock.now,
    )
    (found,) = collect(store, now=clock.now)
    store.close()
    (group,) = found.evidence.calls
    assert group.count == 1
    assert group.requests == ()
    assert group.calls[0].note is not None
    assert "no-such-service" in group.calls[0].note


def test_reads_are_fleet_wide(tmp_path: object, clock: Clock) -> None:
    """Reading 30 functions takes as many queries as reading 3: one per kind of fact."""

    def statements(n: int) -> int:
        url = f"sqlite:///{tmp_path}/n{n}.db"
        store = open_store(url)
        fleet.seed(
            store,
            [
                fleet.Function(
                    fleet.arn(f"f{i}"), [fleet.Inv(clock.ago(hours=1), calls=(fleet.GET,))]
                )
                for i in range(n)
            ],
            now=clock.now,
        )
        seen: list[str] = []
        sa.event.listen(store._engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
        assert len(collect(store, now=clock.now)) == n
        store.close()
        return len(seen)

    assert statements(30) == statements(3)


def test_only_one_function(fleet_url: str, clock: Clock) -> None:
    """``only`` limits the work to the function of that name or ARN."""
    store = open_for_reading(fleet_url)
    try:
        (one,) = collect(store, now=clock.now, only="nightly-report")
        assert one.name == "nightly-report"
        (same,) = collect(store, now=clock.now, only=fleet.arn("nightly-report"))
        assert same.arn == one.arn
        assert collect(store, now=clock.now, only="nope") == ()
        assert function_names(store) == ("legacy-cron", "nightly-report", "orders-api")
    finally:
        store.close()


def test_analyse_orders_riskiest_first(fleet_url: str, clock: Clock) -> None:
    """The function talking plaintext to a third party comes first, with the reason."""
    store = open_for_reading(fleet_url)
    try:
        findings = analyse(store, now=clock.now, source="test")
    finally:
        store.close()
    first = findings.functions[0]
    assert first.name == "orders-api"
    assert first.risk.score > 0
    assert any("plaintext" in r and "legacy.example.com" in r for r in first.risk.reasons)
    assert [f.risk.score for f in findings.functions] == sorted(
        (f.risk.score for f in findings.functions), reverse=True
    )
    assert first.proposal is None
    assert first.judgement is None


def test_reading_never_creates_a_store(tmp_path: object) -> None:
    """Opening a missing store for reading fails naming the path, and creates nothing."""
    from pathlib import Path

    where = Path(str(tmp_path)) / "none" / "x.db"
    with pytest.raises(StoreNotFound, match=str(where)):
        open_for_reading(f"sqlite:///{where}")
    assert not where.parent.exists()


def test_an_old_schema_is_named_with_the_fix(tmp_path: object) -> None:
    """A store of another schema version is refused with the command that migrates it."""
    url = f"sqlite:///{tmp_path}/old.db"
    open_store(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM lg_schema_version WHERE version > 1"))
    engine.dispose()
    with pytest.raises(StoreError, match="lambdaguard store migrate"):
        open_for_reading(url)
