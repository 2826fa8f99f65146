"""AWS API calls, seen where every botocore-based client makes them.

Two methods of ``botocore.client.BaseClient`` are wrapped, on the class, so a
client created before lambdaguard loaded is covered as well as one created
after, in the handler, at module level or in a worker thread:

- ``_make_api_call`` runs once per API call *around* botocore's retry loop,
  so one wrap sees the final outcome, ``ResponseMetadata.RetryAttempts`` and
  the total latency.
- ``_emit_api_params`` is also called by ``generate_presigned_url`` and
  ``generate_presigned_post`` with ``context["is_presign_request"]``: that is
  recorded as a signing event (the permission is used when the URL is used).

aiobotocore (under aioboto3, s3fs and most async AWS code) subclasses
``BaseClient`` and overrides both methods with coroutines, so the same two are
wrapped on ``aiobotocore.client.AioBaseClient`` when (and only if) the
function imports it; paginators and waiters call the client's operation
methods, so they pass through the wrapper too. Why here and not botocore's
event system: the class wrap also covers clients created before lambdaguard
was installed (``@instrument`` below a module-level client), costs one call
frame per API call instead of three handler dispatches, and every SDK client
still meets one of the two classes. What signs requests without an SDK
operation is seen by :mod:`lambdaguard.agent.signing`, which knows an SDK
operation's own request by the context botocore gives it
(:func:`is_sdk_request`) and leaves it to this module.

The patch is applied when the function's code first imports
``botocore.client`` (see :mod:`lambdaguard.agent._imports`).

What is kept of the request is decided in :mod:`lambdaguard.agent._reduce`;
response facts, the size bound and whose credentials in
:mod:`lambdaguard.agent._facts`.
"""

from __future__ import annotations

import sys
import time
import weakref
from collections.abc import Mapping
from types import FrameType, ModuleType
from typing import Any
from urllib.parse import urlsplit

from lambdaguard.agent import _facts, _guard, _imports, network, recorder
from lambdaguard.agent._reduce import identifying_params, key_prefix

__all__ = ["identifying_params", "install", "is_sdk_request", "key_prefix", "uninstall"]

_MARK = "__lambdaguard_original__"


def _endpoint(url: str | None) -> tuple[str, str, int]:
    if not url:
        return "", "", 0
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    netloc = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{netloc}", host, port


class _Pending:
    """A call in progress: what ``_finish`` needs once botocore returns."""

    # A slotted class, not a NamedTuple: collections.namedtuple compiles each
    # class's __new__ at import (eval), and this module is on the INIT path.
    __slots__ = (
        "endpoint",
        "operation",
        "params",
        "rec",
        "region",
        "service",
        "service_id",
        "t0",
        "truncated",
    )

    def __init__(  # noqa: PLR0917 - built once per call on the response path: positional
        self,
        rec: recorder.Recording,
        service: str,
        service_id: str,
        operation: str,
        region: str,
        endpoint: str,
        params: str,
        truncated: bool,
    ) -> None:
        self.rec = rec
        self.service = service
        self.service_id = service_id
        self.operation = operation
        self.region = region
        self.endpoint = endpoint
        self.params = params
        self.truncated = truncated
        self.t0 = time.time_ns()


_settings = {"depth": 1, "full": False}
_ASSUME_ROLE = frozenset({"AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"})


def is_sdk_request(request: Any) -> bool:
    """Whether a request being signed is an SDK operation's (botocore's or aiobotocore's).

    botocore builds an operation's ``AWSRequest`` with the call's context
    (``client_config``, or ``is_presign_request`` for a presign); a request
    code builds itself (opensearch-py, hand-written signing) has an empty one.
    """
    context = getattr(request, "context", None)
    return isinstance(context, Mapping) and (
        "client_config" in context or "is_presign_request" in context
    )


