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
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lambdaguard import recorded
from lambdaguard.agent import _facts, _guard, _imports, network, recorder
from lambdaguard.agent._reduce import identifying_params, key_prefix

if TYPE_CHECKING:
    # A client's (weak reference, service, service id, region, endpoint).
    _Facts = tuple[weakref.ref[Any], str, str, str, str]
    # (params text, truncated)
    _Reduced = tuple[str, bool]
    # An AwsCall's first six fields: service, service_id, operation, region,
    # endpoint and the reduced params, the same for every repeat of a request.
    _Head = tuple[str, str, str, str, str, str]
    # What _finish needs of a call in progress: (recording, head, params
    # truncated, start ns). A tuple: built on every call.
    _Started = tuple[recorder.Recording, _Head, bool, int]

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


_settings = {"depth": 1, "full": False}
_ASSUME_ROLE = frozenset({"AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"})
# The names the two hot wrappers switch off on a failure: the rule of
# _guard.safe, spelled out inline (see _guard) because it runs on every call.
_START = "aws.start"
_FINISH = "aws.finish"
_OFF = _guard.OFF
_AwsCall = recorder.AwsCall
_tuple_new = tuple.__new__
_MAX_KEPT = recorder.MAX_KEPT
# recorder.current(), read inline on every call: the recording in progress,
# unless this thread is doing lambdaguard's own I/O.
_local = recorder._local


def is_sdk_request(request: Any) -> bool:
    """Whether a request being signed is an SDK operation's (botocore's or aiobotocore's).

    botocore builds an operation's ``AWSRequest`` with the call's context
    (``client_config``, or ``is_presign_request`` for a presign); a request
    code builds itself (opensearch-py, hand-written signing) has an empty one.
    """
    context = getattr(request, "context", None)
    # botocore's context is a plain dict: told without the ABC check, which costs more.
    if type(context) is not dict and not isinstance(context, Mapping):
        return False
    return "client_config" in context or "is_presign_request" in context


def _signed_by(client: Any) -> Any:
    # The client's credentials object, read after the call, so refreshed (or
    # deferred) credentials are the ones that signed it; read without
    # triggering a refresh. Attribute reads in a try: getattr(x, name, None)
    # twice, at less cost (this runs on every call).
    try:
        return client._request_signer._credentials
    except AttributeError:
        return None


def _credentials(client: Any) -> tuple[str, str]:
    return _facts.whose(_signed_by(client))


# A client's service, region and endpoint never change after it is created:
# computed once per client. Keyed by id() and checked against a weak reference
# (a client that died and whose id was reused is computed afresh), so clients
# are not kept alive; a dict read costs less than WeakKeyDictionary.get, which
# is Python code. Dead clients' entries are dropped when the map is full.
_clients: dict[int, _Facts] = {}
_CLIENTS_MAX = 256


def _client_facts(client: Any) -> _Facts:
    facts = _clients.get(id(client))
    if facts is not None and facts[0]() is client:
        return facts
    meta = client.meta
    model = meta.service_model
    endpoint, host, port = _endpoint(meta.endpoint_url)
    if host:
        network.mark_aws(host, port)
    facts = (
        weakref.ref(client),
        str(model.service_name),
        str(model.service_id),
        str(meta.region_name or ""),
        endpoint,
    )
    if len(_clients) >= _CLIENTS_MAX:
        for key, known in list(_clients.items()):
            if known[0]() is None:
                del _clients[key]
        if len(_clients) >= _CLIENTS_MAX:
            _clients.clear()
    _clients[id(client)] = facts
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

# Requests already described whose every value is a short string, with what
# _start needs for them: (id(client), operation, the request's items) -> (the
# client, weakly; the head of its AwsCall; whether its params were truncated).
# A warm function repeats the same few requests (often several per invocation:
# a loop over keys), so a repeat costs one tuple of its items and one dict
# lookup, in C, instead of describing it afresh. Strings only: "x" == "x" only
# between strings (True == 1 is why other types are not here), the items tuple
# is immutable (a request mutated after the call cannot change its key), and a
# request equal to a string-valued one reduces the same. The items keep their
# order: the same request with its keys in another order is described afresh,
# which is only slower. Bounded: cleared when full.
_repeats: dict[tuple[Any, ...], tuple[weakref.ref[Any], _Head, bool]] = {}
_STR_ONLY = frozenset({str})
_REPEATS_MAX = 256


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


