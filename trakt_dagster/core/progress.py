"""Progress of a run: one line per task start and end, in the Dagster run log and on the command line.

The bridge (`core.execution`) writes `[task] started` and `[task] succeeded in 1.2 s (3/8 done)` as INFO
lines to the run log, so a pipeline-granularity run (one op) still shows where it is, and hands the same
`Progress` to the `trakt_dagster.progress` logger. Commands that run pipelines print that logger with
`print_progress()`: one live line on a terminal (`LiveLine`, with the command's other output scrolling above
it), plain lines otherwise (CI logs, pipes). `trakt-dagster run` and every tool's own `run` command use it.

Example:
    >>> Progress("sales", "clean", "succeeded", done=3, total=8, seconds=1.234).line()
    '[clean] succeeded in 1.2 s (3/8 done)'
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from typing import Any, TextIO

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
    """Counts a run's task ends and turns runner events into `Progress` lines. `names` gives the name a line
    shows for a task key that is not the name the user wrote (`TaskGraph.labels`).

    Example:
        >>> lines = []
        >>> tracker = ProgressTracker("sales", total=2, log=lines.append, names={"output:o": "output o"})
        >>> tracker.started("a"); tracker.ended("a", "succeeded", 0.5); tracker.started("output:o")
        >>> lines
        ['[a] started', '[a] succeeded in 0.50 s (1/2 done)', '[output o] started']
    """

    def __init__(self, pipeline: str, total: int, log: object, names: Mapping[str, str] | None = None) -> None:
        self.pipeline = pipeline
        self.total = total
        self.done = 0
        self.log = log
        self.names = names or {}

    def started(self, task: str) -> None:
        self._report(Progress(self.pipeline, self.names.get(task, task), "started", self.done, self.total))

    def ended(self, task: str, state: str, seconds: float | None = None) -> None:
        self.done += 1
        name = self.names.get(task, task)
        self._report(Progress(self.pipeline, name, state, self.done, max(self.total, self.done), seconds))

    def _report(self, progress: Progress) -> None:
        self.log(progress.line())  # type: ignore[operator]
        if PROGRESS_LOG.handlers:
            PROGRESS_LOG.info(progress.line(), extra={"progress": progress})


class LiveLine:
    r"""One status line at the bottom of a terminal, rewritten in place, with the program's other output
    (`write_above`) scrolling above it: the line is erased before that output and drawn again after it.

    Example:
        >>> import io
        >>> screen = io.StringIO()
        >>> live = LiveLine(screen)
        >>> live.show("sales [a] started"); _ = live.write_above(screen, "a log line\n"); live.close(keep=False)
        >>> screen.getvalue().split("\r\x1b[K")
        ['', 'sales [a] started', 'a log line\n', 'sales [a] started', '']
    """

    ERASE = "\r\x1b[K"

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.text = ""
        self.drawn = False
        self.partial = False  # someone wrote part of a line: draw again only after its newline
        self.lock = threading.RLock()

    def show(self, text: str) -> None:
        """Show `text` as the live line."""
        with self.lock:
            self.text = text
            if not self.partial:
                self._draw()

    def line(self, text: str) -> None:
        """Print `text` as a line of its own that stays; the live line is empty until the next `show`."""
        with self.lock:
            self.stream.write(("\n" if self.partial else self.ERASE) + text + "\n")
            self.stream.flush()
            self.text, self.drawn, self.partial = "", False, False

    def write_above(self, target: TextIO, data: str) -> int:
        """Write another writer's `data` to `target` (the same terminal) above the live line."""
        with self.lock:
            if self.drawn:
                self.stream.write(self.ERASE)
                self.stream.flush()
                self.drawn = False
            written = target.write(data)
            self.partial = not data.endswith("\n")
            if not self.partial:
                target.flush()
                self._draw()
            return written

    def close(self, keep: bool) -> None:
        """End the live line: keep it on screen as a line of its own, or erase it."""
        with self.lock:
            if self.drawn:
                self.stream.write("\n" if keep else self.ERASE)
                self.stream.flush()
            self.text, self.drawn = "", False

    def _draw(self) -> None:
        if self.text:
            self.stream.write(self.ERASE + self.text)
            self.stream.flush()
            self.drawn = True


