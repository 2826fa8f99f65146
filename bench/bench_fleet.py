"""Fleet scale: what the agent sends in each mode, what one or two collectors on one PostgreSQL absorb.

Two parts, printed as tables (nothing asserted):

1. **The fleet model** (arithmetic, no I/O): N functions x M execution
   environments x invocation rates, with realistic repeat ratios, turned into
   what the agents send per second in each mode — ``traces`` (every
   invocation's spans, the layer before evidence mode and ``LAMBDAGUARD_TRACES=all``),
   ``sampled`` (evidence + 10 % of invocations traced) and ``evidence`` (new
   facts as spans, repeats as one metrics flush per environment per minute) —
   and the store rows and bytes that makes per day. For 1,000 and 10,000
   functions.
2. **Capacity** (measured): ``lambdaguard serve`` processes on one
   PostgreSQL database, driven by sender processes that POST exactly what the
   agent would send (bodies made by the agent's own encoder,
   :func:`lambdaguard.agent.export.encode` and ``encode_metrics``): requests,
   spans and data points per second, collector CPU, rows written, for one and
   two collectors, across a spread fleet and for one hot function (every
   request updating the same counter rows). Then the model's demand divided
   by the measured capacity: collectors needed, and where it saturates.

    python bench/bench_fleet.py [--quick] [--seconds S] [--pg-dsn postgresql://postgres@127.0.0.1/postgres]

Runs are short (seconds per row): the machine may be shared. Without a
reachable PostgreSQL the capacity rows say why and the model is still printed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
DEFAULT_PG = os.environ.get(
    "LAMBDAGUARD_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)

# -- the fleet model -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fleet:
    """A fleet's shape; the defaults are the issue's example (10,000 functions: 50,000 invocations/s)."""

    functions: int
    invocations_per_function_s: float = 5.0  # mean; 10,000 functions -> 50,000 /s
    environments_per_function: float = 3.0  # warm environments alive at a time (mean)
    environment_life_h: float = 2.0  # Lambda recycles environments within hours
    spans_per_invocation: int = 5  # an invocation span and four AWS call spans
    facts_per_function: int = 8  # distinct calls, hosts and trigger circumstances
    new_fact_rate: float = 0.0005  # share of warm invocations holding a fact new to the environment
    series_per_flush: int = 14  # data points an environment's flush carries (changed series)
    flush_interval_s: float = 60.0
    sample_ratio: float = 0.1

    @property
    def invocations_s(self) -> float:
        """Invocations per second across the fleet."""
        return self.functions * self.invocations_per_function_s

    @property
    def environments(self) -> float:
        """Environments alive at a time."""
        return self.functions * self.environments_per_function

    @property
    def new_environments_s(self) -> float:
        """Cold starts per second (each environment's first invocation is all new facts)."""
        return self.environments / (self.environment_life_h * 3600)

    def demand(self, mode: str) -> dict[str, float]:
        """Per second: span requests, spans, metric requests, data points."""
        inv = self.invocations_s
        new = self.new_environments_s + inv * self.new_fact_rate
        flushes = self.environments / self.flush_interval_s
        if mode == "traces":
            span_requests = inv
            flushes = 0.0
        elif mode == "sampled":
            span_requests = new + (inv - new) * self.sample_ratio
        else:
            span_requests = new
        return {
            "span_requests": span_requests,
            "spans": span_requests * self.spans_per_invocation,
            "metric_requests": flushes,
            "data_points": flushes * self.series_per_flush,
        }

    def store_rows_per_day(self, mode: str, span_window_h: float = 24.0) -> dict[str, float]:
        """Rows the store holds after a day: kept span ids, metric series, evidence rows."""
        d = self.demand(mode)
        day = 86_400
        environments_per_day = self.environments + self.new_environments_s * day
        return {
            # one row per span id, kept for the de-duplication window
            "span_keys": d["spans"] * 3600 * min(span_window_h, 24.0),
            # one row per (environment, series) flushed that day (pruned after 7 days)
            "metric_series": (
                0.0 if mode == "traces" else environments_per_day * self.series_per_flush
            ),
            # distinct facts, one invocation row and ~40 duration buckets per function-day
            "evidence": self.functions * (self.facts_per_function + 1 + 40),
        }


def print_model(row_bytes: dict[str, float]) -> dict[str, Any]:
    """The model's table for 1,000 and 10,000 functions."""
    out: dict[str, Any] = {}
    print("\n1. The fleet model: what the agents send, per mode")
    print(
        "   (5 invocations/s per function on average, 3 warm environments per function living 2 h,"
        " 5 spans per invocation, 1 in 2,000 warm invocations holding a new fact,"
        " 14 data points per environment flush, one flush per minute)"
    )
    rows = []
    for n in (1_000, 10_000):
        fleet = Fleet(n)
        for mode in ("traces", "sampled", "evidence"):
            d = fleet.demand(mode)
            r = fleet.store_rows_per_day(mode)
            gb = sum(r[k] * row_bytes.get(k, 150) for k in r) / 1e9
            out[f"{n}/{mode}"] = {**d, "rows": r, "store_gb": gb}
            rows.append(
                [
                    f"{n:,}",
                    mode,
                    f"{fleet.invocations_s:,.0f}",
                    f"{d['span_requests']:,.1f}",
                    f"{d['spans']:,.0f}",
                    f"{d['metric_requests']:,.1f}",
                    f"{d['data_points']:,.0f}",
                    f"{r['span_keys'] + r['metric_series'] + r['evidence']:,.0f}",
                    f"{gb:,.2f}",
                ]
            )
    print(
        _table(
            [
                "functions",
                "mode",
                "invocations/s",
                "span requests/s",
                "spans/s",
                "metric requests/s",
                "data points/s",
                "rows held after a day",
                "store GB",
            ],
            rows,
        )
    )
    print(
        "   rows held: span ids kept 24 h for de-duplication + metric series (per environment, pruned"
        " after 7 days) + evidence rows; GB from the bytes per row measured below (150 B if not measured)"
    )
    return out


# -- requests the agent would send -------------------------------------------------------


def _function_arn(i: int) -> str:
    return f"arn:aws:lambda:eu-west-1:123456789012:function:fleet-{i:05d}"


def _records(arn: str, calls: int = 4) -> list[Any]:
    from lambdaguard import semconv
    from lambdaguard.agent.recorder import AwsCall, Connection, Record, Trigger

    now = time.time_ns()
    ops = (
        ("s3", "S3", "GetObject", '{"Bucket":"orders","Key":"in/"}'),
        ("dynamodb", "DynamoDB", "PutItem", '{"TableName":"orders"}'),
        ("sqs", "SQS", "SendMessage", '{"QueueUrl":"https://sqs.eu-west-1.amazonaws.com/1/q"}'),
        ("kms", "KMS", "Decrypt", "{}"),
    )
    aws = tuple(
        AwsCall(
            service=s,
            service_id=sid,
            operation=op,
            region="eu-west-1",
            endpoint=f"https://{s}.eu-west-1.amazonaws.com",
            params=p,
            start_ns=now,
            end_ns=now + 4_000_000,
            status=200,
            request_id="r",
        )
        for s, sid, op, p in ops[:calls]
    )
    return [
        Record(
            phase=semconv.PHASE_INVOKE,
            trace_id=os.urandom(16),
            span_id=os.urandom(8),
            start_ns=now,
            end_ns=now + 30_000_000,
            request_id=secrets.token_hex(8),
            function_name=arn.rsplit(":", 1)[1],
            function_arn=arn,
            version="3",
            trigger=Trigger(kind="sqs", source="arn:aws:sqs:eu-west-1:123456789012:in"),
            aws_calls=aws,
            connections=(Connection("api.example.com", 443, True, False, 1, 0),),
        )
    ]


def build_bodies(kind: str, count: int, functions: int, seed: int) -> list[tuple[str, bytes]]:
    """``count`` (path, body) pairs: span requests (one invocation each) or metric flushes.

    Metric flushes cycle over about 600 environments (at least 3 per function),
    each flush of an environment carrying larger cumulative counts than its last.
    """
    from lambdaguard.agent import config, export
    from lambdaguard.agent.ledger import Ledger

    cfg = config.Config(enabled=True)
    out: list[tuple[str, bytes]] = []
    if kind == "spans":
        for n in range(count):
            arn = _function_arn((seed * 7919 + n) % functions)
            out.append(("/v1/traces", export.encode(cfg, _records(arn))))
        return out
    envs: dict[tuple[int, int], Ledger] = {}
    described: dict[int, Any] = {}
    # A hot function has many environments (each flushing once a minute), a
    # spread fleet a few per function: about 600 environments either way.
    per_function = max(3, 600 // functions)
    for n in range(count):
        f = (seed * 7919 + n) % functions
        key = (f, (n // functions) % per_function)
        ledger = envs.get(key)
        if ledger is None:
            ledger = envs[key] = Ledger(60, 4096, start_ns=time.time_ns() - seed)
            described[f] = _records(_function_arn(f))
        records = described[f]
        for _ in range(20):  # a minute of repeats in that environment
            ledger.count(records, in_spans=False)
        snap = ledger.snapshot()
        out.append(("/v1/metrics", export.encode_metrics(cfg, snap, records[0])))
        ledger.flushed(snap, True)
        # Every series counted again next flush: the dirty set after a flush is
        # empty, so count before the next snapshot (done at the top of the loop).
    return out


def sender_main(spec_json: str) -> None:
    """A sender process: build the bodies, wait for "go", POST them round-robin, report."""
    spec = json.loads(spec_json)
    bodies = build_bodies(spec["kind"], spec["count"], spec["functions"], spec["seed"])
    targets = spec["targets"]
    print("ready", flush=True)
    sys.stdin.readline()
    deadline = time.monotonic() + spec["seconds"]
    lock = threading.Lock()
    results: dict[str, Any] = {"ok": 0, "failed": 0, "codes": {}}
    it = iter(bodies)

    def worker(index: int) -> None:
        conns: dict[str, http.client.HTTPConnection] = {}
        turn = index
        while time.monotonic() < deadline:
            with lock:
                item = next(it, None)
            if item is None:
                return
            path, body = item
            target = targets[turn % len(targets)]
            turn += 1
            conn = conns.get(target)
            if conn is None:
                host, port = target.removeprefix("http://").split(":")
                conn = conns[target] = http.client.HTTPConnection(host, int(port), timeout=30)
            try:
                conn.request(
                    "POST", path, body=body, headers={"Content-Type": "application/x-protobuf"}
                )
                response = conn.getresponse()
                response.read()
                code = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conns.pop(target, None)
                code = 0
            with lock:
                results["ok" if code == 200 else "failed"] += 1
                results["codes"][str(code)] = results["codes"].get(str(code), 0) + 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(spec["threads"])]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results["seconds"] = time.perf_counter() - t0
    print(json.dumps(results), flush=True)


# -- the collectors and PostgreSQL ------------------------------------------------------------


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _serve(store: str, rollup_s: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lambdaguard",
            "serve",
            "--store",
            store,
            "--http-port",
            "0",
            "--grpc-port",
            "0",
            # Every sender thread gets a slot: this measures throughput, not shedding.
            "--max-inflight",
            "16",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**_env(), "LAMBDAGUARD_COUNTER_ROLLUP": str(rollup_s)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"http=(\S+)", line)
    if not m:
        proc.kill()
        raise RuntimeError(f"lambdaguard serve did not start: {line!r}")
    return proc, m.group(1)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(HERE.parent.parent / "src"), env.get("PYTHONPATH", "")]
    )
    return env


class Postgres:
    """A fresh database on the shared server, dropped at the end."""

    def __init__(self, dsn: str) -> None:
        import psycopg

        self._psycopg = psycopg
        self._admin = psycopg.connect(dsn, autocommit=True, connect_timeout=3)
        self.name = f"lambdaguard_bench_{secrets.token_hex(5)}"
        self._admin.execute(f'CREATE DATABASE "{self.name}"')
        base, _, _ = dsn.rpartition("/")
        self.url = f"{base}/{self.name}"

    def written(self) -> dict[str, int]:
        """Rows inserted + updated per lg_ table so far (pg_stat_user_tables)."""
        with self._psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            rows = conn.execute(
                "SELECT relname, n_tup_ins + n_tup_upd FROM pg_stat_user_tables WHERE relname LIKE 'lg_%'"
            ).fetchall()
        return {name: int(n) for name, n in rows}

    def row_bytes(self) -> dict[str, float]:
        """Bytes per live row (table + indexes) of the tables the model sizes."""
        with self._psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("ANALYZE")
            rows = conn.execute(
                "SELECT relname, pg_total_relation_size(relid), n_live_tup FROM pg_stat_user_tables"
                " WHERE relname LIKE 'lg_%'"
            ).fetchall()
        sizes = {name: (size / live if live else 0.0) for name, size, live in rows}
        evidence = [
            sizes.get(t, 0.0)
            for t in ("lg_calls", "lg_invocations", "lg_durations")
            if sizes.get(t)
        ]
        return {
            "span_keys": sizes.get("lg_span_keys", 0.0),
            "metric_series": sizes.get("lg_metric_series", 0.0),
            "evidence": sum(evidence) / len(evidence) if evidence else 0.0,
        }

    def close(self) -> None:
        self._admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin.close()


def measure(
    pg: Postgres,
    kind: str,
    collectors: int,
    functions: int,
    *,
    seconds: float,
    quick: bool,
    rollup_s: float = 1.0,
) -> dict[str, Any]:
    """One capacity row: ``collectors`` processes on the database, two sender processes for ``seconds``."""
    from lambdaguard.collector.store import open_store

    open_store(pg.url).close()  # migrate once, before the collectors race to
    procs = [_serve(pg.url, rollup_s) for _ in range(collectors)]
    targets = [url for _, url in procs]
    per_sender = int((400 if quick else 1500) * seconds / 4)
    senders = []
    for seed in range(2):
        spec = {
            "kind": kind,
            "count": per_sender,
            "functions": functions,
            "seed": seed + (int(time.time()) % 1000) * 10,
            "targets": targets,
            "seconds": seconds,
            "threads": 4,
        }
        senders.append(
            subprocess.Popen(
                [sys.executable, str(HERE), "--sender", json.dumps(spec)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=_env(),
            )
        )
    for s in senders:
        assert s.stdout is not None
        s.stdout.readline()
    written0 = pg.written()
    cpu0 = [_cpu_s(p.pid) for p, _ in procs]
    t0 = time.perf_counter()
    for s in senders:
        assert s.stdin is not None
        s.stdin.write("go\n")
        s.stdin.flush()
    results = []
    for s in senders:
        assert s.stdout is not None
        results.append(json.loads(s.stdout.readline()))
        s.wait()
    wall = time.perf_counter() - t0
    cpu = sum(_cpu_s(p.pid) - c for (p, _), c in zip(procs, cpu0, strict=True))
    for p, _ in procs:
        p.terminate()  # its last roll-up applies what is still pending
        p.wait(10)
    written1 = pg.written()
    ok = sum(r["ok"] for r in results)
    failed = sum(r["failed"] for r in results)
    codes: dict[str, int] = {}
    for r in results:
        for code, n in r["codes"].items():
            codes[code] = codes.get(code, 0) + n
    per_request = 5 if kind == "spans" else 14
    rows = sum(written1.values()) - sum(written0.values())
    return {
        "requests_s": ok / wall,
        "items_s": ok * per_request / wall,
        "failed": failed,
        "collector_cpu_s_per_s": cpu / wall,
        "requests_per_cpu_s": ok / cpu if cpu else 0.0,
        "rows_s": rows / wall,
        "rows_per_request": rows / ok if ok else 0.0,
        "hot_rows": {k: v - written0.get(k, 0) for k, v in written1.items()},
        "codes": codes,
    }


# -- report -------------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def main(argv: list[str] | None = None) -> int:
    """Print the model, measure capacity (if PostgreSQL answers), print the projection."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="shorter runs")
    p.add_argument("--seconds", type=float, help="seconds per capacity row")
    p.add_argument("--pg-dsn", default=DEFAULT_PG, help="an admin DSN of the PostgreSQL server")
    p.add_argument("--json", type=Path, help="also write the numbers to this file")
    p.add_argument("--sender", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.sender:
        sender_main(args.sender)
        return 0
    seconds = args.seconds or (3.0 if args.quick else 8.0)
    print(
        f"fleet scale, {'quick' if args.quick else 'full'} run: {seconds:g} s per capacity row, {os.cpu_count()} CPUs (shared)"
    )
    numbers: dict[str, Any] = {}
    measured: dict[str, dict[str, Any]] = {}
    row_bytes: dict[str, float] = {}
    try:
        pg = Postgres(args.pg_dsn)
    except Exception as exc:  # reported; the model still prints
        pg = None
        why = f"PostgreSQL not reachable at {args.pg_dsn}: {exc}"
    if pg is not None:
        try:
            # (label, request kind, collectors, functions, counter roll-up seconds)
            plan = [
                ("traces, 200 functions, 1 collector", "spans", 1, 200, 1.0),
                ("traces, 200 functions, 2 collectors", "spans", 2, 200, 1.0),
                ("traces, 1 hot function, 2 collectors, counters direct", "spans", 2, 1, 0.0),
                ("traces, 1 hot function, 2 collectors, rolled up", "spans", 2, 1, 1.0),
                ("evidence, 200 functions, 1 collector", "metrics", 1, 200, 1.0),
                ("evidence, 200 functions, 2 collectors", "metrics", 2, 200, 1.0),
                ("evidence, 1 hot function, 2 collectors, counters direct", "metrics", 2, 1, 0.0),
                ("evidence, 1 hot function, 2 collectors, rolled up", "metrics", 2, 1, 1.0),
            ]
            for label, kind, collectors, functions, rollup_s in plan:
                measured[label] = measure(
                    pg,
                    kind,
                    collectors,
                    functions,
                    seconds=seconds,
                    quick=args.quick,
                    rollup_s=rollup_s,
                )
            row_bytes = pg.row_bytes()
        finally:
            pg.close()
    numbers["model"] = print_model(row_bytes)
    print("\n2. Capacity: lambdaguard serve on one PostgreSQL, requests as the agent sends them")
    if not measured:
        print(f"   not measured: {why}")
    else:
        rows = []
        for label, m in measured.items():
            rows.append(
                [
                    label,
                    f"{m['requests_s']:,.0f}",
                    f"{m['items_s']:,.0f}",
                    f"{m['collector_cpu_s_per_s']:.2f}",
                    f"{m['requests_per_cpu_s']:,.0f}",
                    f"{m['rows_per_request']:.1f}",
                    f"{m['rows_s']:,.0f}",
                    ", ".join(f"{c}: {n}" for c, n in sorted(m["codes"].items()) if c != "200")
                    or "0",
                ]
            )
        print(
            _table(
                [
                    "row",
                    "requests/s",
                    "spans or points/s",
                    "collector CPU s/s",
                    "requests per collector CPU-s",
                    "rows written per request",
                    "rows written/s",
                    "failed",
                ],
                rows,
            )
        )
        print(
            "   spans requests: one invocation (5 spans); metrics requests: one environment's flush (14 points);"
            " 'counters direct': every request updates the function's counter rows itself (before),"
            " 'rolled up': it appends them and one collector applies them once a second (after)."
            " Collectors, senders and PostgreSQL share the same CPUs: 'requests per collector CPU-s' is the"
            " figure that carries to a bigger machine"
        )
        numbers["capacity"] = measured
        print("\n3. Projection: collectors (one core each, at 70 % busy) for the model's demand")
        prow = []
        span_cap = measured["traces, 200 functions, 1 collector"]["requests_per_cpu_s"]
        metric_cap = measured["evidence, 200 functions, 1 collector"]["requests_per_cpu_s"]
        for n in (1_000, 10_000, 100_000):
            fleet = Fleet(n)
            for mode in ("traces", "sampled", "evidence"):
                d = fleet.demand(mode)
                cpu = d["span_requests"] / span_cap + d["metric_requests"] / metric_cap
                rows_s = (
                    d["span_requests"]
                    * measured["traces, 200 functions, 1 collector"]["rows_per_request"]
                    + d["metric_requests"]
                    * measured["evidence, 200 functions, 1 collector"]["rows_per_request"]
                )
                prow.append(
                    [
                        f"{n:,}",
                        mode,
                        f"{cpu:,.1f}",
                        f"{max(1, round(cpu / 0.7 + 0.499)):,}",
                        f"{rows_s:,.0f}",
                    ]
                )
        print(
            _table(
                [
                    "functions",
                    "mode",
                    "collector CPU-s/s",
                    "collectors",
                    "PostgreSQL rows written/s",
                ],
                prow,
            )
        )
        numbers["row_bytes"] = row_bytes
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
