"""flowrun's run report (`get_run_report`, spec §3.7) for a run on Dagster, kept in the run's manifest.

The report has flowrun's shape and status rules: `SUCCESS` when every task succeeded, `FAILED` when any
failed or was skipped, `RUNNING` otherwise; per task `status`, `attempt` (0 = never started),
`started_at` / `finished_at` (`time.time()` floats), `error` (the traceback, `Timeout after Ns`, or
`UPSTREAM_FAILED` for skips) and `result`. In the manifest (`flowrun_report`), results are JSON values
when they are small JSON data, else `{"type": ..., "repr": ...}`; `live()` returns the objects themselves.
The manifest's keys are sorted, so `task_order` keeps flowrun's topological order (`load_run_report`
restores it).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REPORT_KEY = "flowrun_report"
RESUME_KEY = "flowrun_resume"
MAX_RESULT_CHARS = 4000
_NOT_RUN = "NOT_RUN: the run stopped before this task started"


def render_result(value: Any) -> Any:
    """A JSON-safe form of a task result for the manifest.

    Example:
        >>> render_result({"rows": [1, 2]})
        {'rows': [1, 2]}
        >>> render_result(x for x in [1])["type"]
        'generator'
    """
    if value is None or isinstance(value, bool | int | float | str) and len(str(value)) <= MAX_RESULT_CHARS:
        return value
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        text = None
    if text is not None and len(text) <= MAX_RESULT_CHARS:
        return json.loads(text)
    try:
        shown = repr(value)
    except Exception as exc:  # noqa: BLE001 - a broken __repr__ must not break the report
        shown = f"<repr failed: {exc!r}>"
    kind = type(value)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    return {"type": name, "repr": shown if len(shown) <= 500 else shown[:497] + "..."}


class RunReport:
    """The live report of one run: updated by the task callables and runner events, thread-safe.

    Example:
        >>> report = RunReport("r1", "orders", {"batch": 1}, ["fetch", "clean"])
        >>> report.start("fetch", 1); report.succeed("fetch", [1])
        >>> report.skip("clean", "UPSTREAM_FAILED")
        >>> report.live()["status"], report.live()["tasks"]["clean"]["attempt"]
        ('FAILED', 0)
    """

    def __init__(self, run_id: str, dag_name: str, metadata: Mapping[str, Any], tasks: Iterable[str]) -> None:
        self.run_id = run_id
        self.dag_name = dag_name
        self.metadata = dict(metadata)
        self.created_at = time.time()
        self.finished_at: float | None = None
        self.tasks: dict[str, dict[str, Any]] = {name: _pending() for name in tasks}
        self.rendered: dict[str, Any] = {}
        """Results already rendered for the manifest (re-rendered when the run finishes)."""
        self._lock = threading.Lock()

    # -- updates ------------------------------------------------------------------------------
    def start(self, name: str, attempt: int) -> None:
        with self._lock:
            self._task(name).update(status="RUNNING", attempt=attempt, started_at=time.time(), finished_at=None)

    def succeed(self, name: str, result: Any) -> None:
        with self._lock:
            self._task(name).update(status="SUCCESS", finished_at=time.time(), error=None, result=result)
            self.rendered.pop(name, None)

    def fail(self, name: str, error: str) -> None:
        with self._lock:
            self._task(name).update(status="FAILED", finished_at=time.time(), error=error, result=None)

    def retry(self, name: str) -> None:
        """A failed attempt is followed by another one (flowrun: FAILED → PENDING)."""
        with self._lock:
            self._task(name).update(status="PENDING", finished_at=None, error=None)

    def skip(self, name: str, reason: str) -> None:
        with self._lock:
            self._task(name).update(status="SKIPPED", finished_at=time.time(), error=reason, started_at=None)

    def preserve(self, name: str, entry: Mapping[str, Any], result: Any = None, *, loaded: bool = False) -> None:
        """A task taken over from the resumed run (flowrun copies status, attempt, timestamps, result).

        `result` is the reloaded value when `loaded`; else the resumed run's rendered result is shown."""
        with self._lock:
            self.tasks[name] = {
                "status": "SUCCESS",
                "attempt": entry.get("attempt", 1),
                "started_at": entry.get("started_at"),
                "finished_at": entry.get("finished_at"),
                "error": None,
                "result": result if loaded else entry.get("result"),
            }
            self.rendered.pop(name, None)

    def finish(self, *, interrupted: bool = False) -> None:
        """The run is over: tasks that never started are SKIPPED (`NOT_RUN`), interrupted ones FAILED."""
        with self._lock:
            now = time.time()
            for state in self.tasks.values():
                if state["status"] == "PENDING" and interrupted:
                    state.update(status="SKIPPED", error=_NOT_RUN, finished_at=now, started_at=None)
                elif state["status"] == "RUNNING":
                    state.update(
                        status="FAILED", error="RunCancelledError: the Dagster run was terminated", finished_at=now
                    )
            if all(s["status"] in ("SUCCESS", "FAILED", "SKIPPED") for s in self.tasks.values()):
                self.finished_at = now
            self.rendered.clear()

    # -- views --------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        statuses = [state["status"] for state in self.tasks.values()]
        if any(status in ("FAILED", "SKIPPED") for status in statuses):
            return "FAILED"
        if statuses and all(status == "SUCCESS" for status in statuses):
            return "SUCCESS"
        return "RUNNING"

    def live(self) -> dict[str, Any]:
        """flowrun's `get_run_report` dict, with the live result objects."""
        with self._lock:
            return {
                "run_id": self.run_id,
                "dag_name": self.dag_name,
                "metadata": dict(self.metadata),
                "created_at": self.created_at,
                "finished_at": self.finished_at,
                "status": self.status,
                "tasks": {name: dict(state) for name, state in self.tasks.items()},
            }

    def render(self) -> dict[str, Any]:
        """The report for the manifest (JSON-safe results)."""
        report = self.live()
        for name, state in report["tasks"].items():
            if state["status"] != "SUCCESS":
                continue
            if name not in self.rendered:
                self.rendered[name] = render_result(state["result"])
            state["result"] = self.rendered[name]
        report["metadata"] = render_result(report["metadata"]) if report["metadata"] else {}
        report["task_order"] = list(report["tasks"])
        return report

    def _task(self, name: str) -> dict[str, Any]:
        return self.tasks.setdefault(name, _pending())


def _pending() -> dict[str, Any]:
    return {"status": "PENDING", "attempt": 0, "started_at": None, "finished_at": None, "error": None, "result": None}


def read_manifest(run_folder: Path) -> dict[str, Any] | None:
    """The manifest of a run folder, or None when there is none (or it is unreadable)."""
    try:
        return json.loads((Path(run_folder) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_run_report(run_folder: str | Path) -> dict[str, Any]:
    """flowrun's run report of a Dagster run, read from its run folder (`runs/<dag>/<run id>/`).

    Example:
        >>> # report = load_run_report("runs/orders/6c1f...")
        >>> # report["status"], report["tasks"]["publish"]["error"]
    """
    manifest = read_manifest(Path(run_folder))
    if manifest is None:
        raise KeyError(f"No run folder with a manifest at {run_folder}")
    if REPORT_KEY not in manifest:
        raise KeyError(f"The run at {run_folder} is not a flowrun run (no {REPORT_KEY} in its manifest)")
    report = dict(manifest[REPORT_KEY])
    order = report.pop("task_order", None) or list(report["tasks"])
    report["tasks"] = {name: report["tasks"][name] for name in order}
    return report
