"""The collector's public surface: every exported name exists and is documented."""

from __future__ import annotations

import importlib
import inspect

import pytest

MODULES = [
    "lambdaguard.collector.settings",
    "lambdaguard.collector.otlp",
    "lambdaguard.collector.spans",
    "lambdaguard.collector.store",
    "lambdaguard.collector.forward",
    "lambdaguard.collector.server",
    "lambdaguard.collector.cli_serve",
    "lambdaguard.collector.cli_store",
    "lambdaguard.collector.caps",
    "lambdaguard.collector.commit",
    "lambdaguard.collector.grpc_receiver",
    "lambdaguard.collector.http_receiver",
    "lambdaguard.collector.metrics",
    "lambdaguard.collector.telemetry",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_honest(name: str) -> None:
    """Each name in a module's __all__ exists, and public classes and functions have docstrings."""
    module = importlib.import_module(name)
    assert module.__doc__
    for attr in module.__all__:
        value = getattr(module, attr)
        if inspect.isfunction(value) or inspect.isclass(value):
            assert getattr(value, "__doc__", None), f"{name}.{attr} has no docstring"


def test_interfaces_others_code_against() -> None:
    """The names the demo and the analysis use keep their spelling."""
    from lambdaguard.collector import server, store

    assert callable(server.start_collector)
    for method in ("functions", "calls", "hosts", "invocations", "prune", "migrate", "stats"):
        assert callable(getattr(store.Store, method))
    assert callable(store.open_store)
