"""What makes a repeat cheap keeps every fact: the reduction cache, the log modes, the records."""

from __future__ import annotations

import contextlib
import json
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from lambdaguard import instrument, semconv
from lambdaguard.agent import _agent, aws, flush
from lambdaguard.agent.config import load
from lambdaguard.agent.recorder import AwsCall, Connection, Link, Record, Trigger

from .conftest import Context, Sink
from .test_evidence_mode import Clock, operations

S = 10**9


@pytest.fixture
def reductions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Every request the reduction actually ran on (a cache hit does not appear)."""
    seen: list[dict[str, Any]] = []
    original = aws.identifying_params

    def spy(service: str, params: Any, depth: int = 1, full: bool = False) -> dict[str, Any]:
        seen.append(dict(params))
        return original(service, params, depth, full)

    monkeypatch.setattr(aws, "identifying_params", spy)
    aws._reductions.clear()
    yield seen
    aws._reductions.clear()


def _start(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    wrapped = instrument(handler)
    agent = _agent.current()
    assert agent is not None
    agent.clock = Clock()
    return wrapped


def _call(wrapped: Callable[[Any, Any], Any], n: int, **event: Any) -> None:
    with contextlib.suppress(KeyError):
        wrapped(event, Context(f"req-{n}"))
    assert flush(5000)


def test_a_repeated_flat_request_is_reduced_once(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str, reductions: list[Any]
) -> None:
    """The same raw params on the same client are reduced once; the calls are still all recorded."""
    enable(LAMBDAGUARD_TRACES="all")
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    sqs.create_queue(QueueName="cached")

    def handler(event: Any, context: Any) -> None:
        sqs.get_queue_url(QueueName="cached")

    wrapped = _start(handler)
    for n in range(3):
        _call(wrapped, n)
    assert reductions == [{"QueueName": "cached"}]
    for body in range(3):
        assert operations(sink, body)[-1] == "GetQueueUrl"


def test_the_same_raw_params_in_another_region_are_still_a_new_fact(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str, reductions: list[Any]
) -> None:
    """A cache hit reuses only the params text: a call with them to another region is exported as new."""
    enable(LAMBDAGUARD_TRACES="off")
    east = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    west = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-west-2")
    for client in (east, west):
        client.create_queue(QueueName="twice")

    def handler(event: Any, context: Any) -> None:
        (west if event.get("west") else east).get_queue_url(QueueName="twice")

    wrapped = _start(handler)
    _call(wrapped, 1)
    _call(wrapped, 2)
    assert len(sink.traces()) == 1  # the repeat was only counted
    _call(wrapped, 3, west=True)
    assert len(sink.traces()) == 2
    assert operations(sink, 1) == ["req-3", "GetQueueUrl"]
    assert len(reductions) == 1  # same service, operation and params: one reduction


def test_a_request_that_is_not_flat_is_reduced_every_time_and_never_kept(
    enable: Callable[..., None], sink: Sink, moto_endpoint: str, reductions: list[Any]
) -> None:
    """Nested members (a list, a dict) are never a cache key; the call is recorded as before."""
    enable(LAMBDAGUARD_TRACES="all")
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    url = sqs.create_queue(QueueName="nested")["QueueUrl"]

    def handler(event: Any, context: Any) -> None:
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])

    wrapped = _start(handler)
    _call(wrapped, 1)
    _call(wrapped, 2)
    assert len(reductions) == 2
    assert not aws._reductions
    assert operations(sink, 1)[-1] == "GetQueueAttributes"


def test_the_cache_is_bounded(reductions: list[Any]) -> None:
    """Requests unique per call never grow the cache past its bound."""
    for n in range(aws._REDUCTIONS_MAX * 2 + 7):
        aws._reduce("s3", "HeadObject", {"Bucket": "b", "Key": f"uploads/{n}.json"})
    assert 0 < len(aws._reductions) <= aws._REDUCTIONS_MAX


def test_a_long_string_value_is_not_a_key(reductions: list[Any]) -> None:
    """A value longer than a name (a message body) is never kept alive by the cache."""
    body = "x" * (aws._FLAT_MAX + 1)
    assert aws._reduce("sqs", "SendMessage", {"QueueUrl": "https://q/1/a", "MessageBody": body})
    assert not aws._reductions


def test_true_and_one_are_different_keys(reductions: list[Any]) -> None:
    """A flag kept only when it is really True is not answered from a cache entry made for 1."""
    first = aws._reduce("ssm", "GetParameter", {"Name": "p", "WithDecryption": 1})
    second = aws._reduce("ssm", "GetParameter", {"Name": "p", "WithDecryption": True})
    assert json.loads(first[0]) == {"Name": "p"}
    assert json.loads(second[0]) == {"Name": "p", "WithDecryption": True}


def test_other_key_settings_are_not_answered_from_the_cache(reductions: list[Any]) -> None:
    """Changing the key prefix depth drops what was reduced under the old one."""
    params = {"Bucket": "b", "Key": "a/b/c.json"}
    aws.install(1, False)
    assert json.loads(aws._reduce("s3", "GetObject", params)[0])["Key"] == "a/"
    aws.install(2, False)
    assert json.loads(aws._reduce("s3", "GetObject", params)[0])["Key"] == "a/b/"
    aws.install(1, False)


# -- LAMBDAGUARD_LOG (exported by default) -----------------------------------------------------------


def test_log_modes_parse() -> None:
    """exported (the default) logs exported or failed invocations, true every one, false none; junk warns."""
    exported = load({"LAMBDAGUARD_LOG": "exported"})
    assert (exported.log, exported.log_repeats) == (True, False)
    assert (load({}).log, load({}).log_repeats) == (True, False)  # the default: as the spans go
    assert (
        load({"LAMBDAGUARD_LOG": " "}).log_repeats,
        load({"LAMBDAGUARD_LOG": "true"}).log_repeats,
    ) == (False, True)
    off = load({"LAMBDAGUARD_LOG": "false"})
    assert (off.log, off.log_repeats) == (False, False)
    junk = load({"LAMBDAGUARD_LOG": "sometimes"})
    assert (junk.log, junk.log_repeats) == (True, False)
    assert any("LAMBDAGUARD_LOG" in w and "'exported'" in w for w in junk.warnings)


def test_exported_log_mode_skips_only_the_repeats(
    enable: Callable[..., None],
    sink: Sink,
    moto_endpoint: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With LAMBDAGUARD_LOG=exported a repeat writes no line; a new fact and every error do."""
    enable(LAMBDAGUARD_TRACES="off", LAMBDAGUARD_LOG="exported")
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")

    def handler(event: Any, context: Any) -> None:
        sqs.list_queues()
        if event.get("new"):
            sqs.create_queue(QueueName="logged")
        if event.get("fail"):
            raise KeyError("boom")

    wrapped = _start(handler)
    _call(wrapped, 1)
    _call(wrapped, 2)
    _call(wrapped, 3, new=True)
    _call(wrapped, 4, fail=True)
    _call(wrapped, 5, fail=True)  # a repeated error: not exported, still logged
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    logged = [line[semconv.LOG_REQUEST_ID] for line in lines]
    assert logged == ["req-1", "req-3", "req-4", "req-5"]
    assert len(sink.traces()) == 3


