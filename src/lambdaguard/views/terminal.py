"""Terminal views of the findings: ``lambdaguard functions`` and ``lambdaguard show``.

Drawn with ``rich``: tables with colour on a terminal, and the same tables as
plain aligned text (no colour, no box lines, no wrapping) when the output is a
pipe or a file, so ``grep`` and ``awk`` work on it. Numbers come from
:mod:`lambdaguard.views.document`'s rows, the same the JSON and the report
show.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from typing import IO, Any, Final

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lambdaguard.analysis.findings import Findings, FunctionFindings
from lambdaguard.views.document import function_row

__all__ = [
    "console_for",
    "plain",
    "render_function",
    "render_functions",
    "safe_text",
    "since",
    "table",
]

# Days shown in `show`'s invocations table; the JSON has them all.
MAX_DAYS: Final = 31
_BAR: Final = 24
_VERDICT_STYLE: Final = {
    "active": "green",
    "idle-expected": "cyan",
    "idle": "yellow",
    "dead": "bold red",
}


def console_for(stream: IO[str] | None = None) -> Console:
    """A console that draws for a terminal, or plain text for anything else."""
    stream = stream or sys.stdout
    # Names, hosts and parameters come from telemetry: never read them as rich
    # markup or emoji codes (a host "[link=…]" must print as itself).
    safe: dict[str, Any] = {"markup": False, "emoji": False, "highlight": False}
    if stream.isatty():
        return Console(file=stream, **safe)
    # Wide enough that rows never wrap: a pipe has no width to respect.
    return Console(file=stream, width=10_000, color_system=None, force_terminal=False, **safe)


# Every C0/C1 control character and DEL, shown as \xNN: an escape sequence in a
# recorded host or name must not move the cursor or rewrite the user's screen.
_CONTROLS: Final = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}


def _t(value: object, style: str = "") -> Text:
    """Telemetry-derived text, made safe for a terminal."""
    return Text(str(value).translate(_CONTROLS), style=style)


# The helpers other views (the policy view) draw with, so every view escapes alike.
safe_text = _t


def _lines(pieces: Sequence[str], style: str = "") -> Text:
    """Several telemetry-derived lines in one cell: each made safe, joined by real newlines."""
    out = Text()
    for i, piece in enumerate(pieces):
        if i:
            out.append("\n")
        out.append_text(_t(piece, style))
    return out


def _print(console: Console, renderable: Any) -> None:
    """Print; without a terminal, without the padding rich adds to the end of each line."""
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as captured:
        console.print(renderable)
    console.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def plain(console: Console, renderable: Any) -> None:
    """Print a table: on a terminal as drawn, elsewhere without trailing padding."""
    _print(console, renderable)


def table(console: Console, *columns: str, right: Sequence[str] = ()) -> Table:
    """A table in the views' style (box lines on a terminal only; no wrapping)."""
    return _table(console, *columns, right=right)


def _table(console: Console, *columns: str, right: Sequence[str] = ()) -> Table:
    plain = not console.is_terminal
    table = Table(
        box=None if plain else box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        header_style="" if plain else "bold",
    )
    for name in columns:
        table.add_column(name, justify="right" if name in right else "left", no_wrap=True)
    return table


def since(moment: datetime | None, now: datetime) -> str:
    """``3 h ago``-style age of a moment relative to ``now``."""
    if moment is None:
        return "-"
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return "in the future"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _verdict(value: str | None) -> Text:
    if value is None:
        return Text("unjudged", style="dim")
    return Text(value, style=_VERDICT_STYLE.get(value, ""))


def render_functions(findings: Findings, console: Console, *, now: datetime) -> None:
    """One line per function: verdict, invocations, errors, cold starts, last seen, calls, hosts, layer."""
    fns = findings.functions
    if not fns:
        console.print("no functions in the store yet: point a function's layer at the collector")
        return
    places = {(f.account, f.region) for f in fns}
    columns = ["FUNCTION"]
    if len(places) > 1:
        columns += ["ACCOUNT", "REGION"]
    columns += [
        "VERDICT",
        "INVOCATIONS",
        "ERRORS",
        "COLD",
        "LAST SEEN",
        "CALLS",
        "HOSTS",
        "LAYER",
    ]
    table = _table(console, *columns, right=("INVOCATIONS", "ERRORS", "COLD", "CALLS", "HOSTS"))
    for fn in fns:
        row = function_row(fn)
        cells: list[Any] = [_t(fn.name)]
        if len(places) > 1:
            cells += [_t(fn.account), _t(fn.region)]
        errors = Text(_n(row["errors"]), style="red" if row["errors"] else "")
        hosts = Text(_n(row["hosts"]))
        if row["plaintext_hosts"]:
            hosts = Text(f"{row['hosts']} ({row['plaintext_hosts']} plaintext)", style="red")
        cells += [
            _verdict(row["verdict"]),
            _n(row["invocations"]),
            errors,
            _n(row["cold_starts"]),
            since(fn.evidence.last_seen if fn.evidence else None, now),
            _n(row["calls"]),
            hosts,
            _t(row["layer_version"] or "-"),
        ]
        table.add_row(*cells)
    _print(console, table)
    judged = sum(1 for f in fns if f.verdict is not None)
    if not judged:
        console.print(
            Text(
                "verdicts come from the inventory of the account; none is in the store "
                "(run `lambdaguard inventory --store …` to record one)",
                style="dim",
            )
        )
    else:
        console.print(Text(inventory_age(findings, now), style="dim"))


