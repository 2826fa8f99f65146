"""A local stand-in for the Lambda service: the Runtime and Extensions APIs on loopback.

Functions run the way Lambda runs a zip function on a managed Python runtime:

- a fresh process per execution environment, started the way the runtime's
  ``/var/runtime/bootstrap`` does it: ``python bootstrap.py`` (which starts
  AWS's runtime interface client, ``awslambdaric``), through
  ``$AWS_LAMBDA_EXEC_WRAPPER`` when the function sets it (``<wrapper>
  <runtime command…>``; a missing wrapper exits 127, a non-executable one 126);
- the Lambda environment variables (``_HANDLER``, ``AWS_LAMBDA_RUNTIME_API``,
  ``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_FUNCTION_*``, credentials of the role …),
  ``cwd`` = the task root, no ``PYTHONPATH``, nothing inherited from the
  calling process;
- ``sys.path`` built as Lambda's ``bootstrap.py`` builds it: task root, then
  (only when ``PYTHONPATH`` is unset) the layers' ``python/lib/pythonX.Y/site-packages``
  and ``python/`` (the unpacked layers play ``/opt``), the runtime directory
  (``awslambdaric``), the standard library, and the AWS SDK as the
  interpreter's site-packages. The interpreter runs with ``-S`` so no
  site-packages of the build machine leak in;
- INIT ends when the runtime and every registered extension have called
  ``next``; an invoke ends when the runtime has posted its response or error
  *and* every extension has called ``next`` again; then the process group is
  frozen with SIGSTOP and thawed with SIGCONT for the next invoke;
- a deadline per invoke: past it the environment is killed and the next
  invoke is a cold start; a failed INIT is reported as Lambda reports it and
  also resets the environment;
- external extensions (executables in the layer's ``extensions/``) start
  before the runtime, must register before it starts, get INVOKE and
  SHUTDOWN events and are frozen with it; extensions registered from inside
  the runtime process are internal (no SHUTDOWN);
- shutdown sends SIGTERM and SIGKILL after the budget.

Public surface: :class:`FunctionConfig`, :class:`InvokeResult`,
:class:`ExecutionEnvironment`, :class:`LocalLambda` (scales out to several
environments per function; :class:`TooManyRequests` past its limit),
:class:`InvokeTimeline` and :class:`InitTimeline` (exact instants, for benchmarks),
:func:`unpack_layer`, :func:`make_runtime_dir`, :func:`build_task_root`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lambdaguard.errors import ConfigError, LambdaguardError

__all__ = [
    "Credentials",
    "ExecutionEnvironment",
    "FunctionConfig",
    "InitTimeline",
    "InvokeResult",
    "InvokeTimeline",
    "LocalLambda",
    "TooManyRequests",
    "build_task_root",
    "make_runtime_dir",
    "unpack_layer",
]

# What a managed Python runtime (3.11+) provides: the runtime interface client
# in /var/runtime, and the AWS SDK for Python in the interpreter's
# site-packages (/var/lang/lib/pythonX.Y/site-packages).
RUNTIME_CLIENT_DISTRIBUTIONS = ("awslambdaric", "simplejson", "snapshot-restore-py")
RUNTIME_SDK_DISTRIBUTIONS = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
)

# What /var/runtime/bootstrap.py does on a managed Python runtime, with /opt,
# /var/runtime and /var/lang's site-packages replaced by local directories:
#
# - it runs after the exec wrapper, so it reads _HANDLER as the wrapper left it;
# - sys.path precedence is LAMBDA_TASK_ROOT -> /opt/python/lib/pythonX.Y/site-packages
#   -> /opt/python, but the two /opt entries (and their .pth files) are added
#   only when PYTHONPATH is *not* set: a wrapper that sets PYTHONPATH takes
#   them over;
# - the task root is a site directory (its .pth files are honoured).
_BOOTSTRAP = """\
import os
import site
import sys

RUNTIME_DIR = {runtime_dir!r}
SDK_DIR = {sdk_dir!r}
OPT = {opt!r}

# This file's folder is sys.path[0]; Lambda's bootstrap lives in /var/runtime.
sys.path[0] = RUNTIME_DIR
# The interpreter runs with -S (no build-machine site-packages); this plays its
# own site-packages, where Lambda's Python 3.11+ runtimes keep the SDK.
sys.path.append(SDK_DIR)

opt_site = f"{{OPT}}/python/lib/python{{sys.version_info[0]}}.{{sys.version_info[1]}}/site-packages"
opt_python = f"{{OPT}}/python"
pythonpath_set = "PYTHONPATH" in os.environ
if not pythonpath_set:
    sys.path.insert(0, opt_python)
    sys.path.insert(0, opt_site)
sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
site.addsitedir(os.environ["LAMBDA_TASK_ROOT"])
if not pythonpath_set:
    site.addsitedir(opt_site)
    site.addsitedir(opt_python)

from awslambdaric.__main__ import main

main([sys.argv[0], os.environ["_HANDLER"]])
"""

# What /var/runtime/bootstrap (the runtime's entry point, a shell script) does:
# run bootstrap.py, through $AWS_LAMBDA_EXEC_WRAPPER when it is set, refusing a
# wrapper that does not exist (exit 127) or is not executable (exit 126).
_LAUNCHER = """\
if [ -z "$AWS_LAMBDA_EXEC_WRAPPER" ]; then
  exec {python} -S {bootstrap}
fi
wrapper="$AWS_LAMBDA_EXEC_WRAPPER"
if [ ! -f "$wrapper" ]; then
  echo "$wrapper: does not exist"
  exit 127
fi
if [ ! -x "$wrapper" ]; then
  echo "$wrapper: is not an executable"
  exit 126
