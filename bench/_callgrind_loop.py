"""awslambdaric's own invocation loop in one process, for instruction counts (issue 13).

Wall-clock figures on a shared machine move by tens of percent between runs;
``valgrind --tool=callgrind`` counts instructions, which do not. This runs
``awslambdaric.bootstrap.run`` (the real ``handle_event_request`` and, with
lambdaguard, the agent's ``wait_next_invocation`` hook) with the native
Runtime API client replaced by an in-process stand-in that hands out ``N``
events of ``_function.py`` and then stops the loop. The agent exports to
``$SINK`` (start ``_otlp_sink.OtlpSink`` in another process, or facts are
never acknowledged and every invocation is exported again)::

    python bench/_callgrind_loop.py plain|lambdaguard N CALLS repeat|new

Instructions per invocation = (count of an N=300 run - count of an N=50 run) / 250::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/_callgrind_loop.py lambdaguard 300 3 repeat 2>&1 | grep Collected

Also prints the median process CPU time between successive ``next`` calls.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ARN = "arn:aws:lambda:us-east-1:123456789012:function:bench-fn"


def main(argv: list[str]) -> int:
    """Run the loop; see the module docstring for the arguments."""
    variant, total, calls, kind = argv[0], int(argv[1]), int(argv[2]), argv[3]
    here = Path(__file__).resolve().parent
    sys.path[:0] = [str(here), str(here.parent / "src")]
    os.environ.update(
        AWS_LAMBDA_FUNCTION_NAME="bench-fn",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
        AWS_SECRET_ACCESS_KEY="bench-secret-not-real",
        AWS_SESSION_TOKEN="bench-token-not-real",
        AWS_LAMBDA_RUNTIME_API="127.0.0.1:9001",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        OTEL_EXPORTER_OTLP_ENDPOINT=os.environ.get("SINK", "http://127.0.0.1:9"),
        OTEL_SERVICE_NAME="bench-fn",
        LAMBDAGUARD_HANDLER="_function.handler",
    )
    import awslambdaric.bootstrap as runtime
    import awslambdaric.lambda_runtime_client as client_module

    stamps: list[int] = []

    class Native:
        """The stand-in for awslambdaric's native ``runtime_client`` module."""

        def next(self) -> tuple[bytes, dict[str, str]]:
            stamps.append(time.process_time_ns())
            n = len(stamps) - 1
            if n >= total:
                raise KeyboardInterrupt  # ends bootstrap.run's endless loop
            event: dict[str, Any] = {"calls": calls}
            if kind == "new":
                event = {"source": f"bench.fact.{n}", "detail-type": "bench", "calls": calls}
            headers = {
                "Lambda-Runtime-Aws-Request-Id": str(uuid.uuid4()),
                "Lambda-Runtime-Invoked-Function-Arn": ARN,
                # An int, as awslambdaric's native client returns it (Py_BuildValue "l").
                "Lambda-Runtime-Deadline-Ms": int(time.time() * 1000) + 30000,
                # Lambda passes one to every invocation, X-Ray tracing on or off.
                "Lambda-Runtime-Trace-Id": (
                    f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};"
                    f"Parent={uuid.uuid4().hex[:16]};Sampled=0"
                ),
                "Content-Type": "application/json",
            }
            return json.dumps(event).encode(), headers

        def post_invocation_result(self, *_: object) -> None:
            return

        def post_error(self, *_: object) -> None:
            return

    client_module.runtime_client = Native()  # type: ignore[attr-defined]
    handler = (
        "lambdaguard.agent.handler.lambda_handler" if variant != "plain" else "_function.handler"
    )
    stdout = sys.stdout
    with Path(os.devnull).open("w") as devnull:
        sys.stdout = devnull
        try:
            runtime.run(handler, client_module.LambdaRuntimeClient("127.0.0.1:9001"))
        except KeyboardInterrupt:
            pass
        finally:
            sys.stdout = stdout
    gaps = sorted(b - a for a, b in itertools.pairwise(stamps[10:]))
    if gaps:
        print(f"{variant} calls={calls} {kind}: median CPU {gaps[len(gaps) // 2] / 1e3:.1f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
