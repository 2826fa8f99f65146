"""``lambdaguard functions``: one line per function the store knows.

Verdict (when the inventory judged it), invocations, errors, cold starts,
last seen, AWS calls, third-party hosts and the layer version. ``--format
json`` prints ``{"schema", "generated_at", "source", "window", "inventory",
"functions": [row, …]}`` with the rows of :func:`lambdaguard.views.document.function_row`.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["configure", "run"]

_SORTS = ("name", "risk", "invocations", "last-seen")


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``lambdaguard functions``."""
    from lambdaguard.views._options import add_common

    add_common(parser)
    parser.add_argument(
        "--sort", choices=_SORTS, default="name", help="order of the lines (default: name)"
    )


def _key(sort: str) -> Any:
    if sort == "risk":
        return lambda f: (-f.risk.score, f.name, f.arn)
    if sort == "invocations":
        return lambda f: (-(f.evidence.invocations.total if f.evidence else -1), f.name, f.arn)
    if sort == "last-seen":
        return lambda f: (-(f.evidence.last_seen.timestamp() if f.evidence else 0), f.name, f.arn)
    return lambda f: (f.name, f.account, f.region, f.arn)


def run(args: argparse.Namespace) -> int:
    """Print the functions; 3 when the store cannot be read."""
    import dataclasses

    from lambdaguard.views._options import emit_json, load
    from lambdaguard.views.document import SCHEMA, function_row, inventory_document, iso
    from lambdaguard.views.terminal import console_for, render_functions

    findings = load(args, label="reading the store")
    findings = dataclasses.replace(
        findings, functions=tuple(sorted(findings.functions, key=_key(args.sort)))
    )
    if args.format == "json":
        emit_json(
            {
                "schema": SCHEMA,
                "generated_at": iso(findings.generated_at),
                "source": findings.source,
                "window": {"start": iso(findings.window_start), "end": iso(findings.window_end)},
                "inventory": inventory_document(findings),
                "functions": [function_row(f) for f in findings.functions],
            }
        )
        return 0
    render_functions(findings, console_for(), now=findings.generated_at)
    return 0
