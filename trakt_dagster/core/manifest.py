"""The run manifest: trakt's `manifest.json` schema, extended for every tool.

Base keys (trakt §3.5, kept exactly): run_id, status, pipeline{name, version}, runner, started_at,
finished_at, duration_ms, inputs, steps (completed steps only), outputs (completely written datasets),
error{type, message} — plus `error.step_id` and these additions: tool, dagster_run_id, granularity,
run_folder, asset_keys (materialized in this run) and tasks (every planned task with status,
attempts, timings, asset key and error). While a run is going on, `status` is `running`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from trakt_dagster.core.events import TaskFailed, TaskRetrying, TaskSkipped, TaskStarted, TaskSucceeded
from trakt_dagster.core.graph import TaskGraph, TaskRole

RUNNER_NAME = "DagsterRunner"


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
        planned: list[str] | None = None,
        selected: set[str] | None = None,
    ) -> None:
        self.graph = graph
        self.roles = {t.key: t.role for t in graph.tasks}
        self.asset_keys = dict(asset_keys or {})
        self.started_at = datetime.now(UTC)
        self._t0 = time.perf_counter()
        self.data: dict[str, Any] = {
            "run_id": run_id,
            "status": "running",
            "pipeline": {"name": graph.name, "version": pipeline_version},
            "runner": RUNNER_NAME,
            "started_at": iso(self.started_at),
            "finished_at": None,
            "duration_ms": None,
            "inputs": {},
            "steps": [],
            "outputs": {},
            "error": None,
            "tool": graph.tool,
            "dagster_run_id": dagster_run_id,
            "granularity": granularity,
            "run_folder": str(run_folder),
            "asset_keys": [],
            "tasks": {},
        }
        for key in planned or []:
            self.data["tasks"][key] = {
                "role": str(self.roles.get(key, TaskRole.STEP)),
                "status": "pending",
                "selected": selected is None or key in selected,
                "asset_key": self.asset_keys.get(key),
                "attempts": 0,
                "started_at": None,
                "finished_at": None,
                "duration_ms": None,
                "error": None,
            }

    # -- events -------------------------------------------------------------------------------
    def _task(self, key: str) -> dict[str, Any]:
        return self.data["tasks"].setdefault(
            key, {"role": str(self.roles.get(key, TaskRole.STEP)), "status": "pending", "attempts": 0}
        )

    def task_started(self, event: TaskStarted) -> None:
        task = self._task(event.key)
        task.update(status="running", started_at=iso(event.started_at), attempts=1)

    def task_retrying(self, event: TaskRetrying) -> None:
        task = self._task(event.key)
        task["attempts"] = event.attempt
        task.setdefault("retried_errors", []).append(error_record(event.error, None))

    def task_succeeded(self, event: TaskSucceeded, *, materialized: bool) -> None:
        task = self._task(event.key)
        task.update(
            status="success",
            attempts=event.attempts,
            finished_at=iso(event.finished_at),
            duration_ms=event.duration_ms,
        )
        if materialized and self.asset_keys.get(event.key):
            self.data["asset_keys"].append(self.asset_keys[event.key])
        record = dict(event.result.record)
        role = self.roles.get(event.key, TaskRole.STEP)
        if role is TaskRole.INPUT:
            name = record.pop("name", event.key)
            self.data["inputs"][name] = record
        elif role is TaskRole.OUTPUT:
            name = record.pop("name", event.key)
            self.data["outputs"][name] = record
        else:
            self.data["steps"].append(step_entry(event.key, event.duration_ms, record))

    def task_failed(self, event: TaskFailed) -> None:
        task = self._task(event.key)
        role = self.roles.get(event.key, TaskRole.STEP)
        step_id = getattr(event.error, "step_id", None) or (event.key if role is TaskRole.STEP else None)
        record = error_record(event.error, step_id)
        task.update(
            status="failed",
            attempts=event.attempts,
            finished_at=iso(event.finished_at),
            duration_ms=event.duration_ms,
            error=record,
        )
        if self.data["error"] is None:
            self.data["error"] = record

    def task_skipped(self, event: TaskSkipped) -> None:
        task = self._task(event.key)
        task.update(status="skipped", reason=event.reason)

    def fail(self, error: BaseException, step_id: str | None = None) -> None:
        """Record an error that happened outside any task (e.g. bad run config)."""
        if self.data["error"] is None:
            self.data["error"] = error_record(error, step_id)

    def finish(self, *, success: bool) -> None:
        finished = datetime.now(UTC)
        self.data["status"] = "success" if success and self.data["error"] is None else "failed"
        self.data["finished_at"] = iso(finished)
        self.data["duration_ms"] = round((time.perf_counter() - self._t0) * 1000, 3)

    # -- rendering ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return self.data

    def to_json(self) -> str:
        return json.dumps(self.data, indent=2, sort_keys=True, default=_json_default) + "\n"


def step_entry(step_id: str, duration_ms: float, record: Mapping[str, Any]) -> dict[str, Any]:
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
