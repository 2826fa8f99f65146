"""Granted permissions read live from a moto account equal those read from its exports."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambdaguard.analysis.grants import FunctionGrant, read_grants_live, read_grants_offline
from lambdaguard.errors import AwsReadError, ConfigError
from lambdaguard.iam import Effect
from lambdaguard.local.aws import MotoServer, moto_server

from ._account import ACCOUNT_ID, REGION, GrantsAccount, export_account, seed_grants_account


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    """moto in server mode on loopback, for this module."""
    with moto_server() as server:
        yield server


@pytest.fixture(scope="module")
def account(moto: MotoServer) -> GrantsAccount:
    """The sample account plus the VPC worker and its many-sided role."""
    return seed_grants_account(moto)


@pytest.fixture
def aws_env(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default credential chain and AWS_ENDPOINT_URL point at moto, as a user's shell would."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


@pytest.fixture
def live(account: GrantsAccount, aws_env: None) -> list[FunctionGrant]:
    """Every function's grant, read live through the default chain."""
    return read_grants_live(progress=False)


def _by_name(grants: list[FunctionGrant]) -> dict[str, FunctionGrant]:
    return {g.config.name: g for g in grants}


def test_live_equals_offline(moto: MotoServer, live: list[FunctionGrant], tmp_path: Path) -> None:
    """The same account read live and from its CLI-shaped exports gives the same model."""
    files = export_account(moto, tmp_path)
    offline = read_grants_offline(
        files["auth"],
        files["functions"],
        event_source_mappings=files["esm"],
        event_invoke_configs=files["invoke"],
    )
    assert [g.config.name for g in offline] == [g.config.name for g in live]
    assert offline == live
    assert all(not g.partial for g in live), [str(w) for g in live for w in g.all_warnings()]


def test_role_with_every_kind_of_policy(live: list[FunctionGrant], account: GrantsAccount) -> None:
    """Attached (default version), inline (single Statement object) and boundary policies are all read."""
    worker = _by_name(live)["vpc-worker"]
    assert worker.role is not None
    assert worker.role.arn == account.worker_role
    assert [p.name for p in worker.role.managed] == [
        "data-access",
        "AWSLambdaVPCAccessExecutionRole",
    ]
    assert worker.role.managed[0].statements[0].sid == "Reports"  # v2, the default, not v1
    assert [p.name for p in worker.role.inline] == ["vpc-worker-role/send"]
    assert worker.role.boundary is not None
    assert worker.role.boundary.name == "worker-boundary"
    grant = worker.grant()
    assert grant.evaluate("s3:GetObject", "arn:aws:s3:::lg-demo-reports/x").certainly_allowed
    assert (
        grant.evaluate("s3:DeleteObject", "arn:aws:s3:::lg-demo-reports/x").effect
        is Effect.EXPLICIT_DENY
    )
    assert grant.evaluate(
        "sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:jobs"
    ).certainly_allowed
    assert not grant.evaluate(
        "sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:admin-x"
    ).allowed
    # The VPC managed policy allows ec2 network interfaces, but the boundary does not.
    assert grant.evaluate("ec2:CreateNetworkInterface", "*").effect is Effect.IMPLICIT_DENY


