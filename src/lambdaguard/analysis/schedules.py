"""When a schedule last fired and when it fires next: EventBridge and Scheduler expressions.

Why this exists: a monthly or yearly job shows no invocation in a 90-day
window and is still wanted. Calling it dead needs the schedule's own answer to
"was it due in the window?", so the expression is evaluated, not pattern-matched.

The dialect (AWS's documentation: EventBridge "Cron expressions reference" and
"Rate expressions reference", Scheduler "Schedule types"):

- ``cron(Minutes Hours Day-of-month Month Day-of-week Year)``: six fields, all
  required. Minutes 0-59, hours 0-23, day-of-month 1-31, month 1-12 or
  JAN-DEC, day-of-week 1-7 or SUN-SAT (1 is Sunday), year 1970-2199.
  ``,`` lists, ``-`` ranges, ``*`` all, ``/`` increments (``1/10`` is minute 1,
  11, 21 ...), ``?`` "any" in one of the two day fields. Exactly one of
  day-of-month and day-of-week is ``?``. Day-of-month also takes ``L`` (last
  day), ``nW`` (the weekday nearest day n, never crossing into another month)
  and ``LW`` (last weekday); day-of-week takes ``L`` (alone: Saturday, the
  last day of the week), ``nL`` (the last day n of the month) and ``n#k`` (the
  k-th day n of the month; then it is the field's only expression).
- ``rate(value unit)``: minute(s), hour(s), day(s). A rule's rate starts when
  the rule is created (a time ListRules does not return), a Scheduler
  schedule's at its StartDate; a "day" is 24 hours of elapsed time.
- ``at(yyyy-mm-ddThh:mm:ss)``: Scheduler's one-time schedule.

EventBridge rules are evaluated in UTC; Scheduler schedules in their
``ScheduleExpressionTimezone``, within StartDate/EndDate. Across a daylight
saving change, Scheduler skips a wall-clock time that does not exist (spring
forward) and runs a repeated one once (fall back): so does this module.

Expressions AWS documents ambiguously are read as Quartz (whose syntax AWS's
cron follows) reads them: a range may wrap (``FRI-MON``), ``/`` is accepted in
day-of-week, and singular/plural units of a rate are not enforced (what AWS
stored, it accepted). Anything else raises :class:`ScheduleError` naming the
field and what is accepted.

The evaluator is written here rather than taken from a package: the
maintained cron packages (croniter, cronsim) speak Unix cron, whose
day-of-week numbering and day-field rules differ from AWS's, and the AWS-cron
ports were measured against these rules (see the project's CHANGELOG).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lambdaguard.errors import LambdaguardError

__all__ = [
    "At",
    "Cron",
    "Rate",
    "Schedule",
    "ScheduleError",
    "parse",
]

_MONTHS: Final = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS: Final = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_UNITS: Final = {
    "minute": 60,
    "minutes": 60,
    "hour": 3600,
    "hours": 3600,
    "day": 86400,
    "days": 86400,
}
_YEAR_MIN: Final = 1970
_YEAR_MAX: Final = 2199


class ScheduleError(LambdaguardError, ValueError):
    """A schedule expression this module cannot evaluate; the message says why."""


class Schedule(Protocol):
    """A schedule's fire times (aware UTC datetimes)."""

    expression: str

    def previous(self, before: datetime) -> datetime | None:
        """The last fire time at or before ``before``; None if it never fired (or unknown)."""
        ...

    def next(self, after: datetime) -> datetime | None:
        """The first fire time after ``after``; None if it never fires again (or unknown)."""
        ...

    def period(self) -> timedelta | None:
        """A fixed interval between fires, when there is one (rate expressions)."""
        ...


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ScheduleError(f"{moment!r} has no time zone: pass an aware datetime")
    return moment.astimezone(UTC)


# -- rate ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Rate:
    """``rate(value unit)``; ``anchor`` is its first fire (unknown for EventBridge rules)."""

    expression: str
    seconds: int
    anchor: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None

    def period(self) -> timedelta:
        """The interval between fires."""
        return timedelta(seconds=self.seconds)

    def previous(self, before: datetime) -> datetime | None:
        """The last fire at or before ``before``; None when the anchor is unknown or later."""
        before = _utc(before)
        if self.end is not None and before > self.end:
            before = self.end
        if self.anchor is None or before < self.anchor:
            return None
        steps = int((before - self.anchor).total_seconds()) // self.seconds
        return self.anchor + timedelta(seconds=steps * self.seconds)

    def next(self, after: datetime) -> datetime | None:
        """The first fire after ``after``; None when the anchor is unknown or past the end."""
        after = _utc(after)
        if self.anchor is None:
            return None
        if after < self.anchor:
            found = self.anchor
        else:
            steps = int((after - self.anchor).total_seconds()) // self.seconds + 1
            found = self.anchor + timedelta(seconds=steps * self.seconds)
        if self.end is not None and found > self.end:
            return None
        return found


