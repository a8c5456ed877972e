"""Python modules under `pipelines/` that define pipelines in code (flowrun DAGs, trakt workflows, ...).

Candidates are `pipelines/*.py` and `pipelines/<folder>/*.py` (not in folders holding a `pipeline.yaml`,
which are trakt YAML pipelines, nor in ductaflow projects (`flows/` + `config/`); not `__init__.py`,
`_*.py`, `test_*.py`, `conftest.py`). Each front end asks only for the files whose source mentions one of
its markers (e.g. `flowrun`), so modules are imported only when some front end may want them; each file
is imported once per process (cached by path and modification time), in its folder's own
`ModuleNamespace`, and shared by all front ends.

A folder with an `__init__.py` is a **package**: it is imported as one (`orders`, `orders.runtime`,
`orders.tasks.extract`, with its parent on `sys.path`), so relative imports work; every module of it is
imported (sub-folders included, not `__main__.py`, `_*.py`, tests) when any of its files mentions a marker,
since tasks often live in modules that never name their tool.

Before a module is imported its source is read with `ast`: a module-level `asyncio.run(main())` (which would
run the pipeline natively on every load) is refused with a load error saying to guard it.
"""

from __future__ import annotations

import ast
import codecs
import contextlib
import io
import os
import sys
import threading
import tokenize
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from trakt_dagster.core.errors import LoadError, SourceLocation, cut_text
from trakt_dagster.core.import_guard import find_import_time_runs, may_start_loop
from trakt_dagster.core.modules import ModuleNamespace

_SKIP_NAMES = ("__init__.py", "conftest.py")
_PACKAGE_SKIP_NAMES = ("conftest.py", "__main__.py", "setup.py")
_PACKAGE_SKIP_DIRS = ("tests", "test")
_cache: dict[tuple[Path, float], PipelineModule] = {}
_namespaces: dict[Path, ModuleNamespace] = {}
_runs_found: dict[tuple[Path, float], list] = {}
"""Module-level event-loop calls found per (file, mtime): each file is parsed once."""
_lock = threading.Lock()
_scans: dict[Path, _Scan] | None = None
"""While `shared_scan()` is active: each root's candidate files, read once for every front end."""
_real_paths: dict[Path, Path] | None = None
"""While `shared_scan()` is active: the resolved path of each candidate file the listing could tell without
resolving it (neither it nor its folder a symbolic link)."""
_sibling_memo: dict[str, list[os.DirEntry]] = {}
"""While `shared_scan()` is active: the entries of the folders the listing read (for `_names_sibling`), by the
resolved folder's path text."""


@dataclass(frozen=True)
class PipelineModule:
    """One imported pipeline module, or the error that stopped its import.

    Example:
        >>> # for found in import_pipeline_modules(root, markers=("flowrun",)):
        >>> #     if found.module: inspect(found.module)
    """

    path: Path
    module: ModuleType | None
    namespace: ModuleNamespace | None
    error: LoadError | None = None
    source: str | None = field(default=None, compare=False, repr=False)
    """The module's text as read when it was imported (None: not kept; read the file)."""


def pipeline_python_files(root: Path) -> list[Path]:
    """Candidate module files under `<root>/pipelines`, sorted (every module of a package folder)."""
    return [path for path, _ in _listing(Path(root) / "pipelines")]


def _candidate_name(name: str) -> bool:
    return name.endswith(".py") and name not in _SKIP_NAMES and not name.startswith(("_", "test_"))


