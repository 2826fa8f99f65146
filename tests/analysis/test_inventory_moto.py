"""`lambdaguard inventory` end to end against moto in server mode, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lambdaguard.cli import main
from lambdaguard.local.fleet import Fleet

from .conftest import NOW


def inventory(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["inventory", "--now", NOW.isoformat(), "--format", "json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out)


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in doc["functions"]}


def test_every_seeded_function_gets_its_verdict_flags_and_layer(
    fleet: Fleet, aws_env: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """At least 50 functions: each has the verdict, flags and layer the seed intends."""
    directory = tmp_path / "staff.csv"
    directory.write_text("name,team\nalice,payments\ncarol,payments\n")
    code, doc = inventory(capsys, "--region", "us-east-1", "--directory", str(directory))
    found = by_name(doc)
    assert len(fleet.expected) >= 50
    assert set(fleet.expected) <= set(found)
    for name, want in fleet.expected.items():
        got = found[name]
        assert got["verdict"] == want.verdict, (name, got["reasons"])
        assert set(want.flags) <= set(got["flags"]), (name, got["flags"], got["flag_reasons"])
        assert got["lambdaguard_layer"] is want.layer, name
        for key in (
            "name",
            "arn",
            "verdict",
            "reasons",
            "confidence",
            "flags",
            "triggers",
            "last_invoked",
        ):
            assert key in got
    verdicts = {f["verdict"] for f in doc["functions"]}
    assert verdicts == {"active", "idle", "idle-expected", "dead"}
    assert code == (1 if doc["partial"] else 0)
    assert doc["partial"] is False, doc["warnings"]


def test_triggers_and_sources_are_described(
    fleet: Fleet, aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A deleted queue, a deleted bucket, a disabled mapping and a public URL are each named."""
    _, doc = inventory(capsys, "--region", "us-east-1")
    found = by_name(doc)
    (mapping,) = found["fleet-queue-deleted"]["triggers"]
    assert mapping["kind"] == "event-source-mapping"
    assert mapping["source_exists"] is False
    (permission,) = found["fleet-bucket-deleted"]["triggers"]
    assert permission["source"] == "arn:aws:s3:::fleet-old-exports"
    assert permission["source_exists"] is False
    (disabled,) = found["fleet-disabled-mapping"]["triggers"]
    assert disabled["enabled"] is False
    (url,) = found["fleet-public-url"]["triggers"]
    assert url["public"] is True
    yearly = found["fleet-yearly-audit"]
    (schedule,) = yearly["schedules"]
    assert schedule["timezone"] == "Europe/Paris"
    assert schedule["next_due"] == "2026-08-15T04:00:00+00:00"
    assert schedule["due_in_window"] is False
    dead = found["fleet-no-trigger"]
    commands = [step["command"] for step in dead["plan"]]
    assert any("--reserved-concurrent-executions 0" in c for c in commands)
    assert doc["api_calls"]["lambda:ListFunctions"] >= 1


def test_monthly_schedule_is_idle_expected_in_a_short_window(
    fleet: Fleet, aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a 10-day window, a monthly job last due on the 1st is idle-expected, not dead."""
    _, doc = inventory(capsys, "--region", "us-east-1", "--window", "10d")
    monthly = by_name(doc)["fleet-monthly-report"]
    assert monthly["verdict"] == "idle-expected"
    assert any("next due 2026-06-01 03:00 UTC" in r for r in monthly["reasons"])


def test_admin_role_is_flagged_with_its_attack_surface(
    fleet: Fleet, aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The admin role is flagged and its attack surface counted; a basic role's is not admin."""
    _, doc = inventory(capsys, "--region", "us-east-1")
    admin = by_name(doc)["fleet-admin-worker"]
    assert "admin-equivalent" in admin["flags"]
    assert admin["attack_surface"]["admin_equivalent"] is True
    assert admin["attack_surface"]["access_levels"]["Permissions management"] > 100
    basic = by_name(doc)["fleet-api-00"]["attack_surface"]
    assert basic["admin_equivalent"] is False
    assert basic["access_levels"] is not None


def test_live_and_exported_bundle_build_the_same_findings(
    fleet: Fleet, aws_env: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """What was read live, saved and read back offline, is judged identically."""
    bundle = tmp_path / "bundle.json"
    _, live = inventory(capsys, "--region", "us-east-1", "--save", str(bundle))
    _, offline = inventory(capsys, "--from", str(bundle))

    # The roles' grants are read live only (offline needs --authorization-details), so the
    # attack surface, the admin flag it raises and the risk it adds are left out here.
    def comparable(doc: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for found in doc["functions"]:
            f = {k: v for k, v in found.items() if k not in ("attack_surface", "risk")}
            f["flags"] = [x for x in f["flags"] if x != "admin-equivalent"]
            f["flag_reasons"].pop("admin-equivalent", None)
            out[f["arn"]] = f
        return out

    a, b = comparable(offline), comparable(live)
    assert a.keys() == b.keys()
    for arn in a:
        assert a[arn] == b[arn], {
            k: (a[arn][k], b[arn][k]) for k in a[arn] if a[arn][k] != b[arn].get(k)
        }
    assert "--authorization-details" in " ".join(offline["notes"])
    assert offline["api_calls"] == {}


def test_text_output_is_a_table_with_plans(
    fleet: Fleet, aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The terminal view lists functions and prints the clean-up commands, changing nothing."""
    code = main(["inventory", "--now", NOW.isoformat(), "--region", "us-east-1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "fleet-queue-deleted" in out
    # The orphaned mapping is still enabled: the plan disables it first.
    assert "aws lambda update-event-source-mapping --uuid" in out
    assert "aws lambda put-function-concurrency --function-name fleet-no-trigger" in out
    assert "nothing was changed" in out


def test_bad_input_and_unreachable_aws(
    aws_env: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad window is exit 2 naming the flag; an endpoint nobody listens on is exit 3."""
    assert main(["inventory", "--window", "soon", "--region", "us-east-1"]) == 2
    assert "--window" in capsys.readouterr().err
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    assert main(["inventory", "--region", "us-east-1"]) == 3
    assert "could not be reached" in capsys.readouterr().err
