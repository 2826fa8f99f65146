"""``lambdaguard policy FUNCTION``: the right-sized policy for a function's role, its diff and proof.

``FUNCTION`` is a name or an ARN. The evidence comes from the store (the last
``--window``, 90 days by default), the grants live from AWS (read-only, the
default credential chain) or from exports (``--authorization-details FILE
--functions FILE``). When other functions share the execution role, the
proposal covers all of them.

Formats: ``diff`` (default: what goes, what stays and why, coloured on a
terminal), ``json`` (one object: the function, its role, ``policies`` — the
proposed documents — the confidence, the proof, and everything behind them;
schema ``lambdaguard.policy/1`` in the README), ``terraform``
(``aws_iam_policy_document``), ``cloudformation`` (CloudFormation/SAM YAML).

The trial: ``--pin`` puts the proposal under trial (``--trial-days``, 14 by
default), ``--status`` checks the calls recorded since against it and says
whether it is ready to apply, ``--unpin`` ends it.

Exit codes: 0 proposal made and proved (or the trial action done), 1 the proof
failed (nothing is printed as valid), 2 bad input (unknown or ambiguous
function, malformed files), 3 AWS or the store unreachable.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["configure", "policy_document", "run"]

SCHEMA = "lambdaguard.policy/1"
DEFAULT_WINDOW = "90d"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``lambdaguard policy``."""
    from lambdaguard.views._grants import add_grant_options

    parser.add_argument("function", metavar="FUNCTION", help="function name or ARN")
    parser.add_argument(
        "--store",
        metavar="URL",
        help="sqlite:///PATH or postgresql://… (default: $LAMBDAGUARD_STORE, else "
        "sqlite:///.lambdaguard/lambdaguard.db)",
    )
    parser.add_argument(
        "--format",
        choices=("diff", "json", "terraform", "cloudformation"),
        default="diff",
        help="diff (default), json, terraform or cloudformation",
    )
    parser.add_argument(
        "--window",
        metavar="DURATION",
        default=DEFAULT_WINDOW,
        help=f"evidence of the last DURATION (default {DEFAULT_WINDOW}), e.g. 30d",
    )
    trial = parser.add_mutually_exclusive_group()
    trial.add_argument("--pin", action="store_true", help="put the proposal under trial")
    trial.add_argument(
        "--status", action="store_true", help="check the trial against the calls since the pin"
    )
    trial.add_argument("--unpin", action="store_true", help="end the trial")
    parser.add_argument(
        "--trial-days",
        type=int,
        default=14,
        metavar="DAYS",
        help="days a pinned proposal must run without a would-be denial (default 14)",
    )
    add_grant_options(parser)


def policy_document(fn: Any, *, window: str, source: str) -> dict[str, Any]:
    """The ``--format json`` object for one function (schema ``lambdaguard.policy/1``)."""
    from lambdaguard import __version__
    from lambdaguard.views.document import confidence_document, iso, proposal_document

    p = fn.proposal
    body = proposal_document(p, fn.name) if p is not None else None
    proved = p.proved if p is not None else None
    return {
        "schema": SCHEMA,
        "lambdaguard_version": __version__,
        "source": source,
        "window": window,
        "function": {"name": fn.name, "arn": fn.arn, "account": fn.account, "region": fn.region},
        "role": p.role_arn if p is not None else fn.role_arn,
        # Nothing is printed as valid when the proof failed.
        "policies": list(p.policies) if p is not None and proved else [],
        "unproved_policies": list(p.policies) if p is not None and proved is False else [],
        "confidence": confidence_document(p.confidence) if p is not None else None,
        "proved": proved,
        "proof": body["proof"] if body else [],
        "proposal": body,
        "assumed_roles": [proposal_document(a, fn.name) for a in fn.assumed_roles],
        "last_seen": iso(fn.evidence.last_seen) if fn.evidence else None,
    }


def _find(findings: Any, name: str) -> Any:
    found = findings.matching(name)
    if len(found) > 1:
        from lambdaguard.errors import ConfigError

        raise ConfigError(
            f"{len(found)} functions are named {name!r}; give the ARN of one: "
            + ", ".join(f.arn for f in found)
        )
    return found[0] if found else None


