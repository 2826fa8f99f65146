"""Fail-open: whatever breaks in lambdaguard, the handler behaves exactly as without it."""

from __future__ import annotations

import http.server
import select
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from lambdaguard import instrument
from lambdaguard.agent import _agent, _patterns, aws, export, flush, ledger, network, triggers

from .conftest import Context, Sink


class Boom(RuntimeError):
    """The handler's own error."""


def make_handler(moto_endpoint: str, side_effects: list[str]) -> Callable[[Any, Any], Any]:
    """A handler with side effects, AWS calls, a socket, a return value and an error path."""
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        side_effects.append(f"start:{event['n']}")
        url = sqs.create_queue(QueueName="failopen")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=str(event["n"]))
        with socket.socket() as s:
            s.connect_ex(("127.0.0.1", 9))
        with socket.socket() as s:  # non-blocking: settled by SO_ERROR
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", 9))
            select.select([], [s], [], 1)
            s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        with socket.socket() as s:  # non-blocking: closed while in progress
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", 9))
        if event.get("fail"):
            raise Boom(f"boom {event['n']}")
        side_effects.append(f"end:{event['n']}")
        return {"n": event["n"], "ok": True}

    return handler


def outcome(handler: Callable[[Any, Any], Any], event: dict[str, Any]) -> tuple[Any, ...]:
    """(return value or exception type, message, innermost traceback frame)."""
    try:
        return ("return", handler(event, Context()))
    except Boom as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return ("raise", type(exc), str(exc), frame.name, frame.lineno)


def reference(moto_endpoint: str, event: dict[str, Any]) -> tuple[tuple[Any, ...], list[str]]:
    effects: list[str] = []
    return outcome(make_handler(moto_endpoint, effects), event), effects


# Every place lambdaguard runs code inside the function's process.
HOOKS: list[tuple[Any, str]] = [
    (aws, "_start"),
    (aws, "_finish"),
    (aws, "_describe"),
    (aws, "identifying_params"),
    (network, "_connecting"),
    (network, "_resolved"),
    (network, "_failed"),
    (network, "_tls"),
    (network, "_in_progress"),
    (network, "_settled"),
    (network, "_closing"),
    (network, "_patch_asyncio"),
    (network, "_forget_asked"),
    (network, "_asked_host"),
    (network, "_loop_resolved"),
    (triggers, "trigger_of"),
    (_agent.Agent, "start"),
    (_agent.Agent, "finish"),
    (_agent.Agent, "release"),
    (_agent.Agent, "install"),
    (_agent.Agent, "export_now"),
    (export, "encode"),
    (export, "log_line"),
    (export.Sender, "send"),
    # evidence mode: folding, the fact ledger, the metrics flush
    (_patterns, "fold_record"),
    (ledger.Ledger, "new_facts"),
    (ledger.Ledger, "count"),
    (ledger.Ledger, "snapshot"),
    (export, "encode_metrics"),
]


