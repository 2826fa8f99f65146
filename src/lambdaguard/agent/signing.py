"""SigV4-signed HTTP requests made without an SDK operation: AWS calls all the same.

OpenSearch through opensearch-py's AWS signer, API Gateway and Lambda function
URLs with IAM auth, AppSync, Neptune: code calls these with a plain HTTP client
and signs each request itself. IAM authorizes them like any SDK call
(``es:ESHttpGet``, ``execute-api:Invoke``, ``lambda:InvokeFunctionUrl``,
``appsync:GraphQL`` …), so a proposal that misses them breaks the function.

Signing is the one step they share, so that is where they are seen:

- ``botocore.auth.SigV4Auth.add_auth`` (and its subclasses; opensearch-py's
  ``AWSV4SignerAuth``/``Urllib3AWSV4SignerAuth``/``AWSV4SignerAsyncAuth`` and
  hand-written ``SigV4Auth(creds, service, region).add_auth(request)`` code),
  and ``botocore.crt.auth``'s CRT signers when botocore loads them;
- ``requests_aws4auth.AWS4Auth.__call__`` (requests-aws4auth signs on its own).

Each hook is applied only when the function imports that module. botocore's
SDK operations sign through the same ``add_auth``: their requests carry the
operation's context (:func:`lambdaguard.agent.aws.is_sdk_request`) and are
left to :mod:`lambdaguard.agent.aws`, which records the operation itself. Query-string
and POST-policy signers (presigned URLs and posts) are skipped: the SDK's are
recorded as presigns by :mod:`~lambdaguard.agent.aws`, and a URL used later by
another process is out of any hook's reach.

What is recorded: the signing service and region, the method, the host and the
path cut like an object key (``/index/`` of ``/index/_doc/1``), as the
pseudo-operation ``"HTTP " + method`` (``semconv.SIGV4_OPERATION_PREFIX``) with
``semconv.AWS_VIA = "sigv4"`` and whose credentials signed it. Never a
header, the body, the query string or the signature. One record per signing:
a request signed again for a retry counts again. The outcome is not seen
(the response is read by the HTTP client, after the signer).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from lambdaguard import semconv
from lambdaguard.agent import _facts, _guard, _imports, aws, network, recorder
from lambdaguard.agent._reduce import key_prefix

__all__ = ["install", "reduced_path", "uninstall"]

_MARK = "__lambdaguard_original__"
# Class names of botocore signers that presign (the request is not sent now).
_PRESIGNERS = ("QueryAuth", "PostAuth")
_SIGNED = "sigv4.signed"
_OFF = _guard.OFF


def reduced_path(path: str) -> str:
    """A request path cut like an object key, with the agent's key settings (``/a/`` of ``/a/b``)."""
    depth = int(aws._settings["depth"])
    full = bool(aws._settings["full"])
    return "/" + key_prefix(path.lstrip("/"), depth, full)


def record(  # noqa: PLR0917 - the facts of one signing, called from two hooks
    service: str, region: str, method: str, url: str, access_key: str, source: str = ""
) -> None:
    """Record one signed request (no-op outside a recording)."""
    rec = recorder.current()
    if rec is None or not service or not url:
        return
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    scheme = parts.scheme or "https"
    port = parts.port or (443 if scheme == "https" else 80)
    if host:
        network.mark_aws(host, port)
    params, truncated = _facts.bounded_params({"Host": host, "Path": reduced_path(parts.path)})
    credentials, role = _facts.credentials_of(access_key, source)
    now = time.time_ns()
    rec.add_call(
        recorder.AwsCall(
            service=service,
            service_id=service,
            operation=semconv.SIGV4_OPERATION_PREFIX + method.upper(),
            region=region,
            endpoint=f"{scheme}://{host}:{parts.port}" if parts.port else f"{scheme}://{host}",
            params=params,
            start_ns=now,
            end_ns=now,
            params_truncated=truncated,
            credentials=credentials,
            role_arn=role,
            via=semconv.VIA_SIGV4,
        )
    )


