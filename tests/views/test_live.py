"""The live view of `lambdaguard serve` (/ui, /api/v1): the CLI's numbers, and who may see them.

A real collector on loopback (uvicorn, SQLite holding tests/sample_fleet.py's
standard fleet) answers over HTTP; the JSON API is compared with the CLI's
`--format json` outputs, and every way in and out of a session is tried.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import sample_fleet as fleet
from lambdaguard.cli import main
from lambdaguard.collector.server import CollectorConfig, CollectorHandle, start_collector
from lambdaguard.errors import ConfigError
from lambdaguard.views.live import LiveFindings, Sessions, auth_required
from timekeeping import FIXED_NOW

TOKEN = "correct-horse-battery-staple"


@pytest.fixture
def fleet_store(tmp_path: Path) -> str:
    """A SQLite store holding the standard fleet, recorded up to the fixed test instant."""
    from lambdaguard.collector.store import open_store

    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    store = open_store(url)
    try:
        fleet.seed(store, fleet.standard(FIXED_NOW), now=FIXED_NOW)
    finally:
        store.close()
    return url


@pytest.fixture
def start(fleet_store: str) -> Iterator[Any]:
    """Start collectors over the fleet store on an ephemeral loopback port; stopped at teardown."""
    handles: list[CollectorHandle] = []

    def make(**overrides: Any) -> CollectorHandle:
        values: dict[str, Any] = {"store_url": fleet_store, "http_port": 0, "grpc_port": None}
        values.update(overrides)
        handle = start_collector(CollectorConfig(**values))
        handles.append(handle)
        return handle

    yield make
    for handle in handles:
        handle.stop()


def _client(handle: CollectorHandle, **kw: Any) -> httpx.Client:
    return httpx.Client(base_url=handle.http_url, follow_redirects=False, timeout=60, **kw)


def _cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()  # the collector's own log lines
    assert main([*argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _without_clock(doc: dict[str, Any]) -> dict[str, Any]:
    # Two runs read the clock at different instants; everything else must match.
    return {k: v for k, v in doc.items() if k not in ("generated_at", "window")}


def _sign_in(client: httpx.Client, token: str = TOKEN, **headers: str) -> httpx.Response:
    page = client.get("/ui/login")
    assert page.status_code == 200
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match
    return client.post(
        "/ui/login",
        data={"token": token, "csrf": match.group(1)},
        headers={"origin": str(client.base_url).rstrip("/"), **headers},
    )


# -- the data ------------------------------------------------------------------------------


def test_api_answers_what_the_cli_prints(
    start: Any, fleet_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """/api/v1/findings, /functions and /functions/{name} equal report, functions and show --format json."""
    handle = start()
    assert handle.live.findings.isolation == "process"  # away from the receivers' GIL
    with _client(handle) as client:
        findings = client.get("/api/v1/findings")
        rows = client.get("/api/v1/functions")
        one = client.get("/api/v1/functions/orders-api")
        by_arn = client.get("/api/v1/functions/" + fleet.arn("orders-api"))
    assert findings.status_code == rows.status_code == one.status_code == 200
    assert findings.headers["content-type"] == "application/json"
    doc = findings.json()
    assert doc["schema"] == "lambdaguard.findings/2"
    assert _without_clock(doc) == _without_clock(
        _cli_json(capsys, "report", "--store", fleet_store)
    )
    want_rows = _cli_json(capsys, "functions", "--store", fleet_store)
    assert rows.json()["functions"] == want_rows["functions"]
    assert (
        one.json()
        == by_arn.json()
        == _cli_json(capsys, "show", "orders-api", "--store", fleet_store)
    )


def test_unknown_function_and_path_are_json_errors(start: Any) -> None:
    """An unknown function is 404, an unknown API path 404, a POST to the API 405: all JSON."""
    handle = start()
    with _client(handle) as client:
        missing = client.get("/api/v1/functions/nope")
        path = client.get("/api/v2/anything")
        post = client.post("/api/v1/findings", content=b"{}")
    assert (missing.status_code, path.status_code, post.status_code) == (404, 404, 405)
    assert "no function 'nope'" in missing.json()["error"]
    assert post.headers["allow"] == "GET, HEAD"


def test_findings_are_gzipped_when_asked(start: Any) -> None:
    """With Accept-Encoding: gzip the document comes compressed, and decodes to the same JSON."""
    handle = start()
    with _client(handle) as client:
        plain = client.get("/api/v1/findings", headers={"accept-encoding": "identity"})
        zipped = client.get("/api/v1/findings", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.json() == plain.json()


def test_reloads_reuse_one_analysis(start: Any) -> None:
    """Many requests at once and right after share one analysis run (the page reload case)."""
    handle = start()
    results: list[int] = []

    def fetch() -> None:
        with _client(handle) as client:
            results.append(client.get("/api/v1/findings").status_code)

    threads = [threading.Thread(target=fetch) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fetch()
    assert results == [200] * 7
    assert handle.live.findings.runs == 1


def test_cache_lasts_four_times_the_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    """A result is reused for max(min_age, 4 x the run's time), then computed again."""
    import lambdaguard.analysis.fleet as fleet_module
    from lambdaguard.analysis.findings import Findings

    clock = [100.0]
    runs: list[float] = []

    def analyse(store: Any, *, now: Any, source: str, steps: Any) -> Findings:
        runs.append(clock[0])
        clock[0] += 2.0  # this run "takes" 2 s: kept for 8 s after it ends
        return Findings(
            generated_at=now, window_start=None, window_end=now, source=source, functions=()
        )

    monkeypatch.setattr(fleet_module, "analyse", analyse)
    live = LiveFindings(
        object(),
        source="sqlite:///x.db",
        clock=lambda: FIXED_NOW,
        monotonic=lambda: clock[0],
        isolation="thread",  # the replaced analysis runs in this process
    )
    try:
        first = live.get().result(30)
        assert first.fresh_until == 102.0 + 8.0
        clock[0] = 102.0 + 7.9
        assert live.get().result(30) is first
        assert runs == [100.0]
        clock[0] = 102.0 + 8.0
        assert live.get().result(30) is not first
        assert runs == [100.0, 110.0]
        assert live.runs == 2
    finally:
        live.close()


def test_ui_requests_never_take_an_ingest_slot(start: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """While an analysis is stuck, the one ingest slot still takes an export (200), /healthz answers."""
    import lambdaguard.analysis.fleet as fleet_module

    release = threading.Event()
    entered = threading.Event()
    real = fleet_module.analyse

    def slow(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(fleet_module, "analyse", slow)
    handle = start(max_inflight=1)
    handle.live.findings.isolation = "thread"  # so the replaced analysis is the one run
    pending: list[int] = []
    waiting = [
        threading.Thread(
            target=lambda: pending.append(
                httpx.get(f"{handle.http_url}/api/v1/findings", timeout=60).status_code
            )
        )
        for _ in range(3)
    ]
    for t in waiting:
        t.start()
    try:
        assert entered.wait(30)
        body = fleet.export_request(fleet.standard(FIXED_NOW)[0]).SerializeToString()
        export = httpx.post(
            f"{handle.http_url}/v1/traces",
            content=body,
            headers={"content-type": "application/x-protobuf"},
            timeout=30,
        )
        assert export.status_code == 200
        assert httpx.get(f"{handle.http_url}/healthz", timeout=30).status_code == 200
        assert pending == []  # the UI requests are still waiting on the analysis
    finally:
        release.set()
        for t in waiting:
            t.join(60)
    assert pending == [200, 200, 200]
    assert handle.stats()["throttled"] == 0


# -- the page ------------------------------------------------------------------------------------


def test_page_is_the_report_with_security_headers(start: Any) -> None:
    """/ui is the report's shell and script, data from the API; CSP, no framing, no caching."""
    from lambdaguard.views.report import _asset

    handle = start()
    with _client(handle) as client:
        page = client.get("/ui")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert _asset("report.js") in page.text
    assert 'id="lg-data" data-src="/api/v1/findings"></script>' in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "connect-src 'self'" in csp
    assert "script-src 'sha256-" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert "http://" not in page.text.replace(handle.http_url, "").split("<script>")[0].replace(
        "http://www.w3.org", ""
    )


# -- who may see it ------------------------------------------------------------------------------


def test_loopback_without_token_is_open_but_checks_the_host(start: Any) -> None:
    """No token on loopback: open; but a Host that is not a loopback name (DNS rebinding) is 403."""
    handle = start()
    assert not auth_required(handle.config)
    with _client(handle) as client:
        assert client.get("/ui").status_code == 200
        assert client.get("/api/v1/functions").status_code == 200
        assert client.get("/api/v1/functions", headers={"host": "localhost:1"}).status_code == 200
        rebound = client.get("/api/v1/findings", headers={"host": "attacker.example:4318"})
        page = client.get("/ui", headers={"host": "attacker.example"})
    assert rebound.status_code == page.status_code == 403
    assert "not a loopback name" in rebound.json()["error"]


def test_off_loopback_without_token_is_refused() -> None:
    """Listening off loopback without a token does not start; with one, /ui needs auth."""
    with pytest.raises(
        ConfigError, match=r"refusing to listen on 0\.0\.0\.0 without a bearer token"
    ):
        CollectorConfig(bind="0.0.0.0", http_port=0, grpc_port=None)
    assert auth_required(CollectorConfig(bind="0.0.0.0", tokens=("t",)))


def test_with_a_token_nothing_is_served_without_auth(start: Any) -> None:
    """No credentials: the page redirects to the sign-in page, every API route is 401 JSON."""
    handle = start(tokens=(TOKEN,))
    with _client(handle) as client:
        page = client.get("/ui")
        assert page.status_code == 303
        assert page.headers["location"] == "/ui/login"
        for path in ("/api/v1/findings", "/api/v1/functions", "/api/v1/functions/orders-api"):
            answer = client.get(path)
            assert answer.status_code == 401, path
            assert answer.json()["status"] == 401
            assert answer.headers["www-authenticate"].startswith("Bearer")
            assert "orders-api" not in answer.text
        # Nothing was analysed for an unauthenticated request.
        assert handle.live.findings.runs == 0


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, "Bearer", f"Bearer {TOKEN[:-1]}"],
)
def test_a_wrong_bearer_token_is_401(start: Any, authorization: str) -> None:
    """A wrong token, another scheme or a bare token is refused on the API and the page."""
    handle = start(tokens=(TOKEN,))
    with _client(handle, headers={"authorization": authorization}) as client:
        assert client.get("/api/v1/findings").status_code == 401
        assert client.get("/ui").status_code == 303


def test_the_bearer_token_opens_the_api(start: Any) -> None:
    """Authorization: Bearer with any of the configured tokens reads the API (rotation)."""
    handle = start(tokens=("old-token", TOKEN))
    for token in ("old-token", TOKEN):
        with _client(handle, headers={"authorization": f"Bearer {token}"}) as client:
            assert client.get("/api/v1/functions").status_code == 200
            assert client.get("/ui").status_code == 200


def test_sign_in_sets_a_strict_httponly_session_and_sign_out_ends_it(start: Any) -> None:
    """The token at /ui/login gives an HttpOnly SameSite=Strict cookie that opens page and API."""
    handle = start(tokens=(TOKEN,))
    with _client(handle) as client:
        signed = _sign_in(client)
        assert signed.status_code == 303
        assert signed.headers["location"] == "/ui"
        cookies = signed.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("lambdaguard-session="))
        for attribute in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"):
            assert attribute in session
        assert "Secure" not in session  # plain HTTP on loopback: a Secure cookie would be dropped
        sid = session.split(";", 1)[0].split("=", 1)[1]
        assert len(sid) >= 43
        assert client.get("/ui").status_code == 200
        assert client.get("/api/v1/functions").status_code == 200
        assert client.get("/ui/login").status_code == 303  # already signed in
        out = client.post("/ui/logout", headers={"origin": handle.http_url})
        assert out.status_code == 303
        assert out.headers["location"] == "/ui/login"
        assert "Max-Age=0" in out.headers["set-cookie"]
    # The old cookie, replayed, opens nothing: the session is gone on the server.
    with _client(handle, cookies={"lambdaguard-session": sid}) as replay:
        assert replay.get("/api/v1/functions").status_code == 401


