"""Import a module straight from its file when Python's own lookup could only find that file.

A normal `import steps.clean` asks every finder on `sys.meta_path`, makes a finder for the folder (trying it
as a zip archive first), stats the folder and the candidate file, and takes the module's lock: about half of
what importing a small step module costs at load, where a root of 500 pipelines imports 4,000 of them. When
one listing of the folder already shows that the lookup can only end at `<folder>/clean.py` (the standard
finders, a single search folder, a plain `.py` file and nothing that would be preferred to it: no package or
folder of that name, no compiled extension), the module is loaded with the same public pieces the lookup
ends with (`spec_from_file_location`, `module_from_spec`, the loader's `exec_module`) and recorded as the
import system records it. In every other case the caller imports normally, so the result never differs.

The one thing kept from the import system's private bookkeeping: the marks it sets on a module that is
being initialized (`_initializing` on its spec, the child in its parent's `_uninitialized_submodules`), so a
circular import between step modules fails with Python's own "partially initialized module" message.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import warnings
import zipimport
from collections.abc import Callable, Mapping
from types import ModuleType

from trakt_dagster.core.listing import FILE, FOLDER

_STANDARD_META = (importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter)
_EXTENSIONS = tuple(importlib.machinery.EXTENSION_SUFFIXES)
_FILE_FINDER_HOOK = "FileFinder.path_hook.<locals>.path_hook_for_FileFinder"
# On these platforms the lookup may match names without regard to case (PYTHONCASEOK), which one exact
# listing cannot rule out.
_CASE_SENSITIVE = not sys.platform.startswith(("win", "cygwin", "darwin"))


def import_direct(name: str, folder: str, listing: Callable[[str], Mapping[str, str] | None]) -> ModuleType | None:
    """Import `name` from `<folder>/<last part>.py` (or the package `<folder>/<last part>/__init__.py`) when the
    normal import could find nothing else, judged from `listing(folder)` (`listing.folder_entries`, perhaps cached);
    None when that is not certain (import normally then). Raises what the module raises, as an import would.

    `folder` must be the one place the lookup searches: the package's only `__path__` entry for a submodule,
    the first `sys.path` entry for a top-level module.

    Example:
        >>> # module = import_direct("steps.clean", "/p/pipelines/orders/steps", folder_entries)
        >>> # module = module or importlib.import_module("steps.clean")
    """
    if name in sys.modules or not _CASE_SENSITIVE or not os.path.isabs(folder):
        return None
    parent_name, _, child = name.rpartition(".")
    parent = sys.modules.get(parent_name) if parent_name else None
    if parent_name:
        search = getattr(parent, "__path__", None)
        if type(search) is not list or search != [folder]:
            return None
    else:
        search = None
        if not sys.path or sys.path[0] != folder:
            return None
    location = _only_candidate(folder, child, listing)
    if location is None or not _standard_lookup(name, search, folder):
        return None
    file, package_folder = location
    spec = importlib.util.spec_from_file_location(
        name, file, submodule_search_locations=[package_folder] if package_folder else None
    )
    if spec is None or spec.loader is None:
        return None
    sys.audit("import", name, None, sys.path, sys.meta_path, sys.path_hooks)  # as the import statement does
    return _load(spec, parent, child)


def _only_candidate(
    folder: str, child: str, listing: Callable[[str], Mapping[str, str] | None]
) -> tuple[str, str | None] | None:
    """The file (and package folder) the file finder would pick for `child` in `folder`, when the listings show
    no other candidate it would prefer: a package `child/__init__.py` comes first, then `child` with a compiled
    extension's suffix, then `child.py`."""
    entries = listing(folder)
    if entries is None:
        return None
    kind = entries.get(child)
    if kind == FOLDER:
        inside = listing(os.path.join(folder, child))
        if inside is None or inside.get("__init__.py") != FILE:
            return None
        if any("__init__" + suffix in inside for suffix in _EXTENSIONS):
            return None
        package_folder = os.path.join(folder, child)
        return os.path.join(package_folder, "__init__.py"), package_folder
    if kind is not None or entries.get(child + ".py") != FILE:
        return None
    if any(child + suffix in entries for suffix in _EXTENSIONS):
        return None
    return os.path.join(folder, child + ".py"), None


def _standard_lookup(name: str, search: list[str] | None, folder: str) -> bool:
    """Whether the import system's lookup of `name` goes to the standard path finder, and from it to a standard
    finder of `folder`: every finder before it declines the name, and the folder's finder is (or would be)
    the default file finder."""
    for finder in sys.meta_path:
        if finder is importlib.machinery.PathFinder:
            break
        if finder in _STANDARD_META:
            continue  # built-in and frozen modules: never a name found in a folder's listing
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None or find_spec(name, search, None) is not None:
            return False
    else:
        return False
    cached = sys.path_importer_cache.get(folder, _MISSING)
    if cached is not _MISSING:
        return type(cached) is importlib.machinery.FileFinder
    hooks = sys.path_hooks
    return (
        len(hooks) == 2
        and hooks[0] is zipimport.zipimporter
        and getattr(hooks[1], "__qualname__", "") == _FILE_FINDER_HOOK
    )


_MISSING = object()


def _load(spec: importlib.machinery.ModuleSpec, parent: ModuleType | None, child: str) -> ModuleType:
    """Create, register and run the module of `spec` as the import system does."""
    module = importlib.util.module_from_spec(spec)
    pending = getattr(getattr(parent, "__spec__", None), "_uninitialized_submodules", None)
    if type(pending) is not list:
        pending = None
    spec._initializing = True  # type: ignore[attr-defined]  # the import system's "being initialized" mark
    if pending is not None:
        pending.append(child)
    try:
        sys.modules[spec.name] = module
        try:
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        except BaseException:
            sys.modules.pop(spec.name, None)
            raise
        module = sys.modules.pop(spec.name)  # (a module may put something else in its place)
        sys.modules[spec.name] = module
    finally:
        spec._initializing = False  # type: ignore[attr-defined]
        if pending is not None:
            pending.pop()
    if parent is not None:
        try:
            setattr(parent, child, module)
        except AttributeError:
            message = f"Cannot set an attribute on {parent.__name__!r} for child module {child!r}"
            warnings.warn(message, ImportWarning, stacklevel=2)
    return module
