"""Fixtures for the local stand-ins: a local Lambda service and function source trees."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lambdaguard.local.aws import Account, MotoServer, moto_server, seed_account
from lambdaguard.local.runtime import LocalLambda

WriteFunction = Callable[..., Path]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[LocalLambda]:
    """A local Lambda service whose environments are all shut down after the test."""
    svc = LocalLambda(tmp_path / "lambda")
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def write_function(tmp_path: Path) -> WriteFunction:
    """Write function source files into a fresh task root and return it."""
    counter = iter(range(1000))

    def write(files: dict[str, str] | None = None, **named: str) -> Path:
        root = tmp_path / f"task{next(counter)}"
        root.mkdir()
        for name, text in {**(files or {}), **{f"{k}.py": v for k, v in named.items()}}.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        return root

    return write


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    """moto in server mode on loopback, empty."""
    with moto_server() as server:
        yield server


@pytest.fixture(scope="module")
def seeded(moto: MotoServer) -> Account:
    """The sample account seeded into the module's moto server."""
    return seed_account(moto)
