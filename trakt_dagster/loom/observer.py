"""The adapter's loom observer: every lifecycle event of one `ETLRunner.run` call, per step occurrence.

loom calls `on_event` from its own threads (the run's thread and the dispatcher's pool threads for parallel
groups). The observer only records and queues: each step occurrence gets a channel of log lines and, at
its `END` or `ERROR` event, its outcome; the task waiting for that step (in the core runner) drains the
channel in its own thread and reports through the runner's queue, so nothing touches the Dagster log from
a loom thread. Events that name no step (pipeline, process) go to `on_line`, which must be thread-safe.

Every outcome is kept, so all failures of a parallel group are reported (loom re-raises only the first),
and occurrences with no event at all are closed as "not run" when the call ends.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from trakt_dagster.loom.model import DatasetKind, LoomPipeline, LoomStep

SUCCESS = "success"
FAILED = "failed"
NOT_RUN = "not_run"
REUSED = "reused"


@dataclass
class StepOutcome:
    """What loom reported for one step occurrence.

    Example:
        >>> StepOutcome("LoadOrders", SUCCESS, duration_ms=12.5).succeeded
        True
    """

    key: str
    status: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None
    error: str | None = None
    error_type: str | None = None
    step_run_id: str | None = None
    process_run_id: str | None = None
    target: dict[str, Any] = field(default_factory=dict)
    """What the step wrote: `uri`, and for tables `delta_version` and `rows` when loom's writer recorded them."""
    reused: dict[str, Any] | None = None
    """For a step an earlier attempt already completed: that attempt's record."""
    reason: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status in (SUCCESS, REUSED)


@dataclass(frozen=True)
class StepLine:
    """A log line for a step's task: `level`, `message` and structured `fields`."""

    level: str
    message: str
    fields: Mapping[str, Any] = field(default_factory=dict)


TargetReader = Callable[[LoomStep], dict[str, Any]]
"""Reads what a step just wrote (table version, rows, uri); called in loom's thread at the step's END."""


