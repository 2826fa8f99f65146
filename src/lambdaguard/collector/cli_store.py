"""``lambdaguard store``: migrate, inspect and prune the collector's store.

- ``lambdaguard store migrate`` applies pending schema migrations (and creates
  the store where there is none);
- ``lambdaguard store stats`` prints the schema version and row counts;
- ``lambdaguard store prune --older-than 30d`` deletes what was last seen
  before then (calls, hosts, invocation days, functions, span ids).

Only ``migrate`` creates a store: the others name the path and exit 3 when
there is no store there. Options go before or after the action.

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
    # --store is accepted before or after the action (`store --store X stats` and
    # `store stats --store X`): the actions' copy defaults to SUPPRESS so that it
    # never overwrites a value given before the action.
    parser.add_argument("--store", metavar="URL", help="sqlite:///PATH or postgresql://… DSN")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--store",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="sqlite:///PATH or postgresql://… DSN",
    )
    common.add_argument("--format", choices=("text", "json"), default="text")
    common.add_argument(
        "--json", action="store_const", const="json", dest="format", help=argparse.SUPPRESS
    )
    sub = parser.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    sub.add_parser(
        "migrate", parents=[common], help="apply pending schema migrations (creates the store)"
    )
    sub.add_parser(
        "stats", parents=[common], help="print the schema version and row counts (read-only)"
    )
    prune = sub.add_parser("prune", parents=[common], help="delete data last seen before a cut-off")
    prune.add_argument("--older-than", required=True, metavar="DURATION", help="e.g. 30d, 12h, 90m")


def run(args: argparse.Namespace) -> int:
    """Run one store action; 3 when the store cannot be used."""
    import dataclasses
    import sys

    from lambdaguard.collector.settings import DEFAULT_STORE_URL, ENV, parse_duration
    from lambdaguard.collector.store import SCHEMA_VERSION, open_store
    from lambdaguard.errors import StoreError

    url = args.store or os.environ.get(ENV["store_url"]) or DEFAULT_STORE_URL
    as_json = args.format == "json"
    try:
        if args.store_command == "migrate":
            store = open_store(url, migrate=False)
            before = store.schema_version()
            after = store.migrate()
            store.close()
            if as_json:
                print(json.dumps({"before": before, "after": after, "supported": SCHEMA_VERSION}))
            else:
                print(f"schema version {before} -> {after} (this lambdaguard: {SCHEMA_VERSION})")
            return 0
        if args.store_command == "stats":
            # Read-only: a store that does not exist is an error, never created.
            store = open_store(url, migrate=False, create=False)
            stats = store.stats()
            store.close()
            if as_json:
                print(json.dumps(dataclasses.asdict(stats), sort_keys=True))
            else:
                for key, value in dataclasses.asdict(stats).items():
                    print(f"{key:16} {value}")
            return 0
        if args.store_command == "prune":
            seconds = parse_duration(args.older_than, name="--older-than")
            store = open_store(url, create=False)
            removed = store.prune(seconds)
            store.close()
            if as_json:
                print(json.dumps(removed, sort_keys=True))
            else:
                for key, value in removed.items():
                    print(f"{key:16} {value} removed")
            return 0
    except StoreError as exc:
        print(f"lambdaguard store: {exc}", file=sys.stderr)
        return 3
    return 2
