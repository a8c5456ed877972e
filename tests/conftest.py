"""Shared fixtures: one Dagster instance per test module, helpers to write and run trakt pipelines."""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from trakt_dagster.core.builder import build_graph_definitions
from trakt_dagster.core.graph import Granularity, TaskGraph
from trakt_dagster.core.names import dagster_name
from trakt_dagster.core.resources import RunStorage
from trakt_dagster.trakt.loader import load_pipeline_spec
from trakt_dagster.trakt.translate import build_trakt_graph

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    """One ephemeral Dagster instance shared by the tests of a module."""
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def dagster_home(folder: Path, config: str | Path | None = None) -> Path:
    """A DAGSTER_HOME for a test: `config` (dagster.yaml text, or a file to copy) in `folder`, the instance
    created and migrated once before any process opens it (as `make run` and the CLI do)."""
    from trakt_dagster.core.instance import prepare_dagster_home

    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(config, Path):
        shutil.copy(config, folder / "dagster.yaml")
    elif config is not None:
        (folder / "dagster.yaml").write_text(config)
    return prepare_dagster_home(folder)


def write_files(root: Path, files: Mapping[str, str]) -> Path:
    """Create `files` (relative path → text, dedented) under `root`."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


@dataclass
class TraktRun:
    """The outcome of running one trakt pipeline through Dagster in a test."""

    result: dg.ExecuteInProcessResult
    graph: TaskGraph
    runs_dir: Path
    output_dir: Path

    @property
    def success(self) -> bool:
        return self.result.success

    @property
    def manifest(self) -> dict[str, Any]:
        path = self.runs_dir / dagster_name(self.graph.name) / self.result.run_id / "manifest.json"
        return json.loads(path.read_text())

    @property
    def trakt_manifest(self) -> dict[str, Any]:
        return json.loads((self.output_dir / "manifest.json").read_text())

    def output(self, name: str) -> str:
        return (self.output_dir / name).read_text()

    def materializations(self) -> dict[str, dict[str, Any]]:
        found = {}
        for event in self.result.get_asset_materialization_events():
            mat = event.materialization
            found[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
        return found

    def failure_message(self) -> str:
        failures = [e for e in self.result.all_events if e.is_step_failure]
        return "\n".join((f.step_failure_data.error.message if f.step_failure_data.error else "") for f in failures)


@dataclass
class DagRun:
    """One `execute_in_process` run of a pipeline's job, with its run folder (`runs/<pipeline>/<run id>`)."""

    result: dg.ExecuteInProcessResult
    root: Path
    dag: str
    instance: dg.DagsterInstance

    @property
    def success(self) -> bool:
        return self.result.success

    @property
    def run_id(self) -> str:
        return self.result.run_id

    @property
    def folder(self) -> Path:
        return self.root / "runs" / dagster_name(self.dag) / self.run_id

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.folder / "manifest.json").read_text())

    def materialized(self) -> list[str]:
        return [
            e.event_specific_data.materialization.asset_key.to_user_string()
            for e in self.result.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION"
        ]

    def log_messages(self) -> list[str]:
        return [record.user_message for record in self.instance.all_logs(self.run_id)]


def execute_dag(
    root: Path,
    dag: str,
    instance: dg.DagsterInstance,
    *,
    select: Sequence[str] | None = None,
    config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    granularity: str | None = None,
) -> dg.ExecuteInProcessResult:
    """Build a root's definitions and execute one pipeline's job in this process (the pipeline's own
    granularity unless `granularity` is given): `select` names tasks, `config` is each op's run config."""
    from trakt_dagster import build_definitions

    defs = build_definitions(root, runs_dir=str(root / "runs"), granularity=granularity)
    job = defs.resolve_job_def(dagster_name(dag))
    selection = [dg.AssetKey([dagster_name(dag), dagster_name(t)]) for t in select] if select else None
    run_config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    if config:
        run_config["ops"] = {node.name: {"config": dict(config)} for node in job.graph.nodes}
    return job.execute_in_process(
        instance=instance, raise_on_error=False, tags=dict(tags or {}), asset_selection=selection, run_config=run_config
    )


def load_trakt_graph(pipeline_file: Path, *, strict: bool = True) -> TaskGraph:
    spec, errors = load_pipeline_spec(pipeline_file, strict=strict)
    assert not errors, "\n".join(e.render() for e in errors)
    return build_trakt_graph(spec)


def run_trakt(
    pipeline_file: Path,
    instance: dg.DagsterInstance,
    *,
    config: Mapping[str, Any] | None = None,
    strict: bool = True,
    granularity: str | None = None,
    select: list[str] | None = None,
    output_dir: Path | None = None,
    input_dir: Path | None = None,
    tags: Mapping[str, str] | None = None,
) -> TraktRun:
    """Run the pipeline in `pipeline_file` through Dagster (`execute_in_process`)."""
    graph = load_trakt_graph(pipeline_file, strict=strict)
    base = pipeline_file.parent
    runs_dir = base / "_runs"
    output_dir = output_dir or base / "out"
    op_config: dict[str, Any] = {"output_dir": str(output_dir), "input_dir": str(input_dir or base)}
    op_config.update(config or {})
    gran = Granularity(granularity) if granularity else None
    defs = build_graph_definitions(graph, run_storage=RunStorage(runs_dir=str(runs_dir)), granularity=gran)
    job = defs.resolve_job_def(dagster_name(graph.name))
    if gran is Granularity.STEP:
        ops = [node.name for node in job.graph.nodes]
        run_config = {"ops": {op: {"config": op_config} for op in ops}}
    else:
        run_config = {"ops": {f"{dagster_name(graph.name)}_pipeline": {"config": op_config}}}
    selection = None
    if select:
        keys = {t.key: t for t in graph.tasks}
        selection = [dg.AssetKey([dagster_name(graph.name), dagster_name(keys[s].key_name)]) for s in select]
    result = job.execute_in_process(
        run_config=run_config, instance=instance, raise_on_error=False, asset_selection=selection, tags=tags
    )
    return TraktRun(result, graph, runs_dir, output_dir)
