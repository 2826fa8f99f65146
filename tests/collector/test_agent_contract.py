"""The wire contract end to end: what the agent's exporter encodes is what the collector stores."""

from __future__ import annotations

import httpx

from lambdaguard import semconv
from lambdaguard.agent.config import Config
from lambdaguard.agent.export import encode
from lambdaguard.agent.recorder import AwsCall, Connection, Record
from lambdaguard.collector.server import CollectorHandle

ARN = "arn:aws:lambda:eu-west-1:123456789012:function:orders"
T0 = 1_764_000_000_000_000_000


def _call(service: str, operation: str, params: str, **extra: object) -> AwsCall:
    return AwsCall(
        service=service,
        service_id=service.upper(),
        operation=operation,
        region="eu-west-1",
        endpoint=f"https://{service}.eu-west-1.amazonaws.com",
        params=params,
        start_ns=T0,
        end_ns=T0 + 1000,
        **extra,  # type: ignore[arg-type]
    )


def test_agent_encoding_is_stored_as_recorded(collector: CollectorHandle) -> None:
    """Init-phase and invoke-phase calls, outcomes, response facts, folded counts and hosts survive the trip."""
    init = Record(
        phase=semconv.PHASE_INIT,
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        start_ns=T0,
        end_ns=T0 + 5000,
        function_name="orders",
        aws_calls=(_call("ssm", "GetParameter", '{"Name":"/orders/db"}'),),
        connections=(Connection("ssm.eu-west-1.amazonaws.com", 443, True, True, 1, 0),),
    )
    invoke = Record(
        phase=semconv.PHASE_INVOKE,
        trace_id=b"\x03" * 16,
        span_id=b"\x04" * 8,
        start_ns=T0 + 10_000,
        end_ns=T0 + 20_000,
        request_id="req-1",
        function_name="orders",
        function_arn=ARN,
        cold_start=True,
        outcome=semconv.OUTCOME_TIMEOUT,
        aws_calls=(
            _call(
                "s3",
                "GetObject",
                '{"Bucket":"in","Key":"a/"}',
                response='{"SSEKMSKeyId":"k1","VersionId":"v7"}',
            ),
            _call("dynamodb", "PutItem", '{"TableName":"orders"}', error_code="AccessDenied"),
            _call("sqs", "SendMessage", '{"QueueUrl":"q"}', count=7),
        ),
        connections=(Connection("api.stripe.com", 443, True, False, 2, 1),),
    )
    body = encode(Config(enabled=True), [init, invoke])
    response = httpx.post(
        f"{collector.http_url}/v1/traces",
        content=body,
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200, response.content
    store = collector.store
    (fn,) = store.functions()
    assert (fn.arn, fn.account, fn.region, fn.name) == (ARN, "123456789012", "eu-west-1", "orders")
    assert fn.layer_version
    calls = {(c.service, c.operation): c for c in store.calls(ARN)}
    assert calls["ssm", "GetParameter"].phase == semconv.PHASE_INIT
    assert calls["s3", "GetObject"].phase == semconv.PHASE_INVOKE
    assert calls["s3", "GetObject"].response == {"SSEKMSKeyId": "k1", "VersionId": "v7"}
    assert calls["dynamodb", "PutItem"].error_code == "AccessDenied"
    assert calls["sqs", "SendMessage"].count == 7
    assert calls["s3", "GetObject"].params == {"Bucket": "in", "Key": "a/"}
    hosts = {h.host: h for h in store.hosts(ARN)}
    assert (hosts["api.stripe.com"].count, hosts["api.stripe.com"].failures) == (2, 1)
    assert hosts["ssm.eu-west-1.amazonaws.com"].aws
    (day,) = store.invocations(ARN)
    assert (day.count, day.cold_starts, day.errors, day.timeouts) == (1, 1, 0, 1)
