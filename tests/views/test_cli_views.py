"""`lambdaguard functions`, `show` and `report` on a real store: text, JSON, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import sample_fleet as fleet
from lambdaguard.cli import main
from lambdaguard.collector.store import open_store
from lambdaguard.views.document import SCHEMA
from timekeeping import Clock


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = _run(capsys, *argv, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_functions_json_has_one_row_per_function(
    fleet_url: str, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """`functions --format json` gives each function's counts, last seen and layer."""
    doc = _json(capsys, "functions", "--store", fleet_url)
    assert doc["schema"] == SCHEMA
    rows = {r["name"]: r for r in doc["functions"]}
    assert list(rows) == ["legacy-cron", "nightly-report", "orders-api"]  # by name
    orders = rows["orders-api"]
    assert (orders["invocations"], orders["errors"], orders["timeouts"], orders["cold_starts"]) == (
        9,
        1,
        1,
        2,
    )
    assert (orders["calls"], orders["operations"], orders["hosts"], orders["plaintext_hosts"]) == (
        18,
        2,
        2,
        1,
    )
    assert orders["verdict"] is None
    assert orders["layer_version"] == "0.2.0"
    assert orders["last_seen"] == clock.ago(hours=1).isoformat().replace("+00:00", "Z")
    assert rows["legacy-cron"]["layer_version"] == "0.1.0"


