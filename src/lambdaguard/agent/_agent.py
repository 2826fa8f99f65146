"""The agent in one process: hooks, the phase in progress, and when export happens.

When export happens:

- **On the runtime's thread** (inside Lambda under awslambdaric, the default):
  right before awslambdaric asks the Runtime API for the next invocation, so
  after the response is posted and before the environment can be frozen
  (:mod:`~lambdaguard.agent._runtime`). A watchdog thread, asleep until 100 ms
  plus the send budget (at most 300 ms) before the deadline of the invocation
  in progress, exports a record with outcome ``timeout`` for a handler still
  running then: Lambda stops a timed-out runtime before it can ask for ``next``.
- **With the internal extension** (another runtime, or awslambdaric not found): the extension
  thread receives each INVOKE event, waits until the handler for that request
  has returned, exports, then calls ``event/next``. The response is already
  posted, so nothing waits on the network before it. If the handler is still
  running 100 ms plus the send budget (at most 300 ms) before the deadline,
  the record is exported with outcome ``timeout`` so a timing-out invocation
  still leaves its record.
- **Without it** (``@instrument`` outside Lambda, or registration failed): the
  finished record is queued to one worker thread and the handler returns at
  once. Inside a real Lambda without the extension, that worker may be frozen
  with the environment and finish on the next thaw; :func:`flush` drains it
  (tests, SIGTERM).

What is exported (:meth:`Agent.export_now`, on the exporting thread, after
the response): evidence mode decides per invocation. The invocation (with the
INIT record on the first one) is exported as spans when it holds a fact this
environment has not exported yet (:mod:`~lambdaguard.agent.ledger`), or when
trace mode wants it (``LAMBDAGUARD_TRACES``: ``all``; ``sampled``, by the
ratio, the incoming context's decision when parent-based, and always for
errors and timeouts). Everything is counted; the counts go out as OTLP
metrics on the first invocation after ``LAMBDAGUARD_FLUSH_INTERVAL``. Unique
per-call identifiers in request members are folded into patterns first
(:mod:`~lambdaguard.agent._patterns`), so they do not make every invocation new.
The sampling decision never suppresses a new fact.

A warm environment's usual invocation repeats one it has seen: the full path
(fold, fact keys, count every call, build the Record) runs once for it and
teaches the ledger its *signature* (:meth:`Agent._count_repeat`: the calls and
connections without per-occurrence values, trigger, version, outcome); every
later invocation with that signature is counted with one lookup, and its log
line is the cached tail of the first's plus its own ids and duration
(callgrind, 3 AWS calls, after the response: ~476k -> ~328k instructions over
the plain function, most of what is left being the botocore hooks).

A send that fails with no response, 408, 429 or 5xx keeps its bytes in a
bounded :class:`~lambdaguard.agent.export.Backlog`; the next invocation sends
them first in one request, with its own spans if it has any (see
:meth:`Agent.export_now`). Metrics need no backlog: their values are
cumulative, so the next flush covers a failed one.

Shutdown: with the extension, every record is exported before the
extension's next ``event/next``, so nothing is pending when Lambda sends
SIGTERM, and no SIGTERM handler is installed. That is deliberate: between
invocations the main thread is blocked inside awslambdaric's native
``wait_next_invocation``, where a Python-level handler cannot run, so
installing one would only turn SIGTERM's immediate exit into waiting for
SIGKILL. Without the extension (registration failed; another layer's
extension may still make Lambda send SIGTERM), a handler flushes the queue
within ~300 ms and then chains to the previous handler.
"""

from __future__ import annotations

import operator
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from lambdaguard import semconv
from lambdaguard.agent import _facts, _guard, _imports, _runtime, aws, network, recorder, signing
from lambdaguard.agent.config import (
    AWS_LAMBDA_FUNCTION_NAME,
    AWS_LAMBDA_FUNCTION_VERSION,
    AWS_LAMBDA_INITIALIZATION_TYPE,
    AWS_LAMBDA_RUNTIME_API,
    TRACES_ALL,
    TRACES_OFF,
    X_AMZN_TRACE_ID,
    Config,
    emit_warnings,
)
from lambdaguard.agent.recorder import Record, Recording

if TYPE_CHECKING:
    from lambdaguard.agent import export
    from lambdaguard.agent.extension import Extension, InvokeEvent
    from lambdaguard.agent.ledger import Ledger

__all__ = ["Agent", "Invocation", "get", "reset"]

# What finish() captured on the main thread: (invocation, outcome, error type,
# end time, remaining ms). The Record is built from it by the thread that
# exports, after the response (building it on the response path cost ~30 µs).
_Done = tuple["Invocation", str, str, int, int]
# Records ready to export, and the invocation still to turn into one.
_Finished = tuple[list[Record], "_Done | None"]

