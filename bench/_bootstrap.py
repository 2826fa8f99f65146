"""Start AWS's runtime client the way Lambda's managed Python runtime does.

The managed runtime's bootstrap takes the handler from ``_HANDLER`` (which an
exec wrapper such as ``/opt/lambdaguard-instrument`` may have rewritten), not
from its arguments; ``awslambdaric`` takes it as ``argv[1]``, so this passes
``_HANDLER`` through.
"""

from __future__ import annotations

import os
import sys

from awslambdaric.__main__ import main

if __name__ == "__main__":
    main([sys.argv[0], os.environ["_HANDLER"]])
