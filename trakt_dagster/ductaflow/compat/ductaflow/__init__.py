"""A `ductaflow`-compatible module, provided by trakt-dagster to the flows it runs.

Flows, builds and conductors written for ductaflow import it unchanged (`from ductaflow import
unpack_config, run_notebook, ...`). trakt-dagster puts this package on the kernel's `PYTHONPATH` only when
no real `ductaflow` is installed and the project has no `ductaflow.py` of its own (those win).

Differences from the original, on purpose: the process working directory is never changed (concurrent runs
in threads are safe); the temporary notebook is never written next to the source; kernel output and log
records are captured in `<flow>_execution_output.txt`; the status scan judges the message of each log line;
configs are injected exactly as they are saved; `debug_flow` prepares a folder whose saved config runs
normally later; outside IPython a flow is a script (CLI mode) with its default config.

Importing it is cheap: papermill, jupytext and nbconvert load only when a notebook is run or exported.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from ._cli import is_notebook_execution, load_cli_config, setup_conductor_logging, setup_execution_logging
from ._config import display_config_summary, generate_config_markdown, unpack_config
from ._report import generate_status_report
from ._status import analyze_execution_logs

__version__ = "0.3.0"
TRAKT_DAGSTER_COMPAT = True
"""Marks this module as trakt-dagster's compatible implementation (the original has no such name)."""

__all__ = [
    "analyze_execution_logs",
    "convert_notebook_to_html",
    "debug_flow",
    "display_config_summary",
    "generate_config_markdown",
    "generate_status_report",
    "is_notebook_execution",
    "load_cli_config",
    "run_notebook",
    "run_step_flow",
    "setup_conductor_logging",
    "setup_execution_logging",
    "unpack_config",
]


def _pythonpath() -> list[str]:
    """Kernels started from a kernel keep the same import path (this package included)."""
    import os

    return [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]


def _echo_notable(level: str, text: str) -> None:
    """Echo a nested run's errors and marked lines (so a build's own log shows its flows' warnings)."""
    from ._status import classify_line

    if level == "error" or classify_line(text.split(": ", 1)[-1]) or classify_line(text):
        print(text)


def run_notebook(
    notebook_file: str | Path,
    notebooks_dir: str | Path | None = None,
    config: dict[str, Any] | None = None,
    output_suffix: str = "_executed",
    kernel_name: str | None = None,
    timeout: int | None = None,
    export_html: bool = True,
    execution_dir: str | Path | None = None,
    project_root: str | Path | None = None,
    no_execute: bool = False,
) -> Path:
    """Execute a percent-format `.py` (or `.ipynb`) notebook with `config`, in `execution_dir`.

    Writes `<stem>_config.json` first, then `<stem><output_suffix>.ipynb` (saved after every cell),
    `<stem>_execution_output.txt` and, on success with `export_html`, `<stem>_executed.html`. Relative paths
    are taken from the current folder; the kernel's working folder is `execution_dir` (default: the current
    folder). `kernel_name=None` runs a kernel of this Python environment; `timeout` is per cell.
    `no_execute=True` (or `config["_no_execute"]`) only prepares the folder. Returns the notebook's path;
    raises `FlowExecutionError` (a papermill `PapermillExecutionError`) when the notebook fails.

    Example:
        >>> # run_notebook("flows/clean.py", config={"region": "eu"}, execution_dir="runs/clean/eu")
    """
    from ._engine import NotebookRequest, execute_notebook, prepare_notebook

    source = Path(notebooks_dir) / notebook_file if notebooks_dir else Path(notebook_file)
    config = dict(config or {})
    skip = bool(no_execute or config.pop("_no_execute", False))
    request = NotebookRequest(
        source=source,
        execution_dir=Path(execution_dir) if execution_dir else Path.cwd(),
        config=config,
        project_root=Path(project_root) if project_root else None,
        kernel_name=kernel_name,
        timeout=timeout,
        export_html=export_html,
        output_suffix=output_suffix,
        pythonpath=_pythonpath(),
        sink=_echo_notable,
    )
    if skip:
        result = prepare_notebook(request)
        print(f"🔍 Prepared {result.notebook} (not executed); config in {result.config_file.name}")
        return result.notebook
    result = execute_notebook(request)
    print(f"✓ Executed {result.source.name} in {result.duration_s:.1f}s → {result.execution_dir}")
    return result.notebook


