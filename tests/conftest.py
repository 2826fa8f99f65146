"""Fixtures shared by every test folder.

The clock. Code takes its "now" as an argument (``now=``, ``now_ns=``,
``clock=``); a test that depends on a date takes the :func:`clock` fixture and
passes its fixed instant everywhere. To prove that nothing still reads the real
clock behind the test's back (two prune tests once hard-coded a date while
ingestion used the real clock, and broke three days later), every test that
uses ``clock`` runs twice: once as is, and once with the process's real clock
moved ahead (a year by default, ``LAMBDAGUARD_TEST_CLOCK_SHIFT=730d`` to try
another amount), through ``time-machine``. Both runs must give the same
result. ``pytest -m clock`` selects just these tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from timekeeping import CLOCK_SHIFT_ENV, FIXED_NOW, Clock


def _shift() -> timedelta:
    text = os.environ.get(CLOCK_SHIFT_ENV, "365d").strip()
    try:
        if not text.endswith("d"):
            raise ValueError(text)
        return timedelta(days=int(text[:-1]))
    except ValueError:
        raise pytest.UsageError(
            f"{CLOCK_SHIFT_ENV}={text!r}: expected a number of days such as 365d or -30d"
        ) from None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that takes the clock, so ``-m clock`` runs just those."""
    for item in items:
        if "clock" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.clock)


@pytest.fixture(params=["today", "real-clock-moved"])
def clock(request: pytest.FixtureRequest) -> Iterator[Clock]:
    """The test's fixed "now"; in the second run the real clock is moved ahead as well."""
    if request.param == "today":
        yield Clock(FIXED_NOW, timedelta(0))
        return
    import time_machine

    shift = _shift()
    # tick=True: time still passes, so timeouts and ordering behave as usual.
    with time_machine.travel(datetime.now(UTC) + shift, tick=True):
        yield Clock(FIXED_NOW, shift)


def _store_with(
    tmp_path: Path, name: str, build: str, now: datetime, *, inventory: bool = False
) -> str:
    import sample_fleet as fleet
    from lambdaguard.collector.store import open_store

    url = f"sqlite:///{tmp_path / name / 'lambdaguard.db'}"
    store = open_store(url)
    try:
        fleet.seed(store, getattr(fleet, build)(now), now=now)
        if inventory:
            fleet.record_inventory(store, now, hostile_names=build == "hostile")
    finally:
        store.close()
    return url


@pytest.fixture
def fleet_url(tmp_path: Path, clock: Clock) -> str:
    """A SQLite store holding tests/sample_fleet.py's standard fleet, recorded up to ``clock.now``."""
    return _store_with(tmp_path, "fleet", "standard", clock.now)


@pytest.fixture
def hostile_url(tmp_path: Path) -> str:
    """A SQLite store whose function names, hosts, params and errors carry HTML and script."""
    return _store_with(tmp_path, "hostile", "hostile", FIXED_NOW)


@pytest.fixture
def judged_url(tmp_path: Path, clock: Clock) -> str:
    """The standard fleet's store with the account's inventory recorded at ``clock.now`` (30-day window)."""
    return _store_with(tmp_path, "judged", "standard", clock.now, inventory=True)


@pytest.fixture
def hostile_judged_url(tmp_path: Path) -> str:
    """The hostile store with an inventory whose names, tags, triggers and schedules carry markup."""
    return _store_with(tmp_path, "hostile-judged", "hostile", FIXED_NOW, inventory=True)
