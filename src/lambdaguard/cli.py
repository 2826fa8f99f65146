"""The `lambdaguard` command.

Each command group lives beside the code it drives and exposes two functions,
``configure(parser)`` and ``run(args) -> int``. Those modules keep their heavy
imports inside ``run`` so that ``lambdaguard --help`` stays fast.

Exit codes: 0 success, 1 the command ran and found a problem, 2 bad input
(unknown names, malformed arguments), 3 a service or store could not be used.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol, cast

from lambdaguard import __version__
from lambdaguard.errors import AwsReadError, LambdaguardError, StoreError

__all__ = ["main"]

# name -> (module, one-line help). Add a command by adding a module here.
COMMANDS: dict[str, tuple[str, str]] = {
    "permissions": (
        "lambdaguard.iam.cli",
        "map an AWS API call to the IAM authorization requests AWS evaluates",
    ),
    "serve": (
        "lambdaguard.collector.cli_serve",
        "run the collector (OTLP/HTTP 4318, OTLP/gRPC 4317)",
    ),
    "store": (
        "lambdaguard.collector.cli_store",
        "inspect, migrate and prune the collector's store",
    ),
    "inventory": (
        "lambdaguard.analysis.cli_inventory",
        "every function, what can still invoke it, and what can go (dead, idle, flags)",
    ),
    "hosts": (
        "lambdaguard.analysis.cli_hosts",
        "third-party hosts per function and an egress allow-list",
    ),
    "functions": (
        "lambdaguard.views.cli_functions",
        "one line per function: verdict, invocations, errors, cold starts, calls, hosts",
    ),
    "show": (
        "lambdaguard.views.cli_show",
        "one function: invocations over time, AWS calls and their IAM requests, hosts",
    ),
    "report": (
        "lambdaguard.views.cli_report",
        "write the HTML report: one self-contained file (-o report.html)",
    ),
    "policy": (
        "lambdaguard.views.cli_policy",
        "the right-sized IAM policy for a function's role: diff, evidence, proof, trial",
    ),
    "findings": (
        "lambdaguard.views.cli_findings",
        "every function, riskiest first, with its policy proposal (JSON or a table)",
    ),
    "demo": (
        "lambdaguard.local.demo",
        "run the sample functions locally and show what was recorded",
    ),
}


class _Command(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...
    def run(self, args: argparse.Namespace) -> int: ...


# Plain text: argparse prints descriptions as they are, so no docstring markup here.
_DESCRIPTION = "Record what AWS Lambda functions really do, and judge it."
_EPILOG = """\
The store is --store URL, else $LAMBDAGUARD_STORE, else sqlite:///.lambdaguard/lambdaguard.db.
Every command takes --format json for machine-readable output. `lambdaguard COMMAND --help`
tells more.

exit codes: 0 success, 1 the command ran and found a problem, 2 bad input,
3 a service or the store could not be used (or there is no store where it was pointed)
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lambdaguard",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lambdaguard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = cast(_Command, importlib.import_module(module_name))
        except ImportError as exc:  # a command whose extra is not installed
            cmd = sub.add_parser(name, help=f"{help_text} (unavailable: {exc})")
            cmd.set_defaults(_unavailable=str(exc))
            continue
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        module.configure(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = _parser().parse_args(argv)
    if getattr(args, "_unavailable", None):
        print(
            f"lambdaguard {args.command}: not installed ({args._unavailable}); "
            "install the collector extra: pip install 'lambdaguard-layer[collector]'",
            file=sys.stderr,
        )
        return 3
    try:
        return int(args._run(args))
    except (StoreError, AwsReadError) as exc:
        print(f"lambdaguard {args.command}: {exc}", file=sys.stderr)
        return 3
    except LambdaguardError as exc:
        print(f"lambdaguard {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