def _listing(folder: Path) -> list[tuple[Path, tuple[Path, Path | None] | None]]:
    """`pipeline_python_files` from one directory listing per folder, each file with what the listing already
    tells about it: `(resolved path, package)` when neither the file nor its folder is a symbolic link (the
    resolved path is then the resolved folder joined with the names, and a file of a folder without
    `__init__.py` belongs to no package), else None (resolve and look the package up as usual)."""
    try:
        top = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError:
        if not folder.is_dir():
            return []
        raise
    real = folder.resolve()
    top_package: list[Path | None] = []

    def known(entry: os.DirEntry, real_folder: Path | None, package: Path | None) -> tuple[Path, Path | None] | None:
        if real_folder is None or entry.is_symlink():
            return None
        return real_folder / entry.name, package

    found: list[tuple[Path, tuple[Path, Path | None] | None]] = []
    for entry in top:
        if _candidate_name(entry.name) and entry.is_file():
            if not top_package:
                top_package.append(package_root(real / "_.py"))
            found.append((folder / entry.name, known(entry, real, top_package[0])))
    subs = sorted((entry for entry in top if entry.is_dir()), key=lambda entry: entry.name)
    for sub in subs:
        if sub.name.startswith((".", "_")):
            continue
        path = folder / sub.name
        try:
            entries = {entry.name: entry for entry in os.scandir(path)}
        except OSError:
            entries = None
        if entries is None:  # unreadable folder: the checks of before, which find nothing in it
            if (path / "pipeline.yaml").exists() or is_notebook_project(path):
                continue
            if (path / "__init__.py").is_file():
                found.extend((p, None) for p in package_python_files(path))
            continue
        if "pipeline.yaml" in entries and os.path.exists(entries["pipeline.yaml"].path):
            continue
        if all(name in entries and entries[name].is_dir() for name in ("flows", "config")):
            continue  # a ductaflow project (is_notebook_project)
        init = entries.get("__init__.py")
        if init is not None and init.is_file():
            found.extend((p, None) for p in package_python_files(path))
            continue
        real_sub = None if sub.is_symlink() else real / sub.name
        if real_sub is not None and _real_paths is not None:
            _sibling_memo[str(real_sub)] = list(entries.values())
        found.extend(
            (path / name, known(entry, real_sub, None))
            for name, entry in entries.items()
            if _candidate_name(name) and entry.is_file()
        )
    return sorted(found, key=lambda item: item[0])


def package_python_files(package: Path) -> list[Path]:
    """The module files of a package folder: `__init__.py` files and modules of every sub-folder whose name
    is an identifier (not `_*`, tests, `__main__.py`, `conftest.py`), sorted."""
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(package):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d.isidentifier()
            and not d.startswith("_")
            and d not in _PACKAGE_SKIP_DIRS
            and not is_notebook_project(here / d)
        )
        for name in filenames:
            stem, dot, ext = name.rpartition(".")
            if ext != "py" or not dot or not stem.isidentifier() or name in _PACKAGE_SKIP_NAMES:
                continue
            if name == "__init__.py" or not name.startswith(("_", "test_")):
                files.append(here / name)
    return sorted(files)


def package_root(path: Path) -> Path | None:
    """The top folder of the package `path` belongs to (climbing while folders hold `__init__.py`), or None.

    Example:
        >>> import tempfile
        >>> base = Path(tempfile.mkdtemp())
        >>> (base / "orders" / "tasks").mkdir(parents=True)
        >>> for f in ("orders/__init__.py", "orders/tasks/__init__.py"): _ = (base / f).write_text("")
        >>> package_root(base / "orders" / "tasks" / "extract.py") == (base / "orders").resolve()
        True
    """
    folder = Path(path).resolve().parent
    top = None
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        top = folder
        folder = folder.parent
    return top


