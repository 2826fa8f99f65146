"""Cardinality caps: how many distinct functions, calls and hosts evidence may hold.

A token holder (or a bug, or ``record_full_keys`` on a function writing
millions of objects) can send 50,000 function names in one request, or a
distinct call per span forever; every distinct value becomes a store row that
lives until pruned. So:

* per request: at most ``max_functions_per_request`` functions, and per
  function ``max_calls_per_request`` distinct calls and
  ``max_hosts_per_request`` distinct hosts;
* per store: at most ``max_functions`` functions, and per function
  ``max_calls_per_function`` distinct calls (the store's row key: the function
  and :func:`~lambdaguard.collector.spans.call_key`) and
  ``max_hosts_per_function`` distinct hosts (host, port, tls).

What is over a cap is not stored, but counted: in the request's
partial-success answer (``rejected_spans`` / ``rejected_data_points`` with
the cap's setting named), in ``lambdaguard_rejected_total{reason="over_cap"}``
and in the collector's stats (``over_cap``). Nothing is dropped silently. A
call span over a cap is left out whole. A span whose hosts are over a cap
(an invocation span carries its connections as events) is stored without
those hosts, so the invocation still counts (a function at its host cap must
not look idle), and is counted once as over the cap. Repeats of a call or
host the store already holds are never over the store-wide caps: they are not
new rows. OTLP metrics (the agent's repeat counts, :mod:`.metrics`) go through
the same store-wide caps (:meth:`Caps.apply_points`): a count for a call,
host or function over its cap creates no row either.

State and memory. The store-wide caps are checked against what this
collector knows the store holds: loaded at start (:meth:`Caps.load`, after
PostgreSQL's pending counts are rolled up, so a restart keeps the state),
plus what it admitted since. Per function it keeps the set of stored call
keys (the store's own 16-byte keys) and the set of 64-bit hashes of
(host, port, tls) — up to the caps. Measured with ``tracemalloc`` (CPython
3.11, 100 entries per function): about 134 bytes per call and 120 bytes per
host, i.e. memory follows the ``lg_calls`` and ``lg_hosts`` rows (100,000
stored calls cost ~13 MB). A function at both caps costs about
``max_calls_per_function`` x 134 + ``max_hosts_per_function`` x 120 bytes
(1.5 MB at the defaults); the ceiling is ``max_functions`` times that, so
where token holders are not trusted lower ``max_functions``. A hash collision
(two hosts of one function with equal 64-bit hashes, about n²/2⁶⁵) can only
let one host in over the cap, never keep one out.

The hot path: a span whose function, call and hosts are already known costs
a few set lookups and its call's store key, which
:func:`~lambdaguard.collector.spans.call_key` memoises per distinct call
object (``extract`` shares one object among equal calls of a request, and of
requests whose call spans repeat), so the caps and the store hash a distinct
call once between them; the lock is taken only to admit something new.
Measured before that memo (``bench/_caps_cost.py``, bench/README): an
agent-shaped request (21 spans, 5 distinct calls) cost ~43,000 instructions
more than with the per-request caps alone, about 1.5 % of its decode, extract
and store, almost all of it the 5 digests.

Limits of the view: several collectors on one PostgreSQL each enforce the
store-wide caps on their own view, so the store can exceed a cap by what the
others added since they started (at most ``collectors - 1`` times the cap for
one function, when all of them fill the same function at once). An
admission is kept even when the commit that held it failed, and rows removed
by ``lambdaguard store prune`` still count until the next start: both err
towards refusing, never towards unbounded growth. A cap lowered below what
the store already holds keeps those rows (and their repeats count); nothing
new is admitted for that function until pruning and a restart make room.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from lambdaguard.collector.spans import CallFact, HostFact, call_key

if TYPE_CHECKING:
    from lambdaguard.collector.settings import CollectorConfig
    from lambdaguard.collector.store import Store

__all__ = ["CapResult", "Caps"]

# The caps, in the order their counts are reported.
_FUNCTIONS_PER_REQUEST: Final = "functions per request"
_FUNCTIONS: Final = "functions in the store"
_CALLS_PER_REQUEST: Final = "calls per request"
_CALLS: Final = "calls per function in the store"
_HOSTS_PER_REQUEST: Final = "hosts per request"
_HOSTS: Final = "hosts per function in the store"
_HOST_CAPS: Final = frozenset((_HOSTS_PER_REQUEST, _HOSTS))


@dataclass(frozen=True, slots=True)
class CapResult:
    """The facts within the caps, and how many spans (or data points) were over and why."""

    kept: tuple[Any, ...]
    over: int
    reason: str


def _host_id(host: str, port: int, tls: bool) -> int:
    # A 64-bit hash holds half the memory of the (host, port, tls) tuple.
    return hash((host, port, bool(tls)))


class Caps:
    """Applies the per-request and store-wide caps to one request's span facts or points."""

    def __init__(
        self,
        *,
        max_functions_per_request: int,
        max_calls_per_request: int,
        max_hosts_per_request: int,
        max_functions: int,
        max_calls_per_function: int,
        max_hosts_per_function: int,
        known_functions: Iterable[str] = (),
        known_calls: Iterable[tuple[str, bytes]] = (),
        known_hosts: Iterable[tuple[str, str, int, bool]] = (),
    ) -> None:
        self.max_functions_per_request = max_functions_per_request
        self.max_calls_per_request = max_calls_per_request
        self.max_hosts_per_request = max_hosts_per_request
        self.max_functions = max_functions
        self.max_calls_per_function = max_calls_per_function
        self.max_hosts_per_function = max_hosts_per_function
        self._known = set(known_functions)
        # Per function: the store's call keys, and hashes of (host, port, tls).
        self._calls: dict[str, set[bytes]] = {}
        self._hosts: dict[str, set[int]] = {}
        calls = self._calls
        self._n_calls = self._n_hosts = 0  # entries in all the sets, for stats
        for arn, key in known_calls:
            found = calls.get(arn)
            if found is None:
                found = calls[arn] = set()
                self._known.add(arn)
            found.add(bytes(key))
        self._n_calls = sum(len(s) for s in calls.values())
        hosts = self._hosts
        for arn, host, port, tls in known_hosts:
            seen = hosts.get(arn)
            if seen is None:
                seen = hosts[arn] = set()
                self._known.add(arn)
            seen.add(_host_id(host, port, tls))
        self._n_hosts = sum(len(s) for s in hosts.values())
        # Taken only to admit something new; lookups of known things take no lock.
        self._lock = threading.Lock()
        self._limits = {
            _FUNCTIONS_PER_REQUEST: f"max_functions_per_request={max_functions_per_request}",
            _FUNCTIONS: f"max_functions={max_functions}",
            _CALLS_PER_REQUEST: f"max_calls_per_request={max_calls_per_request} per function",
            _CALLS: f"max_calls_per_function={max_calls_per_function}",
            _HOSTS_PER_REQUEST: f"max_hosts_per_request={max_hosts_per_request} per function",
            _HOSTS: f"max_hosts_per_function={max_hosts_per_function}",
        }

    @classmethod
    def load(cls, config: CollectorConfig, store: Store) -> Caps:
        """The caps of ``config``, knowing what ``store`` holds (functions, calls, hosts)."""
        return cls(
            max_functions_per_request=config.max_functions_per_request,
            max_calls_per_request=config.max_calls_per_request,
            max_hosts_per_request=config.max_hosts_per_request,
            max_functions=config.max_functions,
            max_calls_per_function=config.max_calls_per_function,
            max_hosts_per_function=config.max_hosts_per_function,
            known_functions=store.function_arns(),
            known_calls=store.call_keys(),
            known_hosts=store.host_keys(),
        )

    def known(self) -> tuple[int, int, int]:
        """(functions, calls, hosts) this collector counts as stored: what its memory holds."""
        with self._lock:
            return len(self._known), self._n_calls, self._n_hosts

    # -- admission (the lock is held only here) ----------------------------------------
    def _admit_function(self, arn: str) -> bool:
        with self._lock:
            if arn in self._known:
                return True
            if len(self._known) >= self.max_functions:
                return False
            self._known.add(arn)
            return True

    def _admit_call(self, arn: str, key: bytes) -> bool:
        with self._lock:
            known = self._calls.get(arn)
            if known is None:
                known = self._calls[arn] = set()
            elif key in known:
                return True
            if len(known) >= self.max_calls_per_function:
                return False
            known.add(key)
            self._n_calls += 1
            return True

    def _admit_host(self, arn: str, ident: int) -> bool:
        with self._lock:
            known = self._hosts.get(arn)
            if known is None:
                known = self._hosts[arn] = set()
            elif ident in known:
                return True
            if len(known) >= self.max_hosts_per_function:
                return False
            known.add(ident)
            self._n_hosts += 1
            return True

    # -- spans ---------------------------------------------------------------------------
    def apply(self, facts: Sequence[Any]) -> CapResult:
        """Keep the span facts within every cap, in order; count the spans over one."""
        functions: set[str] = set()
        request_calls: dict[str, set[bytes]] = {}
        request_hosts: dict[str, set[int]] = {}
        # extract() shares one CallFact among equal calls of a request: digest
        # each distinct object once (ids are stable while `facts` holds them).
        digests: dict[int, bytes] = {}
        known_functions = self._known
        known_calls = self._calls
        kept: list[Any] = []
        over: dict[str, int] = {}
        for f in facts:
            arn = f.function.arn
            if arn not in functions:
                if len(functions) >= self.max_functions_per_request:
                    over[_FUNCTIONS_PER_REQUEST] = over.get(_FUNCTIONS_PER_REQUEST, 0) + 1
                    continue
                if arn not in known_functions and not self._admit_function(arn):
                    over[_FUNCTIONS] = over.get(_FUNCTIONS, 0) + 1
                    continue
                functions.add(arn)
            call = f.call
            if call is not None:
                key = digests.get(id(call))
                if key is None:
                    key = digests[id(call)] = call_key(call)
                seen = request_calls.get(arn)
                if seen is None:
                    seen = request_calls[arn] = set()
                if key not in seen:
                    if len(seen) >= self.max_calls_per_request:
                        over[_CALLS_PER_REQUEST] = over.get(_CALLS_PER_REQUEST, 0) + 1
                        continue
                    stored = known_calls.get(arn)
                    if (stored is None or key not in stored) and not self._admit_call(arn, key):
                        over[_CALLS] = over.get(_CALLS, 0) + 1
                        continue
                    seen.add(key)
            if f.hosts:
                trimmed, cap = self._within_host_caps(f, arn, request_hosts)
                if cap:
                    over[cap] = over.get(cap, 0) + 1
                kept.append(trimmed)
                continue
            kept.append(f)
        if not over:
            return CapResult(tuple(kept), 0, "")
        return CapResult(tuple(kept), sum(over.values()), self._reason("span", over))

    def _within_host_caps(
        self, f: Any, arn: str, request_hosts: dict[str, set[int]]
    ) -> tuple[Any, str]:
        """The span with its hosts over a cap left out, and the first cap they were over."""
        mine = request_hosts.get(arn)
        if mine is None:
            mine = request_hosts[arn] = set()
        stored = self._hosts.get(arn)
        cap = ""
        kept: list[Any] = []
        for pair in f.hosts:
            h = pair[0]
            ident = _host_id(h.host, h.port, h.tls)
            if ident not in mine:
                if len(mine) >= self.max_hosts_per_request:
                    cap = cap or _HOSTS_PER_REQUEST
                    continue
                if (stored is None or ident not in stored) and not self._admit_host(arn, ident):
                    cap = cap or _HOSTS
                    continue
                mine.add(ident)
            kept.append(pair)
        if not cap:
            return f, ""
        return f._replace(hosts=tuple(kept)), cap

    # -- metric points -------------------------------------------------------------------
    def apply_points(self, points: Sequence[Any]) -> CapResult:
        """Keep the evidence-mode series points within the store-wide caps; count the rest.

        A point counts repeats of one call, host or invocation total: it would
        create the function's, call's or host's row if the store had none, so
        a new one over its cap is left out like the span that would name it.
        """
        kept: list[Any] = []
        over: dict[str, int] = {}
        for p in points:
            arn = p.function.arn
            if arn not in self._known and not self._admit_function(arn):
                over[_FUNCTIONS] = over.get(_FUNCTIONS, 0) + 1
                continue
            target = p.target
            if isinstance(target, CallFact):
                key = call_key(target)
                stored = self._calls.get(arn)
                if (stored is None or key not in stored) and not self._admit_call(arn, key):
                    over[_CALLS] = over.get(_CALLS, 0) + 1
                    continue
            elif isinstance(target, HostFact):
                ident = _host_id(target.host, target.port, target.tls)
                known = self._hosts.get(arn)
                if (known is None or ident not in known) and not self._admit_host(arn, ident):
                    over[_HOSTS] = over.get(_HOSTS, 0) + 1
                    continue
            kept.append(p)
        if not over:
            return CapResult(tuple(kept), 0, "")
        return CapResult(tuple(kept), sum(over.values()), self._reason("data point", over))

    def _reason(self, item: str, over: dict[str, int]) -> str:
        total = sum(over.values())
        parts = []
        for what, limit in self._limits.items():
            n = over.get(what)
            if not n:
                continue
            if what in _HOST_CAPS and item == "span":
                parts.append(f"{n} stored without their hosts over the {what} cap ({limit})")
            else:
                parts.append(f"{n} over the {what} cap ({limit})")
        return f"{total} {item}(s) over a cardinality cap: " + ", ".join(parts)
