"""Schedule expressions: last and next fire times, checked against AWS's documented rules."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdaguard.analysis.schedules import At, Cron, Rate, ScheduleError, parse

NOW = datetime(2026, 5, 15, 12, 0, tzinfo=UTC)  # a Friday


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "previous", "following"),
    [
        # AWS's examples: 10:15 every day; 18:00 Monday to Friday; 08:00 on the 1st.
        ("cron(15 10 * * ? *)", _utc(2026, 5, 15, 10, 15), _utc(2026, 5, 16, 10, 15)),
        ("cron(0 18 ? * MON-FRI *)", _utc(2026, 5, 14, 18), _utc(2026, 5, 15, 18)),
        ("cron(0 8 1 * ? *)", _utc(2026, 5, 1, 8), _utc(2026, 6, 1, 8)),
        # Every 10 minutes on weekdays 08:00-17:50.
        ("cron(0/10 8-17 ? * MON-FRI *)", _utc(2026, 5, 15, 12), _utc(2026, 5, 15, 12, 10)),
        # 1/10: minute 1, 11, 21 ...
        ("cron(1/10 * * * ? *)", _utc(2026, 5, 15, 11, 51), _utc(2026, 5, 15, 12, 1)),
        # Quarterly and yearly.
        ("cron(0 6 1 1,4,7,10 ? *)", _utc(2026, 4, 1, 6), _utc(2026, 7, 1, 6)),
        ("cron(0 9 1 JAN ? *)", _utc(2026, 1, 1, 9), _utc(2027, 1, 1, 9)),
        # L: last day of the month; LW: last weekday (2026-05-31 is a Sunday).
        ("cron(0 23 L * ? *)", _utc(2026, 4, 30, 23), _utc(2026, 5, 31, 23)),
        ("cron(0 23 LW * ? *)", _utc(2026, 4, 30, 23), _utc(2026, 5, 29, 23)),
        # 3W: the weekday nearest the 3rd (2026-05-03 is a Sunday -> Monday the 4th).
        ("cron(0 9 3W * ? *)", _utc(2026, 5, 4, 9), _utc(2026, 6, 3, 9)),
        # 1W when the 1st is a Saturday (2026-08-01) does not cross back into July: Monday the 3rd.
        ("cron(0 9 1W AUG ? *)", _utc(2025, 8, 1, 9), _utc(2026, 8, 3, 9)),
        # 3#2: the second Tuesday; 6L: the last Friday; L alone: Saturday.
        ("cron(0 9 ? * 3#2 *)", _utc(2026, 5, 12, 9), _utc(2026, 6, 9, 9)),
        ("cron(0 9 ? * 6L *)", _utc(2026, 4, 24, 9), _utc(2026, 5, 29, 9)),
        ("cron(0 9 ? * L *)", _utc(2026, 5, 9, 9), _utc(2026, 5, 16, 9)),
        # A wrapping range: Friday to Monday.
        ("cron(0 9 ? * FRI-MON *)", _utc(2026, 5, 15, 9), _utc(2026, 5, 16, 9)),
        # A year field bounds it: never again after 2026, never before 2025.
        ("cron(0 0 1 1 ? 2025-2026)", _utc(2026, 1, 1), None),
        ("cron(0 0 1 1 ? 2030)", None, _utc(2030, 1, 1)),
        # 31st: only in months that have one; 29 Feb: leap years only.
        ("cron(0 0 31 * ? *)", _utc(2026, 3, 31), _utc(2026, 5, 31)),
        ("cron(0 0 29 2 ? *)", _utc(2024, 2, 29), _utc(2028, 2, 29)),
    ],
)
def test_cron_previous_and_next(
    expression: str, previous: datetime | None, following: datetime | None
) -> None:
    """Each documented form fires when AWS's rules say it does."""
    schedule = parse(expression)
    assert schedule.previous(NOW) == previous
    assert schedule.next(NOW) == following


def test_a_fire_time_is_its_own_previous_and_not_its_next() -> None:
    """previous() includes the instant itself; next() is strictly after it."""
    schedule = parse("cron(0 12 * * ? *)")
    assert schedule.previous(NOW) == NOW
    assert schedule.next(NOW) == NOW + timedelta(days=1)


def test_scheduler_cron_in_a_time_zone_follows_daylight_saving() -> None:
    """02:30 Europe/Berlin is 00:30 UTC in summer and 01:30 UTC in winter."""
    schedule = parse("cron(30 2 * * ? *)", timezone="Europe/Berlin")
    assert schedule.next(_utc(2026, 7, 1)) == _utc(2026, 7, 1, 0, 30)
    assert schedule.next(_utc(2026, 12, 1)) == _utc(2026, 12, 1, 1, 30)


