"""Every error lambdaguard raises on purpose, rooted at one base class.

::

    LambdaguardError
    ├── ConfigError          a setting (variable, flag, file field) has a bad value
    ├── IamDataError         the IAM knowledge cannot answer (unknown service/operation, bad params)
    │   ├── UnknownService
    │   └── UnknownOperation
    ├── PolicyError          an IAM policy document cannot be used, or a request to evaluate
    │                        against one is malformed (names the policy and the statement)
    ├── AwsReadError         granted permissions could not be read from AWS (names the API call
    │                        and, when AWS refused it, the IAM permission the call needs)
    ├── ExportFileError      an exported file (get-account-authorization-details, list-functions)
    │                        cannot be read (names the file and the field)
    ├── IngestError          a telemetry body cannot be accepted (maps to a 4xx)
    └── StoreError           the store cannot be opened, migrated or written
        └── StoreNotFound    a read found no store where it was pointed (nothing is created)

The agent never raises any of these into a function's code: in the function,
a bad setting logs one warning and falls back to its default.
"""

from __future__ import annotations

__all__ = [
    "AwsReadError",
    "ConfigError",
    "ExportFileError",
    "IamDataError",
    "IngestError",
    "LambdaguardError",
    "PolicyError",
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


class PolicyError(LambdaguardError, ValueError):
    """An IAM policy document cannot be used; the message names the policy, the statement and what IAM accepts."""

    def __init__(self, message: str, *, policy: str | None = None) -> None:
        super().__init__(message)
        self.policy = policy


class AwsReadError(LambdaguardError):
    """AWS could not be read: refused, unreachable or throttled past the retries.

    ``operation`` is the API call (``iam:GetRolePolicy`` style, as the IAM
    action that authorizes it), ``permission`` the IAM permission the caller
    needs when AWS refused it (None when AWS was unreachable).
    """

    def __init__(self, message: str, *, operation: str, permission: str | None = None) -> None:
        super().__init__(message)
        self.operation = operation
        self.permission = permission


class ExportFileError(LambdaguardError, ValueError):
    """An exported file cannot be read; the message names the file, the field and what is accepted."""


class IngestError(LambdaguardError):
    """A telemetry body cannot be accepted; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class StoreError(LambdaguardError):
    """The store cannot be opened, migrated or written."""


class StoreNotFound(StoreError, LookupError):
    """A command that only reads was pointed at a store that does not exist; nothing was created."""
