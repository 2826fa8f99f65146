"""What the wrapper leaves for the exporting thread, and what it must still decide before the response."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from lambdaguard import instrument, semconv
from lambdaguard.agent import _agent
from lambdaguard.agent.recorder import Record

from .conftest import Context


def _with_extension_stand_in(monkeypatch: pytest.MonkeyPatch) -> _agent.Agent:
    # As with a registered extension: finished invocations wait in _finished
    # for the extension thread instead of going to the export queue.
    agent = _agent.current()
    assert agent is not None
    monkeypatch.setattr(agent, "extension", object())
    return agent


def test_record_is_built_later_from_what_finish_captured(
    enable: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """End time, remaining time and outcome are taken when the handler returns, not when the Record is built."""
    enable()

    def handler(event: Any, context: Any) -> str:
        raise KeyError("missing")

    wrapped = instrument(handler)
    agent = _with_extension_stand_in(monkeypatch)
    context = Context(request_id="req-late", timeout_ms=3000)
    with pytest.raises(KeyError):
        wrapped({}, context)
    returned_ns = time.time_ns()
    finished = agent._finished.pop("req-late")
    _, done = finished
    assert done is not None  # the Record itself is not built on the response path
    time.sleep(0.05)  # the exporting thread runs later
    exported: list[list[Record]] = []
    monkeypatch.setattr(
        agent,
        "export_now",
        lambda records, timeout_ms=None, deadline_s=None, signature=None: exported.append(records),
    )
    agent._export_finished(finished)
    (record,) = [r for r in exported[0] if r.phase == semconv.PHASE_INVOKE]
    assert record.request_id == "req-late"
    assert record.outcome == semconv.OUTCOME_ERROR
    assert record.error_type == "KeyError"
    assert record.end_ns <= returned_ns
    # Remaining time as it was at the return, not 50 ms later.
    assert record.remaining_ms > context.get_remaining_time_in_millis() + 30


def test_failed_finish_still_releases_the_exporter(
    enable: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If finish() raises, the wrapper releases the request so the extension thread does not wait for it."""
    enable()
    wrapped = instrument(lambda event, context: "ok")
    agent = _with_extension_stand_in(monkeypatch)

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("finish exploded")

    monkeypatch.setattr(_agent.Agent, "finish", explode)
    assert wrapped({}, Context(request_id="req-9")) == "ok"
    assert agent._finished["req-9"] == ([], None)


def test_successful_finish_needs_no_release(
    enable: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finish() that handed the invocation over is not followed by release (one lock, one wake-up)."""
    enable()
    wrapped = instrument(lambda event, context: "ok")
    agent = _with_extension_stand_in(monkeypatch)
    released: list[str] = []
    monkeypatch.setattr(agent, "release", released.append)
    assert wrapped({}, Context(request_id="req-10")) == "ok"
    assert released == []
    assert agent._finished["req-10"][1] is not None


@pytest.mark.parametrize("ahead_ms", [60_000, -5_000], ids=["deadline-ahead", "deadline-passed"])
def test_remaining_time_from_awslambdarics_deadline_is_what_its_context_says(
    enable: Callable[..., None], monkeypatch: pytest.MonkeyPatch, ahead_ms: int
) -> None:
    """With awslambdaric's own context, the remaining time at the return is read off its
    deadline (no call): bracketed by what get_remaining_time_in_millis() says just before
    and just after, and 0 once the deadline has passed, as that method counts."""
    from awslambdaric.lambda_context import LambdaContext

    enable()
    context = LambdaContext("req-ric", None, None, int(time.time() * 1000) + ahead_ms)
    before: list[int] = []

    def handler(event: Any, context: Any) -> str:
        before.append(context.get_remaining_time_in_millis())
        return "ok"

    wrapped = instrument(handler)
    agent = _with_extension_stand_in(monkeypatch)
    assert wrapped({}, context) == "ok"
    after = context.get_remaining_time_in_millis()
    _, done = agent._finished.pop("req-ric")
    assert done is not None
    record = agent._record(*done)
    assert after <= record.remaining_ms <= before[0]
    if ahead_ms < 0:
        assert record.remaining_ms == 0
