"""`lambdaguard policy` and `lambdaguard findings` on a real store and exported grants.

The store holds tests/sample_fleet.py's standard fleet (orders-api, nightly-report
with calls signed as an assumed role, legacy-cron); the grants are the files
``aws iam get-account-authorization-details`` and ``aws lambda list-functions``
write. ``--window 3650d`` because the fleet is recorded at the test clock's
"now" while the command reads the real clock (moved a year ahead in the
second run of each test).
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from lambdaguard.cli import main
from timekeeping import Clock

ACCOUNT = "111122223333"
REGION = "eu-west-1"
WINDOW = ("--window", "3650d")


def _role(name: str, *policies: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "RoleName": name,
        "Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}",
        # IAM's API returns documents URL-encoded; the CLI decodes them. Both are read.
        "RolePolicyList": [
            {"PolicyName": n, "PolicyDocument": urllib.parse.quote(json.dumps(d))}
            for n, d in policies
        ],
        "AttachedManagedPolicies": [],
    }


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _function(name: str, role: str) -> dict[str, Any]:
    return {
        "FunctionName": name,
        "FunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        "Role": f"arn:aws:iam::{ACCOUNT}:role/{role}",
        "Runtime": "python3.12",
    }


@pytest.fixture
def exports(tmp_path: Path) -> list[str]:
    """The account's exports: over-broad roles, an assumed role, a role shared with a silent function."""
    auth = {
        "RoleDetailList": [
            _role(
                "orders-role",
                (
                    "data",
                    _doc(
                        {"Effect": "Allow", "Action": ["s3:*", "dynamodb:*"], "Resource": "*"},
                        # A typo AWS accepts and ignores: reported, naming the policy.
                        {"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "*"},
                    ),
                ),
            ),
            _role(
                "nightly-role",
                ("everything", _doc({"Effect": "Allow", "Action": "*", "Resource": "*"})),
            ),
            _role(
                "reporter",
                ("reports", {"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}),
            ),
            _role(
                "legacy-role",
                ("queues", _doc({"Effect": "Allow", "Action": "sqs:*", "Resource": "*"})),
            ),
        ],
        "Policies": [],
        "UserDetailList": [],
        "GroupDetailList": [],
    }
    functions = {
        "Functions": [
            _function("orders-api", "orders-role"),
            _function("nightly-report", "nightly-role"),
            _function("legacy-cron", "legacy-role"),
            # Shares legacy-cron's role; lambdaguard never heard from it.
            _function("silent", "legacy-role"),
        ]
    }
    (tmp_path / "auth.json").write_text(json.dumps(auth))
    (tmp_path / "functions.json").write_text(json.dumps(functions))
    return [
        "--authorization-details",
        str(tmp_path / "auth.json"),
        "--functions",
        str(tmp_path / "functions.json"),
    ]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _policy_json(capsys: pytest.CaptureFixture[str], url: str, exports: list[str], fn: str) -> Any:
    code, out, err = _run(
        capsys, "policy", fn, "--store", url, "--format", "json", *WINDOW, *exports
    )
    assert code == 0, err
    return json.loads(out)


def _allowed(policies: list[dict[str, Any]]) -> set[tuple[str, str]]:
    out = set()
    for doc in policies:
        for st in doc["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            out |= {(a, r) for a in actions for r in resources if st["Effect"] == "Allow"}
    return out


def test_policy_json_is_the_proved_proposal(
    fleet_url: str, exports: list[str], clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """orders-api: s3:* and dynamodb:* on * become its object reads and its table writes, proved."""
    doc = _policy_json(capsys, fleet_url, exports, "orders-api")
    assert doc["schema"] == "lambdaguard.policy/1"
    assert doc["proved"] is True
    assert doc["role"] == f"arn:aws:iam::{ACCOUNT}:role/orders-role"
    assert _allowed(doc["policies"]) == {
        ("s3:GetObject", "arn:aws:s3:::orders/in/*"),
        ("dynamodb:PutItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"),
    }
    assert doc["confidence"]["level"] == "low"
    notes = " ".join(doc["proposal"]["notes"])
    assert "s3:GetObjekt" in notes
    assert "orders-role/data" in notes
    assert all(c["passed"] for c in doc["proof"])


def test_calls_signed_as_an_assumed_role_are_that_roles_need(
    fleet_url: str, exports: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """nightly-report's S3 write was signed as reporter: proposed for reporter; nightly gets AssumeRole."""
    doc = _policy_json(capsys, fleet_url, exports, "nightly-report")
    reporter = f"arn:aws:iam::{ACCOUNT}:role/reporter"
    mine = _allowed(doc["policies"])
    assert ("sts:AssumeRole", reporter) in mine
    assert (
        "ssm:GetParameter",
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/report/recipients",
    ) in mine
    assert not any(a.startswith("s3:") for a, _ in mine)
    (assumed,) = doc["assumed_roles"]
    assert assumed["role_arn"] == reporter
    assert assumed["principal"] == "assumed-role"
    assert _allowed(assumed["policies"]) == {("s3:PutObject", "arn:aws:s3:::reports/daily/*")}


def test_a_role_shared_with_a_function_never_heard_from_fails_the_proof(
    fleet_url: str, exports: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """legacy-role also runs `silent`: its needs are unknown, so nothing is printed as valid; exit 1."""
    code, out, err = _run(
        capsys, "policy", "legacy-cron", "--store", fleet_url, "--format", "json", *WINDOW, *exports
    )
    assert code == 1
    doc = json.loads(out)
    assert doc["proved"] is False
    assert doc["policies"] == []
    assert doc["unproved_policies"]
    assert any(c["check"] == "shared-role" and not c["passed"] for c in doc["proof"])
    code, out, err = _run(
        capsys,
        "policy",
        "legacy-cron",
        "--store",
        fleet_url,
        "--format",
        "terraform",
        *WINDOW,
        *exports,
    )
    assert code == 1
    assert out == ""
    assert "proof failed" in err


def test_terraform_cloudformation_and_the_diff(
    fleet_url: str, exports: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Every format renders the same proposal; the diff in a pipe is plain text."""
    base = ("policy", "orders-api", "--store", fleet_url, *WINDOW, *exports)
    code, tf, _ = _run(capsys, *base, "--format", "terraform")
    assert code == 0
    assert 'data "aws_iam_policy_document" "orders_api"' in tf
    code, cfn, _ = _run(capsys, *base, "--format", "cloudformation")
    assert code == 0
    assert "AWS::IAM::ManagedPolicy" in cfn
    code, diff, _ = _run(capsys, *base)
    assert code == 0
    assert "- Allow s3:* on *" in diff
    assert "+ Allow s3:GetObject on arn:aws:s3:::orders/in/*" in diff
    assert "\x1b[" not in diff
    assert "LOW CONFIDENCE" in diff


def test_pin_status_unpin(
    fleet_url: str, exports: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """--pin starts a trial, --status reports it (nothing recorded since: no denial), --unpin ends it."""
    base = ("policy", "orders-api", "--store", fleet_url, *WINDOW, *exports)
    code, out, err = _run(capsys, *base, "--pin")
    assert code == 0, err
    assert "pinned" in out
    code, out, err = _run(capsys, *base, "--status", "--format", "json")
    assert code == 0, err
    trial = json.loads(out)["trial"]
    assert trial["calls_checked"] == 0
    assert trial["would_be_denials"] == []
    assert trial["ready"] is False
    code, out, _ = _run(capsys, *base, "--unpin")
    assert code == 0
    assert "trial ended" in out
    code, out, _ = _run(capsys, *base, "--status")
    assert "no proposal is pinned" in out


def test_a_failed_proof_cannot_be_pinned(
    fleet_url: str, exports: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Pinning legacy-cron's unproved proposal is refused with exit 1."""
    code, _, err = _run(
        capsys, "policy", "legacy-cron", "--store", fleet_url, "--pin", *WINDOW, *exports
    )
    assert code == 1
    assert "nothing was pinned" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("policy", "no-such-fn"), "no function 'no-such-fn'"),
        (("policy", "orders-api", "--window", "soon"), "--window"),
        (("policy", "orders-api", "--trial-days", "0"), "--trial-days"),
    ],
)
def test_bad_input_exits_2_naming_it(
    fleet_url: str,
    exports: list[str],
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    """An unknown function, a bad window or trial length: exit 2 with a message naming it."""
    window = () if "--window" in args else WINDOW
    code, _, err = _run(capsys, *args, "--store", fleet_url, *window, *exports)
    assert code == 2
    assert message in err


def test_half_the_exports_or_a_broken_file_exit_2(
    fleet_url: str, exports: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--authorization-details without --functions, or a file that is not JSON: exit 2, named."""
    code, _, err = _run(capsys, "policy", "orders-api", "--store", fleet_url, *exports[:2])
    assert code == 2
    assert "--functions" in err
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    code, _, err = _run(
        capsys,
        "policy",
        "orders-api",
        "--store",
        fleet_url,
        *exports[:2],
        "--functions",
        str(broken),
    )
    assert code == 2
    assert "broken.json" in err


def test_no_store_exits_3(
    tmp_path: Path, exports: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A store that is not there: exit 3, and nothing is created."""
    missing = tmp_path / "nope" / "lambdaguard.db"
    code, _, err = _run(capsys, "policy", "orders-api", "--store", f"sqlite:///{missing}", *exports)
    assert code == 3
    assert "no store" in err
    assert not missing.exists()


def test_aws_unreachable_exits_3(
    fleet_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Grants read live from an endpoint nobody answers: exit 3 naming the API call."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code, _, err = _run(capsys, "policy", "orders-api", "--store", fleet_url, *WINDOW)
    assert code == 3
    assert "lambda" in err.lower()


def test_findings_text_and_json(
    fleet_url: str, exports: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`findings`: every function riskiest first; JSON is the findings document with proposals."""
    code, out, err = _run(capsys, "findings", "--store", fleet_url, "--format", "json", *exports)
    assert code == 0, err
    doc = json.loads(out)
    names = [f["name"] for f in doc["functions"]]
    assert names[0] == "nightly-report"  # admin-equivalent
    assert set(names) == {"nightly-report", "orders-api", "legacy-cron"}
    scores = [f["risk"]["score"] for f in doc["functions"]]
    assert scores == sorted(scores, reverse=True)
    assert doc["functions"][0]["proposal"]["admin_equivalent"] is True
    code, text, _ = _run(capsys, "findings", "--store", fleet_url, *exports)
    assert code == 0
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["FUNCTION", "RISK", "VERDICT"]
    assert lines[1].startswith("nightly-report")
    assert lines[1].split()[2] == "unjudged"
    assert "no inventory in the store" in text
    assert "FAILED" in text  # legacy-cron's shared role


def test_findings_carry_the_stored_verdicts_beside_the_proposals(
    judged_url: str, exports: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """With an inventory in the store, `findings` shows each verdict and the dead functions' plans."""
    code, out, err = _run(capsys, "findings", "--store", judged_url, "--format", "json", *exports)
    assert code == 0, err
    doc = json.loads(out)
    fns = {f["name"]: f for f in doc["functions"]}
    assert fns["orders-api"]["verdict"] == "active"
    assert fns["orders-api"]["proposal"] is not None
    retired = fns["retired-worker"]  # listed by the account only
    assert retired["evidence"] is None
    assert retired["judgement"]["verdict"] == "dead"
    assert retired["judgement"]["attack_surface"]["access_levels"] == {
        "List": 4,
        "Read": 12,
        "Write": 40,
    }
    assert retired["judgement"]["plan"][0]["command"].startswith(
        "aws lambda update-event-source-mapping --uuid u-42 --no-enabled"
    )
    code, text, _ = _run(capsys, "findings", "--store", judged_url, *exports)
    assert code == 0
    assert "verdicts as of the inventory read 2026-11-29 12:00 UTC" in text
    assert "dead: retired-worker: " in text
    assert "dead: legacy-cron: no trigger" in text
