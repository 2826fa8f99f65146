"""What each AWS hook costs per call, and what each candidate hook point would see (issue 14).

In one process, no network: botocore and aiobotocore calls are answered by
botocore's ``Stubber`` (aiobotocore's ``AioStubber``), signing runs on a local
``AWSRequest``, sends go over a ``socketpair``. Each row times the same work
with the agent's hooks off and on (a recording open, as during an
invocation), in alternating batches; each side's figure is its fastest batch (the
least disturbed by other work on the machine, as ``timeit`` advises) and the
overhead is their difference. The candidate hook point not chosen, botocore's event system
(``before-parameter-build`` + ``after-call`` / ``after-call-error`` handlers
on the client doing the same recording work), is timed beside the chosen one
(a class-level wrap of ``_make_api_call``), and the coverage table says which
clients each point sees, measured by running each client once.

Printed, never asserted. ``--quick`` for fewer rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.stub import Stubber

from lambdaguard.agent import _facts, aws, network, recorder, signing

HEAD = {"ContentLength": 1, "ETag": '"e"', "ResponseMetadata": {"HTTPStatusCode": 200}}
PARAMS = {"Bucket": "photos", "Key": "2026/11/cat.jpg"}


def _client() -> Any:
    return boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        endpoint_url="https://s3.us-east-1.amazonaws.com",
    )


def _per_call_us(work: Callable[[], None], calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        work()
    return (time.perf_counter_ns() - start) / calls / 1000


class Agent:
    """The agent's AWS and network hooks with a recording open."""

    def enable(self) -> None:
        network.install()
        aws.install()
        signing.install()
        self.fresh()

    def disable(self) -> None:
        signing.uninstall()
        aws.uninstall()
        network.uninstall()
        recorder.set_current(None)

    @staticmethod
    def fresh() -> None:
        recorder.set_current(recorder.Recording("invoke"))


def _dummy_module(real: Any, asynchronous: bool) -> Any:
    # A BaseClient stand-in whose operation returns at once, so a row times the
    # hook's own shell and work, not botocore's (whose ~100 µs per call varies
    # more between batches on a shared machine than the hook costs).
    class Base:
        meta = real.meta
        _request_signer = real._request_signer

    if asynchronous:

        async def call(self: Any, operation: str, params: Any) -> Any:
            return HEAD

        async def emit(self: Any, params: Any, model: Any, context: Any) -> Any:
            return params

    else:

        def call(self: Any, operation: str, params: Any) -> Any:  # type: ignore[misc]
            return HEAD

        def emit(self: Any, params: Any, model: Any, context: Any) -> Any:  # type: ignore[misc]
            return params

    Base._make_api_call = call  # type: ignore[attr-defined]
    Base._emit_api_params = emit  # type: ignore[attr-defined]
    return type(sys)("dummy"), Base


def _register_events(client: Any) -> None:
    # The hook point not chosen: botocore's event system, doing the same work.
    pending: dict[int, Any] = {}

    def before(params: Any, model: Any, context: Any, **kwargs: Any) -> None:
        rec = recorder.current()
        if rec is not None:
            pending[id(context)] = aws._describe(client, model.name, params, rec)

    def after(http_response: Any, parsed: Any, context: Any, **kwargs: Any) -> None:
        started = pending.pop(id(context), None)
        if started is not None:
            aws._finish(client, started, parsed, None)

    client.meta.events.register("before-parameter-build", before)
    client.meta.events.register("after-call", after)
    client.meta.events.register("after-call-error", lambda **kwargs: None)


def measure(rounds: int, calls: int) -> list[tuple[str, float, float]]:
    """(row, off µs/call, on µs/call): the fastest of alternating batches."""
    real = _client()
    model = real.meta.service_model.operation_model("HeadObject")
    rows: dict[str, tuple[list[float], list[float]]] = {}

    def timed(name: str, work: Callable[[], None], *, on: bool) -> None:
        recorder.set_current(recorder.Recording("invoke") if on else None)
        rows.setdefault(name, ([], []))[1 if on else 0].append(_per_call_us(work, calls))

    module, base = _dummy_module(real, asynchronous=False)
    module.BaseClient = base
    plain_call = base._make_api_call
    dummy = base()
    aws._patch(module)
    wrapped_call = base._make_api_call

    amodule, abase = _dummy_module(real, asynchronous=True)
    amodule.AioBaseClient = abase
    aplain = abase._make_api_call
    aws._patch_aio(amodule)
    awrapped = abase._make_api_call
    adummy = abase()
    loop = asyncio.new_event_loop()

    bare = _client()
    hooked = _client()
    _register_events(hooked)
    event = "before-parameter-build.s3.HeadObject"
    after = "after-call.s3.HeadObject"

    def emit(client: Any) -> Callable[[], None]:
        def work() -> None:
            context: dict[str, Any] = {}
            client.meta.events.emit(event, params=PARAMS, model=model, context=context)
            client.meta.events.emit(
                after, http_response=None, parsed=HEAD, model=model, context=context
            )

        return work

    frozen = Credentials("AKIDEXAMPLE", "secret").get_frozen_credentials()

    def sign() -> None:
        request = AWSRequest(
            method="GET", url="https://search-d-abc.us-east-1.es.amazonaws.com/i/_doc/1"
        )
        SigV4Auth(frozen, "es", "us-east-1").add_auth(request)

    left, right = socket.socketpair()
    payload = b"x" * 512

    def send() -> None:
        left.sendall(payload)
        right.recv(4096)

    for _ in range(rounds):
        for on in (False, True):
            base._make_api_call = wrapped_call if on else plain_call
            timed(
                "SDK call: class wrap of _make_api_call (chosen)",
                lambda: dummy._make_api_call("HeadObject", PARAMS),
                on=on,
            )
            timed(
                "SDK call: event-system handlers (not chosen)", emit(hooked if on else bare), on=on
            )
            abase._make_api_call = awrapped if on else aplain
            timed(
                "aiobotocore call: class wrap",
                lambda: loop.run_until_complete(adummy._make_api_call("HeadObject", PARAMS)),
                on=on,
            )
            if on:
                network.install()
                signing.install()
            timed("SigV4Auth.add_auth outside an SDK call", sign, on=on)
            timed("socket sendall, 512 B (no proxy, no extension)", send, on=on)
            if on:
                signing.uninstall()
                network.uninstall()
    loop.close()
    left.close()
    right.close()
    return [(name, min(off), min(on_)) for name, (off, on_) in rows.items() if off and on_]


