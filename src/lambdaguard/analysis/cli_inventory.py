"""``lambdaguard inventory``: every function, what can still invoke it, and what can go.

Live (read-only credentials from the default chain; ``AWS_ENDPOINT_URL`` is
honoured) across ``--region``\\ s, or offline ``--from`` exported JSON files.
Prints a table, or ``--format json`` (``{"functions": [...]}``, documented in
the README). It never changes anything: dead functions come with a clean-up
plan as AWS CLI commands for a person to run.

Exit codes: 0 complete, 1 complete but partial (see the warnings), 2 bad
input, 3 AWS or the store unreachable.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambdaguard.analysis.inventory import Inventory
    from lambdaguard.analysis.telemetry import TelemetryIndex
    from lambdaguard.analysis.verdicts import Finding, SurfaceProvider
    from lambdaguard.collector.store import Store

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `lambdaguard inventory`."""
    parser.add_argument(
        "--region",
        action="append",
        default=[],
        metavar="REGION",
        help="a region to read (repeatable; default: AWS_REGION / AWS_DEFAULT_REGION)",
    )
    parser.add_argument(
        "--window", default="90d", metavar="DURATION", help="what counts as recent (default 90d)"
    )
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default text)"
    )
    parser.add_argument(
        "--from",
        dest="sources",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help="read exported JSON files (or directories of them) instead of AWS (repeatable)",
    )
    parser.add_argument(
        "--save", type=Path, metavar="FILE", help="also write what was read live as a bundle"
    )
    parser.add_argument(
        "--store",
        metavar="URL",
        help="lambdaguard's store for its own evidence (default: LAMBDAGUARD_STORE, "
        "else the default store if it exists)",
    )
    parser.add_argument(
        "--authorization-details",
        type=Path,
        metavar="FILE",
        help="offline: aws iam get-account-authorization-details output, to evaluate the roles",
    )
    parser.add_argument(
        "--no-record",
        action="store_true",
        help="do not keep the listing in the store (by default it is, when a store exists)",
    )
    parser.add_argument(
        "--directory",
        type=Path,
        metavar="CSV",
        help="current staff and teams (a CSV; every cell of columns named name, email, login, "
        "user, username or team): owners missing from it are flagged owner-gone",
    )
    parser.add_argument(
        "--now", metavar="ISO-8601", help="judge as of this instant (default: the current time)"
    )
    parser.add_argument(
        "--lookback",
        default="455d",
        metavar="DURATION",
        help="how far CloudWatch is read back to find the last invocation (max 455d, its retention)",
    )
    parser.add_argument(
        "--retry-mode",
        choices=("standard", "adaptive"),
        default="standard",
        help="botocore's retry mode for throttled calls (default standard)",
    )
    parser.add_argument(
        "--no-s3", action="store_true", help="do not read bucket notifications (many buckets)"
    )


def _now(text: str | None) -> datetime:
    from lambdaguard.errors import ConfigError

    if not text:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"--now: {text!r} is not an ISO-8601 instant ({exc})") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_directory(path: Path) -> frozenset[str]:
    """Names of current staff and teams from a CSV."""
    from lambdaguard.errors import ConfigError

    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"--directory: cannot read {path} ({exc})") from exc
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise ConfigError(f"--directory: {path} is empty (expected a CSV of staff and teams)")
    wanted = {"name", "email", "login", "user", "username", "team", "teams", "owner"}
    header = [c.strip().lower() for c in rows[0]]
    columns = [i for i, c in enumerate(header) if c in wanted]
    body = rows[1:] if columns else rows
    names = {
        cell.strip()
        for row in body
        for i, cell in enumerate(row)
        if cell.strip() and (not columns or i in columns)
    }
    return frozenset(names)


def open_existing_store(url: str | None, *, migrate: bool = False) -> tuple[Store | None, str]:
    """The store if it exists, or (None, why not). Never creates one."""
    from lambdaguard.collector.settings import DEFAULT_STORE_URL, ENV
    from lambdaguard.collector.store import open_store
    from lambdaguard.errors import StoreError

    explicit = url or os.environ.get(ENV["store_url"])
    target = explicit or DEFAULT_STORE_URL
    if target.startswith("sqlite:///"):
        path = Path(target.removeprefix("sqlite:///")).expanduser()
        if not path.exists():
            if explicit:
                raise StoreError(f"no store at {path} (nothing is created by a read)")
            return None, "no lambdaguard store: only CloudWatch and the account were read"
    return open_store(target, migrate=migrate), ""


