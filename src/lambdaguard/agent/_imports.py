"""Run a callback when a module is first imported, without importing it ourselves.

Importing botocore costs tens of milliseconds of INIT; a function that never
uses it must not pay that for lambdaguard. So hooks for botocore are applied
the moment the function's own code imports it: a :data:`sys.meta_path` finder
that only watches a few names, wraps their loader's ``exec_module``, and runs
the callback right after the module body has executed.

:func:`list_once` makes the layer's own ``sys.path`` entry cheap to miss (see there).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

__all__ = ["list_once", "uninstall", "when_imported"]

_callbacks: dict[str, list[Callable[[ModuleType], None]]] = {}


class _Loader(importlib.abc.Loader):
    def __init__(self, wrapped: Any, name: str) -> None:
        self._wrapped = wrapped
        self._name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        result: ModuleType | None = self._wrapped.create_module(spec)
        return result

    def exec_module(self, module: ModuleType) -> None:
        self._wrapped.exec_module(module)
        for callback in _callbacks.pop(self._name, []):
            callback(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _callbacks:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec: importlib.machinery.ModuleSpec | None = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader, fullname)
                return spec
        return None


_finder = _Finder()


def when_imported(name: str, callback: Callable[[ModuleType], None]) -> None:
    """Call ``callback(module)`` now if ``name`` is imported, else right after its import."""
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    _callbacks.setdefault(name, []).append(callback)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def uninstall() -> None:
    """Forget pending callbacks, remove the finder, give ``sys.path`` entries their own finders back (idempotent)."""
    _callbacks.clear()
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for path, original in _replaced.items():
        if isinstance(sys.path_importer_cache.get(path), _ListedOnce):
            sys.path_importer_cache[path] = original
    _replaced.clear()


class _ListedOnce(importlib.machinery.FileFinder):
    """A ``FileFinder`` that answers a miss from one listing of its directory.

    ``FileFinder.find_spec`` stats the directory on every lookup (to notice new
    files by its mtime) and then tries each suffix by name; a hit, and every
    lookup after :func:`importlib.invalidate_caches`, still goes through it.
    """

    _stems: frozenset[str] | None = None

    def find_spec(
        self, fullname: str, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        stems = self._stems
        if stems is None:
            try:
                # "six.py", "six.cpython-311-x86_64-linux-gnu.so", "six/" -> "six"
                stems = frozenset(name.partition(".")[0] for name in os.listdir(self.path))
            except OSError:
                return super().find_spec(fullname, target)
            self._stems = stems
        if fullname.rpartition(".")[2] not in stems:
            return None
        return super().find_spec(fullname, target)

    def invalidate_caches(self) -> None:
        """Forget the listing (and the base class's mtime), as importlib.invalidate_caches asks."""
        self._stems = None
        super().invalidate_caches()


def list_once(path: str, *, create: bool = False) -> bool:
    """Answer imports that miss the ``sys.path`` entry ``path`` from one listing of it.

    Lambda's bootstrap puts ``/opt/python`` (where the layer lands) ahead of the
    runtime's and the standard library's directories, so every top-level
    module the function imports after it (boto3, botocore, most of the
    standard library: ~150 for a function that makes a boto3 client) is first
    looked up there and missed; importlib's ``FileFinder`` spends a ``stat``
    and five suffix tries on each (callgrind, the benchmark's function: 6.1M
    instructions, ~1 ms of billed INIT, the whole cost of attaching the layer).
    ``/opt`` is read-only on Lambda, so the directory's entries cannot change
    while the environment lives, and one listing answers every miss; Python
    asks code that creates modules at run time to call
    :func:`importlib.invalidate_caches`, which lists it again. True when the
    entry's finder is (now) such a finder; the standard ``FileFinder`` is the
    only one replaced, anything else is left alone. ``create``: make the
    entry's finder first if no import has looked there yet (see ``_early``).
    """
    finder = sys.path_importer_cache.get(path)
    if finder is None and create:
        # Not looked up yet (the .pth runs before the first import that tries
        # it): one lookup of a name nobody has makes the path hooks create it.
        importlib.machinery.PathFinder.find_spec("_lambdaguard_absent_", [path])
        finder = sys.path_importer_cache.get(path)
    if isinstance(finder, _ListedOnce):
        return True
    if type(finder) is not importlib.machinery.FileFinder:
        return False
    # The loaders the path hook gave it (private to FileFinder, set by its __init__ since 3.3).
    loaders = getattr(finder, "_loaders", None)
    if not isinstance(loaders, list):
        return False
    listed = _ListedOnce(path)
    listed._loaders = loaders  # type: ignore[attr-defined]
    _replaced[path] = finder
    sys.path_importer_cache[path] = listed
    return True


_replaced: dict[str, importlib.machinery.FileFinder] = {}

# The sys.path entry this package was found in: the layer's python/ (/opt/python
# on Lambda), which list_once is for (python/lambdaguard/agent/_imports.py).
LAYER_PATH = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
