"""Policy proposals for a fleet: the whole `lambdaguard findings` judgement, end to end (issue 8).

Budget: proposals for 1,000 functions with 1,000,000 recorded calls in total in
under 10 s on the 2-core machine; printed with the growth curve at 100 / 1,000
/ 10,000 functions. Each row builds a SQLite store as the collector leaves it
(functions, invocation days and distinct calls with their counts: 20 distinct
call shapes per function, 1,000 recorded calls per function on average) and
times, in a fresh process each:

- ``read+map``: reading the evidence fleet-wide and mapping every distinct call
  to its IAM requests (``analysis.fleet.analyse`` without the policy step);
- ``propose``: the policy step alone: need ∩ grant per role, generalization,
  documents, the proof (IAM data validity, within-grant, replay), granted
  versus used, escalation paths today and after, the diff.

Roles mix what accounts hold: AWS managed full-access policies
(S3, DynamoDB, SQS, Secrets Manager), ``"Action": "*"``, ``NotAction``,
scoped inline policies with an explicit deny and a condition, and a
permissions boundary on a tenth of them. Managed policies are parsed once and
shared, as the grant readers share them. Nothing is asserted; ``--quick`` runs
the 100 and 1,000 rows only.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "iam" / "fixtures" / "managed"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SHAPES = 20  # distinct calls per function
CALLS_PER_FUNCTION = 1_000  # recorded calls per function, summed over the shapes
BUDGET_S = 10.0


def _shapes(i: int) -> list[tuple[str, str, dict[str, Any]]]:
    bucket, table = f"data-{i % 50}", f"orders-{i}"
    queue = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/jobs-{i % 20}"
    out: list[tuple[str, str, dict[str, Any]]] = [
        ("s3", "GetObject", {"Bucket": bucket, "Key": "in/"}),
        ("s3", "PutObject", {"Bucket": bucket, "Key": f"out/{i}/"}),
        ("s3", "ListObjectsV2", {"Bucket": bucket, "Prefix": "in/"}),
        ("dynamodb", "GetItem", {"TableName": table}),
        ("dynamodb", "PutItem", {"TableName": table}),
        ("dynamodb", "Query", {"TableName": table, "IndexName": "by-date"}),
        ("dynamodb", "UpdateItem", {"TableName": table}),
        ("sqs", "SendMessage", {"QueueUrl": queue}),
        ("sqs", "SendMessageBatch", {"QueueUrl": queue}),
        ("secretsmanager", "GetSecretValue", {"SecretId": f"app/{i % 10}/db"}),
        ("ssm", "GetParameter", {"Name": f"/app/{i % 10}/flags"}),
        ("sns", "Publish", {"TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:events-{i % 5}"}),
        ("sts", "GetCallerIdentity", {}),
    ]
    for k in range(SHAPES - len(out)):
        out.append(("dynamodb", "GetItem", {"TableName": f"lookup-{i % 30}-{k}"}))
    return out


def build_store(path: Path, functions: int) -> None:
    """A SQLite store with ``functions`` functions, as the collector would have left it."""
    import sqlalchemy as sa

    from lambdaguard.collector.store import (
        calls_t,
        functions_t,
        invocations_t,
        open_store,
        triggers_t,
    )

    store = open_store(f"sqlite:///{path}")
    store.close()
    engine = sa.create_engine(f"sqlite:///{path}")
    rng = random.Random(7)
    now_ns = int(NOW.timestamp() * 1e9)
    day_ns = 86_400 * 10**9
    with engine.begin() as conn:
        fn_rows, call_rows, day_rows, trig_rows = [], [], [], []
        for i in range(functions):
            arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn-{i:05d}"
            fn_rows.append(
                {
                    "arn": arn,
                    "account": ACCOUNT,
                    "region": REGION,
                    "name": f"fn-{i:05d}",
                    "layer_version": "0.2.0",
                    "first_seen": now_ns - 60 * day_ns,
                    "last_seen": now_ns - day_ns,
                    "runtime": "python3.12",
                    "last_invoked": now_ns - day_ns,
                }
            )
            shapes = _shapes(i)
            weights = [rng.random() + 0.05 for _ in shapes]
            scale = CALLS_PER_FUNCTION / sum(weights)
            for k, ((service, operation, params), w) in enumerate(
                zip(shapes, weights, strict=True)
            ):
                call_rows.append(
                    {
                        "arn": arn,
                        "call_key": rng.randbytes(16),
                        "service": service,
                        "operation": operation,
                        "region": REGION,
                        "params": json.dumps(params, sort_keys=True),
                        "phase": "invoke",
                        "error_code": "",
                        "kms_key_id": "",
                        "presign": False,
                        "count": max(1, round(w * scale)),
                        "first_seen": now_ns - 50 * day_ns,
                        "last_seen": now_ns - (k % 5) * day_ns,
                        "response": "{}",
                        "params_complete": True,
                        "credentials": "execution-role",
                        "role_arn": "",
                        "via": "sdk",
                        "source": "lambdaguard",
                        "trace_id": f"{i:016x}{k:016x}",
                        "span_id": f"{k:016x}",
                    }
                )
            for d in range(30):
                day = (NOW - timedelta(days=d + 1)).strftime("%Y-%m-%d")
                day_rows.append(
                    {
                        "arn": arn,
                        "day": day,
                        "count": 40,
                        "cold_starts": 2,
                        "errors": 0,
                        "timeouts": 0,
                    }
                )
            trig_rows.append(
                {
                    "arn": arn,
                    "kind": "sqs",
                    "source": f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs-{i % 20}",
                    "count": 1200,
                    "first_seen": now_ns - 50 * day_ns,
                    "last_seen": now_ns - day_ns,
                }
            )
        conn.execute(sa.insert(functions_t), fn_rows)
        for chunk in range(0, len(call_rows), 20_000):
            conn.execute(sa.insert(calls_t), call_rows[chunk : chunk + 20_000])
        conn.execute(sa.insert(invocations_t), day_rows)
        conn.execute(sa.insert(triggers_t), trig_rows)
    engine.dispose()


def _roles(functions: int) -> list[Any]:
    from lambdaguard.analysis.proposal import Role
    from lambdaguard.iam import parse_policy

    managed = {
        p.stem: parse_policy(p.read_text(), name=p.stem, arn=f"arn:aws:iam::aws:policy/{p.stem}")
        for p in sorted(FIXTURES.glob("*.json"))
    }
    boundary = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}
            ],
        },
        name="workload-boundary",
        arn=f"arn:aws:iam::{ACCOUNT}:policy/workload-boundary",
    )
    basic = managed["AWSLambdaBasicExecutionRole"]
    roles = []
    for i in range(functions):
        kind = i % 10
        inline = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                    "Resource": [f"arn:aws:s3:::data-{i % 50}", f"arn:aws:s3:::data-{i % 50}/*"],
                },
                {
                    "Effect": "Allow",
                    "Action": ["dynamodb:*"],
                    "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/*",
                    "Condition": {"Bool": {"aws:SecureTransport": "true"}},
                },
                {
                    "Effect": "Allow",
                    "Action": ["sqs:*", "sns:Publish", "ssm:GetParameter"],
                    "Resource": "*",
                },
                {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
                {"Effect": "Deny", "Action": "s3:Delete*", "Resource": "arn:aws:s3:::audit/*"},
            ],
        }
        if kind in (0, 1, 2):
            policies = (
                basic,
                managed["AmazonS3FullAccess"],
                managed["AmazonDynamoDBFullAccess"],
                managed["SecretsManagerReadWrite"],
                parse_policy(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["sqs:*", "sns:*", "ssm:*"],
                                "Resource": "*",
                            }
                        ],
                    },
                    name=f"fn-{i}-role/queues",
                ),
            )
        elif kind == 3:
            policies = (
                parse_policy(
                    {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                    },
                    name=f"fn-{i}-role/everything",
                ),
            )
        elif kind == 4:
            policies = (
                basic,
                parse_policy(
                    {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}],
                    },
                    name=f"fn-{i}-role/all-but-iam",
                ),
            )
        else:
            policies = (basic, parse_policy(inline, name=f"fn-{i}-role/inline"))
        roles.append(
            Role(
                f"arn:aws:iam::{ACCOUNT}:role/fn-{i:05d}-role",
                policies,
                boundary=boundary if kind == 5 else None,
            )
        )
    return roles


class _Logs:
    """What the Lambda service writes with the role (the service-needs module's shape)."""

    def __init__(self, name: str) -> None:
        self.action = "logs:PutLogEvents"
        self.resource = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{name}:*"
        self.reason = "Lambda writes the function's logs to its log group"
        self.source = "logs"
        self.certain = True


def run_row(path: Path, functions: int) -> dict[str, float]:
    """Time one row in this process (called in a fresh one per row)."""
    from lambdaguard.analysis.evidence import IamRequests
    from lambdaguard.analysis.fleet import analyse, open_for_reading
    from lambdaguard.analysis.policies import FunctionInputs, policy_step

    window = timedelta(days=90)
    roles = _roles(functions)
    inputs = [
        FunctionInputs(
            arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn-{i:05d}",
            role_arn=roles[i].arn,
            role=roles[i],
            account=ACCOUNT,
            service_needs=(_Logs(f"fn-{i:05d}"),),
        )
        for i in range(functions)
    ]
    store = open_for_reading(f"sqlite:///{path}")
    try:
        requests = IamRequests()
        t0, c0 = time.perf_counter(), time.process_time()
        findings = analyse(store, now=NOW, window=window)
        t1, _c1 = time.perf_counter(), time.process_time()
        step = policy_step(inputs, store=store, now=NOW, window=window, requests=requests)
        findings = step(findings)
        t2, c2 = time.perf_counter(), time.process_time()
    finally:
        store.close()
    proposals = [f.proposal for f in findings.functions if f.proposal is not None]
    return {
        "read_map_s": t1 - t0,
        "propose_s": t2 - t1,
        "cpu_s": (c2 - c0),
        "proposals": len(proposals),
        "proved": sum(1 for p in proposals if p.proved),
        "calls": sum(
            m.call.count
            for f in findings.functions
            if f.evidence
            for g in f.evidence.calls
            for m in g.calls
        ),
        "documents": sum(len(p.documents) for p in proposals),
    }


def count_row(path: Path, functions: int) -> dict[str, int]:
    """Work units of one row, counted rather than timed (tests/bench/test_policy_scaling.py).

    ``calls``: Python and built-in function calls made by the run (cProfile's
    count, deterministic under a fixed hash seed); ``decisions``: requests the
    evaluator decided (after each grant's own cache); ``queries``: SQL
    statements sent to the store; ``full_collections``: collections of the
    garbage collector's oldest generation, which walk every live object.
    """
    import cProfile
    import gc
    import pstats

    import sqlalchemy as sa

    from lambdaguard.analysis.evidence import IamRequests
    from lambdaguard.analysis.fleet import analyse, open_for_reading
    from lambdaguard.analysis.policies import FunctionInputs, policy_step
    from lambdaguard.iam.evaluation import Grant

    window = timedelta(days=90)
    roles = _roles(functions)
    inputs = [
        FunctionInputs(
            arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn-{i:05d}",
            role_arn=roles[i].arn,
            role=roles[i],
            account=ACCOUNT,
            service_needs=(_Logs(f"fn-{i:05d}"),),
        )
        for i in range(functions)
    ]
    units = {"decisions": 0, "queries": 0, "full_collections": 0}
    decide = Grant._decide

    def counted(self: Grant, *args: Any, **kwargs: Any) -> Any:
        units["decisions"] += 1
        return decide(self, *args, **kwargs)

    def query(*_: Any) -> None:
        units["queries"] += 1

    def collected(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            units["full_collections"] += 1

    store = open_for_reading(f"sqlite:///{path}")
    profile = cProfile.Profile()
    Grant._decide = counted  # type: ignore[method-assign]
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", query)
    gc.collect()
    gc.callbacks.append(collected)
    try:
        profile.enable()
        findings = analyse(store, now=NOW, window=window)
        step = policy_step(inputs, store=store, now=NOW, window=window, requests=IamRequests())
        findings = step(findings)
        profile.disable()
    finally:
        gc.callbacks.remove(collected)
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", query)
        Grant._decide = decide  # type: ignore[method-assign]
        store.close()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    units["calls"] = sum(entry[1] for entry in stats.values())
    units["proposals"] = sum(1 for f in findings.functions if f.proposal is not None)
    return units


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--row":
        print(json.dumps(run_row(Path(argv[1]), int(argv[2]))))
        return 0
    if argv and argv[0] == "--units":
        print(json.dumps(count_row(Path(argv[1]), int(argv[2]))))
        return 0
    sizes = [100, 1_000] if "--quick" in argv else [100, 1_000, 10_000]
    print(
        f"policy proposals: {SHAPES} distinct calls and ~{CALLS_PER_FUNCTION:,} recorded calls "
        "per function; SQLite store; one fresh process per row"
    )
    header = f"{'functions':>9}  {'recorded calls':>14}  {'read+map s':>10}  {'propose s':>9}  {'total s':>8}  {'cpu s':>6}  {'ms/fn':>6}  {'proved':>7}  budget"
    print(header)
    with tempfile.TemporaryDirectory(prefix="lg-bench-policy-") as tmp:
        for n in sizes:
            path = Path(tmp) / f"store-{n}.db"
            build_store(path, n)
            out = subprocess.run(
                [sys.executable, __file__, "--row", str(path), str(n)],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "PYTHONHASHSEED": "0"},
            )
            if out.returncode != 0:
                print(f"{n:>9}  failed: {out.stderr.strip()[-500:]}")
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            total = row["read_map_s"] + row["propose_s"]
            budget = ""
            if n == 1_000:
                budget = f"{'PASS' if total < BUDGET_S else 'FAIL'} (< {BUDGET_S:.0f} s)"
            print(
                f"{n:>9,}  {row['calls']:>14,}  {row['read_map_s']:>10.2f}  {row['propose_s']:>9.2f}  "
                f"{total:>8.2f}  {row['cpu_s']:>6.1f}  {1000 * total / n:>6.1f}  "
                f"{row['proved']:>3}/{row['proposals']:<3}  {budget}"
            )
            path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
