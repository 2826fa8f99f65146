"""Load the function's own handler and wrap it, failing exactly as Lambda would.

Why this module is named ``bootstrap.py``: awslambdaric reports a handler's
stack trace (and an INIT failure's) from the first frame whose file name does
not contain ``/bootstrap.py`` (``handle_event_request`` and
``build_fault_result`` in ``awslambdaric/bootstrap.py``). Frames of this
module are therefore skipped like the runtime's own, and a function's error
reports carry the same stack trace with lambdaguard as without it.

Loading: under awslambdaric, its own ``_get_handler`` resolves
``LAMBDAGUARD_HANDLER`` (``pkg.mod.fn`` and ``pkg/mod.fn``), so a handler
that cannot be loaded raises the very ``FaultException`` the runtime would
have raised (``Runtime.ImportModuleError``, ``Runtime.HandlerNotFound``,
``Runtime.MalformedHandlerName``, ``Runtime.UserCodeSyntaxError``) or the
module's own exception; the runtime turns either into the same init error.
Outside awslambdaric, :func:`load_handler` reproduces that resolution with
plain Python errors.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

from lambdaguard.agent import _agent, _guard, _imports
from lambdaguard.agent.config import LAMBDAGUARD_HANDLER, Config

__all__ = ["load_handler", "module_getattr", "wrap"]

Handler = Callable[[Any, Any], Any]
_WRAPPED = "__lambdaguard_wrapped__"
_SELF = "lambdaguard.agent.handler.lambda_handler"
_START = "invoke.start"
_FINISH = "invoke.finish"


def wrap(handler: Handler, config: Config) -> Handler:
    """``handler`` with the agent around it; unchanged if the agent is disabled."""
    if not config.enabled or getattr(handler, _WRAPPED, False):
        return handler
    agent = _guard.safe("install", _agent.get, config, default=None)
    if agent is None:
        return handler

    off = _guard.OFF

    # _guard.safe's rule written inline for start and finish (see _guard): one
    # call level less on every invocation. The handler is never called inside
    # a try of ours that could swallow or change what it raises.
    @functools.wraps(handler)
    def lambdaguard_handler(event: Any, context: Any) -> Any:
        invocation = None
        if _START not in off:
            try:
                invocation = agent.start(event, context)
            except Exception as exc:  # noqa: BLE001 - fail-open: the hook switches itself off
                _guard.disable(_START, exc)
        if invocation is None:
            try:
                return handler(event, context)
            finally:
                _guard.safe("invoke.release", _release, agent, context, default=None)
        try:
            result = handler(event, context)
        except BaseException as exc:
            # The rare path: _guard.safe itself, the inline rule is for the usual one.
            if not _guard.safe(_FINISH, agent.finish, invocation, exc, default=False):
                _guard.safe("invoke.release", agent.release, invocation.request_id, default=None)
            raise
        # finish() hands the record over and wakes the exporter itself; release
        # is only needed when it failed (the exporter must not wait for a record).
        handed = False
        if _FINISH not in off:
            try:
                handed = agent.finish(invocation, None)
            except Exception as exc:  # noqa: BLE001 - fail-open: the hook switches itself off
                _guard.disable(_FINISH, exc)
        if not handed:
            _guard.safe("invoke.release", agent.release, invocation.request_id, default=None)
        return result

    setattr(lambdaguard_handler, _WRAPPED, True)
    return lambdaguard_handler


def _release(agent: _agent.Agent, context: Any) -> None:
    agent.release(str(getattr(context, "aws_request_id", "") or ""))


def load_handler(spec: str) -> Handler:
    """Resolve ``module.function`` (or ``path/module.function``) as the runtime does."""
    runtime = sys.modules.get("awslambdaric.bootstrap")
    getter = getattr(runtime, "_get_handler", None)
    if getter is not None:
        resolved: Handler = getter(spec)
        return resolved
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as exc:
        raise ValueError(f"Bad handler '{spec}': {exc}") from None
    module = importlib.import_module(module_name.replace("/", "."))
    try:
        found: Handler = getattr(module, function_name)
    except AttributeError:
        raise AttributeError(
            f"Handler '{function_name}' missing on module '{module_name}'"
        ) from None
    return found


_cache: dict[str, Handler] = {}


def module_getattr(name: str) -> Handler:
    """``lambdaguard.agent.handler.<name>``: the wrapped function handler, loaded once."""
    if name != "lambda_handler":
        raise AttributeError(f"module 'lambdaguard.agent.handler' has no attribute {name!r}")
    cached = _cache.get(name)
    if cached is not None:
        return cached
    from lambdaguard.agent import config as config_module

    config = config_module.load()
    spec = os.environ.get(LAMBDAGUARD_HANDLER, "")
    if spec.replace("/", ".") == _SELF:
        spec = ""  # pointing at ourselves would recurse: report it as a malformed handler
    if config.enabled:
        # Before the function's module is imported, which looks up each of its
        # top-level imports in the layer's directory first (see list_once).
        _guard.safe("imports.layer", _imports.list_once, _imports.LAYER_PATH, default=False)
        # Install before the function's module is imported so its INIT calls are recorded.
        _guard.safe("install", _agent.get, config, default=None)
    try:
        handler = load_handler(spec)  # raises exactly what the runtime would
    except BaseException as exc:
        # Nothing else will ever be exported from this environment: send the
        # init error now (bounded by the export timeout), then re-raise the
        # very exception, traceback untouched.
        failed = _agent.current()
        if failed is not None:
            _guard.safe("init_failed", failed.init_failed, exc, default=None)
        raise
    agent = _agent.current()
    if agent is not None:
        _guard.safe("init_done", agent.init_done, default=None)
    wrapped = wrap(handler, config)
    _cache[name] = wrapped
    return wrapped
