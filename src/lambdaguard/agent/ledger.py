"""Evidence mode: what this execution environment has already exported, and counts of the rest.

The permission evidence a proposal needs is a set of distinct facts, and a
warm function repeats the same few: so each environment remembers the facts
it has exported (:meth:`Ledger.new_facts`) and the agent exports an
invocation as spans, right after its response, only when it holds a fact not
seen before (or trace mode samples it). Everything else is only counted here,
and the counts are flushed as OTLP metrics (cumulative sums, start time = this
environment's start) at most every ``LAMBDAGUARD_FLUSH_INTERVAL`` seconds of
wall time, piggy-backed on the first invocation after the interval.

A fact is one of:

- an AWS call: the phase it ran in and everything recorded of it except what
  differs per occurrence (times, HTTP status, request id, retries, count) —
  so service, operation, region, endpoint, the (folded) identifying params,
  the error code, the response facts, whose credentials and how it was seen;
- a connection: host, port, TLS, AWS or not;
- an invocation's circumstances: trigger kind and source, alias, version,
  outcome and error type;
- the environment's INIT and how it ended (new once per environment, so the
  INIT record always goes out with the first invocation, or alone as an init
  error when the handler cannot be loaded).

Every count is kept twice: the part whose invocations were also exported as
spans (``counted_in_spans``; the collector already counted those), and the
rest. A metrics backend sums both; the collector adds only the second.

What an environment that dies between flushes loses: the counts since its last
successful flush, at most one interval of repeats (the collector's
invocation totals are then lower than Lambda's; CloudWatch's ``Invocations``
stays the source of truth for volume). It never loses a distinct fact: a new
fact is exported before the extension calls ``event/next``, so before Lambda
can freeze or reclaim the environment. A fact is remembered only once its
export was acknowledged (a failed export is carried and the fact is exported
again the next time it occurs), and at most ``max_facts`` are remembered:
beyond that a fact is exported every time it occurs, never dropped.

Time comes from an injected clock (``time.time_ns`` by default: wall time,
which keeps running while Lambda freezes the environment).
"""

# No ``from __future__ import annotations``: string annotations make
# ``typing.NamedTuple`` compile each field's annotation (Snapshot's fields) at import
# (see lambdaguard.agent.recorder).
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from lambdaguard import semconv
from lambdaguard.agent.recorder import AwsCall, Record

__all__ = ["Histogram", "Ledger", "Snapshot", "call_fact", "call_facts", "duration_index"]

# What differs between occurrences of the same call (never part of a fact).
_PER_OCCURRENCE: dict[str, Any] = {
    "start_ns": 0,
    "end_ns": 0,
    "status": 0,
    "request_id": "",
    "retries": 0,
    "count": 1,
}

# Fact kinds (the first element of a fact key).
CALL = "call"
HOST = "host"
INVOCATION = "invocation"
INIT = "init"

_SCALE = semconv.DURATION_SCALE
_PER_DOUBLING = 1 << _SCALE


# The per-occurrence fields AwsCall has (decided once: the class is fixed).
_BLANK: dict[str, Any] = {
    name: value for name, value in _PER_OCCURRENCE.items() if name in AwsCall._fields
}
# The same as (position, blank value): call_fact runs twice per call on every
# invocation, after the response but before `next` (billed), and
# ``_replace(**_BLANK)`` costs ~4 µs where this costs ~1 µs.
_BLANK_AT = tuple((AwsCall._fields.index(name), value) for name, value in _BLANK.items())
_new_call = tuple.__new__


def call_fact(call: AwsCall, phase: str) -> tuple[str, str, AwsCall]:
    """The fact an AWS call stands for: its phase and the call without per-occurrence values."""
    values = list(call)
    for at, blank in _BLANK_AT:
        values[at] = blank
    return (CALL, phase, _new_call(AwsCall, values))


# The call facts of each record, in the records' order (see call_facts).
CallFacts = Sequence[Sequence[tuple[str, str, AwsCall]]]


