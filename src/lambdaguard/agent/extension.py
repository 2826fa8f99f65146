"""The internal extension: how the export runs after the response.

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
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from typing import NamedTuple

from lambdaguard.agent import recorder

__all__ = ["Extension", "InvokeEvent"]

NAME = "lambdaguard"
_BASE = "/2020-01-01/extension"


class InvokeEvent(NamedTuple):
    """The part of an INVOKE event the agent uses."""

    request_id: str
    deadline_ms: int


class Extension:
    """Registers with the Extensions API and calls ``on_invoke`` once per INVOKE event."""

    def __init__(self, runtime_api: str, on_invoke: Callable[[InvokeEvent], None]) -> None:
        host, _, port = runtime_api.rpartition(":")
        self._host = host or runtime_api
        self._port = int(port) if port.isdigit() else 80
        self._on_invoke = on_invoke
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

    def _request(
        self, connection: http.client.HTTPConnection, method: str, path: str, body: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {"Lambda-Extension-Name": NAME}
        if self.identifier:
            headers = {"Lambda-Extension-Identifier": self.identifier}
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, payload

    def _run(self) -> None:
        with recorder.suppressed():
            # No timeout: event/next blocks for as long as the environment idles.
            connection = http.client.HTTPConnection(self._host, self._port, timeout=None)
            try:
                status, headers, _ = self._request(
                    connection, "POST", f"{_BASE}/register", b'{"events":["INVOKE"]}'
                )
                self.identifier = headers.get("lambda-extension-identifier", "")
            except (OSError, http.client.HTTPException):
                status = 0
            if status != 200 or not self.identifier:
                self.failed.set()
                self.registered.set()
                return
            self.registered.set()
            while True:
                try:
                    status, _, payload = self._request(
                        connection, "GET", f"{_BASE}/event/next", None
                    )
                except (OSError, http.client.HTTPException):
                    return  # the Runtime API is gone: the environment is shutting down
                if status != 200:
                    return
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
