"""Python opcodes executed per invocation, by function: where a repeat's Python work goes.

Runs ``bench/_callgrind_loop.py`` under a ``sys.settrace`` tracer that counts
``opcode`` events per function (every thread), twice (``N1`` and ``N2``
invocations), and prints the difference divided by ``N2 - N1``: the steady
state per invocation, INIT and warm-up cancelled. With ``plain`` as the
baseline, the functions both variants run (botocore, awslambdaric) cancel
too. Counts, not time: the tracer slows everything alike. Start the sink as
for ``_callgrind_loop.py`` (``SINK=...``)::

    python bench/_opcount.py lambdaguard 3 repeat [N1 N2]
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

HERE = Path(__file__).resolve().parent


def _count(argv: list[str]) -> None:
    # In the child: trace, run the loop, dump the counts as JSON on stdout's last line.
    ops: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        code = frame.f_code
        key = "/".join(code.co_filename.rsplit("/", 2)[-2:]) + ":" + code.co_name
        calls[key] += 1
        frame.f_trace_opcodes = True

        def local(frame: FrameType, event: str, arg: Any) -> Any:
            if event == "opcode":
                ops[key] += 1
            return local

        return local

    sys.path.insert(0, str(HERE))
    import _callgrind_loop  # after the path is set

    sys.settrace(tracer)
    threading.settrace(tracer)
    try:
        _callgrind_loop.main(argv)
    finally:
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]
    print(json.dumps({"ops": ops, "calls": calls}))


def _run(variant: str, total: int, calls: str, kind: str) -> dict[str, collections.Counter[str]]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", variant, str(total), calls, kind],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "LAMBDAGUARD_FLUSH_INTERVAL": "3600"},
    ).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return {k: collections.Counter(v) for k, v in data.items()}


def main(argv: list[str]) -> int:
    """Print opcodes and calls per invocation, by function, beyond ``plain``."""
    if argv[:1] == ["--child"]:
        _count(argv[1:5])
        return 0
    if len(argv) not in (3, 5) or argv[0] not in ("plain", "lambdaguard"):
        print(__doc__, file=sys.stderr)
        return 2
    variant, calls, kind = argv[:3]
    n1, n2 = (int(argv[3]), int(argv[4])) if len(argv) == 5 else (50, 300)
    per: dict[str, dict[str, float]] = {}
    for name in ("plain", variant) if variant != "plain" else ("plain",):
        low, high = _run(name, n1, calls, kind), _run(name, n2, calls, kind)
        per[name] = {
            f"{field}:{key}": (high[field][key] - low[field][key]) / (n2 - n1)
            for field in ("ops", "calls")
            for key in high[field].keys() | low[field].keys()
        }
    base = per["plain"]
    mine = per[variant]
    rows = sorted(
        (
            (mine.get(f"ops:{k}", 0) - base.get(f"ops:{k}", 0)),
            (mine.get(f"calls:{k}", 0) - base.get(f"calls:{k}", 0)),
            k,
        )
        for k in {key.split(":", 1)[1] for key in mine.keys() | base.keys()}
    )
    rows = [r for r in rows if abs(r[0]) >= 0.5 or abs(r[1]) >= 0.01][::-1]
    print(f"{variant} {calls} calls {kind}: {sum(r[0] for r in rows):.0f} opcodes per invocation")
    for ops, n, key in rows:
        print(f"{ops:9.1f} opcodes {n:6.2f} calls  {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
