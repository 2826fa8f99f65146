"""The per-invocation record: cheap to write from any thread, frozen when read.

A :class:`Recording` accumulates while its phase runs (module INIT, or one
invocation); hooks append to whichever recording is *current*. Lambda runs one
invocation at a time per execution environment, so "current" is process-wide:
a worker thread (``upload_file``'s transfer threads, a user's pool) that makes
a call while an invocation runs is attributed to that invocation. Appends are
single ``list.append`` calls, atomic under the GIL, so no lock is taken on the
hot path. :meth:`Recording.snapshot` freezes it into an :class:`Record`.

The records are tuples with named fields, as ``typing.NamedTuple`` makes them
(``_fields``, ``_replace``, ``_asdict``, equal and hashable as tuples), but
written by hand: ``collections.namedtuple`` compiles each class's ``__new__``
from source text (``eval``), and typing's annotations were compiled too, on
every cold start's INIT path (the agent's INIT, callgrind: 38.7M -> 34.7M
instructions with these classes and the per-call cache in ``aws``). Frozen
dataclasses would cost ~0.8 ms each to create.
"""

from __future__ import annotations

import collections
import random
import threading
import time
from collections.abc import Iterable
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Self

from lambdaguard import semconv

__all__ = [
    "AwsCall",
    "Connection",
    "Link",
    "Record",
    "Recording",
    "Trigger",
    "current",
    "new_id",
    "set_current",
    "suppressed",
]


# Attribute access by position, as collections.namedtuple's fields do (the C
# descriptor it uses; a property over operator.itemgetter where it is missing).
_tuplegetter: Any = getattr(collections, "_tuplegetter", None)
if _tuplegetter is None:  # pragma: no cover - every CPython this runs on has it

    def _tuplegetter(index: int, doc: str) -> Any:
        return property(itemgetter(index), doc=doc)


_tuple_new = tuple.__new__


class _Record(tuple):  # type: ignore[type-arg]  # each subclass fixes its own fields
    """What the records share with a ``NamedTuple``: ``_fields``, ``_replace``, ``_asdict``…

    The records are tuples (equal, hashable, immutable, positional, unpackable)
    with named fields, written by hand rather than made by
    ``collections.namedtuple`` / ``typing.NamedTuple``: those compile each
    class's ``__new__`` from source text (``eval``) when the class is created,
    and this module is on every cold start's INIT path.
    """

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _field_defaults: dict[str, Any] = {}

    @classmethod
    def _make(cls, iterable: Iterable[Any]) -> Self:
        """A record from a sequence of every field's value, in order."""
        values = tuple(iterable)
        if len(values) != len(cls._fields):
            raise TypeError(f"expected {len(cls._fields)} arguments, got {len(values)}")
        return _tuple_new(cls, values)

    def _replace(self, **changes: Any) -> Self:
        """A copy with the named fields replaced."""
        values = tuple(map(changes.pop, self._fields, self))
        if changes:
            raise TypeError(f"got unexpected field names: {list(changes)!r}")
        return _tuple_new(type(self), values)

    def _asdict(self) -> dict[str, Any]:
        """The fields as a new dict, in order."""
        return dict(zip(self._fields, self, strict=True))

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self)

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={value!r}" for name, value in zip(self._fields, self, strict=True)
        )
        return f"{type(self).__name__}({fields})"


def _named(cls: type[_Record], fields: str, defaults: tuple[Any, ...]) -> None:
    # Fields become class attributes reading their position; ``defaults``
    # are the last fields' defaults, as collections.namedtuple takes them.
    names = tuple(fields.split())
    cls._fields = names
    cls._field_defaults = dict(zip(names[len(names) - len(defaults) :], defaults, strict=True))
    cls.__match_args__ = names  # type: ignore[attr-defined,misc]
    for index, name in enumerate(names):
        setattr(cls, name, _tuplegetter(index, f"Alias for field number {index}"))


class AwsCall(_Record):
    """One AWS API call: a botocore operation, a SigV4-signed request, or one made for the
    function by an AWS Lambda extension (``via``); or one presigned URL generated.

    ``response`` is the compact JSON object of the response facts
    (:data:`lambdaguard.recorded.RESPONSE_FACTS`), ``""`` when there were none.
    ``credentials`` says whose credentials signed it (``semconv.CREDENTIALS_*``),
    ``role_arn`` the assumed role's ARN; never the credentials themselves.
    """

    __slots__ = ()
    if TYPE_CHECKING:
        service: str
        service_id: str
        operation: str
        region: str
        endpoint: str
        params: str
        start_ns: int
        end_ns: int
        status: int
        request_id: str
        error_code: str
        response: str
        retries: int
        presign: bool
        params_truncated: bool
        credentials: str
        role_arn: str
        via: str
        # Shadows tuple.count on purpose: the wire contract calls it count.
        count: int  # type: ignore[assignment]

    def __new__(  # noqa: PLR0917 - positional, as a NamedTuple's fields are
        cls,
        service: str,
        service_id: str,
        operation: str,
        region: str,
        endpoint: str,
        params: str,
        start_ns: int,
        end_ns: int,
        status: int = 0,
        request_id: str = "",
        error_code: str = "",
        response: str = "",
        retries: int = 0,
        presign: bool = False,
        params_truncated: bool = False,
        credentials: str = "",
        role_arn: str = "",
        via: str = "",
        count: int = 1,
    ) -> Self:
        return _tuple_new(
            cls,
            (
                service,
                service_id,
                operation,
                region,
                endpoint,
                params,
                start_ns,
                end_ns,
                status,
                request_id,
                error_code,
                response,
                retries,
                presign,
                params_truncated,
                credentials,
                role_arn,
                via,
                count,
            ),
        )


