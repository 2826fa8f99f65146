"""layer/build.py targets each Lambda runtime and architecture with the right wheel tags."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def build() -> ModuleType:
    """layer/build.py loaded as a module."""
    spec = importlib.util.spec_from_file_location("layer_build", ROOT / "layer" / "build.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["layer_build"] = module
    spec.loader.exec_module(module)
    return module


def test_every_runtime_from_311_and_both_architectures(build: ModuleType) -> None:
    """The default targets are python3.11..3.14 on x86_64 and arm64, named by runtime and arch."""
    args = type("A", (), {"host": False, "runtime": None, "arch": None})()
    names = {t.zip_name for t in build._targets(args)}
    assert names == {
        f"lambdaguard-python3.{minor}-{arch}.zip"
        for minor in (11, 12, 13, 14)
        for arch in ("x86_64", "arm64")
    }


def test_platform_tags_follow_the_lambda_os_glibc(build: ModuleType) -> None:
    """python3.11 (Amazon Linux 2) stops at glibc 2.26; 3.12+ (AL2023) at 2.34; arm64 uses aarch64."""
    t311 = build.Target("python3.11", "x86_64")
    assert t311.platform_tags[0] == "manylinux_2_26_x86_64"
    assert "manylinux_2_34_x86_64" not in t311.platform_tags
    assert "manylinux2014_x86_64" in t311.platform_tags
    t313 = build.Target("python3.13", "arm64")
    assert t313.platform_tags[0] == "manylinux_2_34_aarch64"
    assert all(tag.endswith("aarch64") for tag in t313.platform_tags)
    assert t313.python_version == "3.13"


def test_agent_requirements_come_from_pyproject(build: ModuleType) -> None:
    """The layer ships exactly the distribution's runtime dependencies."""
    import tomllib

    with (ROOT / "pyproject.toml").open("rb") as fh:
        deps = tomllib.load(fh)["project"]["dependencies"]
    assert build.agent_requirements() == deps


def test_zip_is_deterministic_and_keeps_modes(build: ModuleType, tmp_path: Path) -> None:
    """Zipping the same tree twice gives the same bytes; the wrapper is 755, files 644."""
    stage = tmp_path / "stage"
    (stage / "python" / "pkg").mkdir(parents=True)
    (stage / "python" / "pkg" / "__init__.py").write_text("x = 1\n")
    (stage / "lambdaguard-instrument").write_text('#!/bin/sh\nexec "$@"\n')
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    build._zip(stage, first)
    build._zip(stage, second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as zf:
        assert (zf.getinfo("lambdaguard-instrument").external_attr >> 16) & 0o777 == 0o755
        assert (zf.getinfo("python/pkg/__init__.py").external_attr >> 16) & 0o777 == 0o644


def test_shadowing_of_runtime_packages_is_reported(build: ModuleType, tmp_path: Path) -> None:
    """A staged layer that ships urllib3 is reported as shadowing the runtime's copy."""
    python = tmp_path / "python"
    (python / "urllib3").mkdir(parents=True)
    (python / "urllib3-2.8.0.dist-info").mkdir()
    (python / "structlog").mkdir()
    assert build.shadowed(tmp_path) == ["urllib3 2.8.0"]
