"""The live view: ``lambdaguard serve`` serves the report at ``/ui`` over a JSON API.

The page is the report's own (:func:`lambdaguard.views.report.render_live`):
the same shell, style and script, fetching the ``lambdaguard.findings/2``
document from ``GET /api/v1/findings`` instead of carrying it. The routes
(see docs/live-api.md):

=========================================  =================================================
``GET /ui``                                the report page (live)
``GET /ui/login``, ``POST /ui/login``      sign in with the collector's token (a form)
``POST /ui/logout``                        end the session
``GET /api/v1/findings``                   the findings document (``lambdaguard report
                                           --format json``)
``GET /api/v1/functions``                  one row per function (``lambdaguard functions
                                           --format json``)
``GET /api/v1/functions/{name or ARN}``    one function (``lambdaguard show --format json``)
=========================================  =================================================

Who may see it. With no token configured on a loopback address the view is
open (the startup log says so); a ``Host`` header that is not a loopback name
is then refused, so a web page cannot reach it through DNS rebinding.
Otherwise (a token is configured, or the address is not loopback, which the
configuration already refuses without a token) every route but the sign-in
page needs either ``Authorization: Bearer <token>`` or the session cookie
that signing in sets: a random id kept server-side with an expiry, HttpOnly,
SameSite=Strict, Secure over TLS. A page request without either is sent to
the sign-in page; an API request gets 401 with a JSON error. Sign-in and
sign-out are POSTs checked against cross-site requests (``Origin``,
``Sec-Fetch-Site`` and a double-submit token); the sign-in always lands on
``/ui``, so there is no redirect target to abuse. Failed sign-ins are limited
per client address.

The analysis is the CLI's (:func:`lambdaguard.analysis.fleet.analyse` then
:func:`lambdaguard.views.document.document`), run in a worker process of its
own (a thread for an in-memory store), never on the event loop, never in an
ingest slot, and never holding the receivers' interpreter lock. Its result is
kept, serialized, for ``max(min_age_s, cost_factor x the time it took)``, and
requests arriving while it runs wait for that one run, so however often the
page is reloaded the analysis takes at most about 1 / (1 + cost_factor) of
one core.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qs

from lambdaguard.collector.settings import CollectorConfig, is_loopback
from lambdaguard.collector.telemetry import get_logger

__all__ = [
    "GrantSteps",
    "LiveFindings",
    "LiveView",
    "Payload",
    "Sessions",
    "access_note",
    "analyse_payload",
    "auth_required",
]

log = get_logger("lambdaguard.collector.ui")

UI: Final = "/ui"
LOGIN: Final = "/ui/login"
LOGOUT: Final = "/ui/logout"
API: Final = "/api/v1"
FINDINGS: Final = "/api/v1/findings"
FUNCTIONS: Final = "/api/v1/functions"

SESSION_TTL_S: Final = 12 * 3600
_LOGIN_TTL_S: Final = 15 * 60  # how long a sign-in form stays valid
_MAX_FORM_BYTES: Final = 4096
_FAILURES_ALLOWED: Final = 5  # failed sign-ins per client address ...
_FAILURE_WINDOW_S: Final = 60.0  # ... within this many seconds; beyond, 429
_MAX_SESSIONS: Final = 1000
_JSON: Final = "application/json"
_HTML: Final = "text/html; charset=utf-8"

Send = Callable[[dict[str, Any]], Awaitable[None]]
ReadBody = Callable[[int], Awaitable[bytes | None]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def auth_required(config: CollectorConfig) -> bool:
    """True unless the collector listens on loopback with no token configured."""
    return bool(config.tokens) or not is_loopback(config.bind)


def access_note(config: CollectorConfig) -> str:
    """Who may open /ui, for the startup log."""
    if auth_required(config):
        return "sign in with the collector's token (the API also takes it as a bearer token)"
    return (
        "open without sign-in: loopback address and no token configured "
        "(anyone on this machine can read it; set --token to require one)"
    )


# -- the analysis, off the event loop and cached -------------------------------------


@dataclass(frozen=True, slots=True)
class Payload:
    """One analysis, serialized once for every route that answers from it (picklable)."""

    source: str
    findings_json: bytes
    findings_gzip: bytes
    functions_json: bytes
    by_arn: dict[str, bytes]  # each function's document (``show --format json``)
    by_name: dict[str, list[str]]
    took_s: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A payload and until when it is served without analysing again."""

    payload: Payload
    fresh_until: float


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def analyse_payload(store: Any, *, now: datetime, source: str, steps: Any = None) -> Payload:
    """The CLI's analysis of ``store`` (``steps``: a views._options.Steps), serialized."""
    from lambdaguard.analysis.fleet import analyse, printable_url
    from lambdaguard.views.document import SCHEMA, document, function_row, iso

    started = time.perf_counter()
    extra = list(steps(store, now, None)) if steps is not None else []
    findings = analyse(store, now=now, source=printable_url(source), steps=extra)
    doc = document(findings)
    body = _dumps(doc)
    by_name_order = sorted(findings.functions, key=lambda f: (f.name, f.account, f.region, f.arn))
    rows = {
        "schema": SCHEMA,
        "generated_at": iso(findings.generated_at),
        "source": findings.source,
        "window": {"start": iso(findings.window_start), "end": iso(findings.window_end)},
        "functions": [function_row(f) for f in by_name_order],
    }
    by_name: dict[str, list[str]] = {}
    for fn in doc["functions"]:
        by_name.setdefault(fn["name"], []).append(fn["arn"])
    return Payload(
        source=findings.source,
        findings_json=body,
        findings_gzip=gzip.compress(body, compresslevel=6),
        functions_json=_dumps(rows),
        by_arn={fn["arn"]: _dumps(fn) for fn in doc["functions"]},
        by_name=by_name,
        took_s=time.perf_counter() - started,
    )


