"""What `trakt-dagster pit ...` prints, in pit's layouts: the run summary, the outputs, runs and status tables,
validation lines and `--verbose` task output.

Every function here is pure (text in, text out) except `TaskEcho`, which writes to a stream.

Example:
    >>> print(outputs_table([("sales", "orders", "table", "dw.orders")]), end="")
      PROJECT  NAME    TYPE   LOCATION
      -------  ------  -----  ---------
      sales    orders  table  dw.orders
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, BinaryIO

from trakt_dagster.core.errors import LoadError
from trakt_dagster.pit.gofmt import go_duration, go_quote, round_duration


def parse_run_arg(arg: str) -> tuple[str, str]:
    """`dag` or `dag/task` split as pit splits it; raises ValueError with pit's message.

    Example:
        >>> parse_run_arg("sales/load/orders")
        ('sales', 'load/orders')
        >>> parse_run_arg("sales/")
        Traceback (most recent call last):
        ValueError: task name cannot be empty in "sales/" (use just "sales" to run the full DAG)
    """
    dag, sep, task = arg.partition("/")
    if not dag:
        raise ValueError("DAG name cannot be empty")
    if sep and not task:
        raise ValueError(f"task name cannot be empty in {go_quote(arg)} (use just {go_quote(dag)} to run the full DAG)")
    return dag, task


def _ms(duration_ms: float | None) -> str:
    """A duration in milliseconds as pit prints it (`Round(time.Millisecond).String()`)."""
    return go_duration(round_duration((duration_ms or 0) / 1000, 0.001))


def run_summary(report: Mapping[str, Any]) -> str:
    """pit's table after a run: header, one line per task in pit's task order, a blank line.

    `report` is the manifest's `pit` key. A task line holds its status, the error of a failed task in
    parentheses, `[attempt N/M]` when it needed more than one attempt, and its duration when it ran.

    Example:
        >>> report = {"run_id": "20260317_060001.250_sales", "dag_name": "sales", "status": "failed",
        ...           "duration_ms": 1534.2, "task_order": ["extract", "load"], "tasks": {
        ...     "extract": {"status": "failed", "error": "bash: exit status 1", "attempts": 2, "max_attempts": 2,
        ...                 "started_at": "x", "duration_ms": 1203.4},
        ...     "load": {"status": "upstream_failed", "max_attempts": 1}}}
        >>> print(run_summary(report), end="")
        <BLANKLINE>
        ── Run 20260317_060001.250_sales ──
        DAG: sales  Status: failed  Duration: 1.534s
        <BLANKLINE>
          extract              failed  (bash: exit status 1)  [attempt 2/2]  1.203s
          load                 upstream_failed
        <BLANKLINE>
    """
    lines = [
        "",
        f"── Run {report.get('run_id', '?')} ──",
        f"DAG: {report.get('dag_name', '?')}  Status: {report.get('status', '?')}  "
        f"Duration: {_ms(report.get('duration_ms'))}",
        "",
    ]
    tasks: Mapping[str, Mapping[str, Any]] = report.get("tasks") or {}
    for name in report.get("task_order") or list(tasks):
        state = tasks.get(name) or {}
        status = str(state.get("status", "pending"))
        line = f"  {name:<20} {status}"
        if status == "failed" and state.get("error"):
            line += f"  ({state['error']})"
        attempts = state.get("attempts") or 0
        if attempts > 1:
            line += f"  [attempt {attempts}/{state.get('max_attempts', attempts)}]"
        if state.get("started_at") and state.get("duration_ms") is not None:
            line += f"  {_ms(state['duration_ms'])}"
        lines.append(line)
    lines.append("")
    return "\n".join(lines) + "\n"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], sep: str = "  ", indent: str = "  ") -> list[str]:
    rows = [list(map(str, row)) for row in rows]
    # pit sizes columns by UTF-8 bytes (Go's len) and pads by characters (fmt's width)
    widths = [max([len(header[i])] + [len(row[i].encode()) for row in rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(cells[:-1])]
        return indent + sep.join([*padded, cells[-1]])

    return [line(header), line(["-" * w for w in widths]), *(line(row) for row in rows)]


def outputs_table(rows: Sequence[tuple[str, str, str, str]]) -> str:
    """`pit outputs`: PROJECT, NAME, TYPE, LOCATION sorted by project then name, or pit's `no outputs found`.

    Example:
        >>> outputs_table([])
        'no outputs found\\n'
    """
    if not rows:
        return "no outputs found\n"
    return "\n".join(_table(("PROJECT", "NAME", "TYPE", "LOCATION"), sorted(rows, key=lambda r: (r[0], r[1])))) + "\n"


def runs_table(dag: str, runs: Sequence[tuple[str, datetime]]) -> str:
    """`pit logs DAG --list`: run ids and their local start time, newest first.

    Example:
        >>> print(runs_table("s", [("20260317_060001.250_s", datetime(2026, 3, 17, 6, 0, 1))]), end="")
          RUN ID                                    TIMESTAMP
          ------                                    ---------
          20260317_060001.250_s                     2026-03-17 06:00:01
        >>> runs_table("s", [])
        'no runs found for DAG "s"\\n'
    """
    if not runs:
        return f"no runs found for DAG {go_quote(dag)}\n"
    lines = [f"  {'RUN ID':<40}  TIMESTAMP", f"  {'------':<40}  ---------"]
    lines += [f"  {run_id:<40}  {at:%Y-%m-%d %H:%M:%S}" for run_id, at in runs]
    return "\n".join(lines) + "\n"


def status_table(rows: Sequence[tuple[str, datetime, str, float | None]]) -> str:
    """`pit status`: the newest run of each DAG (name, local start, status, duration in seconds or None while it
    runs), sorted by DAG name.

    Example:
        >>> print(status_table([("sales", datetime(2026, 3, 17, 6, 0, 1), "success", 65.4)]), end="")
        DAG                  Last Run              Status   Duration
        ───                  ────────              ──────   ────────
        sales                2026-03-17 06:00:01   success  1m5s
        >>> status_table([])
        'No runs recorded yet.\\n'
    """
    if not rows:
        return "No runs recorded yet.\n"
    lines = [
        f"{'DAG':<20} {'Last Run':<21} {'Status':<8} Duration",
        f"{'───':<20} {'────────':<21} {'──────':<8} ────────",
    ]
    for dag, started, status, seconds in sorted(rows, key=lambda r: r[0]):
        duration = "running" if seconds is None else go_duration(round_duration(seconds, 1))
        lines.append(f"{dag:<20} {started:%Y-%m-%d %H:%M:%S}   {status:<8} {duration}")
    return "\n".join(lines) + "\n"


def error_lines(errors: Iterable[LoadError], prefix: str = "ERROR: ") -> str:
    """Load errors as pit prints validation errors (`ERROR: [dag] message`), with where the problem is before
    the message and how to fix it on the next line.

    Example:
        >>> from pathlib import Path
        >>> from trakt_dagster.core.errors import SourceLocation
        >>> err = LoadError('task "a": script "a.sh" not found', SourceLocation(Path("p/pit.toml"), 3, "tasks[0]"),
        ...                 hint="create p/a.sh", pipeline="sales")
        >>> print(error_lines([err]), end="")
        ERROR: [sales] p/pit.toml:3 (key tasks[0]): task "a": script "a.sh" not found
          fix: create p/a.sh
    """
    lines = []
    for error in errors:
        where = f"{error.location.describe()}: " if error.location is not None else ""
        lines.append(f"{prefix}{f'[{error.pipeline}] ' if error.pipeline else ''}{where}{error.message}")
        if error.hint:
            lines.extend(
                f"  fix: {part}" if i == 0 else f"       {part}" for i, part in enumerate(error.hint.split("\n"))
            )
    return "".join(line + "\n" for line in lines)


def task_levels(deps: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each task's Kahn level as pit computes it (level n: every dependency in a level below n).

    Example:
        >>> task_levels({"a": [], "b": [], "c": ["a"]})
        {'a': 0, 'b': 0, 'c': 1}
    """
    level: dict[str, int] = {}
    pending = dict(deps)
    current = 0
    while pending:
        ready = [name for name, needs in pending.items() if all(d in level and level[d] < current for d in needs)]
        if not ready:
            break  # a cycle: load refuses it before a run
        for name in ready:
            level[name] = current
            del pending[name]
        current += 1
    return level


