"""The demo's inventory part: dead, idle-expected and orphaned functions beside the samples.

Kept apart from :mod:`lambdaguard.local.demo` so the demo's own structure can
change without touching this: :func:`collect` runs while moto is up (it seeds
a small fleet of functions nobody uses, reads the account live the way
``lambdaguard inventory`` does, and records the reading in the demo's store,
where the report's ``analyse`` judges it with the samples' evidence);
:func:`show` prints the verdicts and the third-party hosts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["collect", "show"]


def collect(stage: Any, *, now: datetime | None = None) -> dict[str, Any]:
    """Seed the unused functions, read the account, judge and record it as `lambdaguard inventory` does.

    The reading is kept in the demo's store (:func:`lambdaguard.analysis.stored.record`),
    so the report drawn later judges it through the same ``analyse`` as
    ``lambdaguard report``; what is printed here is that stored judgement too.
    """
    from lambdaguard.analysis import stored
    from lambdaguard.analysis._live import LiveReader
    from lambdaguard.analysis.egress import host_rows
    from lambdaguard.analysis.grants import read_grants_live
    from lambdaguard.analysis.inventory import assemble
    from lambdaguard.analysis.surface import grants_provider
    from lambdaguard.analysis.telemetry import read_telemetry
    from lambdaguard.analysis.verdicts import judge_all, summary
    from lambdaguard.collector.store import open_store
    from lambdaguard.local.enforce import moto_environment
    from lambdaguard.local.fleet import seed_fleet

    moment = now or datetime.now(UTC)
    server = stage.moto
    region = stage.account.region
    window = timedelta(days=90)
    seed_fleet(server, now=moment, region=region, active=2, prefix="legacy-")
    reader = LiveReader(server.client, [region], now=moment)
    sections, users, warnings = reader.read()
    inventory = assemble(sections, users=users, api_calls=reader.calls, extra_warnings=warnings)
    # What each role could still do, from the account's grants (as `inventory` does live).
    with moto_environment(server, region):
        surface = grants_provider(lambda _: read_grants_live(progress=False), None)
    store = open_store(stage.store_url, migrate=False)
    try:
        telemetry = read_telemetry(store)
        judged = judge_all(
            inventory, now=moment, window=window, telemetry=telemetry, surface=surface
        )
        stored.record(store, inventory, now=moment, source="live", window=window, findings=judged)
        kept = stored.stored_inventory(store)
    finally:
        store.close()
    findings = list(kept.findings) if kept is not None else []
    findings.sort(key=lambda f: (-f.risk, f.function.region, f.function.name))
    return {
        "summary": dict(summary(findings)),
        "functions": [f.as_dict() for f in findings],
        "hosts": [r.as_dict() for r in host_rows(telemetry)],
        "warnings": [str(w) for w in inventory.warnings],
        "api_calls": sum(reader.calls.values()),
    }


def show(say: Callable[[str], None], found: dict[str, Any]) -> None:
    """Print the verdicts (riskiest first) and the third-party hosts."""
    say("")
    say("== inventory: what can go (lambdaguard inventory), riskiest first")
    for f in found["functions"]:
        flags = f" [{', '.join(f['flags'])}]" if f["flags"] else ""
        say(f"   {f['verdict']:<13} {f['confidence']:<6} {f['name']}{flags}")
        if f["verdict"] != "active":
            say(f"   {'':<13} {'':<6}   {f['reasons'][-1] if f['reasons'] else ''}")
    counts = ", ".join(f"{k} {v}" for k, v in found["summary"].items())
    say(f"   ({counts}; {found['api_calls']} AWS API calls; nothing was changed)")
    dead = next((f for f in found["functions"] if f["verdict"] == "dead" and f["plan"]), None)
    if dead is not None:
        say(f"   clean-up plan for {dead['name']} (printed, never run):")
        for step in dead["plan"]:
            say(f"     {step['command']}")
    say("")
    say("== third-party hosts (lambdaguard hosts)")
    for h in found["hosts"]:
        tls = "TLS" if h["tls"] else "PLAINTEXT"
        say(
            f"   {h['function']:<16} {h['host']}:{h['port']:<6} {tls:<9} {h['connections']} connections"
        )
    if not found["hosts"]:
        say("   (none recorded)")
    for w in found["warnings"]:
        say(f"   ! {w}")
