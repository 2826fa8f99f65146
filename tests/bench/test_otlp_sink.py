"""The loopback Runtime API the benchmark times against keeps Lambda's phase rules."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Callable

import pytest
from _runtime_api import OtlpSink, RuntimeApi, RuntimeApiError


def _conn(api: RuntimeApi) -> http.client.HTTPConnection:
    host, port = api.address.split(":")
    return http.client.HTTPConnection(host, int(port), timeout=10)


def _get(
    api: RuntimeApi, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    c = _conn(api)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    return r.status, dict(r.getheaders()), r.read()


def _post(
    api: RuntimeApi, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    c = _conn(api)
    c.request("POST", path, body=body, headers=headers or {})
    r = c.getresponse()
    return r.status, dict(r.getheaders()), r.read()


def _register(api: RuntimeApi) -> str:
    status, headers, _ = _post(
        api,
        "/2020-01-01/extension/register",
        b'{"events":["INVOKE"]}',
        {"Lambda-Extension-Name": "ext"},
    )
    assert status == 200
    return headers["Lambda-Extension-Identifier"]


def _bg(fn: Callable[..., object], *args: object) -> threading.Thread:
    """Run ``fn`` in a daemon thread; a long-poll cut off when the API closes is expected."""

    def run() -> None:
        with contextlib.suppress(OSError, http.client.HTTPException):
            fn(*args)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_init_ends_only_when_runtime_and_every_extension_wait_in_next(
    runtime_api: RuntimeApi,
) -> None:
    """INIT is not over while a registered extension has not called next, as in Lambda."""
    ext = _register(runtime_api)
    _bg(_get, runtime_api, "/2018-06-01/runtime/invocation/next")
    with pytest.raises(RuntimeApiError, match="did not finish"):
        runtime_api.wait_init(0.3)
    before = time.perf_counter_ns()
    _bg(_get, runtime_api, "/2020-01-01/extension/event/next", {"Lambda-Extension-Identifier": ext})
    assert runtime_api.wait_init(5) >= before
    assert runtime_api.extension_names == ["ext"]


def test_invocation_timeline_brackets_response_and_waits_for_extensions(
    runtime_api: RuntimeApi,
) -> None:
    """Delivery < response <= end, and the end waits for the extension's post-response work."""
    ext_next = {"Lambda-Extension-Identifier": _register(runtime_api)}
    ext_back: list[int] = []

    def runtime() -> None:
        status, headers, body = _get(runtime_api, "/2018-06-01/runtime/invocation/next")
        assert status == 200
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"calls": 2}
        rid = headers["Lambda-Runtime-Aws-Request-Id"]
        _post(runtime_api, f"/2018-06-01/runtime/invocation/{rid}/response", b'"ok"')
        _get(runtime_api, "/2018-06-01/runtime/invocation/next")

    def extension() -> None:
        _, _, event = _get(runtime_api, "/2020-01-01/extension/event/next", ext_next)
        assert json.loads(event)["eventType"] == "INVOKE"
        time.sleep(0.2)  # post-response work that the invocation's end must include
        ext_back.append(time.perf_counter_ns())
        _get(runtime_api, "/2020-01-01/extension/event/next", ext_next)

    _bg(runtime)
    _bg(extension)
    runtime_api.wait_init(5)
    inv = runtime_api.invoke({"calls": 2}, 10)
    assert inv.response == b'"ok"'
    assert not inv.error
    assert 0 < inv.delivered_ns < inv.response_ns <= inv.done_ns
    assert ext_back
    assert inv.done_ns >= ext_back[0]


def test_sink_counts_requests_and_connections_in_a_window(sink: OtlpSink) -> None:
    """Requests are counted by arrival time, so 'before the response' is a window query."""
    host, port = sink.endpoint.removeprefix("http://").split(":")
    start = time.perf_counter_ns()
    c = http.client.HTTPConnection(host, int(port), timeout=5)
    for _ in range(2):
        c.request(
            "POST",
            "/v1/traces",
            body=b"\x0a\x00",
            headers={"Content-Type": "application/x-protobuf"},
        )
        r = c.getresponse()
        assert r.status == 200
        r.read()
    end = time.perf_counter_ns()
    assert sink.count_between(start, end) == (2, 1)
    assert sink.count_between(end + 1, end + 10**9) == (0, 0)
    assert sink.wait_requests(2, 1)


def test_a_dead_function_process_ends_the_wait_with_a_reason(runtime_api: RuntimeApi) -> None:
    """When the process is gone, waiting for INIT reports that, not a timeout."""
    runtime_api.alive = lambda: False
    with pytest.raises(RuntimeApiError, match="exited during INIT"):
        runtime_api.wait_init(60)


def test_an_init_error_is_reported_with_its_body(runtime_api: RuntimeApi) -> None:
    """A handler that fails to load ends INIT with the runtime's init error."""
    status, _, _ = _post(
        runtime_api,
        "/2018-06-01/runtime/init/error",
        b'{"errorType":"Runtime.ImportModuleError"}',
    )
    assert status == 202
    with pytest.raises(RuntimeApiError, match=r"Runtime\.ImportModuleError"):
        runtime_api.wait_init(5)
