"""`conductor_results.json` and the conductor's HTML status report, regenerated from Dagster's records.

For every scenario the newest of its Dagster outcomes counts: the latest materialization of its partition
(green or amber, from the run's metadata) or a later observation with status `error` (red: the task records
a failed instance that way, since Dagster itself keeps no per-partition failure record). Scenarios never run are
left out, as the original lists only the scenarios it ran. Written after every run of the conductor's
target and by `trakt-dagster ductaflow report`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from trakt_dagster.ductaflow.compat.ductaflow._logfile import atomic_write
from trakt_dagster.ductaflow.compat.ductaflow._report import generate_status_report
from trakt_dagster.ductaflow.model import Conductor, DuctaflowProject
from trakt_dagster.ductaflow.runtime import InstanceOutcome, asset_key
from trakt_dagster.ductaflow.tasks import write_json


def report_paths(work_root: Path, conductor: Conductor) -> tuple[Path, Path]:
    """(`conductor_results.json`, status report HTML) of a conductor below the project's work root."""
    results = work_root / conductor.model_root / "conductor_results.json"
    name = "conductor_status_report.html" if conductor.name == "conductor" else f"{conductor.name}_status_report.html"
    return results, work_root / name


def _value(metadata: Any, key: str) -> Any:
    item = metadata.get(key)
    return getattr(item, "value", item)


def _latest(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> dict[str, Any] | None:
    from dagster._core.storage.event_log.base import AssetRecordsFilter

    records_filter = AssetRecordsFilter(asset_key=key, asset_partitions=[partition])
    materialized = instance.fetch_materializations(records_filter, limit=1).records
    observed = instance.fetch_observations(records_filter, limit=1).records
    mat = materialized[0] if materialized else None
    fail = observed[0] if observed else None
    if fail is not None and fail.asset_observation is not None and (mat is None or fail.storage_id > mat.storage_id):
        metadata = fail.asset_observation.metadata
        if _value(metadata, "ductaflow/status") == "error":
            error = str(_value(metadata, "ductaflow/error") or "failed")
            return {
                "status": "failed",
                "detail_status": "error",
                "error": error.splitlines()[0] if error else "failed",
                "end_time": datetime.fromtimestamp(fail.timestamp, UTC).isoformat(),
                "dagster_run_id": fail.run_id,
            }
    if mat is None:
        return None
    event = mat.asset_materialization
    metadata = event.metadata if event is not None else {}
    duration = _value(metadata, "ductaflow/duration_s")
    return {
        "status": "success",
        "detail_status": _value(metadata, "ductaflow/status") or "success",
        "duration_minutes": float(duration) / 60 if duration is not None else None,
        "end_time": datetime.fromtimestamp(mat.timestamp, UTC).isoformat(),
        "dagster_run_id": mat.run_id,
    }


def _from_outcome(outcome: InstanceOutcome) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "status": "failed" if outcome.status == "error" else "success",
        "detail_status": outcome.status,
        "duration_minutes": outcome.duration_s / 60,
        "start_time": datetime.fromtimestamp(outcome.started_at, UTC).isoformat() if outcome.started_at else None,
        "end_time": datetime.fromtimestamp(outcome.started_at + outcome.duration_s, UTC).isoformat()
        if outcome.started_at
        else None,
    }
    if outcome.error:
        entry["error"] = outcome.error.splitlines()[0]
    return entry


def conductor_results(
    project: DuctaflowProject,
    conductor: Conductor,
    work_root: Path,
    instance: dg.DagsterInstance,
    current: dict[str, InstanceOutcome] | None = None,
) -> list[dict[str, Any]]:
    """One result per scenario with a known outcome, in grid order (the original's `results` list)."""
    key = asset_key(project, conductor.target[1])
    results = []
    for scenario in conductor.scenarios:
        outcome = (current or {}).get(scenario.key)
        entry = _from_outcome(outcome) if outcome is not None else _latest(instance, key, scenario.key)
        if entry is None:
            continue
        params = {k: v for k, v in (scenario.scenario or {}).items() if k != "scenario_name"}
        results.append(
            {
                "scenario": scenario.name,
                "partition": scenario.key,
                "folder": str(work_root / scenario.folder),
                **{k: v for k, v in entry.items() if v is not None},
                **params,
            }
        )
    return results


def write_conductor_report(
    project: DuctaflowProject,
    conductor: Conductor,
    work_root: Path,
    instance: dg.DagsterInstance,
    current: dict[str, InstanceOutcome] | None = None,
) -> tuple[Path, Path]:
    """Write `conductor_results.json` and the HTML status report; returns their paths."""
    results = conductor_results(project, conductor, work_root, instance, current)
    results_path, html_path = report_paths(work_root, conductor)
    write_json(
        results_path,
        {
            "execution_timestamp": datetime.now(UTC).isoformat(),
            "conductor": conductor.name,
            "target": f"{conductor.target[0]}s/{conductor.target[1]}.py",
            "base_config": conductor.base_config,
            "scenario_dimensions": {d: conductor.dimensions[d] for d in conductor.active_dimensions},
            "results": results,
        },
    )
    atomic_write(html_path, generate_status_report(results, work_root / conductor.model_root))
    return results_path, html_path
