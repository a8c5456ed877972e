"""The IO manager of step granularity: task values in the run folder (see `core/values.py`)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import dagster as dg

from trakt_dagster.core.metadata import TaskRunMetadataSet, json_list, metadata_entries
from trakt_dagster.core.names import dagster_name
from trakt_dagster.core.values import ValueStore

VALUES_IO_MANAGER_KEY = "trakt_values"


class TaskValueIOManager(dg.ConfigurableIOManager):
    """Stores task values of step-granularity ops in the run folder; loads them for downstream ops.

    A value produced in this run is read from this run's folder; otherwise from the producing run Dagster
    names (re-execution), else from the newest run that stored it.

    Example:
        >>> # Definitions(resources={"trakt_values": TaskValueIOManager(runs_dir="runs")})
    """

    runs_dir: str

    def _store(self, context: dg.OutputContext | dg.InputContext) -> tuple[ValueStore, str]:
        metadata = context.definition_metadata or {}
        pipeline = metadata.get("trakt/pipeline")
        task = metadata.get("trakt/task")
        pipeline_dir = Path(self.runs_dir) / dagster_name(str(getattr(pipeline, "value", pipeline)))
        return ValueStore(pipeline_dir), str(getattr(task, "value", task))

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        store, task = self._store(context)
        files = store.stored_files(context.run_id, task)  # the op stored it already (core.execution)
        if files is None:
            files = store.save(context.run_id, task, obj)
        context.add_output_metadata(
            metadata_entries(
                TaskRunMetadataSet,
                value_path=dg.MetadataValue.path(str(store.folder(context.run_id, task))),
                value_files=json_list(files),
            )
        )

    def load_input(self, context: dg.InputContext) -> Any:
        upstream = context.upstream_output
        store, task = self._store(upstream)
        candidates: list[str] = []
        with contextlib.suppress(Exception):  # the producing run, when Dagster knows it
            candidates.append(upstream.run_id)
        run_id = store.find(task, candidates)
        if run_id is None:
            raise FileNotFoundError(
                f"No stored value of task '{task}' (asset {upstream.asset_key.to_user_string()}) under "
                f"{store.pipeline_dir}: materialize it first, or run the pipeline with its upstream tasks selected."
            )
        return store.load(task, run_id)
