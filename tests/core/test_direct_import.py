"""Direct imports (`core.direct_import`) give exactly what Python's own import gives, or step aside.

Each test imports the same files twice, once straight from the file and once through `importlib` with the
folder first on `sys.path`, and compares what a user can see: the module's attributes and spec, its place in
`sys.modules`, its parent's attribute, and the exceptions and their messages when the module fails.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from trakt_dagster.core.direct_import import import_direct
from trakt_dagster.core.listing import folder_entries
from trakt_dagster.core.modules import ModuleNamespace

NAMES = ("helper", "steps", "steps.clean")


def _write(folder: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return folder.resolve()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "project",
        {
            "helper.py": '"""Helpers."""\nVALUE = 1\n',
            "steps/__init__.py": "LOADED = True\n",
            "steps/clean.py": "from helper import VALUE\n\n\ndef run(ctx):\n    return VALUE\n",
        },
    )


@contextlib.contextmanager
def _first_on_path(folder: Path) -> Iterator[None]:
    """`folder` first on `sys.path` and the test's module names unimported, as the namespace arranges it."""
    saved_path, saved_modules = list(sys.path), dict(sys.modules)
    for name in [n for n in sys.modules if n.partition(".")[0] in {"helper", "steps", "loop", "self_swap"}]:
        del sys.modules[name]
    sys.path.insert(0, str(folder))
    for key in [k for k in sys.path_importer_cache if k.startswith(str(folder))]:
        del sys.path_importer_cache[key]
    try:
        yield
    finally:
        sys.path[:] = saved_path
        sys.modules.clear()
        sys.modules.update(saved_modules)


def _direct(name: str) -> types.ModuleType | None:
    """`import_direct` of `name` (its parent imported first, directly), searching where the import would."""
    parent, _, _ = name.rpartition(".")
    if parent and parent not in sys.modules:
        assert _direct(parent) is not None
    search = sys.modules[parent].__path__ if parent else sys.path
    return import_direct(name, search[0], folder_entries)


def _seen(module: types.ModuleType) -> tuple[object, ...]:
    """What a user can observe of an imported module."""
    spec = module.__spec__
    loader = module.__loader__
    return (
        module.__name__,
        module.__file__,
        module.__cached__,
        module.__package__,
        getattr(module, "__path__", None),
        spec.name,
        spec.origin,
        spec.cached,
        spec.parent,
        spec.has_location,
        spec.submodule_search_locations,
        type(loader),
        loader.name,
        loader.path,
        sorted(vars(module)),
        next(reversed(sys.modules)) == module.__name__ or module.__name__ in sys.modules,
    )


def _parent_attribute(name: str) -> object:
    parent, _, child = name.rpartition(".")
    return getattr(sys.modules[parent], child, None) is sys.modules[name] if parent else None


@pytest.mark.parametrize("name", NAMES)
def test_a_direct_import_gives_what_the_import_system_gives(project: Path, name: str) -> None:
    with _first_on_path(project):
        module = importlib.import_module(name)
        expected = (_seen(module), _parent_attribute(name), list(sys.modules)[-3:])
    with _first_on_path(project):
        module = _direct(name)
        assert module is not None, "the standard case must be imported directly"
        assert (_seen(module), _parent_attribute(name), list(sys.modules)[-3:]) == expected
        assert module.__name__ in sys.modules


def test_the_namespace_imports_step_modules_directly_and_as_before(project: Path) -> None:
    namespace = ModuleNamespace(project)
    found = namespace.import_modules(["steps.clean"])
    module = found["steps.clean"]
    assert isinstance(module, types.ModuleType) and module.run(None) == 1
    # a direct import leaves no finder for the folder in Python's cache (the normal lookup would make one)
    assert str(project / "steps") not in sys.path_importer_cache
    assert "steps.clean" not in sys.modules  # the namespace put the table back as it was
    with _first_on_path(project):
        assert _seen(module)[:15] == _seen(importlib.import_module("steps.clean"))[:15]


def test_a_package_beside_a_module_of_the_same_name_is_imported_as_python_does(project: Path) -> None:
    _write(project, {"steps/clean/__init__.py": "PACKAGE = True\n"})
    with _first_on_path(project):
        expected = _seen(importlib.import_module("steps.clean"))
    with _first_on_path(project):
        module = _direct("steps.clean")
        assert module is not None and module.PACKAGE is True
        assert _seen(module) == expected


