"""Proposals for a fleet grow linearly: counted work units, never wall time (issue 8).

The benchmark's fleet (``bench/bench_policy.py``: AWS managed full-access
roles, ``*``, ``NotAction``, scoped inline policies with a condition and a
deny, a boundary on a tenth; 20 call shapes per function) at 20, 60 and 180
functions, each row in a fresh process under a fixed hash seed, counted by
``bench_policy.count_row``:

- the store is read with the same number of SQL statements whatever the size;
- the marginal work of one more function does not grow with the fleet: the
  evaluator's decisions and the function calls (cProfile's count, Python and
  built-in) added per function from 60 to 180 are no more than from 20 to 60;
- the garbage collector never walks the whole heap during the run. Each full
  collection visits every live object, and a fleet's run keeps millions of them
  alive, so those walks made the 10,000-function row superlinear before.

What this cannot see: work done without calls (a loop of inline comparisons)
and costs of the machine itself (memory bandwidth of a larger heap); the
100 / 1,000 / 10,000 rows of ``make bench`` show those.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import bench_policy
import pytest

SIZES = (20, 60, 180)


def _units(bench_dir: Path, store: Path, n: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(bench_dir / "bench_policy.py"), "--units", str(store), str(n)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    bench_dir = Path(bench_policy.__file__).resolve().parent
    tmp = tmp_path_factory.mktemp("policy-scaling")
    found = {}
    for n in SIZES:
        store = tmp / f"store-{n}.db"
        bench_policy.build_store(store, n)
        found[n] = _units(bench_dir, store, n)
    return found


def _marginal(rows: dict[int, dict[str, Any]], unit: str) -> tuple[float, float]:
    small, mid, large = SIZES
    first = (rows[mid][unit] - rows[small][unit]) / (mid - small)
    second = (rows[large][unit] - rows[mid][unit]) / (large - mid)
    return first, second


def test_every_function_gets_a_proposal(rows: dict[int, dict[str, Any]]) -> None:
    assert {n: r["proposals"] for n, r in rows.items()} == {n: n for n in SIZES}


def test_the_store_is_read_with_a_fixed_number_of_queries(
    rows: dict[int, dict[str, Any]],
) -> None:
    assert len({r["queries"] for r in rows.values()}) == 1, rows


@pytest.mark.parametrize("unit", ["decisions", "calls"])
def test_work_per_added_function_does_not_grow(rows: dict[int, dict[str, Any]], unit: str) -> None:
    first, second = _marginal(rows, unit)
    assert first > 0, rows
    # 5 % for the fleet's mix (bucket and queue names repeat every 50 and 20
    # functions, so a row's share of shapes seen before differs a little).
    assert second <= first * 1.05, (unit, first, second, rows)


def test_no_full_garbage_collection_during_the_run(rows: dict[int, dict[str, Any]]) -> None:
    assert {n: r["full_collections"] for n, r in rows.items()} == dict.fromkeys(SIZES, 0)
