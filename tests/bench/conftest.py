"""Fixtures for the benchmark harness tests: bench/ is scripts, not a package."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from _otlp_sink import OtlpSink  # noqa: E402


@pytest.fixture
def bench_dir() -> Path:
    """The bench/ folder."""
    return BENCH_DIR


@pytest.fixture
def sink() -> Iterator[OtlpSink]:
    """A loopback OTLP/HTTP sink, closed afterwards."""
    s = OtlpSink()
    yield s
    s.close()