@pytest.mark.parametrize(
    ("files", "why"),
    [
        ({"steps/clean/readme.txt": "notes\n"}, "a folder of the same name (a namespace portion)"),
        ({f"steps/clean{importlib.machinery.EXTENSION_SUFFIXES[0]}": ""}, "a compiled extension comes first"),
        ({"steps/clean/__init__.py": "", "steps/clean/__init__.abi3.so": ""}, "an extension package comes first"),
    ],
)
def test_another_candidate_file_means_a_normal_import(project: Path, files: dict[str, str], why: str) -> None:
    _write(project, files)
    with _first_on_path(project):
        assert _direct("steps") is not None
        assert import_direct("steps.clean", str(project / "steps"), folder_entries) is None, why


def test_a_finder_that_claims_the_name_wins_as_it_does_in_python(project: Path) -> None:
    class Claiming(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path, target=None):  # noqa: ANN001, ANN202
            if fullname != "steps.clean":
                return None
            return importlib.util.spec_from_loader(fullname, _Fixed())

    class _Fixed(importlib.abc.Loader):
        def create_module(self, spec):  # noqa: ANN001, ANN202
            return None

        def exec_module(self, module):  # noqa: ANN001, ANN202
            module.FROM_FINDER = True

    finder = Claiming()
    sys.meta_path.insert(0, finder)
    try:
        with _first_on_path(project):
            assert _direct("steps") is not None
            assert import_direct("steps.clean", str(project / "steps"), folder_entries) is None
        with _first_on_path(project):  # (a module without a file stays in sys.modules: put the table back)
            assert ModuleNamespace(project).import_module("steps.clean").FROM_FINDER is True
    finally:
        sys.meta_path.remove(finder)


def test_unusual_search_paths_mean_a_normal_import(project: Path, monkeypatch) -> None:
    with _first_on_path(project):
        assert import_direct("helper", "project", folder_entries) is None  # not absolute
        assert import_direct("helper", str(project / "steps"), folder_entries) is None  # not first on sys.path
        steps = _direct("steps")
        steps.__path__.append(str(project))  # a second place to look
        assert import_direct("steps.clean", str(project / "steps"), folder_entries) is None
    with _first_on_path(project):
        monkeypatch.setattr(sys, "path_hooks", [*sys.path_hooks, lambda path: None])
        assert import_direct("helper", str(project), folder_entries) is None  # a hook of someone else's
    with _first_on_path(project):
        monkeypatch.setitem(sys.path_importer_cache, str(project), None)
        assert import_direct("helper", str(project), folder_entries) is None  # a folder Python gave up on


def _failure(project: Path, name: str, direct: bool) -> tuple[type[BaseException], str, bool]:
    with _first_on_path(project):
        try:
            _direct(name) if direct else importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - compared below
            return type(exc), str(exc), name in sys.modules
    raise AssertionError(f"importing {name} did not fail")


@pytest.mark.parametrize(
    "files",
    [
        {"steps/clean.py": "raise ValueError('no data folder configured')\n"},
        {"steps/clean.py": "import not_installed_anywhere\n"},
        {"steps/clean.py": "def run(ctx)\n    return 1\n"},
        {  # a circular import between two step modules
            "steps/clean.py": "from steps.other import OTHER\nCLEAN = 1\n",
            "steps/other.py": "from steps.clean import CLEAN\nOTHER = 2\n",
        },
        {  # a module that reads its own submodule attribute while the parent initializes it
            "steps/clean.py": "import steps\nsteps.clean\n",
        },
    ],
    ids=["raises", "missing-dependency", "syntax-error", "circular", "partial-submodule"],
)
def test_a_failing_module_fails_with_the_import_systems_error(project: Path, files: dict[str, str]) -> None:
    _write(project, files)
    expected = _failure(project, "steps.clean", direct=False)
    assert _failure(project, "steps.clean", direct=True) == expected
    assert expected[2] is False  # a failed module is never left importable


def test_a_module_that_replaces_itself_is_what_the_import_returns(project: Path) -> None:
    _write(
        project,
        {"self_swap.py": "import sys, types\nsys.modules[__name__] = types.SimpleNamespace(SWAPPED=True)\n"},
    )
    with _first_on_path(project):
        expected = importlib.import_module("self_swap")
        assert expected.SWAPPED is True
    with _first_on_path(project):
        module = _direct("self_swap")
        assert module is not None and module.SWAPPED is True and sys.modules["self_swap"] is module


def test_files_added_or_removed_between_loads_are_seen(project: Path) -> None:
    namespace = ModuleNamespace(project)
    assert namespace.import_module("steps.clean").run(None) == 1
    _write(project, {"steps/added.py": "ADDED = 3\n"})
    assert ModuleNamespace(project).import_module("steps.added").ADDED == 3
    (project / "steps" / "clean.py").unlink()
    with pytest.raises(ModuleNotFoundError, match="No module named 'steps.clean'"):
        ModuleNamespace(project).import_module("steps.clean")