def _botocore_signed(signer: Any, request: Any) -> None:
    if aws.is_sdk_request(request) or type(signer).__name__.endswith(_PRESIGNERS):
        return
    credentials = signer.credentials
    record(
        str(signer._service_name or ""),
        str(signer._region_name or ""),
        str(request.method or "GET"),
        str(request.url or ""),
        _facts.access_key_of(credentials),
        str(getattr(credentials, "method", "") or ""),
    )


def _aws4auth_signed(auth: Any, request: Any) -> None:
    record(
        str(getattr(auth, "service", "") or ""),
        str(getattr(auth, "region", "") or ""),
        str(getattr(request, "method", "") or "GET"),
        str(getattr(request, "url", "") or ""),
        str(getattr(auth, "access_id", "") or ""),
    )


def _wrap_add_auth(cls: Any) -> None:
    if getattr(cls.__dict__.get("add_auth"), _MARK, None) is not None:
        return
    original = cls.add_auth

    # The fail-open rule of _guard.safe, inline (see _guard): every SDK call signs here.
    def add_auth(self: Any, request: Any) -> Any:
        result = original(self, request)
        if _SIGNED not in _OFF:
            try:
                # An SDK operation's own request (aws records it) is told here by
                # its context, a plain dict: aws.is_sdk_request's common case.
                context = getattr(request, "context", None)
                if type(context) is not dict or not (
                    "client_config" in context or "is_presign_request" in context
                ):
                    _botocore_signed(self, request)
            except Exception as exc:  # noqa: BLE001 - fail-open: the hook switches itself off
                _guard.disable(_SIGNED, exc)
        return result

    setattr(add_auth, _MARK, original)
    cls.add_auth = add_auth


def _patch_botocore(module: ModuleType) -> None:
    _wrap_add_auth(module.SigV4Auth)


def _patch_crt(module: ModuleType) -> None:
    for name in ("CrtSigV4Auth", "CrtSigV4AsymAuth"):
        cls = getattr(module, name, None)
        if cls is not None:
            _wrap_add_auth(cls)


def _patch_aws4auth(module: ModuleType) -> None:
    cls = module.AWS4Auth
    if getattr(cls.__dict__.get("__call__"), _MARK, None) is not None:
        return
    original = cls.__call__

    def __call__(self: Any, request: Any) -> Any:
        result = original(self, request)
        _guard.safe("sigv4.aws4auth", _aws4auth_signed, self, request, default=None)
        return result

    setattr(__call__, _MARK, original)
    cls.__call__ = __call__


def install() -> None:
    """Record SigV4-signed requests from now on (idempotent; each hook waits for its import)."""
    hooks: tuple[tuple[str, Callable[[ModuleType], None]], ...] = (
        ("botocore.auth", _patch_botocore),
        ("botocore.crt.auth", _patch_crt),
        ("requests_aws4auth.aws4auth", _patch_aws4auth),
    )
    for name, patch in hooks:
        _imports.when_imported(name, _guarded(name, patch))


def _guarded(name: str, patch: Callable[[ModuleType], None]) -> Callable[[ModuleType], None]:
    def apply(module: ModuleType) -> None:
        _guard.safe(f"sigv4.install.{name}", patch, module, default=None)

    return apply


def uninstall() -> None:
    """Put the signers back as they were (idempotent)."""
    for module_name, classes, method in (
        ("botocore.auth", ("SigV4Auth",), "add_auth"),
        ("botocore.crt.auth", ("CrtSigV4Auth", "CrtSigV4AsymAuth"), "add_auth"),
        ("requests_aws4auth.aws4auth", ("AWS4Auth",), "__call__"),
    ):
        module = sys.modules.get(module_name)
        for name in classes:
            cls = getattr(module, name, None) if module is not None else None
            original = getattr(cls.__dict__.get(method), _MARK, None) if cls else None
            if original is not None:
                setattr(cls, method, original)
