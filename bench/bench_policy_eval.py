"""IAM policy evaluation: requests per second against compiled grants (issue 8's proposal budget).

The proposal engine replays every recorded call of every function through the
evaluator; its budget is 1,000,000 recorded calls over 1,000 functions in under
10 s on the 2-core machine. This prints what the evaluator alone costs there:

- compiling a grant (a role's policies plus, for a quarter of them, a boundary);
- concrete requests, first time (each distinct request decided) and repeated
  (served from the grant's cache, which is what most recorded calls are);
- pattern requests (``arn:aws:s3:::bucket/uploads/*``), first time;
- the whole replay: N functions x M recorded calls each, drawn with repeats
  from a few dozen distinct requests per function, as recorded evidence is.

Grants are AWS managed policies (``tests/iam/fixtures/managed``) plus a scoped
inline policy with a NotResource allow and an explicit deny per function.
Nothing is asserted; ``--quick`` runs 100 functions x 1,000 calls.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from lambdaguard.iam import Grant, Policy, parse_policy

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "iam" / "fixtures" / "managed"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
BUDGET_S = 10.0


def _managed() -> dict[str, Policy]:
    return {
        path.stem: parse_policy(
            path.read_text(), name=path.stem, arn=f"arn:aws:iam::aws:policy/{path.stem}"
        )
        for path in sorted(FIXTURES.glob("*.json"))
    }


def _inline(i: int) -> Policy:
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Data",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::bucket-{i}", f"arn:aws:s3:::bucket-{i}/*"],
            },
            {
                "Sid": "Everything but secrets",
                "Effect": "Allow",
                "Action": ["sqs:*", "secretsmanager:GetSecretValue"],
                "NotResource": "arn:aws:secretsmanager:*:*:secret:admin-*",
            },
            {
                "Sid": "KeepAudit",
                "Effect": "Deny",
                "Action": "s3:Delete*",
                "Resource": "arn:aws:s3:::audit/*",
            },
            {
                "Sid": "Tls",
                "Effect": "Allow",
                "Action": "dynamodb:*",
                "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/table-{i}*",
                "Condition": {"Bool": {"aws:SecureTransport": "true"}},
            },
        ],
    }
    return parse_policy(doc, name=f"fn-{i}-role/inline")


def _grants(n: int) -> list[Grant]:
    managed = _managed()
    shapes = [
        ["AWSLambdaBasicExecutionRole", "AmazonDynamoDBFullAccess", "SecretsManagerReadWrite"],
        ["AWSLambdaBasicExecutionRole", "AmazonS3FullAccess"],
        ["AdministratorAccess"],
        ["AWSLambdaVPCAccessExecutionRole", "PowerUserAccess"],
    ]
    grants = []
    for i in range(n):
        policies = [managed[name] for name in shapes[i % len(shapes)]] + [_inline(i)]
        boundary = managed["PowerUserAccess"] if i % 4 == 1 else None
        grants.append(Grant(policies, boundary=boundary))
    return grants


def _requests(i: int, rng: random.Random) -> list[tuple[str, str]]:
    """A few dozen distinct requests of one function, as its recorded calls map to them."""
    out = [
        ("logs:CreateLogStream", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/fn-{i}:*"),
        (
            "logs:PutLogEvents",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/fn-{i}:log-stream:x",
        ),
        ("s3:ListBucket", f"arn:aws:s3:::bucket-{i}"),
        ("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:queue-{i}"),
        ("sqs:ReceiveMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:queue-{i}"),
        (
            "secretsmanager:GetSecretValue",
            f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-{i}-??????",
        ),
        ("dynamodb:Query", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/table-{i}/index/by-date"),
        ("kms:Decrypt", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{i:08d}-0000-0000-0000-000000000000"),
        ("sts:GetCallerIdentity", "*"),
    ]
    for k in range(rng.randint(10, 30)):
        out.append(
            (
                "s3:GetObject",
                f"arn:aws:s3:::bucket-{i}/2026/{k:02d}/photo-{rng.randint(0, 9999)}.jpg",
            )
        )
        out.append(("dynamodb:GetItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/table-{i}"))
    out.append(("s3:PutObject", f"arn:aws:s3:::bucket-{i}/uploads/*"))
    out.append(("s3:DeleteObject", f"arn:aws:s3:::audit/fn-{i}/*"))
    return out


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>14,.0f}/s" if seconds > 0 else f"{'-':>16}"


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    functions, calls = (100, 1_000) if quick else (1_000, 1_000)
    rng = random.Random(8)

    t0 = time.perf_counter()
    grants = _grants(functions)
    compile_s = time.perf_counter() - t0

    distinct = [_requests(i, rng) for i in range(functions)]
    concrete = sum(1 for reqs in distinct for _, r in reqs if "*" not in r and "?" not in r)
    patterns = sum(len(reqs) for reqs in distinct) - concrete

    # First time: each distinct request decided once.
    t0 = time.perf_counter()
    for grant, reqs in zip(grants, distinct, strict=True):
        for action, resource in reqs:
            if "*" not in resource and "?" not in resource:
                grant.evaluate(action, resource)
    first_concrete_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for grant, reqs in zip(grants, distinct, strict=True):
        for action, resource in reqs:
            if "*" in resource or "?" in resource:
                grant.evaluate(action, resource)
    first_pattern_s = time.perf_counter() - t0

    # The replay: every recorded call, repeats included, on fresh grants (nothing cached).
    grants = _grants(functions)
    replay = [[rng.choice(reqs) for _ in range(calls)] for reqs in distinct]
    t0 = time.perf_counter()
    allowed = 0
    for grant, recorded in zip(grants, replay, strict=True):
        for action, resource in recorded:
            allowed += grant.evaluate(action, resource).allowed
    replay_s = time.perf_counter() - t0
    total = functions * calls

    print(f"{'policy evaluation':<48}{'count':>10}{'seconds':>10}{'rate':>16}")
    print(
        f"{'parse + compile grants (role + boundary)':<48}{functions:>10}{compile_s:>10.3f}{_rate(functions, compile_s)}"
    )
    print(
        f"{'concrete requests, first time':<48}{concrete:>10}{first_concrete_s:>10.3f}{_rate(concrete, first_concrete_s)}"
    )
    print(
        f"{'pattern requests, first time':<48}{patterns:>10}{first_pattern_s:>10.3f}{_rate(patterns, first_pattern_s)}"
    )
    print(
        f"{'replay of recorded calls (fresh grants)':<48}{total:>10}{replay_s:>10.3f}{_rate(total, replay_s)}"
    )
    verdict = "PASS" if replay_s + compile_s < BUDGET_S else "FAIL"
    print(
        f"\n{functions} functions x {calls} recorded calls: compile + replay "
        f"{compile_s + replay_s:.2f} s against the proposal budget of {BUDGET_S:.0f} s for the whole "
        f"proposal run: {verdict} (evaluation only; {allowed} of {total} calls allowed)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
