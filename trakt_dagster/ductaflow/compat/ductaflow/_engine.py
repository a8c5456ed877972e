"""Execute one flow notebook in its instance folder: the heart of `run_notebook` and of the Dagster adapter.

Order of work (ductaflow's, without its process-wide side effects):

1. resolve the source and the instance folder to absolute paths (nothing depends on the cwd afterwards);
2. decide the project root (explicit > the caller's cwd when the config has none > the config's own,
   resolved against the caller's cwd) and write `<stem>_config.json` before anything runs;
3. read the percent-format `.py` with jupytext **in memory** (no file next to the source) and let papermill
   inject `config = {...}` after the cell tagged `parameters` (at the top when there is none);
4. run it on a fresh kernel whose cwd is the instance folder (the process cwd never changes), saving the
   executed notebook atomically after every cell, while stdout, stderr and log records go to
   `<stem>_execution_output.txt` and to the caller's sink;
5. on success export `<stem>_executed.html` (a failed export is only a warning); decide the status:
   red when execution failed (any cell error, timeout, dead kernel), amber when the log has warning or
   error markers, green otherwise.

The kernel receives exactly the JSON that was saved (tuples as lists, paths as strings, keys verbatim).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from papermill.exceptions import PapermillExecutionError

from ._config import config_json, normalize_config
from ._kernels import Canceller, KernelSession, is_ipykernel, kernel_environment, kernel_language, setup_arguments
from ._logfile import ExecutionLog, LineSink, StreamCapture, atomic_write
from ._status import ScanResult, scan_file

ATOMIC_SCHEME = "ductaflow-atomic://"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_register_lock = threading.Lock()
_registered = False


class FlowExecutionError(PapermillExecutionError):
    """A flow notebook failed: a cell raised, a cell timed out, or the kernel died or could not start.

    Carries the flow, the failing cell (index, source, `In [n]`), the exception name and value, the
    traceback without colour codes, and the paths of the instance's files (`result`).
    """

    def __init__(self, result: NotebookResult, failure: CellFailure) -> None:
        super().__init__(
            failure.cell_index, failure.exec_count, failure.source, failure.ename, failure.evalue, failure.traceback
        )
        self.result = result
        self.failure = failure

    def __str__(self) -> str:
        return self.failure.describe(self.result.source.stem)


@dataclass(frozen=True)
class CellFailure:
    """Where and how a notebook failed."""

    ename: str
    evalue: str
    cell_index: int | None = None
    exec_count: int | None = None
    source: str = ""
    traceback: tuple[str, ...] = ()

    def describe(self, flow: str) -> str:
        """`Flow 'x' failed in cell 3 (In [3]): ValueError: bad` plus the cell's first lines and traceback."""
        where = ""
        if self.cell_index is not None:
            where = f" in cell {self.cell_index + 1}" + (f" (In [{self.exec_count}])" if self.exec_count else "")
        text = f"Flow '{flow}' failed{where}: {self.ename}: {self.evalue}"
        if self.source:
            lines = self.source.splitlines()
            excerpt = "\n".join(f"    {line}" for line in lines[:8]) + ("\n    ..." if len(lines) > 8 else "")
            text += f"\n  cell source:\n{excerpt}"
        if self.traceback:
            text += "\n" + "\n".join(self.traceback)
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "ename": self.ename,
            "evalue": self.evalue,
            "cell_index": self.cell_index,
            "execution_count": self.exec_count,
            "cell_source": self.source,
            "traceback": "\n".join(self.traceback),
        }


@dataclass
class NotebookRequest:
    """One execution of a flow (or build) notebook.

    Example:
        >>> # execute_notebook(NotebookRequest(Path("flows/clean.py"), Path("runs/clean/eu"), {"region": "eu"}))
    """

    source: Path
    execution_dir: Path
    config: Mapping[str, Any] = field(default_factory=dict)
    project_root: Path | None = None
    kernel_name: str | None = None
    timeout: float | None = None
    """papermill's per-cell limit in seconds (None: unlimited)."""
    export_html: bool = True
    output_suffix: str = "_executed"
    pythonpath: Sequence[str] = ()
    sink: LineSink | None = None
    canceller: Canceller | None = None
    start_timeout: float = 120.0
    cwd: Path | None = None
    """What relative paths (source, instance folder, `_project_root`) resolve against (default: the cwd)."""


