"""ARN templates from the IAM data: parse ARNs, match them, fill templates.

A template looks like ``arn:${Partition}:sqs:${Region}:${Account}:${QueueName}``.
Filling it never invents a value: every placeholder comes from the call's
context (partition, region, account) or from a recorded request parameter that
passed :func:`usable`; otherwise the caller falls back to ``*``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

__all__ = ["Arn", "Template", "compile_template", "fill", "matches", "parse_arn", "usable"]

# Longest identifier we accept in a resource slot. ARNs are at most 2,048
# characters in IAM policies; S3 keys at most 1,024 bytes.
MAX_VALUE = 1024
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CONTEXT_VARIABLES = frozenset({"Partition", "Region", "Account"})


@dataclass(frozen=True, slots=True)
class Arn:
    """The six fields of an ARN (``arn:partition:service:region:account:resource``)."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def parse_arn(value: object) -> Arn | None:
    """The ARN in ``value``, or None if it is not a well-formed ARN string."""
    if not isinstance(value, str) or not value.startswith("arn:") or len(value) > 2048:
        return None
    parts = value.split(":", 5)
    if len(parts) != 6 or not parts[1] or not parts[2] or not parts[5]:
        return None
    if _CONTROL.search(value):
        return None
    return Arn(parts[1], parts[2], parts[3], parts[4], parts[5])


def usable(value: object, *, numbers: bool = False) -> str | None:
    """Why ``value`` cannot fill a name slot of an ARN, or None if it can.

    Strings can; integers only where ``numbers`` says the slot is numeric (a
    layer's VersionNumber), used in their decimal form.
    """
    if numbers and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return None
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not a string"
    if not value:
        return "is empty"
    if len(value) > MAX_VALUE:
        return f"is longer than {MAX_VALUE} characters"
    if _CONTROL.search(value):
        return "contains control characters"
    if "${" in value:
        # IAM would read it as a policy variable.
        return "contains '${', which IAM reads as a policy variable"
    return None


@dataclass(frozen=True, slots=True)
class Template:
    """A compiled ARN template."""

    text: str
    variables: tuple[str, ...]
    service: str  # the service field of the template (may differ from the IAM prefix)
    pattern: re.Pattern[str]
    specificity: int  # literal characters: more means a narrower template


@cache
def compile_template(text: str) -> Template:
    """Compile an ARN template so ARNs can be matched against it."""
    variables = tuple(_PLACEHOLDER.findall(text))
    pieces: list[str] = []
    pos = 0
    matches = list(_PLACEHOLDER.finditer(text))
    for i, m in enumerate(matches):
        pieces.append(re.escape(text[pos : m.start()]))
        name = m.group(1)
        last = i == len(matches) - 1 and m.end() == len(text)
        group = f"(?P<v{i}>"
        if name in CONTEXT_VARIABLES:
            pieces.append(group + "[^:]*)")
        elif last:
            pieces.append(group + ".+)")
        else:
            pieces.append(group + "[^:/]+)")
        pos = m.end()
    pieces.append(re.escape(text[pos:]))
    literal = len(_PLACEHOLDER.sub("", text))
    service = text.split(":")[2] if text.count(":") >= 2 else ""
    return Template(
        text=text,
        variables=variables,
        service=service,
        pattern=re.compile("^" + "".join(pieces) + "$"),
        specificity=literal,
    )


def matches(template: Template, arn: str) -> bool:
    """True if ``arn`` is an instance of ``template``."""
    return template.pattern.match(arn) is not None


def fill(template: Template, values: dict[str, str]) -> str | None:
    """The template with every placeholder replaced, or None if one has no value."""
    out = template.text
    for name in template.variables:
        value = values.get(name)
        if value is None:
            return None
        out = out.replace("${" + name + "}", value, 1)
    return out
