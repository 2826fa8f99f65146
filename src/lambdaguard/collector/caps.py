"""Cardinality caps: how many distinct functions, calls and hosts evidence may hold.

A token holder (or a bug) can send 50,000 function names in one request, or a
distinct call per span forever; every distinct value becomes a store row that
lives until pruned. So a request may bring at most ``max_functions_per_request``
functions, and per function ``max_calls_per_request`` distinct calls and
``max_hosts_per_request`` distinct hosts; and the store may hold at most
``max_functions`` functions. What is over a cap is not stored, but counted:
in the request's partial-success answer (``rejected_spans`` with the cap
named), in ``lambdaguard_rejected_total{reason="over_cap"}`` and in the
collector's stats. Nothing is dropped silently.

The store-wide function cap is checked against the set of functions this
collector has seen (loaded from the store at start, so a restart keeps it);
several collectors on one PostgreSQL each enforce it on their own view, so the
store can exceed it by what the others added since they started.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CapResult", "Caps"]


@dataclass(frozen=True, slots=True)
class CapResult:
    """The facts within the caps, and how many spans were left out and why."""

    kept: tuple[Any, ...]
    over: int
    reason: str


class Caps:
    """Applies the per-request and store-wide caps to one request's span facts."""

    def __init__(
        self,
        *,
        max_functions_per_request: int,
        max_calls_per_request: int,
        max_hosts_per_request: int,
        max_functions: int,
        known_functions: Iterable[str] = (),
    ) -> None:
        self.max_functions_per_request = max_functions_per_request
        self.max_calls_per_request = max_calls_per_request
        self.max_hosts_per_request = max_hosts_per_request
        self.max_functions = max_functions
        self._known = set(known_functions)
        self._lock = threading.Lock()

    def apply(self, facts: Sequence[Any]) -> CapResult:
        """Keep the facts within every cap, in order; count the spans left out."""
        # No cap can be reached when there are fewer facts than any per-request cap
        # (each brings at most one function and one call), fewer host events than
        # the host cap, and every function is known: the usual agent request.
        if (
            len(facts) <= min(self.max_functions_per_request, self.max_calls_per_request)
            and sum([len(f.hosts) for f in facts]) <= self.max_hosts_per_request
            and {f.function.arn for f in facts} <= self._known
        ):
            return CapResult(tuple(facts), 0, "")
        functions: set[str] = set()
        calls: dict[str, set[int]] = {}
        hosts: dict[str, set[tuple[str, int, bool]]] = {}
        kept: list[Any] = []
        over = {"functions per request": 0, "functions in the store": 0, "calls": 0, "hosts": 0}
        new_functions: set[str] = set()
        for f in facts:
            arn = f.function.arn
            if arn not in functions:
                if len(functions) >= self.max_functions_per_request:
                    over["functions per request"] += 1
                    continue
                if arn not in self._known and arn not in new_functions:
                    with self._lock:
                        full = len(self._known) + len(new_functions) >= self.max_functions
                    if full:
                        over["functions in the store"] += 1
                        continue
                    new_functions.add(arn)
                functions.add(arn)
            if f.call is not None:
                seen = calls.setdefault(arn, set())
                # extract() shares one CallFact among equal calls of a request.
                ident = id(f.call)
                if ident not in seen:
                    if len(seen) >= self.max_calls_per_request:
                        over["calls"] += 1
                        continue
                    seen.add(ident)
            if f.hosts:
                mine = hosts.setdefault(arn, set())
                fresh = {(h.host, h.port, h.tls) for h, _ in f.hosts} - mine
                if fresh and len(mine) + len(fresh) > self.max_hosts_per_request:
                    over["hosts"] += 1
                    continue
                mine |= fresh
            kept.append(f)
        if new_functions:
            with self._lock:
                self._known |= new_functions
        total = sum(over.values())
        if not total:
            return CapResult(tuple(kept), 0, "")
        limits = {
            "functions per request": f"max_functions_per_request={self.max_functions_per_request}",
            "functions in the store": f"max_functions={self.max_functions}",
            "calls": f"max_calls_per_request={self.max_calls_per_request} per function",
            "hosts": f"max_hosts_per_request={self.max_hosts_per_request} per function",
        }
        parts = [f"{n} over the {what} cap ({limits[what]})" for what, n in over.items() if n]
        return CapResult(tuple(kept), total, f"{total} span(s) not stored: " + ", ".join(parts))
