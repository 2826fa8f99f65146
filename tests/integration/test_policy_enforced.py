"""End to end: over-broad roles, the layer, the collector, the proposal, and moto's IAM as a second proof.

The sample account's roles are what people write: AWS managed full-access
policies (orders-api, thumbnailer), ``"Action": "*"`` (nightly-report), a
``NotAction`` (queue-worker), a scoped inline policy (slow-export); this module
adds an explicit ``Deny`` to thumbnailer's role and a permissions boundary to
slow-export's. The functions run through the local Lambda runtime with the
layer, the collector stores what they did, analysis proposes (grants read live
from moto), and then the second, independent proof: each function runs again
with credentials of a role carrying only its proposal, under moto's IAM
enforcement, and calls it never made are refused.

moto 5 matches resources for S3 only; for DynamoDB, SQS, SNS, SSM and Secrets
Manager it authorizes against ``*``, so those statements are attached with
their resources widened to ``*`` (an action-level proof) and the resource-level
proof of them is the evaluator's replay (``lambdaguard.local.enforce``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.analysis._account import export_account

from lambdaguard.local.demo_policy import PolicyDemo, run
from lambdaguard.local.harness import Invocation, Stage

pytestmark = pytest.mark.integration

DENY_DELETES = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "KeepUploads", "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"}
    ],
}
BOUNDARY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:*", "logs:*"], "Resource": "*"}],
}


class Ran:
    """The stage after both workloads, with the proposals and their moto proof."""

    def __init__(
        self, stage: Stage, first: list[Invocation], demo: PolicyDemo, exports: dict[str, Path]
    ) -> None:
        self.stage = stage
        self.first = first
        self.demo = demo
        self.exports = exports

    def proposal(self, name: str) -> Any:
        (fn,) = [f for f in self.demo.findings.functions if f.name == name]
        assert fn.proposal is not None
        return fn.proposal

    def proof(self, name: str) -> Any:
        (found,) = [p for p in self.demo.proofs if p.function == name]
        return found


def _harden(stage: Stage) -> None:
    """An explicit deny on thumbnailer's role, a permissions boundary on slow-export's."""
    assert stage.moto is not None
    iam = stage.moto.client("iam")
    iam.put_role_policy(
        RoleName="thumbnailer-role",
        PolicyName="keep-uploads",
        PolicyDocument=json.dumps(DENY_DELETES),
    )
    arn = iam.create_policy(PolicyName="workload-boundary", PolicyDocument=json.dumps(BOUNDARY))[
        "Policy"
    ]["Arn"]
    iam.put_role_permissions_boundary(RoleName="slow-export-role", PermissionsBoundary=arn)


@pytest.fixture(scope="module")
def ran(layer_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    """The workload with the layer, the proposals, the workload again under enforcement."""
    work = tmp_path_factory.mktemp("policy-enforced")
    stage = Stage(work, layer_zip=layer_zip)
    try:
        stage.start()
        _harden(stage)
        first = stage.run_workload()
        stage.shutdown_functions()
        assert stage.moto is not None
        exports = export_account(stage.moto, work)
        yield Ran(stage, first, run(stage, first), exports)
    finally:
        stage.stop()


def test_every_proposal_is_proved_by_replay_and_has_no_escalation_path(ran: Ran) -> None:
    """Each function lambdaguard heard from gets a proposal that passes every check of the proof."""
    names = sorted(f.name for f in ran.demo.findings.functions if f.proposal is not None)
    assert names == ["nightly-report", "orders-api", "queue-worker", "slow-export", "thumbnailer"]
    for name in names:
        p = ran.proposal(name)
        assert p.proved, (name, [c for c in p.proof if not c.passed])
        assert p.escalation_paths_after == 0, (name, p.paths_after)


def test_every_function_still_works_with_only_its_proposal_under_moto(ran: Ran) -> None:
    """Under moto's IAM enforcement, every invocation ends as it did with the over-broad role."""
    assert len(ran.demo.proofs) == 5
    for proof in ran.demo.proofs:
        assert proof.still_works, (proof.function, proof.before, proof.after)
        assert sum(proof.after.values()) > 0


