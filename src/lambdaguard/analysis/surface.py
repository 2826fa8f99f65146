"""What a function's role could still do: its attack surface, from the IAM evaluator.

A dead function keeps its permissions: that is why it matters. Given the
role's compiled :class:`~lambdaguard.iam.Grant` (the policies work reads it,
live or from exports: ``lambdaguard.analysis.grants``), this counts the actions
the role allows on every resource by IAM access level, names the
privilege-escalation paths it opens and whether it is admin-equivalent
(:mod:`lambdaguard.iam.risk`). No policy is evaluated here: every decision is
the evaluator's.

Counting asks the evaluator about each action of each service a statement
names (all of them for ``*`` or a ``NotAction``), once per distinct role.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any

from lambdaguard.analysis.inventory import FunctionInfo
from lambdaguard.analysis.verdicts import AttackSurface, SurfaceProvider
from lambdaguard.iam import Grant, Policy

__all__ = ["grants_provider", "provider", "surface_of"]


@cache
def _actions_by_service() -> Mapping[str, tuple[tuple[str, str], ...]]:
    from lambdaguard.iam._data import iam_service, iam_service_prefixes
    from lambdaguard.iam.risk import access_level

    out: dict[str, tuple[tuple[str, str], ...]] = {}
    for prefix in sorted(iam_service_prefixes()):
        service = iam_service(prefix)
        if service is None:
            continue
        rows = []
        for action in service.actions.values():
            name = f"{prefix}:{action.name}"
            level = access_level(name)
            rows.append((name, level.value if level is not None else "Unknown"))
        out[prefix] = tuple(rows)
    return out


def _services(policies: Iterable[Policy]) -> set[str] | None:
    """The service prefixes a policy's Allow statements name; None when that is every service."""
    found: set[str] = set()
    for policy in policies:
        for st in policy.statements:
            if st.effect != "Allow":
                continue
            if st.not_action:
                return None
            for action in st.actions:
                prefix = action.split(":", 1)[0].lower()
                if "*" in prefix or "?" in prefix:
                    return None
                found.add(prefix)
    return found


def surface_of(
    grant: Grant,
    *,
    policies: Iterable[Policy] = (),
    account: str | None = None,
) -> AttackSurface:
    """The access-level counts, escalation paths and admin equivalence of one grant."""
    from lambdaguard.iam.risk import RiskKind, admin_equivalent, risk_paths

    catalogue = _actions_by_service()
    wanted = _services(policies)
    counts: Counter[str] = Counter()
    for prefix, actions in catalogue.items():
        if wanted is not None and prefix not in wanted:
            continue
        for name, level in actions:
            if grant.evaluate(name, "*").allowed:
                counts[level] += 1
    admin = admin_equivalent(grant)
    paths = risk_paths(grant, account=account, kinds=(RiskKind.PRIVILEGE_ESCALATION,))
    return AttackSurface(
        access=dict(sorted(counts.items())),
        admin_equivalent=admin is not None,
        escalation=tuple(p.describe() for p in paths),
        note=admin.reason if admin is not None else "",
    )


def provider(grants: Mapping[str, tuple[Grant, tuple[Policy, ...]]]) -> SurfaceProvider:
    """A provider from function ARN -> (grant, its policies); one evaluation per distinct grant."""
    done: dict[Any, AttackSurface] = {}

    def surface(fn: FunctionInfo) -> AttackSurface | None:
        found = grants.get(fn.arn)
        if found is None:
            return None
        grant, policies = found
        key = _grant_key(grant, policies, fn.account)
        if key not in done:
            done[key] = surface_of(grant, policies=policies, account=fn.account or None)
        return done[key]

    return surface


def _grant_key(grant: Grant, policies: tuple[Policy, ...], account: str) -> Any:
    """What the surface depends on: the policies' statements (not their names), the boundary
    and the account. Roles with the same documents (every "Action": "*" role) are counted once:
    counting a wildcard grant asks the evaluator about every action of every service."""
    boundary = grant.boundary
    key = (
        tuple((p.version, p.statements) for p in grant.policies),
        tuple((p.version, p.statements) for p in policies),
        (boundary.version, boundary.statements) if boundary is not None else None,
        account,
    )
    try:
        hash(key)
    except TypeError:
        return id(grant)
    return key


def grants_provider(read: Callable[[Any], list[Any]], *args: Any) -> SurfaceProvider | None:
    """Read grants with the policies work's reader (``lambdaguard.analysis.grants``), if present.

    ``read`` is the name-resolved reader (``read_grants_live`` or
    ``read_grants_offline``); each returned ``FunctionGrant`` gives the
    function's ARN, its role's compiled grant and policies.
    """
    by_arn: dict[str, tuple[Grant, tuple[Policy, ...]]] = {}
    for fg in read(*args):
        role = getattr(fg, "role", None)
        config = getattr(fg, "config", None)
        arn = str(getattr(config, "arn", "") or "")
        if role is None or not arn:
            continue
        by_arn[":".join(arn.split(":")[:7])] = (fg.grant(), tuple(role.policies))
    return provider(by_arn) if by_arn else None


def grants_module() -> Any | None:
    """``lambdaguard.analysis.grants`` when the policies work is installed, else None."""
    try:
        return importlib.import_module("lambdaguard.analysis.grants")
    except ImportError:
        return None