fi
exec -- "$wrapper" {python} -S {bootstrap}
"""

# Lambda limits: 10 s for INIT on on-demand functions, 6 MB synchronous response.
INIT_TIMEOUT_S = 10.0
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
# Shutdown budget: 2,000 ms when extensions are registered (AWS docs, Extensions API).
SHUTDOWN_BUDGET_S = 2.0
# Without extensions Lambda allows 500 ms at most (0 ms with none at all); kept
# at 500 ms here so a runtime's own SIGTERM handler can be exercised.
SHUTDOWN_BUDGET_NO_EXTENSIONS_S = 0.5

_RUNTIME_PREFIX = "/2018-06-01/runtime"
_EXTENSION_PREFIX = "/2020-01-01/extension"


@dataclass(frozen=True, slots=True)
class Credentials:
    """The execution role's temporary credentials as Lambda exposes them in the environment."""

    access_key_id: str = "AKIAIOSFODNN7EXAMPLE"
    secret_access_key: str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # noqa: S105 - AWS docs' example key
    session_token: str | None = None


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    """One function as the local Lambda runs it.

    ``environment`` is the function's configured environment (it may set
    ``AWS_LAMBDA_EXEC_WRAPPER``; a value under ``/opt/`` is resolved inside
    ``layer_dir``, which plays ``/opt``).
    """

    name: str
    handler: str
    code_dir: Path
    # The managed runtime this environment plays: the interpreter running it is
    # this machine's, so the default names this machine's Python version.
    runtime: str = f"python{sys.version_info.major}.{sys.version_info.minor}"
    memory_mb: int = 128
    timeout_s: float = 3.0
    environment: Mapping[str, str] = field(default_factory=dict)
    layer_dir: Path | None = None
    region: str = "us-east-1"
    account: str = "123456789012"
    version: str = "$LATEST"
    credentials: Credentials = field(default_factory=Credentials)
    init_timeout_s: float = INIT_TIMEOUT_S

    @property
    def arn(self) -> str:
        """The unqualified function ARN."""
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.name}"


@dataclass(frozen=True, slots=True)
class InvokeTimeline:
    """Exact instants of one invoke, as ``time.perf_counter_ns()`` of the calling process.

    Stamped by the API server when the request arrives (not when the caller
    wakes up), so differences are free of thread wake-up delays and of the
    freeze that follows the invoke. 0 means it did not happen (timeout, crash).
    """

    dispatched_ns: int = 0  # the runtime's `next` was answered with the event
    responded_ns: int = 0  # its POST .../response or .../error arrived
    idle_ns: int = 0  # the runtime and every extension waited in `next` again


@dataclass(frozen=True, slots=True)
class InitTimeline:
    """Exact instants of one INIT, as ``time.perf_counter_ns()`` of the calling process.

    ``started_ns`` is taken just before the first process (an external
    extension or the runtime) starts; ``ready_ns`` when the runtime and every
    registered extension first waited in ``next`` (0 if INIT failed, and then
    ``error`` is the error document).
    """

    started_ns: int
    ready_ns: int
    error: bytes | None = None


@dataclass(frozen=True, slots=True)
class InvokeResult:
    """What a synchronous Invoke returns, plus what the platform measured.

    ``status`` is ``success``, ``error`` (the handler raised or the runtime
    exited), ``init_error`` (the environment could not initialise) or
    ``timeout``. ``payload`` is the body Invoke would return: the handler's
    result, or the error document. ``error`` is that document parsed.
    """

    request_id: str
    status: str
    payload: bytes
    error: Mapping[str, Any] | None
    cold_start: bool
    init_duration_ms: float | None
    duration_ms: float
    post_runtime_ms: float
    function_error: str | None = None
    timeline: InvokeTimeline = field(default_factory=InvokeTimeline)

    @property
    def ok(self) -> bool:
        """True if the handler returned a result."""
        return self.status == "success"

    def json(self) -> Any:
        """The payload decoded as JSON."""
        return json.loads(self.payload)


# -- state shared by the HTTP handlers and the driver --------------------------


@dataclass(slots=True)
class _Invocation:
    request_id: str
    payload: bytes
    deadline_ms: int
    arn: str
    trace_id: str
    client_context: str | None
    cognito_identity: str | None
    dispatched: bool = False
    response: bytes | None = None
    error: bytes | None = None
    error_type: str | None = None
    responded_at: float | None = None
    dispatched_ns: int = 0
    responded_ns: int = 0
    idle_ns: int = 0

    def timeline(self) -> InvokeTimeline:
        return InvokeTimeline(self.dispatched_ns, self.responded_ns, self.idle_ns)


@dataclass(slots=True)
class _Extension:
    ident: str
    name: str
    events: tuple[str, ...]
    external: bool = False
    waiting: bool = False
    pending: bytes | None = None