@pytest.mark.parametrize("fail", [False, True], ids=["returns", "raises"])
@pytest.mark.parametrize(("owner", "name"), HOOKS, ids=[f"{o.__name__}.{n}" for o, n in HOOKS])
def test_every_hook_raising_changes_nothing(  # noqa: PLR0917 - fixtures
    owner: Any,
    name: str,
    fail: bool,
    enable: Callable[..., None],
    moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With any one hook raising, return value, exception and side effects are as uninstrumented."""
    event = {"n": 1, "fail": fail}
    expected, expected_effects = reference(moto_endpoint, event)

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"lambdaguard hook {name} exploded")

    monkeypatch.setattr(owner, name, explode)
    # Evidence mode with a zero interval: every path runs (spans for new facts,
    # counts, a metrics flush after every invocation).
    enable(LAMBDAGUARD_TRACES="off", LAMBDAGUARD_FLUSH_INTERVAL="0")
    effects: list[str] = []
    wrapped = instrument(make_handler(moto_endpoint, effects))
    assert outcome(wrapped, event) == expected
    assert effects == expected_effects
    # A second call, after the broken hook switched itself off, behaves the same.
    assert outcome(wrapped, {"n": 2, "fail": fail})[0] == expected[0]
    flush(3000)


@pytest.fixture
def misbehaving_sink() -> Iterator[tuple[str, dict[str, Any]]]:
    """An OTLP endpoint whose behaviour the test sets: status, or hang for a while."""
    behaviour: dict[str, Any] = {"status": 200, "hang": 0.0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if behaviour["hang"]:
                time.sleep(behaviour["hang"])
            self.send_response(behaviour["status"])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", behaviour
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("mode", ["down", "hanging", "slow", "500", "429", "dns"])
def test_exporter_trouble_changes_nothing_and_never_delays(
    mode: str,
    moto_endpoint: str,
    misbehaving_sink: tuple[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Endpoint down, hanging, slow, 500, 429 or unresolvable: same result, returned before export."""
    url, behaviour = misbehaving_sink
    if mode == "down":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{s.getsockname()[1]}"
    elif mode == "hanging":
        behaviour["hang"] = 30.0
    elif mode == "slow":
        behaviour["hang"] = 0.5
    elif mode in ("500", "429"):
        behaviour["status"] = int(mode)
    elif mode == "dns":
        url = "http://collector.example.invalid:4318"
        original = socket.getaddrinfo

        def resolver(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host == "collector.example.invalid":
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return original(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", resolver)
    monkeypatch.setenv("LAMBDAGUARD_ENABLED", "1")
    monkeypatch.setenv("LAMBDAGUARD_ENDPOINT", url)
    monkeypatch.setenv("LAMBDAGUARD_EXPORT_TIMEOUT_MS", "300")
    for fail in (False, True):
        event = {"n": 3, "fail": fail}
        expected, expected_effects = reference(moto_endpoint, event)
        effects: list[str] = []
        wrapped = instrument(make_handler(moto_endpoint, effects))
        assert outcome(wrapped, event) == expected
        assert effects == expected_effects
        # Bounded: the export gives up after its timeout.
        assert flush(10_000)
    assert _agent.current() is not None


def test_an_import_error_in_a_hook_module_leaves_the_handler_unwrapped(
    enable: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the agent cannot be installed at all, instrument returns a working handler."""
    enable()

    def broken(config: Any) -> Any:
        raise ImportError("no agent today")

    monkeypatch.setattr(_agent, "get", broken)

    def handler(event: Any, context: Any) -> int:
        return 42

    assert instrument(handler)({}, Context()) == 42


def test_disabled_outside_lambda_returns_the_handler_itself(sink: Sink) -> None:
    """Outside Lambda and not forced on, @instrument hands back the very same function."""

    def handler(event: Any, context: Any) -> int:
        return 1

    assert instrument(handler) is handler
    assert instrument(endpoint=sink.url)(handler) is handler
    assert _agent.current() is None


def test_export_happens_only_after_the_handler_returned(
    enable: Callable[..., None], sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The send waits for nothing the handler does: it starts only once the call has returned."""
    enable()
    returned = threading.Event()
    seen: list[bool] = []
    original = export.Sender.send

    def send(self: Any, body: bytes, timeout_ms: int | None = None) -> int:
        # Were this send on the handler's path, the handler could not have returned yet.
        seen.append(returned.wait(5))
        return original(self, body, timeout_ms)

    monkeypatch.setattr(export.Sender, "send", send)
    wrapped = instrument(lambda e, c: "done")
    assert wrapped({}, Context()) == "done"
    returned.set()
    assert flush(10_000)
    assert seen == [True]
    assert len(sink.bodies) == 1


def test_extension_registration_failure_falls_back_to_the_queue(
    enable: Callable[..., None], sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the Extensions API refuses or is unreachable, records still go out after the response."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    enable(AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{closed}", AWS_LAMBDA_FUNCTION_NAME="orders")
    wrapped = instrument(lambda e, c: "fine")
    agent = _agent.current()
    assert agent is not None
    assert agent.extension is None
    assert wrapped({}, Context()) == "fine"
    assert flush(5000)
    assert len(sink.bodies) == 1
