"""The layers the agent benchmark builds hold what the real ones would, and nothing of the runtime's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from bench_agent import _cache_linked_modules, _requirement_closure

from lambdaguard.local.runtime import RUNTIME_SDK_DISTRIBUTIONS


def test_requirement_closure_follows_requirements_and_leaves_out_the_runtimes() -> None:
    """The OTLP/HTTP exporter brings the SDK, API and protobuf, but not the runtime's urllib3."""
    names = {
        n.lower()
        for n in _requirement_closure(
            ["opentelemetry-exporter-otlp-proto-http"], RUNTIME_SDK_DISTRIBUTIONS
        )
    }
    assert {
        "opentelemetry-exporter-otlp-proto-http",
        "opentelemetry-sdk",
        "opentelemetry-api",
    } <= names
    assert "protobuf" in names
    assert "urllib3" not in names
    assert "botocore" not in names


def test_linked_single_file_modules_get_their_bytecode_beside_the_link(tmp_path: Path) -> None:
    """A module file linked into a layer gets a .pyc in the layer's __pycache__, where import looks."""
    source = tmp_path / "src" / "lonely.py"
    source.parent.mkdir()
    source.write_text("VALUE = 1\n")
    layer = tmp_path / "python"
    layer.mkdir()
    (layer / "lonely.py").symlink_to(source)
    _cache_linked_modules(layer)
    assert Path(importlib.util.cache_from_source(str(layer / "lonely.py"))).is_file()
    assert not (source.parent / "__pycache__").exists()
