"""``lambdaguard demo`` / ``make demo``: run the sample functions locally and show what was recorded.

Starts moto (seeded as a small, over-granted account), a third-party API
stand-in, the collector on an embedded SQLite store and the local Lambda
runtime with the layer that ``make layer`` built; invokes the samples through
their triggers; then prints, per function, the invocations (cold starts,
errors, timeouts), the AWS calls with the IAM authorization requests each
needs, and the outbound hosts with their TLS status. Everything runs on
127.0.0.1 and is stopped before the command returns.

Outputs (``--out``, default ``out/demo``): ``report.html`` (the HTML report
of the demo's store), ``lambdaguard.db`` (the store), ``functions.log`` (every
function's stdout/stderr, including lambdaguard's JSON log line per
invocation) and ``summary.json`` (what is printed, as data).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

__all__ = ["configure", "main", "run"]

DEFAULT_OUT = Path("out/demo")


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the demo's options to its parser."""
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="directory for the store, function logs and summary.json (default: out/demo)",
    )
    parser.add_argument(
        "--layer",
        type=Path,
        default=None,
        help="layer zip to use (default: build this machine's with layer/build.py --host)",
    )
    parser.add_argument("--orders", type=int, default=8, help="API orders to place (default 8)")
    parser.add_argument("--uploads", type=int, default=3, help="S3 uploads to process (default 3)")
    parser.add_argument("--echo", action="store_true", help="echo function output while running")


@dataclass(frozen=True, slots=True)
class _CallRow:
    service: str
    operation: str
    phase: str
    error_code: str
    presign: bool
    count: int
    authorizations: tuple[tuple[str, str], ...]
    note: str


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when every part ran (sample failures are part of the show)."""
    from lambdaguard.local import demo_inventory, demo_policy
    from lambdaguard.local.harness import Stage, build_host_layer

    out: Path = args.out.resolve()
    started = time.monotonic()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    say = _Printer(sys.stdout)
    layer = args.layer.resolve() if args.layer else build_host_layer()
    say(f"lambdaguard demo: layer {_short(layer)} ({layer.stat().st_size / 1e6:.1f} MB)")
    say(
        "starting moto (seeded account), a third-party API, the collector (SQLite) and a local Lambda runtime ..."
    )
    stage = Stage(out, layer_zip=layer, echo=args.echo)
    try:
        stage.start()
        say(
            f"invoking the sample functions through their triggers ({len(stage.specs)} functions) ..."
        )
        runs = stage.run_workload(orders=args.orders, uploads=args.uploads)
        # Lambda ends idle environments with SIGTERM; anything the agent still holds is flushed.
        stage.shutdown_functions()
        summary = _summarise(stage, runs)
        summary["inventory"] = demo_inventory.collect(stage)
        # Last: the proof changes the account (a role per proposal, moto's IAM enforced).
        say("proposing right-sized policies and proving them under moto's IAM enforcement ...")
        policies = demo_policy.run(stage, runs)
    finally:
        stage.stop()
    _print_summary(say, summary)
    demo_inventory.show(say, summary["inventory"])
    demo_policy.show(say, policies)
    summary["policies"] = demo_policy.summary(policies)
    report = _write_report(stage.store_url, out, steps=[demo_policy.as_step(policies)])
    elapsed = time.monotonic() - started
    summary["elapsed_s"] = round(elapsed, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    _print_ending(say, out, report, elapsed, summary)
    return 0


def _write_report(store_url: str, out: Path, steps: Any = ()) -> Path:
    """The HTML report of the demo's store, drawn by the same code as `lambdaguard report`."""
    from datetime import UTC, datetime

    from lambdaguard.analysis.fleet import analyse, open_for_reading, printable_url
    from lambdaguard.views.document import document
    from lambdaguard.views.report import render_html

    store = open_for_reading(store_url)
    try:
        findings = analyse(
            store, now=datetime.now(UTC), source=printable_url(store_url), steps=steps
        )
    finally:
        store.close()
    path = out / "report.html"
    path.write_text(render_html(document(findings)), encoding="utf-8")
    return path


def _command() -> str:
    """How to run `lambdaguard` from here: plain when the environment is on PATH."""
    own = Path(sys.executable).parent / "lambdaguard"
    found = shutil.which("lambdaguard")
    if found and Path(found).resolve() == own.resolve():
        return "lambdaguard"
    return _short(own)


def _print_ending(
    say: _Printer, out: Path, report: Path, elapsed: float, summary: dict[str, Any]
) -> None:
    store = f"sqlite:///{_short(out / 'lambdaguard.db')}"
    lg = _command()
    busiest = max(
        (n for n, e in summary["functions"].items() if e["recorded"]),
        key=lambda n: summary["functions"][n]["recorded"]["invocations"],
        default="orders-api",
    )
    say("")
    say(f"done in {elapsed:.0f} s; nothing left running. Outputs in {_short(out)}/:")
    say(f"  report.html      the HTML report; open it in a browser: {report.as_uri()}")
    say("  lambdaguard.db   the collector's store (SQLite)")
    say(
        "  functions.log    each function's stdout/stderr, with lambdaguard's JSON line per invocation"
    )
    say("  summary.json     what is printed above, as data")
    say("")
    say("Next, on the demo's store:")
    say(f"  {lg} functions --store {store}")
    say(f"  {lg} show {busiest} --store {store}")
    say(f"  {lg} report --store {store} -o report.html")
    say(f"  {lg} store stats --store {store}")
    if lg != "lambdaguard":
        say("  (or run `make shell` first, then type `lambdaguard ...`)")
    say("Then on your own functions: `make layer`, publish the zip as a layer, run")
    say(f"`{lg} serve` and point the functions at it (README: Adding the layer to a function).")