_SHUTDOWN_BUDGET_MS = 300
_TIMEOUT_SEND_MS = 300  # the longest the pre-deadline export may take
# How long the extension thread first waits for a handler to finish before it
# decodes its event (Lambda's shortest timeout is 1 s, far beyond this plus
# the pre-deadline margin).
_WAKE_WAIT_S = 0.02
# How often the runtime-hook watchdog looks for a running invocation when it
# saw none: well within Lambda's shortest timeout (1 s) minus the pre-deadline
# margin (at most 0.4 s).
_WATCH_IDLE_S = 0.25
# On the runtime-hook path, sends end this long before the invocation's deadline
# (Lambda's timeout runs until the runtime is back in `next`), and a send with
# less time than _MIN_SEND_MS left is not started: its body waits for the next one.
_DEADLINE_MARGIN_S = 0.1
_MIN_SEND_MS = 20


_loaded: list[Any] = []
_TRACE_KEY = _facts.env_key(X_AMZN_TRACE_ID)
_ENV_RAW = _facts._raw
_decode = _facts._decode
# What a call and a connection attempt add to an invocation's signature (see
# Agent._count_repeat), picked in C: an AwsCall without start_ns, end_ns, status,
# request_id (6..9) and retries (12); an attempt's host, port, tls, proxy, aws
# and failed.
_CALL_SIGNATURE = operator.itemgetter(0, 1, 2, 3, 4, 5, 10, 11, 13, 14, 15, 16, 17, 18)
_CONN_SIGNATURE = operator.attrgetter("host", "port", "tls", "proxy", "aws", "failed")
_EXPORT = "export"
# What Agent._count_repeat returns for an invocation it counted as a repeat.
_COUNTED: tuple[Any, ...] = ("counted",)
_OFF = _guard.OFF


def _after_response_modules() -> tuple[Any, Any, Any]:
    # The modules export_now needs, imported on first use (after the first
    # response, never at INIT) and then kept: a `from package import a, b`
    # statement runs importlib's Python-level _handle_fromlist on every call.
    if not _loaded:
        from lambdaguard.agent import _patterns, export
        from lambdaguard.agent.ledger import call_facts

        _loaded[:] = [_patterns, export, call_facts]
    return _loaded[0], _loaded[1], _loaded[2]


class Invocation:
    """An invocation in progress (what ``finish`` needs); ``exported`` flips once."""

    # A plain slotted class, not a dataclass: this module is on the INIT path
    # and a dataclass costs ~0.7 ms to create.
    __slots__ = (
        "alias",
        "cold_start",
        "context",
        "deadline_ms",
        "deadline_s",
        "exported",
        "function_arn",
        "init_duration_ms",
        "memory_mb",
        "recording",
        "request_id",
        "trigger",
    )

    def __init__(
        self,
        *,
        recording: Recording,
        request_id: str,
        context: Any,
        trigger: Any,
        function_arn: str,
        alias: str,
        cold_start: bool,
        init_duration_ms: float,
        memory_mb: int,
    ) -> None:
        self.recording = recording
        self.request_id = request_id
        self.context = context
        self.trigger = trigger
        self.function_arn = function_arn
        self.alias = alias
        self.cold_start = cold_start
        self.init_duration_ms = init_duration_ms
        self.memory_mb = memory_mb
        self.exported = False
        self.deadline_s = 0.0  # wall-clock deadline (s), 0 when the context gives none
        # awslambdaric's own deadline (epoch ms), -1 for another context: what
        # get_remaining_time_in_millis() counts down to, read once.
        self.deadline_ms = -1


# invoked ARN -> (function ARN, alias): an environment is invoked through one
# or two ARNs (unqualified, an alias), so this is split once per ARN, not per
# invocation. Bounded.
_arns: dict[str, tuple[str, str]] = {}


def _function_arn(context: Any) -> tuple[str, str]:
    # arn:aws:lambda:region:account:function:name[:qualifier]
    invoked = str(getattr(context, "invoked_function_arn", "") or "")
    known = _arns.get(invoked)
    if known is not None:
        return known
    parts = invoked.split(":")
    if len(parts) >= 7:
        known = ":".join(parts[:7]), (parts[7] if len(parts) > 7 else "")
    else:
        known = invoked, ""
    if len(_arns) >= 64:
        _arns.clear()
    _arns[invoked] = known
    return known