@dataclass(slots=True)
class _Sandbox:
    """State of one execution environment, guarded by ``cond``."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    generation: int = 0
    phase: str = "init"  # init | ready | dead
    runtime_waiting: bool = False
    current: _Invocation | None = None
    extensions: dict[str, _Extension] = field(default_factory=dict)
    init_error: bytes | None = None
    init_error_type: str | None = None
    extension_errors: list[tuple[str, str]] = field(default_factory=list)
    extension_init_error: str | None = None  # error type an extension reported during INIT
    closing: bool = False
    init_ready_ns: int = 0  # perf_counter_ns when INIT's runtime and extensions first idled

    def note_idle(self) -> None:
        """Stamp the end of INIT or of the current invoke if everyone now waits in ``next``.

        Called, with ``cond`` held, whenever the runtime or an extension starts
        waiting in ``next``: that request is the end of the phase, so its
        arrival is the exact instant (an extension with an event still queued
        is not idle: it is about to take it).
        """
        if not self.runtime_waiting:
            return
        if not all(e.waiting and e.pending is None for e in self.extensions.values()):
            return
        now = time.perf_counter_ns()
        inv = self.current
        if inv is None:
            if self.phase == "init" and not self.init_ready_ns:
                self.init_ready_ns = now
        elif inv.dispatched and not inv.idle_ns and (inv.response or inv.error) is not None:
            inv.idle_ns = now


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Many long polls are parked at once (runtime + extensions across restarts).
    request_queue_size = 64

    def __init__(self, env: ExecutionEnvironment) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.env = env

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A killed or frozen-then-killed runtime resets its connections; that is
        # the lifecycle working, not a server fault.
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so the runtime client may keep its connection alive; every
    # reply carries Content-Length (and Content-Type: awslambdaric's native
    # client can hang on a `next` reply without one).
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; with Nagle on, the client's
        # delayed ACK adds ~40 ms to every keep-alive round trip.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(
        self,
        status: int,
        body: bytes | Mapping[str, Any] = b"",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        data = json.dumps(body).encode() if isinstance(body, Mapping) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(data)

    def _error(self, status: int, error_type: str, message: str) -> None:
        self._reply(status, {"errorType": error_type, "errorMessage": message})

    def do_GET(self) -> None:
        env = self.server.env
        if self.path == f"{_RUNTIME_PREFIX}/invocation/next":
            env._runtime_next(self)
        elif self.path == f"{_EXTENSION_PREFIX}/event/next":
            env._extension_next(self)
        else:
            self._error(404, "InvalidRequest", f"no such route: GET {self.path}")

    def do_POST(self) -> None:
        env = self.server.env
        path = self.path
        body = self._body()
        if path.startswith(f"{_RUNTIME_PREFIX}/invocation/"):
            parts = path.split("/")  # ['', '2018-06-01', 'runtime', 'invocation', id, kind]
            if len(parts) == 6 and parts[5] in ("response", "error"):
                env._runtime_post(self, parts[4], parts[5], body)
                return
        elif path == f"{_RUNTIME_PREFIX}/init/error":
            env._runtime_init_error(self, body)
            return
        elif path == f"{_EXTENSION_PREFIX}/register":
            env._extension_register(self, body)
            return
        elif path in (f"{_EXTENSION_PREFIX}/init/error", f"{_EXTENSION_PREFIX}/exit/error"):
            env._extension_error(self, path.rsplit("/", 2)[1])
            return
        self._error(404, "InvalidRequest", f"no such route: POST {path}")


# -- the execution environment -------------------------------------------------


class ExecutionEnvironment:
    """One Lambda execution environment: a Runtime/Extensions API server and its process.

    Not thread-safe for concurrent ``invoke`` calls: like Lambda, one
    environment serves one invocation at a time. ``freeze=False`` leaves the
    processes running between invokes (Lambda freezes them; a benchmark may
    want to know what the freeze itself costs).
    """

    def __init__(
        self,
        config: FunctionConfig,
        *,
        runtime_dir: Path,
        python: str | None = None,
        log_path: Path | None = None,
        echo: bool = False,
        freeze: bool = True,
    ) -> None:
        self.config = config
        self.freeze = freeze
        self.runtime_dir = runtime_dir
        self.python = python or _base_python()
        self.log_path = log_path
        self.echo = echo
        self.logs: list[str] = []
        # Guards `logs`; notified on every line so a reader can wait for one
        # (function output arrives through a pipe, after the invoke may have ended,
        # as in Lambda, where logs reach CloudWatch asynchronously).
        self._logs_cond = threading.Condition()
        self._state = _Sandbox()
        self._proc: subprocess.Popen[bytes] | None = None
        # External extensions (executables in /opt/extensions), by file name.
        self._ext_procs: dict[str, subprocess.Popen[bytes]] = {}
        self._readers: list[threading.Thread] = []
        self._frozen = False
        # Private to this environment: HOME (empty) and the bootstrap script.
        self._dir = Path(tempfile.mkdtemp(prefix=f"lg-env-{config.name}-"))
        self._home = self._dir / "home"
        self._home.mkdir()
        self.log_stream = _log_stream_name(config.version)
        self.init_count = 0
        self._last_init: InitTimeline | None = None
        self._server = _Server(self)
        self._server_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"lambda-api-{config.name}",
            daemon=True,
        )
        self._server_thread.start()

    # -- public ------------------------------------------------------------------

    @property
    def api_address(self) -> str:
        """``host:port`` of this environment's Runtime API (``AWS_LAMBDA_RUNTIME_API``)."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    @property
    def pid(self) -> int | None:
        """The runtime process id, or None when no process is alive."""
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    @property
    def exit_code(self) -> int | None:
        """The last runtime process's exit code once it ended (negative: the signal that
        ended it, as ``subprocess`` reports it); None while it runs or before it started."""
        return self._proc.poll() if self._proc is not None else None

    @property
    def extension_names(self) -> tuple[str, ...]:
        """Names of the extensions registered in the current environment."""
        with self._state.cond:
            return tuple(ext.name for ext in self._state.extensions.values())

    @property
    def extension_errors(self) -> tuple[tuple[str, str], ...]:
        """``(init|exit, error type)`` reported through ``/extension/{init,exit}/error``."""
        with self._state.cond:
            return tuple(self._state.extension_errors)

    @property
    def last_init(self) -> InitTimeline | None:
        """The exact instants of this environment's latest INIT, or None before the first."""
        return self._last_init

    def initialize(self) -> InitTimeline:
        """Run INIT now, before any invoke (as provisioned concurrency does), then freeze.

        The next invoke is then warm (``cold_start`` False, no init duration).
        An environment whose process is alive is left as it is. A failed INIT
        kills the process, as it does on an invoke; its timeline carries the
        error document.
        """
        if self.pid is None:
            _, failure = self._init()
            if failure is not None:
                self._kill()
            else:
                self._freeze()
        assert self._last_init is not None  # set by every _init
        return self._last_init

    def wait_for_logs(self, done: Callable[[list[str]], bool], timeout: float = 10.0) -> list[str]:
        """Wait until `done(lines)` holds for the lines so far (or `timeout` passes); return them.

        Function output comes through a pipe read by a thread, so a line written
        just before the response can arrive after the invoke returns.
        """
        with self._logs_cond:
            self._logs_cond.wait_for(lambda: done(self.logs), timeout=timeout)
            return list(self.logs)

    def invoke(
        self,
        event: Any,
        *,
        request_id: str | None = None,
        client_context: Mapping[str, Any] | None = None,
        cognito_identity: Mapping[str, Any] | None = None,
        trace_id: str | None = None,
        qualifier: str | None = None,
    ) -> InvokeResult:
        """Invoke the function synchronously (RequestResponse) and return what Lambda would."""
        request_id = request_id or str(uuid.uuid4())
        self._platform(f"START RequestId: {request_id} Version: {self.config.version}")
        result = self._invoke(
            event,
            request_id=request_id,
            client_context=client_context,
            cognito_identity=cognito_identity,
            trace_id=trace_id,
            qualifier=qualifier,
        )
        # The platform lines Lambda writes to the function's log stream.
        self._platform(f"END RequestId: {request_id}")
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {result.duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(result.duration_ms)} ms\t"
            f"Memory Size: {self.config.memory_mb} MB"
        )
        if result.init_duration_ms is not None:
            report += f"\tInit Duration: {result.init_duration_ms:.2f} ms"
        if result.status in ("timeout", "init_error"):
            report += f"\tStatus: {result.status}"
        self._platform(report)
        return result

    def _invoke(
        self,
        event: Any,
        *,
        request_id: str,
        client_context: Mapping[str, Any] | None,
        cognito_identity: Mapping[str, Any] | None,
        trace_id: str | None,
        qualifier: str | None,
    ) -> InvokeResult:
        payload = event if isinstance(event, bytes) else json.dumps(event).encode()
        cold = False
        init_ms: float | None = None
        if self.pid is None:
            cold = True
            init_ms, failure = self._init()
            if failure is not None:
                self._kill()
                return _failure(request_id, failure, cold=True, init_ms=init_ms)
        else:
            self._thaw()
        arn = self.config.arn + (f":{qualifier}" if qualifier else "")
        started = time.monotonic()
        deadline = started + self.config.timeout_s
        inv = _Invocation(
            request_id=request_id,
            payload=payload,
            deadline_ms=int((time.time() + self.config.timeout_s) * 1000),
            arn=arn,
            trace_id=trace_id or _trace_header(),
            # Invoke takes ClientContext base64-encoded; the Runtime API hands the
            # runtime the decoded JSON (awslambdaric json-parses the header).
            client_context=json.dumps(client_context) if client_context else None,
            cognito_identity=json.dumps(cognito_identity) if cognito_identity else None,
        )
        st = self._state
        with st.cond:
            st.current = inv
            for ext in st.extensions.values():
                if "INVOKE" in ext.events:
                    ext.pending = json.dumps(
                        {
                            "eventType": "INVOKE",
                            "deadlineMs": inv.deadline_ms,
                            "requestId": inv.request_id,
                            "invokedFunctionArn": inv.arn,
                            "tracing": {"type": "X-Amzn-Trace-Id", "value": inv.trace_id},
                        }
                    ).encode()
            st.cond.notify_all()
            outcome = self._wait_invoke(inv, deadline)
            st.current = None
        ended = time.monotonic()
        responded = inv.responded_at or ended
        duration_ms = (responded - started) * 1000
        post_ms = max(0.0, (ended - responded) * 1000)
        if outcome == "timeout":
            self._kill()
            doc = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": (
                    f"RequestId: {request_id} Error: Task timed out after "
                    f"{self.config.timeout_s:.2f} seconds"
                ),
            }
            return InvokeResult(
                request_id,
                "timeout",
                json.dumps(doc).encode(),
                doc,
                cold,
                init_ms,
                self.config.timeout_s * 1000,
                0.0,
                "Unhandled",
                inv.timeline(),
            )
        if outcome == "exited":
            code = self._proc.returncode if self._proc else None
            self._kill()
            doc = {
                "errorType": "Runtime.ExitError",
                "errorMessage": (
                    f"RequestId: {request_id} Error: Runtime exited with error: {_exit_text(code)}"
                ),
            }
            return InvokeResult(
                request_id,
                "error",
                json.dumps(doc).encode(),
                doc,
                cold,
                init_ms,
                duration_ms,
                0.0,
                "Unhandled",
                inv.timeline(),
            )
        self._freeze()
        if inv.error is not None:
            doc_err = _parse_error(inv.error, inv.error_type)
            return InvokeResult(
                request_id,
                "error",
                inv.error,
                doc_err,
                cold,
                init_ms,
                duration_ms,
                post_ms,
                "Unhandled",
                inv.timeline(),
            )
        return InvokeResult(
            request_id,
            "success",
            inv.response or b"",
            None,
            cold,
            init_ms,
            duration_ms,
            post_ms,
            timeline=inv.timeline(),
        )

    def shutdown(self) -> None:
        """End the environment as Lambda does: SIGTERM, then SIGKILL after the budget.

        The runtime gets SIGTERM; external extensions registered for it get a
        SHUTDOWN event. Everything still running when the budget (2 s with
        extensions, 500 ms without) is spent is killed.
        """
        proc = self._proc
        if proc is None or proc.poll() is not None:
            self._kill()
            return
        budget = SHUTDOWN_BUDGET_S if self.extension_names else SHUTDOWN_BUDGET_NO_EXTENSIONS_S
        deadline = time.monotonic() + budget
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        st = self._state
        with st.cond:
            for ext in st.extensions.values():
                if ext.external and "SHUTDOWN" in ext.events:
                    ext.pending = json.dumps(
                        {
                            "eventType": "SHUTDOWN",
                            "shutdownReason": "spindown",
                            "deadlineMs": int((time.time() + budget) * 1000),
                        }
                    ).encode()
            st.cond.notify_all()
        self._thaw()
        for process in (proc, *self._ext_procs.values()):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
        self._kill()

    def close(self) -> None:
        """Shut the environment down and stop its API server."""
        self.shutdown()
        with self._state.cond:
            self._state.closing = True
            self._state.cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        for reader in self._readers:
            reader.join(timeout=2)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> ExecutionEnvironment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lifecycle -------------------------------------------------------------------

    def environ(self) -> dict[str, str]:
        """The process environment Lambda would give this function."""
        cfg = self.config
        task_root = str(cfg.code_dir.resolve())
        # No PYTHONPATH: Lambda's Python runtimes leave it unset and build
        # sys.path in bootstrap.py instead (see _BOOTSTRAP).
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "HOME": str(self._home),
            "LAMBDA_TASK_ROOT": task_root,
            "LAMBDA_RUNTIME_DIR": str(_client_dir(self.runtime_dir).resolve()),
            "_HANDLER": cfg.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{cfg.runtime}",
            "AWS_LAMBDA_RUNTIME_API": self.api_address,
            "AWS_LAMBDA_FUNCTION_NAME": cfg.name,
            "AWS_LAMBDA_FUNCTION_VERSION": cfg.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(cfg.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{cfg.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": cfg.region,
            "AWS_DEFAULT_REGION": cfg.region,
            "AWS_ACCESS_KEY_ID": cfg.credentials.access_key_id,
            "AWS_SECRET_ACCESS_KEY": cfg.credentials.secret_access_key,
        }
        if cfg.credentials.session_token:
            env["AWS_SESSION_TOKEN"] = cfg.credentials.session_token
        if cfg.layer_dir is not None:
            env["PATH"] += f":{cfg.layer_dir.resolve() / 'bin'}"
        # The function's own variables cannot override the reserved ones (Lambda rejects them).
        for key, value in cfg.environment.items():
            env.setdefault(key, value)
        if env.get("AWS_LAMBDA_EXEC_WRAPPER"):
            # /opt is a local directory here; point the variable into it.
            env["AWS_LAMBDA_EXEC_WRAPPER"] = self._resolve_opt(env["AWS_LAMBDA_EXEC_WRAPPER"])
        return env

    def command(self) -> list[str]:
        """The runtime command, wrapped by ``AWS_LAMBDA_EXEC_WRAPPER`` when set."""
        bootstrap = self._dir / "bootstrap.py"
        opt = self.config.layer_dir.resolve() if self.config.layer_dir else self._dir / "opt"
        bootstrap.write_text(
            _BOOTSTRAP.format(
                runtime_dir=str(_client_dir(self.runtime_dir).resolve()),
                sdk_dir=str(_sdk_dir(self.runtime_dir).resolve()),
                opt=str(opt),
            )
        )
        launcher = self._dir / "bootstrap"
        launcher.write_text(_LAUNCHER.format(python=self.python, bootstrap=str(bootstrap)))
        return ["/bin/bash", str(launcher)]

    def _resolve_opt(self, path: str) -> str:
        layer = self.config.layer_dir
        if layer is not None and path.startswith("/opt/"):
            return str(layer.resolve() / path.removeprefix("/opt/"))
        return path

    def _init(self) -> tuple[float, bytes | None]:
        """Start the process and wait for INIT to finish; return (ms, error document or None)."""
        st = self._state
        with st.cond:
            st.generation += 1
            st.phase = "init"
            st.runtime_waiting = False
            st.current = None
            st.extensions.clear()
            st.init_error = None
            st.init_error_type = None
            st.extension_init_error = None
            st.init_ready_ns = 0
            st.cond.notify_all()
        self.init_count += 1
        self._frozen = False
        started = time.monotonic()
        deadline = started + self.config.init_timeout_s
        env = self.environ()
        started_ns = time.perf_counter_ns()
        ext_failure = self._start_external_extensions(env, deadline)
        if ext_failure is not None:
            self._last_init = InitTimeline(started_ns, 0, ext_failure)
            return (time.monotonic() - started) * 1000, ext_failure
        self._proc = subprocess.Popen(  # noqa: S603 - argv built from the function's config
            self.command(),
            cwd=self.config.code_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so freeze/kill reach every child
        )
        self._readers = [
            *self._readers,
            self._start_reader(self._proc.stdout, "stdout"),
            self._start_reader(self._proc.stderr, "stderr"),
        ]
        with st.cond:
            while True:
                posted = _posted_init_error(st)  # read via a call: mypy narrowed it above
                if posted is not None:
                    failure: bytes | None = posted
                    break
                exts_ready = all(e.waiting for e in st.extensions.values())
                if st.runtime_waiting and exts_ready:
                    st.phase = "ready"
                    failure = None
                    break
                if self._proc.poll() is not None:
                    failure = _doc(
                        "Runtime.ExitError",
                        f"RequestId: Error: Runtime exited with error: {_exit_text(self._proc.returncode)}",
                    )
                    break
                crashed = self._crashed_extension()
                if crashed is not None:
                    failure = _doc("Extension.Crash", f"Extension {crashed} exited during INIT")
                    break
                ext_error = _extension_init_error(st)
                if ext_error is not None:
                    # An extension's init/error fails the environment's INIT with its type.
                    failure = _doc(ext_error, "Extension reported an initialization error")
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    failure = _doc(
                        "Sandbox.Timedout",
                        f"Error: Init phase timed out after {self.config.init_timeout_s:.2f} seconds",
                    )
                    break
                st.cond.wait(min(remaining, 0.05))
        if failure is not None and _posted_init_error(st) is not None:
            # Give the runtime a moment to exit by itself after posting init/error
            # (awslambdaric calls sys.exit(1)), so its log lines are complete.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=1.0)
        with st.cond:
            ready_ns = st.init_ready_ns if failure is None else 0
        self._last_init = InitTimeline(started_ns, ready_ns, failure)
        return (time.monotonic() - started) * 1000, failure

    def external_extensions(self) -> list[Path]:
        """Executables in the layer's ``extensions/`` folder (``/opt/extensions``)."""
        layer = self.config.layer_dir
        folder = layer / "extensions" if layer is not None else None
        if folder is None or not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.is_file() and os.access(p, os.X_OK))

    def _start_external_extensions(self, env: Mapping[str, str], deadline: float) -> bytes | None:
        """Extension init: start each external extension and wait until all have registered."""
        paths = self.external_extensions()
        for path in paths:
            process = subprocess.Popen(  # noqa: S603 - an executable the layer ships
                [str(path)],
                cwd=self.config.code_dir,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            self._ext_procs[path.name] = process
            self._readers += [
                self._start_reader(process.stdout, f"{path.name}:stdout"),
                self._start_reader(process.stderr, f"{path.name}:stderr"),
            ]
        st = self._state
        with st.cond:
            # Lambda starts the runtime once every external extension has registered.
            while True:
                registered = {e.name for e in st.extensions.values() if e.external}
                if registered >= {p.name for p in paths}:
                    return None
                crashed = self._crashed_extension()
                if crashed is not None:
                    return _doc("Extension.Crash", f"Extension {crashed} exited during INIT")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return _doc(
                        "Sandbox.Timedout",
                        f"Error: Init phase timed out after {self.config.init_timeout_s:.2f} seconds",
                    )
                st.cond.wait(min(remaining, 0.05))

    def _wait_invoke(self, inv: _Invocation, deadline: float) -> str:
        """Wait (holding the condition) until the invoke is done; return done|timeout|exited."""
        st = self._state
        while True:
            runtime_done = inv.response is not None or inv.error is not None
            exts_done = all(e.waiting and e.pending is None for e in st.extensions.values())
            alive = self._proc is not None and self._proc.poll() is None
            # The invoke ends when the runtime, too, is back in `next` (Runtime API:
            # the runtime calls next after its response); freezing earlier would
            # stop it between the two. One that exited after responding still
            # responded: its death is the next invoke's cold start.
            if runtime_done and exts_done and (st.runtime_waiting or not alive):
                return "done"
            if not alive:
                return "exited"
            if self._crashed_extension() is not None:
                return "exited"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            st.cond.wait(min(remaining, 0.05))

    def _processes(self) -> list[subprocess.Popen[bytes]]:
        procs = [self._proc] if self._proc is not None else []
        return [*procs, *self._ext_procs.values()]

    def _crashed_extension(self) -> str | None:
        for name, process in self._ext_procs.items():
            if process.poll() is not None:
                return name
        return None

    def _freeze(self) -> None:
        if self._frozen or not self.freeze:
            return
        alive = [p for p in self._processes() if p.poll() is None]
        for process in alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGSTOP)
        self._frozen = True
        # Signal delivery is asynchronous; Lambda's freeze is not. Wait (briefly)
        # until the processes are really stopped.
        for process in alive:
            _wait_stopped(process.pid)

    def _thaw(self) -> None:
        if self._frozen:
            for process in self._processes():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGCONT)
            self._frozen = False

    def _kill(self) -> None:
        procs = self._processes()
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        # Let the readers drain what the processes wrote before they died (the
        # init error's log lines, say); a process that left its group may
        # still hold a pipe, hence the bound.
        for reader in self._readers[-2 * len(procs) :] if procs else []:
            reader.join(timeout=1.0)
        for proc in procs:
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        self._ext_procs = {}
        self._frozen = False
        st = self._state
        with st.cond:
            st.phase = "dead"
            st.generation += 1
            st.runtime_waiting = False
            st.extensions.clear()
            st.cond.notify_all()

    def _platform(self, line: str) -> None:
        with self._logs_cond:
            self.logs.append(line)
            self._logs_cond.notify_all()
        if self.log_path is not None:
            with self.log_path.open("a", encoding="utf-8") as log:
                log.write(f"{self.config.name} platform: {line}\n")
        if self.echo:
            print(f"[{self.config.name}] {line}", file=sys.stderr)

    def _start_reader(self, stream: Any, name: str) -> threading.Thread:
        def pump() -> None:
            log = self.log_path.open("a", encoding="utf-8") if self.log_path else None
            try:
                for raw in iter(stream.readline, b""):
                    line = raw.decode("utf-8", "replace").rstrip("\n")
                    with self._logs_cond:
                        self.logs.append(line)
                        self._logs_cond.notify_all()
                    if log is not None:
                        log.write(f"{self.config.name} {name}: {line}\n")
                        log.flush()
                    if self.echo:
                        print(f"[{self.config.name}] {line}", file=sys.stderr)
            except (OSError, ValueError):
                pass
            finally:
                if log is not None:
                    log.close()

        thread = threading.Thread(target=pump, name=f"{self.config.name}-{name}", daemon=True)
        thread.start()
        return thread

    # -- Runtime API -------------------------------------------------------------------

    def _runtime_next(self, req: _Handler) -> None:
        st = self._state
        with st.cond:
            gen = st.generation
            st.runtime_waiting = True
            st.note_idle()
            st.cond.notify_all()
            while True:
                if st.closing or st.generation != gen:
                    return  # the process is gone; drop the connection
                inv = st.current
                if inv is not None and not inv.dispatched:
                    inv.dispatched = True
                    inv.dispatched_ns = time.perf_counter_ns()
                    st.runtime_waiting = False
                    break
                st.cond.wait(0.5)
        headers = {
            "Lambda-Runtime-Aws-Request-Id": inv.request_id,
            "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": inv.arn,
            "Lambda-Runtime-Trace-Id": inv.trace_id,
        }
        if inv.client_context:
            headers["Lambda-Runtime-Client-Context"] = inv.client_context
        if inv.cognito_identity:
            headers["Lambda-Runtime-Cognito-Identity"] = inv.cognito_identity
        req._reply(200, inv.payload, headers)

    def _runtime_post(self, req: _Handler, request_id: str, kind: str, body: bytes) -> None:
        st = self._state
        with st.cond:
            inv = st.current
            if inv is None or inv.request_id != request_id or not inv.dispatched:
                req._error(400, "InvalidRequestID", f"unknown request id {request_id}")
                return
            if inv.response is not None or inv.error is not None:
                req._error(400, "InvalidStateTransition", "response already posted")
                return
            if kind == "response" and len(body) > MAX_RESPONSE_BYTES:
                inv.error = _doc(
                    "Function.ResponseSizeTooLarge",
                    f"Response payload size ({len(body)} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
                )
                inv.error_type = "Function.ResponseSizeTooLarge"
                inv.responded_at = time.monotonic()
                inv.responded_ns = time.perf_counter_ns()
                st.cond.notify_all()
                req._error(413, "RequestEntityTooLarge", "response too large")
                return
            if kind == "response":
                inv.response = body
            else:
                inv.error = body
                inv.error_type = req.headers.get("Lambda-Runtime-Function-Error-Type")
            inv.responded_at = time.monotonic()
            inv.responded_ns = time.perf_counter_ns()
            st.cond.notify_all()
        req._reply(HTTPStatus.ACCEPTED, {"status": "OK"})

    def _runtime_init_error(self, req: _Handler, body: bytes) -> None:
        st = self._state
        with st.cond:
            if st.phase != "init":
                req._error(403, "InvalidStateTransition", "init/error outside INIT")
                return
            st.init_error = body or _doc("Runtime.Unknown", "init error without a body")
            st.init_error_type = req.headers.get("Lambda-Runtime-Function-Error-Type")
            st.cond.notify_all()
        req._reply(HTTPStatus.ACCEPTED, {"status": "OK"})

    # -- Extensions API -------------------------------------------------------------

    def _extension_register(self, req: _Handler, body: bytes) -> None:
        name = req.headers.get("Lambda-Extension-Name")
        if not name:
            req._error(400, "InvalidRequest", "missing Lambda-Extension-Name header")
            return
        try:
            events = tuple(json.loads(body or b"{}").get("events", ()))
        except (ValueError, AttributeError):
            req._error(400, "InvalidRequest", "body must be JSON with an events list")
            return
        unknown = [e for e in events if e not in ("INVOKE", "SHUTDOWN")]
        if unknown:
            req._error(400, "InvalidRequest", f"unknown events {unknown}")
            return
        # An extension is external when its name is a file in /opt/extensions
        # that Lambda started; the others run inside the runtime process, and
        # Lambda refuses SHUTDOWN for those internal extensions.
        external = name in self._ext_procs
        if "SHUTDOWN" in events and not external:
            req._error(
                400,
                "ShutdownEventNotSupportedForInternalExtension",
                "internal extensions cannot register for the SHUTDOWN event",
            )
            return
        st = self._state
        with st.cond:
            if st.phase != "init":
                req._error(403, "Extension.InvalidState", "extensions register during INIT only")
                return
            if any(e.name == name for e in st.extensions.values()):
                req._error(409, "Extension.AlreadyRegistered", f"{name} already registered")
                return
            ident = str(uuid.uuid4())
            st.extensions[ident] = _Extension(ident, name, events, external)
            st.cond.notify_all()
        info: dict[str, Any] = {
            "functionName": self.config.name,
            "functionVersion": self.config.version,
            "handler": self.config.handler,
        }
        if "accountId" in (req.headers.get("Lambda-Extension-Accept-Feature") or ""):
            info["accountId"] = self.config.account
        req._reply(200, info, {"Lambda-Extension-Identifier": ident})

    def _extension_next(self, req: _Handler) -> None:
        ident = req.headers.get("Lambda-Extension-Identifier", "")
        st = self._state
        with st.cond:
            ext = st.extensions.get(ident)
            if ext is None:
                req._error(403, "Extension.UnknownExtensionIdentifier", "register first")
                return
            gen = st.generation
            ext.waiting = True
            st.note_idle()
            st.cond.notify_all()
            while True:
                if st.closing or st.generation != gen:
                    return
                if ext.pending is not None:
                    event, ext.pending = ext.pending, None
                    ext.waiting = False
                    break
                st.cond.wait(0.5)
        req._reply(200, event, {"Lambda-Extension-Event-Identifier": str(uuid.uuid4())})

    def _extension_error(self, req: _Handler, kind: str) -> None:
        ident = req.headers.get("Lambda-Extension-Identifier", "")
        error_type = req.headers.get("Lambda-Extension-Function-Error-Type", "Extension.Unknown")
        with self._state.cond:
            if ident not in self._state.extensions:
                req._error(403, "Extension.UnknownExtensionIdentifier", "register first")
                return
            self._state.extension_errors.append((kind, error_type))
            if kind == "init" and self._state.phase == "init":
                self._state.extension_init_error = error_type
            self._state.cond.notify_all()
        req._reply(HTTPStatus.ACCEPTED, {"status": "OK"})


