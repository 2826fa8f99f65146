"""``lambdaguard store``: migrate, inspect and prune the collector's store.

- ``lambdaguard store migrate`` applies pending schema migrations;
- ``lambdaguard store stats`` prints the schema version and row counts;
- ``lambdaguard store prune --older-than 30d`` deletes what was last seen
  before then (calls, hosts, invocation days, functions, span ids).

The store is ``--store URL``, else ``LAMBDAGUARD_STORE``, else the default
``sqlite:///.lambdaguard/lambdaguard.db``.
"""

from __future__ import annotations

import argparse
import json
import os

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the `lambdaguard store` subcommands."""
    parser.add_argument("--store", metavar="URL", help="sqlite:///PATH or postgresql://… DSN")
    sub = parser.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    sub.add_parser("migrate", help="apply pending schema migrations")
    stats = sub.add_parser("stats", help="print the schema version and row counts")
    stats.add_argument("--json", action="store_true", help="print JSON")
    prune = sub.add_parser("prune", help="delete data last seen before a cut-off")
    prune.add_argument("--older-than", required=True, metavar="DURATION", help="e.g. 30d, 12h, 90m")
    prune.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    """Run one store action; 3 when the store cannot be used."""
    import dataclasses
    import sys

    from lambdaguard.collector.settings import DEFAULT_STORE_URL, ENV, parse_duration
    from lambdaguard.collector.store import SCHEMA_VERSION, open_store
    from lambdaguard.errors import StoreError

    url = args.store or os.environ.get(ENV["store_url"]) or DEFAULT_STORE_URL
    try:
        if args.store_command == "migrate":
            store = open_store(url, migrate=False)
            before = store.schema_version()
            after = store.migrate()
            store.close()
            print(f"schema version {before} -> {after} (this lambdaguard: {SCHEMA_VERSION})")
            return 0
        if args.store_command == "stats":
            store = open_store(url, migrate=False)
            stats = store.stats()
            store.close()
            if args.json:
                print(json.dumps(dataclasses.asdict(stats), sort_keys=True))
            else:
                for key, value in dataclasses.asdict(stats).items():
                    print(f"{key:16} {value}")
            return 0
        if args.store_command == "prune":
            seconds = parse_duration(args.older_than, name="--older-than")
            store = open_store(url)
            removed = store.prune(seconds)
            store.close()
            if args.json:
                print(json.dumps(removed, sort_keys=True))
            else:
                for key, value in removed.items():
                    print(f"{key:16} {value} removed")
            return 0
    except StoreError as exc:
        print(f"lambdaguard store: {exc}", file=sys.stderr)
        return 3
    return 2
