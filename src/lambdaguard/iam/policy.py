"""IAM identity policy documents: a typed, immutable model, read from what AWS and people hand us.

::

    from lambdaguard.iam.policy import parse_policy
    policy = parse_policy(text, name="orders-api-role/inline/everything")
    policy.statements[0].effect      # "Allow"
    policy.warnings                  # problems found, each naming the policy and the statement

Accepted sources: JSON text, a dict (as boto3 returns documents), bytes, and
the URL-encoded JSON that IAM's own API returns from ``GetPolicyVersion``,
``GetRolePolicy`` and ``GetAccountAuthorizationDetails`` ("The policy document
returned in this structure is URL-encoded compliant with RFC 3986", IAM API
Reference, PolicyVersion). ``Statement`` may be a list or a single object, and
``Action``/``NotAction``/``Resource``/``NotResource`` a string or a list, as the
policy grammar allows. ``Condition`` is kept verbatim (as JSON text, key order
preserved): conditions are reported, never decided here.

Bad input never crashes and never disappears:

- a document that is not a JSON object, or has no ``Statement``, raises
  :class:`~lambdaguard.errors.PolicyError` naming the policy;
- a statement IAM would reject (no ``Effect``, no ``Action``/``NotAction``,
  both ``Resource`` and ``NotResource`` …) is kept with ``usable=False`` and a
  :class:`PolicyWarning`; the policy is then :attr:`Policy.partial` and the
  evaluator skips that statement (it could not have been in force in IAM);
- an action the IAM data does not know, a non-string action, a resource that
  is not an ARN or ``*``, a ``Principal`` (identity policies have none) give a
  warning naming the statement and what would be accepted; the rest of the
  statement is kept and evaluated.

:func:`parse_policy` never calls AWS; it reads the IAM data (``_data``) to
check action names, one service at a time.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdaguard.errors import PolicyError
from lambdaguard.iam._data import iam_service, iam_service_prefixes

__all__ = ["VERSION_2008", "VERSION_2012", "Policy", "PolicyWarning", "Statement", "parse_policy"]

VERSION_2012 = "2012-10-17"
VERSION_2008 = "2008-10-17"
_EFFECTS = ("Allow", "Deny")
_KNOWN_KEYS = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
)
_ACTION = re.compile(r"^[A-Za-z0-9\-_*?]+:[A-Za-z0-9\-_*?]+$")


@dataclass(frozen=True, slots=True)
class PolicyWarning:
    """A problem found in a policy: which policy, which statement, what is wrong, what IAM accepts."""

    policy: str
    statement: int | None  # 0-based position in Statement; None for the document itself
    sid: str | None
    message: str

    def __str__(self) -> str:
        where = f"policy {self.policy!r}"
        if self.statement is not None:
            where += f", statement {self.statement}"
            if self.sid:
                where += f" (Sid {self.sid!r})"
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of an identity policy, as written (element values kept as strings)."""

    index: int  # 0-based position in the document's Statement list
    sid: str | None
    effect: str | None  # "Allow" | "Deny"; None when missing or not one of those
    actions: tuple[str, ...]  # the Action values, or the NotAction values when not_action
    not_action: bool
    resources: tuple[str, ...]  # the Resource values, or the NotResource values when not_resource
    not_resource: bool
    condition: str | None  # the Condition element as JSON text, verbatim; None when absent
    usable: bool = True  # False when IAM would reject the statement: kept, reported, not evaluated

    @property
    def label(self) -> str:
        """``Sid`` when the statement has one, else ``#index``."""
        return self.sid if self.sid else f"#{self.index}"

    def condition_dict(self) -> dict[str, Any] | None:
        """The Condition element as a dict, or None."""
        if self.condition is None:
            return None
        value = json.loads(self.condition)
        return value if isinstance(value, dict) else None

    def as_dict(self) -> dict[str, Any]:
        """The statement as IAM JSON (lists for every multi-valued element)."""
        out: dict[str, Any] = {}
        if self.sid is not None:
            out["Sid"] = self.sid
        if self.effect is not None:
            out["Effect"] = self.effect
        out["NotAction" if self.not_action else "Action"] = list(self.actions)
        out["NotResource" if self.not_resource else "Resource"] = list(self.resources)
        if self.condition is not None:
            out["Condition"] = json.loads(self.condition)
        return out


