"""The live log of a `?stream=true` webhook run: pit's log entries as JSON lines, for the receiver's SSE stream.

The run appends one JSON object per task output line (pit's fields: timestamp, run_id, dag_name, task_name,
level, message, attempt, duration) and, when it ends, `{"status": "success" | "failed"}`. The receiver
created the file when it accepted the event; a run whose file is gone (the receiver already finished, or
a later re-execution) writes nothing.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import TextIO

from trakt_dagster.core.redact import Redactor

STREAM_TAG = "trakt/webhook_stream"
"""Run tag holding the path of the stream file (set by the webhook sensor for `?stream=true` events)."""


def go_duration(seconds: float) -> str:
    """A duration as Go's `time.Duration.String()` writes it after rounding to milliseconds.

    Example:
        >>> go_duration(0), go_duration(0.0153), go_duration(1.5), go_duration(125.0042), go_duration(3723)
        ('0s', '15ms', '1.5s', '2m5.004s', '1h2m3s')
    """
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    if ms < 1000:
        return f"{sign}{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    text = f"{secs}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def pit_level(level: str) -> str:
    """pit's level names: `warning` is `warn`.

    Example:
        >>> pit_level("warning"), pit_level("error")
        ('warn', 'error')
    """
    return {"warning": "warn", "critical": "error", "debug": "info"}.get(level, level)


class StreamWriter:
    """Appends a run's log entries to its stream file (thread-safe, flushed per line, secrets masked).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "e.jsonl"; path.touch()
        >>> w = StreamWriter.open(path, run_id="r1", dag="sales", redactor=Redactor(["s3cr3t"]))
        >>> w.entry("extract", "info", "token s3cr3t", attempt=1, started=time.monotonic()); w.complete("success")
        >>> [json.loads(line).get("message", "") for line in path.read_text().splitlines()]
        ['token ***', '']
    """

    def __init__(self, handle: TextIO, run_id: str, dag: str, redactor: Redactor) -> None:
        self._handle = handle
        self.run_id = run_id
        self.dag = dag
        self.redactor = redactor
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, *, run_id: str, dag: str, redactor: Redactor) -> StreamWriter | None:
        """A writer for an existing stream file, or None when the file is gone."""
        if not path.is_file():
            return None
        try:
            handle = path.open("a", encoding="utf-8")
        except OSError:
            return None
        return cls(handle, run_id, dag, redactor)

    def _write(self, record: dict) -> None:
        with self._lock:
            if self._handle.closed:
                return
            try:
                self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                self._handle.flush()
            except OSError:
                pass

    def entry(self, task: str, level: str, message: str, *, attempt: int, started: float | None) -> None:
        """One log line of `task` (`started`: its `time.monotonic()` start, for pit's `duration`)."""
        elapsed = time.monotonic() - started if started is not None else 0.0
        self._write(
            {
                "timestamp": datetime.now().astimezone().isoformat(),
                "run_id": self.run_id,
                "dag_name": self.dag,
                "task_name": task,
                "level": pit_level(level),
                "message": self.redactor.text(message),
                "attempt": attempt,
                "duration": go_duration(elapsed),
            }
        )

    def complete(self, status: str) -> None:
        """The run's final status (the receiver's `event: complete`); closes the file."""
        self._write({"status": status})
        with self._lock:
            self._handle.close()
