"""The report file itself: self-contained, locked down by its CSP, and inert to hostile data."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from importlib import resources
from typing import Any

import pytest

import sample_fleet as fleet
from lambdaguard.analysis.fleet import analyse, open_for_reading
from lambdaguard.views.document import document
from lambdaguard.views.report import embed_json, render_html


def _doc(url: str) -> dict[str, Any]:
    from timekeeping import FIXED_NOW

    store = open_for_reading(url)
    try:
        return document(analyse(store, now=FIXED_NOW, source="test"))
    finally:
        store.close()


def _data_block(html: str) -> str:
    match = re.search(r'<script type="application/json" id="lg-data">(.*?)</script>', html, re.S)
    assert match is not None
    return match.group(1)


def test_nothing_is_fetched_from_anywhere(hostile_url: str) -> None:
    """No external script, style, font, image or link: everything the page needs is inside it."""
    html = render_html(_doc(hostile_url))
    assert "<link" not in html
    assert "@import" not in html
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
    assert not re.search(r"url\(\s*['\"]?(?!data:)", html)
    assert "<script src" not in html


def test_the_csp_allows_only_the_page_own_script_and_style(fleet_url: str) -> None:
    """The page's CSP names its inline script and style by hash and allows no connection."""
    html = render_html(_doc(fleet_url))
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None
    policy = csp.group(1)
    assert "default-src 'none'" in policy
    assert "unsafe-inline" not in policy
    files = resources.files("lambdaguard.views.report")
    for name, directive in (("report.js", "script-src"), ("report.css", "style-src")):
        text = (files / name).read_text(encoding="utf-8")
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in policy
        assert text in html


def test_hostile_values_stay_inside_the_data_block(hostile_url: str) -> None:
    """Values with </script>, <!-- and {{markers}} neither close the JSON block nor expand."""
    doc = _doc(hostile_url)
    html = render_html(doc)
    data = _data_block(html)
    assert "<" not in data
    assert ">" not in data
    assert json.loads(data) == doc
    assert html.count("</script>") == 2  # the data block's and the script's own
    script = resources.files("lambdaguard.views.report").joinpath("report.js").read_text()
    assert html.count(script) == 1  # a "{{script}}" in the data was not expanded
    names = {f["name"] for f in doc["functions"]}
    assert fleet.HOSTILE_FAAS_NAME in names
    assert fleet.HOSTILE_NAME in names


@pytest.mark.parametrize("text", ["</script>", "<!--", "\u2028", "&amp;", "]]>"])
def test_embedded_json_round_trips(text: str) -> None:
    """Whatever the string, the embedded form parses back to it and holds no raw '<' or '&'."""
    embedded = embed_json({"v": text})
    assert "<" not in embedded
    assert "&" not in embedded
    assert json.loads(embedded) == {"v": text}


def _luminance(hex_colour: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def test_chart_colours_contrast_with_the_page() -> None:
    """Every chart colour has at least 3:1 contrast with the background (WCAG 1.4.11)."""
    css = resources.files("lambdaguard.views.report").joinpath("report.css").read_text()
    background = re.search(r"--bg:\s*(#[0-9a-fA-F]{6})", css)
    assert background is not None
    colours = dict(re.findall(r"--(c-[a-z-]+):\s*(#[0-9a-fA-F]{6})", css))
    assert {"c-ok", "c-error", "c-timeout", "c-cold"} <= set(colours)
    bg = _luminance(background.group(1))
    for name, colour in colours.items():
        fg = _luminance(colour)
        ratio = (max(fg, bg) + 0.05) / (min(fg, bg) + 0.05)
        assert ratio >= 3.0, f"{name} {colour}: {ratio:.2f}:1"
