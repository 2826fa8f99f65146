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
from lambdaguard.agent import (
    _agent,
    _facts,
    _patterns,
    aws,
    aws_extensions,
    export,
    flush,
    ledger,
    network,
    signing,
    triggers,
)

from .conftest import Context, Sink

# A loopback server the handler sends SigV4-signed requests to, and reads a
# "secret" from as if it were the Parameters and Secrets extension (its port is
# put in PARAMETERS_SECRETS_EXTENSION_HTTP_PORT by the autouse fixture below).
_LOOPBACK: dict[str, Any] = {}


@pytest.fixture(scope="module")
def _loopback_server() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _loopback(_loopback_server: int, monkeypatch: pytest.MonkeyPatch) -> None:
    _LOOPBACK["port"] = _loopback_server
    monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(_loopback_server))


def _signed_and_async_calls(moto_endpoint: str, n: int) -> list[object]:
    # What the hooks added for issue 14 see: a SigV4Auth-signed request, a
    # requests-aws4auth one, an extension read and an aiobotocore call.
    import asyncio
    import importlib.util

    import requests
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from requests_aws4auth import AWS4Auth

    port = _LOOPBACK["port"]
    url = f"http://127.0.0.1:{port}/prod/items/{n}"
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("testing", "testing"), "execute-api", "us-east-1").add_auth(request)
    out: list[object] = [requests.get(url, headers=dict(request.headers), timeout=5).status_code]
    auth = AWS4Auth("testing", "testing", "us-east-1", "es")
    out.append(requests.get(url, auth=auth, timeout=5).status_code)
    out.append(
        requests.get(
            f"http://127.0.0.1:{port}/secretsmanager/get?secretId=s{n}", timeout=5
        ).status_code
    )

    if importlib.util.find_spec("aiobotocore") is None:
        return out  # the dev venv; `make test-async` runs this with aiobotocore
    from aiobotocore.session import get_session

    session = _LOOPBACK.setdefault("session", get_session())

    async def send() -> object:
        async with session.create_client(
            "sqs", endpoint_url=moto_endpoint, region_name="us-east-1"
        ) as sqs:
            url = (await sqs.create_queue(QueueName="failopen-async"))["QueueUrl"]
            return (await sqs.send_message(QueueUrl=url, MessageBody=str(n)))["MD5OfMessageBody"]

    out.append(asyncio.run(send()))
    return out


class Boom(RuntimeError):
    """The handler's own error."""


def make_handler(moto_endpoint: str, side_effects: list[str]) -> Callable[[Any, Any], Any]:
    """A handler with side effects, AWS calls, a socket, a return value and an error path."""
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    sts = boto3.client("sts", endpoint_url=moto_endpoint, region_name="us-east-1")

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        side_effects.append(f"start:{event['n']}")
        url = sqs.create_queue(QueueName="failopen")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=str(event["n"]))
        side_effects.append(repr(_signed_and_async_calls(moto_endpoint, event["n"])))
        side_effects.append(str(sts.get_caller_identity()["Account"]))
        sqs.generate_presigned_url("list_queues")
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
    (aws, "_client_facts"),
    (aws, "_reduce"),
    (aws, "_reduce_keyed"),
    (aws, "_flat_key"),
    (aws, "identifying_params"),
    (aws, "_credentials"),
    (aws, "_signed_by"),
    (aws, "_presign_caller"),
    (aws, "_presigned"),
    (aws, "_emitted"),
    (aws, "is_sdk_request"),
    (aws, "_patch_aio"),
    (_facts, "response_facts"),
    (_facts, "bounded_params"),
    (_facts, "credentials_of"),
    (_facts, "access_key_of"),
    (_facts, "whose"),
    (signing, "_botocore_signed"),
    (signing, "_aws4auth_signed"),
    (signing, "record"),
    (signing, "_patch_botocore"),
    (signing, "_patch_aws4auth"),
    (aws_extensions, "configure"),
    (aws_extensions, "request"),
    (network, "_sent"),
    (network, "_request_line"),
    (network, "_through_proxy"),
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


@pytest.mark.parametrize("hook_fails", [False, True], ids=["export-works", "init-failed-raises"])
def test_an_unloadable_handler_raises_the_very_same_error(
    enable: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    sink: Sink,
    hook_fails: bool,
) -> None:
    """Whether the init-error export works or breaks, the module's own exception escapes unchanged."""
    from lambdaguard.agent import bootstrap

    (tmp_path / "lg_unloadable.py").write_text("raise LookupError('broken config')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    enable(AWS_LAMBDA_FUNCTION_NAME="orders", LAMBDAGUARD_HANDLER="lg_unloadable.handler")
    if hook_fails:

        def explode(self: Any, error: BaseException) -> None:
            raise RuntimeError("lambdaguard bug")

        monkeypatch.setattr(_agent.Agent, "init_failed", explode)
    monkeypatch.setattr(bootstrap, "_cache", {})
    with pytest.raises(LookupError, match="broken config") as caught:
        bootstrap.module_getattr("lambda_handler")
    assert traceback.extract_tb(caught.value.__traceback__)[-1].filename.endswith(
        "lg_unloadable.py"
    )
    if not hook_fails:
        assert b"LookupError" in b"".join(sink.bodies)
        assert b"broken config" not in b"".join(sink.bodies)
