"""The benchmarked function's AWS calls run botocore's whole pipeline yet never leave the process."""

from __future__ import annotations

import importlib
from typing import Any

import pytest


def test_calls_are_answered_in_process_after_the_endpoint_events_fire(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each call passes before-send and needs-retry (unlike Stubber) and gets the canned 200."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    # A closed loopback port: a request that escaped would fail, not reach AWS.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    function: Any = importlib.import_module("_function")
    seen: list[str] = []
    events = function.s3.meta.events
    # Registered first, so they run before the canned answer (registered last).
    events.register_first("before-send.s3.HeadObject", lambda **kw: seen.append("before-send"))
    events.register("needs-retry.s3.HeadObject", lambda **kw: seen.append("needs-retry"))
    events.register("after-call.s3.HeadObject", lambda **kw: seen.append("after-call"))

    assert function.handler({"calls": 2}, None) == {"ok": True, "calls": 2}
    assert seen == ["before-send", "needs-retry", "after-call"] * 2
    head = function.s3.head_object(Bucket="b", Key="k")
    assert head["ETag"] == '"0123456789abcdef0123456789abcdef"'
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 200
