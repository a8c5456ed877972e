"""Helpers for pit tests: write a workspace of projects, run a DAG through Dagster, read its run folder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from tests.conftest import DagRun, execute_dag, write_files
from trakt_dagster.core.definitions import load_graphs
from trakt_dagster.core.names import dagster_name


def workspace(root: Path, files: Mapping[str, str]) -> Path:
    """Write a pit workspace (`projects/<name>/pit.toml`, scripts, pit_config.toml, secrets) under `root`."""
    return write_files(root, files)


@dataclass
class PitRun(DagRun):
    """One run of a pit DAG through Dagster (`execute_in_process`)."""

    @property
    def report(self) -> dict[str, Any]:
        return self.manifest["pit"]

    def status(self, task: str) -> str:
        return self.report["tasks"][task]["status"]

    def log(self, task: str) -> str:
        return Path(self.report["tasks"][task]["log"]).read_text()

    def metadata_of(self, task: str) -> dict[str, Any]:
        for event in self.result.all_events:
            if event.event_type_value == "ASSET_MATERIALIZATION":
                mat = event.event_specific_data.materialization
                if mat.metadata.get("pit/run_id") is not None and mat.asset_key.path[-1] == dagster_name(task):
                    return {k: v.value for k, v in mat.metadata.items()}
        raise KeyError(task)

    def dagster_log_text(self) -> str:
        return "\n".join(self.log_messages())


def run_pit(
    root: Path,
    dag: str,
    instance: dg.DagsterInstance,
    *,
    select: Sequence[str] | None = None,
    config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
) -> PitRun:
    """Build the root's definitions and execute the DAG's job in this process."""
    result = execute_dag(root, dag, instance, select=select, config=config, tags=tags)
    return PitRun(result, root, dag, instance)


def load_errors(root: Path) -> str:
    """Every load error of a workspace, rendered."""
    _, errors = load_graphs(root)
    return "\n".join(e.render() for e in errors)