def open_telemetry(url: str | None) -> tuple[TelemetryIndex | None, str]:
    """The store's evidence, or (None, why not). Never creates a store."""
    from lambdaguard.analysis.telemetry import read_telemetry

    store, note = open_existing_store(url)
    if store is None:
        return None, note
    try:
        return read_telemetry(store), ""
    finally:
        store.close()


def record(
    store: Store,
    inventory: Inventory,
    *,
    now: datetime,
    source: str,
    window: timedelta = timedelta(days=90),
    findings: list[Finding] | None = None,
    directory: frozenset[str] | None = None,
) -> int:
    """Keep the reading in the store, so the views judge from the store alone (:mod:`.stored`)."""
    from lambdaguard.analysis import stored

    return stored.record(
        store,
        inventory,
        now=now,
        source=source,
        window=window,
        findings=findings or (),
        directory=directory,
    )


def _regions(args: argparse.Namespace) -> list[str]:
    from lambdaguard.errors import ConfigError

    regions = list(dict.fromkeys(args.region))
    if not regions:
        env = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if env:
            regions = [env]
    if not regions and not args.sources:
        raise ConfigError(
            "no region: pass --region REGION (repeatable) or set AWS_REGION, "
            "or read exports with --from PATH"
        )
    return regions


def _progress() -> Any:
    """A rich progress bar on a terminal's stderr, else nothing."""
    if not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task("reading", total=1)

    def update(done: int, total: int, what: str) -> None:
        progress.update(task, completed=done, total=max(total, 1), description=what)

    return progress, update


def load(args: argparse.Namespace, now: datetime) -> Inventory:
    """Read the inventory live or from files, as the arguments say."""
    from lambdaguard.analysis import _live
    from lambdaguard.analysis.inventory import BUNDLE_FORMAT, assemble, read_exports
    from lambdaguard.collector.settings import parse_duration

    regions = _regions(args)
    if args.sources:
        sections, warnings, users = read_exports(
            args.sources, default_region=regions[0] if regions else ""
        )
        return assemble(sections, users=users, extra_warnings=warnings)
    lookback = parse_duration(args.lookback, name="--lookback") // 86400
    progress, update = _progress()
    reader = _live.LiveReader(
        _live.default_clients(args.retry_mode),
        regions,
        now=now,
        lookback_days=lookback,
        s3_notifications=not args.no_s3,
        progress=update,
    )
    if progress is not None:
        with progress:
            sections, users, warnings = reader.read()
    else:
        sections, users, warnings = reader.read()
    if args.save:
        bundle = {
            "lambdaguard": BUNDLE_FORMAT,
            "read_at": now.isoformat(),
            "regions": [s.to_json() for s in sections],
            "users": sorted(users) if users is not None else None,
        }
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(bundle, default=str, indent=1) + "\n", encoding="utf-8")
    return assemble(sections, users=users, api_calls=reader.calls, extra_warnings=warnings)


def run(args: argparse.Namespace) -> int:
    """Run the inventory; see the module docstring for exit codes."""
    from lambdaguard.analysis._live import AwsUnreachable
    from lambdaguard.analysis.verdicts import judge_all, summary
    from lambdaguard.collector.settings import parse_duration
    from lambdaguard.errors import StoreError

    now = _now(args.now)
    window = timedelta(seconds=parse_duration(args.window, name="--window"))
    directory = read_directory(args.directory) if args.directory else None
    from lambdaguard.analysis.telemetry import read_telemetry

    try:
        store, store_note = open_existing_store(args.store, migrate=not args.no_record)
        telemetry = read_telemetry(store) if store is not None else None
    except StoreError as exc:
        print(f"lambdaguard inventory: {exc}", file=sys.stderr)
        return 3
    try:
        inventory = load(args, now)
    except AwsUnreachable as exc:
        if store is not None:
            store.close()
        print(f"lambdaguard inventory: {exc}", file=sys.stderr)
        return 3
    except BaseException:
        if store is not None:
            store.close()
        raise
    notes = [store_note] if store_note else []
    try:
        findings = judge_all(
            inventory,
            now=now,
            window=window,
            telemetry=telemetry,
            directory=directory,
            surface=attack_surface_provider(args, _regions(args), notes),
        )
        if store is not None and not args.no_record:
            record(
                store,
                inventory,
                now=now,
                source="export" if args.sources else "live",
                window=window,
                findings=findings,
                directory=directory,
            )
            notes.append(
                "kept in the store: `lambdaguard functions`, `show`, `findings` and `report` "
                "show these verdicts without reading AWS again"
            )
    except StoreError as exc:
        print(f"lambdaguard inventory: {exc}", file=sys.stderr)
        return 3
    finally:
        if store is not None:
            store.close()
    counts = summary(findings)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "functions": [f.as_dict() for f in findings],
                    "summary": counts,
                    "partial": inventory.partial,
                    "warnings": [str(w) for w in inventory.warnings],
                    "notes": notes,
                    "now": now.isoformat(),
                    "window_days": window.days,
                    "api_calls": dict(sorted(inventory.api_calls.items())),
                },
                indent=2,
                sort_keys=False,
            )
        )
    else:
        render_text(findings, inventory, counts, window, "; ".join(notes))
    return 1 if inventory.partial else 0


