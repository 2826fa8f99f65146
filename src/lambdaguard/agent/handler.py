"""The entry the Lambda runtime calls when the layer's exec wrapper is used.

The exec wrapper sets ``_HANDLER=lambdaguard.agent.handler.lambda_handler`` and
keeps the function's own handler in ``LAMBDAGUARD_HANDLER``. The runtime
imports this module and reads ``lambda_handler`` from it; that read (a module
``__getattr__``, PEP 562) installs the agent, imports the function's module
during INIT and returns its handler wrapped. Importing this module never
fails, so a handler that cannot be loaded fails at that read with the very
error the runtime would have reported without the layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambdaguard.agent.bootstrap import module_getattr as __getattr__

__all__ = ["__getattr__", "lambda_handler"]

if TYPE_CHECKING:

    def lambda_handler(event: Any, context: Any) -> Any:
        """The function's handler, wrapped by lambdaguard."""