def inventory_age(findings: Findings, now: datetime) -> str:
    """One line saying when the verdicts' inventory was read and how old it is."""
    inv = findings.inventory
    if inv is None or inv.read_at is None:
        return "verdicts: no inventory in the store"
    window = f", {inv.window.days}-day window" if inv.window is not None else ""
    older = (
        f" (the oldest verdict from {inv.oldest:%Y-%m-%d})"
        if inv.oldest is not None and inv.oldest.date() != inv.read_at.date()
        else ""
    )
    return (
        f"verdicts as of the inventory read {inv.read_at:%Y-%m-%d %H:%M} UTC "
        f"({since(inv.read_at, now)}, {inv.source or 'live'}{window}){older}; "
        "`lambdaguard inventory` reads it again"
    )


def _render_judgement(fn: FunctionFindings, console: Console, *, now: datetime) -> None:
    """The configured triggers, the attack surface and the clean-up plan of a judged function."""
    j = fn.judgement
    if j is None:
        return
    if j.last_invoked is not None:
        console.print(_t(f"last invoked {j.last_invoked:%Y-%m-%d %H:%M} UTC"))
    if j.triggers:
        _heading(console, "Triggers configured in AWS")
        table = _table(console, "KIND", "SOURCE", "ENABLED", "SOURCE EXISTS", "DETAIL")

        def yes(v: bool | None) -> str:
            return "unknown" if v is None else ("yes" if v else "no")

        for t in j.triggers:
            table.add_row(
                _t(t.kind), _t(t.source), yes(t.enabled), yes(t.source_exists), _t(t.detail or "-")
            )
        _print(console, table)
    surface = j.surface
    parts = []
    if surface.access is not None:
        parts.append(
            ", ".join(f"{level} {n:,}" for level, n in surface.access) or "no action allowed"
        )
    if surface.admin_equivalent:
        parts.append("admin-equivalent")
    if surface.escalation:
        parts.append("privilege escalation: " + "; ".join(surface.escalation))
    if j.public_entry_points:
        parts.append("public entry points: " + ", ".join(j.public_entry_points))
    if parts or surface.note:
        _heading(console, "Attack surface (what its role could still do)")
        for part in parts or [surface.note]:
            console.print(_t(f"  {part}"))
    if j.plan:
        _heading(console, "Clean-up plan (nothing was changed; review, then run these yourself)")
        for step in j.plan:
            console.print(_t(f"  # {step.description}", "dim"))
            console.print(_t(f"  {step.command}"))


def _heading(console: Console, text: str) -> None:
    console.print()
    console.print(Text(text, style="bold"))


