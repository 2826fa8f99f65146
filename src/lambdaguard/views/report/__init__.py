"""The HTML report: one self-contained file drawn from the findings document.

The page is a fixed shell (``page.html``), its style (``report.css``) and its
script (``report.js``), all inlined, plus the ``lambdaguard.findings/2``
document (:mod:`lambdaguard.views.document`) as JSON in a
``<script type="application/json">`` block. The script draws every view from
that document, so the same files can later draw a live view from the same
document served over HTTP.

Nothing is fetched: no fonts, scripts, styles or images from the network. A
Content-Security-Policy in the page allows only the page's own script and
style (by their SHA-256 hashes) and no connections at all, so even if a value
from telemetry ever reached the HTML unescaped it could not run. The JSON is
embedded with ``<``, ``>``, ``&`` and the line separators escaped, so no value
can close the block it sits in.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import cache
from importlib import resources
from typing import Any, Final

from lambdaguard import __version__

__all__ = ["embed_json", "render_html"]

_MARKER: Final = re.compile(r"\{\{(\w+)\}\}")
# What may not appear raw inside <script>: "</script", "<!--" and the line
# separators some parsers treat as newlines. JSON allows \uXXXX for all of them.
_JSON_ESCAPES: Final = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}
_HTML_ESCAPES: Final = {
    ord("&"): "&amp;",
    ord("<"): "&lt;",
    ord(">"): "&gt;",
    ord('"'): "&quot;",
    ord("'"): "&#x27;",
}


@cache
def _asset(name: str) -> str:
    return (resources.files("lambdaguard.views.report") / name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def embed_json(value: Any) -> str:
    """``value`` as JSON that is safe inside an HTML ``<script>`` element."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_JSON_ESCAPES)


def render_html(document: dict[str, Any], *, title: str = "lambdaguard report") -> str:
    """The report page for a findings document: one self-contained HTML file."""
    style = _asset("report.css")
    script = _asset("report.js")
    csp = "; ".join(
        (
            "default-src 'none'",
            f"script-src '{_sha256(script)}'",
            f"style-src '{_sha256(style)}'",
            "img-src data: blob:",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )
    values = {
        "csp": csp,
        "version": str(__version__).translate(_HTML_ESCAPES),
        "title": title.translate(_HTML_ESCAPES),
        "style": style,
        "script": script,
        "data": embed_json(document),
    }
    # One pass over the shell: a marker-like string inside the data is never expanded.
    return _MARKER.sub(lambda m: values[m.group(1)], _asset("page.html"))
