"""Fail-open, written once.

Every hook lambdaguard puts into a function's process calls its own work
through :func:`safe`. A hook that fails is switched off for the rest of the
process (so a broken hook costs one exception, not one per call) and the
host's call carries on exactly as it would without lambdaguard. The host's own
call is never made inside :func:`safe`.

The few wrappers that run on every AWS call (``aws``'s ``_make_api_call``,
``signing``'s ``add_auth``) or every invocation (``bootstrap``'s handler
wrapper around ``start`` and ``finish``, ``_agent``'s ``_before_next``) spell
the same rule out inline instead of paying a call level and an argument tuple
each time::

    if name not in OFF:
        try:
            work(...)
        except Exception as exc:
            disable(name, exc)

with the same meaning: :data:`OFF` is the set :func:`safe` consults, and
:func:`disable` is what :func:`safe` does on a failure.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import TypeVar

__all__ = ["OFF", "broken", "disable", "reset", "safe"]

T = TypeVar("T")

# The names of the hooks switched off. One set for the whole process, never
# rebound (reset() clears it), so a module may hold it in a global of its own.
OFF: set[str] = set()


def disable(name: str, exc: BaseException) -> None:
    """Switch hook ``name`` off after ``exc`` and say so once on stderr."""
    OFF.add(name)
    with contextlib.suppress(Exception):  # stderr closed: stay silent
        sys.stderr.write(f"lambdaguard: hook {name} disabled after {type(exc).__name__}\n")


def safe(name: str, fn: Callable[..., T], *args: object, default: T) -> T:
    """Call ``fn(*args)``; on any exception switch hook ``name`` off and return ``default``."""
    if name in OFF:
        return default
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - the whole point: nothing escapes a hook
        disable(name, exc)
        return default


def broken() -> frozenset[str]:
    """The names of hooks switched off after a failure."""
    return frozenset(OFF)


def reset() -> None:
    """Switch every hook back on (tests)."""
    OFF.clear()
