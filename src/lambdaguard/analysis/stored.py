"""The inventory as the store keeps it, and the verdicts rebuilt from it with no AWS access.

``lambdaguard inventory`` records every function it read (:func:`record`):
its listing and everything the judgement needs (triggers with their state
and whether their source still exists, CloudWatch invocations per day, the
last log event, its role's attack surface), plus one reading row (when, from
where, the window, the IAM users and directory names the owner flags need).
:func:`inventory_step` rebuilds :class:`~.inventory.FunctionInfo` records from
those rows and judges them with the same :func:`~.verdicts.judge_all` the
command runs, with lambdaguard's own evidence read from the store, so every
view shows the verdicts with no AWS access, and a function lambdaguard heard
from since the reading counts as used.

Verdicts are judged as of the reading's time (``read_at``), not the view's:
CloudWatch was read up to then, and judging a later instant would count the
unread days as quiet ones and lean towards "dead", the costly mistake. The
views say how old the reading is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lambdaguard.analysis.inventory import FunctionInfo, Inventory, Trigger

if TYPE_CHECKING:
    from lambdaguard.analysis.findings import Findings
    from lambdaguard.analysis.fleet import Step
    from lambdaguard.analysis.verdicts import AttackSurface, Finding
    from lambdaguard.collector.store import Store
    from lambdaguard.evidence import InventoryEntry

__all__ = [
    "StoredInventory",
    "entry_of",
    "function_of",
    "inventory_step",
    "record",
    "stored_inventory",
]

# Bumped when the facts' shape changes; rows of another version are listed, not judged.
FACTS_VERSION = 1


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _parse(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) and text else None


def _trigger_facts(t: Trigger) -> dict[str, Any]:
    return {
        "kind": t.kind,
        "source": t.source,
        "enabled": t.enabled,
        "source_exists": t.source_exists,
        "detail": t.detail,
        "ident": t.ident,
        "schedule": t.schedule,
        "timezone": t.timezone,
        "start": _time(t.start),
        "end": _time(t.end),
        "anchor": _time(t.anchor),
        "public": t.public,
        "region": t.region,
    }


def _trigger_of(d: Mapping[str, Any]) -> Trigger:
    return Trigger(
        kind=str(d["kind"]),
        source=str(d["source"]),
        enabled=d.get("enabled"),
        source_exists=d.get("source_exists"),
        detail=str(d.get("detail") or ""),
        ident=str(d.get("ident") or ""),
        schedule=str(d.get("schedule") or ""),
        timezone=str(d.get("timezone") or "UTC"),
        start=_parse(d.get("start")),
        end=_parse(d.get("end")),
        anchor=_parse(d.get("anchor")),
        public=bool(d.get("public")),
        region=str(d.get("region") or ""),
    )


def _days_facts(days: Mapping[date, int] | None) -> dict[str, int] | None:
    if days is None:
        return None
    return {d.isoformat(): int(n) for d, n in sorted(days.items())}


def _days_of(value: Any) -> dict[date, int] | None:
    if value is None:
        return None
    return {date.fromisoformat(k): int(v) for k, v in dict(value).items()}


def _surface_facts(surface: AttackSurface | None) -> dict[str, Any] | None:
    if surface is None or surface.access is None:
        return None  # the grants were not evaluated
    return {
        "access": dict(surface.access),
        "admin_equivalent": surface.admin_equivalent,
        "escalation": list(surface.escalation),
        "note": surface.note,
    }


def entry_of(
    fn: FunctionInfo, *, source: str, surface: AttackSurface | None = None
) -> InventoryEntry:
    """A function as the store keeps it: its listing, and in ``facts`` all the judgement needs."""
    from lambdaguard.evidence import InventoryEntry

    return InventoryEntry(
        arn=fn.arn,
        account=fn.account,
        region=fn.region,
        name=fn.name,
        runtime=fn.runtime,
        role=fn.role,
        package_type=fn.package_type,
        architectures=fn.architectures,
        layers=fn.layers,
        lambdaguard=fn.lambdaguard,
        tags=fn.tags,
        state=fn.state,
        last_modified=fn.last_modified,
        source=source,
        facts={
            "version": FACTS_VERSION,
            "log_group": fn.log_group,
            "triggers": [_trigger_facts(t) for t in fn.triggers],
            "invocations": _days_facts(fn.invocations),
            "errors": _days_facts(fn.errors),
            "metrics_complete": fn.metrics_complete,
            "last_log_event": _time(fn.last_log_event),
            "tags_known": fn.tags_known,
            "unread": list(fn.unread),
            "surface": _surface_facts(surface),
        },
    )


def function_of(entry: InventoryEntry) -> FunctionInfo | None:
    """The function as the inventory read it; None for a row without facts (an older lambdaguard)."""
    facts = entry.facts
    if facts.get("version") != FACTS_VERSION:
        return None
    return FunctionInfo(
        name=entry.name,
        arn=entry.arn,
        region=entry.region,
        account=entry.account,
        runtime=entry.runtime,
        architectures=tuple(entry.architectures),
        role=entry.role,
        last_modified=entry.last_modified,
        tags=dict(entry.tags),
        package_type=entry.package_type,
        layers=tuple(entry.layers),
        lambdaguard=entry.lambdaguard,
        state=entry.state,
        log_group=str(facts.get("log_group") or ""),
        triggers=tuple(_trigger_of(t) for t in facts.get("triggers") or ()),
        invocations=_days_of(facts.get("invocations")),
        errors=_days_of(facts.get("errors")),
        metrics_complete=bool(facts.get("metrics_complete")),
        last_log_event=_parse(facts.get("last_log_event")),
        tags_known=bool(facts.get("tags_known", True)),
        unread=tuple(facts.get("unread") or ()),
    )


def _surface_of(entry: InventoryEntry) -> AttackSurface | None:
    from lambdaguard.analysis.verdicts import AttackSurface

    found = entry.facts.get("surface")
    if not isinstance(found, dict):
        return None
    return AttackSurface(
        access=dict(found.get("access") or {}),
        admin_equivalent=bool(found.get("admin_equivalent")),
        escalation=tuple(found.get("escalation") or ()),
        note=str(found.get("note") or ""),
    )


def record(
    store: Store,
    inventory: Inventory,
    *,
    now: datetime,
    source: str,
    window: timedelta = timedelta(days=90),
    findings: Iterable[Finding] = (),
    directory: Iterable[str] | None = None,
) -> int:
    """Keep the reading in the store, so every view can judge from the store alone.

    ``findings`` (the judgement just made) gives each function's attack
    surface when the role grants were evaluated; ``directory`` the staff and
    team names the owner flags were checked against. Returns rows written.
    """
    from lambdaguard.evidence import InventoryReading

    surfaces = {f.function.arn: f.surface for f in findings}
    entries = [
        entry_of(fn, source=source, surface=surfaces.get(fn.arn))
        for fn in inventory.functions
        if fn.arn
    ]
    # Only a live listing is known to be whole: an export may be a subset of the account.
    unlisted = {w.where for w in inventory.warnings if w.what == "lambda:ListFunctions"}
    scopes = (
        sorted({(fn.account, fn.region) for fn in inventory.functions if fn.account})
        if source == "live"
        else []
    )
    scopes = [s for s in scopes if s[1] not in unlisted]
    reading = InventoryReading(
        read_at=now,
        source=source,
        window_s=int(window.total_seconds()),
        functions=len(entries),
        partial=inventory.partial,
        scopes=tuple(scopes),
        users=tuple(sorted(inventory.users)) if inventory.users is not None else None,
        directory=tuple(sorted(set(directory))) if directory is not None else None,
        warnings=tuple(str(w) for w in inventory.warnings),
        api_calls=dict(inventory.api_calls),
    )
    return store.record_inventory(entries, read_at=now, reading=reading)


@dataclass(frozen=True, slots=True)
class StoredInventory:
    """The verdicts rebuilt from the store, and what the views say about the readings."""

    findings: tuple[Finding, ...]
    read_at: datetime | None  # the newest reading
    oldest: datetime | None  # the oldest reading a judged function comes from
    source: str
    window: timedelta | None
    partial: bool
    warnings: tuple[str, ...]
    listed_only: int  # rows of an older lambdaguard, listed but not judgeable


def stored_inventory(store: Store, *, only: str | None = None) -> StoredInventory | None:
    """The stored inventory judged again with the store's evidence; None when none was recorded."""
    from lambdaguard.analysis.telemetry import read_telemetry
    from lambdaguard.analysis.verdicts import judge_all

    entries = [e for e in store.inventory() if only in (None, e.arn, e.name)]
    if not entries:
        return None
    readings = {r.read_at: r for r in store.inventory_readings()}
    telemetry = read_telemetry(store)
    by_reading: dict[datetime, list[tuple[InventoryEntry, FunctionInfo]]] = {}
    listed_only = 0
    for e in entries:
        info = function_of(e) if e.read_at in readings else None
        if e.read_at is not None and info is not None:
            by_reading.setdefault(e.read_at, []).append((e, info))
        else:
            listed_only += 1
    found: list[Finding] = []
    warnings: list[str] = []
    partial = False
    for read_at in sorted(by_reading):
        reading = readings[read_at]
        group = by_reading[read_at]
        surfaces = {e.arn: _surface_of(e) for e, _ in group}
        functions = tuple(info for _, info in group)
        found.extend(
            judge_all(
                Inventory(
                    functions,
                    users=frozenset(reading.users) if reading.users is not None else None,
                ),
                now=read_at,
                window=timedelta(seconds=reading.window_s),
                telemetry=telemetry,
                directory=reading.directory,
                surface=lambda fn, s=surfaces: s.get(fn.arn),  # type: ignore[misc]
            )
        )
        partial = partial or reading.partial
        warnings.extend(f"inventory: {w}" for w in reading.warnings)
    if listed_only:
        warnings.append(
            f"inventory: {listed_only} function(s) were recorded by an older lambdaguard without "
            "what the verdict needs: run `lambdaguard inventory` again to judge them"
        )
    newest = readings[max(by_reading)] if by_reading else None
    return StoredInventory(
        findings=tuple(found),
        read_at=newest.read_at if newest else None,
        oldest=min(by_reading) if by_reading else None,
        source=newest.source if newest else "",
        window=timedelta(seconds=newest.window_s) if newest else None,
        partial=partial,
        warnings=tuple(warnings),
        listed_only=listed_only,
    )