def test_functions_text_is_plain_when_not_a_terminal(
    fleet_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Piped, the table is plain aligned text: no colour codes, no box lines, one line each."""
    code, out, _ = _run(capsys, "functions", "--store", fleet_url, "--sort", "risk")
    assert code == 0
    assert "\x1b" not in out
    assert "│" not in out
    assert "━" not in out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["FUNCTION", "VERDICT", "INVOCATIONS"]
    orders = next(line for line in lines if line.startswith("orders-api"))
    assert orders.split()[1:5] == ["unjudged", "9", "1", "2"]
    assert "(1 plaintext)" in orders
    assert lines[1].startswith("orders-api")  # --sort risk: the plaintext talker first
    assert all(line == line.rstrip() for line in lines)


def test_functions_window(fleet_url: str, capsys: pytest.CaptureFixture[str], clock: Clock) -> None:
    """--window leaves out functions not seen in it."""
    # The window ends at the real now; the fleet was recorded up to the fixed clock.
    import datetime as dt

    days = (dt.datetime.now(dt.UTC) - clock.now).days + 10
    doc = _json(capsys, "functions", "--store", fleet_url, "--window", f"{days}d")
    assert {r["name"] for r in doc["functions"]} == {"orders-api", "nightly-report"}


def test_show_text_has_every_section(fleet_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`show` prints invocations per day, calls with IAM requests, hosts, triggers, proposal state."""
    code, out, _ = _run(capsys, "show", "orders-api", "--store", fleet_url)
    assert code == 0
    assert "Invocations: 9 (cold starts 2, errors 1, timeouts 1)" in out
    assert "api_gateway_http" in out
    assert "AWS calls: 18 (2 operations)" in out
    assert "dynamodb:PutItem  arn:aws:dynamodb:eu-west-1:111122223333:table/orders" in out
    assert "legacy.example.com" in out
    assert "PLAINTEXT" in out
    assert "error types: KeyError x1" in out
    assert "not analysed" in out


def test_show_names_calls_made_as_another_role(
    fleet_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A call signed with assumed-role credentials says which role, in text and JSON."""
    _, out, _ = _run(capsys, "show", "nightly-report", "--store", fleet_url)
    assert "signed as arn:aws:iam::111122223333:role/reporter, not the execution role" in out
    doc = _json(capsys, "show", "nightly-report", "--store", fleet_url)
    (put,) = [g for g in doc["evidence"]["calls"] if g["operation"] == "PutObject"]
    assert put["calls"][0]["role_arn"] == "arn:aws:iam::111122223333:role/reporter"
    assert put["calls"][0]["credentials"] == "assumed-role"


def test_show_json_is_the_function_document(
    fleet_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`show --format json` holds the row, the evidence and null for what was not analysed."""
    doc = _json(capsys, "show", fleet.arn("orders-api"), "--store", fleet_url)
    assert doc["name"] == "orders-api"
    assert doc["invocations"] == doc["evidence"]["invocations"]["total"] == 9
    assert sum(d["invocations"] for d in doc["evidence"]["invocations"]["days"]) == 9
    assert doc["proposal"] is None
    assert doc["judgement"] is None
    assert doc["evidence"]["actions_used"] == ["dynamodb:PutItem", "s3:GetObject"]


def test_show_unknown_function_suggests_names(
    fleet_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown name exits 2 and suggests the nearest known ones."""
    code, _, err = _run(capsys, "show", "order-api", "--store", fleet_url)
    assert code == 2
    assert "no function 'order-api'" in err
    assert "did you mean orders-api" in err


def test_show_ambiguous_name_asks_for_the_arn(
    tmp_path: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name in two regions exits 2 listing both ARNs."""
    url = f"sqlite:///{tmp_path / 'two.db'}"
    store = open_store(url)
    inv = [fleet.Inv(clock.ago(hours=1))]
    fleet.seed(
        store,
        [
            fleet.Function(fleet.arn("api", "eu-west-1"), inv),
            fleet.Function(fleet.arn("api", "us-east-1"), inv),
        ],
        now=clock.now,
    )
    store.close()
    code, _, err = _run(capsys, "show", "api", "--store", url)
    assert code == 2
    assert fleet.arn("api", "eu-west-1") in err
    assert fleet.arn("api", "us-east-1") in err
    code, out, _ = _run(capsys, "functions", "--store", url)
    assert "REGION" in out.splitlines()[0]


@pytest.mark.parametrize(
    "argv", [["functions"], ["show", "x"], ["report", "-o", "r.html"]], ids=lambda a: a[0]
)
def test_views_never_create_a_store(
    argv: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pointed at a path without a store, every view exits 3 naming it and creates nothing."""
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "none" / "lambdaguard.db"
    code, _, err = _run(capsys, *argv, "--store", f"sqlite:///{missing}")
    assert code == 3
    assert str(missing) in err
    assert list(tmp_path.iterdir()) == []


def test_views_use_the_store_from_the_environment(
    fleet_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --store, LAMBDAGUARD_STORE names the store."""
    monkeypatch.setenv("LAMBDAGUARD_STORE", fleet_url)
    doc = _json(capsys, "functions")
    assert len(doc["functions"]) == 3


def test_report_writes_one_html_file(
    fleet_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`report -o FILE` writes the page and says where, how big, how many functions."""
    target = tmp_path / "r.html"
    code, out, err = _run(capsys, "report", "--store", fleet_url, "-o", str(target))
    assert code == 0
    html = target.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>")
    assert "3 functions" in err
    assert str(target) in err
    assert out == ""


def test_report_json_is_the_findings_document(
    fleet_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`report --format json` prints the document; its summary adds up its functions."""
    doc = _json(capsys, "report", "--store", fleet_url)
    assert doc["schema"] == SCHEMA
    summary = doc["summary"]
    fns = doc["functions"]
    assert summary["functions"] == len(fns) == 3
    assert summary["invocations"] == sum(f["invocations"] for f in fns) == 11
    assert summary["calls"] == sum(f["calls"] for f in fns)
    assert summary["by_verdict"] == {"unjudged": 3}
    assert summary["granted_actions"] is None
    assert summary["plaintext_hosts"] == 1
    assert summary["services_used"] == {"dynamodb": 1, "s3": 2, "sqs": 1, "ssm": 1}
    assert fns[0]["name"] == "orders-api"  # riskiest first


def test_report_refuses_an_unwritable_path(
    fleet_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A report that cannot be written exits 2 naming the path."""
    code, _, err = _run(
        capsys, "report", "--store", fleet_url, "-o", str(tmp_path / "no" / "r.html")
    )
    assert code == 2
    assert "r.html" in err


def test_terminal_views_print_hostile_text_inertly(
    hostile_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Names, hosts and params with escapes and rich markup print as text, never as codes."""
    code, out, _ = _run(capsys, "functions", "--store", hostile_url)
    assert code == 0
    assert fleet.HOSTILE_NAME in out
    assert fleet.HOSTILE_FAAS_NAME in out
    code, out, _ = _run(capsys, "show", fleet.arn(fleet.HOSTILE_NAME), "--store", hostile_url)
    assert code == 0
    assert "\x1b" not in out
    assert "\\x1b[2J" in out  # the escape is shown, not obeyed
    assert fleet.HOSTILE_MARKUP in out  # rich markup printed literally


def test_terminal_views_print_a_hostile_inventory_inertly(
    hostile_judged_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Inventory names, tags, triggers, surface notes and plans print as text in `show` and `findings`."""
    code, out, _ = _run(
        capsys, "show", fleet.arn(fleet.HOSTILE_DEAD), "--store", hostile_judged_url
    )
    assert code == 0
    assert "verdict: dead" in out
    assert "\x1b" not in out
    assert "\\x1b[2J" in out  # the URL's escape is shown, not obeyed
    assert fleet.HOSTILE_ERROR in out  # the surface's escalation text, literally
    assert "aws lambda put-function-concurrency" in out


def test_a_terminal_gets_colour_and_table_lines(fleet_url: str, tmp_path: Path) -> None:
    """On a terminal, `functions` draws a rich table with colours (the same rows as in a pipe)."""
    import os
    import pty
    import subprocess
    import sys

    primary, secondary = pty.openpty()
    env = {**os.environ, "COLUMNS": "160", "LINES": "40", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lambdaguard", "functions", "--store", fleet_url],
        stdout=secondary,
        stderr=secondary,
        env=env,
        cwd=tmp_path,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=120) == 0
    os.close(primary)
    screen = b"".join(chunks).decode()
    assert "\x1b[" in screen  # colour
    assert "━" in screen or "─" in screen  # table rules
    assert "orders-api" in screen