def test_a_wall_time_skipped_by_spring_forward_does_not_fire() -> None:
    """On 2026-03-29 Berlin jumps 02:00 -> 03:00: a 02:30 schedule skips that day."""
    schedule = parse("cron(30 2 * * ? *)", timezone="Europe/Berlin")
    assert schedule.next(_utc(2026, 3, 28, 2)) == _utc(2026, 3, 30, 0, 30)
    assert schedule.previous(_utc(2026, 3, 29, 23)) == _utc(2026, 3, 28, 1, 30)


def test_a_wall_time_repeated_by_fall_back_fires_once() -> None:
    """On 2026-10-25 Berlin repeats 02:00-03:00: a 02:30 schedule runs once, the first time."""
    schedule = parse("cron(30 2 * * ? *)", timezone="Europe/Berlin")
    first = schedule.next(_utc(2026, 10, 24, 12))
    assert first == _utc(2026, 10, 25, 0, 30)
    assert schedule.next(first) == _utc(2026, 10, 26, 1, 30)


def test_start_and_end_dates_bound_a_cron() -> None:
    """A Scheduler schedule fires only between its StartDate and EndDate."""
    schedule = parse("cron(0 0 1 * ? *)", start=_utc(2026, 3, 15), end=_utc(2026, 6, 15))
    assert schedule.previous(_utc(2026, 3, 20)) is None
    assert schedule.next(_utc(2026, 1, 1)) == _utc(2026, 4, 1)
    assert schedule.next(_utc(2026, 6, 2)) is None
    assert schedule.previous(_utc(2027, 1, 1)) == _utc(2026, 6, 1)


def test_rate_with_an_anchor_steps_from_it() -> None:
    """rate(N unit) fires at anchor + k*N; a day is 24 hours of elapsed time."""
    schedule = parse("rate(7 days)", anchor=_utc(2026, 1, 1, 6))
    assert isinstance(schedule, Rate)
    assert schedule.period() == timedelta(days=7)
    assert schedule.previous(NOW) == _utc(2026, 5, 14, 6)
    assert schedule.next(NOW) == _utc(2026, 5, 21, 6)
    assert schedule.next(_utc(2025, 1, 1)) == _utc(2026, 1, 1, 6)
    assert schedule.previous(_utc(2025, 1, 1)) is None


def test_rate_of_an_eventbridge_rule_has_no_known_anchor() -> None:
    """A rule's rate starts at its creation, which ListRules does not return: fire times are unknown."""
    schedule = parse("rate(1 hour)")
    assert schedule.previous(NOW) is None
    assert schedule.next(NOW) is None
    assert schedule.period() == timedelta(hours=1)


def test_at_in_a_time_zone() -> None:
    """at() is a wall-clock time in the schedule's zone, firing once."""
    schedule = parse("at(2026-07-01T09:00:00)", timezone="America/New_York")
    assert isinstance(schedule, At)
    assert schedule.when == _utc(2026, 7, 1, 13)
    assert schedule.previous(NOW) is None
    assert schedule.next(NOW) == _utc(2026, 7, 1, 13)
    assert schedule.previous(_utc(2026, 8, 1)) == _utc(2026, 7, 1, 13)
    assert schedule.next(_utc(2026, 8, 1)) is None


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ("cron(0 10 * * *)", "six fields"),
        ("cron(0 10 * * * *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 10 ? * ? *)", "exactly one of day-of-month and day-of-week"),
        ("cron(60 10 * * ? *)", "minutes field"),
        ("cron(0 24 * * ? *)", "hours field"),
        ("cron(0 0 32 * ? *)", "day-of-month field"),
        ("cron(0 0 ? * 8 *)", "day-of-week field"),
        ("cron(0 0 ? * 3#1,6#3 *)", "only expression"),
        ("cron(0 0 ? * 2#6 *)", "n#k"),
        ("cron(0 0 ? FOO * *)", "month field"),
        ("cron(0 0 1 * ? 1969)", "year field"),
        ("cron(0/0 0 1 * ? *)", "increment"),
        ("rate(0 minutes)", "positive whole value"),
        ("rate(5 weeks)", "unit of minute"),
        ("at(2026-13-01T00:00:00)", r"at\(yyyy-mm-ddThh:mm:ss\)"),
        ("every day", "not a schedule expression"),
    ],
)
def test_bad_expressions_name_what_is_wrong(expression: str, names: str) -> None:
    """An expression that cannot be read raises ScheduleError naming the field or form."""
    with pytest.raises(ScheduleError, match=names):
        parse(expression)


