"""Fold identifiers that are unique per call into a pattern before they become facts.

Code often names what it creates with a fresh identifier: ``kp_<uuid>`` key
pairs in the Powertools examples, ``report-<timestamp>.csv``, ``job_<epoch>``,
``export-<request id>``. Recorded as they are, each invocation would be a new
fact: exported every time and a new store row every time. This module turns
such a name into its stable parts around the marker ``*`` (``kp_*``,
``report-*.csv``), which is also IAM's wildcard: the mapping fills the ARN
with it as is (``arn:aws:ec2:…:key-pair/kp_*``) and marks it TEMPLATE with the
reason that the name matches more than one resource.

What is folded (in the compact JSON of the identifying params, and in response
facts), each match bounded by non-alphanumeric characters:

- UUIDs, hex runs of 20+ characters (with a digit), ULIDs, when they are
  *part of* a name segment (``kp_<uuid>``, ``<uuid>.json``). A segment that is
  nothing but a UUID or hex run (``key/1234abcd-…``, a KMS key id, an ACM
  certificate, a stack id) is usually assigned by AWS and stable, so it is kept:
  folding it would widen the permission to every such resource;
- timestamps anywhere: ISO 8601 date-times (a date alone is kept), runs of 10,
  11 or 13+ digits (epoch seconds, milliseconds, nanoseconds) not touching a
  letter (``i-0123456789abcdef0`` is an instance id, not a time). Runs of
  exactly 12 digits are account ids and are never folded;
- object version ids (``VersionId`` request members and response facts):
  unique per write, and IAM decides on their presence only, so they become ``*``.

Segments are delimited by ``/``, ``:`` and the ends of the string. Standard
library only; the patterns are compiled by ``re``'s cache on first use (after
the response), never at INIT.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MARKER", "fold_call", "fold_record", "fold_text"]

MARKER = "*"

# One alternation, tried at each position: the named group says which class matched.
_TOKENS = (
    r"(?P<uuid>(?<![0-9A-Za-z])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}"
    r"-[0-9a-fA-F]{12}(?![0-9A-Za-z]))"
    r"|(?P<iso>(?<![0-9])\d{4}-?\d{2}-?\d{2}T\d{2}:?\d{2}(?::?\d{2}(?:[.,]\d+)?)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?(?![0-9]))"
    r"|(?P<hex>(?<![0-9A-Za-z])(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]{20,}(?![0-9A-Za-z]))"
    r"|(?P<ulid>(?<![0-9A-Za-z])[0-7][0-9A-HJKMNP-TV-Z]{25}(?![0-9A-Za-z]))"
    r"|(?P<digits>(?<![0-9A-Za-z])(?:\d{10,11}|\d{13,})(?![0-9A-Za-z]))"
)
# Cheap first test: every token class holds a digit (a UUID without one is
# 1 in ~10^12).
_QUICK = r"\d"
# A VersionId member in compact JSON, its value a JSON string.
_VERSION = r'"VersionId":"(?:[^"\\]|\\.)*"'
_VERSION_FOLDED = '"VersionId":"*"'
# What ends a name segment: JSON string quotes and the ARN / path separators.
_SEGMENT_ENDS = frozenset('"/:')
# Classes kept when they fill a whole segment (most likely an id AWS assigned).
_KEPT_WHOLE = frozenset({"uuid", "hex", "ulid"})


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup or ""
    if kind in _KEPT_WHOLE:
        text = match.string
        start, end = match.span()
        before = text[start - 1] if start > 0 else '"'
        after = text[end] if end < len(text) else '"'
        if before in _SEGMENT_ENDS and after in _SEGMENT_ENDS:
            return match.group(0)
    return MARKER


# params text -> folded text. A warm function repeats the same few params, so
# a hit is the common case (a dict lookup instead of a regex pass); bounded.
_cache: dict[str, str] = {}
_CACHE_MAX = 2048


def fold_text(text: str) -> str:
    """``text`` (JSON or a plain value) with per-call identifiers replaced by ``*``."""
    cached = _cache.get(text)
    if cached is not None:
        return cached
    folded = text
    if '"VersionId"' in folded:
        folded = re.sub(_VERSION, _VERSION_FOLDED, folded)
    if re.search(_QUICK, folded) is not None:
        folded = re.sub(_TOKENS, _replace, folded)
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    # A text with a per-call identifier is never seen again: caching it would
    # only evict the repeated ones, so only unchanged texts are kept.
    if folded == text:
        _cache[text] = folded
    return folded


def fold_call(call: Any) -> Any:
    """An ``AwsCall`` with its params and response facts folded (the same object if unchanged)."""
    changes: dict[str, str] = {}
    params = call.params
    folded = fold_text(params)
    if folded != params:
        changes["params"] = folded
    # Response facts: the object version is unique per write (presence matters);
    # the other facts (KMS key ids) are stable and kept as they are.
    response = getattr(call, "response", None)
    if isinstance(response, str) and '"VersionId"' in response:
        changes["response"] = re.sub(_VERSION, _VERSION_FOLDED, response)
    return call._replace(**changes) if changes else call


def fold_record(record: Any) -> Any:
    """A ``Record`` with every AWS call folded (the same object if nothing changed)."""
    calls = record.aws_calls
    if not calls:
        return record
    folded = tuple(fold_call(call) for call in calls)
    if all(a is b for a, b in zip(folded, calls, strict=True)):
        return record
    return record._replace(aws_calls=folded)