# -- the records -------------------------------------------------------------------------


def _records() -> list[Any]:
    call = AwsCall("s3", "S3", "GetObject", "us-east-1", "https://s3", "{}", 1, 2)
    conn = Connection("example.com", 443, True, False, 1, 0)
    link = Link(b"\x01" * 16, b"\x02" * 8)
    trigger = Trigger("sqs", "arn:aws:sqs:us-east-1:1:q", links=(link,))
    record = Record("invoke", b"\x01" * 16, b"\x02" * 8, 1, 2, aws_calls=(call,), trigger=trigger)
    return [call, conn, link, trigger, record]


@pytest.mark.parametrize("record", _records(), ids=lambda r: type(r).__name__)
def test_records_behave_as_named_tuples(record: Any) -> None:
    """Each record is a tuple with named fields, defaults, _replace, _asdict, pickling and match."""
    cls = type(record)
    assert isinstance(record, tuple)
    assert len(record) == len(cls._fields)
    assert tuple(getattr(record, name) for name in cls._fields) == tuple(record)
    assert record._asdict() == dict(zip(cls._fields, record, strict=True))
    first = cls._fields[0]
    changed = record._replace(**{first: record[0]})
    assert changed == record
    assert type(changed) is cls
    with pytest.raises(TypeError):
        record._replace(no_such_field=1)
    assert pickle.loads(pickle.dumps(record)) == record
    assert cls._make(tuple(record)) == record
    assert repr(record).startswith(f"{cls.__name__}({first}=")
    assert cls.__match_args__ == cls._fields
    with pytest.raises(AttributeError):
        record.some_new_attribute = 1
    defaults = cls._field_defaults
    required = [name for name in cls._fields if name not in defaults]
    built = cls(*record[: len(required)])
    assert built._asdict() == {**dict(zip(required, record, strict=False)), **defaults}


