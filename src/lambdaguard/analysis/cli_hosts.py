"""``lambdaguard hosts``: the third-party hosts each function connected to, and an allow-list.

``lambdaguard hosts [FUNCTION] [--since DATE] [--baseline DATE]
[--format text|json|dns-firewall|squid|domains]`` reads lambdaguard's store
(``--store``, else ``LAMBDAGUARD_STORE``, else the default store). AWS
endpoints are left out. Plaintext connections and hosts first seen after the
baseline are marked. Exit 0, or 1 when a plaintext host or a new host was
found, 2 bad input, 3 the store unreachable.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `lambdaguard hosts`."""
    parser.add_argument(
        "function", nargs="?", default="", help="a function name or ARN (default: all)"
    )
    parser.add_argument("--since", metavar="DATE", help="only hosts seen on or after this date")
    parser.add_argument(
        "--baseline", metavar="DATE", help="mark hosts first seen after this date as new (drift)"
    )
    parser.add_argument(
        "--format",
        choices=("text", "json", "dns-firewall", "squid", "domains"),
        default="text",
        help="text table, JSON, a DNS Firewall domain-list body, a Squid allow-list, or domains",
    )
    parser.add_argument("--store", metavar="URL", help="sqlite:///PATH or postgresql://… DSN")
    parser.add_argument(
        "--list-id",
        default="<firewall-domain-list-id>",
        help="the DNS Firewall domain list id to put in the dns-firewall output",
    )


def _date(text: str | None, name: str) -> datetime | None:
    from lambdaguard.errors import ConfigError

    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"{name}: {text!r} is not a date (YYYY-MM-DD or ISO-8601)") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> int:
    """Print the hosts; see the module docstring for exit codes."""
    from lambdaguard.analysis import egress
    from lambdaguard.analysis.cli_inventory import open_telemetry
    from lambdaguard.errors import StoreError

    since = _date(args.since, "--since")
    baseline = _date(args.baseline, "--baseline")
    try:
        telemetry, note = open_telemetry(args.store)
    except StoreError as exc:
        print(f"lambdaguard hosts: {exc}", file=sys.stderr)
        return 3
    if telemetry is None:
        print(f"lambdaguard hosts: {note}", file=sys.stderr)
        return 3
    if args.function and not any(
        args.function in (t.name, t.arn) for t in telemetry.by_arn.values()
    ):
        print(f"lambdaguard hosts: no function {args.function!r} in the store", file=sys.stderr)
        return 2
    rows = egress.host_rows(telemetry, function=args.function, since=since, baseline=baseline)
    if args.format == "json":
        print(egress.as_json(rows))
    elif args.format == "dns-firewall":
        print(json.dumps(egress.dns_firewall(rows, list_id=args.list_id), indent=2))
    elif args.format == "squid":
        sys.stdout.write(egress.squid(rows))
    elif args.format == "domains":
        sys.stdout.write(egress.domain_list(rows))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="Third-party hosts (AWS endpoints left out)")
        for column in (
            "function",
            "host",
            "port",
            "TLS",
            "first seen",
            "last seen",
            "count",
            "failures",
            "new",
        ):
            table.add_column(column)
        for r in rows:
            table.add_row(
                r.function,
                r.host,
                str(r.port),
                "TLS" if r.tls else "[red]PLAINTEXT[/]",
                r.first_seen.strftime("%Y-%m-%d"),
                r.last_seen.strftime("%Y-%m-%d"),
                str(r.count),
                str(r.failures),
                "new" if r.new else "",
            )
        Console(highlight=False).print(table)
    return 1 if any(not r.tls or r.new for r in rows) else 0