def inventory_step(stored: StoredInventory, *, only: str | None = None) -> Step:
    """A step for :func:`~.fleet.analyse`: each function's verdict, and the functions only the inventory knows.

    A function the account listed that lambdaguard never heard from is added
    with ``evidence=None``; every judged function gets its role, runtime and tags.
    """
    from lambdaguard.analysis import findings as model
    from lambdaguard.analysis.verdicts import judgement_of

    by_arn = {f.function.arn: f for f in stored.findings}
    by_place = {(f.function.region, f.function.name): f for f in stored.findings}

    def fill(fn: model.FunctionFindings, found: Finding) -> model.FunctionFindings:
        info = found.function
        return dataclasses.replace(
            fn,
            judgement=judgement_of(found),
            role_arn=fn.role_arn or info.role or None,
            runtime=fn.runtime or info.runtime or None,
            tags=fn.tags or tuple(sorted(info.tags.items())),
        )

    def step(findings: Findings) -> Findings:
        used: set[str] = set()
        out: list[model.FunctionFindings] = []
        for fn in findings.functions:
            match = by_arn.get(fn.arn) or (
                None if fn.account else by_place.get((fn.region, fn.name))
            )
            if match is None:
                out.append(fn)
                continue
            used.add(match.function.arn)
            out.append(fill(fn, match))
        for found in stored.findings:
            info = found.function
            if info.arn in used or only not in (None, info.arn, info.name):
                continue
            blank = model.FunctionFindings(info.arn, info.name, info.account, info.region, None)
            out.append(fill(blank, found))
        summary = model.InventorySummary(
            read_at=stored.read_at,
            oldest=stored.oldest,
            source=stored.source,
            window=stored.window,
            functions=len(stored.findings),
            partial=stored.partial,
            listed_only=stored.listed_only,
        )
        return dataclasses.replace(
            findings,
            functions=tuple(out),
            inventory=summary,
            warnings=(*findings.warnings, *stored.warnings),
            partial=findings.partial or stored.partial,
        )

    return step