@dataclass
class NotebookResult:
    """What one execution left behind."""

    source: Path
    execution_dir: Path
    notebook: Path
    config_file: Path
    config: dict[str, Any]
    log_file: Path | None = None
    html: Path | None = None
    status: str = "success"
    """`success` (green), `warning` (amber: markers in the log) or `error` (red: execution failed)."""
    scan: ScanResult | None = None
    failure: CellFailure | None = None
    html_error: str | None = None
    started_at: float = 0.0
    duration_s: float = 0.0
    executed: bool = True

    @property
    def failed(self) -> bool:
        return self.failure is not None


def resolve_project_root(explicit: str | Path | None, config: Mapping[str, Any], cwd: Path) -> Path:
    """The project root a run gets as `_project_root`.

    Example:
        >>> resolve_project_root(None, {"_project_root": "."}, Path("/proj"))
        PosixPath('/proj')
        >>> resolve_project_root("/other", {"_project_root": "."}, Path("/proj"))
        PosixPath('/other')
    """
    if explicit:
        return (cwd / Path(explicit)).resolve()
    if config.get("_project_root") in (None, ""):
        return cwd.resolve()
    return (cwd / Path(str(config["_project_root"]))).resolve()


def _register_atomic_handler() -> None:
    """papermill saves notebooks through its IO registry: paths with our scheme are written atomically."""
    global _registered
    with _register_lock:
        if _registered:
            return
        from papermill.iorw import papermill_io

        class AtomicLocalHandler:
            @staticmethod
            def _path(path: str) -> Path:
                return Path(path[len(ATOMIC_SCHEME) :])

            def read(self, path: str) -> str:
                return self._path(path).read_text(encoding="utf-8")

            def write(self, buf: str, path: str) -> None:
                atomic_write(self._path(path), buf)

            def listdir(self, path: str) -> list[str]:
                return [str(p) for p in self._path(path).iterdir()]

            def pretty_path(self, path: str) -> str:
                return str(self._path(path))

        papermill_io.register(ATOMIC_SCHEME, AtomicLocalHandler())
        _registered = True


def read_percent_notebook(source: Path, kernel_name: str | None) -> Any:
    """The flow as a notebook (jupytext), with a kernelspec and the metadata papermill expects."""
    import jupytext

    nb = jupytext.read(source)
    if "kernelspec" not in nb.metadata:
        from ._kernels import KERNEL_SPEC_NAME

        name = kernel_name or KERNEL_SPEC_NAME
        nb.metadata["kernelspec"] = {"display_name": f"Python 3 ({name})", "language": "python", "name": name}
    nb.metadata.setdefault("papermill", {"default_parameters": {}, "parameters": {}, "environment_variables": {}})
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
        cell.metadata.setdefault("papermill", {})
    return nb


def has_parameters_cell(nb: Any) -> bool:
    return any(cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []) for cell in nb.cells)


def parameterized(nb: Any, config: dict[str, Any], kernel_name: str | None) -> Any:
    """The notebook with papermill's `# Parameters` cell (tagged `injected-parameters`) holding
    `config = {...}`, right after the cell tagged `parameters`, or at the top when there is none."""
    import copy

    import nbformat
    from papermill.translators import translate_parameters

    from ._kernels import KERNEL_SPEC_NAME

    nb = copy.deepcopy(nb)
    source = translate_parameters(
        kernel_name or KERNEL_SPEC_NAME, kernel_language(kernel_name), {"config": config}, "Parameters"
    )
    cell = nbformat.v4.new_code_cell(source=source)
    cell.metadata["tags"] = ["injected-parameters"]
    cell.metadata["papermill"] = {}
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    injected = next((i for i, t in enumerate(tags) if "injected-parameters" in t), None)
    params = next((i for i, t in enumerate(tags) if "parameters" in t), None)
    if injected is not None:
        nb.cells[injected] = cell
    else:
        nb.cells.insert(0 if params is None else params + 1, cell)
    nb.metadata.papermill["parameters"] = {"config": config}
    return nb


