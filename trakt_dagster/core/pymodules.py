"""Python modules under `pipelines/` that define pipelines in code (flowrun DAGs, trakt workflows, ...).

Candidates are `pipelines/*.py` and `pipelines/<folder>/*.py` (not in folders holding a `pipeline.yaml`,
which are trakt YAML pipelines, nor in ductaflow projects (`flows/` + `config/`); not `__init__.py`,
`_*.py`, `test_*.py`, `conftest.py`). Each front end asks only for the files whose source mentions one of
its markers (e.g. `flowrun`), so modules are imported only when some front end may want them; each file
is imported once per process (cached by path and modification time), in its folder's own
`ModuleNamespace`, and shared by all front ends.
"""

from __future__ import annotations

import io
import sys
import threading
import tokenize
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from trakt_dagster.core.errors import LoadError, SourceLocation, cut_text
from trakt_dagster.core.modules import ModuleNamespace

_SKIP_NAMES = ("__init__.py", "conftest.py")
_cache: dict[tuple[Path, float], PipelineModule] = {}
_namespaces: dict[Path, ModuleNamespace] = {}
_lock = threading.Lock()


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


def pipeline_python_files(root: Path) -> list[Path]:
    """Candidate module files under `<root>/pipelines`, sorted."""
    folder = Path(root) / "pipelines"
    if not folder.is_dir():
        return []
    found = list(folder.glob("*.py"))
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if (sub / "pipeline.yaml").exists() or is_notebook_project(sub) or sub.name.startswith((".", "_")):
            continue
        found.extend(sub.glob("*.py"))
    return sorted(
        p for p in found if p.name not in _SKIP_NAMES and not p.name.startswith(("_", "test_")) and p.is_file()
    )


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


def import_pipeline_modules(root: Path, markers: Iterable[str]) -> list[PipelineModule]:
    """Import (once) every candidate file whose source contains one of `markers`."""
    wanted = tuple(markers)
    results = []
    for path in pipeline_python_files(root):
        try:
            text = read_python_source(path)
            if text is None:
                path.read_bytes()  # raises the OSError to report
        except (OSError, UnicodeDecodeError, SyntaxError) as exc:
            results.append(PipelineModule(path, None, None, _unreadable(path, exc)))
            continue
        if text is not None and any(marker in text for marker in wanted):
            results.append(import_pipeline_module(path))
    return results


def import_pipeline_module(path: Path) -> PipelineModule:
    """Import one pipeline module in its folder's namespace; errors become a `LoadError`."""
    path = Path(path).resolve()
    try:
        key = (path, path.stat().st_mtime)
    except OSError as exc:
        return PipelineModule(path, None, None, _unreadable(path, exc))
    with _lock:
        if key in _cache:
            return _cache[key]
        namespace = _namespaces.setdefault(path.parent, ModuleNamespace(path.parent))
        name = path.stem
        try:
            with namespace.active():
                sys.modules.pop(name, None)
                module = __import__(name)
            found = PipelineModule(path, module, namespace)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of user code is a load error
            found = PipelineModule(path, None, namespace, _import_error(path, exc))
        _cache[key] = found
        return found


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