def test_a_wrong_token_at_sign_in_gives_no_session(start: Any) -> None:
    """A wrong token re-shows the form (401) with a message and sets no session cookie."""
    handle = start(tokens=(TOKEN,))
    with _client(handle) as client:
        answer = _sign_in(client, "wrong")
        assert answer.status_code == 401
        assert "not one of the collector" in answer.text
        assert not any(
            c.startswith("lambdaguard-session=") for c in answer.headers.get_list("set-cookie")
        )
        assert client.get("/api/v1/functions").status_code == 401


def test_forged_session_ids_open_nothing(start: Any) -> None:
    """A made-up or empty session cookie is 401, whatever it looks like."""
    handle = start(tokens=(TOKEN,))
    for sid in ("x", "", TOKEN, "A" * 43):
        with _client(handle, cookies={"lambdaguard-session": sid}) as client:
            assert client.get("/api/v1/findings").status_code == 401


@pytest.mark.parametrize(
    ("headers", "csrf"),
    [
        ({"origin": "https://attacker.example"}, True),
        ({"origin": "null"}, True),
        ({"sec-fetch-site": "cross-site"}, True),
        ({}, False),  # no double-submit token: a form posted from elsewhere
    ],
)
def test_sign_in_refuses_cross_site_posts(start: Any, headers: dict[str, str], csrf: bool) -> None:
    """Login CSRF: another origin, a cross-site fetch or a missing form token gives no session."""
    handle = start(tokens=(TOKEN,))
    with _client(handle) as client:
        if csrf:
            answer = _sign_in(client, **headers)
        else:
            answer = client.post("/ui/login", data={"token": TOKEN, "csrf": "guess"})
        assert answer.status_code == 403
        assert not any(
            c.startswith("lambdaguard-session=") for c in answer.headers.get_list("set-cookie")
        )