def attack_surface_provider(
    args: argparse.Namespace, regions: list[str], notes: list[str]
) -> SurfaceProvider | None:
    """What each function's role could still do, read by the policies work when it is installed.

    The roles' grants are read by ``lambdaguard.analysis.grants`` (live, or
    offline from ``--authorization-details`` with the ``list-functions``
    exports among ``--from``) and judged by :mod:`lambdaguard.analysis.surface`.
    Without that module, or when the grants cannot be read, every finding says
    its role's grants were not evaluated, and a note says why.
    """
    from lambdaguard.analysis import surface
    from lambdaguard.errors import LambdaguardError

    module = surface.grants_module()
    if module is None:
        notes.append("attack surface: the role-grants reader (policies work) is not installed")
        return None
    try:
        if args.sources:
            if not args.authorization_details:
                notes.append(
                    "attack surface: offline, give --authorization-details FILE "
                    "(aws iam get-account-authorization-details) to evaluate the roles"
                )
                return None
            listings = [p for p in _export_files(args.sources) if _has_key(p, "Functions")]
            return surface.grants_provider(
                module.read_grants_offline, str(args.authorization_details), listings
            )
        return surface.grants_provider(
            lambda _: module.read_grants_live(
                regions=regions, progress=False, retry_mode=args.retry_mode
            ),
            None,
        )
    except LambdaguardError as exc:
        notes.append(f"attack surface not evaluated: {exc}")
        return None


def _export_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        out.extend(sorted(path.rglob("*.json")) if path.is_dir() else [path])
    return out


def _has_key(path: Path, key: str) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and key in data


_VERDICT_STYLE = {"dead": "bold red", "idle": "yellow", "idle-expected": "cyan", "active": "green"}


def render_text(
    findings: list[Finding],
    inventory: Inventory,
    counts: Any,
    window: timedelta,
    store_note: str,
) -> None:
    """Tables with rich (plain text when stdout is not a terminal)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 200)
    table = Table(title=f"Functions ({window.days}-day window), riskiest first")
    for column in (
        "function",
        "region",
        "verdict",
        "confidence",
        "last invoked",
        "triggers",
        "flags",
        "layer",
    ):
        table.add_column(column)
    for f in findings:
        fn = f.function
        triggers = ", ".join(sorted({t.kind for t in fn.triggers})) or "-"
        table.add_row(
            fn.name,
            fn.region,
            f"[{_VERDICT_STYLE[f.verdict]}]{f.verdict}[/]",
            f.confidence,
            f.last_invoked.strftime("%Y-%m-%d") if f.last_invoked else "never",
            triggers,
            ", ".join(f.flag_names) or "-",
            "yes" if fn.lambdaguard else "no",
        )
    console.print(table)
    console.print(
        "  ".join(f"{k}: {v}" for k, v in counts.items()) + f"   ({len(findings)} functions)"
    )
    dead = [f for f in findings if f.verdict == "dead"]
    for f in dead:
        console.print(f"\n[bold]{f.function.name}[/] ({f.function.region}) is dead:")
        for reason in f.reasons:
            console.print(f"  - {reason}")
        console.print("  clean-up plan (nothing was changed; run these yourself after review):")
        for step in f.plan:
            console.print(f"    # {step.description}")
            console.print(f"    {step.command}", markup=False)
    if store_note:
        console.print(f"\nnote: {store_note}")
    if inventory.warnings:
        console.print(f"\n[yellow]partial: {len(inventory.warnings)} warning(s)[/]")
        for w in inventory.warnings:
            console.print(f"  ! {w}", markup=False)
