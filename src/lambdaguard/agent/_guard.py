"""Fail-open, written once.

Every hook lambdaguard puts into a function's process calls its own work
through :func:`safe`. A hook that fails is switched off for the rest of the
process (so a broken hook costs one exception, not one per call) and the
host's call carries on exactly as it would without lambdaguard. The host's own
call is never made inside :func:`safe`.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import TypeVar

__all__ = ["broken", "reset", "safe"]

T = TypeVar("T")

_broken: set[str] = set()


def safe(name: str, fn: Callable[..., T], *args: object, default: T) -> T:
    """Call ``fn(*args)``; on any exception switch hook ``name`` off and return ``default``."""
    if name in _broken:
        return default
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - the whole point: nothing escapes a hook
        _broken.add(name)
        with contextlib.suppress(Exception):  # stderr closed: stay silent
            sys.stderr.write(f"lambdaguard: hook {name} disabled after {type(exc).__name__}\n")
        return default


def broken() -> frozenset[str]:
    """The names of hooks switched off after a failure."""
    return frozenset(_broken)


def reset() -> None:
    """Switch every hook back on (tests)."""
    _broken.clear()
