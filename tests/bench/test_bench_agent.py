"""`bench/bench_agent.py` runs in quick mode and prints its three tables (numbers never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_quick_run_prints_every_table_with_numbers_for_every_runnable_variant(
    bench_dir: Path, tmp_path: Path
) -> None:
    """Each budget's table is printed, and every variant that can run here produced samples."""
    out = tmp_path / "numbers.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(bench_dir / "bench_agent.py"),
            "--quick",
            "--runs=1",
            "--rounds=3",
            "--warmup=1",
            "--bill-rounds=2",
            "--network-rounds=2",
            "--import-runs=1",
            f"--json={out}",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for title in (
        "1. INIT duration",
        "2. Warm response latency",
        "3. Memory",
        "4. The bill",
        "5. Network cost",
    ):
        assert title in proc.stdout
    numbers = json.loads(out.read_text())
    variants = numbers["variants"]
    assert {"plain", "lambdaguard", "otel"} <= set(variants)
    runnable = [name for name, v in variants.items() if not v["unavailable"]]
    assert "plain" in runnable
    for name in runnable:
        if variants[name]["warm_only"]:
            continue
        assert numbers["init"][name]["ms"]["n"] == 1, name
        assert numbers["memory"][name]["rss_mb"]["n"] == 1, name
        if name != "plain":
            # The overhead columns are paired with plain run by run.
            assert "overhead_ms" in numbers["init"][name], name
            assert "delta_mb" in numbers["memory"][name], name
        if variants[name]["cold_only"]:
            continue
        for calls in ("0", "1", "10"):
            assert numbers["warm"][name][calls]["latency_us"]["n"] == 3, (name, calls)
        if name not in ("plain", "lambdaguard"):
            # Variants that export every invocation (lambdaguard in evidence mode
            # exports only new facts: the bill below proves it exported those).
            assert numbers["warm"][name]["exporter_requests_total"] > 0, name
            # The measured variant really recorded the calls it was timed making.
            ten = numbers["warm"][name]["exported_spans_last_invocation"]["10"]
            assert ten["aws_spans"] > 0, (name, ten)
    if "lambdaguard" in runnable:
        billed = numbers["bill"]["billed"]["lambdaguard"]
        for calls in ("0", "1", "3", "10"):
            # Evidence mode: repeats export nothing, every new fact is exported.
            assert billed[f"{calls}/repeat"]["exports"] == 0, calls
            assert billed[f"{calls}/new"]["exports"] == 2, calls
            assert billed[f"{calls}/new"]["billed_us"]["n"] == 2, calls
        network = numbers["bill"]["network"]["connections"]
        assert network["lambdaguard kept"]["exports"] > 0
        assert "lambdaguard's own import self time" in proc.stdout
    for v in variants.values():
        if v["unavailable"]:
            # A variant that cannot run says why, in its row, instead of numbers.
            assert v["unavailable"] in proc.stdout
