"""The inventory with lambdaguard's store: its evidence in the verdicts, the listing kept, hosts."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from lambdaguard import semconv
from lambdaguard.agent import config as agent_config
from lambdaguard.agent import export
from lambdaguard.agent.recorder import Connection, Record, Trigger
from lambdaguard.cli import main
from lambdaguard.collector.spans import extract
from lambdaguard.collector.store import open_store
from lambdaguard.local.fleet import Fleet

from .conftest import NOW

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


def invocation(name: str, days_ago: int, *connections: Connection) -> ExportTraceServiceRequest:
    """One invocation as the agent exports it, with its outbound connections."""
    start = int((NOW - timedelta(days=days_ago)).timestamp() * 1e9)
    record = Record(
        phase=semconv.PHASE_INVOKE,
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        start_ns=start,
        end_ns=start + 5_000_000,
        request_id="r-1",
        function_name=name,
        function_arn=ARN + name,
        trigger=Trigger(kind="sqs", source="arn:aws:sqs:us-east-1:123456789012:jobs"),
        connections=connections,
    )
    body = export.encode(agent_config.load({"AWS_REGION": "us-east-1"}), [record])
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return request


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A store holding lambdaguard's evidence for two of the fleet's functions."""
    url = f"sqlite:///{tmp_path / 'lg.db'}"
    store = open_store(url)
    for request in (
        invocation(
            "fleet-api-00",
            1,
            Connection("api.partner.example", 443, True, False, 4, 0),
            Connection("legacy.partner.example", 80, False, False, 2, 1),
            Connection("dynamodb.us-east-1.amazonaws.com", 443, True, True, 9, 0),
        ),
        invocation("fleet-api-01", 30, Connection("10.1.2.3", 8080, True, False, 1, 0)),
    ):
        store.ingest(extract(request, now_ns=int(NOW.timestamp() * 1e9)).spans)
    store.close()
    return url