class LoomRunObserver:
    """A loom `LifecycleObserver` for one run of one pipeline.

    Example:
        >>> # observer = LoomRunObserver(pipeline, on_line=log)
        >>> # ETLRunner.from_yaml(path, extra_observers=[observer]).run(Pipeline, params)
        >>> # observer.outcome("LoadOrders").status
    """

    def __init__(
        self,
        pipeline: LoomPipeline,
        *,
        on_line: Callable[[StepLine], None] = lambda line: None,
        read_target: TargetReader | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.on_line = on_line
        self.read_target = read_target
        self.include_text = "all steps"
        """How the pipeline `START` line names the call's include (set by the session)."""
        self.started = threading.Event()
        """Set by loom's pipeline `START` event (the plan compiled and filtered, execution began)."""
        self.pipeline_status: str | None = None
        self.pipeline_error: str | None = None
        self.pipeline_duration_ms: float | None = None
        self._lock = threading.Lock()
        self._channels: dict[str, queue.Queue[StepLine | StepOutcome]] = {s.key: queue.Queue() for s in pipeline.steps}
        self._outcomes: dict[str, StepOutcome] = {}
        self._running: dict[str, StepOutcome] = {}
        self._process_claims: dict[str, int] = {}
        self._claimed_processes: set[int] = set()
        self._claimed_steps: set[str] = set()
        self._step_ids: dict[str, str] = {}
        self._t0: dict[str, float] = {}

    # -- loom's observer protocol (any thread) ----------------------------------------------------
    def on_event(self, event: Any) -> None:
        scope = str(getattr(event.scope, "value", event.scope))
        kind = str(getattr(event.kind, "value", event.kind))
        if scope == "pipeline":
            self._pipeline_event(event, kind)
        elif scope == "process":
            self._process_event(event, kind)
        elif scope == "step":
            self._step_event(event, kind)

    # -- results (any thread) ---------------------------------------------------------------------
    def channel(self, key: str) -> queue.Queue[StepLine | StepOutcome]:
        return self._channels[key]

    def outcome(self, key: str) -> StepOutcome | None:
        with self._lock:
            return self._outcomes.get(key)

    def outcomes(self) -> dict[str, StepOutcome]:
        with self._lock:
            return dict(self._outcomes)

    def resolve(self, outcome: StepOutcome) -> None:
        """Close a step without a loom event (reused from an earlier attempt, or never started)."""
        with self._lock:
            if outcome.key in self._outcomes:
                return
            self._outcomes[outcome.key] = outcome
            self._running.pop(outcome.key, None)
        self._channels[outcome.key].put(outcome)

    def close(self, reason: str) -> list[str]:
        """The `run` call ended: every step still without an outcome did not run (or never ended)."""
        with self._lock:
            open_keys = [s.key for s in self.pipeline.steps if s.key not in self._outcomes]
        for key in open_keys:
            running = self._running.get(key)
            text = reason if running is None else f"{reason} (the step started but loom reported no end)"
            self.resolve(StepOutcome(key, NOT_RUN if running is None else FAILED, reason=text, error=text))
        return open_keys

    # -- internals --------------------------------------------------------------------------------
    def _pipeline_event(self, event: Any, kind: str) -> None:
        meta = dict(event.meta or {})
        if kind == "start":
            self.on_line(
                StepLine(
                    "info",
                    f"loom pipeline {event.name} started (include {self.include_text}, run_id {meta.get('run_id')}, "
                    f"attempt {meta.get('attempt')}, last_attempt {meta.get('last_attempt')}, "
                    f"correlation_id {event.correlation_id})",
                    {"event": "loom.pipeline.start", "run_id": meta.get("run_id"), "attempt": meta.get("attempt")},
                )
            )
            self.started.set()
            return
        self.pipeline_status = "success" if kind == "end" else "failed"
        self.pipeline_error = event.error
        self.pipeline_duration_ms = event.duration_ms
        text = f"loom pipeline {event.name} {'succeeded' if kind == 'end' else 'failed'} in {_ms(event.duration_ms)}"
        if event.error:
            text += f": {meta.get('error_type', 'Error')}: {event.error}"
        self.on_line(StepLine("info" if kind == "end" else "error", text, {"event": f"loom.pipeline.{kind}"}))

    def _process_event(self, event: Any, kind: str) -> None:
        """Processes map steps to their occurrence; only a failed process is worth a log line of its own."""
        process_run_id = event.id or dict(event.meta or {}).get("process_run_id")
        if kind == "start":
            with self._lock:
                index = next(
                    (
                        i
                        for i, (name, _) in enumerate(self.pipeline.processes)
                        if name == event.name and i not in self._claimed_processes
                    ),
                    None,
                )
                if index is not None:
                    self._claimed_processes.add(index)
                    self._process_claims[str(process_run_id)] = index
            return
        if kind == "error":
            text = f"loom process {event.name} failed in {_ms(event.duration_ms)}"
            self.on_line(StepLine("warning", text, {"event": "loom.process.error"}))

    def _step_event(self, event: Any, kind: str) -> None:
        meta = dict(event.meta or {})
        step_run_id = str(event.id or meta.get("step_run_id"))
        if kind == "start":
            key = self._claim_step(event.name, str(meta.get("process_run_id")))
            if key is None:
                return
            now = datetime.now(UTC)
            with self._lock:
                self._step_ids[step_run_id] = key
                self._t0[key] = time.perf_counter()
                self._running[key] = StepOutcome(
                    key,
                    "running",
                    started_at=now,
                    step_run_id=step_run_id,
                    process_run_id=str(meta.get("process_run_id")),
                )
            step = self.pipeline.step(key)
            target = step.target.label if step.target is not None else "nothing"
            self._channels[key].put(
                StepLine(
                    "info",
                    f"loom step {step.name} started (process {step.process}, writes {target})",
                    {"event": "loom.step.start", "step_run_id": step_run_id},
                )
            )
            return
        with self._lock:
            key = self._step_ids.get(step_run_id)
            running = self._running.pop(key, None) if key is not None else None
        if key is None or running is None:
            return
        step = self.pipeline.step(key)
        running.finished_at = datetime.now(UTC)
        running.duration_ms = event.duration_ms
        if kind == "end":
            running.status = SUCCESS
            if self.read_target is not None and step.target is not None and step.target.kind is not DatasetKind.TEMP:
                try:
                    running.target = self.read_target(step)
                except Exception as exc:  # noqa: BLE001 - the step succeeded; only its metadata is missing
                    running.target = {"error": f"{type(exc).__name__}: {exc}"}
            line = StepLine(
                "info",
                f"loom step {step.name} succeeded in {_ms(event.duration_ms)}{_written(running.target)}",
                {"event": "loom.step.end", "duration_ms": event.duration_ms, **_scalars(running.target)},
            )
        else:
            running.status = FAILED
            running.error = event.error or ""
            running.error_type = str(meta.get("error_type") or "Error")
            line = StepLine(
                "error",
                f"loom step {step.name} failed after {_ms(event.duration_ms)}: {running.error_type}: {running.error}",
                {"event": "loom.step.error", "error_type": running.error_type, "duration_ms": event.duration_ms},
            )
        with self._lock:
            self._outcomes[key] = running
        channel = self._channels[key]
        channel.put(line)
        channel.put(running)

    def _claim_step(self, name: str, process_run_id: str) -> str | None:
        with self._lock:
            process_index = self._process_claims.get(process_run_id)
            for step in self.pipeline.steps:
                if step.name != name or step.key in self._claimed_steps:
                    continue
                if process_index is not None and step.process_index != process_index:
                    continue
                self._claimed_steps.add(step.key)
                return step.key
        return None


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f} ms"


def _scalars(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if isinstance(v, str | int | float) and not isinstance(v, bool)}


def _written(target: Mapping[str, Any]) -> str:
    parts = []
    if target.get("uri"):
        parts.append(str(target["uri"]))
    if target.get("delta_version") is not None:
        parts.append(f"version {target['delta_version']}")
    if target.get("rows") is not None:
        parts.append(f"{target['rows']} rows")
    return f" (wrote {', '.join(parts)})" if parts else ""