class Agent:
    """One per process: created by :func:`get` on the first enabled handler."""

    def __init__(self, config: Config) -> None:
        self.config = config
        # The exporter (export.py and its Sender and Backlog) is made on first
        # use, after the first response: nothing of it is needed at INIT.
        self._sender: export.Sender | None = None
        self._backlog: export.Backlog | None = None
        self.init_recording: Recording | None = Recording(semconv.PHASE_INIT)
        self.init_end_ns = 0
        self.pending_init: Record | None = None
        self.invocations = 0
        self.extension: Extension | None = None
        # True when export runs on awslambdaric's thread before `next` (see _runtime).
        self.runtime_hook = False
        self._pending: _Finished | None = None
        self._trigger_of: Callable[..., Any] | None = None
        self._watchdog: threading.Thread | None = None
        # Set by Lambda for the environment's life: read once, not per invocation.
        self._provisioned = (
            os.environ.get(AWS_LAMBDA_INITIALIZATION_TYPE) == "provisioned-concurrency"
        )
        self._lock = threading.Condition()
        self._finished: dict[str, _Finished] = {}
        self._running: Invocation | None = None
        self._between: Recording | None = None
        self._queue: queue.SimpleQueue[_Finished | None] = queue.SimpleQueue()
        self._queued = 0
        self._worker: threading.Thread | None = None
        self._previous_sigterm: Any = None
        self.exports = 0
        # Evidence mode: the ledger is made on the first export (after the
        # first response), so its class creation stays off the INIT path; its
        # series start at the agent's start, the same for every flush.
        self.started_ns = time.time_ns()
        self.clock: Callable[[], int] = time.time_ns
        self.ledger: Ledger | None = None
        self.span_exports = 0  # invocations (and INIT records) exported as spans
        self.metric_flushes = 0

    @property
    def sender(self) -> export.Sender:
        """The exporter's HTTP sender (made on first use)."""
        if self._sender is None:
            from lambdaguard.agent import export

            self._sender = export.Sender(self.config)
        return self._sender

    @sender.setter
    def sender(self, value: export.Sender) -> None:
        self._sender = value

    @property
    def backlog(self) -> export.Backlog:
        """Bodies of failed exports, kept for the next one (made on first use)."""
        if self._backlog is None:
            from lambdaguard.agent import export

            self._backlog = export.Backlog(self.config.carry_records, self.config.carry_bytes)
        return self._backlog

    @backlog.setter
    def backlog(self, value: export.Backlog) -> None:
        self._backlog = value

    # -- lifecycle ---------------------------------------------------------------
    def install(self) -> None:
        """Hook botocore and sockets, open the INIT recording, register the extension."""
        emit_warnings(self.config)
        recorder.set_current(self.init_recording)
        network.install()
        aws.install(self.config.key_prefix_depth, self.config.record_full_keys)
        signing.install()
        runtime_api = os.environ.get(AWS_LAMBDA_RUNTIME_API, "")
        if runtime_api:
            host, _, port = runtime_api.rpartition(":")
            if port.isdigit():
                network.ignore(host, int(port))
        if runtime_api and self.config.extension and os.environ.get(AWS_LAMBDA_FUNCTION_NAME):
            hooked = not self.config.force_extension and _guard.safe(
                "runtime.install", _runtime.install, self._before_next, default=False
            )
            if hooked:
                self.runtime_hook = True
                self._watchdog = threading.Thread(
                    target=self._watch, name="lambdaguard-watchdog", daemon=True
                )
                self._watchdog.start()
                return
            # The fallback (not awslambdaric's loop): only then is its module loaded.
            from lambdaguard.agent.extension import Extension

            extension = Extension(runtime_api, self._on_invoke_event, self._on_wake)
            if extension.start():
                self.extension = extension
            else:
                # Only without the extension can records wait in a queue at shutdown.
                self._install_sigterm()

    def uninstall(self) -> None:
        """Remove every hook (tests; idempotent)."""
        aws.uninstall()
        signing.uninstall()
        network.uninstall()
        _runtime.uninstall()
        _imports.uninstall()
        recorder.set_current(None)
        if (
            self._previous_sigterm is not None
            and threading.current_thread() is threading.main_thread()
        ):
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    def init_done(self) -> None:
        """The function's module has been imported: INIT ends here."""
        if not self.init_end_ns:
            self.init_end_ns = time.time_ns()

    def init_failed(self, error: BaseException) -> None:
        """The handler could not be loaded: export the init error now, on this thread.

        No context exists yet, so the record names the function by
        ``AWS_LAMBDA_FUNCTION_NAME`` (the resource adds ``AWS_REGION`` and the
        version) and the collector joins it to the function. Only the error's
        type is sent (``Runtime.ImportModuleError`` or the exception's class),
        never its message. There is no response to wait for: the send is
        bounded by the export timeout and Lambda reports the error after it.
        """
        init = self.init_recording
        if init is None:
            return
        self.init_recording = None
        init.closed = True
        recorder.set_current(None)
        error_type = str(getattr(error, "exception_type", "") or type(error).__name__)[:128]
        record = Record(
            phase=semconv.PHASE_INIT,
            trace_id=init.trace_id,
            span_id=init.span_id,
            start_ns=init.start_ns,
            end_ns=time.time_ns(),
            function_name=str(os.environ.get(AWS_LAMBDA_FUNCTION_NAME, "")),
            version=str(os.environ.get(AWS_LAMBDA_FUNCTION_VERSION, "")),
            outcome=semconv.OUTCOME_ERROR,
            error_type=error_type,
            aws_calls=tuple(init.calls),
            connections=init.connections(),
            dropped_calls=init.dropped,
        )
        with recorder.suppressed():
            self.export_now([record], self.config.export_timeout_ms)

    # -- one invocation ------------------------------------------------------------
    def start(self, event: Any, context: Any) -> Invocation:
        """Open the invocation's recording (called before the handler)."""
        cold = self.invocations == 0
        self.invocations += 1
        init_ms = -1.0
        if cold and self.init_recording is not None:
            init = self.init_recording
            end = self.init_end_ns or time.time_ns()
            init_ms = (end - init.start_ns) / 1e6
            arn, _ = _function_arn(context)
            init.closed = True
            self.pending_init = Record(
                phase=semconv.PHASE_INIT,
                trace_id=init.trace_id,
                span_id=init.span_id,
                start_ns=init.start_ns,
                end_ns=end,
                function_name=str(os.environ.get(AWS_LAMBDA_FUNCTION_NAME, "")),
                function_arn=arn,
                aws_calls=tuple(init.calls),
                connections=init.connections(),
                dropped_calls=init.dropped,
            )
            self.init_recording = None
        if self._provisioned:
            cold = False  # INIT ran ahead of any request: no caller waited for it
        if self._trigger_of is None:
            # The event classifier is needed once an event arrives, not at INIT.
            from lambdaguard.agent import triggers

            self._trigger_of = triggers.trigger_of
        if _ENV_RAW is not None:  # os.environ.get, read as _facts reads the access key
            raw = _ENV_RAW.get(_TRACE_KEY)
            xray = None if raw is None else _decode(raw)
        else:
            xray = os.environ.get(X_AMZN_TRACE_ID)
        trigger = self._trigger_of(event, xray, xray_parent=self.config.xray_parent)
        recording = Recording(semconv.PHASE_INVOKE, trigger.parent_trace_id or None)
        arn, alias = _function_arn(context)
        memory = getattr(context, "memory_limit_in_mb", 0)
        invocation = Invocation(
            recording=recording,
            request_id=str(getattr(context, "aws_request_id", "") or ""),
            context=context,
            trigger=trigger,
            function_arn=arn,
            alias=alias,
            cold_start=cold,
            init_duration_ms=init_ms,
            memory_mb=int(memory) if str(memory).isdigit() else 0,
        )
        between = self._between
        if between is not None and (between.calls or between.conns or between.dropped):
            # Calls a leftover thread made after the previous handler returned:
            # kept (a used permission must not be dropped), in the next record.
            # An empty one stays open for the next finish(): what a thread
            # adds to it meanwhile goes into the invocation after.
            between.closed = True
            recording.calls.extend(between.calls)
            recording.conns.extend(between.conns)
            recording.dropped += between.dropped
            self._between = None
        deadline = getattr(context, "_epoch_deadline_time_in_ms", None)
        if type(deadline) is int:
            invocation.deadline_ms = deadline
            invocation.deadline_s = deadline / 1000
        elif self.runtime_hook:
            remaining = self._remaining(context)
            if remaining >= 0:
                invocation.deadline_s = time.time() + remaining / 1000
        # One reference swap (atomic under the GIL): the watchdog reads it
        # under the lock, but nothing waits for this assignment.
        self._running = invocation
        recorder.set_current(recording)
        return invocation

    @staticmethod
    def _remaining(context: Any) -> int:
        getter: Callable[[], int] | None = getattr(context, "get_remaining_time_in_millis", None)
        if getter is None:
            return -1
        try:
            return int(getter())
        except Exception:  # noqa: BLE001 - a test double without a deadline
            return -1

    def _record(
        self,
        inv: Invocation,
        outcome: str,
        error_type: str,
        end_ns: int | None = None,
        remaining: int | None = None,
    ) -> Record:
        rec = inv.recording
        if remaining is None:
            remaining = self._remaining(inv.context)
        context = inv.context
        return Record(
            phase=semconv.PHASE_INVOKE,
            trace_id=rec.trace_id,
            span_id=rec.span_id,
            start_ns=rec.start_ns,
            end_ns=time.time_ns() if end_ns is None else end_ns,
            request_id=inv.request_id,
            function_name=str(
                getattr(context, "function_name", "")
                or os.environ.get(AWS_LAMBDA_FUNCTION_NAME, "")
            ),
            function_arn=inv.function_arn,
            alias=inv.alias,
            version=str(
                getattr(context, "function_version", "")
                or os.environ.get(AWS_LAMBDA_FUNCTION_VERSION, "")
            ),
            cold_start=inv.cold_start,
            init_duration_ms=inv.init_duration_ms,
            trigger=inv.trigger,
            outcome=outcome,
            error_type=error_type,
            remaining_ms=remaining,
            memory_limit_mb=inv.memory_mb,
            aws_calls=tuple(rec.calls),
            connections=rec.connections(),
            dropped_calls=rec.dropped,
        )

    def finish(self, inv: Invocation, error: BaseException | None) -> bool:
        """Close the invocation's recording and hand it to the exporter (never waits on I/O).

        True once the exporter has what it waits for (no ``release`` needed).

        This runs between the handler's return and the response, so it only
        captures what cannot wait (end time, remaining time, outcome); the
        exporting thread builds the Record after the response.
        """
        end_ns = time.time_ns()
        if inv.deadline_ms >= 0:  # get_remaining_time_in_millis() at end_ns, without the call
            remaining = max(inv.deadline_ms - end_ns // 1_000_000, 0)
        else:
            remaining = self._remaining(inv.context)
        if self._between is None:
            self._between = Recording(semconv.PHASE_INVOKE, ids=False)
        recorder.set_current(self._between)
        inv.recording.closed = True
        outcome = semconv.OUTCOME_ERROR if error is not None else semconv.OUTCOME_SUCCESS
        done: _Done = (
            inv,
            outcome,
            type(error).__name__ if error is not None else "",
            end_ns,
            remaining,
        )
        finished: _Finished | None = None
        with self._lock:  # one acquisition: this is on the response path
            if self._running is inv:
                self._running = None
            already = inv.exported
            inv.exported = True
            if not already:
                finished = (self._take_init(), done)
                if self.extension is not None:
                    self._finished[inv.request_id] = finished
                    self._lock.notify_all()
                elif self.runtime_hook:
                    self._pending = finished  # exported before the runtime's next `next`
        if already:
            self.release(inv.request_id)
        elif self.extension is None and not self.runtime_hook and finished is not None:
            self._enqueue(finished)
        return True

    def release(self, request_id: str) -> None:
        """The handler for ``request_id`` has returned (even if recording failed)."""
        if self.extension is None:
            return  # only the extension thread waits for this
        with self._lock:
            self._finished.setdefault(request_id, ([], None))
            self._lock.notify_all()

    def _take_init(self) -> list[Record]:
        if self.pending_init is None:
            return []  # taken already (it is set once, at the first start)
        # Main thread (finish) and extension thread (timeout) may race for it.
        with self._lock:  # a Condition over an RLock: re-entrant
            init, self.pending_init = self.pending_init, None
        return [init] if init is not None else []

    # -- export ----------------------------------------------------------------------
    def _export_finished(
        self, finished: _Finished, timeout_ms: int | None = None, *, bounded: bool = False
    ) -> None:
        """Build the finished invocation's Record, then export (exporting thread only).

        ``bounded``: every send must end before the invocation's deadline
        (less a margin), because Lambda's timeout covers the time until the
        runtime is back in ``next`` (the runtime-hook path).
        """
        records, done = finished
        deadline_s = None
        signature = None
        if done is not None:
            if not records:
                signature = self._count_repeat(done)
                if signature is _COUNTED:
                    return
            records = [*records, self._record(*done)]
            if bounded and done[0].deadline_s:
                deadline_s = done[0].deadline_s - _DEADLINE_MARGIN_S
        with recorder.suppressed():  # the export's own I/O is not the function's
            self.export_now(records, timeout_ms, deadline_s=deadline_s, signature=signature)

    def _count_repeat(self, done: _Done) -> tuple[Any, ...] | None:
        """Count (and log) a repeat of a learnt signature and return ``_COUNTED``; otherwise
        the invocation's signature (None when it has none), for the full path to decide.

        The signature is what decides a finished invocation's facts and counts,
        without building its Record: everything
        :func:`~lambdaguard.agent.ledger.call_facts` keeps of each call (all but
        times, status, request id and retries), each connection attempt, and
        the invocation's own fact (trigger, alias, version, outcome, error
        type). Two invocations with the same signature have the same facts,
        count the same and log the same calls and hosts. A recording that
        dropped calls has none (never a repeat).

        A repeat is counted here only when the full path would export nothing
        and send nothing: no metrics flush due, no carried body waiting, and
        trace mode does not sample this invocation. The full path learnt the
        signature when it found every fact of such an invocation already known.
        """
        inv, outcome, error_type, end_ns, _ = done
        rec = inv.recording
        if rec.dropped:
            return None
        trigger = inv.trigger
        context = inv.context
        signature = (
            trigger[0],  # kind
            trigger[1],  # source
            trigger[2],  # faas_trigger
            inv.alias,
            str(
                getattr(context, "function_version", "")
                or os.environ.get(AWS_LAMBDA_FUNCTION_VERSION, "")
            ),
            outcome,
            error_type,
            tuple(map(_CALL_SIGNATURE, rec.calls)),
            tuple(map(_CONN_SIGNATURE, rec.conns)),
        )
        ledger = self.ledger
        backlog = self._backlog
        if (
            ledger is None
            or (backlog is not None and backlog.kept_records)
            or ledger.interval_passed()  # counting this one makes a flush due: the full path
        ):
            return signature
        config = self.config
        if config.traces != TRACES_OFF and self._decide(outcome, trigger, rec.trace_id):
            return signature
        entry = ledger.repeat(signature, (end_ns - rec.start_ns) / 1e9)
        if entry is None:
            return signature
        if config.log and (config.log_repeats or outcome != semconv.OUTCOME_SUCCESS):
            _, export, _ = _after_response_modules()
            head = export.log_head(
                rec.trace_id,
                rec.span_id,
                inv.request_id,
                inv.cold_start,
                end_ns - rec.start_ns,
                outcome,
            )
            export.write_line(head + entry.log_tail)
        return _COUNTED

    def _ledger(self) -> Ledger:
        ledger = self.ledger
        if ledger is None:
            from lambdaguard.agent.ledger import Ledger

            ledger = self.ledger = Ledger(
                self.config.flush_interval_s,
                self.config.max_facts,
                clock=self.clock,
                start_ns=self.started_ns,
            )
        return ledger

    def _sampled(self, records: list[Record]) -> bool:
        """Trace mode's decision for these records (evidence is decided apart)."""
        mode = self.config.traces
        if mode == TRACES_OFF:
            return False
        if mode == TRACES_ALL:
            return True
        invocation = next((r for r in records if r.phase == semconv.PHASE_INVOKE), None)
        if invocation is None:
            return False
        return self._decide(invocation.outcome, invocation.trigger, invocation.trace_id)

    def _decide(self, outcome: str, trigger: Any, trace_id: bytes) -> bool:
        """Trace mode's decision for one invocation (``all`` is decided by the caller)."""
        if self.config.traces == TRACES_ALL:
            return True
        if outcome != semconv.OUTCOME_SUCCESS:
            return True  # errors and timeouts are always traced in trace mode
        if self.config.parent_based and trigger.parent_span_id:
            return bool(trigger.sampled)  # the caller's decision, as parent-based samplers do
        # TraceIdRatioBased: the low 64 bits of the trace id against the ratio,
        # so every service sampling this trace id decides alike.
        low = int.from_bytes(trace_id[8:16], "big")
        return low < self.config.sample_ratio * (1 << 64)

    def export_now(
        self,
        records: list[Record],
        timeout_ms: int | None = None,
        *,
        deadline_s: float | None = None,
        signature: tuple[Any, ...] | None = None,
    ) -> None:
        """Decide, encode, send and log ``records`` on this thread (after the response only).

        Spans go out when a record holds a fact new to this environment or
        trace mode samples it; bodies of earlier failed exports go first in the
        same request (one send, one timeout: no retry loop, no sleep); if this
        send fails too, they and this body are kept for the next export, within
        bounds. Every record is counted; the counts are flushed as metrics when
        the interval has passed (not on the pre-deadline path, whose time is
        short, nor after a span export that got no answer). ``deadline_s``
        (wall clock) bounds every send; with too little time left a body is
        kept for the next invocation instead of sent. ``signature``: that of
        a lone invocation record (see :meth:`_count_repeat`); when it turns out
        a pure repeat (nothing new, nothing sent), the ledger learns it so the
        next such invocation is counted without this path.
        """
        if not records:
            return

        def budget_ms() -> int | None:
            if deadline_s is None:
                return timeout_ms
            left = int((deadline_s - time.time()) * 1000)
            return min(left, timeout_ms or self.config.export_timeout_ms)

        _patterns, export, call_facts = _after_response_modules()
        records = [_patterns.fold_record(record) for record in records]
        ledger = self._ledger()
        calls = call_facts(records)
        new = ledger.new_facts(records, calls)
        traced = bool(new) or self._sampled(records)
        carried = self.backlog.take()
        answered = True
        if traced or carried:
            body = export.encode(self.config, records) if traced else b""
            payload = b"".join(kept for kept, _ in carried) + body if carried else body
            left = budget_ms()
            if left is not None and left < _MIN_SEND_MS:
                status = 0  # no time left before the deadline: kept for the next invocation
            else:
                status = self.sender.send(payload, left)
                self.exports += 1
            answered = status != 0
            if 200 <= status < 300:
                ledger.remember(new)
            else:
                entries = [*carried, *([(body, len(records))] if traced else [])]
                if export.retryable(status):
                    dropped = self.backlog.keep(entries)
                else:
                    dropped = self.backlog.discard(entries)
                if dropped:
                    self._warn_dropped(dropped, status)
        if traced:
            self.span_exports += len(records)
        ledger.count(records, in_spans=traced, calls=calls)
        learnt = None
        if signature is not None and not traced and not carried and len(records) == 1:
            learnt = ledger.learn_repeat(signature, records[0], calls[0])
            if learnt is not None:
                learnt.log_tail = export.log_tail(records[0])
        if timeout_ms is None and answered and ledger.due():
            left = budget_ms()
            if left is None or left >= _MIN_SEND_MS:
                self._flush_metrics(ledger, records, left)
        config = self.config
        if config.log:
            for record in records:
                if record.phase == semconv.PHASE_INVOKE and (
                    traced or config.log_repeats or record.outcome != semconv.OUTCOME_SUCCESS
                ):
                    export.write_log(record)

    def _flush_metrics(
        self, ledger: Ledger, records: list[Record], timeout_ms: int | None = None
    ) -> None:
        from lambdaguard.agent import export

        snapshot = ledger.snapshot()
        described = next((r for r in reversed(records) if r.function_arn), records[-1])
        body = export.encode_metrics(self.config, snapshot, described)
        status = self.sender.send(body, timeout_ms, signal="metrics")
        ledger.flushed(snapshot, 200 <= status < 300)
        self.metric_flushes += 1

    def _warn_dropped(self, dropped: int, status: int) -> None:
        # One stderr line when the total first reaches each power of ten, so a
        # long outage does not write a line per invocation.
        total = self.backlog.dropped
        before = total - dropped
        step = 1
        while step <= total:
            if before < step:
                print(
                    f"lambdaguard: {total} records could not be exported and were dropped "
                    f"(last status {status or 'no response'}; "
                    f"{self.backlog.kept_records} kept for the next export)",
                    file=sys.stderr,
                )
                return
            step *= 10

    def _enqueue(self, finished: _Finished) -> None:
        with self._lock:
            self._queued += 1
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(
                target=self._work, name="lambdaguard-export", daemon=True
            )
            self._worker.start()
        self._queue.put(finished)

    def _work(self) -> None:
        with recorder.suppressed():
            while True:
                finished = self._queue.get()
                if finished is None:
                    return
                _guard.safe("export", self._export_finished, finished, default=None)
                with self._lock:
                    self._queued -= 1
                    self._lock.notify_all()

    def flush(self, timeout_ms: int) -> bool:
        """Wait until every queued record is sent; False if ``timeout_ms`` ran out."""
        deadline = time.monotonic() + timeout_ms / 1000
        with self._lock:
            while self._queued > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def _before_next(self) -> None:
        # awslambdaric's thread, after the response was posted, before `next`.
        # finish() set _pending on this same thread: no lock needed to take it.
        finished, self._pending = self._pending, None
        if finished is not None and _EXPORT not in _OFF:
            # _guard.safe's rule, inline (see _guard): this runs after every invocation.
            try:
                self._export_finished(finished, bounded=True)
            except Exception as exc:  # noqa: BLE001 - fail-open: export switches itself off
                _guard.disable(_EXPORT, exc)

    def _watch(self) -> None:
        # The runtime-hook mode's deadline guard. It is never woken by the
        # response path: with nothing running it looks again every
        # _WATCH_IDLE_S (a frozen environment does not run it at all; on thaw
        # the overdue timer fires once), and with an invocation running it
        # sleeps until shortly before that invocation's deadline.
        send_ms = min(self.config.export_timeout_ms, _TIMEOUT_SEND_MS)
        margin_s = (send_ms + 100) / 1000
        with recorder.suppressed():
            while True:
                with self._lock:
                    inv = self._running
                    if inv is None or inv.exported or not inv.deadline_s:
                        self._lock.wait(_WATCH_IDLE_S)
                        continue
                    left = inv.deadline_s - margin_s - time.time()
                    if left > 0:
                        self._lock.wait(left)
                        continue
                    if self._running is not inv or inv.exported:
                        continue
                    inv.exported = True
                record = self._record(inv, semconv.OUTCOME_TIMEOUT, "")
                _guard.safe(
                    "export", self.export_now, [*self._take_init(), record], send_ms, default=None
                )

    def _on_wake(self) -> None:
        # Runs on the extension thread the moment an event arrives, which is
        # the moment the runtime's main thread gets the same invocation:
        # anything this thread does now holds the GIL while the handler is
        # about to start. So it first waits, without decoding the event, for
        # a handler to finish (finish() notifies), at most _WAKE_WAIT_S; the
        # deadline logic in _on_invoke_event then runs as before. A stale
        # entry in _finished only makes this wait return at once.
        with self._lock:
            self._lock.wait_for(lambda: bool(self._finished), _WAKE_WAIT_S)

    def _on_invoke_event(self, event: InvokeEvent) -> None:
        # Runs on the extension thread, once per invocation, before event/next.
        with recorder.suppressed():
            # The margin is kept short: an invocation still running at
            # deadline - margin is reported as a timeout, so a long margin would
            # mislabel slow-but-successful invocations of short-timeout functions.
            send_ms = min(self.config.export_timeout_ms, _TIMEOUT_SEND_MS)
            margin_ms = send_ms + 100
            wait_s = (event.deadline_ms - margin_ms) / 1000 - time.time()
            timed_out = False
            with self._lock:
                end = time.monotonic() + max(wait_s, 0)
                while event.request_id not in self._finished:
                    left = end - time.monotonic()
                    if left <= 0:
                        timed_out = True
                        break
                    self._lock.wait(left)
                running = self._running
            if timed_out:
                if running is None or running.request_id != event.request_id:
                    return  # the handler never started: nothing to wait for
                with self._lock:
                    already = running.exported
                    running.exported = True
                if not already:
                    record = self._record(running, semconv.OUTCOME_TIMEOUT, "")
                    _guard.safe(
                        "export",
                        self.export_now,
                        [*self._take_init(), record],
                        send_ms,
                        default=None,
                    )
                with self._lock:  # let the handler finish if it can, up to the deadline
                    end = time.monotonic() + max(event.deadline_ms / 1000 - time.time(), 0) + 0.5
                    while event.request_id not in self._finished and time.monotonic() < end:
                        self._lock.wait(max(end - time.monotonic(), 0))
                    self._finished.pop(event.request_id, None)
                return
            with self._lock:
                finished = self._finished.pop(event.request_id, ([], None))
            _guard.safe("export", self._export_finished, finished, default=None)

    # -- shutdown --------------------------------------------------------------------
    def _install_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)
        self._previous_sigterm = previous if previous is not None else signal.SIG_DFL
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        _guard.safe("shutdown", self.flush, _SHUTDOWN_BUDGET_MS, default=False)
        previous = self._previous_sigterm
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)


