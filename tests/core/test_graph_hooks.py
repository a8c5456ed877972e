"""Core hooks for front ends with several graphs per project: key prefixes, edges to other graphs' assets,
code versions, events reported while a task runs, partition ranges in one run, and the session's instance."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from trakt_dagster.core.builder import build_graph_definitions
from trakt_dagster.core.graph import Task, TaskGraph, TaskResult
from trakt_dagster.core.resources import RunStorage
from trakt_dagster.core.session import PipelineSession

PARTS = dg.StaticPartitionsDefinition(["p1", "p2", "p3"])
SEEN: dict[str, object] = {}


def report_each_partition(ctx, upstream) -> TaskResult:
    for key in ctx.run.partition_keys:
        ctx.report(dg.AssetMaterialization(asset_key=["shared", "second"], partition=key, metadata={"k": key}))
    return TaskResult(materialize=False)


def session(request) -> PipelineSession:
    SEEN["instance"] = request.instance
    SEEN["partition_keys"] = request.run.partition_keys
    return PipelineSession(run_id=request.run.run_id)


def graphs() -> tuple[TaskGraph, TaskGraph]:
    first = TaskGraph(
        "shared__first",
        "test",
        Path("first.py"),
        tasks=(Task("first", run=lambda ctx, up: TaskResult(), code_version="v1"),),
        asset_prefix="shared",
        group_name="shared",
    )
    second = TaskGraph(
        "shared__second",
        "test",
        Path("second.py"),
        tasks=(Task("second", run=report_each_partition, asset_deps=("shared/first",)),),
        asset_prefix="shared",
        group_name="shared",
        partitions_def=PARTS,
        backfill_policy=dg.BackfillPolicy.single_run(),
        session_factory=session,
    )
    return first, second


def test_prefix_deps_and_code_version(tmp_path: Path) -> None:
    storage = RunStorage(runs_dir=str(tmp_path))
    defs = dg.Definitions.merge(*(build_graph_definitions(g, run_storage=storage) for g in graphs()))
    asset_graph = defs.resolve_asset_graph()
    first = asset_graph.get(dg.AssetKey(["shared", "first"]))
    second = asset_graph.get(dg.AssetKey(["shared", "second"]))
    assert first.code_version == "v1" and first.group_name == "shared"
    assert {k.to_user_string() for k in second.parent_keys} == {"shared/first"}
    assert {j.name for j in defs.resolve_all_job_defs()} >= {"shared__first", "shared__second"}


def test_reported_events_and_a_partition_range_in_one_run(tmp_path: Path, instance) -> None:
    storage = RunStorage(runs_dir=str(tmp_path))
    _, second = graphs()
    defs = build_graph_definitions(second, run_storage=storage)
    result = defs.resolve_job_def("shared__second").execute_in_process(
        instance=instance,
        tags={"dagster/asset_partition_range_start": "p1", "dagster/asset_partition_range_end": "p3"},
    )
    assert result.success
    mats = [e.materialization for e in result.get_asset_materialization_events()]
    assert [(m.partition, m.metadata["k"].value) for m in mats] == [("p1", "p1"), ("p2", "p2"), ("p3", "p3")]
    assert SEEN["partition_keys"] == ("p1", "p2", "p3") and SEEN["instance"] is instance
    assert (tmp_path / "shared__second" / result.run_id / "manifest.json").exists()
