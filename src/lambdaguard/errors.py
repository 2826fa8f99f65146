"""Every error lambdaguard raises on purpose, rooted at one base class.

::

    LambdaguardError
    ├── ConfigError          a setting (variable, flag, file field) has a bad value
    ├── IamDataError         the IAM knowledge cannot answer (unknown service/operation, bad params)
    │   ├── UnknownService
    │   └── UnknownOperation
    ├── IngestError          a telemetry body cannot be accepted (maps to a 4xx)
    └── StoreError           the store cannot be opened, migrated or written
        └── StoreNotFound    a read found no store where it was pointed (nothing is created)

The agent never raises any of these into a function's code: in the function,
a bad setting logs one warning and falls back to its default.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "IamDataError",
    "IngestError",
    "LambdaguardError",
    "StoreError",
    "StoreNotFound",
    "UnknownOperation",
    "UnknownService",
]


class LambdaguardError(Exception):
    """Base class of every error lambdaguard raises on purpose."""


class ConfigError(LambdaguardError, ValueError):
    """A setting has a value lambdaguard cannot use; the message names it and what is accepted."""


class IamDataError(LambdaguardError):
    """The IAM knowledge cannot answer for the given call."""


class UnknownService(IamDataError, LookupError):
    """No botocore service model (or IAM service) has this name."""

    def __init__(self, message: str, *, nearest: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.nearest = nearest


class UnknownOperation(IamDataError, LookupError):
    """The service has no operation of this name."""

    def __init__(self, message: str, *, nearest: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.nearest = nearest


class IngestError(LambdaguardError):
    """A telemetry body cannot be accepted; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class StoreError(LambdaguardError):
    """The store cannot be opened, migrated or written."""


class StoreNotFound(StoreError, LookupError):
    """A command that only reads was pointed at a store that does not exist; nothing was created."""
