"""End to end: the built layer, run by awslambdaric under the local Lambda runtime, records the truth."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest

from lambdaguard.local.harness import Invocation

from .conftest import Ran

pytestmark = pytest.mark.integration


def _store(ran: Ran) -> Any:
    assert ran.stage.collector is not None
    return ran.stage.collector.store


def _arns(ran: Ran) -> dict[str, str]:
    return {f.name: f.arn for f in _store(ran).functions()}


def _recorded_calls(
    ran: Ran,
) -> tuple[Counter[tuple[str, str, str]], Counter[tuple[str, str, str]]]:
    """(invoke-phase counts, init-phase counts) per (function, service, operation)."""
    invoke: Counter[tuple[str, str, str]] = Counter()
    init: Counter[tuple[str, str, str]] = Counter()
    store = _store(ran)
    for name, arn in _arns(ran).items():
        for call in store.calls(arn):
            if call.presign:
                continue  # a presigned URL is signed locally: no request was sent
            target = init if call.phase == "init" else invoke
            target[(name, call.service, call.operation)] += call.count
    return invoke, init


def _normalise(doc: dict[str, Any] | None, request_id: str) -> dict[str, Any] | None:
    if doc is None:
        return None
    out = {k: v for k, v in doc.items() if k not in ("requestId", "stackTrace")}
    if "errorMessage" in out:
        out["errorMessage"] = out["errorMessage"].replace(request_id, "<request-id>")
    return out


def _outcomes(runs: list[Invocation]) -> list[tuple[str, str, str, Any]]:
    out = []
    for run in runs:
        res = run.result
        body: Any = res.payload if res.ok else _normalise(dict(res.error or {}), res.request_id)
        out.append((run.function, run.trigger, res.status, body))
    return out


def test_recorded_calls_match_what_the_functions_did(with_layer: Ran) -> None:
    """Every AWS call, with its count, is recorded once: INIT-phase and threaded calls included."""
    invoke, init = _recorded_calls(with_layer)
    assert invoke == with_layer.expected.calls
    assert init == with_layer.expected.init_calls
    # The ones that are easy to lose: made on s3transfer's and a thread pool's threads.
    assert invoke[("thumbnailer", "s3", "UploadPart")] == 9
    assert invoke[("queue-worker", "dynamodb", "UpdateItem")] > 10


def test_failed_and_presigned_calls_are_recorded_as_such(with_layer: Ran) -> None:
    """The NoSuchKey GetObject carries its error code; the presigned URL is marked, not counted as sent."""
    store = _store(with_layer)
    arn = _arns(with_layer)["thumbnailer"]
    failed = Counter()
    presigned = Counter()
    for call in store.calls(arn):
        if call.error_code:
            failed[("thumbnailer", call.service, call.operation, call.error_code)] += call.count
        if call.presign:
            presigned[("thumbnailer", call.service, call.operation)] += call.count
    assert failed == with_layer.expected.failed_calls
    assert presigned == with_layer.expected.presigned


def test_invocations_cold_starts_errors_and_timeouts_are_counted(with_layer: Ran) -> None:
    """Per function, the store counts the invocations, cold starts and timeouts the runtime saw."""
    store = _store(with_layer)
    exp = with_layer.expected
    for name, arn in _arns(with_layer).items():
        days = store.invocations(arn)
        if name == "broken-import":
            # INIT never completed, so no invocation ran: the init errors the agent sent
            # (named by function and region, no account) are what the store keeps.
            assert days == []
            assert arn == f"arn:aws:lambda:{with_layer.stage.account.region}::function:{name}"
            init = [e for e in store.errors(arn) if e.phase == "init"]
            assert [e.error_type for e in init] == ["Runtime.ImportModuleError"]
            assert sum(e.count for e in init) == exp.errors[name] == 2
            continue
        assert sum(d.count for d in days) == exp.invocations[name], name
        assert sum(d.cold_starts for d in days) == exp.cold_starts[name], name
        assert sum(d.timeouts for d in days) == exp.timeouts[name], name
        assert sum(d.errors for d in days) == exp.errors[name], name


def test_a_timed_out_invocation_still_leaves_its_record(with_layer: Ran) -> None:
    """The export stopped at its deadline is counted as a timeout and its S3 call is recorded."""
    timed_out = [r for r in with_layer.runs if r.result.status == "timeout"]
    assert [r.function for r in timed_out] == ["slow-export"]
    store = _store(with_layer)
    arn = _arns(with_layer)["slow-export"]
    assert sum(d.timeouts for d in store.invocations(arn)) == 1
    puts = sum(c.count for c in store.calls(arn) if c.operation == "PutObject")
    assert puts == len([r for r in with_layer.runs if r.function == "slow-export"])


def test_outbound_hosts_are_recorded_with_tls_status(with_layer: Ran) -> None:
    """The HTTPS payments API is recorded as TLS, the plain-HTTP webhook as plaintext."""
    store = _store(with_layer)
    arns = _arns(with_layer)
    for name, wanted in with_layer.expected.hosts.items():
        seen = {(h.host, h.tls) for h in store.hosts(arns[name]) if not h.aws}
        assert wanted <= seen, name


def test_results_and_errors_are_identical_with_and_without_the_layer(
    with_layer: Ran, without_layer: Ran
) -> None:
    """Each invocation returns the same payload, or the same error type and message, either way."""
    assert _outcomes(with_layer.runs) == _outcomes(without_layer.runs)
    statuses = Counter(r.result.status for r in with_layer.runs)
    assert statuses["error"] >= 1
    assert statuses["init_error"] == 2
    assert statuses["timeout"] == 1


def test_handler_error_keeps_the_users_frames(with_layer: Ran, without_layer: Ran) -> None:
    """The stack trace of a handler error still names the function's own frames, in order."""

    def frames(ran: Ran) -> list[str]:
        run = next(r for r in ran.runs if r.result.status == "error")
        assert run.result.error is not None
        return [
            f for f in run.result.error["stackTrace"] if "/tasks/" in f and "lambdaguard" not in f
        ]

    def strip(lines: list[str]) -> list[str]:
        return [re.sub(r'File ".*/tasks/', 'File "<task>/', line) for line in lines]

    assert strip(frames(with_layer)) == strip(frames(without_layer))
    assert frames(with_layer)