class TooManyRequests(LambdaguardError):
    """Every execution environment the function may have is busy (Lambda's 429 throttle)."""


class LocalLambda:
    """A set of functions invoked by name, scaling out like Lambda.

    An invoke goes to an idle environment of the function, preferring one
    that is already initialised (warm); when all are busy, a new environment
    is created (a cold start), up to ``concurrency`` environments per
    function. ``invoke`` may be called from several threads at once.
    """

    def __init__(
        self,
        work_dir: Path,
        *,
        python: str | None = None,
        log_path: Path | None = None,
        echo: bool = False,
        concurrency: int = 10,
    ) -> None:
        self.work_dir = work_dir
        work_dir.mkdir(parents=True, exist_ok=True)
        self.runtime_dir = make_runtime_dir(work_dir / "var-runtime")
        self.python = python
        self.log_path = log_path
        self.echo = echo
        self.concurrency = concurrency
        self._lock = threading.Lock()
        self._configs: dict[str, FunctionConfig] = {}
        self._pools: dict[str, list[ExecutionEnvironment]] = {}
        self._busy: set[int] = set()

    def _new_environment(self, config: FunctionConfig) -> ExecutionEnvironment:
        return ExecutionEnvironment(
            config,
            runtime_dir=self.runtime_dir,
            python=self.python,
            log_path=self.log_path,
            echo=self.echo,
        )

    def add(self, config: FunctionConfig) -> ExecutionEnvironment:
        """Register a function (replacing one of the same name); returns its first environment."""
        with self._lock:
            old = self._pools.pop(config.name, [])
            env = self._new_environment(config)
            self._configs[config.name] = config
            self._pools[config.name] = [env]
        for stale in old:
            stale.close()
        return env

    def config(self, name: str) -> FunctionConfig:
        """The configuration a registered function runs with."""
        with self._lock:
            try:
                return self._configs[name]
            except KeyError:
                raise ConfigError(
                    f"no function named {name!r}; known: {sorted(self._configs)}"
                ) from None

    def environment(self, name: str) -> ExecutionEnvironment:
        """The first execution environment of a registered function."""
        return self.environments(name)[0]

    def environments(self, name: str) -> tuple[ExecutionEnvironment, ...]:
        """Every execution environment a registered function has had created."""
        with self._lock:
            try:
                return tuple(self._pools[name])
            except KeyError:
                raise ConfigError(
                    f"no function named {name!r}; known: {sorted(self._pools)}"
                ) from None

    def _acquire(self, name: str) -> ExecutionEnvironment:
        with self._lock:
            if name not in self._pools:
                raise ConfigError(f"no function named {name!r}; known: {sorted(self._pools)}")
            idle = [e for e in self._pools[name] if id(e) not in self._busy]
            # Lambda routes to a warm environment when one is idle.
            env = next((e for e in idle if e.pid is not None), idle[0] if idle else None)
            if env is None:
                if len(self._pools[name]) >= self.concurrency:
                    raise TooManyRequests(
                        f"{name}: all {self.concurrency} execution environments are busy"
                    )
                env = self._new_environment(self._configs[name])
                self._pools[name].append(env)
            self._busy.add(id(env))
            return env

    def invoke(self, name: str, event: Any, **kwargs: Any) -> InvokeResult:
        """Invoke a registered function synchronously (see :meth:`ExecutionEnvironment.invoke`)."""
        env = self._acquire(name)
        try:
            return env.invoke(event, **kwargs)
        finally:
            with self._lock:
                self._busy.discard(id(env))

    @property
    def functions(self) -> tuple[str, ...]:
        """Names of the registered functions."""
        with self._lock:
            return tuple(self._pools)

    def close(self) -> None:
        """Shut every environment down (SIGTERM, then SIGKILL) and stop the API servers."""
        with self._lock:
            envs = [e for pool in self._pools.values() for e in pool]
            self._pools.clear()
            self._configs.clear()
        for env in envs:
            env.close()

    def __enter__(self) -> LocalLambda:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- building the file systems a function sees ---------------------------------------


