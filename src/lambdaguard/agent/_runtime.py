"""After the response, before the next invocation: on the runtime's own thread.

Lambda bills an invocation until the runtime (and every registered extension)
is back in ``next``. awslambdaric's loop is ``wait_next_invocation`` → the
handler → ``POST …/response`` → ``wait_next_invocation`` again, all on the
main thread. Wrapping :meth:`BaseLambdaRuntimeClient.wait_next_invocation`
runs the agent's after-response work (build the record, decide, export) right
there: after the caller has its response, before the environment can be
frozen or the next event delivered.

Why not the internal extension (:mod:`~lambdaguard.agent.extension`), which
gives the same guarantee: its thread pays an Extensions API round trip
(``event/next``) on every invocation and two thread wake-ups, measured at
~210 µs of CPU per invocation on the benchmark's machine, for invocations that
in evidence mode usually have nothing to send. The extension stays the
fallback when the runtime is not awslambdaric's loop.

The wrapper is installed only when the code installing it runs inside
``awslambdaric.bootstrap.run`` (the handler is being loaded by that loop):
a process that merely imported awslambdaric never calls ``wait_next_invocation``,
and records would wait forever. Installing twice never wraps twice;
:func:`uninstall` restores the original.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from lambdaguard.agent import _guard

__all__ = ["in_runtime_loop", "install", "uninstall"]

_MARK = "__lambdaguard_original__"
_MODULE = "awslambdaric.lambda_runtime_client"
_callback: list[Callable[[], None]] = []


def in_runtime_loop() -> bool:
    """True when the calling thread runs inside awslambdaric's invocation loop."""
    frame: Any = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "run" and code.co_filename.replace("\\", "/").endswith(
            "awslambdaric/bootstrap.py"
        ):
            return True
        frame = frame.f_back
    return False


def _client_class() -> Any:
    module = sys.modules.get(_MODULE)
    if module is None:
        return None
    return getattr(module, "BaseLambdaRuntimeClient", None) or getattr(
        module, "LambdaRuntimeClient", None
    )


def install(before_next: Callable[[], None]) -> bool:
    """Run ``before_next`` each time the runtime is about to ask for the next invocation.

    False (nothing changed) when this is not awslambdaric's loop.
    """
    base = _client_class()
    method = getattr(base, "wait_next_invocation", None) if base is not None else None
    if method is None or not in_runtime_loop():
        return False
    _callback[:] = [before_next]
    if getattr(method, _MARK, None) is not None:
        return True  # already wrapped: only the callback changes
    original = method

    def wait_next_invocation(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _callback:
            _guard.safe("runtime.before_next", _callback[0], default=None)
        return original(self, *args, **kwargs)

    setattr(wait_next_invocation, _MARK, original)
    base.wait_next_invocation = wait_next_invocation
    return True


def uninstall() -> None:
    """Put awslambdaric back as it was (idempotent)."""
    _callback.clear()
    base = _client_class()
    if base is None:
        return
    original = getattr(getattr(base, "wait_next_invocation", None), _MARK, None)
    if original is not None:
        base.wait_next_invocation = original
