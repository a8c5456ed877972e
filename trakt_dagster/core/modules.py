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

from trakt_dagster.core.direct_import import import_direct
from trakt_dagster.core.listing import FOLDER, folder_entries

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

    def __init__(self, root: Path, *, package: bool = False, resolved: bool = False) -> None:
        self.root = Path(root) if resolved else Path(root).resolve()
        """The folder, resolved (`resolved=True`: the caller passes it resolved already)."""
        self.package = package
        """`root` is a package (a folder with `__init__.py`): its parent goes on `sys.path` and the package
        is imported by its folder name (`orders`, `orders.tasks.extract`), so relative imports work."""
        self.modules: dict[str, ModuleType] = {}
        self._depth = 0
        self._names: tuple[int, set[str]] | None = None
        """The folder's top-level names, with the folder's modification time they were read at."""
        self._finder_keys: tuple[set[str], tuple[str, ...]] | None = None
        """The import cache keys `_forget_finders` drops, for the set of top-level names they were made for."""
        self._listings: dict[str, dict[str, str] | None] = {}
        """Folder listings for direct imports, read once per activation (files may change between loads)."""

    @property
    def search_root(self) -> Path:
        """The folder put first on `sys.path` while the namespace is active."""
        return self.root.parent if self.package else self.root

    def _local_top_names(self) -> set[str]:
        if self.package:
            if self._names is None:
                self._names = (0, {self.root.name})
            return self._names[1]
        try:
            stamp = os.stat(self.root).st_mtime_ns  # changes whenever an entry is added, removed or renamed
        except OSError:
            return set()
        if self._names is not None and self._names[0] == stamp:
            return self._names[1]
        names: set[str] = set()
        root = str(self.root)
        kinds = folder_entries(root)
        if kinds is None:
            return names
        for name, kind in kinds.items():
            if kind == FOLDER and name.isidentifier():
                names.add(name)
            elif name.endswith(".py") and name[:-3].isidentifier():
                names.add(name[:-3])
        self._names = (stamp, names)
        self._listings[root] = kinds  # read just now: direct imports of this activation use it
        return names

    def _belongs(self, module: ModuleType) -> bool:
        origin = getattr(module, "__file__", None)
        paths = [origin] if origin else list(getattr(module, "__path__", []) or [])
        inside = str(self.root) + os.sep
        for path in paths:
            if isinstance(path, str) and path.startswith(inside):
                return True  # imported through this folder's path entry (the usual case): no file system call
            try:
                Path(path).resolve().relative_to(self.root)
                return True
            except (ValueError, OSError, TypeError):
                continue
        return False

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Make this pipeline's modules importable (and only them, for its top-level names).

        The cost does not grow with the number of pipelines loaded before: only modules of this folder's
        top-level names are moved, and only this folder's import caches are dropped (not every finder's,
        which would also make Python re-read every installed distribution's metadata). Nested use (a step
        module importing while its pipeline's namespace is active) is free.
        """
        with _IMPORT_LOCK:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            saved_path = list(sys.path)
            self._listings.clear()
            local = self._local_top_names()
            hidden: dict[str, ModuleType] = {}
            if any(name in sys.modules for name in local):  # modules of these names from elsewhere: hide them
                prefixes = tuple(f"{name}." for name in local)
                for name in [n for n in sys.modules if n in local or n.startswith(prefixes)]:
                    if sys.modules[name] is not self.modules.get(name):
                        hidden[name] = sys.modules.pop(name)
            sys.modules.update(self.modules)
            # modules imported meanwhile come after it (not one of this folder's: user code may re-import those)
            marker = next((n for n in reversed(sys.modules) if n.partition(".")[0] not in local), None)
            sys.path.insert(0, str(self.search_root))
            self._forget_finders(local)
            self._depth = 1
            try:
                yield
            finally:
                self._depth = 0
                self._listings.clear()
                for name in _added_since(marker):  # imported meanwhile: keep this folder's own
                    module = sys.modules[name]
                    if name.partition(".")[0] in local and self._belongs(module):
                        self.modules[name] = module
                for name, known in list(self.modules.items()):  # reloaded meanwhile
                    module = sys.modules.get(name)
                    if module is not None and module is not known and self._belongs(module):
                        self.modules[name] = module
                for name, module in self.modules.items():
                    if sys.modules.get(name) is module:
                        del sys.modules[name]
                sys.modules.update(hidden)
                sys.path[:] = saved_path

    def _forget_finders(self, local: set[str]) -> None:
        """Drop the cached directory listings of this folder and its top-level packages, so files written since
        the last import are found (only these: the cost must not grow with the folders loaded before)."""
        known = self._finder_keys
        if known is None or known[0] is not local:
            root = str(self.root)
            keys = (str(self.search_root), root, *(os.path.join(root, name) for name in local))
            known = self._finder_keys = (local, keys)
        cache = sys.path_importer_cache
        for key in known[1]:
            cache.pop(key, None)

    def import_module(self, name: str) -> ModuleType:
        """Import `name` as this pipeline sees it (once: later calls return the same module)."""
        if name in self.modules:
            return self.modules[name]
        with self.active():
            return self.import_here(name)

    def import_here(self, name: str) -> ModuleType:
        """`importlib.import_module(name)`, called while the namespace is active: straight from the module's file
        when the folder's listing shows that Python's lookup could find nothing else (`direct_import`).

        Example:
            >>> # with ns.active():
            >>> #     module = ns.import_here("steps.transform")
        """
        parent, _, _ = name.rpartition(".")
        if parent and parent not in sys.modules:
            self.import_here(parent)
        search = getattr(sys.modules.get(parent), "__path__", None) if parent else sys.path
        if type(search) is list and search and type(search[0]) is str:
            module = import_direct(name, search[0], self._listing)
            if module is not None:
                return module
        return importlib.import_module(name)

    def _listing(self, folder: str) -> dict[str, str] | None:
        if folder not in self._listings:
            self._listings[folder] = folder_entries(folder)
        return self._listings[folder]

    def import_modules(self, names: list[str]) -> dict[str, ModuleType | BaseException]:
        """Import several modules in one activation; each name maps to its module or the exception its import
        raised (a pipeline's step modules: one namespace switch instead of one per step).

        Example:
            >>> # found = ModuleNamespace(Path("pipelines/alpha")).import_modules(["steps.a", "steps.b"])
        """
        found: dict[str, ModuleType | BaseException] = {}
        with self.active():
            for name in names:
                try:
                    found[name] = self.import_here(name)
                except Exception as exc:  # noqa: BLE001 - reported by the caller, per module
                    found[name] = exc
        return found


def _added_since(marker: str | None) -> list[str]:
    """Names added to `sys.modules` after `marker` (its last name at some point): dicts keep insertion order,
    so those are the names after it (a name removed and added again counts as added). Without the marker
    (removed meanwhile), every name.

    Walks back from the newest name to the marker (usually a few names), instead of copying the whole table
    (thousands of names once Dagster is imported) at every namespace exit.

    Example:
        >>> import sys
        >>> last = next(reversed(sys.modules))
        >>> _added_since(last)
        []
    """
    if marker is None or marker not in sys.modules:
        return list(sys.modules)
    added: list[str] = []
    try:
        for name in reversed(sys.modules):
            if name == marker:
                added.reverse()
                return added
            added.append(name)
    except RuntimeError:  # another thread imported (the table changed size) while walking: copy it in one step
        return _added_since_copy(marker)
    return list(sys.modules)  # the marker went away while walking


def _added_since_copy(marker: str) -> list[str]:
    names = list(sys.modules)  # (one step: other threads may import meanwhile)
    for position in range(len(names) - 1, -1, -1):
        if names[position] == marker:
            return names[position + 1 :]
    return names