def _reduce(service: str, operation: str, params: Any) -> _Reduced:
    """(params text, truncated) of one request: the identifying members as bounded JSON."""
    return _reduce_keyed(_flat_key(service, operation, params), service, operation, params)


def _reduce_keyed(
    key: tuple[Any, ...] | None, service: str, operation: str, params: Any
) -> _Reduced:
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


def _forget_reductions() -> None:
    _reductions.clear()
    _repeats.clear()


def _describe(client: Any, operation: str, params: Any, rec: recorder.Recording) -> _Started:
    facts = _client_facts(client)
    key = _flat_key(facts[1], operation, params)
    reduced, truncated = _reduce_keyed(key, facts[1], operation, params)
    head = (facts[1], facts[2], operation, facts[3], facts[4], reduced)
    if key is not None and len(key) == 3:  # every value a short string
        if len(_repeats) >= _REPEATS_MAX:
            _repeats.clear()
        _repeats[(id(client), operation, key[2])] = (facts[0], head, truncated)
    return (rec, head, truncated, time.time_ns())


def _meta(response: Any) -> tuple[int, str, int]:
    if type(response) is not dict and not isinstance(response, Mapping):
        return 0, "", 0
    meta = response.get("ResponseMetadata")
    if type(meta) is not dict and not isinstance(meta, Mapping):
        return 0, "", 0
    return (
        int(meta.get("HTTPStatusCode") or 0),
        str(meta.get("RequestId") or ""),
        int(meta.get("RetryAttempts") or 0),
    )


def _start(client: Any, operation: str, params: Any) -> _Started | None:
    # recorder.current() inline, then the warm repeat (see _repeats); anything
    # else is described afresh.
    rec = recorder._current
    if rec is None or _local.suppressed:
        return None
    if type(params) is dict and _STR_ONLY.issuperset(map(type, params.values())):
        seen = _repeats.get((id(client), operation, tuple(params.items())))
        if seen is not None and seen[0]() is client:
            return (rec, seen[1], seen[2], time.time_ns())
    return _describe(client, operation, params, rec)


def _finish(client: Any, started: _Started, result: Any, exc: BaseException | None) -> None:
    end = time.time_ns()
    rec, head, truncated, t0 = started
    error_code = ""
    response = ""
    if exc is None:
        meta = result.get("ResponseMetadata") if type(result) is dict else None
        if type(meta) is dict:  # botocore's parsed response: _meta without its type tests
            status = meta.get("HTTPStatusCode") or 0
            request_id = meta.get("RequestId") or ""
            retries = meta.get("RetryAttempts") or 0
            if type(status) is not int or type(request_id) is not str or type(retries) is not int:
                status, request_id, retries = _meta(result)  # converted as _meta does
            # _facts.response_facts' first test inline: most responses hold no
            # response fact, which one set test tells.
            compiled = _facts._compiled
            if (
                compiled[0] is not recorded.RESPONSE_FACTS
                or compiled[1] != len(compiled[0])
                or not compiled[3].isdisjoint(result)
            ):
                response = _facts.response_facts(result)
        else:
            status, request_id, retries = _meta(result)
            response = _facts.response_facts(result)
        if head[0] == "sts" and head[2] in _ASSUME_ROLE:
            _facts.learn_assumed(result)
    else:
        failed = getattr(exc, "response", None)
        status, request_id, retries = _meta(failed)
        error = failed.get("Error") if isinstance(failed, Mapping) else None
        code = error.get("Code") if isinstance(error, Mapping) else None
        error_code = str(code) if code else type(exc).__name__
    try:  # _signed_by, inline
        signed_by = client._request_signer._credentials
    except AttributeError:
        signed_by = None
    credentials, role = _facts.whose(signed_by)
    # AwsCall's fields in order, every one given (its __new__ is a call level
    # more), kept as Recording.add_call keeps it: this runs on every call.
    call = _tuple_new(
        _AwsCall,
        head  # noqa: RUF005 - one concatenation; (*head, ...) builds a list first
        + (
            t0,
            end,
            status,
            request_id,
            error_code,
            response,
            retries,
            False,
            truncated,
            credentials,
            role,
            "",
            1,
        ),
    )
    calls = rec.calls
    if rec.closed or len(calls) >= _MAX_KEPT:
        rec.dropped += 1
    else:
        calls.append(call)


