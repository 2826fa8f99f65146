"""The shadow run: a pinned proposal is checked against the calls recorded after the pin."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from tests.analysis.policy_kit import allow, pol
from tests.collector.conftest import pg_database, pg_url  # noqa: F401 - fixtures
from tests.sample_fleet import ACCOUNT, Call, Function, Inv, arn, seed
from tests.timekeeping import Clock

from lambdaguard.analysis.evidence import IamRequests
from lambdaguard.analysis.fleet import analyse
from lambdaguard.analysis.policies import FunctionInputs, policy_step
from lambdaguard.analysis.proposal import Role
from lambdaguard.analysis.trial import NotProved, check, pin, pinned_documents
from lambdaguard.collector.store import Store, open_store

ORDERS = arn("orders-api")
GET = Call("s3", "GetObject", {"Bucket": "orders", "Key": "in/"})
PUT = Call("dynamodb", "PutItem", {"TableName": "orders"})
DELETE = Call("dynamodb", "DeleteItem", {"TableName": "orders"})
SCAN_DENIED = Call("dynamodb", "Scan", {"TableName": "orders"}, error_code="AccessDeniedException")
ROLE = Role(f"arn:aws:iam::{ACCOUNT}:role/orders-role", (pol(allow("s3:*"), allow("dynamodb:*")),))
INPUTS = FunctionInputs(ORDERS, ROLE.arn, ROLE, ACCOUNT)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store on each backend."""
    url = (
        f"sqlite:///{tmp_path / 'lambdaguard.db'}"
        if request.param == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    s = open_store(url)
    try:
        yield s
    finally:
        s.close()


def _history(clock: Clock) -> list[Inv]:
    return [Inv(clock.ago(days=10 - i), calls=(GET, PUT)) for i in range(5)]


def _proposed(store: Store, clock: Clock):  # type: ignore[no-untyped-def]
    step = policy_step([INPUTS], store=store, now=clock.now, window=timedelta(days=90))
    findings = analyse(store, now=clock.now, window=timedelta(days=90), steps=[step])
    (fn,) = findings.functions
    assert fn.proposal is not None
    assert fn.proposal.proved
    return fn


def test_calls_after_the_pin_are_checked_and_would_be_denials_kept(
    store: Store, clock: Clock
) -> None:
    """Counts since the pin are exact; a call outside the proposal is a would-be denial, kept once."""
    before = _history(clock)
    seed(store, [Function(ORDERS, before)], now=clock.now)
    fn = _proposed(store, clock)
    pin(store, fn.arn, fn.proposal, now=clock.now)
    after = [Inv(clock.now + timedelta(hours=h), calls=(GET, PUT)) for h in (1, 2, 3)]
    after += [Inv(clock.now + timedelta(hours=4), calls=(DELETE, DELETE, SCAN_DENIED))]
    seed(store, [Function(ORDERS, before + after)], now=clock.now + timedelta(hours=5))

    found_at = clock.now + timedelta(days=2)
    trial = check(store, ORDERS, now=found_at, requests=IamRequests(), record=True)
    assert trial is not None
    assert trial.calls_checked == 3 * 2 + 2 + 1
    (denial,) = trial.denials
    assert (denial.action, denial.resource) == (
        "dynamodb:DeleteItem",
        f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/orders",
    )
    assert denial.citation.count == 2
    assert denial.citation.trace_id
    assert denial.first_detected == found_at
    assert not trial.ready
    assert "not ready" in trial.status

    later = check(
        store, ORDERS, now=found_at + timedelta(days=20), requests=IamRequests(), record=True
    )
    assert later is not None
    assert [d.first_detected for d in later.denials] == [found_at]
    assert not later.ready


def test_a_clean_trial_is_ready_only_after_its_period(store: Store, clock: Clock) -> None:
    """Zero would-be denials: not ready at day 3, ready at day 15 (14-day trial)."""
    before = _history(clock)
    seed(store, [Function(ORDERS, before)], now=clock.now)
    fn = _proposed(store, clock)
    pin(store, fn.arn, fn.proposal, now=clock.now)
    after = [Inv(clock.now + timedelta(days=d), calls=(GET, PUT)) for d in (1, 2)]
    seed(store, [Function(ORDERS, before + after)], now=clock.now + timedelta(days=3))
    early = check(
        store, ORDERS, now=clock.now + timedelta(days=3), requests=IamRequests(), record=True
    )
    assert early is not None
    assert not early.ready
    assert early.calls_checked == 4
    assert "to go" in early.status
    done = check(
        store, ORDERS, now=clock.now + timedelta(days=15), requests=IamRequests(), record=True
    )
    assert done is not None
    assert done.ready
    assert not done.denials
    assert "READY TO APPLY" in done.status


def test_a_changed_proposal_is_no_longer_the_one_under_trial(store: Store, clock: Clock) -> None:
    """When today's proposal differs from the pinned one, the trial is not current, never ready."""
    seed(store, [Function(ORDERS, _history(clock))], now=clock.now)
    fn = _proposed(store, clock)
    pin(store, fn.arn, fn.proposal, now=clock.now)
    changed = dataclasses.replace(
        fn.proposal, documents=(fn.proposal.documents[0].replace("PutItem", "GetItem"),)
    )
    trial = check(
        store,
        ORDERS,
        now=clock.now + timedelta(days=30),
        requests=IamRequests(),
        record=False,
        current=pinned_documents(changed),
    )
    assert trial is not None
    assert not trial.current
    assert not trial.ready
    assert "changed" in trial.status


def test_unpinned_functions_have_no_trial_and_unpin_ends_one(store: Store, clock: Clock) -> None:
    """No pin: no trial; after unpin, none either."""
    seed(store, [Function(ORDERS, _history(clock))], now=clock.now)
    assert check(store, ORDERS, now=clock.now, requests=IamRequests(), record=False) is None
    fn = _proposed(store, clock)
    pin(store, fn.arn, fn.proposal, now=clock.now)
    assert store.unpin_trial(ORDERS)
    assert check(store, ORDERS, now=clock.now, requests=IamRequests(), record=False) is None


def test_a_proposal_whose_proof_failed_cannot_be_pinned(store: Store, clock: Clock) -> None:
    """Pinning refuses an unproved proposal and pins nothing."""
    seed(store, [Function(ORDERS, _history(clock))], now=clock.now)
    fn = _proposed(store, clock)
    failed = dataclasses.replace(fn.proposal, proved=False)
    with pytest.raises(NotProved, match="proof failed"):
        pin(store, fn.arn, failed, now=clock.now)
    assert store.trials() == []


def test_the_findings_show_the_trial(store: Store, clock: Clock) -> None:
    """The policy step fills the proposal's trial from the store (reading only)."""
    before = _history(clock)
    seed(store, [Function(ORDERS, before)], now=clock.now)
    fn = _proposed(store, clock)
    pin(store, fn.arn, fn.proposal, now=clock.now)
    seed(
        store,
        [Function(ORDERS, [*before, Inv(clock.now + timedelta(hours=1), calls=(DELETE,))])],
        now=clock.now + timedelta(hours=2),
    )
    step = policy_step(
        [INPUTS], store=store, now=clock.now + timedelta(days=1), window=timedelta(days=90)
    )
    findings = analyse(
        store, now=clock.now + timedelta(days=1), window=timedelta(days=90), steps=[step]
    )
    (again,) = findings.functions
    assert again.proposal is not None
    assert again.proposal.trial is not None
    assert [d.action for d in again.proposal.trial.denials] == ["dynamodb:DeleteItem"]
    assert not again.proposal.trial.current  # DeleteItem is now part of the proposal
    assert store.trial_denials(ORDERS) == []  # the views never write