def test_aws_call_count_is_the_field() -> None:
    """AwsCall.count and Connection.count are the fields the wire contract names, not tuple.count."""
    call = AwsCall("s3", "S3", "GetObject", "us-east-1", "", "{}", 1, 2, count=4)
    assert call.count == 4
    assert Connection("h", 1, False, False, 3, 0).count == 3


# -- what INIT imports --------------------------------------------------------------------

_AFTER_INIT = (
    "lambdaguard.agent.export",
    "lambdaguard.agent.ledger",
    "lambdaguard.agent._patterns",
    "lambdaguard.agent._otlp",
    "lambdaguard.agent.triggers",
    "lambdaguard.agent.extension",
    "encodings.idna",
)


def test_init_imports_only_what_init_needs(tmp_path: Any) -> None:
    """Loading the handler through the layer's entry imports none of the after-response
    modules (exporter, ledger, folding, encoder, event classifier); the first event does."""
    import subprocess
    import sys

    (tmp_path / "fn.py").write_text("def handler(event, context):\n    return 'ok'\n")
    script = (
        "import sys, json\n"
        "from lambdaguard.agent import handler as entry\n"
        "wrapped = entry.lambda_handler\n"
        f"names = {list(_AFTER_INIT)!r}\n"
        "at_init = [n for n in names if n in sys.modules]\n"
        "class C: aws_request_id = 'r1'; invoked_function_arn = ''\n"
        "wrapped({}, C())\n"
        "print(json.dumps([at_init, [n for n in names if n in sys.modules]]))\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(tmp_path),
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "LAMBDAGUARD_ENABLED": "true",
        "LAMBDAGUARD_HANDLER": "fn.handler",
        "LAMBDAGUARD_ENDPOINT": "http://127.0.0.1:9",
        "LAMBDAGUARD_EXPORT_TIMEOUT_MS": "50",
    }
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    at_init, after_first = json.loads(out.stdout.strip().splitlines()[-1])
    assert at_init == []
    assert "lambdaguard.agent.triggers" in after_first  # the first event needed it


def test_a_signature_keeps_what_a_call_fact_keeps() -> None:
    """The signature's pick of an AwsCall drops exactly the per-occurrence fields the ledger's
    call fact blanks; it keeps ``count``, which the fact blanks but a repeat counts by."""
    from lambdaguard.agent import ledger

    fields = AwsCall._fields
    picked = {fields[i] for i in _agent._CALL_SIGNATURE(tuple(range(len(fields))))}
    blanked = {fields[at] for at, _ in ledger._BLANK_AT}
    assert picked | blanked == set(fields)
    assert picked & blanked == {"count"}