def call_facts(records: Sequence[Record]) -> list[list[tuple[str, str, AwsCall]]]:
    """Every record's call facts, computed once for both :meth:`Ledger.new_facts` and
    :meth:`Ledger.count` of the same records (each call's fact is a new tuple to hash)."""
    return [[call_fact(call, record.phase) for call in record.aws_calls] for record in records]


def duration_index(seconds: float) -> int:
    """The exponential-histogram bucket of a duration: (2**(i/16), 2**((i+1)/16)] seconds."""
    return math.ceil(math.log2(seconds) * _PER_DOUBLING) - 1


class Histogram:
    """A cumulative base-2 exponential histogram of durations (seconds)."""

    __slots__ = ("buckets", "count", "high", "low", "total", "zero")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.total = 0.0
        self.zero = 0
        self.low = math.inf
        self.high = 0.0

    def add(self, seconds: float) -> None:
        """Count one duration."""
        self.count += 1
        if seconds <= 0:
            self.zero += 1
            self.low = min(self.low, 0.0)
            return
        self.total += seconds
        self.low = min(self.low, seconds)
        self.high = max(self.high, seconds)
        index = duration_index(seconds)
        self.buckets[index] = self.buckets.get(index, 0) + 1

    def dense(self) -> tuple[int, tuple[int, ...]]:
        """(offset, counts) of the populated range, zeros in between."""
        if not self.buckets:
            return 0, ()
        low, high = min(self.buckets), max(self.buckets)
        return low, tuple(self.buckets.get(i, 0) for i in range(low, high + 1))


class Snapshot(NamedTuple):
    """The cumulative counts to flush: every series changed since the last successful flush.

    ``calls``: ((phase, call), counted_in_spans, total); ``hosts``: ((host,
    port, tls, aws), counted_in_spans, opened, failed); ``invocations``:
    ((kind, source, alias, faas trigger, outcome, error type), counted_in_spans,
    total); ``coldstarts``: (faas trigger, counted_in_spans, total);
    ``durations``: (faas trigger, counted_in_spans, histogram).
    """

    start_ns: int
    time_ns: int
    calls: tuple[tuple[tuple[str, AwsCall], bool, int], ...]
    hosts: tuple[tuple[tuple[str, int, bool, bool], bool, int, int], ...]
    invocations: tuple[tuple[tuple[str, str, str, str, str, str], bool, int], ...]
    coldstarts: tuple[tuple[str, bool, int], ...]
    durations: tuple[tuple[str, bool, Histogram], ...]

    def empty(self) -> bool:
        """True when there is nothing to send."""
        return not (
            self.calls or self.hosts or self.invocations or self.coldstarts or self.durations
        )


def _facts_of(
    record: Record, calls: Sequence[tuple[str, str, AwsCall]] | None = None
) -> Iterable[tuple[Any, ...]]:
    if calls is None:
        calls = [call_fact(call, record.phase) for call in record.aws_calls]
    yield from calls
    for conn in record.connections:
        yield (HOST, conn.host, conn.port, conn.tls, conn.aws)
    if record.phase == semconv.PHASE_INIT:
        # The environment's INIT itself (and how it ended: an init error is
        # the only record a function whose handler cannot load ever sends).
        yield (INIT, record.outcome, record.error_type)
    elif record.phase == semconv.PHASE_INVOKE:
        trigger = record.trigger
        yield (
            INVOCATION,
            trigger.kind,
            trigger.source,
            record.alias,
            record.version,
            record.outcome,
            record.error_type,
        )


def _invocation_series(record: Record) -> tuple[str, str, str, str, str, str]:
    """The invocation counter's key: trigger kind and source, alias, FaaS trigger, outcome, error."""
    trigger = record.trigger
    return (
        trigger.kind,
        trigger.source,
        record.alias,
        trigger.faas_trigger,
        record.outcome,
        record.error_type,
    )


# Signatures remembered by one ledger (a warm function has a handful).
_MAX_REPEATS = 256


# Durations of repeats waiting for a flush, per signature, before they are
# added to its histogram anyway: bounds memory (a float each), not results.
_MAX_PENDING_DURATIONS = 1024


