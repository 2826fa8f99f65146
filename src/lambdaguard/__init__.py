"""lambdaguard: record what AWS Lambda functions really do, and judge it.

The one thing a function's code imports is :func:`instrument`, a decorator
that wraps a handler with the in-function agent (for container images and
tests; zip functions get the same through the layer's exec wrapper).

Importing this package is cheap: ``instrument`` is loaded on first use, and
nothing from the collector side is ever imported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "instrument"]

if TYPE_CHECKING:
    from lambdaguard.agent import instrument


def __getattr__(name: str) -> Any:
    if name == "instrument":
        from lambdaguard.agent import instrument

        return instrument
    raise AttributeError(f"module 'lambdaguard' has no attribute {name!r}")
