"""The live view (/ui, /api/v1) beside ingestion: its latency, and what it costs the receivers.

Seeds a SQLite store with N functions (bench_report's fleet: 30 days, 10 calls
each), starts a collector on loopback (in this process, as `lambdaguard
serve` runs it) and measures:

- ``GET /api/v1/findings``: the first request (the analysis runs), a cached
  one, and the document's size plain and gzipped;
- OTLP/HTTP ingestion (4 client threads posting agent-shaped export requests,
  each new) for a few seconds alone, then with a client reloading
  ``/api/v1/findings`` in a loop: once with the view's cache as shipped, once
  with the cache off (an analysis per request: the worst case the thread
  design has to absorb).

The collector runs in a process of its own (this script with ``--serve``), so
the clients' work does not share its interpreter lock.

Prints, asserts nothing; ``--quick`` uses 200 functions and shorter runs.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_report import NOW, _seed  # noqa: E402 - the same fleet as the report bench

import sample_fleet as fleet  # noqa: E402
from lambdaguard.collector.server import CollectorConfig, start_collector  # noqa: E402

CLIENTS = 4


def _requests(count: int, offset: int) -> list[bytes]:
    out = []
    for k in range(count):
        inv = fleet.Inv(
            NOW - timedelta(seconds=offset + k),
            calls=(fleet.Call("s3", "GetObject", {"Bucket": f"b-{k % 40}", "Key": "x/"}),),
        )
        fn = fleet.Function(fleet.arn(f"ingest-{k % 40:03d}"), [inv])
        out.append(fleet.export_request(fn).SerializeToString())
    return out


def _ingest(url: str, seconds: float, offset: int) -> float:
    """Requests per second answered 200 by CLIENTS threads posting for ``seconds``."""
    bodies = _requests(4000, offset)
    done = [0] * CLIENTS
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        with httpx.Client(timeout=30) as c:
            k = i
            while time.monotonic() < stop:
                r = c.post(
                    url + "/v1/traces",
                    content=bodies[k % len(bodies)],
                    headers={"content-type": "application/x-protobuf"},
                )
                if r.status_code == 200:
                    done[i] += 1
                k += CLIENTS

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - started)


def _reloader(url: str, stop: threading.Event, count: list[int]) -> None:
    with httpx.Client(timeout=300) as c:
        while not stop.is_set():
            if c.get(url + "/api/v1/findings").status_code == 200:
                count[0] += 1


def serve(url: str, cache: bool) -> int:
    """The collector alone in this process: prints its URL, serves until stdin closes."""
    handle = start_collector(CollectorConfig(store_url=url, http_port=0, grpc_port=None))
    if not cache:
        handle.live.findings._min_age_s = 0.0
        handle.live.findings._cost_factor = 0.0
    print(handle.http_url, flush=True)
    sys.stdin.read()
    live = handle.live.findings
    runs = live.runs
    snap = live.get().result()
    print(f"RESULT {runs} {snap.payload.took_s:.3f} {len(snap.payload.findings_gzip)}", flush=True)
    handle.stop()
    return 0


def _spawn(url: str, cache: bool) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", url, "cache" if cache else "nocache"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    while not line.startswith("http"):
        line = proc.stdout.readline().strip()
    return proc, line


def _finish(proc: subprocess.Popen[str]) -> tuple[int, float, int]:
    out, _ = proc.communicate("", timeout=600)
    found = [x.split("RESULT ", 1)[1] for x in out.splitlines() if x.startswith("RESULT ")]
    if not found:
        raise RuntimeError(f"the collector did not report: {out[-2000:]}")
    line = found[0]
    runs, took, gz = line.split()[:3]
    return int(runs), float(took), int(gz)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve"]:
        return serve(argv[1], argv[2] == "cache")
    quick = "--quick" in argv
    n = 200 if quick else 1000
    seconds = 4.0 if quick else 20.0
    folder = Path(tempfile.mkdtemp(prefix="lambdaguard-bench-live-"))
    url = f"sqlite:///{folder / 'lambdaguard.db'}"
    took = _seed(url, n)
    print(f"seeded {n} functions in {took:.1f} s")

    proc, base = _spawn(url, cache=True)
    with httpx.Client(timeout=300) as c:
        t0 = time.perf_counter()
        first = c.get(base + "/api/v1/findings")
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        c.get(base + "/api/v1/findings")
        warm = time.perf_counter() - t0
    rows = [("ingestion alone", _ingest(base, seconds, 0))]
    stop = threading.Event()
    count = [0]
    reloader = threading.Thread(target=_reloader, args=(base, stop, count))
    reloader.start()
    rate = _ingest(base, seconds, 100_000)
    stop.set()
    reloader.join()
    runs, analysis_s, gz = _finish(proc)
    rows.append((f"+ page reloads, cache as shipped ({count[0]} reloads, {runs} analyses)", rate))

    proc, base = _spawn(url, cache=False)
    httpx.get(base + "/api/v1/findings", timeout=600)  # the worker process started and warm
    stop = threading.Event()
    count = [0]
    reloader = threading.Thread(target=_reloader, args=(base, stop, count))
    reloader.start()
    rate = _ingest(base, seconds, 200_000)
    stop.set()
    reloader.join()
    runs_off, _, _ = _finish(proc)
    rows.append((f"+ page reloads, cache off ({count[0]} reloads, {runs_off} analyses)", rate))

    print()
    print(f"| live view, {n} functions | value |")
    print("|---|---|")
    print(f"| first GET /api/v1/findings (analysis runs) | {cold * 1000:,.0f} ms |")
    print(f"| analysis + document alone (last run) | {analysis_s * 1000:,.0f} ms |")
    print(f"| cached GET /api/v1/findings | {warm * 1000:,.1f} ms |")
    print(f"| document size | {len(first.content) / 1e6:.2f} MB ({gz / 1e6:.2f} MB gzipped) |")
    print()
    alone = rows[0][1]
    print(f"| OTLP/HTTP ingestion, {CLIENTS} clients, {seconds:g} s | requests/s | vs alone |")
    print("|---|---|---|")
    for label, value in rows:
        print(f"| {label} | {value:,.0f} | {value / alone:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