def _add_durations(entry: "_Repeat") -> None:
    histogram = entry.histogram
    if histogram is not None:
        for seconds in entry.durations:
            histogram.add(seconds)
    entry.durations.clear()


class _Repeat:
    """What one more invocation of a learnt signature adds: (counts, index, step, dirty key)
    per series, the duration histogram, repeats not yet added, and the agent's cached
    log-line tail for it."""

    __slots__ = ("durations", "histogram", "log_tail", "pending", "series")

    def __init__(
        self,
        series: tuple[tuple[list[int] | None, int, int, tuple[Any, ...]], ...],
        histogram: Histogram | None,
    ) -> None:
        self.series = series
        self.histogram = histogram
        self.pending = 0
        # The pending repeats' durations (s), added to the histogram when settled.
        self.durations: list[float] = []
        self.log_tail = ""


class Ledger:
    """One per environment: facts already exported, and every count since the environment started."""

    def __init__(
        self,
        interval_s: float,
        max_facts: int,
        clock: Callable[[], int] = time.time_ns,
        start_ns: int | None = None,
    ) -> None:
        self._clock = clock
        self.interval_ns = int(interval_s * 1e9)
        self.max_facts = max_facts
        # The start time of every series: stable for the environment's life.
        self.start_ns = clock() if start_ns is None else start_ns
        # The first flush waits one interval from the first count: the first
        # invocation's facts are new, so it is exported as spans anyway.
        self.last_flush_ns = clock()
        self._known: set[tuple[Any, ...]] = set()
        # series key -> [counted in spans, not counted in spans]
        self._calls: dict[tuple[str, AwsCall], list[int]] = {}
        self._hosts: dict[tuple[str, int, bool, bool], list[int]] = {}  # + failures x2
        self._invocations: dict[tuple[str, str, str, str, str, str], list[int]] = {}
        self._coldstarts: dict[str, list[int]] = {}
        self._durations: dict[tuple[str, bool], Histogram] = {}
        self._dirty: set[tuple[Any, ...]] = set()
        # Repeats counted by signature (see repeat()): signature -> _Repeat, and
        # those whose counts are not yet added to the series above.
        self._repeats: dict[tuple[Any, ...], _Repeat] = {}
        self._unsettled: list[_Repeat] = []
        self.flushes = 0
        self.failed_flushes = 0

    # -- facts -----------------------------------------------------------------------
    def new_facts(
        self, records: Sequence[Record], calls: CallFacts | None = None
    ) -> list[tuple[Any, ...]]:
        """The facts of ``records`` this environment has not exported yet (first-seen order).

        ``calls``: :func:`call_facts` of ``records``, when the caller has them.
        """
        known = self._known
        out: list[tuple[Any, ...]] = []
        seen: set[tuple[Any, ...]] = set()
        for at, record in enumerate(records):
            for fact in _facts_of(record, calls[at] if calls is not None else None):
                if fact not in known and fact not in seen:
                    seen.add(fact)
                    out.append(fact)
        return out

    def remember(self, facts: Iterable[tuple[Any, ...]]) -> None:
        """``facts`` reached the collector: from now on they are repeats (within ``max_facts``)."""
        for fact in facts:
            if len(self._known) >= self.max_facts:
                return
            self._known.add(fact)

    @property
    def known(self) -> int:
        """How many distinct facts are remembered."""
        return len(self._known)

    # -- counts ----------------------------------------------------------------------
    def count(
        self, records: Sequence[Record], *, in_spans: bool, calls: CallFacts | None = None
    ) -> None:
        """Count every call, connection and invocation of ``records``.

        ``calls``: :func:`call_facts` of ``records``, when the caller has them.
        """
        flag = 0 if in_spans else 1
        dirty = self._dirty
        for at, record in enumerate(records):
            facts = calls[at] if calls is not None else None
            for index, call in enumerate(record.aws_calls):
                _, phase, fact = (
                    facts[index] if facts is not None else call_fact(call, record.phase)
                )
                key = (phase, fact)
                counts = self._calls.get(key)
                if counts is None:
                    if not self._room(key):
                        continue
                    counts = self._calls[key] = [0, 0]
                counts[flag] += max(call.count, 1)
                dirty.add((CALL, key, flag))
            for conn in record.connections:
                host = (conn.host, conn.port, conn.tls, conn.aws)
                hcounts = self._hosts.get(host)
                if hcounts is None:
                    if not self._room((HOST, *host)):
                        continue
                    hcounts = self._hosts[host] = [0, 0, 0, 0]
                hcounts[flag] += conn.count
                hcounts[2 + flag] += conn.failures
                dirty.add((HOST, host, flag))
            if record.phase != semconv.PHASE_INVOKE:
                continue
            trigger = record.trigger
            inv = _invocation_series(record)
            icounts = self._invocations.get(inv)
            if icounts is None:
                if not self._room((INVOCATION, *inv)):
                    continue
                icounts = self._invocations[inv] = [0, 0]
            icounts[flag] += 1
            dirty.add((INVOCATION, inv, flag))
            if record.cold_start:
                cold = self._coldstarts.setdefault(trigger.faas_trigger, [0, 0])
                cold[flag] += 1
                dirty.add(("coldstart", trigger.faas_trigger, flag))
            hkey = (trigger.faas_trigger, not flag)
            histogram = self._durations.get(hkey)
            if histogram is None:
                histogram = self._durations[hkey] = Histogram()
            histogram.add((record.end_ns - record.start_ns) / 1e9)
            dirty.add(("duration", hkey, flag))

    # -- repeats by signature ---------------------------------------------------------
    def repeat(self, signature: tuple[Any, ...], seconds: float) -> _Repeat | None:
        """Count one invocation whose signature was learnt; None when it was not.

        The cheap path for a warm environment's usual invocation: one lookup
        and one increment instead of folding, fact-keying and counting each
        call (hashing every call's 19-field fact tuple). The per-series counts
        are added when they are read (:meth:`due`, :meth:`snapshot`), the same
        totals :meth:`count` would have made; so are the durations, each kept
        until then (each value matters, not only how many), at most
        ``_MAX_PENDING_DURATIONS`` of them per signature.
        """
        entry = self._repeats.get(signature)
        if entry is None:
            return None
        if not entry.pending:
            self._unsettled.append(entry)
        entry.pending += 1
        if entry.histogram is not None:
            durations = entry.durations
            durations.append(seconds)
            if len(durations) >= _MAX_PENDING_DURATIONS:
                _add_durations(entry)
        return entry

    def learn_repeat(
        self,
        signature: tuple[Any, ...],
        record: Record,
        calls: Sequence[tuple[str, str, AwsCall]],
    ) -> _Repeat | None:
        """Remember what counting ``record`` (just counted, not in spans) adds, under ``signature``.

        The caller vouches that ``signature`` stands for exactly this
        record's facts, that every one of them is already known (a repeat),
        and that ``record`` was counted with ``in_spans=False``. A cold start
        is never a repeat. Bounded: the table is cleared when full.
        """
        if record.phase != semconv.PHASE_INVOKE or record.cold_start:
            return None
        series: list[tuple[list[int] | None, int, int, tuple[Any, ...]]] = []
        for index, call in enumerate(record.aws_calls):
            key = (calls[index][1], calls[index][2])
            counts = self._calls.get(key)
            if counts is not None:  # None: no room, so count() did not count it either
                series.append((counts, 1, max(call.count, 1), (CALL, key, 1)))
        for conn in record.connections:
            host = (conn.host, conn.port, conn.tls, conn.aws)
            hcounts = self._hosts.get(host)
            if hcounts is not None:
                series.append((hcounts, 1, conn.count, (HOST, host, 1)))
                series.append((hcounts, 3, conn.failures, (HOST, host, 1)))
        trigger = record.trigger
        inv = _invocation_series(record)
        icounts = self._invocations.get(inv)
        histogram = None
        if icounts is not None:  # as in count(): no room, no duration either
            series.append((icounts, 1, 1, (INVOCATION, inv, 1)))
            hkey = (trigger.faas_trigger, False)
            histogram = self._durations.get(hkey)
            if histogram is not None:
                series.append((None, 0, 0, ("duration", hkey, 1)))  # marks it dirty only
        if len(self._repeats) >= _MAX_REPEATS:
            self.settle()
            self._repeats.clear()
        entry = _Repeat(tuple(series), histogram)
        self._repeats[signature] = entry
        return entry

    def settle(self) -> None:
        """Add the counts of repeats counted by signature to their series."""
        unsettled = self._unsettled
        if not unsettled:
            return
        dirty = self._dirty
        for entry in unsettled:
            n = entry.pending
            entry.pending = 0
            if entry.durations:
                _add_durations(entry)
            for counts, at, step, dirty_key in entry.series:
                if counts is not None:
                    counts[at] += step * n
                dirty.add(dirty_key)
        unsettled.clear()

    def _room(self, key: object) -> bool:
        # Counters for more distinct keys than facts remembered would be
        # unbounded for a function whose every call is new; beyond the bound
        # such occurrences are exported as spans anyway (never remembered).
        total = len(self._calls) + len(self._hosts) + len(self._invocations)
        return total < 2 * self.max_facts + 64

    # -- flushing --------------------------------------------------------------------
    def due(self, now_ns: int | None = None) -> bool:
        """True when counts changed and the interval since the last flush has passed."""
        if not self._dirty and not self._unsettled:
            return False
        return self.interval_passed(now_ns)

    def interval_passed(self, now_ns: int | None = None) -> bool:
        """True when the interval since the last flush has passed (changes or not): whatever
        is counted now is then due."""
        now = self._clock() if now_ns is None else now_ns
        return now - self.last_flush_ns >= self.interval_ns

    def snapshot(self, now_ns: int | None = None) -> Snapshot:
        """The cumulative value of every series changed since the last successful flush."""
        now = self._clock() if now_ns is None else now_ns
        self.settle()
        dirty = self._dirty
        calls = []
        hosts = []
        invocations = []
        coldstarts = []
        durations = []
        for kind, key, flag in sorted(dirty, key=repr):
            in_spans = flag == 0
            if kind == CALL:
                calls.append((key, in_spans, self._calls[key][flag]))
            elif kind == HOST:
                counts = self._hosts[key]
                hosts.append((key, in_spans, counts[flag], counts[2 + flag]))
            elif kind == INVOCATION:
                invocations.append((key, in_spans, self._invocations[key][flag]))
            elif kind == "coldstart":
                coldstarts.append((key, in_spans, self._coldstarts[key][flag]))
            else:
                durations.append((key[0], in_spans, self._durations[key]))
        return Snapshot(
            self.start_ns,
            now,
            tuple(calls),
            tuple(hosts),
            tuple(invocations),
            tuple(coldstarts),
            tuple(durations),
        )

    def flushed(self, snapshot: Snapshot, ok: bool) -> None:
        """The flush of ``snapshot`` ended; after a failure its series are sent again next time.

        Either way the next flush waits a whole interval: a collector that is
        down is not asked again on every invocation, and the cumulative values
        sent later cover what this flush missed.
        """
        self.last_flush_ns = snapshot.time_ns
        if ok:
            self.flushes += 1
            # Series counted after the snapshot was taken stay dirty: the
            # snapshot is taken and sent on the one exporting thread, so nothing
            # is counted meanwhile, but clearing by what was sent keeps it exact.
            sent: set[tuple[Any, ...]] = set()
            for call_key, in_spans, _ in snapshot.calls:
                sent.add((CALL, call_key, 0 if in_spans else 1))
            for host_key, in_spans, _, _ in snapshot.hosts:
                sent.add((HOST, host_key, 0 if in_spans else 1))
            for inv_key, in_spans, _ in snapshot.invocations:
                sent.add((INVOCATION, inv_key, 0 if in_spans else 1))
            for trigger, in_spans, _ in snapshot.coldstarts:
                sent.add(("coldstart", trigger, 0 if in_spans else 1))
            for trigger, in_spans, _ in snapshot.durations:
                sent.add(("duration", (trigger, in_spans), 0 if in_spans else 1))
            self._dirty -= sent
        else:
            self.failed_flushes += 1
