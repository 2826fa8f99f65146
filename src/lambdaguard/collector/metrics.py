"""What an OTLP metrics request contributes to the store: the agent's evidence-mode counts.

In evidence mode the agent exports a fact (an AWS call, a host, an invocation's
trigger and outcome) as spans the first time its execution environment sees
it, and only *counts* repeats; every ``LAMBDAGUARD_FLUSH_INTERVAL`` it sends
the counts as cumulative OTLP metrics (names and attributes in
:mod:`lambdaguard.semconv`). This module turns those data points into the same
store rows spans produce (calls, hosts, invocation days, triggers, versions,
errors, durations), as :class:`SeriesPoint` values the store applies with
:meth:`~lambdaguard.collector.store.Store.ingest_metrics`.

Idempotency: a cumulative sum resent after a failure carries the same value,
so the store keeps the last value it saw per series (environment x metric x
attributes, :data:`~lambdaguard.collector.store.metric_series_t`) and adds
only the difference. A point whose start time is later than the one kept
starts a new run (a restarted counter): its whole value counts. An older or
equal value adds nothing.

Only data points of the agent's own scope (``lambdaguard.agent``), cumulative
and monotonic, whose ``lambdaguard.counted_in_spans`` is false are turned into
rows: the part counted in spans was stored from the spans. Everything else
(other instrumentations' metrics, the spans-counted part) is accepted and
counted but stores nothing; the receiver forwards it all unchanged. Data
points the store cannot use (negative values, bucket counts that do not add
up) are rejected with the reason (OTLP partial success).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from lambdaguard import semconv
from lambdaguard.collector.spans import (
    MAX_TEXT,
    CallFact,
    FunctionFact,
    HostFact,
    _attrs,
    _bool,
    _day,
    _function_from,
    _int,
    _params,
    _response,
    _text,
    duration_bucket,
)

__all__ = [
    "DurationTarget",
    "InvocationTarget",
    "MetricFacts",
    "SeriesPoint",
    "extract_metrics",
    "store_buckets",
]

_CUMULATIVE: Final = 2  # AGGREGATION_TEMPORALITY_CUMULATIVE
_MAX_VALUE: Final = 1 << 40  # a count beyond this is not a count (and would overflow sums)


@dataclass(frozen=True, slots=True)
class InvocationTarget:
    """What an invocation counter's increments add to: the day's totals and the seen tables."""

    day: str
    outcome: str  # success | error | timeout
    error_type: str
    trigger_kind: str
    trigger_source: str
    version: str
    alias: str
    cold_start: bool = False  # the faas.coldstarts series: cold starts only


@dataclass(frozen=True, slots=True)
class DurationTarget:
    """A duration histogram: its increments go to the day's duration buckets."""

    day: str