def test_sign_in_never_redirects_elsewhere(start: Any) -> None:
    """A next/return parameter is ignored: signing in always lands on /ui (no open redirect)."""
    handle = start(tokens=(TOKEN,))
    with _client(handle) as client:
        page = client.get("/ui/login?next=https://attacker.example/")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        answer = client.post(
            "/ui/login?next=//attacker.example",
            data={"token": TOKEN, "csrf": csrf.group(1), "next": "https://attacker.example"},
            headers={"origin": handle.http_url},
        )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui"


def test_sign_out_refuses_cross_site_posts(start: Any) -> None:
    """A sign-out posted from another origin does not end the session."""
    handle = start(tokens=(TOKEN,))
    with _client(handle) as client:
        assert _sign_in(client).status_code == 303
        forced = client.post("/ui/logout", headers={"origin": "https://attacker.example"})
        assert forced.status_code == 403
        assert client.get("/api/v1/functions").status_code == 200
        assert client.get("/ui/logout").status_code == 405


def test_failed_sign_ins_are_limited_per_client(start: Any) -> None:
    """After five wrong tokens in a minute the sixth attempt is 429, even with the right token."""
    handle = start(tokens=(TOKEN,))
    with _client(handle) as client:
        for _ in range(5):
            assert _sign_in(client, "guess").status_code == 401
        blocked = _sign_in(client)
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1


