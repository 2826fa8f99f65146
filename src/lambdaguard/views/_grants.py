"""Reading grants for the policy commands: live from AWS by default, or from exported files.

``--authorization-details FILE --functions FILE`` (each repeatable; plus the
optional event source mapping and event-invoke-config exports) read the
files people already export instead of calling AWS. Both paths build the
same model (:mod:`lambdaguard.analysis.grants`); this module turns it into
what the proposal needs per function (:class:`~lambdaguard.analysis.policies.FunctionInputs`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lambdaguard.analysis.policies import FunctionInputs
from lambdaguard.analysis.proposal import RoleLike
from lambdaguard.errors import ConfigError

if TYPE_CHECKING:
    from lambdaguard.analysis.grants import FunctionGrant

__all__ = ["add_grant_options", "inputs_from_grants", "policy_steps", "read_inputs"]


def add_grant_options(parser: argparse.ArgumentParser) -> None:
    """The options that say where grants come from."""
    group = parser.add_argument_group(
        "grants", "read live with boto3's default credentials (read-only), or from exports"
    )
    group.add_argument(
        "--authorization-details",
        metavar="FILE",
        action="append",
        help="output of `aws iam get-account-authorization-details` (repeat for several pages)",
    )
    group.add_argument(
        "--functions",
        metavar="FILE",
        action="append",
        help="output of `aws lambda list-functions` or get-function-configuration (repeatable)",
    )
    group.add_argument(
        "--event-source-mappings",
        metavar="FILE",
        action="append",
        help="output of `aws lambda list-event-source-mappings` (optional, with the exports)",
    )
    group.add_argument(
        "--event-invoke-configs",
        metavar="FILE",
        action="append",
        help="output of `aws lambda list-function-event-invoke-configs` (optional)",
    )
    group.add_argument(
        "--region",
        action="append",
        metavar="REGION",
        help="regions to read live (default: the session's region); repeatable",
    )


def inputs_from_grants(
    grants: Sequence[FunctionGrant], roles: Callable[[str], RoleLike | None] | None = None
) -> list[FunctionInputs]:
    """The proposal inputs of each function grant, with what the Lambda service needs of it."""
    from lambdaguard.analysis.service_needs import service_needs

    out = []
    for g in grants:
        cfg = g.config
        out.append(
            FunctionInputs(
                arn=cfg.arn,
                role_arn=cfg.role_arn,
                role=g.role,
                account=cfg.account,
                partition=cfg.partition,
                service_needs=service_needs(g),
                roles=roles,
                warnings=tuple(str(w) for w in g.all_warnings()),
            )
        )
    return out


def read_inputs(args: argparse.Namespace) -> list[FunctionInputs]:
    """Every function's proposal inputs, from the exports named on the command line or live."""
    from lambdaguard.analysis.grants import (
        read_grants_live,
        read_grants_offline,
        role_reader_live,
        role_reader_offline,
    )

    files = args.authorization_details, args.functions
    if any(files) and not all(files):
        raise ConfigError(
            "--authorization-details and --functions go together: pass the output of "
            "`aws iam get-account-authorization-details` and of `aws lambda list-functions`"
        )
    if all(files):
        found = read_grants_offline(
            args.authorization_details,
            args.functions,
            event_source_mappings=args.event_source_mappings,
            event_invoke_configs=args.event_invoke_configs,
        )
        return inputs_from_grants(found, role_reader_offline(args.authorization_details))
    return inputs_from_grants(read_grants_live(regions=args.region), role_reader_live())


def policy_steps(
    args: argparse.Namespace,
) -> Callable[[Any, datetime, timedelta | None], list[Any]]:
    """The policy step for a view, its grants read as the command line says (see ``_options.load``)."""

    def make(store: Any, now: datetime, window: timedelta | None) -> list[Any]:
        from lambdaguard.analysis.evidence import IamRequests
        from lambdaguard.analysis.policies import policy_step

        return [
            policy_step(
                read_inputs(args), store=store, now=now, window=window, requests=IamRequests()
            )
        ]

    return make
