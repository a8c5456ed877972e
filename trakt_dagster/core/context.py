"""What a task callable receives: the run it belongs to, its attempt, a logger and cancellation."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from trakt_dagster.core.graph import Task

LogSink = Callable[[str, str, str, Mapping[str, Any]], None]
"""`sink(task_key, level, message, fields)`: where task log lines go (the runner's event queue)."""
Reporter = Callable[[str, Any], None]
"""`reporter(task_key, payload)`: where reported Dagster events go (the runner's event queue)."""


@dataclass(frozen=True)
class RunInfo:
    """Facts about one run of one pipeline, shared by all its tasks.

    Example:
        >>> from datetime import UTC
        >>> info = RunInfo("abc123", "sales", "trakt", Path("runs/abc123"), datetime.now(UTC))
        >>> info.data_dir.name
        'data'
    """

    run_id: str
    pipeline: str
    tool: str
    run_dir: Path
    started_at: datetime
    tags: Mapping[str, str] = field(default_factory=dict)
    granularity: str = "pipeline"
    partition_key: str | None = None
    partition_keys: tuple[str, ...] = ()
    """Every partition the run targets (one for a partition run, several for a range run)."""
    parent_run_id: str | None = None
    """The run this one re-executes (Dagster re-execution), if any."""
    root_run_id: str | None = None
    """The first run of a chain of re-executions, if this run is one."""
    reexecution: str | None = None
    """None, `from_failure` or `all_steps` (see `core.reuse.reexecution_kind`)."""
    retry_number: int = 0
    """How many times Dagster already retried this op in this run (0 on the first attempt)."""

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def project_dir(self) -> Path:
        return self.run_dir / "project"


class TaskContext:
    """Passed to every task callable as its first argument.

    Example:
        >>> def run(ctx, upstream):
        ...     ctx.log.info("loaded %d rows", 3)
        ...     if ctx.cancelled:
        ...         return None
    """

    def __init__(
        self,
        *,
        run: RunInfo,
        task: Task,
        attempt: int,
        session: Any,
        sink: LogSink,
        cancel_event: threading.Event | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        self.run = run
        self.task = task
        self.attempt = attempt
        self.session = session
        self._sink = sink
        self._reporter = reporter
        self._cancel_event = cancel_event or threading.Event()
        self._cancel_callbacks: list[Callable[[], None]] = []
        self.log = TaskLogger(self)

    @property
    def cancelled(self) -> bool:
        """True once the runner gave up on this attempt (timeout or run deadline)."""
        return self._cancel_event.is_set()

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Register `callback` to run when the attempt is cancelled (e.g. kill a process group)."""
        self._cancel_callbacks.append(callback)
        if self.cancelled:
            callback()

    def cancel(self) -> None:
        self._cancel_event.set()
        for callback in list(self._cancel_callbacks):
            try:
                callback()
            except Exception as exc:  # a cancel hook must never hide the original failure
                self.emit("warning", f"cancel hook failed: {exc!r}", {})

    def emit(self, level: str, message: str, fields: Mapping[str, Any]) -> None:
        self._sink(self.task.key, level, message, fields)

    def report(self, payload: Any) -> None:
        """Pass a Dagster event (e.g. `AssetMaterialization`, `AssetObservation`) to the run as it happens.

        Without a reporter (a task run outside the Dagster bridge) the event is dropped.
        """
        if self._reporter is not None:
            self._reporter(self.task.key, payload)


class TaskLogger:
    """`ctx.log.info(...)` and friends: %-style formatting like the `logging` module, plus fields.

    Example:
        >>> # inside a task: ctx.log.warning("dropped %d rows", 2, fields={"reason": "nulls"})
    """

    def __init__(self, ctx: TaskContext) -> None:
        self._ctx = ctx

    def _log(self, level: str, message: str, *args: Any, fields: Mapping[str, Any] | None = None) -> None:
        text = message % args if args else message
        self._ctx.emit(level, text, fields or {})

    def debug(self, message: str, *args: Any, fields: Mapping[str, Any] | None = None) -> None:
        self._log("debug", message, *args, fields=fields)

    def info(self, message: str, *args: Any, fields: Mapping[str, Any] | None = None) -> None:
        self._log("info", message, *args, fields=fields)

    def warning(self, message: str, *args: Any, fields: Mapping[str, Any] | None = None) -> None:
        self._log("warning", message, *args, fields=fields)

    def error(self, message: str, *args: Any, fields: Mapping[str, Any] | None = None) -> None:
        self._log("error", message, *args, fields=fields)