def render_function(fn: FunctionFindings, console: Console, *, now: datetime) -> None:
    """One function: invocations over time, AWS calls and their IAM requests, hosts, triggers."""
    console.print(_t(fn.name, "bold"))
    console.print(_t(fn.arn))
    e = fn.evidence
    facts = [f"account {fn.account}", f"region {fn.region}"]
    if fn.runtime:
        facts.append(f"runtime {fn.runtime}")
    if e is not None:
        facts.append(f"layer {e.layer_version or '?'}")
        facts.append(f"first seen {e.first_seen:%Y-%m-%d %H:%M} UTC")
        facts.append(f"last seen {e.last_seen:%Y-%m-%d %H:%M} UTC ({since(e.last_seen, now)})")
    console.print(_t(", ".join(facts)))
    verdict = Text("verdict: ")
    verdict.append_text(_verdict(fn.verdict.value if fn.verdict else None))
    j = fn.judgement
    if j is not None:
        verdict.append(f" ({j.confidence.level.value} confidence)")
        if j.as_of is not None:
            verdict.append(
                f", inventory read {j.as_of:%Y-%m-%d %H:%M} UTC ({since(j.as_of, now)})",
                style="dim",
            )
        console.print(verdict)
        for reason in j.reasons:
            console.print(_t(f"  - {reason}"))
        for flag in j.flags:
            console.print(_t(f"  ! {flag.name}: {flag.reason}", "yellow"))
    else:
        verdict.append(" (no inventory of the account in the store)", style="dim")
        console.print(verdict)
    if fn.risk.reasons:
        _heading(console, f"Risk {fn.risk.score}")
        for reason in fn.risk.reasons:
            console.print(_t(f"  - {reason}"))
    if j is not None:
        _render_judgement(fn, console, now=now)
    if e is None:
        console.print()
        console.print("lambdaguard has recorded nothing for this function")
        return

    inv = e.invocations
    _heading(
        console,
        f"Invocations: {inv.total:,} (cold starts {inv.cold_starts:,}, errors {inv.errors:,}, "
        f"timeouts {inv.timeouts:,})",
    )
    days = inv.days[-MAX_DAYS:]
    peak = max((d.invocations for d in days), default=0) or 1
    table = _table(
        console,
        "DAY",
        "INVOCATIONS",
        "",
        "COLD",
        "ERRORS",
        "TIMEOUTS",
        "P50 MS",
        "P95 MS",
        right=("INVOCATIONS", "COLD", "ERRORS", "TIMEOUTS", "P50 MS", "P95 MS"),
    )
    for d in days:
        bar = "#" * max(1, round(_BAR * d.invocations / peak)) if d.invocations else ""
        table.add_row(
            d.day.isoformat(),
            f"{d.invocations:,}",
            Text(bar, style="blue"),
            _n(d.cold_starts),
            Text(_n(d.errors), style="red" if d.errors else ""),
            Text(_n(d.timeouts), style="magenta" if d.timeouts else ""),
            _ms(d.p50_ms),
            _ms(d.p95_ms),
        )
    _print(console, table)
    if len(inv.days) > len(days):
        console.print(
            Text(f"{len(inv.days) - len(days)} earlier days: see --format json", style="dim")
        )
    if inv.error_types:
        console.print(
            _t(
                "error types: "
                + ", ".join(
                    f"{t.error_type} x{t.count:,}" + (" (INIT)" if t.phase == "init" else "")
                    for t in inv.error_types
                ),
                "red",
            )
        )
    if e.versions:
        console.print(
            _t(
                "versions: "
                + ", ".join(
                    f"{v.version}" + (f" ({v.alias})" if v.alias else "") + f" x{v.count:,}"
                    for v in e.versions
                )
            )
        )

    if e.triggers:
        _heading(console, "Triggers seen")
        table = _table(console, "KIND", "SOURCE", "COUNT", "LAST SEEN", right=("COUNT",))
        for t in e.triggers:
            table.add_row(_t(t.kind), _t(t.source or "-"), f"{t.count:,}", since(t.last_seen, now))
        _print(console, table)

    _heading(console, f"AWS calls: {e.calls_count:,} ({len(e.calls)} operations)")
    if not e.calls:
        console.print("none recorded")
    else:
        table = _table(
            console,
            "CALL",
            "COUNT",
            "FAILED",
            "LAST SEEN",
            "IAM REQUESTS",
            right=("COUNT", "FAILED"),
        )
        for g in e.calls:
            reqs = g.requests
            lines = _lines([f"{r.action}  {r.resource}" for r in reqs] or ["(none needed)"])
            roles = sorted(
                {
                    m.call.principal.role_arn or m.call.principal.kind
                    for m in g.calls
                    if not m.call.principal.is_execution_role
                }
            )
            for role in roles:
                lines.append("\n")
                lines.append_text(_t(f"signed as {role}, not the execution role", "yellow"))
            notes = sorted({c.note for c in g.calls if c.note})
            for note in notes:
                lines.append("\n")
                lines.append_text(_t(note, "yellow"))
            failed = Text(_n(g.failed), style="red" if g.failed else "")
            table.add_row(
                _t(f"{g.service}:{g.operation}"),
                f"{g.count:,}",
                failed,
                since(g.last_seen, now),
                lines,
            )
        _print(console, table)

    _heading(console, f"Outbound hosts: {len(e.hosts)}")
    if not e.hosts:
        console.print("none recorded")
    else:
        table = _table(
            console,
            "HOST",
            "PORT",
            "TLS",
            "KIND",
            "CONNECTIONS",
            "FAILED",
            "FIRST SEEN",
            right=("PORT", "CONNECTIONS", "FAILED"),
        )
        for h in e.hosts:
            table.add_row(
                _t(h.host),
                str(h.port),
                Text("TLS", style="green") if h.tls else Text("PLAINTEXT", style="bold red"),
                "AWS endpoint" if h.aws else "third party",
                f"{h.count:,}",
                _n(h.failures),
                f"{h.first_seen:%Y-%m-%d}",
            )
        _print(console, table)

    _heading(console, "Policy proposal")
    if fn.proposal is None:
        console.print(
            Text("not analysed: the role's grants were not read for this view", style="dim")
        )
    else:
        p = fn.proposal
        console.print(
            _t(
                f"role {p.role_arn}: {len(p.documents)} document(s), "
                f"{p.confidence.level.value} confidence"
                + ("" if p.proved is None else (", proved" if p.proved else ", proof FAILED"))
            )
        )
        for line in p.diff:
            style = {"removed": "red", "added": "green"}.get(line.change, "")
            sign = {"removed": "-", "added": "+"}.get(line.change, " ")
            console.print(_t(f"{sign} {line.text}", style))