def module_name(path: Path, package: Path | None) -> str:
    """The name a file is imported under: its stem, or its dotted path inside `package`.

    Example:
        >>> module_name(Path("/p/orders/tasks/extract.py"), Path("/p/orders"))
        'orders.tasks.extract'
        >>> module_name(Path("/p/orders/__init__.py"), Path("/p/orders")), module_name(Path("/p/dag.py"), None)
        ('orders', 'dag')
    """
    if package is None:
        return Path(path).stem
    parts = list(Path(path).resolve().relative_to(Path(package).resolve().parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_python_source(path: Path) -> str | None:
    """A Python file's text in the encoding Python reads it with (UTF-8, or its PEP 263 `coding:` cookie).

    Raises `UnicodeDecodeError` / `SyntaxError` (bad cookie) for text Python could not read either;
    returns None when the file cannot be read at all.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "m.py"
        >>> _ = p.write_bytes("# -*- coding: latin-1 -*-\\nname = 'caf\\xe9'\\n".encode("latin-1"))
        >>> "café" in read_python_source(p)
        True
    """
    try:
        raw = Path(path).read_bytes()
    except OSError:
        return None
    first = raw.find(b"\n")
    second = raw.find(b"\n", first + 1) if first >= 0 else -1
    head = raw if second < 0 else raw[:second]
    if not raw.startswith(codecs.BOM_UTF8) and b"coding" not in head:
        try:  # no BOM, no declaration in the first two lines: UTF-8, which is what detect_encoding says
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass  # the error Python reports comes from the reading below
    encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    return raw.decode(encoding)


def _cookie_line(path: Path) -> int | None:
    """The line (1 or 2) of a PEP 263 `coding:` declaration."""
    try:
        with open(path, "rb") as handle:
            first = [handle.readline(), handle.readline()]
    except OSError:
        return None
    return next((n for n, line in enumerate(first, start=1) if b"coding" in line), None)


def _unreadable(path: Path, exc: BaseException) -> LoadError:
    if isinstance(exc, UnicodeDecodeError):
        raw = exc.object[: exc.start] if isinstance(exc.object, bytes) else b""
        line = raw.count(b"\n") + 1
        return LoadError(
            f"{path.name} is not valid {exc.encoding} text: byte {exc.object[exc.start : exc.start + 1]!r} at line "
            f"{line} cannot be decoded.",
            SourceLocation(path, line),
            "save the file as UTF-8, or declare its encoding in the first two lines (# -*- coding: latin-1 -*-)",
        )
    if isinstance(exc, SyntaxError):
        line = exc.lineno or _cookie_line(path)
        return LoadError(
            f"{path.name}: {exc.msg if hasattr(exc, 'msg') else exc}",
            SourceLocation(path, line),
            "fix or remove the coding declaration: it must name an encoding Python knows (e.g. utf-8, latin-1)",
        )
    return LoadError(f"Cannot read {path}: {exc}", SourceLocation(path), "check the file's permissions")


def is_notebook_project(folder: Path) -> bool:
    """A ductaflow project (`flows/` and `config/`): its `.py` files are notebooks and conductors that must
    never be imported (importing a conductor would run its scenario loop)."""
    return (folder / "flows").is_dir() and (folder / "config").is_dir()


@dataclass
class _Scan:
    """The candidate files of a root: unreadable ones (as errors), each readable one's text and package."""

    unreadable: list[PipelineModule]
    texts: dict[Path, str | None]
    package_of: dict[Path, Path | None]
    packages: dict[Path, list[Path]]


@contextlib.contextmanager
def shared_scan() -> Iterator[None]:
    """While active, `import_pipeline_modules` lists and reads a root's candidate files once for every front end
    that asks (trakt's workflows, flowrun, loom), instead of once each. A load uses it around its front ends.

    Example:
        >>> with shared_scan():
        ...     pass  # discover(root) ...
    """
    global _scans, _real_paths
    outer, outer_paths = _scans, _real_paths
    _scans = {} if outer is None else outer
    _real_paths = {} if outer_paths is None else outer_paths
    try:
        yield
    finally:
        _scans, _real_paths = outer, outer_paths
        if outer is None:
            _sibling_memo.clear()


def _scan(root: Path) -> _Scan:
    key = Path(root)
    if _scans is not None and key in _scans:
        return _scans[key]
    found = _Scan([], {}, {}, {})
    pipelines = key / "pipelines"
    for path, known in _listing(pipelines):
        try:
            text = read_python_source(path)
            if text is None:
                path.read_bytes()  # raises the OSError to report
        except (OSError, UnicodeDecodeError, SyntaxError) as exc:
            found.unreadable.append(PipelineModule(path, None, None, _unreadable(path, exc)))
            continue
        found.texts[path] = text
        if known is not None:
            real, package = known
            if _real_paths is not None:
                _real_paths[path] = real
        else:
            package = _scanned_package(path, pipelines)
        found.package_of[path] = package
        if package is not None:
            found.packages.setdefault(package, []).append(path)
    if _scans is not None:
        _scans[key] = found
    return found


def is_file(path: Path) -> bool:
    """`path.is_file()`, from the scan's listing of the file's folder when it read that folder.

    Example:
        >>> is_file(Path("/no/such/folder/flowrun_settings.py"))
        False
    """
    folder, name = os.path.split(os.fspath(path))
    entries = _sibling_memo.get(folder) if _real_paths is not None else None
    if entries is None:
        return Path(path).is_file()
    return any(entry.name == name and entry.is_file() for entry in entries)


def _real(path: Path) -> Path:
    """`path.resolve()`, from the listing when it already knows."""
    if _real_paths is not None:
        real = _real_paths.get(path)
        if real is not None:
            return real
    return Path(path).resolve()


def import_pipeline_modules(
    root: Path, markers: Iterable[str], mentions: Iterable[str] | None = None
) -> list[PipelineModule]:
    """Import (once) every candidate file whose source contains one of `markers` (for a package: every
    module of the package when any of its files does); with `mentions`, only files (packages) whose source
    also contains one of those strings (a run of one pipeline imports only the modules that may define it)."""
    wanted = tuple(markers)
    named = None if mentions is None else tuple(mentions)
    scan = _scan(Path(root))
    results = list(scan.unreadable)
    texts, packages = scan.texts, scan.packages
    done: set[Path] = set()
    for path, text in texts.items():
        package = scan.package_of[path]
        if package is None:
            if named is not None and (text is None or not any(name in text for name in named)):
                continue
            if text is not None and any(marker in text for marker in wanted):
                results.append(_import_file(_real(path), text))
            continue
        if package in done:
            continue
        done.add(package)
        members = packages[package]
        if not any(texts.get(p) and any(marker in texts[p] for marker in wanted) for p in members):
            continue
        if named is not None and not any(texts.get(p) and any(n in texts[p] for n in named) for p in members):
            continue
        refused = [_refusal(p, texts[p]) for p in members]
        refused = [error for error in refused if error is not None]
        if refused:
            results.extend(PipelineModule(Path(e.location.file), None, None, e) for e in refused)
            continue
        results.extend(_import_file(_real(p), texts[p], package=package) for p in members)
    return results


def _scanned_package(path: Path, pipelines: Path) -> Path | None:
    """The package a candidate file belongs to: `pipelines/<folder>/` when it has an `__init__.py` (its
    sub-folders need none), else whatever `package_root` finds."""
    try:
        parts = Path(path).resolve().relative_to(pipelines.resolve()).parts
    except ValueError:
        return package_root(path)
    if len(parts) > 1 and (pipelines / parts[0] / "__init__.py").is_file():
        return package_root(pipelines / parts[0] / "__init__.py")
    return package_root(path)


def _refusal(path: Path, text: str | None) -> LoadError | None:
    """A load error when the module would run an event loop at import (`asyncio.run(main())`)."""
    if text is not None and not may_start_loop(text):
        return None  # nothing in the text an event-loop call needs: no parse, no cache look-up
    try:
        key = (Path(path).resolve(), Path(path).stat().st_mtime)
    except OSError:
        key = None
    if key is not None and key in _runs_found:
        runs = _runs_found[key]
    else:
        runs = find_import_time_runs(text if text is not None else _source_or_none(Path(path)) or "")
        if key is not None:
            _runs_found[key] = runs
    if not runs:
        return None
    run = runs[0]
    return LoadError(
        f"{Path(path).name} calls `{run.text}` at module level: trakt-dagster imports pipeline modules "
        "whenever the code location loads, so the pipeline would run outside Dagster on every load.",
        SourceLocation(Path(path), run.line),
        'guard the call with `if __name__ == "__main__":` (the file still runs as a script); Dagster runs the '
        "pipeline itself",
    )


def import_pipeline_module(path: Path, *, package: Path | None = None) -> PipelineModule:
    """Import one pipeline module in its folder's namespace (a package's modules as the package's: `package`,
    else the folders above it holding `__init__.py`); errors become a `LoadError`."""
    return _import_file(Path(path).resolve(), None, package=package, find_package=True)


def _import_file(
    path: Path, text: str | None, *, package: Path | None = None, find_package: bool = False
) -> PipelineModule:
    """`import_pipeline_module` of a resolved `path`, with its text when the scan read it (checked for event-loop
    calls without reading it again, kept on the result). Without `find_package`, a `package` of None means the
    listing found the file in no package."""
    try:
        key = (path, path.stat().st_mtime)
    except OSError as exc:
        return PipelineModule(path, None, None, _unreadable(path, exc))
    with _lock:
        if key in _cache:
            return _cache[key]
        if package is not None:
            package = Path(package).resolve()
        elif find_package:
            package = package_root(path)
        folder = package if package is not None else path.parent
        if folder not in _namespaces:  # (`path` and `package` are resolved, so is the folder)
            _namespaces[folder] = ModuleNamespace(folder, package=package is not None, resolved=True)
        namespace = _namespaces[folder]
        checked = package_python_files(package) if package is not None else _with_sibling_imports(path, text)
        refused = next((e for e in (_refusal(p, text if p == path else None) for p in checked) if e is not None), None)
        if refused is not None:
            return PipelineModule(path, None, namespace, refused)
        name = module_name(path, package)
        try:
            with namespace.active():
                sys.modules.pop(name, None)
                module = namespace.import_here(name)
            found = PipelineModule(path, module, namespace, source=text)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of user code is a load error
            found = PipelineModule(path, None, namespace, _import_error(path, exc))
        _cache[key] = found
        if found.module is not None:
            _remember_side_imports(namespace, path)
        return found


def _with_sibling_imports(path: Path, text: str | None = None) -> list[Path]:
    """`path` and the modules of its folder it imports, transitively (`from etl import Deps` imports `etl.py`),
    read with `ast`: an event-loop call in any of them would run when `path` is imported. `text`: the source
    of `path` when already read."""
    folder = path.parent
    found = [path]
    stack = [path]
    memo_key = os.path.dirname(str(path))
    entries = _sibling_memo.get(memo_key) if _real_paths is not None else None
    if entries is None:
        entries = _folder_entries(folder)
        if _real_paths is not None and entries is not None:
            _sibling_memo[memo_key] = entries
    text = text if text is not None else _source_or_none(path) or ""
    if text.isascii() and not _names_sibling(text, entries or [], path.stem):
        return found  # no sibling module is named in its source: none is imported
    while stack:
        try:
            tree = ast.parse(_source_or_none(stack.pop()) or "")
        except (SyntaxError, ValueError):
            continue
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".", 1)[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".", 1)[0])
        for name in sorted(names):
            for candidate in (folder / f"{name}.py", folder / name / "__init__.py"):
                if candidate.is_file() and candidate.resolve() not in found:
                    found.append(candidate.resolve())
                    stack.append(candidate.resolve())
    return found