def run_step_flow(
    notebook_path: str | Path, step_name: str, instance_name: str, config: dict[str, Any], suffix: str = ""
) -> Path:
    """Run a flow in `runs/<step_name>/<instance_name><suffix>` below the current folder.

    Example:
        >>> # run_step_flow("flows/clean.py", "clean", "eu", {"region": "eu"})
    """
    instance = f"{instance_name}{suffix}"
    folder = Path.cwd() / "runs" / step_name / instance
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(notebook_path).stem
    print(f"🚀 Starting {stem} | Instance: {instance}")
    started = time.time()
    try:
        result = run_notebook(
            notebook_path, config=config, execution_dir=folder, no_execute=bool(config.get("_no_execute", False))
        )
    except Exception as exc:
        print(f"❌ Failed {stem} | Instance: {instance} | Error: {exc}")
        raise
    print(f"✅ Completed {stem} | Instance: {instance} | Time: {time.time() - started:.1f}s")
    return result


def launch_configuration(flow_path: str | Path, execution_dir: Path, *, pythonpath: list[str] | None = None) -> dict:
    """A VS Code `launch.json` that runs the flow as a script in `execution_dir` with its saved config."""
    flow = Path(flow_path)
    program = str(flow) if flow.is_absolute() else "${workspaceFolder}/" + flow.as_posix()
    folder = str(execution_dir) if execution_dir.is_absolute() else "${workspaceFolder}/" + execution_dir.as_posix()
    entry: dict[str, Any] = {
        "name": f"Debug {flow.stem} - {execution_dir.name}",
        "type": "debugpy",
        "request": "launch",
        "program": program,
        "args": ["--config", f"{flow.stem}_config.json"],
        "cwd": folder,
        "console": "integratedTerminal",
        "justMyCode": False,
    }
    if pythonpath:
        import os

        entry["env"] = {"PYTHONPATH": os.pathsep.join(pythonpath)}
    return {"version": "0.2.0", "configurations": [entry]}


def debug_flow(
    flow_path: str | Path, execution_dir: str | Path, config: dict[str, Any] | None = None, force: bool = False
) -> Path:
    """Prepare a folder for debugging a flow without running it: its config, an unexecuted notebook with
    the config injected, and `launch.json` (also printed) to step through it as a script in an IDE.

    An existing folder is reused (its saved config when `config` is None) or, with `force`, recreated. The
    saved config does not disable later runs: running the flow from it executes normally.

    Example:
        >>> # debug_flow("flows/clean.py", "runs/debug/eu", {"region": "eu"})
    """
    from ._engine import NotebookRequest, prepare_notebook

    folder = Path(execution_dir)
    stem = Path(flow_path).stem
    if folder.exists() and force:
        shutil.rmtree(folder)
    elif folder.exists() and config is None:
        for candidate in (
            folder / f"{stem}_config.json",
            folder / "config.json",
            folder / f"{folder.name}_config.json",
        ):
            if candidate.is_file():
                config = json.loads(candidate.read_text(encoding="utf-8"))
                print(f"📋 Using the saved config {candidate}")
                break
        else:
            raise ValueError(
                f"Directory {folder} exists but no config was given and none is saved there "
                f"({stem}_config.json, config.json); pass config= or force=True."
            )
    if config is None:
        raise ValueError("No config given and none could be loaded from an earlier run.")
    config = {k: v for k, v in config.items() if k != "_no_execute"}
    result = prepare_notebook(NotebookRequest(Path(flow_path), folder, config, pythonpath=_pythonpath()))
    launch = launch_configuration(flow_path, folder, pythonpath=_pythonpath())
    text = json.dumps(launch, indent=2)
    (result.execution_dir / "launch.json").write_text(text + "\n", encoding="utf-8")
    print(f"🎯 Debug folder ready: {result.execution_dir}")
    print(f"   config: {result.config_file.name}, notebook: {result.notebook.name}, launch.json:")
    print(text)
    return result.execution_dir


def convert_notebook_to_html(notebook_path: str | Path, html_path: str | Path, template: str = "lab") -> None:
    """Export a notebook to HTML with nbconvert (see `_engine.convert_notebook_to_html`)."""
    from ._engine import convert_notebook_to_html as convert

    convert(notebook_path, html_path, template)
