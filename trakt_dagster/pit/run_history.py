"""The pit runs a workspace has kept: every run folder whose `manifest.json` holds pit's report, for
`pit logs` and `pit status`.

Runs live in `<runs dir>/<dag>/<dagster run id>/` (whoever started them: the CLI, the UI, a schedule or a
sensor); pit's own run id (`YYYYMMDD_HHMMSS.mmm_<dag>`) is in the report.

Example:
    >>> # for run in pit_runs(Path("."), "sales"): print(run.run_id, run.status, run.folder)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from trakt_dagster.core.definitions import default_runs_dir
from trakt_dagster.core.names import dagster_name

RUN_ID_TIMESTAMP_LEN = 20
"""`YYYYMMDD_HHMMSS.mmm_`: what precedes the DAG name in pit's run id."""


@dataclass(frozen=True)
class PitRunRecord:
    """One kept run: its folder and pit's report from the manifest."""

    folder: Path
    manifest: dict[str, Any]

    @property
    def report(self) -> dict[str, Any]:
        return self.manifest["pit"]

    @property
    def run_id(self) -> str:
        return str(self.report.get("run_id", ""))

    @property
    def dag(self) -> str:
        return str(self.report.get("dag_name", ""))

    @property
    def dagster_run_id(self) -> str:
        return str(self.manifest.get("dagster_run_id", ""))

    @property
    def status(self) -> str:
        return str(self.report.get("status", "running"))

    @property
    def started(self) -> datetime:
        """Local start time (from pit's run id, else the report's timestamp)."""
        try:
            return datetime.strptime(self.run_id[: RUN_ID_TIMESTAMP_LEN - 1], "%Y%m%d_%H%M%S.%f")
        except ValueError:
            text = self.report.get("started_at") or self.manifest.get("started_at") or "1970-01-01T00:00:00"
            return datetime.fromisoformat(text).astimezone().replace(tzinfo=None)

    @property
    def seconds(self) -> float | None:
        """The run's duration, or None while it is still running."""
        duration = self.report.get("duration_ms")
        if duration is None or self.report.get("finished_at") is None:
            return None
        return float(duration) / 1000

    def task_of_log(self, path: Path) -> str:
        """The task whose log file `path` is (pit names the file after the task; unsafe characters differ)."""
        for name, state in (self.report.get("tasks") or {}).items():
            if Path(str(state.get("log", ""))).name == path.name:
                return name
        return path.stem


def dag_of_run_id(run_id: str) -> str:
    """The DAG part of pit's run id; raises ValueError with pit's message when it is too short.

    Example:
        >>> dag_of_run_id("20260317_060001.250_sales")
        'sales'
    """
    if len(run_id) <= RUN_ID_TIMESTAMP_LEN:
        raise ValueError(f'run ID "{run_id}" is too short to contain a DAG name')
    return run_id[RUN_ID_TIMESTAMP_LEN:]


def _read(manifest_path: Path) -> PitRunRecord | None:
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("pit"), dict):
        return None
    return PitRunRecord(manifest_path.parent, manifest)


def pit_runs(root: Path, dag: str | None = None) -> list[PitRunRecord]:
    """The kept runs of `dag` (every DAG when None), newest first.

    Example:
        >>> pit_runs(Path("/nonexistent"), "sales")
        []
    """
    runs_dir = Path(default_runs_dir(root))
    pattern = f"{dagster_name(dag)}/*/manifest.json" if dag else "*/*/manifest.json"
    found = [record for path in runs_dir.glob(pattern) if (record := _read(path)) is not None]
    if dag:
        found = [record for record in found if record.dag == dag]
    return sorted(found, key=lambda r: (r.started, r.run_id), reverse=True)


def latest_per_dag(root: Path) -> list[PitRunRecord]:
    """The newest kept run of each DAG, sorted by DAG name (pit's `status`)."""
    newest: dict[str, PitRunRecord] = {}
    for record in pit_runs(root):
        newest.setdefault(record.dag, record)
    return [newest[name] for name in sorted(newest)]
