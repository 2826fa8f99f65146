"""The counter roll-up thread: pending increments into the evidence tables, once per interval.

On PostgreSQL with several collectors, every request for a busy function used
to update the same counter rows (its function row, its calls, its day), and
row locks held until commit made the collectors take turns on them. With a
roll-up interval, each request's transaction only *appends* its increments to
``lg_pending_counts`` (next to its span ids or metric series state, so it is
still exactly once and durable when acknowledged), and one collector at a
time folds everything pending into the rows (:meth:`Store.roll_up`). Reads
roll up first, so they see every acknowledged request. SQLite has one writer
anyway and writes counters directly.
"""

from __future__ import annotations

import logging
import threading

from lambdaguard.collector.store import Store
from lambdaguard.errors import StoreError

__all__ = ["start_rollup", "stop_rollup"]

log = logging.getLogger("lambdaguard.collector")


def start_rollup(
    store: Store, interval_s: float, stopping: threading.Event
) -> threading.Thread | None:
    """Defer the store's counters and roll them up every ``interval_s``; None when not applicable."""
    if interval_s <= 0 or store.backend != "postgresql":
        return None
    store.defer_counts = True

    def run() -> None:
        while not stopping.wait(interval_s):
            try:
                while store.roll_up() >= 20_000:
                    pass  # a backlog: keep going until a batch comes back short
            except StoreError as exc:
                log.warning("counter roll-up failed (will retry): %s", exc)

    thread = threading.Thread(target=run, name="lambdaguard-rollup", daemon=True)
    thread.start()
    return thread


def stop_rollup(store: Store, thread: threading.Thread | None) -> None:
    """After ``stopping`` is set: wait for the thread, then roll up what is still pending."""
    if thread is None:
        return
    thread.join(5)
    try:
        store.roll_up(wait=True)
    except StoreError as exc:
        log.warning(
            "final counter roll-up failed (the next reader or collector applies it): %s", exc
        )
