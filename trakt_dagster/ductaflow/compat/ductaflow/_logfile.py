"""`<flow>_execution_output.txt`: the runner's own lines plus everything the kernel printed or logged.

Every line is in the log format `2026-01-01 10:00:00 - <name> - <LEVEL> - <message>`. The runner's lines and
the kernel's plain output are written under the run's logger name (`flow:<stem>`; stdout as INFO, stderr
as WARNING); log records the kernel formatted itself (see `_kernel_setup.py`) keep their own name and
level. Each line is flushed at once, so a killed run keeps what was written; a sink callback receives
every line as `(level, text)` as it arrives (the Dagster log).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from ._status import LOG_LINE

LineSink = Callable[[str, str], None]
"""`sink(level, text)` with level one of debug, info, warning, error."""


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write a file under its own name in a hidden folder beside it, then rename it into place.

    Nothing half-written ever carries the file's name or suffix in its folder, and the file gets the mode an
    ordinary write gives (the umask applies), as trakt-dagster's own atomic writes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=f"-{os.getpid()}-nb.tmp", dir=path.parent))
    try:
        tmp = staging / path.name
        with open(tmp, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


class ExecutionLog:
    """The execution log of one run (mode `w`: a re-run starts it afresh).

    Example:
        >>> import tempfile
        >>> log = ExecutionLog(Path(tempfile.mkdtemp()) / "x_execution_output.txt", "flow:x")
        >>> log.line("INFO", "🚀 Execution started"); log.close()
        >>> log.path.read_text().split(" - ", 1)[1]
        'flow:x - INFO - 🚀 Execution started\\n'
    """

    def __init__(self, path: Path, name: str, sink: LineSink | None = None) -> None:
        self.path = Path(path)
        self.name = name
        self.sink = sink
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: TextIO | None = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()

    def line(self, level: str, text: str, *, name: str | None = None) -> None:
        """One line (or several, for a multi-line text) under the run's name and `level`."""
        for part in text.splitlines() or [""]:
            self._write(f"{stamp()} - {name or self.name} - {level.upper()} - {part}")
        self._notify(level, text)

    def raw(self, text: str, level: str, summary: str) -> None:
        """A line already in the log format (a record the kernel formatted); `summary` goes to the sink."""
        self._write(text)
        self._notify(level, summary)

    def _write(self, text: str) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.write(text + "\n")
                self._handle.flush()

    def _notify(self, level: str, text: str) -> None:
        if self.sink is not None:
            with contextlib.suppress(Exception):  # a broken sink never stops the run
                self.sink(level.lower(), text)

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


class StreamCapture:
    """A file-like object papermill writes one kernel stream to (`stdout_file` / `stderr_file`).

    Text is split into lines (partial lines wait for their end; `\\r` keeps the last rewrite of a line);
    lines the kernel formatted as log records go to the log as they are, with their level.
    """

    def __init__(self, log: ExecutionLog, stream: str) -> None:
        self.log = log
        self.level = "INFO" if stream == "stdout" else "WARNING"
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        *complete, self._pending = self._pending.split("\n")
        for line in complete:
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        """Lines are written as soon as they are complete; `close()` writes a last partial line."""

    def close(self) -> None:
        if self._pending:
            self._emit(self._pending)
            self._pending = ""

    def _emit(self, line: str) -> None:
        line = line.rstrip("\r").rsplit("\r", 1)[-1]
        found = LOG_LINE.match(line)
        if found:
            self.log.raw(line, found.group("level"), f"{found.group('name')}: {found.group('message')}")
        else:
            self.log.line(self.level, line)
