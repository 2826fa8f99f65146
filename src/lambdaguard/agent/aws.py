"""AWS API calls, seen where every botocore client makes them.

Two methods of ``botocore.client.BaseClient`` are wrapped, on the class, so a
client created before lambdaguard loaded is covered as well as one created
after, in the handler, at module level or in a worker thread:

- ``_make_api_call`` runs once per API call *around* botocore's retry loop,
  so one wrap sees the final outcome, ``ResponseMetadata.RetryAttempts`` and
  the total latency.
- ``_emit_api_params`` is also called by ``generate_presigned_url`` and
  ``generate_presigned_post`` with ``context["is_presign_request"]``: that is
  recorded as a signing event (the permission is used when the URL is used).

The patch is applied when the function's code first imports
``botocore.client`` (see :mod:`lambdaguard.agent._imports`).

What is kept of the request is decided in :mod:`lambdaguard.agent._reduce`.
"""

from __future__ import annotations

import json
import sys
import time
import weakref
from collections.abc import Mapping
from types import ModuleType
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from lambdaguard.agent import _guard, _imports, network, recorder
from lambdaguard.agent._reduce import identifying_params, key_prefix

__all__ = ["identifying_params", "install", "key_prefix", "uninstall"]

_MARK = "__lambdaguard_original__"


def _endpoint(url: str | None) -> tuple[str, str, int]:
    if not url:
        return "", "", 0
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    netloc = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{netloc}", host, port


class _Pending(NamedTuple):
    rec: recorder.Recording
    service: str
    service_id: str
    operation: str
    region: str
    endpoint: str
    params: str
    t0: int


_settings = {"depth": 1, "full": False}
# Compact sorted JSON, as json.dumps(sort_keys=True, separators=(",", ":"))
# gives, without building an encoder on every call (this runs in the call).
_PARAMS_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


# A client's service, region and endpoint never change after it is created:
# computed once per client (a weak map, so clients are not kept alive).
_clients: weakref.WeakKeyDictionary[Any, tuple[str, str, str, str]] = weakref.WeakKeyDictionary()


def _client_facts(client: Any) -> tuple[str, str, str, str]:
    facts = _clients.get(client)
    if facts is None:
        meta = client.meta
        model = meta.service_model
        endpoint, host, port = _endpoint(meta.endpoint_url)
        if host:
            network.mark_aws(host, port)
        facts = (
            str(model.service_name),
            str(model.service_id),
            str(meta.region_name or ""),
            endpoint,
        )
        _clients[client] = facts
    return facts


def _describe(client: Any, operation: str, params: Any, rec: recorder.Recording) -> _Pending:
    service, service_id, region, endpoint = _client_facts(client)
    reduced = identifying_params(
        service,
        params if isinstance(params, Mapping) else {},
        int(_settings["depth"]),
        bool(_settings["full"]),
    )
    return _Pending(
        rec=rec,
        service=service,
        service_id=service_id,
        operation=operation,
        region=region,
        endpoint=endpoint,
        params=_PARAMS_JSON.encode(reduced) if reduced else "{}",
        t0=time.time_ns(),
    )


def _meta(response: Any) -> tuple[int, str, int]:
    if not isinstance(response, Mapping):
        return 0, "", 0
    meta = response.get("ResponseMetadata")
    if not isinstance(meta, Mapping):
        return 0, "", 0
    return (
        int(meta.get("HTTPStatusCode") or 0),
        str(meta.get("RequestId") or ""),
        int(meta.get("RetryAttempts") or 0),
    )


def _finish(pending: _Pending, result: Any, exc: BaseException | None) -> None:
    end = time.time_ns()
    error_code = ""
    kms = version = ""
    if exc is None:
        status, request_id, retries = _meta(result)
        if isinstance(result, Mapping):
            kms = str(result.get("SSEKMSKeyId") or "")
            version = str(result.get("VersionId") or "")
    else:
        response = getattr(exc, "response", None)
        status, request_id, retries = _meta(response)
        error = response.get("Error") if isinstance(response, Mapping) else None
        code = error.get("Code") if isinstance(error, Mapping) else None
        error_code = str(code) if code else type(exc).__name__
    pending.rec.add_call(
        recorder.AwsCall(
            service=pending.service,
            service_id=pending.service_id,
            operation=pending.operation,
            region=pending.region,
            endpoint=pending.endpoint,
            params=pending.params,
            start_ns=pending.t0,
            end_ns=end,
            status=status,
            request_id=request_id,
            error_code=error_code,
            kms_key_id=kms,
            version_id=version,
            retries=retries,
        )
    )


def _presigned(client: Any, params: Any, operation_model: Any, caller: str) -> None:
    rec = recorder.current()
    if rec is None:
        return
    operation = str(operation_model.name)
    if caller == "generate_presigned_post":
        # botocore serialises a presigned POST through the CreateBucket model;
        # the permission the URL will exercise is s3:PutObject on the bucket.
        operation = "PutObject"
    pending = _describe(client, operation, params, rec)
    rec.add_call(
        recorder.AwsCall(
            service=pending.service,
            service_id=pending.service_id,
            operation=operation,
            region=pending.region,
            endpoint=pending.endpoint,
            params=pending.params,
            start_ns=pending.t0,
            end_ns=pending.t0,
            presign=True,
        )
    )


def _start(client: Any, operation: str, params: Any) -> _Pending | None:
    rec = recorder.current()
    if rec is None:
        return None
    return _describe(client, operation, params, rec)


def _patch(module: ModuleType) -> None:
    base = module.BaseClient
    if getattr(base._make_api_call, _MARK, None) is not None:
        return  # already installed: installing twice must not wrap twice
    original_call = base._make_api_call
    original_emit = base._emit_api_params

    def _make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
        pending = _guard.safe("aws.start", _start, self, operation_name, api_params, default=None)
        if pending is None:
            return original_call(self, operation_name, api_params)
        try:
            result = original_call(self, operation_name, api_params)
        except BaseException as exc:
            _guard.safe("aws.finish", _finish, pending, None, exc, default=None)
            raise
        _guard.safe("aws.finish", _finish, pending, result, None, default=None)
        return result

    def _emit_api_params(self: Any, api_params: Any, operation_model: Any, context: Any) -> Any:
        result = original_emit(self, api_params, operation_model, context)
        if isinstance(context, Mapping) and context.get("is_presign_request"):
            caller = sys._getframe(1).f_code.co_name
            _guard.safe(
                "aws.presign", _presigned, self, result, operation_model, caller, default=None
            )
        return result

    setattr(_make_api_call, _MARK, original_call)
    setattr(_emit_api_params, _MARK, original_emit)
    base._make_api_call = _make_api_call
    base._emit_api_params = _emit_api_params


def install(key_prefix_depth: int = 1, record_full_keys: bool = False) -> None:
    """Record every botocore call from now on (idempotent; defers until botocore is imported)."""
    _settings["depth"] = key_prefix_depth
    _settings["full"] = record_full_keys
    _imports.when_imported("botocore.client", _patch)


def uninstall() -> None:
    """Put botocore back as it was (idempotent)."""
    module = sys.modules.get("botocore.client")
    if module is None:
        return
    base = module.BaseClient
    for name in ("_make_api_call", "_emit_api_params"):
        original = getattr(getattr(base, name), _MARK, None)
        if original is not None:
            setattr(base, name, original)