def unpack_layer(zip_path: Path, dest: Path) -> Path:
    """Unpack a layer zip into ``dest`` (which plays ``/opt``), keeping Unix file modes."""
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = (root / info.filename).resolve()
            if not target.is_relative_to(root):
                raise ConfigError(f"layer entry escapes the layer directory: {info.filename}")
            zf.extract(info, root)
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                target.chmod(mode)
    return dest


def make_runtime_dir(dest: Path) -> Path:
    """Build the runtime's own files: ``dest/runtime`` plays ``/var/runtime`` (the runtime
    interface client), ``dest/site-packages`` the interpreter's site-packages (the AWS SDK).

    Packages are symlinked from the current environment (they are the same
    distributions Lambda ships, at the versions this project pins for its tests).
    """
    for folder, distributions in (
        (_client_dir(dest), RUNTIME_CLIENT_DISTRIBUTIONS),
        (_sdk_dir(dest), RUNTIME_SDK_DISTRIBUTIONS),
    ):
        folder.mkdir(parents=True, exist_ok=True)
        for name in distributions:
            for entry in _top_level_entries(name):
                link = folder / entry.name
                if not link.exists() and not link.is_symlink():
                    link.symlink_to(entry)
    return dest


def _client_dir(runtime_dir: Path) -> Path:
    return runtime_dir / "runtime"


