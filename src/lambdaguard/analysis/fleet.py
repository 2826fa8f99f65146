"""One analysis run over a store: evidence, then the judgement steps, then risk order.

:func:`analyse` is what every view calls (``lambdaguard functions``, ``show``,
``report``, and later the live view). It reads the evidence
(:mod:`.evidence`), judges the stored inventory's verdicts (:mod:`.stored`), lets each judgement step enrich the findings (the policy
proposal and the inventory's verdicts plug in here as :data:`Step`\\ s: each
takes the findings and returns them with its part filled), and finally
assesses every function's risk and orders them riskiest first.

:func:`open_for_reading` opens a store without ever creating or migrating
one: views only read.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from lambdaguard.analysis.evidence import Progress, collect
from lambdaguard.analysis.findings import Findings, FunctionFindings
from lambdaguard.analysis.risk import assess

if TYPE_CHECKING:
    from lambdaguard.collector.store import Store

__all__ = ["Step", "analyse", "open_for_reading", "paused_gc", "printable_url", "rank"]

# A judgement step: the findings in, the same findings with its part filled out.
Step = Callable[[Findings], Findings]


@contextmanager
def paused_gc() -> Iterator[None]:
    """Run the block with CPython's cyclic garbage collector paused (reference counting goes on).

    An analysis run allocates millions of small, long-lived, acyclic records
    (calls, requests, decisions, statements); every collection of the oldest
    generation walks all of them again, which cost about a quarter of a
    1,000-function proposal run and grew with the fleet. They hold no cycles
    worth collecting mid-run, so the collector waits until the block ends
    (nested blocks leave it to the outermost).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def printable_url(url: str) -> str:
    """A store URL fit to print and to put in a report: any password masked."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(unparsable store URL)"


def open_for_reading(url: str) -> Store:
    """Open an existing store of this lambdaguard's schema; never creates or migrates anything.

    Raises :class:`~lambdaguard.errors.StoreNotFound` when there is no store
    at ``url`` and :class:`~lambdaguard.errors.StoreError` when its schema is
    not the one this lambdaguard reads (naming the command that fixes it).
    """
    from lambdaguard.collector.store import SCHEMA_VERSION, open_store
    from lambdaguard.errors import StoreError

    store = open_store(url, migrate=False, create=False)
    version = store.schema_version()
    if version != SCHEMA_VERSION:
        store.close()
        fix = (
            f"run `lambdaguard store migrate --store {printable_url(url)}`"
            if version < SCHEMA_VERSION
            else "upgrade lambdaguard"
        )
        raise StoreError(
            f"the store at {printable_url(url)} has schema version {version}; this lambdaguard "
            f"reads version {SCHEMA_VERSION}: {fix}"
        )
    return store


def analyse(
    store: Store,
    *,
    now: datetime,
    window: timedelta | None = None,
    source: str = "",
    steps: Sequence[Step] = (),
    only: str | None = None,
    progress: Progress | None = None,
    inventory: bool = True,
) -> Findings:
    """Everything analysis concludes from the store, riskiest function first.

    ``now`` ends the window (pass the caller's clock); ``window`` is its length,
    None for all the store holds; ``only`` limits the run to the function of
    that name or ARN. When the store holds an inventory (``lambdaguard
    inventory`` records one), its verdicts are judged first
    (:mod:`.stored`) and the functions only the inventory knows are added;
    ``inventory=False`` leaves them out.
    """
    warnings: list[str] = []
    if window is not None:
        warnings.append(
            "calls and hosts last seen inside the window are counted whole: the store keeps "
            "their counts, not when each one happened"
        )
    with paused_gc():
        evidence = collect(store, now=now, window=window, only=only, progress=progress)
        findings = Findings(
            generated_at=now,
            window_start=now - window if window is not None else None,
            window_end=now,
            source=source,
            functions=tuple(
                FunctionFindings(
                    e.arn,
                    e.name,
                    e.account,
                    e.region,
                    e.evidence,
                    runtime=e.evidence.runtime or None,
                )
                for e in evidence
            ),
            warnings=tuple(warnings),
        )
        if inventory:
            from lambdaguard.analysis.stored import inventory_step, stored_inventory

            stored = stored_inventory(store, only=only)
            if stored is not None:
                steps = (inventory_step(stored, only=only), *steps)
        for step in steps:
            findings = step(findings)
        return rank(findings)


def rank(findings: Findings) -> Findings:
    """The findings with every function's risk assessed, riskiest first (then by name, ARN)."""
    assessed = [dataclasses.replace(fn, risk=assess(fn)) for fn in findings.functions]
    assessed.sort(key=lambda fn: (-fn.risk.score, fn.name, fn.arn))
    return dataclasses.replace(findings, functions=tuple(assessed))
