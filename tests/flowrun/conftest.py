"""Helpers for flowrun tests: write pipeline modules, run a DAG through Dagster, read its report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import dagster as dg

from tests.conftest import DagRun, execute_dag
from trakt_dagster.core.names import dagster_name
from trakt_dagster.core.pymodules import import_pipeline_module


@dataclass
class FlowrunRun(DagRun):
    """One run of a flowrun DAG through Dagster (`execute_in_process`)."""

    @property
    def report(self) -> dict[str, Any]:
        return self.manifest["flowrun_report"]

    def task(self, name: str) -> dict[str, Any]:
        return self.report["tasks"][name]

    def metadata_of(self, task: str) -> dict[str, Any]:
        key = f"{dagster_name(self.dag)}/{dagster_name(task)}"
        for event in self.result.all_events:
            if event.event_type_value == "ASSET_MATERIALIZATION":
                mat = event.event_specific_data.materialization
                if mat.asset_key.to_user_string() == key:
                    return {k: v.value for k, v in mat.metadata.items()}
        raise KeyError(key)


def module_of(root: Path, rel: str) -> ModuleType:
    """The imported pipeline module (the same object the front end loaded)."""
    found = import_pipeline_module(root / rel)
    assert found.error is None, found.error.render()
    return found.module


def run_dag(
    root: Path,
    dag: str,
    instance: dg.DagsterInstance,
    *,
    tags: Mapping[str, str] | None = None,
    select: Sequence[str] | None = None,
    config: Mapping[str, Any] | None = None,
    granularity: str | None = None,
) -> FlowrunRun:
    """Build the root's definitions and execute the DAG's job in this process."""
    result = execute_dag(root, dag, instance, select=select, config=config, tags=tags, granularity=granularity)
    return FlowrunRun(result, root, dag, instance)