def test_unknown_time_zone_is_an_error() -> None:
    """A time zone the tz database does not know is named in the error."""
    with pytest.raises(ScheduleError, match="Mars/Olympus"):
        parse("cron(0 0 1 * ? *)", timezone="Mars/Olympus")


def test_naive_instants_are_refused() -> None:
    """Instants must carry a time zone: a naive datetime is a clear error, not a guess."""
    with pytest.raises(ScheduleError, match="no time zone"):
        parse("cron(0 0 1 * ? *)").next(datetime(2026, 1, 1))


# -- an independent oracle: minute by minute, straight from the documented rules ------------
def _oracle_day(expr: list[str], day: date) -> bool:
    dom, dow = expr[2], expr[4]
    last = calendar.monthrange(day.year, day.month)[1]
    aws_wd = day.isoweekday() % 7 + 1  # Sunday 1 .. Saturday 7
    if dom != "?":
        if dom == "L":
            return day.day == last
        if dom == "*":
            return True
        return day.day in {int(x) for x in dom.split(",")}
    if dow.endswith("L"):
        return aws_wd == int(dow[:-1]) and day.day + 7 > last
    if "#" in dow:
        n, k = dow.split("#")
        return aws_wd == int(n) and (day.day - 1) // 7 + 1 == int(k)
    return aws_wd in {int(x) for x in dow.split(",")}


def _oracle_next(expr: list[str], after: datetime) -> datetime | None:
    minutes = {int(x) for x in expr[0].split(",")}
    hours = {int(x) for x in expr[1].split(",")}
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    end = after + timedelta(days=70)
    while t <= end:
        if t.hour in hours and t.minute in minutes and _oracle_day(expr, t.date()):
            return t
        # Skip to the next hour/day when this one cannot match (keeps the oracle fast).
        if t.hour not in hours or not _oracle_day(expr, t.date()):
            t = (t + timedelta(hours=1)).replace(minute=0)
            continue
        t += timedelta(minutes=1)
    return None


_minute_lists = st.lists(st.integers(0, 59), min_size=1, max_size=3, unique=True)
_hour_lists = st.lists(st.integers(0, 23), min_size=1, max_size=3, unique=True)
_dom = st.one_of(
    st.just("*"),
    st.just("L"),
    st.lists(st.integers(1, 28), min_size=1, max_size=3, unique=True).map(
        lambda v: ",".join(map(str, v))
    ),
)
_dow = st.one_of(
    st.lists(st.integers(1, 7), min_size=1, max_size=3, unique=True).map(
        lambda v: ",".join(map(str, v))
    ),
    st.integers(1, 7).map(lambda n: f"{n}L"),
    st.tuples(st.integers(1, 7), st.integers(1, 4)).map(lambda p: f"{p[0]}#{p[1]}"),
)


@settings(max_examples=60, deadline=None)
@given(
    minutes=_minute_lists,
    hours=_hour_lists,
    day=st.one_of(_dom.map(lambda d: (d, "?")), _dow.map(lambda d: ("?", d))),
    offset=st.integers(0, 365 * 24 * 60),
)
def test_next_agrees_with_a_minute_by_minute_oracle(
    minutes: list[int], hours: list[int], day: tuple[str, str], offset: int
) -> None:
    """For random expressions and instants, next() is the first minute the rules accept."""
    fields = [",".join(map(str, minutes)), ",".join(map(str, hours)), day[0], "*", day[1], "*"]
    schedule = parse(f"cron({' '.join(fields)})")
    after = _utc(2025, 1, 1) + timedelta(minutes=offset, seconds=17)
    expected = _oracle_next(fields, after)
    if expected is not None:
        assert schedule.next(after) == expected
        assert schedule.previous(expected) == expected
        assert schedule.previous(expected - timedelta(seconds=1)) < expected  # type: ignore[operator]


def test_cron_object_exposes_its_fields() -> None:
    """The parsed form keeps the expression and its time zone for reports."""
    schedule = parse("cron(0 3 1 * ? *)", timezone="Europe/Paris")
    assert isinstance(schedule, Cron)
    assert schedule.expression == "cron(0 3 1 * ? *)"
    assert schedule.timezone == "Europe/Paris"
