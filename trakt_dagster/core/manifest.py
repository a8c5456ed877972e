"""The run manifest: trakt's `manifest.json` schema, extended for every tool.

Base keys (trakt §3.5, kept exactly): run_id, status, pipeline{name, version}, runner, started_at,
finished_at, duration_ms, inputs, steps (completed steps only), outputs (completely written datasets),
error{type, message} — plus `error.step_id` and these additions: tool, dagster_run_id, granularity,
run_folder, asset_keys (materialized in this run) and tasks (every planned task with status,
attempts, timings, asset key, error and the tool events it emitted). While a run is going on,
`status` is `running`.

The manifest is rendered from per-task states in the graph's declaration order, so the same run gives
the same manifest in pipeline and step granularity. In step granularity every op owns the states of
its own tasks; `merge` combines the states written by the others (see `RunFolder`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from trakt_dagster.core.events import (
    TaskFailed,
    TaskLogged,
    TaskRetrying,
    TaskSkipped,
    TaskStarted,
    TaskSucceeded,
)
from trakt_dagster.core.graph import TaskGraph, TaskRole
from trakt_dagster.core.json_parts import PartsEncoder, VersionedDict, VersionedList

RUNNER_NAME = "DagsterRunner"
MAX_EVENTS_PER_TASK = 200


def iso(ts: datetime) -> str:
    """ISO-8601 in UTC with `+00:00`, as trakt writes it."""
    return ts.astimezone(UTC).isoformat()


def error_record(error: BaseException, step_id: str | None) -> dict[str, Any]:
    """`{type, message, step_id}` for the manifest's `error` key."""
    return {"type": type(error).__name__, "message": str(error), "step_id": step_id}


