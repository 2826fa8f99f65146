"""``lambdaguard report``: the HTML report, one self-contained file.

Overview (functions by verdict, granted versus used, the riskiest functions
first) and a page per function (invocations over time, AWS calls and their
IAM requests, hosts, triggers; the policy and verdict sections once those
analyses ran), drawn from the findings document embedded in the file. Opens
without a network. ``--format json`` writes the findings document instead.
With grants (``--authorization-details FILE --functions FILE``, or
``--live-grants``) each function's policy proposal, diff, proof and trial are
in it too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``lambdaguard report``."""
    from lambdaguard.views._options import add_common

    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default=None,
        help="where to write it (default: report.html, or standard output for --format json; "
        "'-' for standard output)",
    )
    add_common(parser, formats=("html", "json"))
    from lambdaguard.views._grants import add_grant_options

    parser.add_argument(
        "--live-grants",
        action="store_true",
        help="read the grants live (read-only) to include each function's policy proposal",
    )
    add_grant_options(parser)


def run(args: argparse.Namespace) -> int:
    """Write the report; 3 when the store cannot be read, 2 when the file cannot be written."""
    import json
    import sys

    from lambdaguard.errors import ConfigError
    from lambdaguard.views._grants import policy_steps
    from lambdaguard.views._options import load
    from lambdaguard.views.document import document
    from lambdaguard.views.report import render_html

    with_grants = args.live_grants or args.authorization_details or args.functions
    findings = load(
        args, label="building the report", steps=policy_steps(args) if with_grants else None
    )
    doc = document(findings)
    if args.format == "json":
        text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
        output = args.output or "-"
    else:
        text = render_html(doc)
        output = args.output or "report.html"
    if output == "-":
        sys.stdout.write(text)
        return 0
    path = Path(output)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"-o {output}: cannot write the report ({exc.strerror})") from exc
    size = path.stat().st_size
    print(
        f"wrote {path} ({size / 1e6:.1f} MB, {len(findings.functions)} functions); "
        f"open it in a browser: file://{path.resolve()}",
        file=sys.stderr,
    )
    return 0
