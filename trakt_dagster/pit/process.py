"""Run one task process as pit does: its own process group, output line by line to the task's log.

A timeout or Dagster termination kills the whole process group (N8: grandchildren too, not only the
direct child). Background processes a task leaves behind that still hold its output open are stopped
shortly after the task exits, so a run never hangs on them. While it runs, the group is tied to the run
worker (`core.guard`): if the worker dies, the group is killed at once instead of running on unsupervised.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from trakt_dagster.core.guard import guard_process

LEFTOVER_GRACE_S = 2.0
TAIL_LINES = 20


class TaskProcessError(RuntimeError):
    """A task process exited with a non-zero status; the message carries the last lines it printed.

    Example:
        >>> str(TaskProcessError("load", 2, ["boom"]))
        "task 'load' exited with status 2\\nlast output:\\nboom"
    """

    def __init__(self, task: str, status: int, tail: Sequence[str]) -> None:
        text = f"task '{task}' exited with status {status}"
        if status < 0:
            text = f"task '{task}' was killed by signal {-status}"
        if tail:
            text += "\nlast output:\n" + "\n".join(tail)
        super().__init__(text)
        self.status = status


def log_level(line: str) -> str:
    """pit's guess of a log line's level.

    Example:
        >>> log_level("ERROR: db down"), log_level("Traceback (most recent call last):"), log_level("WARN: slow")
        ('error', 'error', 'warning')
    """
    if line.startswith("ERROR") or "TRACEBACK" in line.upper():
        return "error"
    if line.startswith(("WARNING", "WARN:")):
        return "warning"
    return "info"


def kill_group(pid: int) -> None:
    """SIGKILL every process of the group led by `pid` (ignores groups that are already gone)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run_process(
    name: str,
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    on_output: Callable[[bytes], None],
    on_cancel: Callable[[Callable[[], None]], None],
    on_notice: Callable[[str, str], None] | None = None,
) -> None:
    """Run `command`; its output (stdout and stderr, as the process wrote it) goes to `on_output` one line at a
    time (with the line's end); raises `TaskProcessError` on failure. `on_notice(level, text)` receives what the
    adapter itself has to say (background processes stopped), which is not the task's output.

    Example:
        >>> chunks = []
        >>> run_process("hi", ["echo", "hello"], cwd=Path("."), env=os.environ, on_output=chunks.append,
        ...             on_cancel=lambda stop: None)
        >>> chunks
        [b'hello\\n']
    """
    try:
        proc = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise TaskProcessError(name, 127, [f"cannot start {command[0]}: {exc.strerror or exc}"]) from None
    release = guard_process(proc.pid, group=True)
    try:
        _supervise(name, proc, on_output, on_cancel, on_notice)
    finally:
        release()


def _supervise(
    name: str,
    proc: subprocess.Popen[bytes],
    on_output: Callable[[bytes], None],
    on_cancel: Callable[[Callable[[], None]], None],
    on_notice: Callable[[str, str], None] | None,
) -> None:
    on_cancel(lambda: kill_group(proc.pid))
    tail: deque[str] = deque(maxlen=TAIL_LINES)

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            tail.append(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
            on_output(raw)

    reader = threading.Thread(target=pump, name=f"pit-output-{name}", daemon=True)
    reader.start()
    status = proc.wait()
    reader.join(LEFTOVER_GRACE_S)
    if reader.is_alive():
        if on_notice is not None:
            on_notice("warning", "stopping background processes the task left running (they kept its output open)")
        kill_group(proc.pid)
        reader.join(LEFTOVER_GRACE_S)
    if status != 0:
        raise TaskProcessError(name, status, list(tail)[-5:])