class OutputAbove:
    """`sys.stdout` / `sys.stderr` while a live line is shown: what the program writes goes above the line."""

    def __init__(self, stream: TextIO, live: LiveLine) -> None:
        self._stream = stream
        self._live = live

    def write(self, data: str) -> int:
        if not data:
            return self._stream.write(data)
        return self._live.write_above(self._stream, data)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class StderrHandler(logging.StreamHandler):
    """A log handler writing to whatever `sys.stderr` is when a record comes, so that its lines go above a
    live progress line (a plain `StreamHandler(sys.stderr)` keeps the stream it was made with).

    Example:
        >>> handler = StderrHandler(); handler.stream is sys.stderr
        True
    """

    def __init__(self, level: int = logging.NOTSET) -> None:
        logging.Handler.__init__(self, level)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr


class ProgressPrinter(logging.Handler):
    """Prints `Progress` records: a live line rewritten in place on a terminal, plain lines otherwise.
    On a terminal, failures and skips stay on screen as lines of their own (unless `transient`: then
    everything is on the live line, which is erased at the end)."""

    def __init__(self, stream: TextIO, live: bool, transient: bool = False) -> None:
        super().__init__(logging.INFO)
        self.stream = stream
        self.live = live
        self.transient = transient
        self.screen = LiveLine(stream)

    def emit(self, record: logging.LogRecord) -> None:
        progress: Progress | None = getattr(record, "progress", None)
        if progress is None:
            return
        text = f"{progress.pipeline} {progress.line()}"
        try:
            if not self.live:
                self.stream.write(text + "\n")
                self.stream.flush()
            elif progress.state in ("failed", "skipped") and not self.transient:
                self.screen.line(text)
            else:
                self.screen.show(text)
        except (OSError, ValueError):  # a closed pipe must not fail the run
            pass

    def finish(self) -> None:
        """End the live line (kept as a line of its own, or erased when `transient`)."""
        with suppress(OSError, ValueError):
            self.screen.close(keep=not self.transient)


@contextmanager
def print_progress(
    stream: TextIO | None = None, live: bool | None = None, *, plain: bool = True, transient: bool = False
) -> Iterator[ProgressPrinter]:
    """Print the progress of runs started inside the block (default: to stderr, live when it is a terminal).

    `plain=False`: print nothing when not live (for commands whose own output already is the plain form,
    e.g. pit's and trakt's CLIs); `transient=True`: the live line is erased at the end, so what stays on the
    screen is the command's own output. While the live line is shown on stderr, `sys.stdout` and `sys.stderr`
    write above it (`OutputAbove`): log lines and prints do not run into it.

    Example:
        >>> # with print_progress():
        >>> #     launch_job(defs, graph, runs_dir="runs")
    """
    own_stderr = stream is None or stream is sys.stderr
    stream = stream or sys.stderr
    live = stream.isatty() if live is None else live
    printer = ProgressPrinter(stream, live, transient=transient)
    if not live and not plain:
        yield printer
        return
    saved = (sys.stdout, sys.stderr)
    if live and own_stderr:
        sys.stderr = OutputAbove(stream, printer.screen)  # type: ignore[assignment]
        if _isatty(sys.stdout):
            sys.stdout = OutputAbove(sys.stdout, printer.screen)  # type: ignore[assignment]
    PROGRESS_LOG.addHandler(printer)
    try:
        yield printer
    finally:
        PROGRESS_LOG.removeHandler(printer)
        sys.stdout, sys.stderr = saved
        printer.finish()


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


def command_progress(*, enabled: bool = True, own_output: bool = False) -> AbstractContextManager[object]:
    """How a command that runs pipelines prints their progress (every tool's `run` uses this, one renderer):
    a live line on a terminal and plain lines otherwise; `own_output=True` for a command whose output is the
    tool's own (pit's summary, trakt's step lines), which is already its plain form: then only a live line on
    a terminal, erased at the end, and nothing added otherwise. `enabled=False` (`-q`, `-v`): nothing.

    Example:
        >>> with command_progress(own_output=True):
        ...     pass  # launch_job(...)
    """
    if not enabled:
        return nullcontext()
    return print_progress(plain=not own_output, transient=own_output)
