"""Inventory budgets: 5,000 functions from exported files in under 10 s; live API calls per function.

1. Offline: writes the files an account's owners export (``list-functions``,
   ``list-event-source-mappings``, one ``get-policy`` per function with a
   policy, ``list-rules`` with targets, a tagging ``get-resources``) and a
   lambdaguard bundle holding a year of daily CloudWatch metrics, for N
   functions, then times ``lambdaguard inventory --from`` end to end (a fresh
   process, as a user runs it) and its read/assemble/judge steps in-process.
2. Live: seeds moto (in server mode) with the 50-function fleet the tests use
   and counts every AWS API call the live reader makes, per operation and per
   function.

Prints tables; asserts nothing.

    python bench/bench_inventory.py [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

NOW = datetime(2026, 5, 15, 12, tzinfo=UTC)
REGION = "eu-west-1"
ACCOUNT = "123456789012"
BUDGET_S = 10.0


def _fn(i: int) -> dict[str, Any]:
    name = f"svc-{i:05d}"
    return {
        "FunctionName": name,
        "FunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        "Runtime": "python3.8" if i % 13 == 0 else "python3.12",
        "Role": f"arn:aws:iam::{ACCOUNT}:role/svc-{i % 200}",
        "LastModified": "2025-11-02T03:04:05.000+0000",
        "PackageType": "Zip",
        "Architectures": ["arm64" if i % 3 else "x86_64"],
        "Layers": [{"Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:lambdaguard-python312:3"}]
        if i % 2
        else [],
    }


def write_exports(root: Path, n: int) -> None:
    """The exported files for n functions (one directory)."""
    functions = [_fn(i) for i in range(n)]
    (root / "list-functions.json").write_text(json.dumps({"Functions": functions}))
    mappings = [
        {
            "UUID": f"{i:08d}-0000-0000-0000-000000000000",
            "FunctionArn": f["FunctionArn"],
            "EventSourceArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q-{i}",
            "State": "Enabled" if i % 7 else "Disabled",
        }
        for i, f in enumerate(functions)
        if i % 3 == 0
    ]
    (root / "list-event-source-mappings.json").write_text(
        json.dumps({"EventSourceMappings": mappings})
    )
    policies = root / "policies"
    policies.mkdir()
    for i, f in enumerate(functions):
        if i % 4:
            continue
        statement = {
            "Sid": "s3",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "lambda:InvokeFunction",
            "Resource": f["FunctionArn"],
            "Condition": {"ArnLike": {"AWS:SourceArn": f"arn:aws:s3:::bucket-{i}"}},
        }
        (policies / f"{f['FunctionName']}.json").write_text(
            json.dumps({"Policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})})
        )
    rules = [
        {
            "Name": f"r-{i}",
            "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/r-{i}",
            "State": "ENABLED",
            "ScheduleExpression": "cron(0 3 1 * ? *)" if i % 2 else "cron(0 9 1 JAN ? *)",
            "Targets": [{"Id": "1", "Arn": functions[i]["FunctionArn"]}],
        }
        for i in range(0, n, 5)
    ]
    (root / "list-rules.json").write_text(json.dumps({"Rules": rules}))
    (root / "tags.json").write_text(
        json.dumps(
            {
                "ResourceTagMappingList": [
                    {
                        "ResourceARN": f["FunctionArn"],
                        "Tags": [{"Key": "owner", "Value": f"user{i % 50}"}] if i % 5 else [],
                    }
                    for i, f in enumerate(functions)
                ]
            }
        )
    )


def write_bundle(path: Path, n: int) -> None:
    """A lambdaguard bundle with a year of daily metrics for n functions."""
    functions = [_fn(i) for i in range(n)]
    days = [(NOW.date() - timedelta(days=d)).isoformat() for d in range(365)]
    metrics = {}
    for i, f in enumerate(functions):
        active = days[: 1 + (i % 40)] if i % 3 else days[200:210]
        metrics[f["FunctionName"]] = {
            "Invocations": {d: 5.0 for d in active},
            "Errors": {d: 0.0 for d in active[:2]},
        }
    section = {
        "Region": REGION,
        "Account": ACCOUNT,
        "Functions": functions,
        "Metrics": metrics,
        "MetricsComplete": list(metrics),
        "Complete": [
            "functions",
            "mappings",
            "policies",
            "urls",
            "rules",
            "schedules",
            "subscriptions",
            "notifications",
            "tags",
            "queues",
        ],
    }
    path.write_text(json.dumps({"lambdaguard": "lambdaguard.inventory/1", "regions": [section]}))


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def offline(n: int) -> list[tuple[str, str, str]]:
    from lambdaguard.analysis.inventory import assemble, read_exports
    from lambdaguard.analysis.verdicts import judge_all

    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "exports"
        root.mkdir()
        write_exports(root, n)
        bundle = Path(tmp) / "bundle.json"
        write_bundle(bundle, n)
        for label, source in (("CLI exports", root), ("lambdaguard bundle", bundle)):
            t0 = time.perf_counter()
            sections, warnings, users = read_exports([source], default_region=REGION)
            t1 = time.perf_counter()
            inventory = assemble(sections, users=users, extra_warnings=warnings)
            t2 = time.perf_counter()
            findings = judge_all(inventory, now=NOW, window=timedelta(days=90))
            t_read, t_asm, t_judge = t1 - t0, t2 - t1, time.perf_counter() - t2
            env = {
                k: v
                for k, v in os.environ.items()
                if k not in ("LAMBDAGUARD_STORE", "AWS_ENDPOINT_URL")
            }
            started = time.perf_counter()
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "lambdaguard",
                    "inventory",
                    "--from",
                    str(source),
                    "--format",
                    "json",
                    "--now",
                    NOW.isoformat(),
                    "--region",
                    REGION,
                ],
                capture_output=True,
                env=env,
                check=False,
            )
            total = time.perf_counter() - started
            judged = len(json.loads(proc.stdout)["functions"]) if proc.stdout else 0
            verdicts: dict[str, int] = {}
            for f in findings:
                verdicts[f.verdict] = verdicts.get(f.verdict, 0) + 1
            rows.append(
                (
                    f"{label}: {n} functions",
                    f"{total:.2f} s (read {t_read:.2f}, assemble {t_asm:.2f}, judge {t_judge:.2f})",
                    f"{'within' if total < BUDGET_S else 'OVER'} {BUDGET_S:.0f} s; "
                    f"{judged} judged; "
                    + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())),
                )
            )
    return rows


def live() -> list[tuple[str, str, str]]:
    from lambdaguard.analysis._live import LiveReader
    from lambdaguard.local.aws import start_moto
    from lambdaguard.local.fleet import seed_fleet

    server = start_moto()
    try:
        fleet = seed_fleet(server, now=NOW, region="us-east-1")
        reader = LiveReader(server.client, ["us-east-1"], now=NOW)
        elapsed, _ = _timed(reader.read)
    finally:
        server.stop()
    n = len(fleet.expected)
    total = sum(reader.calls.values())
    per_function = {k: v for k, v in reader.calls.items() if v >= n}
    fixed = total - sum(per_function.values())
    rows = [
        (
            f"live, moto: {n} functions",
            f"{total} calls = {total / n:.2f} per function ({elapsed:.1f} s)",
            f"{sum(per_function.values()) // n} per function "
            f"({', '.join(sorted(per_function))}) + {fixed} account-wide",
        )
    ]
    for op, count in sorted(reader.calls.items()):
        rows.append((f"  {op}", str(count), "per function" if count >= n else "account-wide"))
    return rows


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    n = 1000 if quick else 5000
    rows = offline(n) + live()
    width = max(len(r[0]) for r in rows)
    print(f"{'inventory':<{width}}  {'measured':<52}  note")
    for label, measured, note in rows:
        print(f"{label:<{width}}  {measured:<52}  {note}")
    print(
        f"(budget: {BUDGET_S:.0f} s for 5,000 functions from exported files; printed, not asserted)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
