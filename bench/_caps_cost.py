"""What the cardinality caps cost: per agent-shaped request, and per remembered call or host.

    .venv/bin/python bench/_caps_cost.py [requests]          # process CPU per request
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/_caps_cost.py 2000 --only-apply   # instructions (x2 runs, diff)

The request is ``bench_collector._agent_body`` at batch 1 (an invocation span
with one connection and 20 AWS call spans, 5 distinct calls), extracted once;
``Caps.apply`` then runs on its facts ``requests`` times, for a function whose
calls and host are already known (the steady state: nothing is new). Memory:
``Caps`` built from 100,000 known calls and 100,000 known hosts over 1,000
functions, measured with ``tracemalloc``.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]


def _caps(**known: Any) -> Any:
    from lambdaguard.collector.caps import Caps

    return Caps(
        max_functions_per_request=1_000,
        max_calls_per_request=1_000,
        max_hosts_per_request=1_000,
        max_functions=100_000,
        max_calls_per_function=10_000,
        max_hosts_per_function=1_000,
        **known,
    )


def per_request(requests: int, only_apply: bool) -> None:
    """Process CPU time of Caps.apply per agent-shaped request (everything already known)."""
    from bench_collector import _agent_body
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from lambdaguard.collector.spans import extract

    request = ExportTraceServiceRequest.FromString(_agent_body(1, 1, 1))
    facts = extract(request, now_ns=1_764_000_000_000_000_000).spans
    caps = _caps()
    caps.apply(facts)  # the first request admits its function, calls and host
    c0 = time.process_time()
    for _ in range(requests):
        result = caps.apply(facts)
    cpu = time.process_time() - c0
    assert result.over == 0
    if not only_apply:
        print(
            "Caps.apply, agent-shaped request (21 spans, 5 distinct calls, 1 host): "
            f"{cpu / requests * 1e6:.1f} us CPU per request over {requests:,}"
        )


def memory() -> None:
    """Bytes per remembered call and host (tracemalloc)."""
    import hashlib

    functions = 1_000
    per_function = 100
    arns = [f"arn:aws:lambda:eu-west-1:123456789012:function:fn-{i}" for i in range(functions)]
    entries = functions * per_function

    def calls() -> Any:  # fresh key objects, as rows read from the store are
        for arn in arns:
            for j in range(per_function):
                yield arn, hashlib.blake2b(f"{arn}{j}".encode(), digest_size=16).digest()

    def hosts() -> Any:
        for arn in arns:
            for j in range(per_function):
                yield arn, f"h{j}.example.com", int(f"{443}"), True

    for name, known in (("call", {"known_calls": calls()}), ("host", {"known_hosts": hosts()})):
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        caps = _caps(known_functions=arns, **known)
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        print(
            f"memory per known {name}: {(after - before) / entries:.0f} bytes "
            f"({entries:,} over {functions:,} functions, the function set included)"
        )
        del caps


def main(argv: list[str]) -> int:
    """Print the per-request cost and the memory per entry."""
    requests = int(argv[0]) if argv else 20_000
    only_apply = "--only-apply" in argv
    per_request(requests, only_apply)
    if not only_apply:
        memory()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