def _folder_entries(folder: Path) -> list[os.DirEntry] | None:
    """The folder's listing (None: it cannot be listed)."""
    try:
        return list(os.scandir(folder))
    except OSError:
        return None


def _names_sibling(text: str, entries: Iterable[os.DirEntry], own: str) -> bool:
    """Whether `text` contains the name of one of `_names_of(entries)` other than `own`; a folder's
    `__init__.py` is looked for only when its name is in the text."""
    for entry in entries:
        name = entry.name
        if name.endswith(".py"):
            if name[:-3] != own and name[:-3] in text:
                return True
        elif (
            name != own and name in text and entry.is_dir() and os.path.isfile(os.path.join(entry.path, "__init__.py"))
        ):
            return True
    return False


def _source_or_none(path: Path) -> str | None:
    try:
        return read_python_source(path)
    except (UnicodeDecodeError, SyntaxError):
        return None  # reported by the import


def _remember_side_imports(namespace: ModuleNamespace, imported: Path) -> None:
    """Modules of the namespace that an import brought in (a sibling, a package's submodule) count as imported:
    importing their file later returns them instead of running it a second time (a second copy of an engine
    would have none of the tasks registered on the first). `imported`: the (resolved) file just imported,
    already cached."""
    done = str(imported)
    for module in list(namespace.modules.values()):
        origin = getattr(module, "__file__", None)
        if not origin or origin == done:
            continue
        try:
            file = Path(origin).resolve()
            side_key = (file, file.stat().st_mtime)
        except OSError:
            continue
        if side_key not in _cache:
            _cache[side_key] = PipelineModule(file, module, namespace)


def _import_error(path: Path, exc: BaseException) -> LoadError:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == path:
            line = frame.lineno
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename).resolve() == path:
        line = exc.lineno
    return LoadError(
        f"Importing {path.name} failed: {type(exc).__name__}: {cut_text(str(exc), 1000)}",
        SourceLocation(path, line),
        "fix the error in this module: pipeline modules are imported when the code location loads",
    )