def _aio_client(loop: asyncio.AbstractEventLoop) -> Callable[[], Any] | None:
    try:
        from aiobotocore.session import get_session
        from aiobotocore.stub import AioStubber
    except ImportError:
        return None

    async def make() -> Any:
        context = get_session().create_client(
            "s3",
            region_name="us-east-1",
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="secret",
            endpoint_url="https://s3.us-east-1.amazonaws.com",
        )
        return await context.__aenter__()

    client = loop.run_until_complete(make())
    stub = AioStubber(client)
    stub.activate()

    async def head() -> None:
        stub.add_response("head_object", HEAD, PARAMS)
        await client.head_object(**PARAMS)

    return head


def measure_facts(calls: int) -> list[tuple[str, float]]:
    """µs per call of the shared rules, on typical and on worst-case input."""
    response = {"SSEKMSKeyId": "arn:aws:kms:us-east-1:1:key/k", "VersionId": "v", "ETag": "e"}
    big = {
        "RequestItems": {f"orders-archive-table-{n:03d}-with-a-long-name": {} for n in range(100)}
    }
    small = {"Bucket": "photos", "Key": "2026/"}
    return [
        (
            "response facts, S3 PutObject response",
            _per_call_us(lambda: _facts.response_facts(response), calls),
        ),
        (
            "response facts, response without facts",
            _per_call_us(lambda: _facts.response_facts({"ETag": "e"}), calls),
        ),
        ("bounded params, 2 members", _per_call_us(lambda: _facts.bounded_params(small), calls)),
        (
            "bounded params, 100-table batch (cut to 4 KiB)",
            _per_call_us(lambda: _facts.bounded_params(big), max(calls // 20, 1)),
        ),
        (
            "whose credentials (env key)",
            _per_call_us(lambda: _facts.credentials_of("testing"), calls),
        ),
    ]


def coverage() -> list[tuple[str, str, str]]:
    """(client, class wrap + signing + request line, event system alone): calls each sees, run once."""
    agent = Agent()
    out: list[tuple[str, str, str]] = []
    before = _client()  # made before either hook point was installed
    stub = Stubber(before)
    stub.activate()
    stub.add_response("head_object", HEAD, PARAMS)
    stub.add_response("head_object", HEAD, PARAMS)

    def count(work: Callable[[], None]) -> int:
        agent.fresh()
        work()
        rec = recorder.current()
        return len(rec.calls) if rec is not None else 0

    agent.enable()
    chosen = count(lambda: before.head_object(**PARAMS))
    aws.uninstall()
    # The event system sees only clients it was registered on when they were made.
    events = count(lambda: before.head_object(**PARAMS))
    aws.install()
    out.append(
        ("botocore client made before lambdaguard loaded", f"{chosen} of 1", f"{events} of 1")
    )
    frozen = Credentials("AKIDEXAMPLE", "secret").get_frozen_credentials()
    signed = count(
        lambda: SigV4Auth(frozen, "execute-api", "us-east-1").add_auth(
            AWSRequest(
                method="GET", url="https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/p/x"
            )
        )
    )
    out.append(("SigV4Auth-signed request (no SDK operation)", f"{signed} of 1", "0 of 1"))
    agent.disable()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args(argv)
    rounds, calls = (5, 100) if args.quick else (25, 300)
    rows = measure(rounds, calls)
    width = max(len(r[0]) for r in rows) + 2
    print(f"AWS hooks: µs per call, fastest of {rounds} alternating batches of {calls} calls")
    print(f"{'':{width}}{'off':>9}{'on':>9}{'overhead':>10}")
    for name, off, on in rows:
        print(f"{name:{width}}{off:9.2f}{on:9.2f}{on - off:10.2f}")
    print("\nShared rules alone (µs per call)")
    for name, us in measure_facts(calls):
        print(f"  {name:{width}}{us:9.2f}")
    print("\nCoverage: calls recorded by each hook point (run once)")
    print(f"  {'client':48}{'class wrap + signing':>22}{'event system':>14}")
    for client, chosen, events in coverage():
        print(f"  {client:48}{chosen:>22}{events:>14}")
    print(
        "  (aiobotocore, paginators, waiters, s3transfer threads: both points; "
        "extension reads and proxies: the request-line hook; see tests/agent.)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