def test_configuration_facts(live: list[FunctionGrant], account: GrantsAccount) -> None:
    """VPC, tracing, KMS key, log group, event sources and destinations come with each function."""
    by_name = _by_name(live)
    worker = by_name["vpc-worker"].config
    assert worker.vpc_subnets
    assert worker.vpc_security_groups
    assert (worker.tracing_mode, worker.kms_key_arn, worker.log_group) == (
        "Active",
        account.key_arn,
        "/aws/lambda/vpc-worker",
    )
    assert (worker.account, worker.region, worker.runtime) == (ACCOUNT_ID, REGION, "python3.12")
    assert by_name["vpc-worker"].destinations == (
        ("on-failure", account.dlq_arn),
        ("on-success", account.topic_arn),
    )
    sources = by_name["queue-worker"].event_sources
    assert sources is not None
    assert [(s.kind, s.source_arn) for s in sources] == [
        ("sqs", f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:lg-demo-order-events")
    ]
    assert by_name["orders-api"].event_sources == ()


def test_shared_policies_are_read_once(account: GrantsAccount, aws_env: None) -> None:
    """A managed policy attached to several roles is fetched once per read."""
    session = boto3.Session()
    calls: list[str] = []
    session.events.register(
        "provide-client-params.iam.GetPolicy",
        lambda params, **kw: calls.append(params["PolicyArn"]),
    )
    grants = read_grants_live(session, progress=False)
    basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    users = [g for g in grants if g.role and any(p.arn == basic for p in g.role.managed)]
    assert len(users) >= 4
    assert calls.count(basic) == 1
    assert len(calls) == len(set(calls))


def test_only_the_functions_asked(account: GrantsAccount, aws_env: None) -> None:
    """Functions given by name or ARN are the only ones read; an unknown one is a clear error."""
    grants = read_grants_live(functions=["orders-api", account.worker_arn], progress=False)
    assert [g.config.name for g in grants] == ["orders-api", "vpc-worker"]
    with pytest.raises(ConfigError, match="no-such-function"):
        read_grants_live(functions=["no-such-function"], progress=False)


class _Body:
    """The raw body botocore's AWSResponse reads."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        return iter((self._data,))


def _refuse(
    session: boto3.Session, event: str, status: int, headers: dict[str, str], body: bytes
) -> None:
    """Answer one operation with AWS's refusal, as AWS sends it; botocore parses it as usual.

    moto's own IAM enforcement would be the better judge, but in server mode it
    rejects every Lambda request's signature (it signs the REST query as a body),
    so the refusal is AWS's documented answer, given at botocore's ``before-send``.
    """
    from botocore.awsrequest import AWSResponse

    def answer(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, status, headers, _Body(body))

    session.events.register_last(f"before-send.{event}", answer)


_IAM_DENIED = (
    b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
    b"<Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/auditor is not "
    b"authorized to perform: iam:GetRolePolicy on resource: role nightly-report-role</Message>"
    b"</Error><RequestId>1</RequestId></ErrorResponse>"
)


def test_refused_reads_name_the_permission(account: GrantsAccount, aws_env: None) -> None:
    """A refused GetRolePolicy is a warning naming iam:GetRolePolicy; the rest is read whole."""
    session = boto3.Session()
    _refuse(session, "iam.GetRolePolicy", 403, {"Content-Type": "text/xml"}, _IAM_DENIED)
    grants = _by_name(read_grants_live(session, progress=False))
    report = grants["nightly-report"]
    assert report.partial
    messages = [str(w) for w in report.all_warnings()]
    assert any(
        "AWS refused GetRolePolicy" in m
        and "needs the IAM permission iam:GetRolePolicy" in m
        and "nightly-report-role/everything" in m
        for m in messages
    ), messages
    assert report.role is not None
    assert report.role.inline == ()
    # Roles with no inline policy are whole.
    assert not grants["thumbnailer"].partial


def test_refused_listing_is_an_error(account: GrantsAccount, aws_env: None) -> None:
    """A refused ListFunctions raises AwsReadError naming lambda:ListFunctions."""
    session = boto3.Session()
    _refuse(
        session,
        "lambda.ListFunctions",
        403,
        {"Content-Type": "application/json", "x-amzn-ErrorType": "AccessDeniedException"},
        b'{"Message": "User: arn:aws:iam::123456789012:user/nobody is not authorized to perform: lambda:ListFunctions"}',
    )
    with pytest.raises(AwsReadError) as exc:
        read_grants_live(session, progress=False)
    assert exc.value.permission == "lambda:ListFunctions"
    assert "lambda:ListFunctions" in str(exc.value)


def test_throttling_is_retried_by_botocore(account: GrantsAccount, aws_env: None) -> None:
    """Throttled calls are retried by botocore's standard mode until AWS answers."""
    from botocore.awsrequest import AWSResponse

    session = boto3.Session()
    throttled: list[int] = []

    def throttle(request: Any, **_: Any) -> AWSResponse | None:
        if len(throttled) < 2:
            throttled.append(1)
            body = b'{"Message": "Rate exceeded"}'
            headers = {
                "Content-Type": "application/json",
                "x-amzn-ErrorType": "TooManyRequestsException",
            }
            return AWSResponse(request.url, 429, headers, _Body(body))
        return None

    session.events.register_last("before-send.lambda.ListFunctions", throttle)
    grants = read_grants_live(session, progress=False)
    assert len(throttled) == 2
    assert "orders-api" in _by_name(grants)


def test_unreachable_aws_is_an_error(monkeypatch: pytest.MonkeyPatch, aws_env: None) -> None:
    """No AWS at the endpoint raises AwsReadError (the CLI's exit 3), not a botocore traceback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(AwsReadError, match="could not be reached") as exc:
        read_grants_live(progress=False, max_attempts=1)
    assert exc.value.operation == "lambda:ListFunctions"


def test_no_region_is_a_config_error(monkeypatch: pytest.MonkeyPatch, aws_env: None) -> None:
    """Without a region anywhere, the reader says how to give one."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    with pytest.raises(ConfigError, match="AWS_REGION"):
        read_grants_live(progress=False)


def test_service_needs_of_the_read_functions(
    live: list[FunctionGrant], account: GrantsAccount
) -> None:
    """Needs derived from what was read live: the SQS poller, the VPC, tracing, key and destinations."""
    from lambdaguard.analysis.service_needs import service_needs

    by_name = _by_name(live)
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:lg-demo-order-events"
    worker_needs = service_needs(by_name["queue-worker"])
    assert ("sqs:ReceiveMessage", queue) in [(n.action, n.resource) for n in worker_needs]
    # queue-worker's role ("NotAction": "iam:*" plus basic logs) allows everything Lambda needs.
    grant = by_name["queue-worker"].grant()
    assert all(grant.evaluate(n.action, n.resource).certainly_allowed for n in worker_needs)

    vpc_needs = service_needs(by_name["vpc-worker"])
    assert {n.source for n in vpc_needs} == {"logs", "vpc", "xray", "kms", "destination"}
    assert ("sns:Publish", account.topic_arn) in [(n.action, n.resource) for n in vpc_needs]
    # Its boundary leaves out the network interfaces and X-Ray: a finding for the proposal.
    denied = {
        n.action
        for n in vpc_needs
        if not by_name["vpc-worker"].grant().evaluate(n.action, n.resource).allowed
    }
    assert {"ec2:CreateNetworkInterface", "xray:PutTraceSegments", "sns:Publish"} <= denied
