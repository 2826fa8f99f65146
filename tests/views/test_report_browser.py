"""The report in headless Chromium: the numbers shown are the JSON's, pages work, nothing leaks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.views._hostile import assert_hostile_page_is_inert

import sample_fleet as fleet
from lambdaguard.cli import main

# The first test may install Debian's chromium (tests/views/conftest.py), which can
# take minutes on a fresh machine: longer than the suite's default per-test timeout.
pytestmark = pytest.mark.timeout(1200)


def _cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main([*argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _report(url: str, path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["report", "--store", url, "-o", str(path)]) == 0
    capsys.readouterr()
    return path.resolve().as_uri()


def _number(text: str) -> int:
    return int(text.split(maxsplit=1)[0].replace(",", ""))


def _open(page: Any, uri: str) -> None:
    page.goto(uri)
    page.wait_for_selector("#lg-functions tbody tr")


def test_overview_numbers_are_the_json_numbers(
    page: Any,
    fleet_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    artifacts: Path,
) -> None:
    """Every summary card and every row of the overview equals `report`/`functions --format json`."""
    summary = _cli_json(capsys, "report", "--store", fleet_url)["summary"]
    rows = _cli_json(capsys, "functions", "--store", fleet_url, "--sort", "risk")["functions"]
    _open(page, _report(fleet_url, tmp_path / "report.html", capsys))
    for metric in ("functions", "invocations", "errors", "timeouts", "cold_starts", "calls"):
        shown = page.inner_text(f"dd[data-metric={metric}]")
        assert _number(shown) == summary[metric], metric
    shown_rows = page.eval_on_selector_all(
        "#lg-functions tbody tr",
        """trs => trs.map(tr => ({arn: tr.dataset.arn, ...Object.fromEntries(
             [...tr.querySelectorAll('[data-field]')].map(c => [c.dataset.field, c.textContent]))}))""",
    )
    assert [r["arn"] for r in shown_rows] == [r["arn"] for r in rows]  # riskiest first
    for shown, row in zip(shown_rows, rows, strict=True):
        assert shown["name"] == row["name"]
        for field in ("invocations", "errors", "cold_starts", "calls", "risk"):
            want = row[field]["score"] if field == "risk" else row[field]
            assert _number(shown[field]) == want, (row["name"], field)
    assert page.problems == []
    page.screenshot(path=str(artifacts / "report-overview.png"), full_page=True)


def test_click_through_to_a_function(
    page: Any,
    fleet_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    artifacts: Path,
) -> None:
    """Clicking a function opens its page: its numbers, chart, calls, IAM requests and hosts."""
    fn = _cli_json(capsys, "show", "orders-api", "--store", fleet_url)
    _open(page, _report(fleet_url, tmp_path / "report.html", capsys))
    page.click("#lg-functions a:text-is('orders-api')")
    page.wait_for_selector("section.fn-section")
    assert page.inner_text("section.fn-section h1") == "orders-api"
    for metric in ("invocations", "errors", "timeouts", "cold_starts", "calls"):
        shown = page.inner_text(f"section.fn-section dd[data-metric={metric}]")
        assert _number(shown) == fn[metric], metric
    days = fn["evidence"]["invocations"]["days"]
    bars = page.eval_on_selector_all("svg.chart g[data-day]", "gs => gs.map(g => g.dataset.day)")
    assert bars[0] == days[0]["day"]
    assert bars[-1] == days[-1]["day"]
    assert page.locator("svg.chart [data-series=error]").count() == 1
    assert page.locator("svg.chart [data-series=timeout]").count() == 1
    calls = page.inner_text("table.calls")
    assert "dynamodb:PutItem" in calls
    assert "arn:aws:dynamodb:eu-west-1:111122223333:table/orders" in calls
    plain = page.inner_text("table.hosts tr[data-host='legacy.example.com']")
    assert "PLAINTEXT" in plain
    assert "Not analysed" in page.inner_text("section.fn-section")
    page.screenshot(path=str(artifacts / "report-function.png"), full_page=True)
    # Back to the overview through the link, and the browser's own back button.
    page.click("text=All functions")
    page.wait_for_selector("#lg-functions")
    page.go_back()
    page.wait_for_selector("section.fn-section")
    assert page.problems == []


def test_download_and_copy_buttons(
    page: Any, fleet_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ "Download as JSON" saves the function's document; "Copy" puts its IAM requests on the clipboard."""
    fn = _cli_json(capsys, "show", "orders-api", "--store", fleet_url)
    uri = _report(fleet_url, tmp_path / "report.html", capsys)
    page.goto(uri + "#/fn/" + fleet.arn("orders-api").replace(":", "%3A"))
    page.wait_for_selector("section.fn-section")
    with page.expect_download() as download:
        page.click("button:text('Download this function as JSON')")
    saved = tmp_path / "fn.json"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "orders-api.json"
    assert json.loads(saved.read_text()) == fn
    button = page.locator("button:text('Copy its IAM requests (JSON)')")
    button.click()
    # The clipboard write is asynchronous: wait for the button to say how it went
    # (its text starts "Copy" before the click too, so wait for the new text itself).
    page.wait_for_selector("button:text('Copied'), button:text('Copy failed')", timeout=30_000)
    assert page.locator("button:text('Copied')").count() == 1
    assert page.problems == []


