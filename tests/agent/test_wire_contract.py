"""What the agent sends is what the collector reads: agent bytes through the collector's extractor."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from lambdaguard import instrument, semconv
from lambdaguard.agent import flush

from .conftest import FUNCTION_ARN, Context, Sink


def test_collector_extracts_calls_phases_invocations_and_hosts(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str
) -> None:
    """INIT and invoke calls, the invocation and its hosts all survive the collector's extraction."""
    spans_module = pytest.importorskip("lambdaguard.collector.spans")
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    enable()
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")

    def handler(event: Any, context: Any) -> None:
        sqs.list_queues()

    wrapped = instrument(handler)
    sqs.create_queue(QueueName="contract")  # module level, after the agent: INIT
    wrapped({}, Context())
    assert flush(5000)
    facts = []
    for body in sink.bodies:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        extracted = spans_module.extract(request, now_ns=0)
        assert extracted.rejected == 0
        facts.extend(extracted.spans)
    assert {f.function.arn for f in facts} == {FUNCTION_ARN}
    calls = {(f.call.operation, f.call.phase) for f in facts if f.call is not None}
    assert calls == {("CreateQueue", semconv.PHASE_INIT), ("ListQueues", semconv.PHASE_INVOKE)}
    create = next(f.call for f in facts if f.call is not None and f.call.operation == "CreateQueue")
    assert json.loads(create.params) == {"QueueName": "contract"}
    invocations = [f.invocation for f in facts if f.invocation is not None]
    assert len(invocations) == 1
    assert invocations[0].cold_start is True
    assert invocations[0].outcome == semconv.OUTCOME_SUCCESS
    hosts = [h for f in facts for h, _ in f.hosts]
    assert any(h.aws and h.host == "127.0.0.1" for h in hosts)