def _credentials(client: Any) -> tuple[str, str]:
    # Read after the call, so refreshed (or deferred) credentials are the ones
    # that signed it; the attributes are read without triggering a refresh.
    creds = getattr(getattr(client, "_request_signer", None), "_credentials", None)
    return _facts.credentials_of(_facts.access_key_of(creds), str(getattr(creds, "method", "")))


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


# Reduced params of requests already seen, by their raw members: (service,
# operation, the request's items) -> (params text, truncated). A warm function
# repeats the same few requests, so a repeat costs a lookup instead of the
# reduction and its JSON encoding. Only flat requests are keyed (every value
# a short string, a number, a bool or None: immutable, so the key cannot
# change after the call, and small, so no payload is kept alive); anything
# else is reduced every time, as before. True == 1 == 1.0 as dict keys, yet
# the reduction keeps only a real True flag, so a key with a non-string value
# also holds every value's type. Bounded: cleared when full (a function whose
# every request is unique only ever misses).
_reductions: dict[tuple[Any, ...], tuple[str, bool]] = {}
_REDUCTIONS_MAX = 512
_FLAT_MAX = 256  # longest string value a key may hold
_FLAT_TYPES = frozenset({int, bool, float, type(None)})


def _flat_key(service: str, operation: str, params: Any) -> tuple[Any, ...] | None:
    if type(params) is not dict or len(params) > 16:
        return None
    items = tuple(params.items())
    typed = False
    for _, value in items:
        kind = type(value)
        if kind is str:
            if len(value) > _FLAT_MAX:
                return None
        elif kind in _FLAT_TYPES:
            typed = True
        else:
            return None
    if typed:
        return (service, operation, items, tuple(type(value) for _, value in items))
    return (service, operation, items)


def _reduce(service: str, operation: str, params: Any) -> tuple[str, bool]:
    """(params text, truncated) of one request: the identifying members as bounded JSON."""
    key = _flat_key(service, operation, params)
    if key is not None:
        known = _reductions.get(key)
        if known is not None:
            return known
    reduced = identifying_params(
        service,
        params if isinstance(params, Mapping) else {},
        int(_settings["depth"]),
        bool(_settings["full"]),
    )
    result = _facts.bounded_params(reduced)
    if key is not None:
        if len(_reductions) >= _REDUCTIONS_MAX:
            _reductions.clear()
        _reductions[key] = result
    return result


def _describe(client: Any, operation: str, params: Any, rec: recorder.Recording) -> _Pending:
    service, service_id, region, endpoint = _client_facts(client)
    text, truncated = _reduce(service, operation, params)
    return _Pending(rec, service, service_id, operation, region, endpoint, text, truncated)


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


def _finish(client: Any, pending: _Pending, result: Any, exc: BaseException | None) -> None:
    end = time.time_ns()
    error_code = ""
    response = ""
    if exc is None:
        status, request_id, retries = _meta(result)
        response = _facts.response_facts(result)
        if pending.service == "sts" and pending.operation in _ASSUME_ROLE:
            _facts.learn_assumed(result)
    else:
        failed = getattr(exc, "response", None)
        status, request_id, retries = _meta(failed)
        error = failed.get("Error") if isinstance(failed, Mapping) else None
        code = error.get("Code") if isinstance(error, Mapping) else None
        error_code = str(code) if code else type(exc).__name__
    credentials, role = _credentials(client)
    # Positional (the field order of AwsCall): this runs on the response path.
    pending.rec.add_call(
        recorder.AwsCall(
            pending.service,
            pending.service_id,
            pending.operation,
            pending.region,
            pending.endpoint,
            pending.params,
            pending.t0,
            end,
            status,
            request_id,
            error_code,
            response,
            retries,
            False,
            pending.truncated,
            credentials,
            role,
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
    credentials, role = _credentials(client)
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
            params_truncated=pending.truncated,
            credentials=credentials,
            role_arn=role,
        )
    )


def _start(client: Any, operation: str, params: Any) -> _Pending | None:
    rec = recorder.current()
    if rec is None:
        return None
    return _describe(client, operation, params, rec)


