"""Evidence mode end to end: awslambdaric in the local Lambda runtime, the layer, a real collector.

The function runs in its own process (exec wrapper, internal extension,
frozen between invokes); the agent exports to an in-process collector on
loopback with a SQLite store, whose rows and request counters the tests read.
"""

from __future__ import annotations

import os
import shutil
import signal
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdaguard.collector.server import CollectorHandle, start_collector
from lambdaguard.collector.settings import CollectorConfig
from lambdaguard.local.runtime import FunctionConfig, LocalLambda

REPO = Path(__file__).resolve().parents[2]
WRAPPER = REPO / "layer" / "lambdaguard-instrument"
ARN_SUFFIX = ":function:orders"

APP = """
    import os
    import uuid
    import boto3

    sqs = boto3.client("sqs", endpoint_url=os.environ["MOTO"], region_name="us-east-1")
    ec2 = boto3.client("ec2", endpoint_url=os.environ["MOTO"], region_name="us-east-1")
    QUEUE = sqs.create_queue(QueueName="evidence-e2e")["QueueUrl"]

    def handler(event, context):
        sqs.send_message(QueueUrl=QUEUE, MessageBody="x")
        if event.get("new"):
            sqs.get_queue_attributes(QueueUrl=QUEUE, AttributeNames=["All"])
        if event.get("key_pair"):
            # As the Powertools examples do: a fresh name every call.
            name = f"kp_{uuid.uuid4()}"
            ec2.create_key_pair(KeyName=name)
            ec2.delete_key_pair(KeyName=name)
        return {"ok": True}
"""


@pytest.fixture(scope="module")
def layer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The source tree laid out as the layer lands in /opt."""
    opt = tmp_path_factory.mktemp("opt")
    shutil.copy2(WRAPPER, opt / "lambdaguard-instrument")
    (opt / "python").mkdir()
    (opt / "python" / "lambdaguard").symlink_to(REPO / "src" / "lambdaguard")
    return opt


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorHandle]:
    """A real collector on loopback with a SQLite store."""
    handle = start_collector(
        CollectorConfig(store_url=f"sqlite:///{tmp_path / 'store.db'}", http_port=0, grpc_port=None)
    )
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[LocalLambda]:
    """A local Lambda service, shut down after the test."""
    svc = LocalLambda(tmp_path / "lambda")
    try:
        yield svc
    finally:
        svc.close()


def deploy(
    service: LocalLambda,
    tmp_path: Path,
    layer_dir: Path,
    collector: CollectorHandle,
    moto_endpoint: str,
    **env: str,
) -> None:
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text(textwrap.dedent(APP))
    service.add(
        FunctionConfig(
            name="orders",
            handler="app.handler",
            code_dir=code,
            layer_dir=layer_dir,
            timeout_s=10.0,
            environment={
                "AWS_LAMBDA_EXEC_WRAPPER": "/opt/lambdaguard-instrument",
                "LAMBDAGUARD_ENDPOINT": collector.http_url,
                "LAMBDAGUARD_LOG": "false",
                "MOTO": moto_endpoint,
                **env,
            },
        )
    )


def invoke(service: LocalLambda, **event: object) -> None:
    result = service.invoke("orders", event)
    assert result.ok, (result, service.environment("orders").logs[-20:])


def operations(collector: CollectorHandle) -> dict[tuple[str, str], int]:
    return {(c.operation, c.phase): c.count for c in collector.store.calls()}


def invocations(collector: CollectorHandle) -> int:
    return sum(day.count for day in collector.store.invocations())


def test_repeats_send_nothing_and_a_new_call_goes_out_right_after_its_invocation(
    service: LocalLambda,
    tmp_path: Path,
    layer_dir: Path,
    collector: CollectorHandle,
    moto_endpoint: str,
) -> None:
    """Invocation 2..99 send no request; invocation 100's new call is stored when it returns."""
    deploy(
        service, tmp_path, layer_dir, collector, moto_endpoint, LAMBDAGUARD_FLUSH_INTERVAL="3600"
    )
    invoke(service)
    after_first = collector.stats()["requests"]
    assert after_first == 1
    assert operations(collector) == {("CreateQueue", "init"): 1, ("SendMessage", "invoke"): 1}
    invoke(service)
    assert collector.stats()["requests"] == after_first  # nothing before the interval
    for _ in range(97):
        invoke(service)
    assert collector.stats()["requests"] == after_first
    invoke(service, new=True)  # the hundredth
    # The invoke ended when the extension called event/next, after exporting:
    # the new call is in the store now, with no wait.
    assert collector.stats()["requests"] == after_first + 1
    assert operations(collector)[("GetQueueAttributes", "invoke")] == 1


def test_totals_equal_the_invocations_once_the_interval_passed(
    service: LocalLambda,
    tmp_path: Path,
    layer_dir: Path,
    collector: CollectorHandle,
    moto_endpoint: str,
) -> None:
    """After the interval, the collector's invocation and call totals equal what was made."""
    deploy(service, tmp_path, layer_dir, collector, moto_endpoint, LAMBDAGUARD_FLUSH_INTERVAL="1")
    for _ in range(20):
        invoke(service)
    # Let one interval of wall time pass (the agent reads wall time in the
    # function's process); nothing below depends on how long it took.
    time.sleep(1.2)
    invoke(service)  # the first invocation after the interval flushes
    assert invocations(collector) == 21
    assert operations(collector)[("SendMessage", "invoke")] == 21
    (host,) = [h for h in collector.store.hosts() if h.aws]
    assert host.count >= 1
    stats = collector.stats()
    assert stats["data_points"] > 0
    assert stats["data_points_rejected"] == 0


def test_sigkill_between_flushes_loses_no_distinct_fact(
    service: LocalLambda,
    tmp_path: Path,
    layer_dir: Path,
    collector: CollectorHandle,
    moto_endpoint: str,
) -> None:
    """Killed without warning between flushes: every distinct fact is stored; only repeat counts are lost."""
    deploy(
        service, tmp_path, layer_dir, collector, moto_endpoint, LAMBDAGUARD_FLUSH_INTERVAL="3600"
    )
    invoke(service)
    invoke(service, new=True)
    invoke(service)  # a repeat: counted in the environment, not yet flushed
    pid = service.environment("orders").pid
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    assert set(operations(collector)) == {
        ("CreateQueue", "init"),
        ("SendMessage", "invoke"),
        ("GetQueueAttributes", "invoke"),
    }
    # The two invocations exported as spans are counted; the repeat died with it.
    assert invocations(collector) == 2


def test_a_name_made_from_a_fresh_uuid_each_call_stays_one_row(
    service: LocalLambda,
    tmp_path: Path,
    layer_dir: Path,
    collector: CollectorHandle,
    moto_endpoint: str,
) -> None:
    """kp_<uuid4> key pairs, one per invocation: one folded row per operation, counting them all."""
    deploy(service, tmp_path, layer_dir, collector, moto_endpoint, LAMBDAGUARD_FLUSH_INTERVAL="1")
    for _ in range(6):
        invoke(service, key_pair=True)
    time.sleep(1.2)
    invoke(service, key_pair=True)
    rows = [c for c in collector.store.calls() if c.service == "ec2"]
    assert sorted((c.operation, dict(c.params)["KeyName"], c.count) for c in rows) == [
        ("CreateKeyPair", "kp_*", 7),
        ("DeleteKeyPair", "kp_*", 7),
    ]
    # Only the first invocation went out as spans: INIT span and its CreateQueue,
    # the invocation span and its three calls.
    assert collector.stats()["spans_stored"] == 6
