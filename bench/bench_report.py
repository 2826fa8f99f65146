"""The HTML report for a large store: time to build it and its size.

Seeds a SQLite store the way the collector fills it (OTLP requests reduced by
the collector's ``extract`` and ingested by the store; the fleet builder of
``tests/sample_fleet.py``) with N functions, each invoked once a day for 30 days with
10 distinct AWS calls on its own resources, two hosts and one trigger; and
records the account's inventory of them (as ``lambdaguard inventory`` does:
each with its queue mapping, 30 days of CloudWatch invocations, and a tenth
more that lambdaguard never heard from, dead or idle), so every report also
judges every verdict from the store. Then times, separately: reading the evidence and mapping every call to its IAM
requests (``analyse``), building the findings document, and rendering the
page; and ``lambdaguard report`` end to end in a fresh process. Budget: a
1,000-function report in under 10 s on this 2-core machine. Prints, asserts
nothing; ``--quick`` measures 100 and 1,000 functions only once each.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import sample_fleet as fleet  # noqa: E402 - tests/sample_fleet.py, the same builder the report's tests use
from lambdaguard.analysis.fleet import analyse, open_for_reading  # noqa: E402
from lambdaguard.collector.store import open_store  # noqa: E402
from lambdaguard.views.document import document  # noqa: E402
from lambdaguard.views.report import render_html  # noqa: E402

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
DAYS = 30


def _function(i: int) -> fleet.Function:
    calls = (
        fleet.Call("s3", "GetObject", {"Bucket": f"bucket-{i}", "Key": "in/"}),
        fleet.Call("s3", "PutObject", {"Bucket": f"bucket-{i}", "Key": "out/"}),
        fleet.Call("dynamodb", "GetItem", {"TableName": f"table-{i}"}),
        fleet.Call("dynamodb", "PutItem", {"TableName": f"table-{i}"}),
        fleet.Call("dynamodb", "Query", {"TableName": f"table-{i}", "IndexName": "by-date"}),
        fleet.Call(
            "sqs",
            "SendMessage",
            {"QueueUrl": f"https://sqs.eu-west-1.amazonaws.com/111122223333/queue-{i}"},
        ),
        fleet.Call("secretsmanager", "GetSecretValue", {"SecretId": f"app/{i}/db"}),
        fleet.Call("ssm", "GetParameter", {"Name": f"/app/{i}/url"}),
        fleet.Call("sns", "Publish", {"TopicArn": f"arn:aws:sns:eu-west-1:111122223333:t-{i}"}),
        fleet.Call("kms", "Decrypt", {}),
    )
    invs = [
        fleet.Inv(
            NOW - timedelta(days=d, hours=i % 24),
            cold=d % 7 == 0,
            outcome="error" if d % 11 == 0 else "success",
            error_type="ValueError" if d % 11 == 0 else "",
            duration_ms=20 + (i + d) % 300,
            trigger=("sqs", f"arn:aws:sqs:eu-west-1:111122223333:in-{i}"),
            calls=calls,
            hosts=(("api.example.com", 443, True), (f"h{i % 50}.example.net", 80, i % 10 == 0)),
        )
        for d in range(DAYS)
    ]
    return fleet.Function(fleet.arn(f"function-{i:05d}"), invs)


def _inventory(n: int) -> object:
    """The account's listing: the n functions and n/10 more nobody invoked (half dead, half idle)."""
    from lambdaguard.analysis import inventory as inv
    from lambdaguard.analysis.inventory import FunctionInfo, Inventory, Trigger

    days = {(NOW - timedelta(days=d)).date(): 24 for d in range(DAYS)}
    functions = [
        FunctionInfo(
            name=f"function-{i:05d}",
            arn=fleet.arn(f"function-{i:05d}"),
            region=fleet.REGION,
            account=fleet.ACCOUNT,
            runtime="python3.12",
            role=f"arn:aws:iam::{fleet.ACCOUNT}:role/function-{i:05d}",
            tags={"team": "payments"},
            triggers=(
                Trigger(inv.ESM, f"arn:aws:sqs:eu-west-1:111122223333:in-{i}", ident=f"u-{i}"),
            ),
            invocations=days,
            errors={},
            metrics_complete=True,
        )
        for i in range(n)
    ]
    functions += [
        FunctionInfo(
            name=f"unused-{i:05d}",
            arn=fleet.arn(f"unused-{i:05d}"),
            region=fleet.REGION,
            account=fleet.ACCOUNT,
            runtime="python3.8",
            role=f"arn:aws:iam::{fleet.ACCOUNT}:role/unused-{i:05d}",
            triggers=(
                Trigger(
                    inv.ESM,
                    f"arn:aws:sqs:eu-west-1:111122223333:old-{i}",
                    source_exists=i % 2 == 1,
                    ident=f"o-{i}",
                ),
            ),
            invocations={},
            errors={},
            metrics_complete=True,
        )
        for i in range(n // 10)
    ]
    return Inventory(tuple(functions))


def _seed(url: str, n: int) -> float:
    from lambdaguard.analysis import stored

    started = time.perf_counter()
    store = open_store(url)
    for start in range(0, n, 50):
        fleet.seed(store, [_function(i) for i in range(start, min(n, start + 50))], now=NOW)
    stored.record(store, _inventory(n), now=NOW, source="live")  # type: ignore[arg-type]
    store.close()
    return time.perf_counter() - started


def _measure(n: int, folder: Path) -> dict[str, float]:
    url = f"sqlite:///{folder / f'store-{n}.db'}"
    seeded = _seed(url, n)
    t0 = time.perf_counter()
    store = open_for_reading(url)
    findings = analyse(store, now=NOW, source=url)
    store.close()
    t1 = time.perf_counter()
    doc = document(findings)
    t2 = time.perf_counter()
    html = render_html(doc)
    t3 = time.perf_counter()
    out = folder / f"report-{n}.html"
    cli_started = time.perf_counter()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "lambdaguard", "report", "--store", url, "-o", str(out)],
        check=True,
        capture_output=True,
    )
    cli = time.perf_counter() - cli_started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cli_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (
        cpu_after.ru_stime - cpu_before.ru_stime
    )
    return {
        "seed_s": seeded,
        "analyse_s": t1 - t0,
        "document_s": t2 - t1,
        "render_s": t3 - t2,
        "cli_s": cli,
        "cli_cpu_s": cli_cpu,
        "size_mb": len(html.encode()) / 1e6,
        "file_mb": out.stat().st_size / 1e6,
        "calls": sum(f.evidence.calls_count for f in findings.functions if f.evidence),
        "judged": sum(1 for f in findings.functions if f.judgement is not None),
        "functions": len(findings.functions),
    }


