"""``lambdaguard show FUNCTION``: everything recorded and concluded about one function.

Its invocations over time (cold starts, errors, timeouts per day), the AWS
calls it made with their counts and the IAM requests each needs, the hosts it
connected to, the triggers seen, and, once those analyses ran, its policy
proposal and verdict. ``FUNCTION`` is a name or an ARN. ``--format json``
prints :func:`lambdaguard.views.document.function_document`.

Exit codes: 0 shown, 2 no such function (the nearest names are suggested) or
a name found in several accounts/regions (give the ARN), 3 the store cannot
be read.
"""

from __future__ import annotations

import argparse

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``lambdaguard show``."""
    from lambdaguard.views._options import add_common

    parser.add_argument("function", metavar="FUNCTION", help="function name or ARN")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Show one function; 2 when it is unknown or ambiguous."""
    import difflib
    import sys

    from lambdaguard.views._options import emit_json, load
    from lambdaguard.views.document import function_document
    from lambdaguard.views.terminal import console_for, render_function

    findings = load(args, only=args.function, label="reading the store")
    found = findings.matching(args.function)
    if not found:
        from lambdaguard.analysis.evidence import function_names
        from lambdaguard.analysis.fleet import open_for_reading
        from lambdaguard.views._options import store_url

        store = open_for_reading(store_url(args))
        try:
            names = function_names(store)
        finally:
            store.close()
        nearest = difflib.get_close_matches(args.function, names, n=3)
        hint = f"; did you mean {', '.join(nearest)}?" if nearest else ""
        window = f" in the last {args.window}" if args.window else ""
        print(
            f"lambdaguard show: no function {args.function!r}{window} in {findings.source}{hint}",
            file=sys.stderr,
        )
        return 2
    if len(found) > 1:
        print(
            f"lambdaguard show: {len(found)} functions are named {args.function!r}; "
            "give the ARN of one:\n" + "\n".join(f"  {f.arn}" for f in found),
            file=sys.stderr,
        )
        return 2
    (fn,) = found
    if args.format == "json":
        emit_json(function_document(fn))
        return 0
    render_function(fn, console_for(), now=findings.generated_at)
    return 0
