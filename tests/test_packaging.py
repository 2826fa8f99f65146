"""What a fresh clone installs: the lock files, the one version, the interpreter finder."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
_PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;]+)")


def _pins(lock: Path) -> dict[str, list[Version]]:
    pins: dict[str, list[Version]] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            pins.setdefault(canonicalize_name(match[1]), []).append(Version(match[2]))
    return pins


def _requirements(extra: str) -> list[Requirement]:
    """The extra's requirements, following the self-references (`lambdaguard-layer[local]`)."""
    own = canonicalize_name(PYPROJECT["project"]["name"])
    out: list[Requirement] = []
    todo, seen = [extra], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for text in PYPROJECT["project"]["optional-dependencies"][name]:
            req = Requirement(text)
            if canonicalize_name(req.name) == own:
                todo.extend(req.extras)
            else:
                out.append(req)
    return out


@pytest.mark.parametrize(("extra", "lock"), [("dev", "dev.txt"), ("bench", "bench.txt")])
def test_every_dependency_is_locked(extra: str, lock: str) -> None:
    """Every requirement of the extra has a pin in its lock that satisfies it (else run `make lock`)."""
    pins = _pins(ROOT / "constraints" / lock)
    missing, unfit = [], []
    for req in _requirements(extra):
        versions = pins.get(canonicalize_name(req.name))
        if not versions:
            missing.append(str(req))
        elif not any(req.specifier.contains(v, prereleases=True) for v in versions):
            unfit.append(f"{req} (locked: {', '.join(map(str, versions))})")
    assert not missing, f"constraints/{lock} is stale (run `make lock`); missing: {missing}"
    assert not unfit, f"constraints/{lock} is stale (run `make lock`); unfit: {unfit}"


def test_the_version_is_defined_once() -> None:
    """pyproject.toml takes the version from lambdaguard.__version__, and the install agrees."""
    from importlib.metadata import version

    import lambdaguard

    assert "version" not in PYPROJECT["project"]
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["hatch"]["version"]["path"] == "src/lambdaguard/__init__.py"
    assert version("lambdaguard-layer") == lambdaguard.__version__


def _fake_python(folder: Path, name: str, reply: str, *, venv: bool = True) -> None:
    """A stand-in interpreter: answers the finder's version probe with `reply`."""
    script = folder / name
    script.write_text(
        "#!/bin/sh\n"
        'case "$2" in\n'
        f"  *implementation*) echo '{reply}' ;;\n"
        f"  *ensurepip*) exit {0 if venv else 1} ;;\n"
        "esac\n",
        encoding="utf-8",
    )
    script.chmod(0o755)


def _find(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", str(ROOT / "scripts" / "find-python")],
        capture_output=True,
        text=True,
        check=False,
        # Only the fakes and the shell's own tools: whatever Python this machine has is hidden.
        env={**os.environ, "PATH": f"{path}:/nonexistent"},
    )


def test_find_python_takes_the_newest_fitting_cpython(tmp_path: Path) -> None:
    """The finder prefers python3.13 > 3.12 > 3.11 > python3 and skips ones that do not fit."""
    _fake_python(tmp_path, "python3.13", "cpython 3.13.0", venv=False)
    _fake_python(tmp_path, "python3.12", "cpython 3.12.1")
    _fake_python(tmp_path, "python3", "cpython 3.14.0")
    found = _find(tmp_path)
    assert (found.returncode, found.stdout.strip()) == (0, "python3.12")


def test_find_python_says_what_is_missing(tmp_path: Path) -> None:
    """With no CPython 3.11+, the finder fails and names every candidate and why it was refused."""
    _fake_python(tmp_path, "python3", "cpython 3.9.2")
    _fake_python(tmp_path, "python3.11", "pypy 3.11.0")
    found = _find(tmp_path)
    assert found.returncode == 1
    assert found.stdout == ""
    err = found.stderr
    assert "needs CPython 3.11 or newer" in err
    assert "python3.13\tnot on PATH" in err
    assert "python3.12\tnot on PATH" in err
    assert "python3.11\tis pypy 3.11.0" in err
    assert "python3\tis cpython 3.9.2" in err
    assert "make PYTHON=" in err
