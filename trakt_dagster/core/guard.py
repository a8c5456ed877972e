"""Tie child processes (pit tasks, dbt) to the life of this process, the run worker.

A tiny guardian process watches the run worker through a pipe: the worker holds the pipe's write end,
the guardian reads. When the worker dies in any way (SIGKILL, the OOM killer, a crash), the kernel closes
the write end, the guardian's read returns end-of-file, and it SIGKILLs every process group (and single
process) still registered, then exits. Processes are registered right after they start and unregistered
when they end.

Why not `prctl(PR_SET_PDEATHSIG)` in each task: it fires when the *thread* that started the process
exits, and task processes are started from the runner's worker threads; it reaches only the direct child,
not the grandchildren a shell script starts; and setting it needs code between fork and exec, which is
unsafe in a threaded process. The pipe is closed only when the whole process is gone, whichever thread
registered what, and a process group kill reaches grandchildren.

The guardian is started once per worker process, on first use, in its own session (a Ctrl-C in the
worker's terminal does not stop it) and ignores SIGINT. A registration carries the group leader's start
time, so a process id the system has reused for an unrelated process is never killed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable

GUARDIAN_SOURCE = r"""
import os, signal, sys

signal.signal(signal.SIGINT, signal.SIG_IGN)
fd = int(sys.argv[1])
live = {}
buffer = b""


def start_time(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


while True:
    try:
        chunk = os.read(fd, 65536)
    except InterruptedError:
        continue
    if not chunk:
        break
    buffer += chunk
    *lines, buffer = buffer.split(b"\n")
    for line in lines:
        parts = line.decode().split()
        if len(parts) != 4:
            continue
        op, kind, pid, started = parts[0], parts[1], int(parts[2]), parts[3]
        if op == "+":
            live[(kind, pid)] = started
        else:
            live.pop((kind, pid), None)
for (kind, pid), started in live.items():
    now = start_time(pid)
    if now is not None and started != "-" and now != started:
        continue  # the id belongs to another process now: the registered one is long gone
    try:
        if kind == "g":
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
"""


def process_start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux `/proc/<pid>/stat`), or `-` when unknown.

    Example:
        >>> process_start_time(os.getpid()) != ""
        True
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return "-"


class _Guardian:
    """The guardian process of this worker process, started on first use (and again if it died)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._write_fd: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._live: dict[tuple[str, int], str] = {}

    def _start(self) -> None:
        read_fd, write_fd = os.pipe()  # both ends close-on-exec: no other child inherits the write end
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", GUARDIAN_SOURCE, str(read_fd)],
                pass_fds=(read_fd,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            os.close(read_fd)
        self._write_fd, self._pid = write_fd, os.getpid()
        for (kind, pid), started in self._live.items():  # a restarted guardian learns what is running
            self._send(f"+ {kind} {pid} {started}\n")

    def _send(self, line: str) -> None:
        assert self._write_fd is not None
        os.write(self._write_fd, line.encode())

    def _ensure(self) -> None:
        if self._pid != os.getpid():  # first use, or a forked child: its own guardian, not its parent's
            self._write_fd = None
            self._live = {}
            self._start()
        elif self._process is not None and self._process.poll() is not None:
            self._restart()

    def _restart(self) -> None:
        if self._write_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._write_fd)
        self._start()

    def register(self, pid: int, *, group: bool) -> Callable[[], None]:
        kind = "g" if group else "p"
        started = process_start_time(pid)
        with self._lock:
            self._ensure()
            self._live[(kind, pid)] = started
            try:
                self._send(f"+ {kind} {pid} {started}\n")
            except OSError:  # the guardian is gone: a new one learns every live registration
                self._restart()

        def release() -> None:
            with self._lock:
                if self._live.pop((kind, pid), None) is None or self._pid != os.getpid():
                    return
                with contextlib.suppress(OSError):
                    self._send(f"- {kind} {pid} {started}\n")

        return release

    @property
    def guardian_pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._pid == os.getpid() else None


_GUARDIAN = _Guardian()


def guard_process(pid: int, *, group: bool = True) -> Callable[[], None]:
    """Have `pid` (its whole process group when `group`) SIGKILLed should this process die before
    `release()` is called; returns `release`.

    Example:
        >>> child = subprocess.Popen(["sleep", "5"], start_new_session=True)
        >>> release = guard_process(child.pid)
        >>> child.kill(); _ = child.wait(); release()
    """
    return _GUARDIAN.register(pid, group=group)


def guardian_pid() -> int | None:
    """The process id of this process's guardian, once one was started (for diagnostics and tests)."""
    return _GUARDIAN.guardian_pid