def _summarise(stage: Any, runs: list[Any]) -> dict[str, Any]:
    from lambdaguard.errors import IamDataError
    from lambdaguard.iam import authorizations_for_call

    account = stage.account
    store = stage.collector.store
    recorded = {f.name: f for f in store.functions()}
    driver: dict[str, Counter[str]] = defaultdict(Counter)
    first_error: dict[str, str] = {}
    for run in runs:
        seen = driver[run.function]
        seen["invocations"] += 1
        seen[run.result.status] += 1
        if run.result.error and run.function not in first_error:
            first_error[run.function] = str(run.result.error.get("errorType"))
    functions: dict[str, Any] = {}
    for spec in stage.specs:
        entry: dict[str, Any] = {
            "trigger": spec.trigger,
            "role": account.roles[spec.name],
            "driver": dict(driver[spec.name]),
            "first_error": first_error.get(spec.name),
            "recorded": None,
        }
        fn = recorded.get(spec.name)
        if fn is not None:
            days = store.invocations(fn.arn)
            calls: list[_CallRow] = []
            grouped: dict[tuple[str, str, str, str, bool], list[Any]] = defaultdict(list)
            for call in store.calls(fn.arn):
                grouped[
                    (call.service, call.operation, call.phase, call.error_code, call.presign)
                ].append(call)
            for (service, operation, phase, error, presign), group in sorted(grouped.items()):
                auths: set[tuple[str, str]] = set()
                note = ""
                for call in group:
                    try:
                        for auth in authorizations_for_call(call):
                            auths.add((auth.action, auth.resource))
                    except IamDataError as exc:
                        note = f"IAM mapping unavailable: {exc}"
                calls.append(
                    _CallRow(
                        service,
                        operation,
                        phase,
                        error,
                        presign,
                        sum(c.count for c in group),
                        tuple(sorted(auths)),
                        note,
                    )
                )
            entry["recorded"] = {
                "invocations": sum(d.count for d in days),
                "cold_starts": sum(d.cold_starts for d in days),
                "errors": sum(d.errors for d in days),
                "timeouts": sum(d.timeouts for d in days),
                "calls": [
                    {
                        "service": c.service,
                        "operation": c.operation,
                        "phase": c.phase,
                        "error_code": c.error_code or None,
                        "presign": c.presign,
                        "count": c.count,
                        "authorizations": [
                            {"action": a, "resource": r} for a, r in c.authorizations
                        ],
                        "note": c.note or None,
                    }
                    for c in calls
                ],
                "hosts": [
                    {
                        "host": h.host,
                        "port": h.port,
                        "tls": h.tls,
                        "aws": h.aws,
                        "connections": h.count,
                        "failures": h.failures,
                    }
                    for h in store.hosts(fn.arn)
                ],
            }
        functions[spec.name] = entry
    return {
        "account": account.account_id,
        "region": account.region,
        "moto_endpoint": account.endpoint,
        "store": stage.store_url,
        "functions": functions,
    }


class _Printer:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, line: str = "") -> None:
        print(line, file=self.stream, flush=True)


def _print_summary(say: _Printer, summary: dict[str, Any]) -> None:
    for name, entry in summary["functions"].items():
        say("")
        role = entry["role"].rsplit("/", 1)[-1]
        say(f"== {name}  (trigger: {entry['trigger']}, role: {role})")
        rec = entry["recorded"]
        drv = entry["driver"]
        if rec is None:
            why = f" (first error: {entry['first_error']})" if entry["first_error"] else ""
            say(
                f"   lambdaguard recorded nothing for {drv.get('invocations', 0)} invocations"
                f"{why}: "
                + ", ".join(f"{k} {v}" for k, v in sorted(drv.items()) if k != "invocations")
            )
            continue
        say(
            f"   invocations {rec['invocations']}: cold starts {rec['cold_starts']}, "
            f"errors {rec['errors']}, timeouts {rec['timeouts']}"
        )
        if rec["invocations"] != drv.get("invocations", 0):
            say(
                f"   (the runtime ran {drv.get('invocations', 0)} invocations; "
                f"{drv.get('invocations', 0) - rec['invocations']} left no record)"
            )
        if rec["calls"]:
            say("   AWS calls (count) -> IAM authorization requests:")
        for call in rec["calls"]:
            tags = []
            if call["phase"] == "init":
                tags.append("INIT")
            if call["error_code"]:
                tags.append(f"failed: {call['error_code']}")
            if call["presign"]:
                tags.append("presigned URL, not sent")
            tag = f"  [{', '.join(tags)}]" if tags else ""
            say(f"     {call['service']}:{call['operation']} x{call['count']}{tag}")
            for auth in call["authorizations"]:
                say(f"         {auth['action']:<34} {auth['resource']}")
            if not call["authorizations"] and not call["note"]:
                say("         (no permission needed)")
            if call["note"]:
                say(f"         {call['note']}")
        if rec["hosts"]:
            say("   outbound hosts:")
        for host in rec["hosts"]:
            tls = "TLS" if host["tls"] else "PLAINTEXT"
            kind = "AWS endpoint (moto)" if host["aws"] else "third party"
            fails = f", {host['failures']} failed" if host["failures"] else ""
            say(
                f"     {host['host']}:{host['port']:<6} {tls:<9} {kind}, "
                f"{host['connections']} connections{fails}"
            )


def _short(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m lambdaguard.local.demo``."""
    parser = argparse.ArgumentParser(
        prog="lambdaguard demo",
        description="Run the sample functions locally and show what was recorded.",
    )
    configure(parser)
    try:
        return run(parser.parse_args(argv))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
