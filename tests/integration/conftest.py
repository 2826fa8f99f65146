"""Fixtures for end-to-end runs: the layer zip, and the local stage with and without it.

Each stage runs the same workload (``Stage.run_workload``) once per test
module; the tests then compare what the functions did, what they returned
and what lambdaguard recorded.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lambdaguard.local.harness import Expected, Invocation, Stage, build_host_layer


@dataclass(frozen=True)
class Ran:
    """A stage after its workload: the stage (still running), the invocations, the truth."""

    stage: Stage
    runs: list[Invocation]
    expected: Expected


@pytest.fixture(scope="session")
def layer_zip() -> Path:
    """The layer zip `make layer` builds for this machine's Python and architecture."""
    return build_host_layer()


def _run(stage: Stage) -> Ran:
    stage.start()
    runs = stage.run_workload()
    # End the environments as Lambda does when idle, so every export has happened.
    stage.shutdown_functions()
    assert stage.third_party is not None
    return Ran(stage, runs, Expected.from_workload(runs, stage.third_party))


@pytest.fixture(scope="session")
def with_layer(layer_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    """The workload run with the layer and the collector (SQLite) behind a recording tap."""
    stage = Stage(tmp_path_factory.mktemp("with-layer"), layer_zip=layer_zip)
    try:
        yield _run(stage)
    finally:
        stage.stop()


@pytest.fixture(scope="session")
def without_layer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    """The same workload run with no layer at all."""
    stage = Stage(tmp_path_factory.mktemp("no-layer"), layer_zip=None, collector=False)
    try:
        yield _run(stage)
    finally:
        stage.stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def collector_down(layer_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    """The workload run with the layer exporting to a port where nothing listens."""
    stage = Stage(
        tmp_path_factory.mktemp("collector-down"),
        layer_zip=layer_zip,
        endpoint=f"http://127.0.0.1:{_closed_port()}",
    )
    try:
        yield _run(stage)
    finally:
        stage.stop()


@pytest.fixture(scope="session")
def collector_hung(layer_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    """The workload run with the layer exporting to a socket that accepts and never answers."""
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(512)  # the kernel completes handshakes; nobody ever reads or replies
        stage = Stage(
            tmp_path_factory.mktemp("collector-hung"),
            layer_zip=layer_zip,
            endpoint=f"http://127.0.0.1:{hole.getsockname()[1]}",
        )
        try:
            yield _run(stage)
        finally:
            stage.stop()