_named(
    AwsCall,
    "service service_id operation region endpoint params start_ns end_ns status request_id"
    " error_code response retries presign params_truncated credentials role_arn via count",
    (0, "", "", "", 0, False, False, "", "", "", 1),
)


class Connection(_Record):
    """Outbound connections to one (host, port, tls), with how many opened and failed.

    Through an HTTP proxy, ``host``/``port`` are the destination (the ``CONNECT``
    target or the absolute-form request's host) and ``proxy`` is ``"host:port"``
    of the proxy itself; ``""`` for a direct connection.
    """

    __slots__ = ()
    if TYPE_CHECKING:
        host: str
        port: int
        tls: bool
        aws: bool
        count: int  # type: ignore[assignment]  # shadows tuple.count, as in AwsCall
        failures: int
        proxy: str

    def __new__(  # noqa: PLR0917 - positional, as a NamedTuple's fields are
        cls, host: str, port: int, tls: bool, aws: bool, count: int, failures: int, proxy: str = ""
    ) -> Self:
        return _tuple_new(cls, (host, port, tls, aws, count, failures, proxy))


_named(Connection, "host port tls aws count failures proxy", ("",))


class Link(_Record):
    """A span context the invocation is linked to (an SQS/SNS message's producer)."""

    __slots__ = ()
    if TYPE_CHECKING:
        trace_id: bytes
        span_id: bytes
        sampled: bool

    def __new__(cls, trace_id: bytes, span_id: bytes, sampled: bool = True) -> Self:
        return _tuple_new(cls, (trace_id, span_id, sampled))


_named(Link, "trace_id span_id sampled", (True,))


class Trigger(_Record):
    """What invoked the function: kind (one of ``semconv.TRIGGER_KINDS``) and source.

    ``xray`` is the X-Ray header to link to, kept raw: parsed only if the
    invocation is exported (see ``triggers.links_of``), not on every
    invocation's response path.
    """

    __slots__ = ()
    if TYPE_CHECKING:
        kind: str
        source: str
        faas_trigger: str
        consumer: bool
        parent_trace_id: bytes
        parent_span_id: bytes
        sampled: bool
        links: tuple[Link, ...]
        xray: str

    def __new__(  # noqa: PLR0917 - positional, as a NamedTuple's fields are
        cls,
        kind: str = "direct",
        source: str = "",
        faas_trigger: str = "other",
        consumer: bool = False,
        parent_trace_id: bytes = b"",
        parent_span_id: bytes = b"",
        sampled: bool = True,
        links: tuple[Link, ...] = (),
        xray: str = "",
    ) -> Self:
        return _tuple_new(
            cls,
            (
                kind,
                source,
                faas_trigger,
                consumer,
                parent_trace_id,
                parent_span_id,
                sampled,
                links,
                xray,
            ),
        )


_named(
    Trigger,
    "kind source faas_trigger consumer parent_trace_id parent_span_id sampled links xray",
    ("direct", "", "other", False, b"", b"", True, (), ""),
)

_NO_TRIGGER = Trigger()


class Record(_Record):
    """What one phase (init, or one invocation) did; the exporter reads only this."""

    __slots__ = ()
    if TYPE_CHECKING:
        phase: str
        trace_id: bytes
        span_id: bytes
        start_ns: int
        end_ns: int
        request_id: str
        function_name: str
        function_arn: str
        alias: str
        version: str
        cold_start: bool
        init_duration_ms: float
        trigger: Trigger
        outcome: str
        error_type: str
        remaining_ms: int
        memory_limit_mb: int
        aws_calls: tuple[AwsCall, ...]
        connections: tuple[Connection, ...]
        dropped_calls: int

    def __new__(  # noqa: PLR0917 - positional, as a NamedTuple's fields are
        cls,
        phase: str,
        trace_id: bytes,
        span_id: bytes,
        start_ns: int,
        end_ns: int,
        request_id: str = "",
        function_name: str = "",
        function_arn: str = "",
        alias: str = "",
        version: str = "",
        cold_start: bool = False,
        init_duration_ms: float = -1.0,
        trigger: Trigger = _NO_TRIGGER,
        outcome: str = semconv.OUTCOME_SUCCESS,
        error_type: str = "",
        remaining_ms: int = -1,
        memory_limit_mb: int = 0,
        aws_calls: tuple[AwsCall, ...] = (),
        connections: tuple[Connection, ...] = (),
        dropped_calls: int = 0,
    ) -> Self:
        return _tuple_new(
            cls,
            (
                phase,
                trace_id,
                span_id,
                start_ns,
                end_ns,
                request_id,
                function_name,
                function_arn,
                alias,
                version,
                cold_start,
                init_duration_ms,
                trigger,
                outcome,
                error_type,
                remaining_ms,
                memory_limit_mb,
                aws_calls,
                connections,
                dropped_calls,
            ),
        )


