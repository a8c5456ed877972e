"""Import each pipeline folder's Python modules in its own namespace.

Tools put the pipeline folder on `sys.path` and leave modules in `sys.modules`, so two pipelines that
both have a `steps` package (or a `dag.py`) would share the first one's code (trakt defect N1). Here
every folder gets a `ModuleNamespace`: while it is active, the folder is first on `sys.path`, modules of
the same top-level names from elsewhere are hidden, and this folder's own modules are visible; on exit
everything is put back as it was (N2).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

_IMPORT_LOCK = threading.RLock()


class ModuleNamespace:
    """The private module table of one pipeline folder.

    Example:
        >>> # ns = ModuleNamespace(Path("pipelines/alpha"))
        >>> # with ns.active():
        >>> #     module = importlib.import_module("steps.transform")   # alpha's own steps
        >>> # orders = ModuleNamespace(Path("pipelines/orders"), package=True)   # has __init__.py
        >>> # orders.import_module("orders.runtime")                            # relative imports work
    """

    def __init__(self, root: Path, *, package: bool = False) -> None:
        self.root = Path(root).resolve()
        self.package = package
        """`root` is a package (a folder with `__init__.py`): its parent goes on `sys.path` and the package
        is imported by its folder name (`orders`, `orders.tasks.extract`), so relative imports work."""
        self.modules: dict[str, ModuleType] = {}

    @property
    def search_root(self) -> Path:
        """The folder put first on `sys.path` while the namespace is active."""
        return self.root.parent if self.package else self.root

    def _local_top_names(self) -> set[str]:
        if self.package:
            return {self.root.name}
        names: set[str] = set()
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            return names
        for entry in entries:
            if entry.is_dir() and entry.name.isidentifier():
                names.add(entry.name)
            elif entry.name.endswith(".py") and entry.name[:-3].isidentifier():
                names.add(entry.name[:-3])
        return names

    def _belongs(self, module: ModuleType) -> bool:
        origin = getattr(module, "__file__", None)
        paths = [origin] if origin else list(getattr(module, "__path__", []) or [])
        for path in paths:
            try:
                Path(path).resolve().relative_to(self.root)
                return True
            except (ValueError, OSError, TypeError):
                continue
        return False

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Make this pipeline's modules importable (and only them, for its top-level names)."""
        with _IMPORT_LOCK:
            saved_path = list(sys.path)
            local = self._local_top_names()
            hidden: dict[str, ModuleType] = {}
            for name in list(sys.modules):
                if name.split(".", 1)[0] in local and sys.modules[name] is not self.modules.get(name):
                    hidden[name] = sys.modules.pop(name)
            sys.modules.update(self.modules)
            sys.path.insert(0, str(self.search_root))
            importlib.invalidate_caches()
            try:
                yield
            finally:
                for name, module in list(sys.modules.items()):
                    mine = name.split(".", 1)[0] in local or name in self.modules
                    if mine and self._belongs(module):
                        self.modules[name] = module
                for name, module in self.modules.items():
                    if sys.modules.get(name) is module:
                        del sys.modules[name]
                sys.modules.update(hidden)
                sys.path[:] = saved_path
                importlib.invalidate_caches()

    def import_module(self, name: str) -> ModuleType:
        """Import `name` as this pipeline sees it."""
        with self.active():
            return importlib.import_module(name)
