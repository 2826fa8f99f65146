"""The in-function agent: wrap a Python handler, record what it does, export it.

Use it one of two ways:

- as a layer: ``AWS_LAMBDA_EXEC_WRAPPER=/opt/lambdaguard-instrument`` (the
  runtime then calls :mod:`lambdaguard.agent.handler`);
- in code (container images, tests)::

      from lambdaguard import instrument

      @instrument
      def handler(event, context): ...

      @instrument(endpoint="http://collector:4318", key_prefix_depth=2)
      def other(event, context): ...

Outside Lambda (no ``AWS_LAMBDA_FUNCTION_NAME``) it does nothing unless
``LAMBDAGUARD_ENABLED`` (or ``enabled=True``) says so. Settings and their
variables: :mod:`lambdaguard.agent.config`.

How it is built, and why:

- **Standard library only at run time.** OTLP/protobuf is encoded by hand
  (:mod:`~lambdaguard.agent._otlp`, checked against ``opentelemetry-proto``
  in the tests) and sent with ``http.client``; the JSON log line is one
  ``json.dumps``. Importing opentelemetry-sdk, the OTLP exporter and protobuf
  would cost more than the whole INIT budget, structlog ~10 ms, and wrapt is
  not needed for a handful of method swaps. Marginal import cost measured
  with ``python -X importtime`` after boto3 and awslambdaric: ~13 ms on a
  loaded 2-CPU CI box (most of it dataclass creation), ~1 MB RSS after the
  first exports.
- **Hooks**: botocore's ``BaseClient`` methods (:mod:`~lambdaguard.agent.aws`),
  applied when the function imports botocore; sockets and ssl
  (:mod:`~lambdaguard.agent.network`). Each is fail-open through
  :mod:`~lambdaguard.agent._guard`.
- **Attribution**: one recording is current per process (Lambda runs one
  invocation at a time per process; awslambdaric's multi-concurrent mode
  forks worker processes), so calls from any thread, ``upload_file``'s
  transfer threads included, belong to the phase in progress: INIT until the
  first invocation, then each invocation until its handler returns. Calls a
  leftover thread makes after its handler returned are kept and reported
  with the next invocation (a used permission must never be dropped).
- **Export after the response**: an internal extension thread
  (:mod:`~lambdaguard.agent.extension`, :mod:`~lambdaguard.agent._agent`).
- **Little on the response path**: between the event reaching the runtime
  and the response, the main thread only opens the recording (trigger, trace
  context) and, when the handler returns, captures end time, remaining time
  and outcome; the Record is built, encoded and sent by the extension thread
  after the response. That thread receives each INVOKE at the same moment as
  the runtime, so it reads the Extensions API with a minimal HTTP/1.1 reader
  (not ``http.client``) and then waits for the handler to finish before it
  decodes the event: work it did on waking held the GIL as the handler was
  about to start (measured: ~+260 µs warm overhead before, ~+130 µs after,
  0 AWS calls, in ``make bench``'s local runtime).
- **Evidence mode** (the default, :mod:`~lambdaguard.agent.ledger`): each
  execution environment exports an invocation as spans only when it holds a
  fact the environment has not exported yet, and counts the rest, flushed as
  cumulative OTLP metrics at most every ``LAMBDAGUARD_FLUSH_INTERVAL`` (on
  the first invocation after it); per-call identifiers in names are folded
  into ``*`` patterns first (:mod:`~lambdaguard.agent._patterns`). Trace mode
  (``LAMBDAGUARD_TRACES=all|sampled``) exports more, never less. The export
  connection is kept across invocations.
- **A failed export is carried over**: on no response, 408, 429 or 5xx the
  request's bytes are kept (at most ``LAMBDAGUARD_CARRY_RECORDS`` records and
  ``LAMBDAGUARD_CARRY_BYTES`` bytes, oldest dropped first and counted, one
  stderr line per power of ten) and sent ahead of the next export in the same
  request: one send, one timeout, no retry loop. Other 4xx are dropped.
  What is still kept when the environment shuts down is lost (an internal
  extension gets no SHUTDOWN event).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

__all__ = ["flush", "instrument"]

F = TypeVar("F", bound=Callable[..., Any])


@overload
def instrument(handler: F, /) -> F: ...
@overload
def instrument(handler: None = None, /, **overrides: object) -> Callable[[F], F]: ...


def instrument(handler: F | None = None, /, **overrides: object) -> F | Callable[[F], F]:
    """Wrap a Lambda handler with the agent; usable bare or with setting overrides."""

    def decorate(function: F) -> F:
        from lambdaguard.agent import bootstrap, config

        try:
            settings = config.load(None, **overrides)
        except Exception:  # noqa: BLE001 - never break the function for lambdaguard's sake
            return function
        wrapped: F = bootstrap.wrap(function, settings)  # type: ignore[assignment]
        agent = _current()
        if agent is not None:
            agent.init_done()
        return wrapped

    if handler is not None:
        return decorate(handler)
    return decorate


def _current() -> Any:
    from lambdaguard.agent import _agent

    return _agent.current()


def flush(timeout_ms: int = 2000) -> bool:
    """Send whatever is queued now; False if ``timeout_ms`` ran out (tests, shutdown hooks)."""
    agent = _current()
    if agent is None:
        return True
    return bool(agent.flush(timeout_ms))