@dataclass
class _Prepared:
    request: NotebookRequest
    cwd: Path
    source: Path
    execution_dir: Path
    config: dict[str, Any]
    result: NotebookResult


def _prepare(request: NotebookRequest) -> _Prepared:
    cwd = Path(request.cwd or Path.cwd()).resolve()
    source = (cwd / Path(request.source)).resolve()
    if not source.is_file():
        raise FileNotFoundError(f"Notebook file not found: {source}")
    execution_dir = (cwd / Path(request.execution_dir)).resolve()
    execution_dir.mkdir(parents=True, exist_ok=True)
    root = resolve_project_root(request.project_root, request.config, cwd)
    config = normalize_config({**dict(request.config), "_project_root": str(root)})
    stem = source.stem
    result = NotebookResult(
        source=source,
        execution_dir=execution_dir,
        notebook=execution_dir / f"{stem}{request.output_suffix}.ipynb",
        config_file=execution_dir / f"{stem}_config.json",
        config=config,
        started_at=time.time(),
    )
    atomic_write(result.config_file, config_json(config))
    return _Prepared(request, cwd, source, execution_dir, config, result)


def prepare_notebook(request: NotebookRequest) -> NotebookResult:
    """Set up an instance folder without executing: `<stem>_config.json` and an unexecuted
    `<stem>_executed.ipynb` with the config injected (keys and values exactly as saved).

    Example:
        >>> # prepare_notebook(NotebookRequest(Path("flows/clean.py"), Path("runs/debug/eu"), {"region": "eu"}))
    """
    import nbformat

    prepared = _prepare(request)
    result = prepared.result
    result.executed = False
    nb = read_percent_notebook(prepared.source, request.kernel_name)
    nb = parameterized(nb, prepared.config, request.kernel_name)
    atomic_write(result.notebook, nbformat.writes(nb))
    result.duration_s = time.time() - result.started_at
    return result


def _failure_from_papermill(error: PapermillExecutionError) -> CellFailure:
    return CellFailure(
        ename=str(error.ename),
        evalue=str(error.evalue),
        cell_index=error.cell_index,
        exec_count=error.exec_count,
        source=str(error.source or ""),
        traceback=tuple(_ANSI.sub("", line) for part in (error.traceback or ()) for line in str(part).splitlines()),
    )


def _failure_from_exception(nb: Any, error: BaseException, cancelled: bool, index: int | None) -> CellFailure:
    cells = list(getattr(nb, "cells", ()) or ())
    cell = cells[index] if index is not None and index < len(cells) else None
    name = type(error).__name__
    value = str(error).strip() or name
    if cancelled:
        name, value = "ExecutionCancelled", "the run was stopped (timeout or termination) and its kernel killed"
    return CellFailure(
        ename=name,
        evalue=_ANSI.sub("", value),
        cell_index=index,
        exec_count=cell.get("execution_count") if cell is not None else None,
        source=str(cell.get("source", "")) if cell is not None else "",
    )


