"""bench/_opcount.py counts, per invocation, the Python work the agent adds to a warm invocation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from _otlp_sink import OtlpSink


def test_opcount_attributes_each_invocations_agent_work(bench_dir: Path, sink: OtlpSink) -> None:
    """The agent's start and finish run once per invocation and each hooked call once per call;
    plain's own functions cancel out (the function's handler is not listed)."""
    out = subprocess.run(
        [sys.executable, str(bench_dir / "_opcount.py"), "lambdaguard", "2", "repeat", "4", "12"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "SINK": sink.endpoint},
        timeout=300,
    ).stdout
    rows = {line.split()[-1]: line.split() for line in out.splitlines()[1:]}
    assert float(rows["agent/_agent.py:start"][2]) == 1.0
    assert float(rows["agent/_agent.py:finish"][2]) == 1.0
    assert float(rows["agent/aws.py:_finish"][2]) == 2.0
    assert float(rows["agent/aws.py:_finish"][0]) > 0
    assert "bench/_function.py:handler" not in rows
    assert out.splitlines()[0].startswith("lambdaguard 2 calls repeat: ")