def test_store_evidence_flags_plaintext_and_the_listing_is_kept(
    fleet: Fleet, aws_env: str, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Plaintext egress from the store is flagged; every listed function is recorded in the store."""
    code = main(
        [
            "inventory",
            "--now",
            NOW.isoformat(),
            "--format",
            "json",
            "--region",
            "us-east-1",
            "--store",
            store_url,
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc["warnings"]
    found = {f["name"]: f for f in doc["functions"]}
    assert "plaintext-egress" in found["fleet-api-00"]["flags"]
    assert "legacy.partner.example:80" in found["fleet-api-00"]["flag_reasons"]["plaintext-egress"]
    assert "plaintext-egress" not in found["fleet-api-01"]["flags"]
    store = open_store(store_url, migrate=False)
    listed = {e.name: e for e in store.inventory()}
    store.close()
    assert set(fleet.expected) <= set(listed)
    assert listed["fleet-api-00"].lambdaguard is True
    assert listed["fleet-no-trigger"].source == "live"


def test_a_missing_store_is_an_error_and_is_not_created(
    aws_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pointing at a store that does not exist fails with exit 3 and creates nothing."""
    missing = tmp_path / "nowhere" / "lg.db"
    assert main(["inventory", "--region", "us-east-1", "--store", f"sqlite:///{missing}"]) == 3
    assert "no store at" in capsys.readouterr().err
    assert not missing.parent.exists()


def test_hosts_lists_third_parties_and_marks_plaintext_and_drift(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """AWS endpoints are left out; plaintext and hosts new since the baseline are marked."""
    baseline = (NOW - timedelta(days=10)).date().isoformat()
    code = main(["hosts", "--store", store_url, "--format", "json", "--baseline", baseline])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1  # a plaintext host was found
    hosts = {(h["function"], h["host"]): h for h in doc["hosts"]}
    assert set(hosts) == {
        ("fleet-api-00", "api.partner.example"),
        ("fleet-api-00", "legacy.partner.example"),
        ("fleet-api-01", "10.1.2.3"),
    }
    assert hosts["fleet-api-00", "legacy.partner.example"]["plaintext"] is True
    assert hosts["fleet-api-00", "legacy.partner.example"]["failures"] == 1
    assert hosts["fleet-api-00", "api.partner.example"]["new_since_baseline"] is True
    assert hosts["fleet-api-01", "10.1.2.3"]["new_since_baseline"] is False
    assert doc["allow_list"]["functions"]["fleet-api-01"] == ["10.1.2.3"]


def test_hosts_allow_lists_in_three_forms(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """DNS Firewall body, Squid allow-list and plain domains; an IP is never put in a DNS list."""
    main(
        [
            "hosts",
            "fleet-api-00",
            "--store",
            store_url,
            "--format",
            "dns-firewall",
            "--list-id",
            "rslvr-fdl-1",
        ]
    )
    body = json.loads(capsys.readouterr().out)
    assert body == {
        "FirewallDomainListId": "rslvr-fdl-1",
        "Operation": "REPLACE",
        "Domains": ["api.partner.example", "legacy.partner.example"],
    }
    main(["hosts", "--store", store_url, "--format", "squid"])
    squid = capsys.readouterr().out
    assert "acl lambdaguard_allowed dstdomain api.partner.example legacy.partner.example" in squid
    assert "acl lambdaguard_allowed_ip dst 10.1.2.3" in squid
    assert squid.rstrip().endswith("http_access deny all")
    main(["hosts", "--store", store_url, "--format", "domains"])
    domains = capsys.readouterr().out.splitlines()
    assert domains[:2] == ["api.partner.example", "legacy.partner.example"]
    assert "# 10.1.2.3" in domains
    assert main(["hosts", "no-such-function", "--store", store_url]) == 2


def test_verdicts_fill_the_findings_model_every_view_renders(
    fleet: Fleet, moto: Any, store_url: str
) -> None:
    """judgement_step puts each inventory verdict into analysis.fleet's findings, by ARN."""
    from lambdaguard.analysis._live import LiveReader
    from lambdaguard.analysis.fleet import analyse
    from lambdaguard.analysis.inventory import assemble
    from lambdaguard.analysis.telemetry import read_telemetry
    from lambdaguard.analysis.verdicts import judge_all, judgement_step

    sections, users, warnings = LiveReader(moto.client, ["us-east-1"], now=NOW).read()
    store = open_store(store_url, migrate=False)
    try:
        found = judge_all(
            assemble(sections, users=users, extra_warnings=warnings),
            now=NOW,
            window=timedelta(days=90),
            telemetry=read_telemetry(store),
        )
        findings = analyse(store, now=NOW, steps=[judgement_step(found)])
    finally:
        store.close()
    judged = {f.name: f for f in findings.functions}
    judgement = judged["fleet-api-00"].judgement
    assert judgement is not None
    assert judgement.verdict.value == "active"
    assert "plaintext-egress" in {f.name for f in judgement.flags}
    assert judged["fleet-api-00"].risk.score > judged["fleet-api-01"].risk.score


def test_the_views_judge_from_the_stored_inventory_without_aws(
    fleet: Fleet,
    aws_env: str,
    store_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What `inventory` printed is what `report`, `functions` and `show` say later, with AWS gone."""
    argv = ["--now", NOW.isoformat(), "--format", "json", "--region", "us-east-1"]
    assert main(["inventory", *argv, "--store", store_url]) == 0
    printed = {f["arn"]: f for f in json.loads(capsys.readouterr().out)["functions"]}
    # Nothing of AWS is reachable any more: the views read the store alone.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert main(["report", "--store", store_url, "--format", "json", "-o", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "lambdaguard.findings/2"
    assert doc["inventory"]["read_at"] == NOW.isoformat().replace("+00:00", "Z")
    assert doc["inventory"]["functions"] == len(printed)
    assert doc["inventory"]["window_days"] == 90
    shown = {f["arn"]: f for f in doc["functions"]}
    assert set(shown) == set(printed)  # functions without telemetry are there too
    for arn, want in printed.items():
        got = shown[arn]["judgement"]
        assert got["verdict"] == want["verdict"], want["name"]
        assert got["reasons"] == want["reasons"], want["name"]
        assert got["confidence"]["level"] == want["confidence"], want["name"]
        assert [f["name"] for f in got["flags"]] == want["flags"], want["name"]
        assert got["plan"] == want["plan"], want["name"]
        assert got["last_invoked"] == (
            want["last_invoked"].replace("+00:00", "Z") if want["last_invoked"] else None
        )
        assert shown[arn]["verdict"] == want["verdict"]
    assert doc["summary"]["by_verdict"]["dead"] == sum(
        1 for f in printed.values() if f["verdict"] == "dead"
    )
    dead = next(f for f in printed.values() if f["verdict"] == "dead")
    assert shown[dead["arn"]]["evidence"] is None
    assert shown[dead["arn"]]["judgement"]["plan"][-2]["command"].startswith(
        "aws lambda get-function"
    )
    assert main(["functions", "--store", store_url, "--format", "json"]) == 0
    rows = {r["arn"]: r for r in json.loads(capsys.readouterr().out)["functions"]}
    assert {a: r["verdict"] for a, r in rows.items()} == {
        a: f["verdict"] for a, f in printed.items()
    }
    assert main(["show", dead["name"], "--store", store_url]) == 0
    text = capsys.readouterr().out
    assert "verdict: dead" in text
    assert "aws lambda put-function-concurrency" in text
    assert "inventory read 2026-05-15 12:00 UTC" in text


def test_a_newer_reading_removes_functions_the_account_no_longer_lists(
    fleet: Fleet, moto: Any, store_url: str
) -> None:
    """A live reading replaces its region's rows: a deleted function does not stay dead forever."""
    from lambdaguard.analysis import stored
    from lambdaguard.analysis._live import LiveReader
    from lambdaguard.analysis.inventory import Inventory, assemble

    sections, users, warnings = LiveReader(moto.client, ["us-east-1"], now=NOW).read()
    inventory = assemble(sections, users=users, extra_warnings=warnings)
    store = open_store(store_url, migrate=False)
    try:
        stored.record(store, inventory, now=NOW, source="live")
        kept = Inventory(inventory.functions[1:], users=inventory.users)
        later = NOW + timedelta(days=1)
        stored.record(store, kept, now=later, source="live")
        listed = {e.arn: e for e in store.inventory()}
        readings = store.inventory_readings()
        found = stored.stored_inventory(store)
    finally:
        store.close()
    assert inventory.functions[0].arn not in listed
    assert len(listed) == len(inventory.functions) - 1
    assert [r.read_at for r in readings] == [NOW, later]
    assert found is not None
    assert found.read_at == later
    assert {f.function.arn for f in found.findings} == set(listed)
