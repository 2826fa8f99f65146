"""What the agent keeps of a call beyond its request: response facts, bounds, credentials.

Three small rules every AWS hook shares (botocore, aiobotocore, signed requests,
calls made through AWS's Lambda extensions):

- **Response facts** (:func:`response_facts`): read generically from
  :data:`lambdaguard.recorded.RESPONSE_FACTS` (name -> paths; a ``[]`` segment
  is every item of a list; distinct values joined by ``,``), so a fact added
  there is recorded with no change here. Exported as one compact sorted JSON
  object (``lambdaguard.aws.response``).
- **Bounded params** (:func:`bounded_params`): the reduced request stays valid
  JSON of at most :data:`MAX_PARAMS_BYTES`, by the rule the collector shares
  (:func:`lambdaguard.recorded.bound_params`: the longest lists are halved
  first, never a string in half), and the call says so (``params_truncated``):
  the mapping then widens the resource instead of failing on cut JSON.
- **Whose credentials** (:func:`credentials_of`): the access key id that signed
  a call is compared, in memory only, with ``AWS_ACCESS_KEY_ID`` (the execution
  role's, as Lambda put it in the environment) and with the keys returned by
  ``sts:AssumeRole*`` calls the function made (:func:`learn_assumed`, which
  remembers key id -> role ARN). Only the verdict and the role ARN are kept;
  never a key id, a secret or a token.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from lambdaguard import recorded, semconv
from lambdaguard.agent.config import AWS_ACCESS_KEY_ID, AWS_LAMBDA_FUNCTION_NAME

__all__ = [
    "MAX_PARAMS_BYTES",
    "access_key_of",
    "bounded_params",
    "credentials_of",
    "forget",
    "learn_assumed",
    "response_facts",
    "whose",
]

MAX_PARAMS_BYTES = recorded.MAX_PARAMS_BYTES
_MAX_FACT = 512
_MAX_ITEMS = 1000  # list items read per "[]" segment
_MAX_ASSUMED = 256

# Compact sorted JSON without building an encoder per call.
JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))

# -- response facts ---------------------------------------------------------------

_Paths = tuple[tuple[str, ...], ...]
_Compiled = tuple[object, int, tuple[tuple[str, _Paths], ...], frozenset[str]]
# (the table, its size, its parsed paths, every path's first member)
_compiled: _Compiled = (None, -1, (), frozenset())


def _split(path: str) -> tuple[str, ...]:
    out: list[str] = []
    for segment in path.split("."):
        if segment.endswith("[]") and segment != "[]":
            out += [segment[:-2], "[]"]  # "Grants[]" is "Grants" then every item
        elif segment:
            out.append(segment)
    return tuple(out)


def _compile(table: Mapping[str, Any]) -> _Compiled:
    # Split the paths once; again only if the table object or its size changed.
    # Also the set of every path's first member: most responses hold none, and
    # one set test tells so.
    global _compiled  # noqa: PLW0603 - a cache of the shared table's parsed form
    parsed = tuple((str(name), tuple(_split(p) for p in paths)) for name, paths in table.items())
    firsts = frozenset(path[0] for _, paths in parsed for path in paths if path)
    _compiled = (table, len(table), parsed, firsts)
    return _compiled


def _walk(value: Any, path: tuple[str, ...], at: int, out: list[str]) -> None:
    if at == len(path):
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            # A value too long to be an identifier is skipped, never cut: half a
            # key id would name another key (the collector applies the same bound).
            text = str(value)
            if text and len(text) <= _MAX_FACT and text not in out:
                out.append(text)
        return
    segment = path[at]
    if segment == "[]":
        if isinstance(value, list | tuple):
            for item in value[:_MAX_ITEMS]:
                _walk(item, path, at + 1, out)
        return
    if isinstance(value, Mapping):
        child = value.get(segment)
        if child is not None:
            _walk(child, path, at + 1, out)


def response_facts(response: object) -> str:
    """The response facts of one parsed response as compact sorted JSON; ``""`` if none."""
    # botocore's parsed responses are plain dicts: told without the ABC check.
    if type(response) is not dict and not isinstance(response, Mapping):
        return ""
    compiled = _compiled
    table = recorded.RESPONSE_FACTS
    if compiled[0] is not table or compiled[1] != len(table):
        compiled = _compile(table)
    if compiled[3].isdisjoint(response):
        return ""
    found: dict[str, str] = {}
    for name, paths in compiled[2]:
        for path in paths:
            if not path or path[0] not in response:
                continue
            values: list[str] = []
            _walk(response, path, 0, values)
            if values:
                found[name] = ",".join(values)
                break  # paths are tried in order: the first that answers wins
    return JSON.encode(found) if found else ""


# -- bounded params ---------------------------------------------------------------


def bounded_params(reduced: Mapping[str, Any], limit: int = MAX_PARAMS_BYTES) -> tuple[str, bool]:
    """``reduced`` as compact sorted JSON of at most ``limit`` bytes; True if anything was cut.

    The rule is the one the collector applies too (:func:`lambdaguard.recorded.bound_params`):
    the longest lists are halved first, no string is ever cut, and the text is
    always valid JSON.
    """
    if not reduced:
        return "{}", False
    # A warm function repeats the same few requests: the text of a flat
    # request (every value a string, the common shape) is remembered, which
    # turns ~4 µs of sorted JSON encoding per AWS call into a lookup.
    items = tuple(reduced.items())
    flat = limit == MAX_PARAMS_BYTES and all(type(value) is str for _, value in items)
    if flat:
        known = _texts.get(items)
        if known is not None:
            return known, False
    text, whole = recorded.bound_params(dict(reduced), limit)
    if flat and whole:
        if len(_texts) >= _TEXTS_MAX:
            _texts.clear()
        _texts[items] = text
    return text, not whole


_texts: dict[tuple[tuple[str, Any], ...], str] = {}
_TEXTS_MAX = 512


# -- whose credentials ----------------------------------------------------------------

_assumed: dict[str, str] = {}  # access key id -> role ARN (in memory only, bounded)


def access_key_of(credentials: object) -> str:
    """The access key id of a botocore credentials object, without refreshing it."""
    if credentials is None:
        return ""
    attrs = getattr(credentials, "__dict__", None)
    if isinstance(attrs, dict):
        # RefreshableCredentials keeps it in _access_key; its access_key property
        # would refresh (network I/O), so the attribute is read directly.
        key = attrs.get("access_key") or attrs.get("_access_key")
    else:
        key = getattr(credentials, "access_key", None)  # ReadOnlyCredentials (a tuple)
    return key if isinstance(key, str) else ""


def _role_arn(assumed_arn: str) -> str:
    # arn:PARTITION:sts::ACCOUNT:assumed-role/NAME/SESSION -> arn:PARTITION:iam::ACCOUNT:role/NAME
    # (the role's path is not in the assumed-role ARN, so it cannot be restored).
    parts = assumed_arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "sts" or not parts[5].startswith("assumed-role/"):
        return ""
    name = parts[5].split("/")[1] if parts[5].count("/") >= 1 else ""
    return f"arn:{parts[1]}:iam::{parts[4]}:role/{name}" if name else ""


def learn_assumed(response: object) -> None:
    """Remember which role the credentials an ``sts:AssumeRole*`` response returned belong to."""
    if not isinstance(response, Mapping):
        return
    credentials = response.get("Credentials")
    user = response.get("AssumedRoleUser")
    if not isinstance(credentials, Mapping) or not isinstance(user, Mapping):
        return
    key = credentials.get("AccessKeyId")
    arn = user.get("Arn")
    if not isinstance(key, str) or not isinstance(arn, str):
        return
    role = _role_arn(arn)
    if role:
        if len(_assumed) >= _MAX_ASSUMED:
            del _assumed[next(iter(_assumed))]  # the oldest: its credentials expired first
        _assumed[key] = role


# The environment is read on every call, as it is now, not once: code may set
# AWS_ACCESS_KEY_ID itself. os.environ.get is Python code that encodes the name
# and decodes the value (callgrind: ~7,800 instructions a read); os.environ keeps
# the raw values in a dict (CPython's os._Environ._data, bytes on POSIX), and
# every change through os.environ stores a new value object there, so a read
# is one dict lookup and the value is decoded again only when that object changed.
_environ: Any = os.environ
_raw: dict[Any, Any] | None = getattr(_environ, "_data", None)
if type(_raw) is not dict or not callable(getattr(_environ, "encodekey", None)):
    _raw = None  # not CPython's os._Environ: os.environ.get every time
_KEY_ID = _environ.encodekey(AWS_ACCESS_KEY_ID) if _raw is not None else AWS_ACCESS_KEY_ID
_FUNCTION = (
    _environ.encodekey(AWS_LAMBDA_FUNCTION_NAME) if _raw is not None else AWS_LAMBDA_FUNCTION_NAME
)
_decode: Callable[[Any], str] = getattr(_environ, "decodevalue", str)


def env_key(name: str) -> Any:
    """``name`` as it is keyed in :data:`_raw` (encoded once, not on every read)."""
    return _environ.encodekey(name) if _raw is not None else name


# (raw value last read, its decoded text), replaced whole so threads agree.
_env_key: list[tuple[Any, str | None]] = [(object(), None)]


def _execution_key() -> str | None:
    """``AWS_ACCESS_KEY_ID`` as os.environ has it now."""
    if _raw is None:
        return os.environ.get(AWS_ACCESS_KEY_ID)
    raw = _raw.get(_KEY_ID)
    seen = _env_key[0]
    if raw is seen[0]:  # the same object: the same value (bytes never change)
        return seen[1]
    text = None if raw is None else str(_environ.decodevalue(raw))
    _env_key[0] = (raw, text)
    return text


def credentials_of(access_key: str, method: str = "") -> tuple[str, str]:
    """(whose credentials, role ARN if assumed) for the access key id that signed a call.

    ``method`` is botocore's name for where the credentials came from: Lambda
    SnapStart serves the execution role's from a container endpoint
    (``container-role``) instead of the environment.
    """
    if not access_key:
        return _UNKNOWN
    role = _assumed.get(access_key)
    if role:
        return semconv.CREDENTIALS_ASSUMED_ROLE, role
    if _raw is not None:  # _execution_key's repeat, inline (every AWS call asks)
        seen = _env_key[0]
        execution = seen[1] if _raw.get(_KEY_ID) is seen[0] else _execution_key()
    else:
        execution = _execution_key()
    if access_key == execution or (
        method == "container-role"
        and (_FUNCTION in _raw if _raw is not None else AWS_LAMBDA_FUNCTION_NAME in os.environ)
    ):
        return _EXECUTION
    return _STATIC


_UNKNOWN = (semconv.CREDENTIALS_UNKNOWN, "")
_EXECUTION = (semconv.CREDENTIALS_EXECUTION_ROLE, "")
_STATIC = (semconv.CREDENTIALS_STATIC, "")


def whose(credentials: object) -> tuple[str, str]:
    """:func:`credentials_of` for a botocore credentials object, read as :func:`access_key_of` does.

    Its own copy of the rule, in one call level: every AWS call asks.
    """
    attrs = getattr(credentials, "__dict__", None)
    if type(attrs) is dict:
        key = attrs.get("access_key") or attrs.get("_access_key")
        if not isinstance(key, str):
            key = ""
    else:
        key = access_key_of(credentials)
    if not key:
        return _UNKNOWN
    role = _assumed.get(key)
    if role:
        return semconv.CREDENTIALS_ASSUMED_ROLE, role
    if _raw is not None:
        seen = _env_key[0]
        execution = seen[1] if _raw.get(_KEY_ID) is seen[0] else _execution_key()
    else:
        execution = _execution_key()
    if key == execution or (
        str(getattr(credentials, "method", "")) == "container-role"
        and (_FUNCTION in _raw if _raw is not None else AWS_LAMBDA_FUNCTION_NAME in os.environ)
    ):
        return _EXECUTION
    return _STATIC


def forget() -> None:
    """Forget every learnt assumed role (tests)."""
    _assumed.clear()