# -- at -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class At:
    """Scheduler's one-time ``at(...)`` schedule."""

    expression: str
    when: datetime

    def period(self) -> None:
        """One-time schedules have no interval."""
        return None

    def previous(self, before: datetime) -> datetime | None:
        """The fire time if it is at or before ``before``."""
        return self.when if self.when <= _utc(before) else None

    def next(self, after: datetime) -> datetime | None:
        """The fire time if it is after ``after``."""
        return self.when if self.when > _utc(after) else None


# -- cron ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _DayRule:
    """Day-of-month or day-of-week: plain values plus AWS's special forms."""

    values: frozenset[int] = frozenset()
    last: bool = False  # DOM "L"
    last_weekday: bool = False  # DOM "LW"
    nearest_weekday: int = 0  # DOM "nW"
    last_of: frozenset[int] = frozenset()  # DOW "nL"
    nth: tuple[int, int] | None = None  # DOW "n#k"


def _aws_weekday(day: date) -> int:
    # Python: Monday 0 .. Sunday 6; AWS: Sunday 1 .. Saturday 7.
    return (day.weekday() + 1) % 7 + 1


def _nearest_weekday(year: int, month: int, day: int) -> int | None:
    last = calendar.monthrange(year, month)[1]
    if day > last:
        return None
    wd = date(year, month, day).weekday()
    if wd == 5:  # Saturday: the Friday before, unless that leaves the month
        return day - 1 if day > 1 else day + 2
    if wd == 6:  # Sunday: the Monday after, unless that leaves the month
        return day + 1 if day < last else day - 2
    return day


def _last_weekday(year: int, month: int) -> int:
    last = calendar.monthrange(year, month)[1]
    wd = date(year, month, last).weekday()
    return last - max(0, wd - 4)


