"""`make demo` runs end to end, reports every function and leaves nothing running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_demo_reports_every_function_and_leaves_no_process(layer_zip: Path, tmp_path: Path) -> None:
    """The demo exits 0, writes its outputs, prints each function, and no function process survives it."""
    out = tmp_path / "demo"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lambdaguard.local.demo",
            "--out",
            str(out),
            "--layer",
            str(layer_zip),
        ],
        capture_output=True,
        text=True,
        timeout=420,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["functions"]) == {
        "orders-api",
        "thumbnailer",
        "nightly-report",
        "queue-worker",
        "slow-export",
        "broken-import",
    }
    orders = summary["functions"]["orders-api"]["recorded"]
    actions = {a["action"] for c in orders["calls"] for a in c["authorizations"]}
    assert {
        "dynamodb:BatchWriteItem",
        "secretsmanager:GetSecretValue",
        "sqs:SendMessage",
    } <= actions
    assert any(h["tls"] and not h["aws"] for h in orders["hosts"])
    for name in summary["functions"]:
        assert f"== {name}" in proc.stdout
    assert (out / "lambdaguard.db").exists()
    inventory = {f["name"]: f for f in summary["inventory"]["functions"]}
    assert {f["verdict"] for f in inventory.values()} == {"active", "idle", "idle-expected", "dead"}
    assert inventory["orders-api"]["verdict"] == "active"
    # Its handler cannot be imported: the init error the agent sent marks it broken.
    assert "broken" in inventory["broken-import"]["flags"]
    assert inventory["broken-import"]["verdict"] == "active"  # invoked, failing at INIT
    assert "orphaned-trigger" in inventory["legacy-queue-deleted"]["flags"]
    assert "== inventory" in proc.stdout
    # Each function it heard from: a proposal proved by replay and, under moto's IAM
    # enforcement with only that proposal, every invocation ending as before.
    policies = summary["policies"]
    assert set(policies) == {
        "orders-api",
        "thumbnailer",
        "nightly-report",
        "queue-worker",
        "slow-export",
    }
    for name, entry in policies.items():
        assert entry["proved_by_replay"] is True, name
        assert entry["moto"]["still_works"] is True, name
        assert entry["moto"]["not_refused"] == [], name
    assert "== right-sized policies" in proc.stdout
    assert (out / "functions.log").read_text()
    # It ends with where its outputs are, the HTML report among them, and what to run next.
    report = (out / "report.html").read_text()
    assert report.startswith("<!doctype html>")
    assert '"name":"orders-api"' in report
    # The proposals are in the report too (a proposal opens with its role and principal).
    assert '"role_arn":"arn:aws:iam::123456789012:role/orders-api-role","principal":' in report
    # ... and the inventory's verdicts, judged from the store by the report's own analysis:
    # the same verdicts the demo printed, the dead functions with their clean-up plans.
    start = report.index('id="lg-data">') + len('id="lg-data">')
    doc = json.loads(report[start : report.index("</script>", start)])
    assert doc["inventory"]["functions"] == len(inventory)
    shown = {f["name"]: f for f in doc["functions"]}
    assert {n: f["verdict"] for n, f in shown.items()} == {
        n: f["verdict"] for n, f in inventory.items()
    }
    assert shown["orders-api"]["proposal"] is not None
    assert shown["orders-api"]["judgement"]["verdict"] == "active"
    dead = shown["legacy-no-trigger"]
    assert dead["evidence"] is None
    assert dead["judgement"]["plan"][-2]["command"].startswith("aws lambda get-function")
    ending = proc.stdout[proc.stdout.index("done in") :]
    assert (out / "report.html").as_uri() in ending
    assert "functions --store sqlite:///" in ending
    assert "show orders-api --store" in ending
    # Function processes run in their own sessions (not our children): look for any
    # process whose command line points into the demo's directory.
    leftovers = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(out).encode() in cmd:
                leftovers.append(cmd)
    assert leftovers == []
