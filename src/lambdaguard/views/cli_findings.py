"""``lambdaguard findings``: every function at once, riskiest first, with its policy proposal.

The findings document (``--format json``, schema ``lambdaguard.findings/1``,
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
    from datetime import UTC, datetime, timedelta

    from lambdaguard.analysis.evidence import IamRequests
    from lambdaguard.analysis.fleet import analyse, open_for_reading, printable_url
    from lambdaguard.analysis.policies import policy_step
    from lambdaguard.collector.settings import parse_duration
    from lambdaguard.views._grants import read_inputs
    from lambdaguard.views._options import emit_json, store_url
    from lambdaguard.views.document import document
    from lambdaguard.views.policy_view import render_findings
    from lambdaguard.views.terminal import console_for

    window = (
        timedelta(seconds=parse_duration(args.window, name="--window")) if args.window else None
    )
    now = datetime.now(UTC)
    url = store_url(args)
    store = open_for_reading(url)
    try:
        inputs = read_inputs(args)
        step = policy_step(inputs, store=store, now=now, window=window, requests=IamRequests())
        findings = analyse(store, now=now, window=window, source=printable_url(url), steps=[step])
    finally:
        store.close()
    if args.format == "json":
        emit_json(document(findings))
    else:
        render_findings(findings, console_for(), now=now)
    return 0