def run(args: argparse.Namespace) -> int:
    """Propose, render, or run the trial action; see the module docstring for exit codes."""
    from lambdaguard.analysis.evidence import IamRequests
    from lambdaguard.analysis.fleet import analyse, open_for_reading, printable_url
    from lambdaguard.analysis.policies import policy_step
    from lambdaguard.analysis.trial import NotProved, check, pin, pinned_documents
    from lambdaguard.collector.settings import parse_duration
    from lambdaguard.errors import ConfigError
    from lambdaguard.views._grants import read_inputs
    from lambdaguard.views._options import emit_json, store_url
    from lambdaguard.views.policy_formats import cloudformation, terraform
    from lambdaguard.views.policy_view import render_policy, render_trial
    from lambdaguard.views.terminal import console_for

    window = timedelta(seconds=parse_duration(args.window, name="--window"))
    if args.trial_days < 1:
        raise ConfigError(f"--trial-days {args.trial_days}: a trial lasts at least 1 day")
    now = datetime.now(UTC)
    url = store_url(args)
    store = open_for_reading(url)
    try:
        inputs = read_inputs(args)
        target = next(
            (i for i in inputs if args.function in (i.arn, i.arn.rsplit(":", 1)[-1])), None
        )
        if target is None:
            raise ConfigError(
                f"no function {args.function!r} among the grants read "
                f"({len(inputs)} function(s)); give a name or ARN of one of them"
            )
        sharing = [i for i in inputs if target.role_arn and i.role_arn == target.role_arn]
        requests = IamRequests()
        step = policy_step(inputs, store=store, now=now, window=window, requests=requests)
        findings = analyse(
            store,
            now=now,
            window=window,
            source=printable_url(url),
            steps=[step],
            only=target.arn if len(sharing) <= 1 else None,
        )
        fn = _find(findings, target.arn)
        if fn is None:
            raise ConfigError(
                f"lambdaguard has recorded nothing for {args.function} in the last {args.window} "
                f"in {printable_url(url)}: no proposal (nothing observed is never a reason to remove)"
            )
        console = console_for()
        if args.unpin:
            done = store.unpin_trial(fn.arn)
            print(f"{fn.name}: " + ("trial ended" if done else "no trial was pinned"))
            return 0
        if args.pin:
            try:
                record = pin(
                    store,
                    fn.arn,
                    fn.proposal,
                    fn.assumed_roles,
                    now=now,
                    trial_days=args.trial_days,
                )
            except NotProved as exc:
                print(f"lambdaguard policy: {exc}", file=sys.stderr)
                return 1
            print(
                f"{fn.name}: proposal pinned at {record.pinned_at:%Y-%m-%d %H:%M} UTC; calls "
                f"recorded from now on are checked against it ({record.trial_days}-day trial). "
                f"`lambdaguard policy {fn.name} --status` tells how it goes."
            )
            return 0
        if args.status:
            current = pinned_documents(fn.proposal, fn.assumed_roles) if fn.proposal else None
            trial = check(store, fn.arn, now=now, requests=requests, record=True, current=current)
            if args.format == "json":
                from lambdaguard.views.document import trial_document

                emit_json({"function": fn.arn, "trial": trial_document(trial) if trial else None})
            else:
                render_trial(trial, console)
            return 0
        proposal = fn.proposal
        if args.format == "json":
            emit_json(policy_document(fn, window=args.window, source=printable_url(url)))
        elif args.format in ("terraform", "cloudformation"):
            if proposal is None or not proposal.proved:
                why = "no proposal" if proposal is None else "the proof failed"
                print(
                    f"lambdaguard policy: {why} for {fn.name}; nothing to write "
                    "(see --format diff for why)",
                    file=sys.stderr,
                )
                return 1
            render = terraform if args.format == "terraform" else cloudformation
            sys.stdout.write(render(proposal, fn.name))
        else:
            render_policy(fn, console, now=now)
        if proposal is None:
            return 2
        proved = proposal.proved and all(p.proved is not False for p in fn.assumed_roles)
        return 0 if proved else 1
    finally:
        store.close()
