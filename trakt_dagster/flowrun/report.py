"""flowrun's run report (`get_run_report`, spec §3.7) for a run on Dagster, kept in the run's manifest.

The report has flowrun's shape and status rules: `SUCCESS` when every task succeeded, `FAILED` when any
failed or was skipped, `RUNNING` otherwise; per task `status`, `attempt` (0 = never started),
`started_at` / `finished_at` (`time.time()` floats), `error` (the traceback, `Timeout after Ns`, or
`UPSTREAM_FAILED` for skips) and `result`; `live()` returns the result objects themselves.

When a run ends, `flowrun_report.json` in its run folder holds the report as flowrun's `get_run_report`
returns it: flowrun's key order (run, then tasks in topological order, each task's keys in flowrun's order,
results with their own key order) and every JSON-serialisable result whole; only results JSON cannot hold
(generators, clients, frames) become `{"type": ..., "repr": ...}`. The manifest's `flowrun_report` is the
same report kept current during the run, with sorted keys (`task_order` keeps the topological order) and
results longer than 4,000 characters of JSON shown as `{"type", "repr"}`, since the manifest is rewritten
after every task event.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from trakt_dagster.core.json_parts import VersionedDict

REPORT_KEY = "flowrun_report"
REPORT_FILE = "flowrun_report.json"
RESUME_KEY = "flowrun_resume"
MAX_RESULT_CHARS = 4000
"""Largest JSON text of a result the manifest holds as a JSON value (`flowrun_report.json` holds any size)."""
MAX_REPR_CHARS = 500
_NOT_RUN = "NOT_RUN: the run stopped before this task started"


def render_result(value: Any, limit: int | None = MAX_RESULT_CHARS) -> Any:
    """A JSON-safe form of a task result: the value itself when JSON can hold it (and its JSON text is at most
    `limit` characters; None = any size), else `{"type": ..., "repr": ...}`.

    Example:
        >>> render_result({"seen": 2, "kept": 1})
        {'seen': 2, 'kept': 1}
        >>> render_result(x for x in [1])["type"]
        'generator'
        >>> len(render_result(list(range(5000)), limit=None))
        5000
    """
    plain = value is None or isinstance(value, bool | int | str) or isinstance(value, float) and math.isfinite(value)
    if plain and (limit is None or len(str(value)) <= limit):
        return value
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        text = None
    if text is not None and (limit is None or len(text) <= limit):
        return json.loads(text)
    try:
        shown = repr(value)
    except Exception as exc:  # noqa: BLE001 - a broken __repr__ must not break the report
        shown = f"<repr failed: {exc!r}>"
    kind = type(value)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    return {"type": name, "repr": shown if len(shown) <= MAX_REPR_CHARS else shown[: MAX_REPR_CHARS - 3] + "..."}


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
        self.versions: dict[str, int] = dict.fromkeys(self.tasks, 0)
        """Per task: bumped on every change, so the manifest re-encodes only the tasks that changed."""
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
            self._touch(name)
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
            for name in self.tasks:
                self._touch(name)
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
            return self._live()

    def _live(self) -> dict[str, Any]:
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
        """The report for the manifest (JSON-safe results); its `tasks` carry versions (`VersionedDict`)."""
        with self._lock:
            report = self._live()
            versions = dict(self.versions)
        for name, state in report["tasks"].items():
            if state["status"] != "SUCCESS":
                continue
            if name not in self.rendered:
                self.rendered[name] = render_result(state["result"])
            state["result"] = self.rendered[name]
        report["metadata"] = render_result(report["metadata"]) if report["metadata"] else {}
        report["task_order"] = list(report["tasks"])
        report["tasks"] = VersionedDict(report["tasks"], versions)
        return report

    def flowrun_form(self) -> dict[str, Any]:
        """The report as flowrun's `get_run_report` returns it, JSON-safe: flowrun's key order, every
        JSON-serialisable result whole (for `flowrun_report.json`)."""
        report = self.live()
        for state in report["tasks"].values():
            state["result"] = render_result(state["result"], limit=None)
        report["metadata"] = render_result(report["metadata"], limit=None) if report["metadata"] else {}
        return report

    def write(self, path: Path, redact: Any = None) -> None:
        """Write `flowrun_form()` to `path` atomically (indent 2, keys in flowrun's order)."""
        from trakt_dagster.core.atomic import atomic_write_text

        text = json.dumps(self.flowrun_form(), indent=2) + "\n"
        atomic_write_text(path, redact(text) if redact is not None else text)

    def _task(self, name: str) -> dict[str, Any]:
        """The state of `name` for an update (it counts as changed)."""
        self._touch(name)
        return self.tasks.setdefault(name, _pending())

    def _touch(self, name: str) -> None:
        self.versions[name] = self.versions.get(name, 0) + 1


def _pending() -> dict[str, Any]:
    return {"status": "PENDING", "attempt": 0, "started_at": None, "finished_at": None, "error": None, "result": None}


def read_manifest(run_folder: Path) -> dict[str, Any] | None:
    """The manifest of a run folder, or None when there is none (or it is unreadable)."""
    try:
        return json.loads((Path(run_folder) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_run_report(run_folder: str | Path) -> dict[str, Any]:
    """flowrun's run report of a Dagster run, read from its run folder (`runs/<dag>/<run id>/`): its
    `flowrun_report.json`, or for a run killed before it ended the manifest's copy in flowrun's key order.

    Example:
        >>> # report = load_run_report("runs/orders/6c1f...")
        >>> # report["status"], report["tasks"]["publish"]["error"]
    """
    written = Path(run_folder) / REPORT_FILE
    try:
        return json.loads(written.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass  # a run that was killed before it ended: the manifest's copy
    manifest = read_manifest(Path(run_folder))
    if manifest is None:
        raise KeyError(f"No run folder with a manifest at {run_folder}")
    if REPORT_KEY not in manifest:
        raise KeyError(f"The run at {run_folder} is not a flowrun run (no {REPORT_KEY} in its manifest)")
    report = dict(manifest[REPORT_KEY])
    order = report.pop("task_order", None) or list(report["tasks"])
    tasks = {name: {key: report["tasks"][name].get(key) for key in _TASK_KEYS} for name in order}
    return {**{key: report.get(key) for key in _RUN_KEYS}, "tasks": tasks}


_RUN_KEYS = ("run_id", "dag_name", "metadata", "created_at", "finished_at", "status")
_TASK_KEYS = ("status", "attempt", "started_at", "finished_at", "error", "result")
"""flowrun's key order in `get_run_report` (the manifest sorts keys)."""
