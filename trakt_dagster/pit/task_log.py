"""`logs/<task>.log` as pit writes it: the task's raw output, and pit's separator line before each retry.

No timestamps, levels or outcome lines: those go to the Dagster log. The first attempt creates (truncates)
the file, later attempts append after `\\n--- retry attempt N/M ---\\n`; a task that never starts gets no
file. Secret values are masked as `***` (the one change to the bytes a task prints). With `--verbose`, the
command line echoes what is written here to the terminal (`echo_task_output`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from trakt_dagster.core.redact import Redactor

EchoFn = Callable[[str, bytes], None]
"""`echo(task_name, data)`: what a task's log receives, for the terminal (`pit run --verbose`)."""

_echo_lock = threading.Lock()
_echo: EchoFn | None = None


@contextlib.contextmanager
def echo_task_output(sink: EchoFn) -> Iterator[None]:
    """While inside, everything written to a pit task log of this process is also passed to `sink`.

    Example:
        >>> seen = []
        >>> with echo_task_output(lambda task, data: seen.append((task, data))):
        ...     pass
    """
    global _echo
    with _echo_lock:
        previous, _echo = _echo, sink
    try:
        yield
    finally:
        with _echo_lock:
            _echo = previous


def retry_separator(attempt: int, attempts: int) -> bytes:
    """pit's line before attempt `attempt` of `attempts` (with its leading newline).

    Example:
        >>> retry_separator(2, 3)
        b'\\n--- retry attempt 2/3 ---\\n'
    """
    return f"\n--- retry attempt {attempt}/{attempts} ---\n".encode()


class PitTaskLog:
    """One task's log file in a run; every write goes through to disk at once.

    Example:
        >>> import tempfile
        >>> log = PitTaskLog(Path(tempfile.mkdtemp()) / "extract.log", "extract", Redactor(["s3cr3t"]))
        >>> log.begin_attempt(1, 2); log.write(b"token s3cr3t\\n"); log.begin_attempt(2, 2); log.close()
        >>> log.path.read_bytes()
        b'token ***\\n\\n--- retry attempt 2/2 ---\\n'
    """

    def __init__(self, path: Path, task: str, redactor: Redactor | None = None) -> None:
        self.path = Path(path)
        self.task = task
        self.redactor = redactor or Redactor()
        self._lock = threading.Lock()
        self._handle: BinaryIO | None = None

    def begin_attempt(self, attempt: int, attempts: int) -> None:
        """Start an attempt: the first creates the file, later ones write pit's separator line."""
        with self._lock:
            if attempt <= 1 or self._handle is None:
                if self._handle is not None:
                    self._handle.close()
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = open(self.path, "wb" if attempt <= 1 else "ab")  # noqa: SIM115 - kept open
        if attempt > 1:
            self.write(retry_separator(attempt, attempts))

    def write(self, data: bytes) -> None:
        """Append bytes as the task printed them (secret values masked)."""
        if self.redactor:
            data = self.redactor.text(data.decode("utf-8", errors="surrogateescape")).encode(
                "utf-8", errors="surrogateescape"
            )
        with self._lock:
            if self._handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = open(self.path, "ab")  # noqa: SIM115 - kept open
            self._handle.write(data)
            self._handle.flush()
        echo = _echo
        if echo is not None:
            with contextlib.suppress(Exception):
                echo(self.task, data)

    def write_text(self, text: str) -> None:
        """Append text (UTF-8)."""
        self.write(text.encode("utf-8", errors="surrogateescape"))

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