def test_nothing_but_the_file_is_loaded(
    page: Any, fleet_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Opening the report and every function page requests nothing but the file itself."""
    uri = _report(fleet_url, tmp_path / "report.html", capsys)
    _open(page, uri)
    for link in page.eval_on_selector_all(
        "#lg-functions a", "as => as.map(a => a.getAttribute('href'))"
    ):
        page.goto(uri + link)
        page.wait_for_selector("section.fn-section")
    assert {r.split(":", 1)[0] for r in page.requests} <= {"file"}
    assert page.problems == []  # a CSP violation would be a console error


def test_hostile_names_cannot_inject_anything(
    page: Any, hostile_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], artifacts: Path
) -> None:
    """Names, hosts, params, errors and sources carrying HTML and script show as text and run nothing."""
    _open(page, _report(hostile_url, tmp_path / "hostile.html", capsys))
    assert_hostile_page_is_inert(page)
    page.screenshot(path=str(artifacts / "report-hostile.png"), full_page=True)


def test_print_shows_content_without_controls(
    page: Any, fleet_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], artifacts: Path
) -> None:
    """In print media the buttons and filters are hidden, and a PDF of every function is made."""
    _open(page, _report(fleet_url, tmp_path / "report.html", capsys))
    page.click("a:text('All functions (print)')")
    page.wait_for_selector("section.fn-section")
    page.emulate_media(media="print")
    hidden = page.eval_on_selector_all(
        ".toolbar, input[type=search]",
        "els => els.every(e => getComputedStyle(e).display === 'none')",
    )
    assert hidden
    assert page.locator("section.fn-section").count() == 3
    page.pdf(path=str(artifacts / "report-all.pdf"))
    assert (artifacts / "report-all.pdf").stat().st_size > 10_000
    page.emulate_media(media="screen")


# -- the inventory's verdicts and the policy proposals in the report -------------------------
def _grants(tmp_path: Path) -> list[str]:
    """Exported grants for orders-api: an over-broad role (s3:*, dynamodb:*)."""
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:*", "dynamodb:*"], "Resource": "*"}],
    }
    auth = {
        "RoleDetailList": [
            {
                "RoleName": "orders-role",
                "Arn": f"arn:aws:iam::{fleet.ACCOUNT}:role/orders-role",
                "RolePolicyList": [{"PolicyName": "data", "PolicyDocument": doc}],
                "AttachedManagedPolicies": [],
            }
        ],
        "Policies": [],
        "UserDetailList": [],
        "GroupDetailList": [],
    }
    functions = {
        "Functions": [
            {
                "FunctionName": "orders-api",
                "FunctionArn": fleet.arn("orders-api"),
                "Role": f"arn:aws:iam::{fleet.ACCOUNT}:role/orders-role",
                "Runtime": "python3.12",
            }
        ]
    }
    (tmp_path / "auth.json").write_text(json.dumps(auth))
    (tmp_path / "functions.json").write_text(json.dumps(functions))
    return [
        "--authorization-details",
        str(tmp_path / "auth.json"),
        "--functions",
        str(tmp_path / "functions.json"),
    ]


def _judged_report(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Any, str]:
    """The report's JSON document and the HTML file, both with verdicts and proposals."""
    grants = _grants(tmp_path)
    assert main(["report", "--store", url, "--format", "json", "-o", "-", *grants]) == 0
    doc = json.loads(capsys.readouterr().out)
    path = tmp_path / "judged.html"
    assert main(["report", "--store", url, "-o", str(path), *grants]) == 0
    capsys.readouterr()
    return doc, path.resolve().as_uri()


def test_verdicts_and_dead_functions_are_the_json_ones(
    page: Any,
    judged_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    artifacts: Path,
) -> None:
    """Verdict counts, the inventory's date, and each dead function's plan are the JSON's."""
    doc, uri = _judged_report(judged_url, tmp_path, capsys)
    by_verdict = doc["summary"]["by_verdict"]
    assert by_verdict == {"active": 2, "dead": 2}
    _open(page, uri)
    legend = page.inner_text("#lg-main .legend")
    for verdict, count in by_verdict.items():
        assert f"{verdict} {count}" in legend
    assert page.get_attribute("#lg-inventory", "data-read-at") == doc["inventory"]["read_at"]
    assert "2026-11-29 12:00 UTC" in page.inner_text("#lg-inventory")
    rows = page.eval_on_selector_all(
        "#lg-functions tbody tr",
        "trs => trs.map(tr => [tr.dataset.arn, tr.querySelector('[data-verdict]').dataset.verdict])",
    )
    assert rows == [[f["arn"], f["verdict"] or "unjudged"] for f in doc["functions"]]
    dead = [f for f in doc["functions"] if f["verdict"] == "dead"]
    articles = page.locator("article.dead")
    assert articles.count() == len(dead)
    for i, fn in enumerate(dead):
        article = articles.nth(i)
        assert article.get_attribute("data-arn") == fn["arn"]
        j = fn["judgement"]
        last = article.locator("[data-field=last_invoked]").inner_text()
        if j["last_invoked"]:
            assert last == j["last_invoked"][:16].replace("T", " ") + " UTC"
        else:
            assert last.startswith("never")
        article.locator("summary").click()
        commands = article.locator("pre.cmd").all_text_contents()
        assert commands == [p["command"] for p in j["plan"]]
        for reason in j["reasons"]:
            assert reason in article.locator("ul.reasons").inner_text()
    retired = page.locator(f"article.dead[data-arn='{fleet.arn(fleet.RETIRED)}']")
    assert "Write 40" in retired.locator("[data-field=surface]").inner_text()
    assert "no (gone)" in retired.locator("table.triggers").inner_text()
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts / "report-dead-functions.png"), full_page=True)
    # The nav's dead-functions page, then through to one of them.
    page.click("nav a:text('Dead functions')")
    page.wait_for_selector("article.dead")
    page.click(f"article.dead a:text-is('{fleet.RETIRED}')")
    page.wait_for_selector("section.fn-section")
    text = page.inner_text("section.fn-section")
    assert "lambdaguard has recorded nothing for this function" in text
    assert "Judged as of the inventory read 2026-11-29 12:00 UTC" in text
    assert page.locator("section.fn-section ul.flags [data-flag=orphaned-trigger]").count() == 1
    page.screenshot(path=str(artifacts / "report-dead-function.png"), full_page=True)
    assert page.problems == []