def _sdk_dir(runtime_dir: Path) -> Path:
    return runtime_dir / "site-packages"


def build_task_root(source: Path, dest: Path, packages: Iterable[str] = ()) -> Path:
    """Lay out a function's deployment package: its source files plus vendored distributions.

    ``packages`` are distribution names installed in the current environment
    that the function ships with it (as ``pip install -t`` into the zip would).
    """
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in packages:
        for entry in _top_level_entries(name):
            link = dest / entry.name
            if not link.exists():
                link.symlink_to(entry)
    return dest


def _top_level_entries(distribution: str) -> list[Path]:
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(
            f"distribution {distribution!r} is not installed; install the 'local' extra"
        ) from None
    entries: dict[str, Path] = {}
    for file in dist.files or ():
        parts = file.parts
        if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith(".data"):
            continue
        located = Path(str(dist.locate_file(parts[0])))
        if located.exists():
            entries[parts[0]] = located
    return list(entries.values())


# -- small helpers ---------------------------------------------------------------------


def _wait_stopped(pid: int, timeout_s: float = 1.0) -> None:
    stat = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            # Field 3 of /proc/<pid>/stat is the state; T = stopped by a signal.
            if stat.read_text().rsplit(")", 1)[1].split()[0] in ("T", "t", "Z", "X"):
                return
        except (OSError, IndexError):
            return  # gone, or no /proc on this system
        time.sleep(0.001)


