"""Progress of a run: one line per task start and end, in the Dagster run log and on the command line.

The bridge (`core.execution`) writes `[task] started` and `[task] succeeded in 1.2 s (3/8 done)` as INFO
lines to the run log, so a pipeline-granularity run (one op) still shows where it is, and hands the same
`Progress` to the `trakt_dagster.progress` logger. Commands that run pipelines print that logger with
`print_progress()`: one live line on a terminal, plain lines otherwise (CI logs, pipes).

Example:
    >>> Progress("sales", "clean", "succeeded", done=3, total=8, seconds=1.234).line()
    '[clean] succeeded in 1.2 s (3/8 done)'
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

PROGRESS_LOG = logging.getLogger("trakt_dagster.progress")
PROGRESS_LOG.setLevel(logging.INFO)
PROGRESS_LOG.propagate = False


def format_seconds(seconds: float) -> str:
    """A duration as people read it: `0.25 s`, `1.2 s`, `2 min 05 s`.

    Example:
        >>> format_seconds(0.254), format_seconds(1.25), format_seconds(125)
        ('0.25 s', '1.2 s', '2 min 05 s')
    """
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


@dataclass(frozen=True)
class Progress:
    """One task's start or end within a run: `state` is started, succeeded, failed or skipped; `done` of
    `total` tasks of the run have ended (counting this one)."""

    pipeline: str
    task: str
    state: str
    done: int
    total: int
    seconds: float | None = None

    def line(self) -> str:
        """The run-log line, e.g. `[fetch-orders] succeeded in 1.2 s (3/8 done)`."""
        if self.state == "started":
            return f"[{self.task}] started"
        took = ""
        if self.seconds is not None:
            took = (
                f" in {format_seconds(self.seconds)}"
                if self.state == "succeeded"
                else (f" after {format_seconds(self.seconds)}")
            )
        return f"[{self.task}] {self.state}{took} ({self.done}/{self.total} done)"


class ProgressTracker:
    """Counts a run's task ends and turns runner events into `Progress` lines.

    Example:
        >>> lines = []
        >>> tracker = ProgressTracker("sales", total=2, log=lines.append)
        >>> tracker.started("a"); tracker.ended("a", "succeeded", 0.5)
        >>> lines
        ['[a] started', '[a] succeeded in 0.50 s (1/2 done)']
    """

    def __init__(self, pipeline: str, total: int, log: object) -> None:
        self.pipeline = pipeline
        self.total = total
        self.done = 0
        self.log = log

    def started(self, task: str) -> None:
        self._report(Progress(self.pipeline, task, "started", self.done, self.total))

    def ended(self, task: str, state: str, seconds: float | None = None) -> None:
        self.done += 1
        self._report(Progress(self.pipeline, task, state, self.done, max(self.total, self.done), seconds))

    def _report(self, progress: Progress) -> None:
        self.log(progress.line())  # type: ignore[operator]
        if PROGRESS_LOG.handlers:
            PROGRESS_LOG.info(progress.line(), extra={"progress": progress})


class ProgressPrinter(logging.Handler):
    """Prints `Progress` records: a live line rewritten in place on a terminal, plain lines otherwise.
    On a terminal, failures and skips stay on screen as lines of their own."""

    def __init__(self, stream: TextIO, live: bool) -> None:
        super().__init__(logging.INFO)
        self.stream = stream
        self.live = live
        self.pending = False

    def emit(self, record: logging.LogRecord) -> None:
        progress: Progress | None = getattr(record, "progress", None)
        if progress is None:
            return
        text = f"{progress.pipeline} {progress.line()}"
        try:
            if not self.live:
                self.stream.write(text + "\n")
            elif progress.state in ("failed", "skipped"):
                self.stream.write("\r\x1b[K" + text + "\n")
                self.pending = False
            else:
                self.stream.write("\r\x1b[K" + text)
                self.pending = True
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe must not fail the run
            pass

    def finish(self) -> None:
        """End the live line (so what follows starts on a line of its own)."""
        if self.pending:
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass
            self.pending = False


@contextmanager
def print_progress(stream: TextIO | None = None, live: bool | None = None) -> Iterator[ProgressPrinter]:
    """Print the progress of runs started inside the block (default: to stderr, live when it is a terminal).

    Example:
        >>> # with print_progress():
        >>> #     launch_job(defs, graph, runs_dir="runs")
    """
    stream = stream or sys.stderr
    live = stream.isatty() if live is None else live
    printer = ProgressPrinter(stream, live)
    PROGRESS_LOG.addHandler(printer)
    try:
        yield printer
    finally:
        PROGRESS_LOG.removeHandler(printer)
        printer.finish()
