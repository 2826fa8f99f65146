"""The import machinery the agent touches: the layer's sys.path entry answered from one listing."""

from __future__ import annotations

import importlib
import importlib.machinery
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdaguard.agent import _imports


@pytest.fixture
def entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory first on sys.path, with a module, a package and a namespace package in it
    (and one more module in a directory last on sys.path)."""
    (tmp_path / "lg_probe_mod.py").write_text("VALUE = 1\n")
    (tmp_path / "lg_probe_pkg").mkdir()
    (tmp_path / "lg_probe_pkg" / "__init__.py").write_text("")
    (tmp_path / "lg_probe_pkg" / "sub.py").write_text("VALUE = 2\n")
    (tmp_path / "lg_probe_ns").mkdir()
    (tmp_path / "lg_probe_ns" / "part.py").write_text("VALUE = 3\n")
    (tmp_path / "later").mkdir()
    (tmp_path / "later" / "lg_probe_later.py").write_text("VALUE = 5\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path, str(tmp_path / "later")])
    importlib.import_module("lg_probe_mod")  # the path hook makes the entry's FileFinder
    yield tmp_path
    _imports.uninstall()
    for name in [n for n in sys.modules if n.startswith("lg_probe")]:
        del sys.modules[name]


def test_listed_entry_still_imports_what_it_holds(entry: Path) -> None:
    """After list_once, the entry's modules, packages, submodules and namespace packages import as before."""
    assert type(sys.path_importer_cache[str(entry)]) is importlib.machinery.FileFinder
    assert _imports.list_once(str(entry)) is True
    assert type(sys.path_importer_cache[str(entry)]) is not importlib.machinery.FileFinder
    for name in [n for n in sys.modules if n.startswith("lg_probe")]:
        del sys.modules[name]
    assert importlib.import_module("lg_probe_mod").VALUE == 1
    assert importlib.import_module("lg_probe_pkg.sub").VALUE == 2
    assert importlib.import_module("lg_probe_ns.part").VALUE == 3
    assert importlib.import_module("lg_probe_later").VALUE == 5  # a miss here, found further on
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("lg_probe_absent")


def test_a_module_made_later_is_found_after_invalidate_caches(entry: Path) -> None:
    """As Python asks of code that creates modules at run time, invalidate_caches lists the entry again."""
    _imports.list_once(str(entry))
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("lg_probe_late")
    (entry / "lg_probe_late.py").write_text("VALUE = 4\n")
    importlib.invalidate_caches()
    assert importlib.import_module("lg_probe_late").VALUE == 4


def test_pkgutil_still_lists_the_entry(entry: Path) -> None:
    """Tools that list an entry's modules (pkgutil, plugin discovery) see the same names."""
    before = {m.name for m in pkgutil.iter_modules([str(entry)])}
    _imports.list_once(str(entry))
    assert {m.name for m in pkgutil.iter_modules([str(entry)])} == before
    assert {"lg_probe_mod", "lg_probe_pkg"} <= before


def test_only_the_standard_finder_is_replaced_and_uninstall_gives_it_back(entry: Path) -> None:
    """A second call changes nothing, another finder (or none) is left alone, uninstall restores the original."""
    original = sys.path_importer_cache[str(entry)]
    assert _imports.list_once(str(entry)) is True
    listed = sys.path_importer_cache[str(entry)]
    assert _imports.list_once(str(entry)) is True
    assert sys.path_importer_cache[str(entry)] is listed
    assert _imports.list_once(str(entry / "not-on-sys-path")) is False
    _imports.uninstall()
    assert sys.path_importer_cache[str(entry)] is original


def test_the_layer_entry_lists_its_python_directory(tmp_path: Path) -> None:
    """Loading the handler through the layer's entry lists the sys.path entry lambdaguard was found in."""
    package = Path(_imports.__file__).resolve().parents[1]
    (tmp_path / "python").mkdir()
    (tmp_path / "python" / "lambdaguard").symlink_to(package)
    (tmp_path / "fn.py").write_text("import json\ndef handler(event, context):\n    return 'ok'\n")
    layer = str(tmp_path / "python")
    script = (
        "import sys\n"
        f"sys.path[:0] = [{str(tmp_path)!r}, {layer!r}]\n"
        "from lambdaguard.agent import handler as entry\n"
        "assert entry.__file__.startswith(sys.path[1]), entry.__file__\n"
        "entry.lambda_handler\n"
        "print(type(sys.path_importer_cache[sys.path[1]]).__name__)\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "LAMBDAGUARD_HANDLER": "fn.handler",
        "LAMBDAGUARD_ENDPOINT": "http://127.0.0.1:9",
    }
    out = subprocess.run(
        [sys.executable, "-S", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.split() == ["_ListedOnce"]


def test_create_makes_the_finder_of_an_entry_no_import_has_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The layer's .pth runs before any import looked in its directory: create=True makes the
    entry's finder first; without it there is nothing to replace."""
    (tmp_path / "lg_probe_fresh.py").write_text("VALUE = 6\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    monkeypatch.setattr(sys, "path_importer_cache", dict(sys.path_importer_cache))
    try:
        assert _imports.list_once(str(tmp_path)) is False
        assert str(tmp_path) not in sys.path_importer_cache
        assert _imports.list_once(str(tmp_path), create=True) is True
        assert isinstance(sys.path_importer_cache[str(tmp_path)], _imports._ListedOnce)
        assert importlib.import_module("lg_probe_fresh").VALUE == 6
    finally:
        _imports.uninstall()
        sys.modules.pop("lg_probe_fresh", None)


PTH = Path(__file__).resolve().parents[2] / "layer" / "lambdaguard.pth"
SRC = Path(__file__).resolve().parents[2] / "src" / "lambdaguard"


@pytest.mark.parametrize("handler", ["lambdaguard.agent.handler.lambda_handler", "app.handler"])
def test_the_layers_pth_lists_python_only_for_lambdaguards_entry(
    tmp_path: Path, handler: str
) -> None:
    """As Lambda's bootstrap does (site.addsitedir of /opt/python), the layer's .pth lists the
    directory when the wrapper made lambdaguard the handler; otherwise it imports nothing."""
    python = tmp_path / "opt" / "python"
    python.mkdir(parents=True)
    (python / "lambdaguard").symlink_to(SRC, target_is_directory=True)
    (python / PTH.name).write_text(PTH.read_text())
    script = (
        "import site, sys\n"
        f"sys.path.insert(0, {str(python)!r})\n"
        f"site.addsitedir({str(python)!r})\n"
        f"print(type(sys.path_importer_cache.get({str(python)!r})).__name__,"
        " 'lambdaguard' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", script],
        env={"_HANDLER": handler, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stderr == ""
    if handler.startswith("lambdaguard"):
        assert out.stdout.split() == ["_ListedOnce", "True"]
    else:
        assert out.stdout.split() == ["NoneType", "False"]