def test_an_oversized_sign_in_form_is_413(start: Any) -> None:
    """The sign-in form is small; a body past 4 KiB is refused before it is parsed."""
    handle = start(tokens=(TOKEN,))
    with _client(handle) as client:
        answer = client.post(
            "/ui/login",
            content=b"token=" + b"x" * 10_000,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert answer.status_code == 413


def test_login_page_is_framed_by_nobody_and_runs_no_script(start: Any) -> None:
    """The sign-in page: no script allowed, no framing, the form posts to itself only."""
    handle = start(tokens=(TOKEN,))
    with _client(handle) as client:
        page = client.get("/ui/login")
    csp = page.headers["content-security-policy"]
    assert "script-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "form-action 'self'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script" not in page.text
    login = page.headers["set-cookie"]
    assert "HttpOnly" in login
    assert "SameSite=Strict" in login


def test_over_tls_cookies_are_secure_and_host_bound(start: Any, tmp_path: Path) -> None:
    """Over HTTPS the session cookie is Secure and __Host- prefixed, and HSTS is sent."""
    import subprocess

    key, crt = tmp_path / "key.pem", tmp_path / "cert.pem"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(crt)],
            check=True,
            capture_output=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl cannot make a test certificate: {exc}")
    handle = start(tokens=(TOKEN,), tls_cert=str(crt), tls_key=str(key))
    assert handle.http_url.startswith("https://")
    import ssl

    with _client(handle, verify=ssl.create_default_context(cafile=str(crt))) as client:
        signed = _sign_in(client)
        assert signed.status_code == 303
        session = next(
            c
            for c in signed.headers.get_list("set-cookie")
            if c.startswith("__Host-lambdaguard-session=")
        )
        assert "; Secure" in session
        assert signed.headers["strict-transport-security"].startswith("max-age=")
        assert client.get("/api/v1/functions").status_code == 200