class RunManifest:
    """Accumulates what happened in a run and renders `manifest.json`.

    Example:
        >>> from pathlib import Path
        >>> m = RunManifest(TaskGraph("p", "trakt", Path("p.yaml"), tasks=()), run_id="r1",
        ...                 dagster_run_id="r1", run_folder=Path("runs/r1"))
        >>> m.finish(success=True)
        >>> m.to_dict()["status"], m.to_dict()["steps"]
        ('success', [])
    """

    def __init__(
        self,
        graph: TaskGraph,
        *,
        run_id: str,
        dagster_run_id: str,
        run_folder: Any,
        pipeline_version: str | None = None,
        granularity: str = "pipeline",
        asset_keys: Mapping[str, str] | None = None,
        planned: Iterable[str] = (),
        selected: set[str] | None = None,
    ) -> None:
        self.graph = graph
        self.order = {key: i for i, key in enumerate(graph.task_keys)}
        self.asset_keys = dict(asset_keys or {})
        self.started = datetime.now(UTC)
        self._t0 = time.perf_counter()
        self.header: dict[str, Any] = {
            "run_id": run_id,
            "pipeline": {"name": graph.name, "version": pipeline_version},
            "runner": RUNNER_NAME,
            "tool": graph.tool,
            "dagster_run_id": dagster_run_id,
            "granularity": granularity,
            "run_folder": str(run_folder),
        }
        self.status = "running"
        self.finished: datetime | None = None
        self.duration_ms: float | None = None
        self.error: dict[str, Any] | None = None
        self.states: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, int] = {}
        """Per task: a counter bumped whenever its state (or its rendered entry) may have changed, so the
        running manifest re-encodes only the tasks that changed (`running_json`)."""
        self.private: dict[str, dict[str, Any]] = {}
        """Per task: whether it was materialized and its rendered inputs/steps/outputs entry."""
        self.extra: Callable[[], Mapping[str, Any]] = dict
        """Called at every render for tool-specific top-level keys (`PipelineSession.manifest_extra`)."""
        self.merge_extra: Callable[[list[dict[str, Any]]], Mapping[str, Any]] | None = None
        self._encoder: PartsEncoder | None = None
        """Step granularity: merges every op's extra keys (`PipelineSession.merge_manifest_extra`)."""
        for key in planned:
            self.states[key] = self._new_state(key, selected is None or key in selected)
            self.versions[key] = 0

    # -- task states --------------------------------------------------------------------------
    def _new_state(self, key: str, selected: bool = True) -> dict[str, Any]:
        task = self.graph.by_key.get(key)
        return {
            "role": str(task.role if task else TaskRole.STEP),
            "status": "pending",
            "selected": selected,
            "asset_key": self.asset_keys.get(key),
            "attempts": 0,
            "started_at": None,
            "finished_at": None,
            "duration_ms": None,
            "error": None,
        }

    def _state(self, key: str) -> dict[str, Any]:
        """The state of `key` for an update (it counts as changed)."""
        self._touch(key)
        if key not in self.states:
            self.states[key] = self._new_state(key)
        return self.states[key]

    def _touch(self, key: str) -> None:
        self.versions[key] = self.versions.get(key, 0) + 1

    def task_started(self, event: TaskStarted) -> None:
        self._state(event.key).update(status="running", started_at=iso(event.started_at), attempts=1)

    def task_retrying(self, event: TaskRetrying) -> None:
        state = self._state(event.key)
        state["attempts"] = event.attempt
        state.setdefault("retried_errors", []).append(error_record(event.error, None))

    def task_logged(self, event: TaskLogged) -> None:
        """Tool events (log lines carrying an `event` field) are kept with their task."""
        if "event" not in event.fields:
            return
        events = self._state(event.key).setdefault("events", [])
        if len(events) < MAX_EVENTS_PER_TASK:
            attrs = {k: v for k, v in event.fields.items() if k != "event"}
            events.append({"name": event.fields["event"], "level": event.level, "attributes": attrs})

    def task_succeeded(self, event: TaskSucceeded, *, materialized: bool) -> None:
        state = self._state(event.key)
        state.update(
            status="success",
            attempts=event.attempts,
            finished_at=iso(event.finished_at),
            duration_ms=event.duration_ms,
        )
        self.private[event.key] = {
            "materialized": materialized,
            "entry": _entry(event.key, state["role"], event.duration_ms, event.result.record),
        }
        if event.result.checks:
            state["checks"] = [_check_record(c) for c in event.result.checks]

    def task_failed(self, event: TaskFailed) -> None:
        """A task failed. An error may name the step it comes from (`error.step_id`, e.g. a stream
        step whose generator raised while a later task consumed it): that step then counts as failed."""
        state = self._state(event.key)
        task = self.graph.by_key.get(event.key)
        in_step = task is None or task.role is TaskRole.STEP
        step_id = event.error.step_id if hasattr(event.error, "step_id") else (event.key if in_step else None)
        record = error_record(event.error, step_id)
        state.update(
            status="failed",
            attempts=event.attempts,
            finished_at=iso(event.finished_at),
            duration_ms=event.duration_ms,
            error=record,
        )
        checks = getattr(event.error, "checks", None)
        if checks:
            state["checks"] = [_check_record(c) for c in checks]
        origin_key = getattr(event.error, "task_key", None) or step_id  # e.g. a stream input that failed
        origin = self.states.get(origin_key) if origin_key and origin_key != event.key else None
        if origin is not None and origin["status"] == "success":
            self._touch(origin_key)
            origin.update(status="failed", error=record)
        if self.error is None:
            self.error = record

    def succeeded(self, key: str) -> bool:
        """Whether `key` still counts as succeeded (a later error may have been attributed to it)."""
        return self.states.get(key, {}).get("status") == "success"

    def task_skipped(self, event: TaskSkipped) -> None:
        self._state(event.key).update(status="skipped", reason=event.reason)

    def fail(self, error: BaseException, step_id: str | None = None) -> None:
        """Record an error that happened outside any task (e.g. bad run config)."""
        if self.error is None:
            self.error = error_record(error, step_id)

    def interrupt(self, reason: str) -> None:
        """The run stopped before the runner finished (Dagster termination, a crash in the bridge): tasks
        still running count as failed and tasks not started as skipped, both with `reason`."""
        for key, state in self.states.items():
            if state["status"] == "running":
                self._touch(key)
                state.update(status="failed", error={"type": "RunInterrupted", "message": reason, "step_id": key})
            elif state["status"] == "pending":
                self._touch(key)
                state.update(status="skipped", reason=f"not started: {reason}")
        if self.error is None:
            self.error = {"type": "RunInterrupted", "message": reason, "step_id": None}

    def finish(self, *, success: bool) -> None:
        self.status = "success" if success and self.error is None else "failed"
        self.finished = datetime.now(UTC)
        self.duration_ms = round((time.perf_counter() - self._t0) * 1000, 3)

    # -- step granularity: states written by other ops of the same run ------------------------
    def fragment(self) -> dict[str, Any]:
        """This op's part of the run: its task states, error and timing."""
        return {
            "states": self.states,
            "private": self.private,
            "error": self.error,
            "started_at": iso(self.started),
            "finished_at": iso(self.finished) if self.finished else None,
            "extra": dict(self.extra()),
        }

    def merged(self, fragments: Iterable[Mapping[str, Any]], planned: Iterable[str]) -> dict[str, Any]:
        """The manifest of the whole run from every op's fragment (this op's included)."""
        states: dict[str, dict[str, Any]] = {}
        private: dict[str, dict[str, Any]] = {}
        errors: list[dict[str, Any]] = []
        starts: list[str] = []
        ends: list[str] = []
        for fragment in fragments:
            for key, state in fragment["states"].items():
                if key not in states or _rank(state) > _rank(states[key]):
                    states[key] = state
                    if key in fragment.get("private", {}):
                        private[key] = fragment["private"][key]
            if fragment.get("error"):
                errors.append(fragment["error"])
            starts.append(fragment["started_at"])
            if fragment.get("finished_at"):
                ends.append(fragment["finished_at"])
        for key in planned:
            states.setdefault(key, self._new_state(key))
        statuses = [s["status"] for s in states.values()]
        if errors or "failed" in statuses:
            status = "failed"
        elif statuses and all(s == "success" for s in statuses):
            status = "success"
        else:
            status = "running"
        started = min(starts) if starts else iso(self.started)
        finished = max(ends) if ends and status != "running" else None
        duration = None
        if finished:
            delta = datetime.fromisoformat(finished) - datetime.fromisoformat(started)
            duration = round(delta.total_seconds() * 1000, 3)
        extras = [dict(f.get("extra") or {}) for f in fragments]
        extra = self.merge_extra(extras) if self.merge_extra is not None else None
        return self._render(
            states, private, status, started, finished, duration, errors[0] if errors else None, extra=extra
        )

    # -- rendering ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The manifest as data (its task mappings and lists carry versions for `running_json`)."""
        return self._render(
            self.states,
            self.private,
            self.status,
            iso(self.started),
            iso(self.finished) if self.finished else None,
            self.duration_ms,
            self.error,
            versions=self.versions,
        )

    def running_json(self, data: Mapping[str, Any] | None = None) -> str:
        """`to_json(self.to_dict(), compact=True)`, re-encoding only the tasks that changed since the last call
        (the same text; a run's manifest is rewritten as its tasks start and end)."""
        if self._encoder is None:
            self._encoder = PartsEncoder(default=_json_default)
        return self._encoder.encode(self.to_dict() if data is None else data) + "\n"

    def _render(
        self,
        states: Mapping[str, dict[str, Any]],
        private: Mapping[str, dict[str, Any]],
        status: str,
        started: str,
        finished: str | None,
        duration: float | None,
        error: dict[str, Any] | None,
        *,
        extra: Mapping[str, Any] | None = None,
        versions: Mapping[str, int] | None = None,
    ) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        outputs: dict[str, Any] = {}
        steps: list[dict[str, Any]] = []
        step_versions: list[tuple[str, int | None]] = []
        asset_keys: list[str] = []
        tasks: dict[str, Any] = {}
        sections = {"inputs": inputs, "outputs": outputs}
        known = versions or {}
        for key in sorted(states, key=lambda k: self.order.get(k, len(self.order))):
            state = states[key]
            tasks[key] = state
            if state["status"] != "success" or key not in private:
                continue
            if private[key]["materialized"] and state.get("asset_key"):
                asset_keys.append(state["asset_key"])
            section, name, entry = private[key]["entry"]
            if section == "steps":
                steps.append(entry)
                step_versions.append((key, known.get(key)))
            else:
                sections[section][name] = entry
        if versions is not None:
            tasks = VersionedDict(tasks, versions)
            steps = VersionedList(steps, step_versions)
        return {
            **(self.extra() if extra is None else extra),
            **self.header,
            "status": status,
            "started_at": started,
            "finished_at": finished,
            "duration_ms": duration,
            "inputs": inputs,
            "steps": steps,
            "outputs": outputs,
            "error": error,
            "asset_keys": asset_keys,
            "tasks": tasks,
        }