def test_calls_the_functions_never_made_are_refused(ran: Ran) -> None:
    """With the proposed credentials, an IAM read, another object and a table deletion are refused."""
    for proof in ran.demo.proofs:
        assert proof.not_refused == (), (proof.function, proof.not_refused)
        assert ("iam:ListUsers", "AccessDenied") in proof.refused
    thumbs = [name for name, _ in ran.proof("thumbnailer").refused]
    # S3: moto matches resources, so an object outside the kept prefix is refused.
    assert any(n.startswith("s3:GetObject on lg-demo-uploads/") for n in thumbs)
    orders = [name for name, _ in ran.proof("orders-api").refused]
    assert any(n.startswith("dynamodb:DeleteTable") for n in orders)


def test_wide_roles_are_narrowed_to_the_calls(ran: Ran) -> None:
    """Action ``*`` and NotAction become the few actions used; the explicit deny and boundary count."""
    nightly = ran.proposal("nightly-report")
    assert nightly.admin_equivalent
    assert nightly.escalation_paths_now > 10
    actions = {a for st in nightly.statements for a in st.actions}
    assert {"ssm:GetParameter", "s3:ListBucket", "s3:PutObject", "sns:Publish"} <= actions
    assert not any(a.startswith("iam:") for a in actions)
    worker = ran.proposal("queue-worker")
    assert {a for st in worker.statements for a in st.actions} >= {
        "dynamodb:UpdateItem",
        "sqs:SendMessage",
    }
    # The Lambda service polls the queue for it: kept, and explained.
    assert any(
        st.origin == "lambda-service" and "sqs:ReceiveMessage" in st.actions
        for st in worker.statements
    )
    export = ran.proposal("slow-export")
    assert export.boundary is not None
    assert export.boundary.endswith("workload-boundary")
    thumb = ran.proposal("thumbnailer")
    assert thumb.role_arn == "arn:aws:iam::123456789012:role/thumbnailer-role"
    # The explicit deny takes s3:DeleteObject out of what is granted: it is not "unused".
    assert "s3:DeleteObject" not in {u.action for u in thumb.unused}


def test_kept_statements_cite_their_calls(ran: Ran) -> None:
    """Every statement the calls need cites them, with a trace and span id of one occurrence."""
    for fn in ran.demo.findings.functions:
        if fn.proposal is None:
            continue
        for st in fn.proposal.statements:
            if st.origin == "used":
                assert st.evidence, (fn.name, st.sid)
                assert all(c.trace_id and c.span_id and c.count > 0 for c in st.evidence)
            if st.origin == "lambda-service":
                assert st.reasons, (fn.name, st.sid)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lambdaguard", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_policy_command_from_exports(ran: Ran) -> None:
    """``lambdaguard policy`` with exported files prints the proposal the analysis made, proved."""
    files = [
        "--store",
        ran.stage.store_url,
        "--authorization-details",
        str(ran.exports["auth"]),
        "--functions",
        str(ran.exports["functions"]),
        "--event-source-mappings",
        str(ran.exports["esm"]),
    ]
    out = _cli("policy", "thumbnailer", "--format", "json", *files)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["schema"] == "lambdaguard.policy/1"
    assert doc["proved"] is True
    assert doc["role"].endswith("role/thumbnailer-role")
    assert doc["policies"] == list(ran.proposal("thumbnailer").policies)
    terraform = _cli("policy", "thumbnailer", "--format", "terraform", *files)
    assert terraform.returncode == 0, terraform.stderr
    assert 'data "aws_iam_policy_document" "thumbnailer"' in terraform.stdout
    unknown = _cli("policy", "no-such-function", *files)
    assert unknown.returncode == 2
    assert "no-such-function" in unknown.stderr


def test_the_findings_command_from_exports(ran: Ran) -> None:
    """``lambdaguard findings --format json``: every function, riskiest first, with its proposal."""
    out = _cli(
        "findings",
        "--format",
        "json",
        "--store",
        ran.stage.store_url,
        "--authorization-details",
        str(ran.exports["auth"]),
        "--functions",
        str(ran.exports["functions"]),
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["schema"] == "lambdaguard.findings/2"
    scores = [f["risk"]["score"] for f in doc["functions"]]
    assert scores == sorted(scores, reverse=True)
    first = doc["functions"][0]
    assert first["name"] == "nightly-report"
    assert first["proposal"]["admin_equivalent"] is True
    assert first["proposal"]["policies"]
