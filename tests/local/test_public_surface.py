"""Every name the local stand-ins export exists and is documented."""

from __future__ import annotations

import importlib

import pytest

MODULES = (
    "lambdaguard.local.runtime",
    "lambdaguard.local.aws",
    "lambdaguard.local.thirdparty",
    "lambdaguard.local.events",
    "lambdaguard.local.harness",
    "lambdaguard.local.demo",
)


@pytest.mark.parametrize("name", MODULES)
def test_exports_exist_and_have_docstrings(name: str) -> None:
    """Each module's __all__ lists only real, documented public objects."""
    module = importlib.import_module(name)
    assert module.__doc__
    assert module.__all__
    for export in module.__all__:
        obj = getattr(module, export)
        if callable(obj):
            assert obj.__doc__, f"{name}.{export} has no docstring"


def test_demo_is_a_cli_command() -> None:
    """The demo module offers what `lambdaguard demo` and `python -m` need."""
    demo = importlib.import_module("lambdaguard.local.demo")
    assert callable(demo.configure)
    assert callable(demo.run)
    assert callable(demo.main)


def test_importing_the_package_is_free_of_the_local_extra() -> None:
    """`import lambdaguard.local` loads none of its modules (and so none of moto, awslambdaric)."""
    import subprocess
    import sys

    code = (
        "import sys, lambdaguard.local; "
        "print(sorted(m for m in sys.modules if m.startswith(('lambdaguard.local.', 'moto', 'awslambdaric'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