Target = CallFact | HostFact | InvocationTarget | DurationTarget


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One cumulative data point of one series, and what its increase counts.

    ``series`` is a 16-byte digest of (environment, metric, attributes): the
    key under which the store keeps the last value. ``value`` is the
    cumulative count (sums); ``buckets`` the cumulative count per store
    duration bucket (histograms). ``failures`` marks the connection-failures
    counter of a host.
    """

    series: bytes
    function: FunctionFact
    start_ns: int
    time_ns: int
    target: Target
    value: int = 0
    buckets: tuple[tuple[int, int], ...] = ()
    failures: bool = False


@dataclass(frozen=True, slots=True)
class MetricFacts:
    """What one metrics request holds for the store, and its data point count."""

    data_points: int
    rejected: int = 0
    reject_reason: str = ""
    points: tuple[SeriesPoint, ...] = ()


def store_buckets(scale: int, offset: int, counts: Iterable[int], zero: int) -> dict[int, int]:
    """An exponential histogram's counts regrouped into the store's duration buckets.

    Bucket ``offset + k`` holds (2**((offset+k)/2**scale), ...] seconds; its
    geometric middle, in ms, decides the store bucket
    (:func:`~lambdaguard.collector.spans.duration_bucket`). At the agent's scale
    (4) a middle is within 2.2 % of every value in its bucket, so a stored
    percentile is within about 7 % (instead of 5 % from spans).
    """
    out: dict[int, int] = {}
    step = 2.0**-scale
    for k, n in enumerate(counts):
        if n:
            middle_ms = 2.0 ** ((offset + k + 0.5) * step) * 1000
            bucket = duration_bucket(middle_ms)
            out[bucket] = out.get(bucket, 0) + n
    if zero:
        lowest = duration_bucket(0)
        out[lowest] = out.get(lowest, 0) + zero
    return out


def _digest(*parts: str) -> bytes:
    text = "\x1f".join(parts)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _series_key(instance: str, name: str, attrs: dict[str, Any]) -> bytes:
    items = sorted((k, repr(v)) for k, v in attrs.items())
    return _digest(instance, name, *(f"{k}={v}" for k, v in items))


def _call(attrs: dict[str, Any], function: FunctionFact) -> CallFact:
    # The same reading as spans.extract, so a call's span and its counter make
    # the same store row (a contract test compares their keys).
    params, complete = _params(
        attrs.get(semconv.AWS_PARAMS), _bool(attrs, semconv.AWS_PARAMS_TRUNCATED)
    )
    return CallFact(
        service=_text(attrs, semconv.AWS_SERVICE),
        operation=_text(attrs, semconv.AWS_OPERATION),
        region=_text(attrs, semconv.AWS_REGION) or function.region,
        params=params,
        phase=_text(attrs, semconv.PHASE) or semconv.PHASE_INVOKE,
        error_code=_text(attrs, semconv.AWS_ERROR_CODE),
        response=_response(attrs),
        presign=_bool(attrs, semconv.AWS_PRESIGN),
        count=1,
        params_complete=complete,
        credentials=_text(attrs, semconv.AWS_CREDENTIALS),
        role_arn=_text(attrs, semconv.AWS_CREDENTIALS_ROLE),
        via=_text(attrs, semconv.AWS_VIA) or semconv.VIA_SDK,
    )


def _invocation(
    name: str, attrs: dict[str, Any], function: FunctionFact, day: str
) -> InvocationTarget:
    outcome = {
        semconv.METRIC_ERRORS: semconv.OUTCOME_ERROR,
        semconv.METRIC_TIMEOUTS: semconv.OUTCOME_TIMEOUT,
    }.get(name, semconv.OUTCOME_SUCCESS)
    return InvocationTarget(
        day=day,
        outcome=outcome,
        error_type=_text(attrs, semconv.ERROR_TYPE) if outcome == semconv.OUTCOME_ERROR else "",
        trigger_kind=_text(attrs, semconv.TRIGGER_KIND),
        trigger_source=_text(attrs, semconv.TRIGGER_SOURCE),
        version=function.version,
        alias=_text(attrs, semconv.FUNCTION_ALIAS),
        cold_start=name == semconv.METRIC_COLDSTARTS,
    )


_INVOCATION_METRICS: Final = frozenset(
    {
        semconv.METRIC_INVOCATIONS,
        semconv.METRIC_ERRORS,
        semconv.METRIC_TIMEOUTS,
        semconv.METRIC_COLDSTARTS,
    }
)
_HOST_METRICS: Final = frozenset({semconv.METRIC_CONNECTIONS, semconv.METRIC_CONNECTION_FAILURES})
_SUM_METRICS: Final = _INVOCATION_METRICS | _HOST_METRICS | {semconv.METRIC_AWS_CALLS}


class _Rejected(ValueError):
    """A data point the store cannot use."""


def _sum_point(  # noqa: PLR0917 - one data point and its context
    name: str,
    point: Any,
    attrs: dict[str, Any],
    function: FunctionFact,
    instance: str,
    now_ns: int,
) -> SeriesPoint | None:
    if point.WhichOneof("value") != "as_int":
        raise _Rejected(f"{name} data points must be integers")
    value = int(point.as_int)
    if not 0 <= value <= _MAX_VALUE:
        raise _Rejected(f"{name} data point value {value} is not a count")
    time_ns = point.time_unix_nano or now_ns
    day = _day(time_ns)
    target: Target
    if name == semconv.METRIC_AWS_CALLS:
        if not (_text(attrs, semconv.AWS_SERVICE) and _text(attrs, semconv.AWS_OPERATION)):
            raise _Rejected(f"{name} data point without service and operation")
        target = _call(attrs, function)
    elif name in _HOST_METRICS:
        host = _text(attrs, semconv.SERVER_ADDRESS)
        if not host:
            raise _Rejected(f"{name} data point without {semconv.SERVER_ADDRESS}")
        port = _int(attrs, semconv.SERVER_PORT, 0)
        target = HostFact(
            host=host,
            port=port if port <= 65535 else 0,
            tls=_bool(attrs, semconv.NET_TLS),
            aws=_bool(attrs, semconv.NET_AWS),
            count=0,
            failures=0,
        )
    else:
        target = _invocation(name, attrs, function, day)
    return SeriesPoint(
        series=_series_key(instance, name, attrs),
        function=function,
        start_ns=point.start_time_unix_nano,
        time_ns=time_ns,
        target=target,
        value=value,
        failures=name == semconv.METRIC_CONNECTION_FAILURES,
    )


def _histogram_point(
    point: Any, attrs: dict[str, Any], function: FunctionFact, instance: str, now_ns: int
) -> SeriesPoint:
    positive = point.positive
    counts = list(positive.bucket_counts)
    if any(n > _MAX_VALUE for n in counts) or point.zero_count > _MAX_VALUE:
        raise _Rejected("faas.invoke_duration bucket count is not a count")
    if sum(counts) + point.zero_count > point.count:
        raise _Rejected("faas.invoke_duration buckets hold more than its count")
    if not -20 <= point.scale <= 20:
        raise _Rejected(f"faas.invoke_duration scale {point.scale} is out of range")
    time_ns = point.time_unix_nano or now_ns
    buckets = store_buckets(point.scale, positive.offset, counts, point.zero_count)
    return SeriesPoint(
        series=_series_key(instance, semconv.METRIC_INVOKE_DURATION, attrs),
        function=function,
        start_ns=point.start_time_unix_nano,
        time_ns=time_ns,
        target=DurationTarget(_day(time_ns)),
        buckets=tuple(sorted(buckets.items())),
    )


def extract_metrics(request: Any, now_ns: int) -> MetricFacts:
    """Reduce an ExportMetricsServiceRequest to the series points the store turns into rows."""
    total = rejected = 0
    reasons: dict[str, None] = {}
    out: list[SeriesPoint] = []
    for rm in request.resource_metrics:
        resource = _attrs(rm.resource.attributes)
        function = _function_from(_text(resource, semconv.CLOUD_RESOURCE_ID), resource)
        # The environment: the function (and version), Lambda's log stream, the agent's own id.
        instance = "\x1e".join(
            (
                _text(resource, semconv.CLOUD_RESOURCE_ID, MAX_TEXT),
                _text(resource, semconv.FAAS_VERSION),
                _text(resource, semconv.FAAS_INSTANCE),
                _text(resource, semconv.SERVICE_INSTANCE_ID),
            )
        )
        for sm in rm.scope_metrics:
            ours = sm.scope.name == semconv.AGENT_SCOPE
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue
                data = getattr(metric, kind)
                points = data.data_points
                total += len(points)
                name = metric.name
                usable = (
                    ours
                    and function is not None
                    and data.aggregation_temporality == _CUMULATIVE
                    and (
                        (kind == "sum" and data.is_monotonic and name in _SUM_METRICS)
                        or (
                            kind == "exponential_histogram"
                            and name == semconv.METRIC_INVOKE_DURATION
                        )
                    )
                )
                if not usable or function is None:
                    continue
                for point in points:
                    attrs = _attrs(point.attributes)
                    if _bool(attrs, semconv.COUNTED_IN_SPANS):
                        continue  # stored from the spans already
                    try:
                        if kind == "sum":
                            found = _sum_point(name, point, attrs, function, instance, now_ns)
                        else:
                            found = _histogram_point(point, attrs, function, instance, now_ns)
                    except _Rejected as exc:
                        rejected += 1
                        reasons[str(exc)] = None
                        continue
                    if found is not None:
                        out.append(found)
    reason = ""
    if rejected:
        reason = f"{rejected} data point(s) rejected: " + "; ".join(list(reasons)[:5])
    return MetricFacts(total, rejected, reason, tuple(out))


def histogram_state(buckets: tuple[tuple[int, int], ...]) -> str:
    """The stored form of a histogram series' cumulative buckets (compact JSON)."""
    return json.dumps({str(b): n for b, n in buckets}, separators=(",", ":"), sort_keys=True)
