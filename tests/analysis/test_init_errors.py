"""An init error sent without an ARN reaches the verdict: agent encoding, collector, store, analysis."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from lambdaguard import semconv
from lambdaguard.agent import config as agent_config
from lambdaguard.agent import export
from lambdaguard.agent.recorder import Record
from lambdaguard.analysis.inventory import FunctionInfo
from lambdaguard.analysis.telemetry import read_telemetry
from lambdaguard.analysis.verdicts import judge
from lambdaguard.collector.spans import extract
from lambdaguard.collector.store import open_store

ARN = "arn:aws:lambda:eu-west-1:123456789012:function:orders"


def init_error_request(name: str, region: str, when_ns: int) -> ExportTraceServiceRequest:
    """What Agent.init_failed sends: an init span with the error type, named by the environment."""
    record = Record(
        phase=semconv.PHASE_INIT,
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        start_ns=when_ns,
        end_ns=when_ns + 1_000_000,
        function_name=name,
        version="$LATEST",
        outcome=semconv.OUTCOME_ERROR,
        error_type="Runtime.ImportModuleError",
    )
    body = export.encode(
        agent_config.load({"AWS_REGION": region, "AWS_LAMBDA_FUNCTION_NAME": name}), [record]
    )
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return request


def test_extract_keeps_an_init_error_without_an_arn(monkeypatch: pytest.MonkeyPatch) -> None:
    """The collector keeps the error against region and name, with the account left empty."""
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    facts = extract(
        init_error_request("orders", "eu-west-1", time.time_ns()), now_ns=time.time_ns()
    )
    (fact,) = facts.spans
    assert fact.function.arn == "arn:aws:lambda:eu-west-1::function:orders"
    assert fact.function.account == ""
    assert fact.init_error == "Runtime.ImportModuleError"


def test_init_errors_join_the_function_and_flag_it_broken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored by name and region, the init errors join the function by region and name: broken."""
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    store = open_store(f"sqlite:///{tmp_path / 'lg.db'}")
    now = datetime(2026, 5, 15, 12, tzinfo=UTC)
    for days_ago in (3, 2, 1):
        when = int((now - timedelta(days=days_ago)).timestamp() * 1e9)
        store.ingest(extract(init_error_request("orders", "eu-west-1", when), now_ns=when).spans)
    telemetry = read_telemetry(store)
    store.close()
    found = telemetry.find(ARN, "eu-west-1", "orders")
    assert found is not None
    assert found.init_errors == 3
    assert found.init_error_types == {"Runtime.ImportModuleError": 3}
    fn = FunctionInfo("orders", ARN, "eu-west-1", "123456789012", invocations={}, errors={})
    finding = judge(fn, now=now, window=timedelta(days=90), telemetry=found)
    assert "broken" in finding.flag_names
    assert finding.verdict == "active"  # invoked, failing at INIT: someone still calls it
    assert "Runtime.ImportModuleError" in finding.as_dict()["flag_reasons"]["broken"]
    assert telemetry.find(ARN.replace("orders", "other"), "eu-west-1", "other") is None