def execute_notebook(request: NotebookRequest) -> NotebookResult:
    """Execute a flow notebook in its instance folder; raises `FlowExecutionError` when it fails.

    Example:
        >>> # result = execute_notebook(NotebookRequest(Path("flows/clean.py"), Path("runs/clean/eu"), {}))
        >>> # result.status, result.notebook
    """
    from papermill.engines import papermill_engines
    from papermill.execute import raise_for_execution_errors

    _register_atomic_handler()
    prepared = _prepare(request)
    result = prepared.result
    stem = prepared.source.stem
    result.log_file = prepared.execution_dir / f"{stem}_execution_output.txt"
    log = ExecutionLog(result.log_file, f"flow:{stem}", request.sink)
    nb: Any = None
    failure: CellFailure | None = None
    try:
        log.line("INFO", "🚀 Execution started")
        log.line("INFO", f"📁 Working directory: {prepared.execution_dir}")
        log.line("INFO", f"📋 Config: {result.config_file.name}")
        log.line("INFO", "-" * 60)
        nb = read_percent_notebook(prepared.source, request.kernel_name)
        if not has_parameters_cell(nb):
            log.line("WARNING", "The notebook has no cell tagged 'parameters': the config is injected at the top")
        nb = parameterized(nb, prepared.config, request.kernel_name)
        nb.metadata.papermill["input_path"] = str(prepared.source)
        nb.metadata.papermill["output_path"] = str(result.notebook)
        out, err = StreamCapture(log, "stdout"), StreamCapture(log, "stderr")
        target = ATOMIC_SCHEME + str(result.notebook)
        env = kernel_environment(list(request.pythonpath))
        timeout = None if request.timeout is None else max(1, round(float(request.timeout)))
        started: dict[str, int] = {}

        def on_cell_start(cell: Any = None, cell_index: int | None = None, **_: Any) -> None:
            if cell_index is not None:
                started["index"] = cell_index

        with KernelSession(request.kernel_name, env, request.canceller) as kernels:
            try:
                nb = papermill_engines.execute_notebook_with_engine(
                    None,
                    nb,
                    input_path=str(prepared.source),
                    output_path=target,
                    kernel_name=kernels.name,
                    progress_bar=False,
                    log_output=False,
                    start_timeout=request.start_timeout,
                    stdout_file=out,
                    stderr_file=err,
                    execution_timeout=timeout,
                    kernel_manager_class=kernels.manager_class,
                    shutdown_kernel="immediate",
                    extra_arguments=setup_arguments() if is_ipykernel(request.kernel_name) else [],
                    resources={"metadata": {"path": str(prepared.execution_dir)}},
                    on_cell_start=on_cell_start,
                )
                raise_for_execution_errors(nb, target)
            except PapermillExecutionError as exc:
                failure = _failure_from_papermill(exc)
            except Exception as exc:  # noqa: BLE001 - timeouts, dead or missing kernels: all are failures
                cancelled = request.canceller is not None and request.canceller.cancelled
                failure = _failure_from_exception(nb, exc, cancelled, started.get("index"))
            finally:
                out.close()
                err.close()
        if failure is None:
            log.line("INFO", "-" * 60)
            log.line("INFO", "✅ Execution completed")
        else:
            log.line("ERROR", f"❌ Execution failed: {failure.describe(stem)}")
    except Exception as exc:  # noqa: BLE001 - a notebook jupytext cannot read, a bad parameter, ...
        if failure is None:
            failure = CellFailure(ename=type(exc).__name__, evalue=str(exc))
            log.line("ERROR", f"❌ Execution failed: {failure.describe(stem)}")
    finally:
        log.close()
        result.duration_s = time.time() - result.started_at
    result.failure = failure
    if failure is not None:
        result.status = "error"
        raise FlowExecutionError(result, failure)
    result.scan = scan_file(result.log_file)
    result.status = "warning" if (result.scan.warnings or result.scan.errors) else "success"
    if request.export_html:
        html = result.notebook.with_suffix(".html")
        try:
            convert_notebook_to_html(result.notebook, html)
            result.html = html
        except Exception as exc:  # noqa: BLE001 - an HTML export never fails a run
            result.html_error = f"{type(exc).__name__}: {exc}"
            if request.sink is not None:
                request.sink("warning", f"⚠️ HTML export failed for {result.notebook.name}: {result.html_error}")
    return result


def convert_notebook_to_html(notebook_path: str | Path, html_path: str | Path, template: str = "lab") -> None:
    """Export an executed notebook to self-contained HTML with nbconvert (written atomically).

    Raises RuntimeError with a hint when the template is missing (nbconvert's `lab` needs its templates
    installed; `classic` is the other common choice).
    """
    from nbconvert import HTMLExporter

    try:
        body, _ = HTMLExporter(template_name=template).from_filename(str(notebook_path))
    except Exception as exc:
        text = str(exc).lower()
        if "template" in text or "not found" in text or "sub-directory" in text:
            raise RuntimeError(
                f"HTML conversion failed: nbconvert template '{template}' not found ({exc}). "
                "Update nbconvert (pip install -U nbconvert) or pass template='classic'."
            ) from exc
        raise RuntimeError(f"HTML conversion failed: {exc}") from exc
    atomic_write(Path(html_path), body)
