"""The live view in headless Chromium: sign in, the numbers are the API's and the CLI's, click through.

A real collector on loopback serves /ui over the sample fleet (with exported
grants, so each function has its policy proposal); the browser signs in with
the collector's token at /ui/login, reads the overview, opens a function and
its policy, and signs out. Screenshots go to out/test-artifacts/live-*.png.
Hostile names are drawn by the live view as text too.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.views._hostile import assert_hostile_page_is_inert

import sample_fleet as fleet
from lambdaguard.cli import main
from lambdaguard.collector.server import CollectorConfig, CollectorHandle, start_collector
from lambdaguard.collector.store import open_store
from lambdaguard.views.live import GrantSteps
from timekeeping import FIXED_NOW

from .test_cli_policy import exports  # noqa: F401 - the account's exported grants (a fixture)

# The first browser test may install Debian's chromium (see conftest.py).
pytestmark = pytest.mark.timeout(1200)

TOKEN = "live-view-token-0123456789"


def _store(tmp_path: Path, build: str) -> str:
    url = f"sqlite:///{tmp_path / build / 'lambdaguard.db'}"
    store = open_store(url)
    try:
        fleet.seed(store, getattr(fleet, build)(FIXED_NOW), now=FIXED_NOW)
    finally:
        store.close()
    return url


@pytest.fixture
def start() -> Iterator[Any]:
    """Start in-process collectors on ephemeral loopback ports; stopped at teardown."""
    handles: list[CollectorHandle] = []

    def make(url: str, **overrides: Any) -> CollectorHandle:
        config = CollectorConfig(store_url=url, http_port=0, grpc_port=None, **overrides)
        handle = start_collector(config)
        handles.append(handle)
        return handle

    yield make
    for handle in handles:
        handle.stop()


def _number(text: str) -> int:
    return int(text.split(maxsplit=1)[0].replace(",", ""))


def _cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()  # the collector's own log lines
    assert main([*argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_sign_in_overview_function_and_policy(  # noqa: PLR0917 - pytest fixtures
    page: Any,
    browser: Any,
    start: Any,
    tmp_path: Path,
    exports: list[str],  # noqa: F811 - the fixture imported above
    capsys: pytest.CaptureFixture[str],
    artifacts: Path,
) -> None:
    """Signed in with the token, the live page shows the API's and the CLI's numbers and policies."""
    url = _store(tmp_path, "standard")
    handle = start(url, tokens=(TOKEN,))
    grants = argparse.Namespace(
        authorization_details=[exports[1]],
        functions=[exports[3]],
        event_source_mappings=None,
        event_invoke_configs=None,
        region=None,
    )
    handle.live.findings.steps = GrantSteps(grants)  # runs in the analysis process
    browser.clear_cookies()

    # Not signed in: the page sends the browser to the sign-in form.
    page.goto(handle.http_url + "/ui")
    page.wait_for_selector("form input[name=token]")
    assert page.url == handle.http_url + "/ui/login"
    page.fill("input[name=token]", "not-the-token")
    page.click("button[type=submit]")
    page.wait_for_selector("#lg-login-message")
    assert "not one of the collector" in page.inner_text("#lg-login-message")
    page.screenshot(path=str(artifacts / "live-login.png"), full_page=True)
    # The refused sign-in is a 401, which Chromium reports on its console: expected here.
    assert page.problems == [
        "console error: Failed to load resource: the server responded with a status of 401 "
        "(Unauthorized)"
    ]
    page.problems.clear()
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("#lg-functions tbody tr", timeout=60_000)
    assert page.url == handle.http_url + "/ui"
    cookie = next(c for c in browser.cookies() if c["name"] == "lambdaguard-session")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"

    # The numbers: the summary cards are the API document's, the rows the CLI's.
    bearer = {"authorization": f"Bearer {TOKEN}"}
    doc = httpx.get(handle.http_url + "/api/v1/findings", headers=bearer, timeout=60).json()
    summary = doc["summary"]
    for metric in ("functions", "invocations", "errors", "timeouts", "cold_starts", "calls"):
        assert _number(page.inner_text(f"dd[data-metric={metric}]")) == summary[metric], metric
    cli_rows = {r["arn"]: r for r in _cli_json(capsys, "functions", "--store", url)["functions"]}
    shown = page.eval_on_selector_all(
        "#lg-functions tbody tr",
        """trs => trs.map(tr => ({arn: tr.dataset.arn, ...Object.fromEntries(
             [...tr.querySelectorAll('[data-field]')].map(c => [c.dataset.field, c.textContent]))}))""",
    )
    assert [r["arn"] for r in shown] == [f["arn"] for f in doc["functions"]]  # riskiest first
    assert set(cli_rows) == {r["arn"] for r in shown}
    for row in shown:
        want = cli_rows[row["arn"]]
        assert row["name"] == want["name"]
        for field in ("invocations", "errors", "cold_starts", "calls"):
            assert _number(row[field]) == want[field], (row["name"], field)
    assert "live view" in page.inner_text("footer")
    page.screenshot(path=str(artifacts / "live-overview.png"), full_page=True)

    # Click through to a function and its policy.
    fn = _cli_json(capsys, "show", "orders-api", "--store", url)
    api_fn = httpx.get(
        handle.http_url + "/api/v1/functions/orders-api", headers=bearer, timeout=60
    ).json()
    page.click("#lg-functions a:text-is('orders-api')")
    page.wait_for_selector("section.fn-section")
    assert page.inner_text("section.fn-section h1") == "orders-api"
    for metric in ("invocations", "errors", "timeouts", "cold_starts", "calls"):
        shown_value = page.inner_text(f"section.fn-section dd[data-metric={metric}]")
        assert _number(shown_value) == fn[metric] == api_fn[metric], metric
    assert "dynamodb:PutItem" in page.inner_text("table.calls")
    # (The whole page before scrolling: sticky table headers follow the scroll position.)
    page.screenshot(path=str(artifacts / "live-function.png"), full_page=True)
    policy = page.locator("pre.policy").first
    policy.scroll_into_view_if_needed()
    assert json.loads(policy.inner_text()) == json.loads(api_fn["proposal"]["documents"][0])
    assert "dynamodb:PutItem" in policy.inner_text()
    policy.screenshot(path=str(artifacts / "live-policy.png"))

    # Everything came from the collector itself.
    assert all(r.startswith(handle.http_url + "/") for r in page.requests), page.requests
    assert page.problems == []

    # Sign out: back to the form, and the page is closed again.
    page.click("button:text('Sign out')")
    page.wait_for_selector("form input[name=token]")
    assert not [c for c in browser.cookies() if c["name"] == "lambdaguard-session" and c["value"]]
    page.goto(handle.http_url + "/ui")
    page.wait_for_selector("form input[name=token]")
    assert page.url == handle.http_url + "/ui/login"


def test_hostile_names_inject_nothing_in_the_live_view(
    page: Any, browser: Any, start: Any, tmp_path: Path, artifacts: Path
) -> None:
    """Names, hosts, params, errors and sources carrying HTML and script show as text, live too."""
    handle = start(_store(tmp_path, "hostile"))
    browser.clear_cookies()
    page.goto(handle.http_url + "/ui")
    assert_hostile_page_is_inert(page)
    assert all(r.startswith(handle.http_url + "/") for r in page.requests), page.requests
    page.screenshot(path=str(artifacts / "live-hostile.png"), full_page=True)


def test_a_page_whose_api_fails_says_so(
    page: Any, browser: Any, start: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the analysis fails the page shows the API's error instead of a blank page."""
    import lambdaguard.analysis.fleet as fleet_module
    from lambdaguard.errors import StoreError

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise StoreError("the store at sqlite:///x is locked")

    monkeypatch.setattr(fleet_module, "analyse", broken)
    handle = start(_store(tmp_path, "standard"))
    handle.live.findings.isolation = "thread"  # so the replaced analysis is the one run
    browser.clear_cookies()
    page.goto(handle.http_url + "/ui")
    page.wait_for_selector("main:has-text('could not be loaded')")
    assert "the store at sqlite:///x is locked" in page.inner_text("main")
