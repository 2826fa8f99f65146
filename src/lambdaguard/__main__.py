"""``python -m lambdaguard`` is the ``lambdaguard`` command."""

import sys

from lambdaguard.cli import main

# Guarded: a process started with multiprocessing's "spawn" (the live view's analysis
# worker) imports this module again as __mp_main__, and must not run the CLI.
if __name__ == "__main__":
    sys.exit(main())