# -- sessions ---------------------------------------------------------------------------------------


def test_sessions_expire_and_are_bounded() -> None:
    """A session is valid until its expiry; past max_sessions the oldest goes first."""
    now = [0.0]
    sessions = Sessions(ttl_s=60, max_sessions=3, monotonic=lambda: now[0])
    first = sessions.create()
    assert sessions.valid(first)
    now[0] = 59.9
    assert sessions.valid(first)
    now[0] = 60.0
    assert not sessions.valid(first)
    ids = [sessions.create() for _ in range(4)]
    assert not sessions.valid(ids[0])
    assert all(sessions.valid(i) for i in ids[1:])
    assert len(sessions) == 3
    sessions.end(ids[1])
    assert not sessions.valid(ids[1])
    assert not sessions.valid(None)


def test_serve_command_serves_the_view_and_says_who_may_see_it(fleet_store: str) -> None:
    """`python -m lambdaguard serve` names /ui on its listening line, logs its access, answers it."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "lambdaguard", "serve", "--store", fleet_store,
         "--http-port", "0", "--grpc-port", "off"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        # Other start-up events may come first (the store forgets span ids older
        # than its window, which depends on how old the fixture's spans are today).
        lines: list[str] = []
        match = None
        while len(lines) < 8 and not (match and "open without sign-in" in lines[-1]):
            lines.append(proc.stdout.readline())
            match = match or re.search(r"listening http=(\S+) .* ui=(\S+)", lines[-1])
        assert match, lines
        assert match.group(2) == match.group(1) + "/ui"
        assert any("open without sign-in" in x for x in lines), lines
        # The analysis runs in a spawned process, which must not run the CLI again.
        answer = httpx.get(match.group(1) + "/api/v1/functions", timeout=120)
        assert answer.status_code == 200
        assert {r["name"] for r in answer.json()["functions"]} == {
            "orders-api",
            "nightly-report",
            "legacy-cron",
        }
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_dead_analysis_process_is_replaced(start: Any) -> None:
    """If the worker process is killed, one request may get 503; the next starts a new worker."""
    handle = start()
    live = handle.live.findings
    with _client(handle) as client:
        assert client.get("/api/v1/functions").status_code == 200
        live._min_age_s = live._cost_factor = 0.0  # every request analyses again
        live._snapshot = None
        (worker,) = live._process._processes.values()
        worker.kill()
        worker.join(30)
        statuses = [client.get("/api/v1/functions").status_code for _ in range(2)]
    assert statuses in ([200, 200], [503, 200])
    assert live._process is not None
    assert worker.pid not in {p.pid for p in live._process._processes.values()}