@dataclass(frozen=True, slots=True)
class Cron:
    """A six-field AWS cron expression, evaluated in ``timezone`` within [start, end]."""

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...]
    dom: _DayRule | None  # None: "?"
    dow: _DayRule | None
    timezone: str = "UTC"
    start: datetime | None = None
    end: datetime | None = None

    def period(self) -> None:
        """Cron schedules have no fixed interval."""
        return None

    def days(self, year: int, month: int) -> list[int]:
        """The days of ``month`` on which the expression fires, ascending."""
        last = calendar.monthrange(year, month)[1]
        found: set[int] = set()
        rule = self.dom
        if rule is not None:
            found.update(d for d in rule.values if d <= last)
            if rule.last:
                found.add(last)
            if rule.last_weekday:
                found.add(_last_weekday(year, month))
            if rule.nearest_weekday:
                near = _nearest_weekday(year, month, rule.nearest_weekday)
                if near is not None:
                    found.add(near)
            return sorted(found)
        rule = self.dow
        assert rule is not None  # parse() guarantees exactly one day field
        first = _aws_weekday(date(year, month, 1))
        for day in range(1, last + 1):
            wd = (first - 1 + day - 1) % 7 + 1
            last_of = wd in rule.last_of and day + 7 > last
            nth = rule.nth is not None and rule.nth == (wd, (day - 1) // 7 + 1)
            if wd in rule.values or last_of or nth:
                found.add(day)
        return sorted(found)

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _local_times(self, start_local: date, *, reverse: bool) -> Iterator[datetime]:
        """Candidate wall-clock times from ``start_local``'s month on, in order."""
        years = [
            y for y in self.years if (y <= start_local.year if reverse else y >= start_local.year)
        ]
        months = self.months
        hours = self.hours
        minutes = self.minutes
        if reverse:
            years.sort(reverse=True)
            months = tuple(reversed(months))
            hours = tuple(reversed(hours))
            minutes = tuple(reversed(minutes))
        for year in years:
            for month in months:
                if (year, month) > (start_local.year, start_local.month) and reverse:
                    continue
                if (year, month) < (start_local.year, start_local.month) and not reverse:
                    continue
                days = self.days(year, month)
                for day in reversed(days) if reverse else days:
                    for hour in hours:
                        for minute in minutes:
                            yield datetime(year, month, day, hour, minute)

    def _to_utc(self, wall: datetime, zone: ZoneInfo) -> datetime | None:
        aware = wall.replace(tzinfo=zone, fold=0)
        moment = aware.astimezone(UTC)
        # A wall-clock time skipped by a daylight-saving jump does not round-trip.
        if moment.astimezone(zone).replace(tzinfo=None) != wall:
            return None
        return moment

    def next(self, after: datetime) -> datetime | None:
        """The first fire time after ``after`` (UTC), or None if it never fires again."""
        after = _utc(after)
        if self.start is not None and after < self.start:
            after = self.start - timedelta(microseconds=1)
        zone = self._zone()
        local_after = after.astimezone(zone)
        begin = local_after.date() - timedelta(days=1)
        for wall in self._local_times(begin, reverse=False):
            if wall.date() < begin:
                continue
            moment = self._to_utc(wall, zone)
            if moment is None or moment <= after:
                continue
            if self.end is not None and moment > self.end:
                return None
            return moment
        return None

    def previous(self, before: datetime) -> datetime | None:
        """The last fire time at or before ``before`` (UTC), or None if it never fired."""
        before = _utc(before)
        if self.end is not None and before > self.end:
            before = self.end
        zone = self._zone()
        local_before = before.astimezone(zone)
        begin = local_before.date() + timedelta(days=1)
        for wall in self._local_times(begin, reverse=True):
            if wall.date() > begin:
                continue
            moment = self._to_utc(wall, zone)
            if moment is None or moment > before:
                continue
            if self.start is not None and moment < self.start:
                return None
            return moment
        return None


# -- parsing ------------------------------------------------------------------------
_FIELDS: Final = (
    ("minutes", 0, 59),
    ("hours", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 1, 7),
    ("year", _YEAR_MIN, _YEAR_MAX),
)
_ACCEPTED: Final = {
    "minutes": "0-59 with , - * /",
    "hours": "0-23 with , - * /",
    "day-of-month": "1-31 with , - * ? / L W",
    "month": "1-12 or JAN-DEC with , - * /",
    "day-of-week": "1-7 or SUN-SAT with , - * ? L #",
    "year": "1970-2199 with , - * /",
}


def _bad(expression: str, field: str, part: str, why: str = "") -> ScheduleError:
    extra = f": {why}" if why else ""
    return ScheduleError(
        f"{expression}: the {field} field {part!r} cannot be read{extra} "
        f"(accepted: {_ACCEPTED[field]})"
    )


def _number(token: str, field: str, expression: str) -> int:
    upper = token.upper()
    if field == "month" and upper in _MONTHS:
        return _MONTHS[upper]
    if field == "day-of-week" and upper in _DAYS:
        return _DAYS[upper]
    if not token.isdigit():
        raise _bad(expression, field, token, "not a number or name")
    return int(token)


def _values(part: str, field: str, low: int, high: int, expression: str) -> set[int]:
    """A plain list element: ``*``, ``a``, ``a-b``, with an optional ``/step``."""
    step = 1
    base = part
    if "/" in part:
        base, _, step_text = part.partition("/")
        if not step_text.isdigit() or int(step_text) == 0:
            raise _bad(expression, field, part, "the increment must be a positive number")
        step = int(step_text)
    if base == "*":
        first, last = low, high
    elif "-" in base:
        a, _, b = base.partition("-")
        first, last = _number(a, field, expression), _number(b, field, expression)
    else:
        first = _number(base, field, expression)
        last = high if "/" in part else first
    for value in (first, last):
        if not low <= value <= high:
            raise _bad(expression, field, part, f"{value} is outside {low}-{high}")
    if first <= last:
        return set(range(first, last + 1, step))
    # A wrapping range (FRI-MON, 22-2) runs to the end of the field and on from its start.
    span = list(range(first, high + 1)) + list(range(low, last + 1))
    return set(span[::step])


def _day_of_month(text: str, expression: str) -> _DayRule | None:
    if text == "?":
        return None
    values: set[int] = set()
    last = last_weekday = False
    nearest = 0
    for part in text.split(","):
        upper = part.upper()
        if upper == "L":
            last = True
        elif upper == "LW":
            last_weekday = True
        elif upper.endswith("W"):
            day = upper[:-1]
            if not day.isdigit() or not 1 <= int(day) <= 31:
                raise _bad(expression, "day-of-month", part, "W follows a single day 1-31")
            if "," in text:
                raise _bad(expression, "day-of-month", text, "W takes a single day, not a list")
            nearest = int(day)
        else:
            values |= _values(part, "day-of-month", 1, 31, expression)
    return _DayRule(frozenset(values), last, last_weekday, nearest)


def _day_of_week(text: str, expression: str) -> _DayRule | None:
    if text == "?":
        return None
    values: set[int] = set()
    last_of: set[int] = set()
    nth: tuple[int, int] | None = None
    parts = text.split(",")
    for part in parts:
        upper = part.upper()
        if "#" in upper:
            if len(parts) > 1:
                raise _bad(
                    expression, "day-of-week", text, "with #, it is the field's only expression"
                )
            day, _, which = upper.partition("#")
            number = _number(day, "day-of-week", expression)
            if not 1 <= number <= 7 or not which.isdigit() or not 1 <= int(which) <= 5:
                raise _bad(expression, "day-of-week", part, "n#k needs n 1-7 and k 1-5")
            nth = (number, int(which))
        elif upper == "L":
            values.add(7)  # alone, L is the last day of the week: Saturday
        elif upper.endswith("L"):
            number = _number(upper[:-1], "day-of-week", expression)
            if not 1 <= number <= 7:
                raise _bad(expression, "day-of-week", part, "nL needs n 1-7")
            last_of.add(number)
        else:
            values |= _values(part, "day-of-week", 1, 7, expression)
    return _DayRule(frozenset(values), last_of=frozenset(last_of), nth=nth)


def _cron(
    expression: str,
    body: str,
    timezone: str,
    start: datetime | None,
    end: datetime | None,
) -> Cron:
    fields = body.split()
    if len(fields) != 6:
        raise ScheduleError(
            f"{expression}: a cron expression has six fields "
            "(minutes hours day-of-month month day-of-week year), "
            f"this one has {len(fields)}"
        )
    minute, hour, dom_text, month, dow_text, year = fields
    if (dom_text == "?") == (dow_text == "?"):
        raise ScheduleError(
            f"{expression}: exactly one of day-of-month and day-of-week must be '?'"
        )
    plain: list[tuple[int, ...]] = []
    for text, (name, low, high) in zip(
        (minute, hour, month, year), (_FIELDS[0], _FIELDS[1], _FIELDS[3], _FIELDS[5]), strict=True
    ):
        found: set[int] = set()
        for part in text.split(","):
            if part == "?":
                raise _bad(expression, name, part, "'?' belongs in a day field")
            found |= _values(part, name, low, high, expression)
        plain.append(tuple(sorted(found)))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"{expression}: unknown time zone {timezone!r}") from exc
    return Cron(
        expression=expression,
        minutes=plain[0],
        hours=plain[1],
        months=plain[2],
        years=plain[3],
        dom=_day_of_month(dom_text, expression),
        dow=_day_of_week(dow_text, expression),
        timezone=timezone,
        start=start,
        end=end,
    )


