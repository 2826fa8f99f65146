"""A small fleet of functions, put into a real store the way the collector does it.

Each invocation is encoded as the agent encodes it (OTLP resource, invocation
span with outcome, cold start, trigger and duration, one CLIENT span per AWS
call, connection events), reduced by the collector's own ``extract`` and
ingested by the store. Times are given relative to the test's fixed clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from lambdaguard import semconv
from lambdaguard.collector.spans import extract
from lambdaguard.collector.store import Store

ACCOUNT = "111122223333"
REGION = "eu-west-1"


def arn(name: str, region: str = REGION, account: str = ACCOUNT) -> str:
    """The unqualified ARN of a function."""
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


@dataclass(frozen=True)
class Call:
    """One AWS call an invocation made."""

    service: str
    operation: str
    params: Mapping[str, Any] = field(default_factory=dict)
    error_code: str = ""
    credentials: str = ""
    role_arn: str = ""
    count: int = 1


@dataclass(frozen=True)
class Inv:
    """One invocation and what it did."""

    at: datetime
    cold: bool = False
    outcome: str = semconv.OUTCOME_SUCCESS
    error_type: str = ""
    duration_ms: float = 40.0
    trigger: tuple[str, str] = ("direct", "")
    calls: Sequence[Call] = ()
    hosts: Sequence[tuple[str, int, bool]] = ()


@dataclass(frozen=True)
class Function:
    """A function and its invocations."""

    arn: str
    invocations: Sequence[Inv]
    name: str | None = None  # faas.name when it differs from the ARN's
    layer_version: str = "0.2.0"
    runtime: str = "python3.12"


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1e9)


def export_request(fn: Function) -> ExportTraceServiceRequest:
    """The function's invocations as one OTLP export request, shaped like the agent's."""
    parts = fn.arn.split(":")
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend(
        [
            _kv(semconv.CLOUD_RESOURCE_ID, fn.arn),
            _kv(semconv.CLOUD_ACCOUNT_ID, parts[4]),
            _kv(semconv.CLOUD_REGION, parts[3]),
            _kv(semconv.FAAS_NAME, fn.name or parts[6]),
            _kv(semconv.LAYER_VERSION, fn.layer_version),
            _kv(semconv.FUNCTION_RUNTIME, fn.runtime),
            _kv(semconv.FAAS_VERSION, "$LATEST"),
        ]
    )
    ss = rs.scope_spans.add()
    seed = hashlib.blake2b(fn.arn.encode(), digest_size=8).digest()
    span_no = 0
    for i, inv in enumerate(fn.invocations):
        trace_id = seed + i.to_bytes(8, "big")
        span_no += 1
        start = _ns(inv.at)
        span = ss.spans.add(
            trace_id=trace_id, span_id=span_no.to_bytes(8, "big"), name=parts[6], kind=2
        )
        span.start_time_unix_nano = start
        span.end_time_unix_nano = start + int(inv.duration_ms * 1e6)
        attrs = [
            _kv(semconv.FAAS_INVOCATION_ID, f"req-{i}"),
            _kv(semconv.FAAS_COLDSTART, inv.cold),
            _kv(semconv.INVOCATION_OUTCOME, inv.outcome),
            _kv(semconv.INVOCATION_DURATION_MS, float(inv.duration_ms)),
            _kv(semconv.TRIGGER_KIND, inv.trigger[0]),
        ]
        if inv.trigger[1]:
            attrs.append(_kv(semconv.TRIGGER_SOURCE, inv.trigger[1]))
        if inv.error_type:
            attrs.append(_kv(semconv.INVOCATION_ERROR_TYPE, inv.error_type))
        span.attributes.extend(attrs)
        for host, port, tls in inv.hosts:
            event = span.events.add(name=semconv.CONNECTION_EVENT, time_unix_nano=start)
            event.attributes.extend(
                [
                    _kv(semconv.SERVER_ADDRESS, host),
                    _kv(semconv.SERVER_PORT, port),
                    _kv(semconv.NET_TLS, tls),
                ]
            )
        parent = span.span_id
        for call in inv.calls:
            span_no += 1
            child = ss.spans.add(
                trace_id=trace_id,
                span_id=span_no.to_bytes(8, "big"),
                parent_span_id=parent,
                kind=3,
                name=f"{call.service}.{call.operation}",
            )
            child.start_time_unix_nano = start
            child.end_time_unix_nano = start + 1_000_000
            cattrs = [
                _kv(semconv.AWS_SERVICE, call.service),
                _kv(semconv.AWS_OPERATION, call.operation),
                _kv(semconv.AWS_PARAMS, json.dumps(dict(call.params), sort_keys=True)),
                _kv(semconv.AWS_COUNT, call.count),
            ]
            if call.error_code:
                cattrs.append(_kv(semconv.AWS_ERROR_CODE, call.error_code))
            if call.credentials:
                cattrs.append(_kv(semconv.AWS_CREDENTIALS, call.credentials))
            if call.role_arn:
                cattrs.append(_kv(semconv.AWS_CREDENTIALS_ROLE, call.role_arn))
            child.attributes.extend(cattrs)
    return request


def seed(store: Store, functions: Sequence[Function], *, now: datetime) -> None:
    """Ingest the functions' invocations into the store, as the collector would."""
    now_ns = _ns(now)
    for fn in functions:
        store.ingest(extract(export_request(fn), now_ns=now_ns).spans, now_ns=now_ns)


