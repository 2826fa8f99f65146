"""Run from the layer's ``lambdaguard.pth``, before the runtime imports anything of its own.

Lambda's ``/var/runtime/bootstrap.py`` makes the layer's ``/opt/python`` a site
directory (``site.addsitedir``) when ``PYTHONPATH`` is not set, so a ``.pth``
file there runs its ``import`` line before ``awslambdaric`` is imported. From
then on every top-level import that is not in a layer misses ``/opt/python``
first (it is ahead of the runtime and the standard library on ``sys.path``);
:func:`lambdaguard.agent._imports.list_once` makes those misses cost a set
lookup instead of a ``stat`` and five filename tries. The agent's entry does
the same once it runs; this only starts it earlier, so the runtime client's
own imports are answered too.

Nothing happens unless the exec wrapper pointed ``_HANDLER`` at lambdaguard's
entry (a layer attached without the wrapper, or another process using the
directory, is left exactly as it was), and nothing here may fail: ``site``
would print a traceback for a ``.pth`` line that raises.
"""

from __future__ import annotations

import contextlib
import os

_ENTRY = "lambdaguard.agent.handler.lambda_handler"


def run() -> bool:
    """List the layer's ``sys.path`` entry once, when lambdaguard's entry is the handler."""
    if os.environ.get("_HANDLER") != _ENTRY:
        return False
    from lambdaguard.agent import _imports

    return _imports.list_once(_imports.LAYER_PATH, create=True)


# Fail-open: the bootstrap must go on as it would without the layer.
with contextlib.suppress(Exception):
    run()