def test_click_through_to_a_function_and_its_policy(
    page: Any,
    judged_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    artifacts: Path,
) -> None:
    """orders-api's page shows its verdict, the proposed policy, its diff, and the downloads are the JSON's."""
    doc, uri = _judged_report(judged_url, tmp_path, capsys)
    fn = next(f for f in doc["functions"] if f["name"] == "orders-api")
    proposal = fn["proposal"]
    assert proposal is not None
    _open(page, uri)
    page.click("#lg-functions a:text-is('orders-api')")
    page.wait_for_selector("section.fn-section pre.policy")
    section = page.locator("section.fn-section")
    assert section.locator(".verdict-line [data-verdict]").inner_text() == "active"
    shown = [json.loads(t) for t in section.locator("pre.policy").all_inner_texts()]
    assert shown == proposal["policies"]
    diff = section.locator("pre.diff").inner_text()
    removed = [d["text"] for d in proposal["diff"] if d["change"] == "removed"]
    assert removed
    for line in removed:
        assert "- " + line in diff
    levels = page.eval_on_selector_all(
        "svg.pair g[data-level]", "gs => gs.map(g => g.querySelector('title').textContent)"
    )
    assert levels == [
        f"{a['service']} {a['access_level']}: {a['granted']:,} granted, {a['used']:,} used"
        for a in proposal["access"]
    ]
    with page.expect_download() as download:
        page.click("button:text('Download Terraform')")
    saved = tmp_path / "policy.tf"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "orders-api-policy.tf"
    assert saved.read_text() == proposal["terraform"]
    with page.expect_download() as download:
        page.click("button:text('Download CloudFormation')")
    download.value.save_as(tmp_path / "policy.yaml")
    assert (tmp_path / "policy.yaml").read_text() == proposal["cloudformation"]
    with page.expect_download() as download:
        page.click("button:text('Download JSON') >> nth=0")
    download.value.save_as(tmp_path / "policy.json")
    assert json.loads((tmp_path / "policy.json").read_text()) == proposal["policies"][0]
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts / "report-function-policy.png"), full_page=True)
    assert page.problems == []


def test_hostile_inventory_cannot_inject_anything(
    page: Any,
    hostile_judged_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    artifacts: Path,
) -> None:
    """Names, tags, trigger sources, schedules, surface notes and plans with markup show as text."""
    uri = _report(hostile_judged_url, tmp_path / "hostile-judged.html", capsys)
    _open(page, uri)
    page.click("nav a:text('Dead functions')")
    page.wait_for_selector("article.dead")
    page.locator("article.dead summary").first.click()
    dead = page.inner_text("main")
    assert fleet.HOSTILE_DEAD in dead
    assert fleet.HOSTILE_ERROR in dead  # the escalation text of its surface
    assert fleet.HOSTILE_HOST.replace("\x1b", "") in dead.replace("\x1b", "")
    page.click("a:text('All functions (print)')")
    page.wait_for_selector("section.fn-section")
    body = page.inner_text("main")
    for text in (
        fleet.HOSTILE_TAG,
        fleet.HOSTILE_SOURCE,
        fleet.HOSTILE_BUCKET,
        fleet.HOSTILE_MARKUP,
    ):
        assert text in body, text
    assert page.evaluate("window.__pwned") is None
    injected = page.evaluate(
        """() => document.querySelectorAll(
             'main img, main iframe, main script, main svg[onload], main b, main [onerror], '
             + 'main [onmouseover], a[href^="javascript"]').length"""
    )
    assert injected == 0
    assert page.problems == []
    page.screenshot(path=str(artifacts / "report-hostile-inventory.png"), full_page=True)