GET = Call("s3", "GetObject", {"Bucket": "orders", "Key": "in/"})
PUT = Call("dynamodb", "PutItem", {"TableName": "orders"})
STRIPE = ("api.stripe.com", 443, True)
PLAIN = ("legacy.example.com", 80, False)
API = ("api_gateway_http", f"arn:aws:execute-api:{REGION}:{ACCOUNT}:abc123/$default")


def standard(now: datetime) -> list[Function]:
    """Three functions: a busy API, a nightly job using an assumed role, and one seen long ago.

    orders-api: 9 invocations over three days (2 cold starts, 1 error, 1 timeout),
    18 AWS calls (s3:GetObject and dynamodb:PutItem each time), a TLS host and a
    plaintext one. nightly-report: 1 invocation, an SSM read and an S3 write made
    as an assumed role. legacy-cron: 1 invocation 40 days ago.
    """
    day = timedelta(days=1)

    def api(at: datetime, **kw: Any) -> Inv:
        return Inv(at, trigger=API, calls=(GET, PUT), hosts=(STRIPE,), **kw)

    orders = [
        api(now - 2 * day, cold=True),
        api(now - 2 * day + timedelta(minutes=1)),
        api(now - 2 * day + timedelta(minutes=2)),
        api(now - day, outcome=semconv.OUTCOME_ERROR, error_type="KeyError", duration_ms=12),
        api(now - day + timedelta(minutes=1), duration_ms=80),
        Inv(
            now - day + timedelta(minutes=2),
            trigger=API,
            calls=(GET, PUT),
            hosts=(STRIPE, PLAIN),
        ),
        api(now - day + timedelta(minutes=3)),
        api(now - timedelta(hours=2), cold=True),
        api(
            now - timedelta(hours=1),
            outcome=semconv.OUTCOME_TIMEOUT,
            error_type="Sandbox.Timedout",
            duration_ms=3000,
        ),
    ]
    nightly = [
        Inv(
            now - day,
            cold=True,
            trigger=("schedule", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/nightly"),
            calls=(
                Call("ssm", "GetParameter", {"Name": "/report/recipients"}),
                Call(
                    "s3",
                    "PutObject",
                    {"Bucket": "reports", "Key": "daily/"},
                    credentials=semconv.CREDENTIALS_ASSUMED_ROLE,
                    role_arn=f"arn:aws:iam::{ACCOUNT}:role/reporter",
                ),
            ),
        )
    ]
    legacy = [
        Inv(
            now - 40 * day,
            cold=True,
            calls=(
                Call(
                    "sqs",
                    "SendMessage",
                    {"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/111122223333/jobs"},
                ),
            ),
        )
    ]
    return [
        Function(arn("orders-api"), orders),
        Function(arn("nightly-report"), nightly, runtime="python3.11"),
        Function(arn("legacy-cron"), legacy, layer_version="0.1.0"),
    ]


# Strings that would run script, close a block, or drive a terminal if a view
# ever printed them as markup instead of text.
HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">'
HOSTILE_FAAS_NAME = "</script><script>window.__pwned=2</script>"
HOSTILE_HOST = '"><svg onload=window.__pwned=3>\x1b[2J'
HOSTILE_BUCKET = "</script><!--<script>window.__pwned=4</script>"
HOSTILE_ERROR = "<b onmouseover=window.__pwned=5>Boom</b>"
HOSTILE_SOURCE = "javascript:window.__pwned=6"
HOSTILE_MARKUP = "[link=https://evil.example]click[/link] {{script}}"


def hostile(now: datetime) -> list[Function]:
    """Functions whose names, hosts, parameters and errors carry HTML, script and escapes."""
    return [
        Function(
            arn(HOSTILE_NAME),
            [
                Inv(
                    now - timedelta(hours=3),
                    cold=True,
                    outcome=semconv.OUTCOME_ERROR,
                    error_type=HOSTILE_ERROR,
                    trigger=("sqs", HOSTILE_SOURCE),
                    calls=(Call("s3", "GetObject", {"Bucket": HOSTILE_BUCKET, "Key": "x/"}),),
                    hosts=((HOSTILE_HOST, 80, False), (HOSTILE_MARKUP, 443, True)),
                )
            ],
        ),
        Function(
            arn("innocent"),
            [Inv(now - timedelta(hours=1), calls=(GET,))],
            name=HOSTILE_FAAS_NAME,
            layer_version=HOSTILE_MARKUP,
        ),
    ]


# -- the account's inventory of the fleet (what `lambdaguard inventory` records) -------------
RETIRED = "retired-worker"
GONE_QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:retired-jobs"
HOSTILE_DEAD = '"><script>window.__pwned=7</script>'
HOSTILE_TAG = '<iframe srcdoc="<script>parent.__pwned=8</script>">'


def inventory(now: datetime, *, hostile_names: bool = False) -> Any:
    """The account's listing of the fleet as `lambdaguard inventory` reads it (no AWS needed).

    Standard: orders-api (an API permission), nightly-report (a daily rule),
    legacy-cron (no trigger, a deprecated runtime, no owner tag: dead in the
    30-day window, last invoked 40 days ago), and retired-worker, which
    lambdaguard never heard from: its queue is gone (dead, orphaned trigger),
    and its role could still write and escalate. Hostile: the hostile fleet's
    functions, plus a dead one whose name, tags, trigger and schedule carry markup.
    """
    from lambdaguard.analysis import inventory as inv
    from lambdaguard.analysis.inventory import FunctionInfo, Inventory, Trigger

    def info(name: str, *triggers: Trigger, **kw: Any) -> FunctionInfo:
        values: dict[str, Any] = {
            "name": name,
            "arn": arn(name),
            "region": REGION,
            "account": ACCOUNT,
            "runtime": "python3.12",
            "role": f"arn:aws:iam::{ACCOUNT}:role/{name}-role",
            "tags": {"owner": "alice"},
            "triggers": triggers,
            "invocations": {},
            "errors": {},
            "metrics_complete": True,
        }
        values.update(kw)
        return FunctionInfo(**values)

    if hostile_names:
        functions = (
            info(
                HOSTILE_NAME,
                Trigger(inv.ESM, HOSTILE_SOURCE, source_exists=False, ident="uuid-1"),
                tags={"owner": HOSTILE_TAG},
            ),
            info(
                HOSTILE_DEAD,
                Trigger(inv.URL, HOSTILE_HOST, detail="auth NONE", public=True),
                Trigger(
                    inv.RULE,
                    f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{HOSTILE_BUCKET}",
                    enabled=False,
                    detail="DISABLED",
                    ident=HOSTILE_BUCKET,
                    schedule=HOSTILE_MARKUP,
                ),
                tags={HOSTILE_TAG: HOSTILE_ERROR},
                role=f"arn:aws:iam::{ACCOUNT}:role/{HOSTILE_FAAS_NAME}",
            ),
        )
    else:
        functions = (
            info(
                "orders-api",
                Trigger(
                    inv.PERMISSION,
                    f"arn:aws:execute-api:{REGION}:{ACCOUNT}:abc123/*",
                    detail="apigateway.amazonaws.com",
                    ident="api-invoke",
                ),
                role=f"arn:aws:iam::{ACCOUNT}:role/orders-role",
            ),
            info(
                "nightly-report",
                Trigger(
                    inv.RULE,
                    f"arn:aws:events:{REGION}:{ACCOUNT}:rule/nightly",
                    ident="nightly",
                    schedule="cron(0 2 * * ? *)",
                ),
            ),
            info("legacy-cron", runtime="python3.8", tags={}),
            info(
                RETIRED,
                Trigger(inv.ESM, GONE_QUEUE, source_exists=False, detail="Enabled", ident="u-42"),
            ),
        )
    return Inventory(functions)


def record_inventory(store: Store, now: datetime, *, hostile_names: bool = False) -> None:
    """Record the fleet's inventory as read at ``now`` over a 30-day window, as `inventory` does."""
    from datetime import timedelta

    from lambdaguard.analysis import stored
    from lambdaguard.analysis.verdicts import AttackSurface, judge_all

    listing = inventory(now, hostile_names=hostile_names)
    window = timedelta(days=30)

    def surface(fn: Any) -> AttackSurface | None:
        if fn.name == RETIRED:
            return AttackSurface(
                access={"List": 4, "Read": 12, "Write": 40},
                escalation=("iam:PassRole with lambda:CreateFunction",),
            )
        if fn.name == HOSTILE_DEAD:
            return AttackSurface(access={"Write": 1}, escalation=(HOSTILE_ERROR,), note=HOSTILE_TAG)
        return None

    found = judge_all(listing, now=now, window=window, surface=surface)
    stored.record(store, listing, now=now, source="live", window=window, findings=found)
