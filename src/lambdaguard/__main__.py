"""``python -m lambdaguard`` is the ``lambdaguard`` command."""

import sys

from lambdaguard.cli import main

sys.exit(main())
