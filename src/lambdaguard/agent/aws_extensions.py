"""AWS calls that AWS's own Lambda extensions make for the function, with its role.

The AWS Parameters and Secrets Lambda Extension (HTTP on ``localhost:2773``)
and the AppConfig Lambda extension (``localhost:2772``) run in the function's
execution environment and call Secrets Manager, SSM and AppConfig with the
function's execution role. The function's code never calls those APIs itself,
so without this a proposal would drop ``secretsmanager:GetSecretValue``,
``ssm:GetParameter`` or AppConfig's session permissions and break it.

:mod:`lambdaguard.agent.network` hands every HTTP request line sent to one of
those ports on a loopback host to :func:`request`, which records the AWS call
the extension makes for it, marked ``semconv.AWS_VIA = "extension"``:

=================================================================  ==========================================
local request                                                      recorded as
=================================================================  ==========================================
``GET /secretsmanager/get?secretId=ID``                             secretsmanager ``GetSecretValue`` {SecretId}
``GET /systemsmanager/parameters/get?name=NAME``                    ssm ``GetParameter`` {Name} (``:version``/
                                                                    ``:label`` selectors dropped;
                                                                    ``withDecryption=true`` kept)
``GET /applications/A/environments/E/configurations/C``             appconfigdata ``StartConfigurationSession``
                                                                    and ``GetLatestConfiguration`` {A, E, C}
=================================================================  ==========================================

Only the request line's path and the identifying query members are read: never
a header (the ``X-Aws-Parameters-Secrets-Token`` header carries the session
token), never the response. The extensions cache, so one local request is one
read and not necessarily one AWS call: counts are of reads. The ports are the
extensions' own variables (``PARAMETERS_SECRETS_EXTENSION_HTTP_PORT``,
``AWS_APPCONFIG_EXTENSION_HTTP_PORT``), read on the first loopback request.
This module is imported only then, not at INIT.
"""

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from lambdaguard import semconv
from lambdaguard.agent import _facts, recorder
from lambdaguard.agent._reduce import identifying_params
from lambdaguard.agent.config import (
    AWS_APPCONFIG_EXTENSION_HTTP_PORT,
    AWS_DEFAULT_REGION,
    AWS_REGION,
    PARAMETERS_SECRETS_EXTENSION_HTTP_PORT,
)

__all__ = ["configure", "forget", "is_extension", "request"]

_SECRETS = "secrets"
_APPCONFIG = "appconfig"
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_ports: dict[int, str] = {}  # read from the environment on first use


def _port(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() and 0 < int(value) < 65536 else default


def configure() -> None:
    """Read the extensions' ports from the environment (their defaults: 2773, 2772)."""
    secrets = _port(os.environ.get(PARAMETERS_SECRETS_EXTENSION_HTTP_PORT), 2773)
    appconfig = _port(os.environ.get(AWS_APPCONFIG_EXTENSION_HTTP_PORT), 2772)
    _ports.clear()
    _ports[secrets] = _SECRETS
    _ports[appconfig] = _APPCONFIG


def forget() -> None:
    """Forget the ports read (the next check reads the environment again)."""
    _ports.clear()


def is_extension(host: str, port: int) -> bool:
    """Whether ``host:port`` is one of AWS's Lambda extensions in this environment."""
    if not _ports:
        configure()
    return port in _ports and host.lower() in _LOOPBACK


def _first(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    return values[0] if values else ""


def _calls(kind: str, target: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    # (service, service id, operation, params) of the AWS calls behind one local request.
    parts = urlsplit(target)
    path = parts.path
    query = parse_qs(parts.query)
    if kind == _SECRETS and path == "/secretsmanager/get":
        secret = _first(query, "secretId")
        if secret:
            return [("secretsmanager", "Secrets Manager", "GetSecretValue", {"SecretId": secret})]
    elif kind == _SECRETS and path == "/systemsmanager/parameters/get":
        name = _first(query, "name")
        if name and not name.startswith("arn:"):
            # Parameter names have no ":"; what follows one selects a version or label.
            name = name.split(":", 1)[0]
        if name:
            params: dict[str, Any] = {"Name": name}
            # withDecryption=true asks the extension to decrypt a SecureString: its
            # GetParameter then needs kms:Decrypt on the parameter's key.
            if _first(query, "withDecryption") == "true":
                params["WithDecryption"] = True
            return [("ssm", "SSM", "GetParameter", params)]
    elif kind == _APPCONFIG:
        segments = [unquote(s) for s in path.strip("/").split("/")]
        if (
            len(segments) == 6
            and segments[0] == "applications"
            and segments[2] == "environments"
            and segments[4] == "configurations"
        ):
            ids = {
                "ApplicationIdentifier": segments[1],
                "EnvironmentIdentifier": segments[3],
                "ConfigurationProfileIdentifier": segments[5],
            }
            return [
                ("appconfigdata", "AppConfigData", operation, ids)
                for operation in ("StartConfigurationSession", "GetLatestConfiguration")
            ]
    return []


def request(port: int, method: str, target: str) -> None:
    """Record the AWS calls behind one request sent to an extension's port."""
    rec = recorder.current()
    kind = _ports.get(port)
    if rec is None or kind is None or method != "GET":
        return
    region = os.environ.get(AWS_REGION) or os.environ.get(AWS_DEFAULT_REGION) or ""
    now = time.time_ns()
    for service, service_id, operation, params in _calls(kind, target):
        reduced = identifying_params(service, params)
        text, truncated = _facts.bounded_params(reduced)
        rec.add_call(
            recorder.AwsCall(
                service=service,
                service_id=service_id,
                operation=operation,
                region=region,
                endpoint="",
                params=text,
                start_ns=now,
                end_ns=now,
                params_truncated=truncated,
                # The extensions sign with the credentials Lambda gave the
                # function: its execution role.
                credentials=semconv.CREDENTIALS_EXECUTION_ROLE,
                via=semconv.VIA_EXTENSION,
            )
        )