_SHAPE: Final = re.compile(r"^\s*(cron|rate|at)\((.*)\)\s*$", re.IGNORECASE | re.DOTALL)


def parse(
    expression: str,
    *,
    timezone: str = "UTC",
    start: datetime | None = None,
    end: datetime | None = None,
    anchor: datetime | None = None,
) -> Cron | Rate | At:
    """Read a schedule expression.

    ``timezone`` is Scheduler's ``ScheduleExpressionTimezone`` (EventBridge
    rules: UTC); ``start``/``end`` its StartDate/EndDate; ``anchor`` the
    first fire of a rate (a Scheduler schedule's StartDate or creation time;
    unknown for an EventBridge rule).
    """
    match = _SHAPE.match(expression or "")
    if match is None:
        raise ScheduleError(
            f"{expression!r} is not a schedule expression: expected cron(...), rate(...) or at(...)"
        )
    kind, body = match.group(1).lower(), match.group(2).strip()
    start = _utc(start) if start is not None else None
    end = _utc(end) if end is not None else None
    if kind == "cron":
        return _cron(expression, body, timezone or "UTC", start, end)
    if kind == "rate":
        value, _, unit = body.partition(" ")
        unit = unit.strip().lower()
        if not value.isdigit() or int(value) <= 0 or unit not in _UNITS:
            raise ScheduleError(
                f"{expression}: expected rate(value unit) with a positive whole value "
                "and a unit of minute(s), hour(s) or day(s)"
            )
        first = _utc(anchor) if anchor is not None else start
        return Rate(expression, int(value) * _UNITS[unit], first, start, end)
    try:
        wall = datetime.strptime(body, "%Y-%m-%dT%H:%M:%S")
        zone = ZoneInfo(timezone or "UTC")
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise ScheduleError(
            f"{expression}: expected at(yyyy-mm-ddThh:mm:ss) and a known time zone ({exc})"
        ) from exc
    return At(expression, wall.replace(tzinfo=zone).astimezone(UTC))