_named(
    Record,
    "phase trace_id span_id start_ns end_ns request_id function_name function_arn alias version"
    " cold_start init_duration_ms trigger outcome error_type remaining_ms memory_limit_mb"
    " aws_calls connections dropped_calls",
    ("", "", "", "", "", False, -1.0, _NO_TRIGGER, semconv.OUTCOME_SUCCESS, "", -1, 0, (), (), 0),
)


class OpenConnection:
    """One connection attempt, mutable until the record is frozen (TLS is learnt later)."""

    __slots__ = ("aws", "failed", "host", "port", "proxy", "tls")

    def __init__(self, host: str, port: int, aws: bool) -> None:
        self.host = host
        self.port = port
        self.aws = aws
        self.tls = False
        self.failed = False
        self.proxy = ""


def new_id(size: int) -> bytes:
    """A random, non-zero trace (16) or span (8) id.

    ``random.getrandbits`` (seeded from the OS at start and after a fork), as
    the OpenTelemetry SDK's id generator does: ids need to be unique, not
    secret, and ``os.urandom`` is a system call on the response path.
    """
    return (random.getrandbits(size * 8) or 1).to_bytes(size, "big")


# A bound on memory for a runaway loop of calls; beyond it calls are counted, not kept.
MAX_KEPT = 5000


class Recording:
    """An open record for the phase in progress; hooks append, the exporter snapshots."""

    __slots__ = ("calls", "closed", "conns", "dropped", "phase", "span_id", "start_ns", "trace_id")

    def __init__(self, phase: str, trace_id: bytes | None = None, *, ids: bool = True) -> None:
        # ids=False: a recording that is never exported as a span of its own
        # (calls made between invocations, merged into the next one).
        self.phase = phase
        self.trace_id = (trace_id or new_id(16)) if ids else b""
        self.span_id = new_id(8) if ids else b""
        self.start_ns = time.time_ns()
        self.calls: list[AwsCall] = []
        self.conns: list[OpenConnection] = []
        self.dropped = 0
        self.closed = False

    def add_call(self, call: AwsCall) -> None:
        """Keep one AWS call (thread-safe: a single append)."""
        # aws._finish keeps a call the same way, inline (it runs on every call).
        if self.closed or len(self.calls) >= MAX_KEPT:
            self.dropped += 1
            return
        self.calls.append(call)

    def open_connection(self, host: str, port: int, aws: bool) -> OpenConnection:
        """Note one connection attempt; the caller may later mark it TLS or failed."""
        conn = OpenConnection(host, port, aws)
        if not self.closed and len(self.conns) < MAX_KEPT:
            self.conns.append(conn)
        return conn

    def connections(self) -> tuple[Connection, ...]:
        """The attempts so far, grouped by (host, port, tls, proxy) in first-seen order."""
        grouped: dict[tuple[str, int, bool, str], list[int]] = {}
        aws: dict[tuple[str, int, bool, str], bool] = {}
        for conn in list(self.conns):
            key = (conn.host, conn.port, conn.tls, conn.proxy)
            counts = grouped.setdefault(key, [0, 0])
            counts[0] += 1
            counts[1] += int(conn.failed)
            aws[key] = aws.get(key, False) or conn.aws
        return tuple(
            Connection(host, port, tls, aws[key], n, failed, proxy)
            for key, (n, failed) in grouped.items()
            for host, port, tls, proxy in (key,)
        )


_current: Recording | None = None


class _Local(threading.local):
    # A class default, so a thread that never set it reads False without
    # getattr's missing-attribute path (an exception raised and swallowed in C:
    # callgrind, ~4,500 instructions per read instead of ~600); read on every
    # hooked call.
    suppressed = False


_local = _Local()


def current() -> Recording | None:
    """The recording hooks should write to, or None (between invocations, or ourselves)."""
    if _local.suppressed:
        return None
    return _current


def set_current(recording: Recording | None) -> None:
    """Make ``recording`` the one every thread's hooks write to."""
    global _current  # noqa: PLW0603 - one process-wide "phase in progress", by design
    _current = recording


class suppressed:
    """Within this block, on this thread, nothing is recorded (lambdaguard's own I/O)."""

    def __enter__(self) -> None:
        self._previous = _local.suppressed
        _local.suppressed = True

    def __exit__(self, *exc: object) -> None:
        _local.suppressed = self._previous


def is_suppressed() -> bool:
    """Whether this thread is doing lambdaguard's own I/O."""
    return bool(_local.suppressed)
