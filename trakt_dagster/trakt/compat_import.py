"""Make `import trakt` work for user step modules when the original trakt is not installed.

trakt is not on PyPI, so existing step modules that do `from trakt import step_contract` would fail.
`install()` adds an import hook that serves `trakt` and `trakt.*` from `trakt_dagster.trakt.compat`
(nothing is written into site-packages). If a real `trakt` is importable, it wins.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from types import ModuleType

ALIAS = "trakt"
TARGET = "trakt_dagster.trakt.compat"
_lock = threading.Lock()
_installed = False


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """The target module is already executed."""


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None, target: object = None):  # noqa: ANN201
        if fullname != ALIAS and not fullname.startswith(ALIAS + "."):
            return None
        real = TARGET + fullname[len(ALIAS) :]
        if importlib.util.find_spec(real) is None:
            return None
        is_package = importlib.util.find_spec(real).submodule_search_locations is not None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(real), is_package=is_package)


def real_trakt_installed() -> bool:
    """True when an importable `trakt` exists that is not our alias."""
    if _installed:
        return False
    return importlib.util.find_spec(ALIAS) is not None


def install() -> None:
    """Serve `trakt` from the compatibility package unless a real `trakt` is importable.

    Example:
        >>> install()
        >>> from trakt import step_contract  # works without the original trakt installed
    """
    global _installed
    with _lock:
        if _installed or importlib.util.find_spec(ALIAS) is not None:
            return
        sys.meta_path.append(_AliasFinder())
        _installed = True
