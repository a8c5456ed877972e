"""Flows run as plain scripts (CLI mode) and the logging helpers flows and conductors call."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

# The format the status scan understands (it judges the message after this prefix).
FILE_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def is_notebook_execution() -> bool:
    """True inside IPython/Jupyter (papermill included); False when the flow runs as a plain script.

    Example:
        >>> is_notebook_execution()  # a doctest runs outside IPython
        False
    """
    ipython = sys.modules.get("IPython")  # not imported: certainly not inside IPython
    return ipython is not None and ipython.get_ipython() is not None


def setup_execution_logging(
    log_file_path: str | Path,
    logger_name: str = "ductaflow",
    level: int = logging.INFO,
    propagate: bool = False,
    *,
    mode: str = "w",
) -> logging.Logger:
    """A logger writing to `log_file_path` (full format) and to the console (message only).

    Handlers of that logger are replaced; `propagate` decides whether records also reach parent loggers.

    Example:
        >>> import tempfile
        >>> log = setup_execution_logging(Path(tempfile.mkdtemp()) / "x_execution_output.txt", "flow:x")
        >>> log.name
        'flow:x'
    """
    path = Path(log_file_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(logger_name)
    logger.setLevel(level)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = propagate
    file_handler = logging.FileHandler(path, mode=mode, encoding="utf-8")
    file_handler.setLevel(level)
    file_handler.setFormatter(logging.Formatter(FILE_FORMAT, DATE_FORMAT))
    console = logging.StreamHandler()
    console.setLevel(level)
    console.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(file_handler)
    logger.addHandler(console)
    return logger


def load_cli_config(default_config_path: str, description: str = "Run ductaflow analysis") -> dict[str, Any]:
    """A flow's configuration when it runs as a script: `python flows/x.py [--config F] [--output-dir D]
    [--no-execute]`.

    The config comes from `--config` (default `default_config_path`); `_project_root` is the current folder
    unless the config sets it. With `--output-dir` the script changes into that folder (created if needed) and
    saves `<flow>_config.json` there; the log `<flow>_execution_output.txt` is written in the folder the flow
    runs in (the output folder when given). `--no-execute` only sets `_no_execute` in the config.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", default=default_config_path, help=f"JSON config (default: {default_config_path})")
    parser.add_argument("--output-dir", default=None, help="run in this folder (created if needed)")
    parser.add_argument("--no-execute", action="store_true", help="only set _no_execute in the config")
    args = parser.parse_args()
    config_path = Path(args.config).resolve()
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    flow = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "flow"
    config.setdefault("_project_root", str(Path.cwd().resolve()))
    if args.no_execute:
        config["_no_execute"] = True
    if args.output_dir:
        output_dir = Path(args.output_dir).resolve()
        output_dir.mkdir(parents=True, exist_ok=True)
        os.chdir(output_dir)  # a script run is its own process: changing its cwd is what the user asked for
        with open(f"{flow}_config.json", "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=2, default=str)
    logger = setup_execution_logging(Path.cwd() / f"{flow}_execution_output.txt", "ductaflow")
    logger.info(f"📊 Loaded config from {config_path}")
    logger.info(f"📁 Project context: {config['_project_root']}")
    logger.info(f"🚀 Running as a script in {Path.cwd()}")
    if args.no_execute:
        logger.info("🔍 --no-execute: _no_execute is set in the config")
    return config


def setup_conductor_logging(
    session_outputs_dir: str | Path = "session_outputs",
    logger_name: str = "conductor",
    level: int = logging.INFO,
) -> logging.Logger:
    """A conductor's daily log `<dir>/conductor_YYYYMMDD.txt` (appended to, never truncated).

    Records logged with `extra={"save_state": True}` also save the conductor's source as an unexecuted
    notebook (plus HTML) named `<stem>_<YYYYmmdd_HHMMSS>[_<label>].ipynb` in the same folder.
    """
    folder = Path(session_outputs_dir)
    folder.mkdir(parents=True, exist_ok=True)
    logger = setup_execution_logging(
        folder / f"conductor_{datetime.now():%Y%m%d}.txt", logger_name, level, propagate=False, mode="a"
    )

    class SaveStateHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if getattr(record, "save_state", False):
                label = getattr(record, "label", None) or record.getMessage()[:30]
                save_conductor_checkpoint(session_outputs_dir=folder, label=label)

    logger.addHandler(SaveStateHandler())
    return logger


def _calling_script() -> Path | None:
    frame = sys._getframe(1)
    here = Path(__file__).resolve().parent
    while frame is not None:
        name = frame.f_globals.get("__file__")
        if name and name.endswith(".py") and Path(name).resolve().parent != here and "logging" not in name:
            return Path(name)
        frame = frame.f_back
    candidate = Path.cwd() / "conductor.py"
    return candidate if candidate.is_file() else None


def save_conductor_checkpoint(
    notebook_path: str | Path | None = None,
    session_outputs_dir: str | Path = "session_outputs",
    label: str | None = None,
) -> Path | None:
    """Save a conductor's source as an unexecuted `.ipynb` (+ HTML); returns its path, or None on failure."""
    try:
        import jupytext

        from ._engine import convert_notebook_to_html

        source = Path(notebook_path) if notebook_path else _calling_script()
        if source is None:
            return None
        folder = Path(session_outputs_dir)
        folder.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^\w\-]", "_", str(label))[:30] if label else ""
        target = folder / f"{source.stem}_{datetime.now():%Y%m%d_%H%M%S}{'_' + safe if safe else ''}.ipynb"
        jupytext.write(jupytext.read(source), target)
        convert_notebook_to_html(target, target.with_suffix(".html"))
        return target
    except Exception:  # noqa: BLE001 - a checkpoint never breaks the conductor
        return None