def _payload_from_url(url: str, now: datetime, steps: Any) -> Payload:
    """In the analysis process: open the store read-only, analyse, close."""
    from lambdaguard.analysis.fleet import open_for_reading

    store = open_for_reading(url)
    try:
        return analyse_payload(store, now=now, source=url, steps=steps)
    finally:
        store.close()


def _worker_init() -> None:
    import signal

    # Ctrl-C reaches the whole process group; the collector stops its worker itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _own_process_possible(url: str) -> bool:
    # Another process can open a file or a server, not this process's in-memory SQLite.
    return ":memory:" not in url and url.rstrip("/") not in ("sqlite:", "sqlite:/", "sqlite://")


class GrantSteps:
    """The policy step, its grants read as ``lambdaguard serve``'s options say (picklable)."""

    def __init__(self, args: Any) -> None:
        self.args = args

    def __call__(self, store: Any, now: datetime, window: Any) -> Any:
        from lambdaguard.views._grants import policy_steps

        return policy_steps(self.args)(store, now, window)


class LiveFindings:
    """The findings of a store, analysed away from the event loop and kept a while.

    ``isolation="process"`` (the default when the store can be opened by URL)
    runs the analysis in one worker process of its own, so its CPU never
    holds this process's interpreter lock: measured (bench/bench_live.py) an
    analysis in a thread of the collector cut OTLP ingestion to about a third
    while it ran. ``"thread"`` runs it in one thread (an in-memory store,
    tests that replace the analysis).
    """

    def __init__(
        self,
        store: Any,
        *,
        source: str,  # the store's URL (shown without its password)
        clock: Callable[[], datetime] = _utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        min_age_s: float = 5.0,
        cost_factor: float = 4.0,
        isolation: str | None = None,
    ) -> None:
        self._store = store
        self._source = source
        self._clock = clock
        self._monotonic = monotonic
        self._min_age_s = min_age_s
        self._cost_factor = cost_factor
        self.isolation = isolation or ("process" if _own_process_possible(source) else "thread")
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._pending: Future[Snapshot] | None = None
        # One thread either runs the analysis or waits for the worker process's answer.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lambdaguard-ui")
        self._process: Any = None
        self.runs = 0  # analyses run (tests and the log read it)
        # Judgement steps made per run (see views._options.Steps): the policy proposal
        # when `serve` was given grants (GrantSteps); none by default (evidence only).
        self.steps: Callable[[Any, datetime, Any], Any] | None = None

    def get(self) -> Future[Snapshot]:
        """The current snapshot, or the run that will make the next one (one at a time)."""
        with self._lock:
            snap = self._snapshot
            if snap is not None and self._monotonic() < snap.fresh_until:
                done: Future[Snapshot] = Future()
                done.set_result(snap)
                return done
            if self._pending is None:
                self._pending = self._pool.submit(self._run)
            return self._pending

    def _run(self) -> Snapshot:
        try:
            started = self._monotonic()
            payload = self._analyse()
            took = self._monotonic() - started
        except BaseException:
            with self._lock:
                self._pending = None  # an error is not kept: the next request tries again
            raise
        self.runs += 1
        log.info(
            "ui_analysis",
            functions=len(payload.by_arn),
            took_s=round(took, 3),
            bytes=len(payload.findings_json),
            isolation=self.isolation,
        )
        snap = Snapshot(payload, self._monotonic() + max(self._min_age_s, self._cost_factor * took))
        with self._lock:
            self._snapshot = snap
            self._pending = None
        return snap

    def _analyse(self) -> Payload:
        now = self._clock()
        if self.isolation == "thread":
            return analyse_payload(self._store, now=now, source=self._source, steps=self.steps)
        from concurrent.futures.process import BrokenProcessPool

        if self._process is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn: forking a process with running threads (uvloop, gRPC, the writer)
            # can copy a held lock into the child.
            self._process = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
            )
        try:
            result: Payload = self._process.submit(
                _payload_from_url, self._source, now, self.steps
            ).result()
        except BrokenProcessPool:
            from lambdaguard.errors import LambdaguardError

            self._process = None  # the next request starts a new worker
            raise LambdaguardError("the analysis process ended unexpectedly") from None
        return result

    def close(self) -> None:
        """Stop the analysis thread and process (a run in progress finishes; none starts)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._process is not None:
            self._process.shutdown(wait=False, cancel_futures=True)


# -- sessions ----------------------------------------------------------------------------


@dataclass(slots=True)
class Sessions:
    """Random session ids kept server-side (only their SHA-256), each with an expiry."""

    ttl_s: float = SESSION_TTL_S
    max_sessions: int = _MAX_SESSIONS
    monotonic: Callable[[], float] = time.monotonic
    _expiry: dict[bytes, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def _digest(sid: str) -> bytes:
        # Looked up by digest: how long a dict lookup takes says nothing about the id.
        return hashlib.sha256(sid.encode("utf-8", "surrogateescape")).digest()

    def create(self) -> str:
        """A new session id (256 random bits), valid for ``ttl_s``."""
        sid = secrets.token_urlsafe(32)
        now = self.monotonic()
        with self._lock:
            for key in [k for k, exp in self._expiry.items() if exp <= now]:
                del self._expiry[key]
            while len(self._expiry) >= self.max_sessions:
                del self._expiry[next(iter(self._expiry))]  # the oldest
            self._expiry[self._digest(sid)] = now + self.ttl_s
        return sid

    def valid(self, sid: str | None) -> bool:
        """True for a session id that was created here, not ended and not expired."""
        if not sid:
            return False
        key = self._digest(sid)
        with self._lock:
            expiry = self._expiry.get(key)
            if expiry is None:
                return False
            if expiry <= self.monotonic():
                del self._expiry[key]
                return False
            return True

    def end(self, sid: str | None) -> None:
        """Forget a session (sign-out)."""
        if sid:
            with self._lock:
                self._expiry.pop(self._digest(sid), None)

    def __len__(self) -> int:
        return len(self._expiry)


@dataclass(slots=True)
class _Failures:
    """Failed sign-ins per client address, to refuse guessing."""

    monotonic: Callable[[], float] = time.monotonic
    _seen: dict[str, deque[float]] = field(default_factory=dict)

    def blocked(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        times = self._seen.get(client)
        if not times:
            return 0.0
        now = self.monotonic()
        while times and times[0] <= now - _FAILURE_WINDOW_S:
            times.popleft()
        if not times:
            del self._seen[client]
            return 0.0
        if len(times) < _FAILURES_ALLOWED:
            return 0.0
        return times[0] + _FAILURE_WINDOW_S - now

    def add(self, client: str) -> None:
        if len(self._seen) > 10_000:  # bounded: forget everyone rather than grow
            self._seen.clear()
        self._seen.setdefault(client, deque(maxlen=_FAILURES_ALLOWED)).append(self.monotonic())


# -- the ASGI part -------------------------------------------------------------------------


class _Reply(Exception):
    """Answer now with this response."""

    def __init__(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers


def _error(status: int, message: str, *headers: tuple[bytes, bytes]) -> _Reply:
    body = json.dumps({"error": message, "status": status}).encode()
    return _Reply(status, body, _JSON, headers)


def _redirect(location: str, *headers: tuple[bytes, bytes]) -> _Reply:
    return _Reply(303, b"", "text/plain", ((b"location", location.encode()), *headers))


def _cookies(header: bytes | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in (header or b"").decode("latin-1").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name not in found:
            found[name] = value.strip().strip('"')
    return found


def _token_ok(candidate: str, tokens: tuple[bytes, ...]) -> bool:
    presented = candidate.encode("utf-8", "surrogateescape")
    matched = False
    # Every token is compared, without short-circuiting (as the ingest path does).
    for token in tokens:
        matched |= hmac.compare_digest(presented, token)
    return matched


class LiveView:
    """The ``/ui`` and ``/api`` routes of the collector's HTTP listener."""

    def __init__(
        self,
        config: CollectorConfig,
        store: Any,
        *,
        clock: Callable[[], datetime] = _utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        tls: bool = False,
    ) -> None:
        self.config = config
        self.required = auth_required(config)
        self.tls = tls
        self._tokens = tuple(t.encode("utf-8") for t in config.tokens)
        self.findings = LiveFindings(
            store, source=config.store_url, clock=clock, monotonic=monotonic
        )
        self.sessions = Sessions(monotonic=monotonic)
        self._failures = _Failures(monotonic=monotonic)
        # "__Host-": the browser keeps it only if Secure, Path=/ and no Domain were set,
        # so no sibling host can plant or overwrite it (possible only over TLS).
        self.cookie = "__Host-lambdaguard-session" if tls else "lambdaguard-session"
        self.login_cookie = "__Host-lambdaguard-login" if tls else "lambdaguard-login"
        self._page: bytes | None = None
        self._headers_page: tuple[tuple[bytes, bytes], ...] | None = None

    @staticmethod
    def refusal(status: int, message: str) -> Exception:
        """The exception that answers a request of this view with a JSON error."""
        return _error(status, message)

    @staticmethod
    def handles(path: str) -> bool:
        """True for the paths this view answers (everything under /ui and /api)."""
        return path == UI or path.startswith(("/ui/", "/api/")) or path == "/api"

    def close(self) -> None:
        """Stop the analysis thread."""
        self.findings.close()

    # -- entry ---------------------------------------------------------------------------
    async def __call__(
        self,
        scope: dict[str, Any],
        path: str,
        headers: dict[bytes, bytes],
        read_body: ReadBody,
        send: Send,
    ) -> None:
        try:
            reply = await self._route(scope, path, headers, read_body)
        except _Reply as answer:
            reply = answer
        except Exception:
            log.exception("ui_failed", path=path)
            reply = _error(500, "internal error")
        await self._send(send, reply, scope["method"] == "HEAD")

    async def _route(
        self, scope: dict[str, Any], path: str, headers: dict[bytes, bytes], read_body: ReadBody
    ) -> _Reply:
        method = scope["method"]
        if not self.required:
            self._check_host(headers)
        if path == LOGIN:
            if method == "POST":
                return await self._login(scope, headers, read_body)
            if method in ("GET", "HEAD"):
                return self._login_page(headers)
            raise _error(405, "use GET or POST", (b"allow", b"GET, HEAD, POST"))
        if path == LOGOUT:
            if method != "POST":
                raise _error(405, "sign out with POST", (b"allow", b"POST"))
            self._same_origin(scope, headers)
            sid = _cookies(headers.get(b"cookie")).get(self.cookie)
            self.sessions.end(sid)
            return _redirect(LOGIN if self.required else UI, self._clear(self.cookie))
        is_api = path == "/api" or path.startswith("/api/")
        if method not in ("GET", "HEAD"):
            raise _error(405, f"{path} answers GET only", (b"allow", b"GET, HEAD"))
        if not self._allowed(headers, api=is_api):
            if is_api:
                raise _error(
                    401,
                    "authentication required: send 'Authorization: Bearer <token>' "
                    "or sign in at /ui/login",
                    (b"www-authenticate", b'Bearer realm="lambdaguard"'),
                )
            raise _redirect(LOGIN)
        if path in (UI, UI + "/"):
            return self._live_page()
        if path == FINDINGS:
            snap = await self._snapshot()
            if b"gzip" in headers.get(b"accept-encoding", b""):
                return _Reply(
                    200,
                    snap.findings_gzip,
                    _JSON,
                    ((b"content-encoding", b"gzip"), (b"vary", b"accept-encoding")),
                )
            return _Reply(200, snap.findings_json, _JSON, ((b"vary", b"accept-encoding"),))
        if path == FUNCTIONS:
            return _Reply(200, (await self._snapshot()).functions_json, _JSON)
        if path.startswith(FUNCTIONS + "/"):
            return await self._function(path[len(FUNCTIONS) + 1 :])
        if is_api:
            raise _error(404, f"no such path {path!r}: see /api/v1/findings, /api/v1/functions")
        raise _Reply(404, b"not found\n", "text/plain; charset=utf-8")

    # -- who may ---------------------------------------------------------------------------
    def _check_host(self, headers: dict[bytes, bytes]) -> None:
        """Open mode: only loopback Host names (a rebound DNS name is someone else's page)."""
        host = headers.get(b"host", b"").decode("latin-1").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]")
        if not (is_loopback(name) or name == self.config.bind.lower()):
            raise _error(
                403,
                f"Host {host!r} is not a loopback name: without a token the view is served "
                "only as localhost, 127.0.0.1 or [::1]",
            )

    def _allowed(self, headers: dict[bytes, bytes], *, api: bool) -> bool:
        if not self.required:
            return True
        authorization = headers.get(b"authorization")
        if authorization is not None:
            scheme, _, presented = authorization.decode("latin-1").partition(" ")
            return scheme.lower() == "bearer" and _token_ok(presented.strip(), self._tokens)
        return self.sessions.valid(_cookies(headers.get(b"cookie")).get(self.cookie))

    def _same_origin(self, scope: dict[str, Any], headers: dict[bytes, bytes]) -> None:
        """Refuse a form posted from another site (login CSRF, forced sign-out)."""
        site = headers.get(b"sec-fetch-site")
        if site is not None and site not in (b"same-origin", b"none"):
            raise _error(403, "cross-site request refused")
        origin = headers.get(b"origin")
        if origin is not None:
            # Host and port only: behind a proxy that ends TLS the browser says https while
            # this listener sees http; another site differs in its host, which is what matters.
            scheme, sep, netloc = origin.decode("latin-1").partition("://")
            host = headers.get(b"host", b"").decode("latin-1")
            if not sep or scheme not in ("http", "https") or netloc.lower() != host.lower():
                raise _error(403, "cross-origin request refused")

    # -- sign-in -------------------------------------------------------------------------------
    def _login_page(
        self, headers: dict[bytes, bytes], message: str = "", status: int = 200
    ) -> _Reply:
        from lambdaguard.views.report import login_csp, render_login

        if not self.required:
            return _redirect(UI)
        if message == "" and self._allowed(headers, api=False):
            return _redirect(UI)
        csrf = secrets.token_urlsafe(24)
        body = render_login(action=LOGIN, csrf=csrf, message=message).encode("utf-8")
        cookie = self._cookie(self.login_cookie, csrf, _LOGIN_TTL_S)
        return _Reply(status, body, _HTML, (*self._page_headers(login_csp()), cookie))

    async def _login(
        self, scope: dict[str, Any], headers: dict[bytes, bytes], read_body: ReadBody
    ) -> _Reply:
        if not self.required:
            return _redirect(UI)
        self._same_origin(scope, headers)
        client = str((scope.get("client") or ("?", 0))[0])
        wait = self._failures.blocked(client)
        if wait > 0:
            raise _error(
                429,
                f"too many failed sign-ins from {client}; try again in {wait:.0f} s",
                (b"retry-after", str(max(1, round(wait))).encode()),
            )
        media = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        if media != b"application/x-www-form-urlencoded":
            raise _error(415, "post the sign-in form (application/x-www-form-urlencoded)")
        body = await read_body(_MAX_FORM_BYTES)
        if body is None:
            raise _Reply(400, b"", "text/plain")
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=8)
        except (UnicodeDecodeError, ValueError):
            raise _error(400, "the sign-in form is not valid form data") from None
        csrf = (form.get("csrf") or [""])[0]
        expected = _cookies(headers.get(b"cookie")).get(self.login_cookie, "")
        if not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
            return self._login_page(
                headers, "The sign-in form expired or came from elsewhere: try again.", 403
            )
        token = (form.get("token") or [""])[0]
        if not _token_ok(token, self._tokens):
            self._failures.add(client)
            log.info("ui_sign_in_failed", client=client)
            return self._login_page(headers, "That is not one of the collector's tokens.", 401)
        sid = self.sessions.create()
        log.info("ui_sign_in", client=client)
        return _redirect(
            UI,
            self._cookie(self.cookie, sid, SESSION_TTL_S),
            self._clear(self.login_cookie),
        )

    def _cookie(self, name: str, value: str, max_age: float) -> tuple[bytes, bytes]:
        secure = "; Secure" if self.tls else ""
        return (
            b"set-cookie",
            f"{name}={value}; Path=/; Max-Age={int(max_age)}; HttpOnly; SameSite=Strict{secure}".encode(),
        )

    def _clear(self, name: str) -> tuple[bytes, bytes]:
        return self._cookie(name, "", 0)

    # -- pages and data -------------------------------------------------------------------------
    def _page_headers(self, csp: str) -> tuple[tuple[bytes, bytes], ...]:
        # The page's own <meta> policy cannot say frame-ancestors; the header does.
        return (
            (b"content-security-policy", f"{csp}; frame-ancestors 'none'".encode()),
            (b"x-frame-options", b"DENY"),
        )

    def _live_page(self) -> _Reply:
        from lambdaguard.views.report import live_csp, render_live

        if self._page is None:
            self._page = render_live(
                api=FINDINGS,
                login=LOGIN if self.required else None,
                logout=LOGOUT if self.required else None,
            ).encode("utf-8")
            self._headers_page = self._page_headers(live_csp())
        assert self._headers_page is not None
        return _Reply(200, self._page, _HTML, self._headers_page)

    async def _snapshot(self) -> Payload:
        try:
            return (await asyncio.wrap_future(self.findings.get())).payload
        except Exception as exc:
            from lambdaguard.errors import LambdaguardError

            if isinstance(exc, LambdaguardError):
                log.warning("ui_analysis_failed", error=str(exc))
                raise _error(503, f"the findings cannot be computed now: {exc}") from exc
            raise

    async def _function(self, key: str) -> _Reply:
        if not key or len(key) > 1024:
            raise _error(400, "give a function name or its ARN")
        snap = await self._snapshot()
        fn = snap.by_arn.get(key)
        if fn is None:
            arns = snap.by_name.get(key, [])
            if len(arns) > 1:
                raise _error(409, f"{len(arns)} functions are named {key!r}; give the ARN of one")
            if not arns:
                raise _error(404, f"no function {key!r} in {snap.source}")
            fn = snap.by_arn[arns[0]]
        return _Reply(200, fn, _JSON)

    async def _send(self, send: Send, reply: _Reply, head: bool) -> None:
        headers = [
            (b"content-type", reply.content_type.encode()),
            (b"content-length", str(len(reply.body)).encode()),
            (b"cache-control", b"no-store"),
            (b"x-content-type-options", b"nosniff"),
            # Same-origin, not no-referrer: under no-referrer the browser sends "Origin: null"
            # with our own forms, and the sign-in check could not tell them from a forgery.
            (b"referrer-policy", b"same-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"cross-origin-resource-policy", b"same-origin"),
            *reply.headers,
        ]
        if reply.content_type == _JSON and not any(
            k == b"content-security-policy" for k, _ in headers
        ):
            headers.append(
                (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
            )
        if self.tls:
            headers.append((b"strict-transport-security", b"max-age=31536000"))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else reply.body})