def test_an_unimportable_handler_reports_the_same_init_error(
    with_layer: Ran, without_layer: Ran
) -> None:
    """A handler that cannot be imported gives Runtime.ImportModuleError with the same message."""

    def init_errors(ran: Ran) -> list[dict[str, Any] | None]:
        return [
            _normalise(dict(r.result.error or {}), r.result.request_id)
            for r in ran.runs
            if r.function == "broken-import"
        ]

    got = init_errors(with_layer)
    assert got == init_errors(without_layer)
    assert got[0] is not None
    assert got[0]["errorType"] == "Runtime.ImportModuleError"


def test_no_canary_secret_or_credential_leaves_the_function(with_layer: Ran) -> None:
    """Neither the secret read at INIT nor the role's keys appear in any export or in the store."""
    account = with_layer.stage.account
    assert account is not None
    tap = with_layer.stage.tap
    assert tap is not None
    assert tap.bodies, "the agent exported nothing"
    forbidden = [account.canary.encode()]
    for creds in account.credentials.values():
        forbidden.append(creds.secret_access_key.encode())
        if creds.session_token:
            forbidden.append(creds.session_token.encode())
    for _, body in tap.bodies:
        for secret in forbidden:
            assert secret not in body
    db = with_layer.stage.work_dir / "lambdaguard.db"
    raw = db.read_bytes() + b"".join(p.read_bytes() for p in db.parent.glob("lambdaguard.db-*"))
    for secret in forbidden:
        assert secret not in raw
    # lambdaguard's own JSON log lines (stdout) carry no secret either.
    log_lines = [
        line
        for line in with_layer.stage.log_path.read_text().splitlines()
        if '"lambdaguard"' in line
    ]
    assert log_lines, "no lambdaguard log line was written"
    for line in log_lines:
        for secret in forbidden:
            assert secret.decode() not in line


def test_the_collector_being_down_changes_no_function_result(
    with_layer: Ran, collector_down: Ran
) -> None:
    """With nothing listening at the endpoint, every invocation returns exactly as before."""
    assert _outcomes(collector_down.runs) == _outcomes(with_layer.runs)


def test_a_hung_collector_changes_no_function_result(with_layer: Ran, collector_hung: Ran) -> None:
    """With an endpoint that accepts connections and never answers, results are unchanged."""
    assert _outcomes(collector_hung.runs) == _outcomes(with_layer.runs)


def test_every_function_process_is_gone_after_the_run(with_layer: Ran) -> None:
    """After shutdown no function process of the stage is left running."""
    service = with_layer.stage.service
    assert service is not None
    for name in service.functions:
        for env in service.environments(name):
            assert env.pid is None, name


def _invocation_spans(ran: Ran) -> dict[str, Any]:
    """faas.invocation_id -> the exported invocation span, from every body the tap saw."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    tap = ran.stage.tap
    assert tap is not None
    found: dict[str, Any] = {}
    for path, body in tap.bodies:
        if not path.endswith("/v1/traces"):
            continue
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    for a in span.attributes:
                        if a.key == "faas.invocation_id":
                            found[a.value.string_value] = span
    return found


def test_lambdaguard_log_line_is_json_per_exported_or_failed_invocation(with_layer: Ran) -> None:
    """By default the log goes as the spans go: a JSON line names each invocation exported
    as spans, and each failed one; a repeat that was only counted writes none."""
    lines = with_layer.stage.log_path.read_text().splitlines()
    docs = []
    for line in lines:
        _, _, text = line.partition(": ")
        if text.startswith("{") and '"lambdaguard"' in text:
            docs.append(json.loads(text))
    logged = [d.get("request_id") for d in docs]
    assert len(logged) == len(set(logged))  # one line per invocation at most
    exported = set(_invocation_spans(with_layer))
    assert exported, "nothing was exported as spans"
    made = {run.result.request_id for run in with_layer.runs}
    for run in with_layer.runs:
        if run.result.request_id in exported:
            assert run.result.request_id in logged, run.function
    assert set(logged) <= made
    # Every line is for an exported invocation or a failed one (a repeated error is
    # counted, yet still logged).
    failed = {run.result.request_id for run in with_layer.runs if not run.result.ok}
    assert set(logged) <= exported | failed
    repeats = made - exported - failed
    assert repeats, "no invocation repeated another: the test shows nothing about repeats"
    assert not repeats & set(logged)


def test_api_requests_link_their_xray_trace(with_layer: Ran) -> None:
    """An API Gateway request's X-Ray context (passed on by Lambda) is a link of its exported span.

    The OpenTelemetry conventions for AWS Lambda make it the parent only with the
    ``xray-lambda`` propagator; by default the trace starts in the function.
    """
    links = {
        request_id: [link.trace_id.hex() for link in span.links]
        for request_id, span in _invocation_spans(with_layer).items()
    }
    checked = 0
    for run in with_layer.runs:
        if run.trigger.startswith("api") and run.result.ok and run.result.request_id in links:
            root = run.event["headers"]["x-amzn-trace-id"].removeprefix("Root=1-")
            assert root.replace("-", "") in links[run.result.request_id]
            checked += 1
    assert checked >= 2  # evidence mode exports the API functions' invocations with new facts