def _posted_init_error(state: _Sandbox) -> bytes | None:
    return state.init_error


def _extension_init_error(state: _Sandbox) -> str | None:
    return state.extension_init_error


def _base_python() -> str:
    """The interpreter under the virtualenv: its site-packages are not the function's."""
    return str(getattr(sys, "_base_executable", None) or sys.executable)


def _log_stream_name(version: str) -> str:
    today = dt.datetime.now(dt.UTC).strftime("%Y/%m/%d")
    return f"{today}/[{version}]{secrets.token_hex(16)}"


def _trace_header() -> str:
    # X-Ray trace id: "1-" + 8 hex digits of epoch seconds + "-" + 24 random hex digits.
    root = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    return f"Root={root};Parent={secrets.token_hex(8)};Sampled=0"


def _doc(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def _parse_error(body: bytes, header_type: str | None) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        parsed = {"errorType": header_type or "Runtime.Unknown", "errorMessage": body.decode()}
    return parsed


def _exit_text(code: int | None) -> str:
    if code is None:
        return "unknown"
    if code < 0:
        return f"signal: {signal.Signals(-code).name.removeprefix('SIG').lower()}"
    return f"exit status {code}"


def _failure(request_id: str, body: bytes, *, cold: bool, init_ms: float | None) -> InvokeResult:
    doc = _parse_error(body, None)
    return InvokeResult(request_id, "init_error", body, doc, cold, init_ms, 0.0, 0.0, "Unhandled")


@contextlib.contextmanager
def local_lambda(work_dir: Path | None = None, **kwargs: Any) -> Iterator[LocalLambda]:
    """A :class:`LocalLambda` in a temporary work directory, closed on exit."""
    with tempfile.TemporaryDirectory(prefix="lg-lambda-") as tmp:
        service = LocalLambda(work_dir or Path(tmp), **kwargs)
        try:
            yield service
        finally:
            service.close()
