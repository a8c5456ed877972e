"""Helpers for ductaflow tests: write a project, run its notebooks through Dagster, read instance folders."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from tests.conftest import write_files
from trakt_dagster.core.definitions import load_graphs
from trakt_dagster.core.names import dagster_name
from trakt_dagster.ductaflow.runtime import REPORT_KEY

HEADER = """\
# %% tags=["parameters"]
config = {}

# %%
from ductaflow import unpack_config
vars().update(unpack_config(config, None, locals()))
"""
"""The first two cells of a typical flow: the parameters cell and the ductaflow header."""


def flow(body: str, header: str = HEADER) -> str:
    """A percent-format flow: the header cells, then `body` (one or more `# %%` cells)."""
    import textwrap

    return header + "\n" + textwrap.dedent(body).lstrip("\n")


def write_project(root: Path, name: str, files: Mapping[str, str]) -> Path:
    """`pipelines/<name>/...` (with `flows/` and `config/` present) under `root`; returns the project folder."""
    folder = root / "pipelines" / name
    (folder / "flows").mkdir(parents=True, exist_ok=True)
    (folder / "config").mkdir(parents=True, exist_ok=True)
    write_files(folder, files)
    return folder


def load_errors(root: Path) -> str:
    _, errors = load_graphs(root)
    return "\n".join(e.render() for e in errors)


@dataclass
class NotebookRun:
    """One Dagster run of a ductaflow notebook's job."""

    result: dg.ExecuteInProcessResult
    root: Path
    job: str
    instance: dg.DagsterInstance

    @property
    def success(self) -> bool:
        return self.result.success

    @property
    def manifest(self) -> dict[str, Any]:
        path = self.root / "runs" / self.job / self.result.run_id / "manifest.json"
        return json.loads(path.read_text())

    @property
    def instances(self) -> dict[str, dict[str, Any]]:
        return self.manifest[REPORT_KEY]["instances"]

    def materializations(self) -> dict[tuple[str, str | None], dict[str, Any]]:
        found = {}
        for event in self.result.get_asset_materialization_events():
            mat = event.materialization
            found[(mat.asset_key.to_user_string(), mat.partition)] = {k: v.value for k, v in mat.metadata.items()}
        return found

    def checks(self) -> list[Any]:
        return [e.event_specific_data for e in self.result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]

    def log_text(self) -> str:
        return "\n".join(r.user_message for r in self.instance.all_logs(self.result.run_id))

    def failure_message(self) -> str:
        return "\n".join(
            e.step_failure_data.error.message
            for e in self.result.all_events
            if e.is_step_failure and e.step_failure_data.error
        )


def run_notebook_job(
    defs: dg.Definitions,
    root: Path,
    project: str,
    notebook: str,
    instance: dg.DagsterInstance,
    *,
    partitions: Sequence[str] | None = None,
    config: Mapping[str, Any] | None = None,
) -> NotebookRun:
    """Execute `<project>__<notebook>` in this process; `partitions` a contiguous range (first..last)."""
    job = dagster_name(f"{project}__{notebook}")
    tags = {}
    if partitions:
        tags = {
            "dagster/asset_partition_range_start": partitions[0],
            "dagster/asset_partition_range_end": partitions[-1],
        }
    run_config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    if config:
        run_config["ops"] = {f"{job}_pipeline": {"config": dict(config)}}
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance, raise_on_error=False, tags=tags, run_config=run_config
    )
    return NotebookRun(result, root, job, instance)
