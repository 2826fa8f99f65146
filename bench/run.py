"""Run every benchmark in bench/ and print its table.

Each ``bench/bench_*.py`` is a script that measures one budget side by side
with the peers and prints a table; this runner starts each in its own process
(so one benchmark's imports cannot warm another's), in name order, and passes
``--quick`` through for a shorter run. Budgets are printed, never asserted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    scripts = sorted(here.glob("bench_*.py"))
    only = [a for a in argv if not a.startswith("-")]
    if only:
        scripts = [s for s in scripts if any(o in s.stem for o in only)]
    flags = [a for a in argv if a.startswith("-")]
    failed = []
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        rc = subprocess.call([sys.executable, str(script), *flags])
        if rc != 0:
            failed.append(script.stem)
    if failed:
        print(f"\nbenchmarks that failed to run: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
