"""One check that a page drawn from hostile names (tests/sample_fleet.py) shows them as text and runs nothing.

Used by the static report's and the live view's browser tests, which draw the same page.
"""

from __future__ import annotations

from typing import Any

import sample_fleet as fleet


def assert_hostile_page_is_inert(page: Any) -> None:
    """Visit every function of the loaded page and the print view; nothing injected, all text shown."""
    page.wait_for_selector("#lg-functions tbody tr", timeout=60_000)
    text = page.inner_text("#lg-functions")
    assert fleet.HOSTILE_NAME in text
    assert fleet.HOSTILE_FAAS_NAME in text
    for link in page.eval_on_selector_all(
        "#lg-functions a", "as => as.map(a => a.getAttribute('href'))"
    ):
        assert link.startswith("#/fn/")
        page.click(f"a[href='{link}']")
        page.wait_for_selector("section.fn-section")
        page.go_back()
        page.wait_for_selector("#lg-functions")
    page.click("a:text('All functions (print)')")
    page.wait_for_selector("section.fn-section")
    body = page.inner_text("main")
    assert fleet.HOSTILE_HOST.replace("\x1b", "") in body.replace("\x1b", "")
    assert fleet.HOSTILE_BUCKET in body
    assert fleet.HOSTILE_ERROR in body
    assert fleet.HOSTILE_SOURCE in body
    assert page.evaluate("window.__pwned") is None
    injected = page.evaluate(
        """() => document.querySelectorAll(
             'main img, main svg[onload], main b, main [onerror], main [onmouseover], a[href^="javascript"]'
           ).length"""
    )
    assert injected == 0
    assert page.problems == []  # a CSP violation would be a console error