def to_json(data: Mapping[str, Any], *, compact: bool = False) -> str:
    """The manifest text: indent 2, sorted keys, trailing newline (trakt's format).

    `compact` (while a run is going on, rewritten after every event): one line, same keys, written with
    the C encoder so large runs stay cheap; the finished manifest is always written in trakt's format.
    """
    if compact:
        return json.dumps(data, sort_keys=True, separators=(",", ":"), default=_json_default) + "\n"
    return json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n"


_RANKS = {"pending": 0, "skipped": 1, "running": 2, "success": 3, "failed": 4}


def _check_record(outcome: Any) -> dict[str, Any]:
    return {
        "name": outcome.name,
        "passed": outcome.passed,
        "severity": outcome.severity,
        "description": outcome.description,
        "metadata": dict(outcome.metadata),
    }


def _rank(state: Mapping[str, Any]) -> int:
    return _RANKS.get(state.get("status", "pending"), 0)


def _entry(key: str, role: str, duration_ms: float | None, record: Mapping[str, Any]) -> tuple[str, str, Any]:
    """(section, name, entry) of a succeeded task: `inputs`/`outputs` by the recorded name, else `steps`."""
    data = dict(record)
    if role == TaskRole.INPUT:
        return "inputs", data.pop("name", key), data
    if role == TaskRole.OUTPUT:
        return "outputs", data.pop("name", key), data
    return "steps", key, step_entry(key, duration_ms, data)


def step_entry(step_id: str, duration_ms: float | None, record: Mapping[str, Any]) -> dict[str, Any]:
    """One entry of `steps`: trakt's fields with their defaults, overridden by what the tool recorded."""
    metrics = dict(record.get("metrics") or {})
    entry: dict[str, Any] = {
        "step_id": step_id,
        "rows_in": None,
        "rows_out": None,
        "duration_ms": duration_ms,
        "outputs": [],
        "metrics": metrics,
        "files_read": None,
        "rows_dropped": metrics.get("rows_dropped"),
        "rows_unmatched": metrics.get("rows_unmatched"),
    }
    entry.update({k: v for k, v in record.items() if k != "metrics"})
    return entry


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)
