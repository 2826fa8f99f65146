"""A function whose deployment package forgot a dependency: it cannot be imported.

Lambda reports Runtime.ImportModuleError at INIT; with the layer it must
report exactly the same.
"""

from __future__ import annotations

import yaml_that_was_never_packaged  # noqa: F401


def handler(event: dict, context: object) -> dict:
    return {"ok": True}