@dataclass(frozen=True, slots=True)
class Policy:
    """An identity policy document with its name (and ARN for managed policies)."""

    name: str  # for inline policies "role/policy-name"; managed: the policy name
    arn: str | None
    version: str | None  # the Version element; None when absent (IAM then reads it as 2008-10-17)
    statements: tuple[Statement, ...]
    warnings: tuple[PolicyWarning, ...] = ()

    @property
    def variables(self) -> bool:
        """True if policy variables are variables here (Version 2012-10-17), not literal text.

        "If you do not include a Version element, the value defaults to
        2008-10-17 ... variables such as ${aws:username} aren't recognized as
        variables and are instead treated as literal strings" (IAM User Guide,
        "IAM JSON policy elements: Version").
        """
        return self.version == VERSION_2012

    @property
    def partial(self) -> bool:
        """True if some statement could not be evaluated (see its warning)."""
        return any(not s.usable for s in self.statements)

    @property
    def label(self) -> str:
        """The ARN of a managed policy, else its name."""
        return self.arn or self.name

    def as_document(self) -> dict[str, Any]:
        """The policy as an IAM JSON document."""
        doc: dict[str, Any] = {}
        if self.version is not None:
            doc["Version"] = self.version
        doc["Statement"] = [s.as_dict() for s in self.statements]
        return doc


def parse_policy(
    document: str | bytes | Mapping[str, Any], *, name: str, arn: str | None = None
) -> Policy:
    """Read an identity policy document; raises PolicyError if it is not one at all.

    ``name`` (and ``arn``) say which policy it is in every warning and error.
    """
    label = arn or name
    raw = _load(document, label)
    if not isinstance(raw, Mapping):
        raise PolicyError(
            f"policy {label!r}: the document is a JSON {type(raw).__name__}, "
            "not an object with a Statement element",
            policy=label,
        )
    warnings: list[PolicyWarning] = []
    version = raw.get("Version")
    if version is not None and not isinstance(version, str):
        warnings.append(
            PolicyWarning(label, None, None, f"Version {version!r} is not a string; read as absent")
        )
        version = None
    if version is not None and version not in (VERSION_2012, VERSION_2008):
        warnings.append(
            PolicyWarning(
                label,
                None,
                None,
                f"Version {version!r} is not one IAM accepts ({VERSION_2012!r} or "
                f"{VERSION_2008!r}); policy variables are read as literal text",
            )
        )
    if "Statement" not in raw:
        raise PolicyError(
            f"policy {label!r}: the document has no Statement element "
            "(a list of statements, or a single statement object)",
            policy=label,
        )
    body = raw["Statement"]
    items: list[Any] = list(body) if isinstance(body, list) else [body]
    statements = tuple(_statement(label, i, item, warnings) for i, item in enumerate(items))
    for key in raw:
        if key not in ("Version", "Statement", "Id"):
            warnings.append(
                PolicyWarning(
                    label,
                    None,
                    None,
                    f"unknown top-level element {key!r} is ignored "
                    "(IAM accepts Version, Id and Statement)",
                )
            )
    return Policy(
        name=name,
        arn=arn,
        version=version,
        statements=statements,
        warnings=tuple(warnings),
    )


def _load(document: str | bytes | Mapping[str, Any], label: str) -> Any:
    if isinstance(document, Mapping):
        return document
    if isinstance(document, bytes):
        try:
            document = document.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyError(
                f"policy {label!r}: the document is not UTF-8 text", policy=label
            ) from exc
    if not isinstance(document, str):
        raise PolicyError(
            f"policy {label!r}: a document must be JSON text or an object, "
            f"not {type(document).__name__}",
            policy=label,
        )
    text = document.strip()
    if not text:
        raise PolicyError(f"policy {label!r}: the document is empty", policy=label)
    candidates = [text]
    if not text.startswith("{") and "%" in text:
        # IAM's API returns documents URL-encoded (RFC 3986). A "+" may also be
        # a space in form encoding; try the stricter reading first.
        candidates.append(urllib.parse.unquote(text))
        candidates.append(urllib.parse.unquote_plus(text))
    error: json.JSONDecodeError | None = None
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError as exc:
            error = error or exc
    assert error is not None
    raise PolicyError(
        f"policy {label!r}: the document is not valid JSON ({error.msg} at line {error.lineno} "
        f"column {error.colno}); expected a JSON object or its URL-encoded form",
        policy=label,
    ) from error