_PRESIGNERS = ("generate_presigned_post", "generate_presigned_url")


def _presign_caller(context: Any) -> str:
    # Which client method asked: a presigned URL or a presigned POST (the
    # caller of _emit_api_params, a few frames up; an awaiting coroutine's
    # frame is linked the same way while it runs).
    if not (isinstance(context, Mapping) and context.get("is_presign_request")):
        return ""
    frame: FrameType | None = sys._getframe(1)
    for _ in range(6):
        if frame is None:
            break
        if frame.f_code.co_name in _PRESIGNERS:
            return frame.f_code.co_name
        frame = frame.f_back
    return _PRESIGNERS[1]


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
            _guard.safe("aws.finish", _finish, self, pending, None, exc, default=None)
            raise
        _guard.safe("aws.finish", _finish, self, pending, result, None, default=None)
        return result

    def _emit_api_params(self: Any, api_params: Any, operation_model: Any, context: Any) -> Any:
        result = original_emit(self, api_params, operation_model, context)
        caller = _guard.safe("aws.presign_caller", _presign_caller, context, default="")
        if caller:
            _guard.safe(
                "aws.presign", _presigned, self, result, operation_model, caller, default=None
            )
        return result

    _install_on(base, _make_api_call, original_call, _emit_api_params, original_emit)


def _patch_aio(module: ModuleType) -> None:
    # aiobotocore: the same two methods, as coroutines; the work around them is
    # the same functions as for botocore, only the shells differ (await).
    base = module.AioBaseClient
    if getattr(base._make_api_call, _MARK, None) is not None:
        return
    original_call = base._make_api_call
    original_emit = base._emit_api_params

    async def _make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
        pending = _guard.safe("aws.start", _start, self, operation_name, api_params, default=None)
        if pending is None:
            return await original_call(self, operation_name, api_params)
        try:
            result = await original_call(self, operation_name, api_params)
        except BaseException as exc:
            _guard.safe("aws.finish", _finish, self, pending, None, exc, default=None)
            raise
        _guard.safe("aws.finish", _finish, self, pending, result, None, default=None)
        return result

    async def _emit_api_params(
        self: Any, api_params: Any, operation_model: Any, context: Any
    ) -> Any:
        result = await original_emit(self, api_params, operation_model, context)
        caller = _guard.safe("aws.presign_caller", _presign_caller, context, default="")
        if caller:
            _guard.safe(
                "aws.presign", _presigned, self, result, operation_model, caller, default=None
            )
        return result

    _install_on(base, _make_api_call, original_call, _emit_api_params, original_emit)


def _install_on(base: Any, call: Any, original_call: Any, emit: Any, original_emit: Any) -> None:
    setattr(call, _MARK, original_call)
    setattr(emit, _MARK, original_emit)
    base._make_api_call = call
    base._emit_api_params = emit


def install(key_prefix_depth: int = 1, record_full_keys: bool = False) -> None:
    """Record every botocore call from now on (idempotent; defers until botocore is imported)."""
    if (_settings["depth"], _settings["full"]) != (key_prefix_depth, record_full_keys):
        _reductions.clear()  # reduced under other settings
    _settings["depth"] = key_prefix_depth
    _settings["full"] = record_full_keys
    _imports.when_imported("botocore.client", _patch)
    _imports.when_imported(
        "aiobotocore.client",
        lambda module: _guard.safe("aws.aiobotocore", _patch_aio, module, default=None),
    )


def uninstall() -> None:
    """Put botocore and aiobotocore back as they were (idempotent)."""
    _facts.forget()
    _reductions.clear()
    for name, attribute in (
        ("botocore.client", "BaseClient"),
        ("aiobotocore.client", "AioBaseClient"),
    ):
        module = sys.modules.get(name)
        if module is None:
            continue
        base = getattr(module, attribute)
        for method in ("_make_api_call", "_emit_api_params"):
            original = getattr(base.__dict__.get(method), _MARK, None)
            if original is not None:
                setattr(base, method, original)
