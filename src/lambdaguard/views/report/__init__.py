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

__all__ = ["embed_json", "render_html", "render_live", "render_login"]

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


def _csp(style: str, script: str | None, *, live: bool) -> str:
    """The page's Content-Security-Policy: its own script and style only.

    The file connects nowhere and submits nothing; the live view may fetch
    from and post (sign out) to the collector it came from, and nothing else.
    """
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src '{_sha256(script)}'" if script is not None else "script-src 'none'",
            f"style-src '{_sha256(style)}'",
            "img-src data: blob:",
            *(("connect-src 'self'",) if live else ()),
            "base-uri 'none'",
            "form-action 'self'" if live else "form-action 'none'",
        )
    )


def _fill(shell: str, values: dict[str, str]) -> str:
    # One pass over the shell: a marker-like string inside the data is never expanded.
    return _MARKER.sub(lambda m: values[m.group(1)], _asset(shell))


def render_html(document: dict[str, Any], *, title: str = "lambdaguard report") -> str:
    """The report page for a findings document: one self-contained HTML file."""
    style = _asset("report.css")
    script = _asset("report.js")
    return _fill(
        "page.html",
        {
            "csp": _csp(style, script, live=False),
            "version": str(__version__).translate(_HTML_ESCAPES),
            "title": title.translate(_HTML_ESCAPES),
            "style": style,
            "script": script,
            "data": embed_json(document),
            "source": "",
            "nav": "",
            "referrer": "no-referrer",
            "footer": "one self-contained file: nothing is loaded from the network.",
        },
    )


def live_csp() -> str:
    """The live page's policy (sent as a header too, with frame-ancestors added there)."""
    return _csp(_asset("report.css"), _asset("report.js"), live=True)


def login_csp() -> str:
    """The sign-in page's policy: its style, no script, forms only to the collector."""
    return _csp(_asset("report.css"), None, live=True)


def render_live(
    *, api: str, login: str | None = None, logout: str | None = None, title: str = "lambdaguard"
) -> str:
    """The live view: the report's page, its data fetched from ``api`` (a same-origin path).

    ``login`` is where the page sends the browser when its session has ended;
    ``logout`` (a path taking POST) adds a sign-out button.
    """
    source = f' data-src="{api.translate(_HTML_ESCAPES)}"'
    if login:
        source += f' data-login="{login.translate(_HTML_ESCAPES)}"'
    nav = (
        f' <form class="signout" method="post" action="{logout.translate(_HTML_ESCAPES)}">'
        '<button type="submit">Sign out</button></form>'
        if logout
        else ""
    )
    return _fill(
        "page.html",
        {
            "csp": live_csp(),
            "version": str(__version__).translate(_HTML_ESCAPES),
            "title": title.translate(_HTML_ESCAPES),
            "style": _asset("report.css"),
            "script": _asset("report.js"),
            "data": "",
            "source": source,
            "nav": nav,
            # Its sign-out form must carry the page's Origin (no-referrer would send "null").
            "referrer": "same-origin",
            "footer": "live view: drawn from the collector's JSON API (GET /api/v1/findings).",
        },
    )


def render_login(*, action: str, csrf: str, message: str = "") -> str:
    """The sign-in page: one password field for the collector's token, posted to ``action``."""
    return _fill(
        "login.html",
        {
            "version": str(__version__).translate(_HTML_ESCAPES),
            "style": _asset("report.css"),
            "action": action.translate(_HTML_ESCAPES),
            "csrf": csrf.translate(_HTML_ESCAPES),
            "message": (
                f'<p class="note warn" id="lg-login-message" role="alert">'
                f"{message.translate(_HTML_ESCAPES)}</p>\n"
                if message
                else ""
            ),
        },
    )