def _statement(label: str, index: int, item: Any, warnings: list[PolicyWarning]) -> Statement:
    if not isinstance(item, Mapping):
        warnings.append(
            PolicyWarning(
                label,
                index,
                None,
                f"the statement is a JSON {type(item).__name__}, not an object; not evaluated",
            )
        )
        return Statement(index, None, None, (), False, (), False, None, usable=False)

    def warn(message: str) -> None:
        warnings.append(PolicyWarning(label, index, sid, message))

    sid_raw = item.get("Sid")
    sid = sid_raw if isinstance(sid_raw, str) else None
    if sid_raw is not None and sid is None:
        sid = str(sid_raw)
        warn(f"Sid {sid_raw!r} is not a string (IAM accepts letters and digits)")
    usable = True

    effect = item.get("Effect")
    if effect not in _EFFECTS:
        if effect is None:
            warn('the statement has no Effect; IAM accepts "Allow" or "Deny"; not evaluated')
        else:
            warn(f'Effect {effect!r} is not "Allow" or "Deny" (case matters); not evaluated')
        effect = None
        usable = False

    actions, not_action, ok = _pair(item, "Action", "NotAction", warn)
    usable = usable and ok
    for pattern in actions:
        problem = _action_problem(pattern)
        if problem:
            warn(problem)
    resources, not_resource, ok = _pair(item, "Resource", "NotResource", warn)
    usable = usable and ok
    for value in resources:
        if value != "*" and not value.startswith("arn:"):
            warn(f"resource {value!r} is not an ARN or '*' (IAM accepts ARNs, with * and ?)")

    condition: str | None = None
    if "Condition" in item:
        cond = item["Condition"]
        condition = json.dumps(cond, separators=(",", ":"))
        if not isinstance(cond, Mapping) or not all(isinstance(v, Mapping) for v in cond.values()):
            warn(
                "Condition must map operators to objects of condition keys "
                '({"StringEquals": {"aws:SourceVpc": "vpc-1"}}); not evaluated'
            )
            usable = False
    for key in ("Principal", "NotPrincipal"):
        if key in item:
            warn(f"{key} is ignored: identity policies apply to the identity they are attached to")
    for key in item:
        if key not in _KNOWN_KEYS and key not in ("Principal", "NotPrincipal"):
            warn(f"unknown element {key!r} is ignored")

    return Statement(
        index=index,
        sid=sid,
        effect=effect if isinstance(effect, str) else None,
        actions=actions,
        not_action=not_action,
        resources=resources,
        not_resource=not_resource,
        condition=condition,
        usable=usable,
    )


def _pair(
    item: Mapping[str, Any], positive: str, negative: str, warn: Any
) -> tuple[tuple[str, ...], bool, bool]:
    """The values of Action/NotAction (or Resource/NotResource), which one, and whether usable."""
    has_pos, has_neg = positive in item, negative in item
    if has_pos and has_neg:
        warn(f"the statement has both {positive} and {negative}; IAM accepts one; not evaluated")
        return _strings(item[positive], positive, warn), False, False
    if not has_pos and not has_neg:
        warn(f"the statement has neither {positive} nor {negative}; IAM needs one; not evaluated")
        return (), False, False
    key = positive if has_pos else negative
    values = _strings(item[key], key, warn)
    if not values:
        warn(f"{key} names nothing (a string or a list of strings); not evaluated")
        return (), has_neg, False
    return values, has_neg, True


def _strings(value: Any, key: str, warn: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for v in items:
        if isinstance(v, str) and v:
            out.append(v)
        else:
            warn(f"{key} value {v!r} is not a non-empty string; that value is ignored")
    return tuple(out)


def _action_problem(pattern: str) -> str | None:
    if pattern == "*":
        return None
    if not _ACTION.match(pattern):
        return f"action {pattern!r} is not of the form 'service:Action' (with * and ? allowed)"
    prefix, _, name = pattern.partition(":")
    prefix = prefix.lower()
    if any(c in prefix for c in "*?"):
        return None
    if prefix not in iam_service_prefixes():
        return f"action {pattern!r}: no AWS service has the prefix {prefix!r}"
    service = iam_service(prefix)
    if service is None:
        return None
    if "*" in name or "?" in name:
        regex = re.compile(
            "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in name.lower())
        )
        if not any(regex.fullmatch(a) for a in service.actions):
            return f"action pattern {pattern!r} matches no {prefix} action in the IAM data"
        return None
    if service.action(name) is None:
        return f"action {pattern!r} is not a {prefix} action in the IAM data"
    return None
