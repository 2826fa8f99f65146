"""The internal extension: how the export runs after the response on runtimes other than awslambdaric.

Under awslambdaric (Lambda's Python runtimes) the agent works on the
runtime's own thread before it asks for the next invocation instead
(:mod:`~lambdaguard.agent._runtime`), which spares this thread's Extensions API
round trip on every invocation; ``LAMBDAGUARD_EXTENSION=always`` keeps using
this module.

Lambda ends an invocation only when the runtime has posted its response *and*
every registered extension has called ``event/next`` again
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html).
So a thread registered as an internal extension that exports between "the
handler returned" and its next ``event/next`` sends after the caller already
has the response, and the environment is not frozen until that send is done.

Internal extensions may register only for ``INVOKE`` (``SHUTDOWN`` is for
external ones; the runtime process gets SIGTERM instead). Registration must
happen during INIT, before the runtime's first ``invocation/next``; the
thread registers and the installing code waits (bounded) for it.

While frozen, the thread is blocked inside ``event/next``; it relies on no
timer running across invocations: each invocation's deadline comes with its
INVOKE event.

The INVOKE event reaches this thread at the same moment the runtime's main
thread gets the request, so whatever the thread does on waking runs under
the GIL while the handler is about to start. It therefore speaks HTTP/1.1
over a plain socket (:class:`lambdaguard.agent._http.Client`): one ``recv``
into a buffer, the status line and ``Content-Length`` read with ``bytes``
methods, one ``json.loads``. ``http.client`` would parse every header through
``email.parser``, ~100 µs of Python on a thawed process, measured delaying
the handler's start in more than half of the invocations.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from typing import NamedTuple

from lambdaguard.agent import recorder
from lambdaguard.agent._http import Client as _Client
from lambdaguard.agent._http import ProtocolError

__all__ = ["Extension", "InvokeEvent", "ProtocolError"]

NAME = "lambdaguard"
_BASE = "/2020-01-01/extension"


class InvokeEvent(NamedTuple):
    """The part of an INVOKE event the agent uses."""

    request_id: str
    deadline_ms: int


class Extension:
    """Registers with the Extensions API and calls ``on_invoke`` once per INVOKE event.

    ``on_wake``, if given, runs as soon as ``event/next`` answered, before the
    event is decoded: the agent uses it to step aside while the handler runs.
    """

    def __init__(
        self,
        runtime_api: str,
        on_invoke: Callable[[InvokeEvent], None],
        on_wake: Callable[[], None] | None = None,
    ) -> None:
        host, _, port = runtime_api.rpartition(":")
        self._host = host or runtime_api
        self._port = int(port) if port.isdigit() else 80
        self._on_invoke = on_invoke
        self._on_wake = on_wake
        self.registered = threading.Event()
        self.failed = threading.Event()
        self.identifier = ""
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The Runtime API host and port (never recorded as an outbound connection)."""
        return self._host, self._port

    def start(self, wait_s: float = 1.0) -> bool:
        """Start the thread; True once registered (waits at most ``wait_s``)."""
        self._thread = threading.Thread(target=self._run, name="lambdaguard-extension", daemon=True)
        self._thread.start()
        done = self.registered.wait(wait_s)
        return done and not self.failed.is_set()

    def _run(self) -> None:
        with recorder.suppressed():
            client = _Client(self._host, self._port)
            register = client.request_bytes(
                "POST",
                f"{_BASE}/register",
                {"Lambda-Extension-Name": NAME, "Content-Type": "application/json"},
                b'{"events":["INVOKE"]}',
            )
            try:
                status, headers, _ = client.send(register)
                self.identifier = headers.get("lambda-extension-identifier", "")
            except (OSError, ProtocolError):
                status = 0
            if status != 200 or not self.identifier:
                client.close()
                self.failed.set()
                self.registered.set()
                return
            self.registered.set()
            next_event = client.request_bytes(
                "GET", f"{_BASE}/event/next", {"Lambda-Extension-Identifier": self.identifier}, b""
            )
            while True:
                try:
                    status, _, payload = client.send(next_event)
                except (OSError, ProtocolError):
                    client.close()
                    return  # the Runtime API is gone: the environment is shutting down
                if status != 200:
                    client.close()
                    return
                if self._on_wake is not None:
                    # Only a wait: whatever it raises, the event still goes on.
                    with contextlib.suppress(Exception):
                        self._on_wake()
                try:
                    event = json.loads(payload)
                except ValueError:
                    continue
                if not isinstance(event, dict) or event.get("eventType") != "INVOKE":
                    continue
                try:
                    self._on_invoke(
                        InvokeEvent(
                            str(event.get("requestId", "")), int(event.get("deadlineMs", 0))
                        )
                    )
                except Exception:  # noqa: BLE001, S112 - the loop must go on calling next
                    continue