def main(argv: list[str]) -> int:
    sizes = [100, 1000]
    print(__doc__.splitlines()[0])
    print(f"each function: {DAYS} days, 10 distinct calls, 2 hosts, 1 trigger\n")
    header = (
        f"{'functions':>9} {'seed s':>7} {'analyse s':>9} {'document s':>10} {'render s':>8} "
        f"{'in-process s':>12} {'CLI s':>6} {'CLI CPU s':>9} {'size MB':>8} {'judged':>7}  budget"
    )
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            r = _measure(n, Path(tmp))
            inproc = r["analyse_s"] + r["document_s"] + r["render_s"]
            # The budget is wall time on a quiet machine; CPU time stands for it when the
            # machine is shared (a load average above the CPU count stretches wall time).
            budget = ""
            if n == 1000:
                wall = "ok" if r["cli_s"] < 10 else "OVER"
                cpu = "ok" if r["cli_cpu_s"] < 10 else "OVER"
                budget = f"< 10 s: wall {wall}, CPU {cpu}"
            print(
                f"{n:>9} {r['seed_s']:>7.1f} {r['analyse_s']:>9.2f} {r['document_s']:>10.2f} "
                f"{r['render_s']:>8.2f} {inproc:>12.2f} {r['cli_s']:>6.2f} {r['cli_cpu_s']:>9.2f} "
                f"{r['file_mb']:>8.2f} {r['judged']:>7}  {budget}",
                flush=True,
            )
    load = os.getloadavg()[0]
    print(
        "\nin-process: analyse + document + render; CLI: `lambdaguard report` in a fresh "
        "process (imports, IAM data loads, writing the file), wall clock and CPU time. "
        f"Load average during the run: {load:.1f} on {os.cpu_count()} CPUs (wall times grow with it)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
