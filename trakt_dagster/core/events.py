"""Events the runner yields while a run goes on (plain data, no Dagster)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from trakt_dagster.core.graph import TaskResult


@dataclass(frozen=True)
class TaskStarted:
    """A task is about to start its first attempt.

    The task is handed to a worker only once the consumer has handled this event (e.g. written the
    manifest), so a run killed while the task runs still shows it as started.
    """

    key: str
    started_at: datetime


@dataclass(frozen=True)
class TaskLogged:
    """A log line or tool event from inside a task (`level`: debug, info, warning, error)."""

    key: str
    level: str
    message: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskReported:
    """A Dagster event a task reports while it runs (`TaskContext.report`), passed on as it is: e.g. one
    `AssetMaterialization` per partition as each finishes, or materializations of assets of other graphs."""

    key: str
    payload: Any


@dataclass(frozen=True)
class TaskRetrying:
    """An attempt failed and attempt `attempt` of `max_attempts` starts after `delay` seconds."""

    key: str
    attempt: int
    max_attempts: int
    error: BaseException
    delay: float


@dataclass(frozen=True)
class TaskSucceeded:
    """A task finished; `result.value` is what downstream tasks receive."""

    key: str
    result: TaskResult
    attempts: int
    started_at: datetime
    finished_at: datetime
    duration_ms: float


@dataclass(frozen=True)
class TaskFailed:
    """A task failed on its last attempt."""

    key: str
    error: BaseException
    attempts: int
    started_at: datetime
    finished_at: datetime
    duration_ms: float
    traceback_text: str


@dataclass(frozen=True)
class TaskSkipped:
    """A task did not run: an upstream task failed, or the run stopped before it."""

    key: str
    reason: str
    upstream: str | None = None


@dataclass(frozen=True)
class RunFinished:
    """The last event of a run."""

    success: bool
    failed: tuple[str, ...]
    skipped: tuple[str, ...]
    values: Mapping[str, Any] = field(default_factory=dict, repr=False)


RunnerEvent = (
    TaskStarted | TaskLogged | TaskReported | TaskRetrying | TaskSucceeded | TaskFailed | TaskSkipped | RunFinished
)