_agent: Agent | None = None
_agent_lock = threading.Lock()


def get(config: Config) -> Agent:
    """The process's agent, installed on first use (later configs replace the exporter's)."""
    global _agent  # noqa: PLW0603 - one agent per process, by design
    with _agent_lock:
        if _agent is None:
            _agent = Agent(config)
            _agent.install()
        elif config != _agent.config:
            _agent.config = config
            if _agent._sender is not None:
                _agent._sender.close()
                _agent._sender = None  # remade from the new config on first use
            previous = _agent._backlog
            _agent._backlog = None
            if previous is not None:
                _agent.backlog.dropped = previous.dropped
                _agent.backlog.keep(previous.take())
            if _agent.ledger is not None:
                _agent.ledger.interval_ns = int(config.flush_interval_s * 1e9)
                _agent.ledger.max_facts = config.max_facts
            aws.install(config.key_prefix_depth, config.record_full_keys)
        return _agent


def current() -> Agent | None:
    """The process's agent if one is installed."""
    return _agent


def reset() -> None:
    """Uninstall and forget the agent (tests)."""
    global _agent  # noqa: PLW0603 - see get()
    with _agent_lock:
        if _agent is not None:
            _guard.safe("reset", _agent.flush, 2000, default=False)
            _agent.uninstall()
        _agent = None
        _guard.reset()
