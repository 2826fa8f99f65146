"""``lambdaguard findings``: every function at once, riskiest first, with its policy proposal.

The findings document (``--format json``, schema ``lambdaguard.findings/2``,
documented in the README) is the same one ``lambdaguard report`` embeds, with
each function's proposal filled: the proposed documents, what each statement
rests on, what was needed but not granted, what is granted but never used, the
escalation paths before and after, the proof and the trial. Grants are read
live (read-only) by default, or from exports (``--authorization-details FILE
--functions FILE``). ``--format text`` prints one line per function.

Exit codes: 0 shown, 2 bad input, 3 AWS or the store unreachable.
"""

from __future__ import annotations

import argparse

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``lambdaguard findings``."""
    from lambdaguard.views._grants import add_grant_options
    from lambdaguard.views._options import add_common

    add_common(parser, formats=("text", "json"))
    add_grant_options(parser)


def run(args: argparse.Namespace) -> int:
    """Print the findings, riskiest function first."""
    from lambdaguard.views._grants import policy_steps
    from lambdaguard.views._options import emit_json, load
    from lambdaguard.views.document import document
    from lambdaguard.views.policy_view import render_findings
    from lambdaguard.views.terminal import console_for

    findings = load(args, label="judging", steps=policy_steps(args))
    if args.format == "json":
        emit_json(document(findings))
    else:
        render_findings(findings, console_for(), now=findings.generated_at)
    return 0
