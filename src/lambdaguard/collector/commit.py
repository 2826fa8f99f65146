"""Group commit: the rows of several requests in one store transaction.

On SQLite every transaction pays a WAL append and a lock hand-over; the
agent sends one small request per invocation (an invocation span and ~20 call
spans), so paying one transaction per request capped a collector at about 400
requests per CPU-second. Here one writer thread takes every request waiting
when it becomes free, stores them in one transaction
(:meth:`~lambdaguard.collector.store.Store.ingest_many`: span keys of all of
them in one bulk insert, aggregates summed across them) and only after that
commit resolves each request's future: a request is acknowledged only once the
transaction holding it is durable, so durability is the same as before. Under
light load a group is one request and nothing waits; under heavy load groups
grow by themselves (no timer, no added latency).

If a group's transaction fails for a reason other than the store being
unavailable, each request is retried alone, so one poison request cannot fail
its neighbours.

A request from an event loop (the HTTP receiver) waits on an asyncio future
of that loop (:meth:`GroupCommitter.submit_async`): the writer hands all of a
group's outcomes for one loop over in one ``call_soon_threadsafe``, instead of
a thread-safe future, a wrapper and a wake-up of the loop per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Final

from lambdaguard.collector.spans import SpanFacts
from lambdaguard.collector.store import IngestResult, Store
from lambdaguard.errors import StoreError, StoreRejected

__all__ = ["GroupCommitter"]

_STOP: Final = object()


@dataclass(slots=True)
class _Pending:
    facts: Sequence[SpanFacts]
    future: Future[IngestResult] | None
    waiter: asyncio.Future[IngestResult] | None = None  # with future None: on this loop
    loop: asyncio.AbstractEventLoop | None = None


def _settle(outcomes: list[tuple[asyncio.Future[IngestResult], Any, BaseException | None]]) -> None:
    # On the waiters' loop. A waiter whose request gave up (its wait timed out) is
    # cancelled already: that one is left as it is.
    for waiter, result, error in outcomes:
        if not waiter.done():
            if error is None:
                waiter.set_result(result)
            else:
                waiter.set_exception(error)


@dataclass(slots=True)
class _Call:
    work: Callable[[], Any]
    future: Future[Any]


class GroupCommitter:
    """One writer thread that commits whatever requests are waiting, together."""

    def __init__(self, store: Store, *, metrics: Any = None, max_group: int = 128) -> None:
        self._store = store
        self._metrics = metrics
        self._max_group = max_group
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="lambdaguard-commit", daemon=True)
        self._thread.start()

    def submit(self, facts: Sequence[SpanFacts]) -> Future[IngestResult]:
        """Queue a request's facts; the future resolves once their transaction committed."""
        future: Future[IngestResult] = Future()
        if not facts:
            future.set_result(IngestResult(0, 0))
            return future
        self._queue.put(_Pending(facts, future))
        if self._metrics is not None:
            self._metrics.commit_queue.inc()
        return future

    def submit_async(
        self, facts: Sequence[SpanFacts], loop: asyncio.AbstractEventLoop
    ) -> asyncio.Future[IngestResult]:
        """Queue a request's facts from ``loop``'s thread; the returned future of that loop
        resolves once their transaction committed."""
        waiter: asyncio.Future[IngestResult] = loop.create_future()
        if not facts:
            waiter.set_result(IngestResult(0, 0))
            return waiter
        self._queue.put(_Pending(facts, None, waiter, loop))
        if self._metrics is not None:
            self._metrics.commit_queue.inc()
        return waiter

    def call(self, work: Callable[[], Any]) -> Future[Any]:
        """Run other store work (a metrics ingest) on the writer thread, in arrival order."""
        future: Future[Any] = Future()
        self._queue.put(_Call(work, future))
        return future

    def close(self, timeout_s: float = 10.0) -> None:
        """Commit what is queued, then stop the writer thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            group = [first]
            stop = False
            while len(group) < self._max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                group.append(item)
            pending: list[_Pending] = []
            for item in group:
                # A request whose wait timed out has had its future cancelled; from
                # RUNNING on it can no longer be, so setting its result cannot fail
                # (which used to end this thread, and every commit after it).
                if isinstance(item, _Pending):
                    if (
                        item.future.set_running_or_notify_cancel()
                        if item.future is not None
                        else not item.waiter.cancelled()  # type: ignore[union-attr]
                    ):
                        pending.append(item)
                    elif self._metrics is not None:
                        self._metrics.commit_queue.dec()
                elif isinstance(item, _Call):
                    if pending:
                        self._commit(pending)
                        pending = []
                    if item.future.set_running_or_notify_cancel():
                        self._run_call(item)
            if pending:
                self._commit(pending)
            if stop:
                return

    def _commit(self, group: list[_Pending]) -> None:
        metrics = self._metrics
        if metrics is not None:
            metrics.commit_queue.dec(len(group))  # calls are not counted in the queue
        started = time.perf_counter()
        try:
            results = self._store.ingest_many([g.facts for g in group])
        except StoreError as exc:
            if metrics is not None:
                metrics.store_errors.inc()
            if len(group) == 1 or (not isinstance(exc, StoreRejected) and self._store_down()):
                self._resolve(group, None, exc)
                return
            for g in group:  # find the poison request; the others still commit
                self._commit([g])
            return
        except BaseException as exc:  # never leave a request waiting forever
            self._resolve(group, None, exc)
            raise
        if metrics is not None:
            metrics.store_latency.observe(time.perf_counter() - started)
            metrics.commit_group.observe(len(group))
        self._resolve(group, results, None)

    @staticmethod
    def _resolve(
        group: list[_Pending], results: Sequence[IngestResult] | None, error: BaseException | None
    ) -> None:
        """Hand each request its result (or the error): thread-safe futures directly, the
        waiters of each event loop in one call on that loop."""
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for index, g in enumerate(group):
            result = results[index] if results is not None else None
            if g.future is not None:
                if not g.future.done():
                    if error is None:
                        g.future.set_result(result)  # type: ignore[arg-type]
                    else:
                        g.future.set_exception(error)
            elif g.loop is not None and g.waiter is not None:
                by_loop.setdefault(g.loop, []).append((g.waiter, result, error))
        for loop, outcomes in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_settle, outcomes)

    def _run_call(self, item: _Call) -> None:
        try:
            item.future.set_result(item.work())
        except Exception as exc:  # noqa: BLE001 - handed to the waiting request
            item.future.set_exception(exc)

    def _store_down(self) -> bool:
        try:
            return not self._store.ping()
        except StoreError:
            return True
