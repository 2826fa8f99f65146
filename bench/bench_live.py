"""The live view (/ui, /api/v1) beside ingestion: its latency, and what it costs the receivers.

Seeds a SQLite store with N functions (bench_report's fleet: 30 days, 10 calls
each), starts a collector on loopback (in this process, as `lambdaguard
serve` runs it) and measures:

- ``GET /api/v1/findings``: the first request (the analysis runs), a cached
  one, and the document's size plain and gzipped;
- OTLP/HTTP ingestion (4 client threads posting agent-shaped export requests,
  each new), alternately alone and with a client reloading
  ``/api/v1/findings`` in a loop: with the view as shipped, and with the cache
  off (an analysis per request, the worst case) once in the worker process and
  once in a collector thread. The machine is shared, so phases alternate and
  the ratio of each pair is reported (median and range), not absolute rates.

The collector runs in a process of its own (this script with ``--serve``), so
the clients' work does not share its interpreter lock.

Prints, asserts nothing; ``--quick`` skips the 1,000-function store and runs shorter phases.
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


def serve(url: str, mode: str) -> int:
    """The collector alone in this process: prints its URL, serves until stdin closes.

    ``mode``: "shipped" (as `lambdaguard serve` runs), or "process"/"thread" with the
    cache off (an analysis per request, run in that isolation).
    """
    handle = start_collector(CollectorConfig(store_url=url, http_port=0, grpc_port=None))
    live = handle.live.findings
    if mode != "shipped":
        live._min_age_s = 0.0
        live._cost_factor = 0.0
        live.isolation = mode
    print(handle.http_url, flush=True)
    sys.stdin.read()
    runs = live.runs
    snap = live.get().result()
    print(f"RESULT {runs} {snap.payload.took_s:.3f} {len(snap.payload.findings_gzip)}", flush=True)
    handle.stop()
    return 0


def _spawn(url: str, mode: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", url, mode],
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
    runs, took, gz = found[0].split()[:3]
    return int(runs), float(took), int(gz)


def _with_reloads(base: str, seconds: float, offset: int) -> tuple[float, int]:
    # The reloading client is a process of its own: in this one it would take the
    # interpreter lock from the ingesting clients and look like the collector's cost.
    reloader = subprocess.Popen(
        [sys.executable, __file__, "--reload", base],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    rate = _ingest(base, seconds, offset)
    out, _ = reloader.communicate("", timeout=600)
    return rate, int(out.split()[-1])


def reload_loop(base: str) -> int:
    """Reload /api/v1/findings until stdin closes; print how many answered 200."""
    stop = threading.Event()
    count = [0]
    thread = threading.Thread(target=_reloader, args=(base, stop, count))
    thread.start()
    sys.stdin.read()
    stop.set()
    thread.join()
    print(count[0], flush=True)
    return 0


def _paired(url: str, mode: str, seconds: float, rounds: int) -> tuple[list[float], int, int]:
    """Ingestion alone and with reloads, alternated ``rounds`` times: ratios, reloads, analyses."""
    proc, base = _spawn(url, mode)
    httpx.get(base + "/api/v1/findings", timeout=600)  # worker started, imports warm
    ratios = []
    reloads = 0
    for r in range(rounds):
        alone = _ingest(base, seconds, 1_000_000 * r)
        loaded, count = _with_reloads(base, seconds, 1_000_000 * r + 500_000)
        ratios.append(loaded / alone)
        reloads += count
    runs, _, _ = _finish(proc)
    return ratios, reloads, runs


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve"]:
        return serve(argv[1], argv[2])
    if argv[:1] == ["--reload"]:
        return reload_loop(argv[1])
    quick = "--quick" in argv
    folder = Path(tempfile.mkdtemp(prefix="lambdaguard-bench-live-"))
    sizes = (200,) if quick else (200, 1000)
    if "--ingest-only" in argv:
        sizes = ()
        _seed(f"sqlite:///{folder / '200.db'}", 200)
    for n in sizes:
        url = f"sqlite:///{folder / f'{n}.db'}"
        took = _seed(url, n)
        proc, base = _spawn(url, "shipped")
        with httpx.Client(timeout=600) as c:
            t0 = time.perf_counter()
            first = c.get(base + "/api/v1/findings")
            cold = time.perf_counter() - t0
            t0 = time.perf_counter()
            c.get(base + "/api/v1/findings")
            warm = time.perf_counter() - t0
        _, analysis_s, gz = _finish(proc)
        print()
        print(f"| live view, {n} functions (seeded in {took:.0f} s) | value |")
        print("|---|---|")
        print(
            f"| first GET /api/v1/findings (worker starts, analysis runs) | {cold * 1000:,.0f} ms |"
        )
        print(f"| analysis + document in the worker | {analysis_s * 1000:,.0f} ms |")
        print(f"| cached GET /api/v1/findings (client included) | {warm * 1000:,.1f} ms |")
        print(f"| document size | {len(first.content) / 1e6:.2f} MB ({gz / 1e6:.2f} MB gzipped) |")

    # Ingestion beside the view: 200 functions, so one analysis (~2 s) fits in a phase.
    url = f"sqlite:///{folder / '200.db'}"
    seconds, rounds = (3.0, 2) if quick else (6.0, 3)
    print()
    print(
        f"| OTLP/HTTP ingestion ({CLIENTS} clients) with a client reloading /api/v1/findings, "
        f"200 functions; {rounds} x {seconds:g} s alone / {seconds:g} s with reloads, "
        "alternated | with reloads / alone (median, range) | reloads | analyses |"
    )
    print("|---|---|---|---|")
    for label, mode in (
        ("as shipped (worker process, cache)", "shipped"),
        ("cache off, analysis in the worker process", "process"),
        ("cache off, analysis in a collector thread (the design rejected)", "thread"),
    ):
        ratios, reloads, runs = _paired(url, mode, seconds, rounds)
        ratios.sort()
        median = ratios[len(ratios) // 2]
        print(f"| {label} | {median:.0%} ({ratios[0]:.0%}-{ratios[-1]:.0%}) | {reloads} | {runs} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