class TaskEcho:
    """`--verbose`: what each task writes to its log, also on the terminal, as pit shows it (`[task] ` before
    every line of a task that shares its level with others; whole lines only).

    Example:
        >>> import io
        >>> out = io.BytesIO()
        >>> echo = TaskEcho(out, prefixed={"a"})
        >>> echo("a", b"one\\ntw"); echo("b", b"plain"); echo("a", b"o\\n"); echo.flush()
        >>> out.getvalue()
        b'[a] one\\nplain[a] two\\n'
    """

    def __init__(self, stream: BinaryIO, prefixed: Iterable[str] = ()) -> None:
        self.stream = stream
        self.prefixed = set(prefixed)
        self._partial: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def __call__(self, task: str, data: bytes) -> None:
        with self._lock:
            if task not in self.prefixed:
                self.stream.write(data)
            else:
                buffer = self._partial.get(task, b"") + data
                *lines, rest = buffer.split(b"\n")
                for line in lines:
                    self.stream.write(b"[" + task.encode() + b"] " + line + b"\n")
                self._partial[task] = rest
            self.stream.flush()

    def flush(self) -> None:
        """Write what is left of unfinished lines (pit drops them; a last line without newline is shown here)."""
        with self._lock:
            for task, rest in self._partial.items():
                if rest:
                    self.stream.write(b"[" + task.encode() + b"] " + rest + b"\n")
            self._partial.clear()
            self.stream.flush()
