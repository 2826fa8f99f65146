"""What an OTLP metrics request contributes to the store.

**Minimal for now, and honest about it:** the agent does not yet send metrics
(the repeat counts of known facts are issue 13's work, which will define the
metric names and turn them into store rows here). Until then
:func:`extract_metrics` decodes nothing further and stores nothing; it counts
the data points so the receiver can answer, count and forward them. The
receiver (``/v1/metrics`` and the gRPC MetricsService) already applies the
same decode limits as traces and calls this function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["MetricFacts", "extract_metrics"]


@dataclass(frozen=True, slots=True)
class MetricFacts:
    """What one metrics request holds for the store (nothing yet) and its data point count."""

    data_points: int
    rejected: int = 0
    reject_reason: str = ""


def extract_metrics(request: Any, now_ns: int) -> MetricFacts:
    """Count the data points of an ExportMetricsServiceRequest; nothing is stored yet."""
    del now_ns  # kept for the signature issue 13 builds on
    points = 0
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                which = metric.WhichOneof("data")
                if which is not None:
                    points += len(getattr(metric, which).data_points)
    return MetricFacts(points)