def _presigned(client: Any, params: Any, operation_model: Any, caller: str) -> None:
    rec = recorder.current()
    if rec is None:
        return
    operation = str(operation_model.name)
    if caller == "generate_presigned_post":
        # botocore serialises a presigned POST through the CreateBucket model;
        # the permission the URL will exercise is s3:PutObject on the bucket.
        operation = "PutObject"
    _, head, truncated, t0 = _describe(client, operation, params, rec)
    credentials, role = _credentials(client)
    rec.add_call(
        recorder.AwsCall(
            service=head[0],
            service_id=head[1],
            operation=operation,
            region=head[3],
            endpoint=head[4],
            params=head[5],
            start_ns=t0,
            end_ns=t0,
            presign=True,
            params_truncated=truncated,
            credentials=credentials,
            role_arn=role,
        )
    )


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


def _emitted(client: Any, result: Any, operation_model: Any, context: Any) -> None:
    # After _emit_api_params, when its context may be a presign's (the
    # wrappers call this through _guard.safe; it is not on an operation's path).
    caller = _presign_caller(context)
    if caller:
        _presigned(client, result, operation_model, caller)


def _patch(module: ModuleType) -> None:
    base = module.BaseClient
    if getattr(base._make_api_call, _MARK, None) is not None:
        return  # already installed: installing twice must not wrap twice
    original_call = base._make_api_call
    original_emit = base._emit_api_params

    def _make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
        started = None
        if _START not in _OFF:
            try:
                started = _start(self, operation_name, api_params)
            except Exception as exc:  # noqa: BLE001 - fail-open: the hook switches itself off
                _guard.disable(_START, exc)
        if started is None:
            return original_call(self, operation_name, api_params)
        try:
            result = original_call(self, operation_name, api_params)
        except BaseException as exc:
            if _FINISH not in _OFF:
                try:
                    _finish(self, started, None, exc)
                except Exception as hook_exc:  # noqa: BLE001 - fail-open, as above
                    _guard.disable(_FINISH, hook_exc)
            raise
        if _FINISH not in _OFF:
            try:
                _finish(self, started, result, None)
            except Exception as exc:  # noqa: BLE001 - fail-open, as above
                _guard.disable(_FINISH, exc)
        return result

    def _emit_api_params(self: Any, api_params: Any, operation_model: Any, context: Any) -> Any:
        result = original_emit(self, api_params, operation_model, context)
        # An operation's own call (not a presign) is told by one read of
        # botocore's context, a plain dict, which cannot raise.
        if type(context) is not dict or context.get("is_presign_request"):
            _guard.safe(
                "aws.presign", _emitted, self, result, operation_model, context, default=None
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
        started = None
        if _START not in _OFF:
            try:
                started = _start(self, operation_name, api_params)
            except Exception as exc:  # noqa: BLE001 - fail-open: the hook switches itself off
                _guard.disable(_START, exc)
        if started is None:
            return await original_call(self, operation_name, api_params)
        try:
            result = await original_call(self, operation_name, api_params)
        except BaseException as exc:
            if _FINISH not in _OFF:
                try:
                    _finish(self, started, None, exc)
                except Exception as hook_exc:  # noqa: BLE001 - fail-open, as above
                    _guard.disable(_FINISH, hook_exc)
            raise
        if _FINISH not in _OFF:
            try:
                _finish(self, started, result, None)
            except Exception as exc:  # noqa: BLE001 - fail-open, as above
                _guard.disable(_FINISH, exc)
        return result

    async def _emit_api_params(
        self: Any, api_params: Any, operation_model: Any, context: Any
    ) -> Any:
        result = await original_emit(self, api_params, operation_model, context)
        if type(context) is not dict or context.get("is_presign_request"):
            _guard.safe(
                "aws.presign", _emitted, self, result, operation_model, context, default=None
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
        _forget_reductions()  # reduced under other settings
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
    _forget_reductions()
    _clients.clear()
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
