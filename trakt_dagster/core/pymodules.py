"""Python modules under `pipelines/` that define pipelines in code (flowrun DAGs, trakt workflows, ...).

Candidates are `pipelines/*.py` and `pipelines/<folder>/*.py` (not in folders holding a `pipeline.yaml`,
which are trakt YAML pipelines; not `__init__.py`, `_*.py`, `test_*.py`, `conftest.py`). Each front end
asks only for the files whose source mentions one of its markers (e.g. `flowrun`), so modules are
imported only when some front end may want them; each file is imported once per process (cached by
path and modification time), in its folder's own `ModuleNamespace`, and shared by all front ends.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from trakt_dagster.core.errors import LoadError, SourceLocation
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
        if (sub / "pipeline.yaml").exists() or sub.name.startswith((".", "_")):
            continue
        found.extend(sub.glob("*.py"))
    return sorted(
        p for p in found if p.name not in _SKIP_NAMES and not p.name.startswith(("_", "test_")) and p.is_file()
    )


def import_pipeline_modules(root: Path, markers: Iterable[str]) -> list[PipelineModule]:
    """Import (once) every candidate file whose source contains one of `markers`."""
    wanted = tuple(markers)
    results = []
    for path in pipeline_python_files(root):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            results.append(
                PipelineModule(path, None, None, LoadError(f"Cannot read {path}: {exc}", SourceLocation(path)))
            )
            continue
        if any(marker in text for marker in wanted):
            results.append(import_pipeline_module(path))
    return results


def import_pipeline_module(path: Path) -> PipelineModule:
    """Import one pipeline module in its folder's namespace; errors become a `LoadError`."""
    path = Path(path).resolve()
    key = (path, path.stat().st_mtime)
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
        f"Importing {path.name} failed: {type(exc).__name__}: {exc}",
        SourceLocation(path, line),
        "fix the error in this module: pipeline modules are imported when the code location loads",
    )
