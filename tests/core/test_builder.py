"""The Dagster builder on hand-made task graphs: assets, subsets, checks, retries, hooks, partitions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from trakt_dagster.core.builder import BuildContext, build_graph_definitions
from trakt_dagster.core.context import RunInfo
from trakt_dagster.core.events import TaskSucceeded
from trakt_dagster.core.execution import _stored_upstream
from trakt_dagster.core.graph import CheckDefinition, CheckOutcome, ExternalDataset, Task, TaskGraph, TaskResult
from trakt_dagster.core.names import hashed_name
from trakt_dagster.core.resources import RunStorage
from trakt_dagster.core.session import PipelineSession, SessionRequest
from trakt_dagster.core.values import ValueStore

CALLS: list[str] = []


def record(name: str, value: Any = None):
    def run(ctx, upstream):
        CALLS.append(name)
        return TaskResult(value=value if value is not None else sum(v or 0 for v in upstream.values()) + 1)

    return run


def make_graph(**kwargs) -> TaskGraph:
    tasks = (
        Task("a", run=record("a", 10), external_deps=("raw",)),
        Task("b", run=record("b"), deps=("a",)),
        Task("c", run=record("c"), deps=("b",)),
    )
    return TaskGraph(
        "demo", "test", Path("demo.py"), tasks=tasks, external=(ExternalDataset("raw", kind="csv"),), **kwargs
    )


def execute(graph: TaskGraph, tmp_path: Path, instance, select=None, **kwargs) -> dg.ExecuteInProcessResult:
    defs = build_graph_definitions(graph, run_storage=RunStorage(runs_dir=str(tmp_path / "runs")))
    job = defs.resolve_job_def("demo")
    keys = [dg.AssetKey(["demo", k]) for k in select] if select else None
    return job.execute_in_process(instance=instance, asset_selection=keys, raise_on_error=False, **kwargs)


def manifest_of(tmp_path: Path, result) -> dict:
    return json.loads((tmp_path / "runs" / "demo" / result.run_id / "manifest.json").read_text())


def test_assets_deps_and_external(tmp_path: Path, instance) -> None:
    defs = build_graph_definitions(make_graph(), run_storage=RunStorage(runs_dir=str(tmp_path)))
    graph = defs.resolve_asset_graph()
    assert {p.to_user_string() for p in graph.get(dg.AssetKey(["demo", "a"])).parent_keys} == {"demo/raw"}
    assert not graph.get(dg.AssetKey(["demo", "raw"])).is_materializable
    assert graph.get(dg.AssetKey(["demo", "c"])).metadata["trakt/task"] == "c"


def test_subset_recomputes_upstream_without_persisted_values(tmp_path: Path, instance) -> None:
    CALLS.clear()
    result = execute(make_graph(), tmp_path, instance, select=["c"])
    assert result.success
    assert CALLS == ["a", "b", "c"]
    assert [e.asset_key.to_user_string() for e in result.get_asset_materialization_events()] == ["demo/c"]


def test_persisted_values_reload_upstream_for_subsets_and_reexecution(tmp_path: Path, instance) -> None:
    graph = make_graph(persist_values=True)
    CALLS.clear()
    first = execute(graph, tmp_path, instance)
    assert first.success and CALLS == ["a", "b", "c"]
    assert (tmp_path / "runs" / "demo" / first.run_id / "values" / "b" / "index.json").exists()
    CALLS.clear()
    second = execute(graph, tmp_path, instance, select=["c"])
    assert second.success and CALLS == ["c"]
    assert manifest_of(tmp_path, second)["tasks"].keys() == {"c"}
    # a re-execution prefers the parent run's stored values over the newest ones
    store = ValueStore(tmp_path / "runs" / "demo")
    store.save("newer-run", "b", 999)
    info = RunInfo(
        "r3", "demo", "test", tmp_path / "runs" / "demo" / "r3", datetime.now(UTC), parent_run_id=first.run_id
    )
    assert _stored_upstream(graph, {"c"}, store, info) == {"b": 11}
    info_without_parent = RunInfo("r4", "demo", "test", tmp_path / "r4", datetime.now(UTC))
    assert _stored_upstream(graph, {"c"}, store, info_without_parent) == {"b": 999}


def test_checks_and_session_hooks(tmp_path: Path, instance) -> None:
    seen: list[str] = []

    @dataclass
    class Session(PipelineSession):
        log_lines: list[str] = field(default_factory=list)

        def on_event(self, event: Any) -> None:
            seen.append(type(event).__name__)
            if isinstance(event, TaskSucceeded) and event.key == "b":
                raise RuntimeError("hook bug")

        def manifest_extra(self) -> dict:
            return {"report": {"events": len(seen)}}

    def checked(ctx, upstream):
        return TaskResult(
            value=1,
            checks=[CheckOutcome("rows_ok", passed=False, severity="warn", metadata={"rows": 0})],
        )

    graph = TaskGraph(
        "demo",
        "test",
        Path("demo.py"),
        tasks=(
            Task("a", run=checked, checks=(CheckDefinition("rows_ok", blocking=False),)),
            Task("b", run=record("b"), deps=("a",)),
        ),
        session_factory=lambda request: Session(run_id=request.run.run_id),
    )
    result = execute(graph, tmp_path, instance)
    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == "rows_ok" and not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["rows"].value == 0
    assert "TaskSucceeded" in seen and seen[-1] == "RunFinished"
    assert manifest_of(tmp_path, result)["report"]["events"] >= 4
    logs = [r.user_message for r in instance.all_logs(result.run_id)]
    assert any("on_event failed on TaskSucceeded" in line for line in logs)


def test_retries_logged_and_counted(tmp_path: Path, instance) -> None:
    attempts = []

    def flaky(ctx, upstream):
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            raise ConnectionError("first try fails")

    graph = TaskGraph("demo", "test", Path("demo.py"), tasks=(Task("a", run=flaky, retries=2),))
    result = execute(graph, tmp_path, instance)
    assert result.success and attempts == [1, 2]
    manifest = manifest_of(tmp_path, result)
    assert manifest["tasks"]["a"]["attempts"] == 2
    assert manifest["tasks"]["a"]["retried_errors"][0]["message"] == "first try fails"
    log = (tmp_path / "runs" / "demo" / result.run_id / "logs" / "a.log").read_text()
    assert "--- retry attempt 2/3 ---" in log


def test_partitions_and_extra_definitions(tmp_path: Path, instance) -> None:
    keys_seen = []

    def run(ctx, upstream):
        keys_seen.append(ctx.run.partition_key)

    def extra(build: BuildContext) -> dg.Definitions:
        @dg.sensor(job=build.job, name=f"{build.pipeline_name}_sensor")
        def watch(context):
            return dg.SkipReason("nothing")

        return dg.Definitions(sensors=[watch])

    graph = TaskGraph(
        "demo",
        "test",
        Path("demo.py"),
        tasks=(Task("a", run=run),),
        partitions_def=dg.StaticPartitionsDefinition(["eu", "us"]),
        extra_definitions=extra,
    )
    defs = build_graph_definitions(graph, run_storage=RunStorage(runs_dir=str(tmp_path / "runs")))
    assert defs.resolve_sensor_def("demo_sensor").job_name == "demo"
    result = defs.resolve_job_def("demo").execute_in_process(instance=instance, partition_key="us")
    assert result.success and keys_seen == ["us"]


def test_session_factory_error_fails_before_tasks(tmp_path: Path, instance) -> None:
    def factory(request: SessionRequest):
        raise ValueError("bad run config")

    graph = make_graph(session_factory=factory)
    CALLS.clear()
    result = execute(graph, tmp_path, instance)
    assert not result.success and CALLS == []
    manifest = manifest_of(tmp_path, result)
    assert manifest["status"] == "failed"
    assert manifest["error"] == {"type": "ValueError", "message": "bad run config", "step_id": None}


@pytest.mark.parametrize("bad", ["a-b", "a b"])
def test_unusual_task_names_are_sanitised(tmp_path: Path, instance, bad: str) -> None:
    graph = TaskGraph("demo", "test", Path("demo.py"), tasks=(Task(bad, run=record(bad, 1)),))
    result = execute(graph, tmp_path, instance)
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.asset_key.path == ["demo", "a_b"]  # the obvious name: no hash without a collision


def test_a_hash_tells_apart_only_names_that_would_collide(tmp_path: Path, instance) -> None:
    tasks = (Task("a-b", run=record("a-b", 1)), Task("a_b", run=record("a_b", 2)), Task("c-d", run=record("c-d", 3)))
    graph = TaskGraph("demo", "test", Path("demo.py"), tasks=tasks)
    result = execute(graph, tmp_path, instance)
    assert result.success
    keys = sorted(e.asset_key.path[1] for e in result.get_asset_materialization_events())
    assert keys == sorted(["a_b", hashed_name("a-b"), "c_d"]) and hashed_name("a-b").startswith("a_b_")


@pytest.mark.parametrize("include_resources", [True, False])
def test_a_graphs_definitions_are_what_merging_its_parts_gives(tmp_path: Path, include_resources: bool) -> None:
    from trakt_dagster.core.graph import CronTrigger, IntervalTrigger

    graph = make_graph(triggers=(CronTrigger("0 6 * * *", "UTC"), IntervalTrigger(3600, name="hourly")))
    defs = build_graph_definitions(
        graph, run_storage=RunStorage(runs_dir=str(tmp_path)), include_resources=include_resources
    )
    assert [s.name for s in defs.schedules] == ["demo_schedule"] and [s.name for s in defs.sensors] == ["hourly"]
    merged = dg.Definitions.merge(
        dg.Definitions(assets=defs.assets, jobs=defs.jobs, resources=defs.resources if include_resources else None),
        dg.Definitions(schedules=defs.schedules, sensors=defs.sensors),
    )
    assert merged == defs
    assert bool(defs.resources) is include_resources


def test_two_assets_given_one_key_are_an_error_naming_both() -> None:
    from trakt_dagster.core.builder import check_graph
    from trakt_dagster.core.translator import DagsterTaskGraphTranslator

    tasks = (
        Task("a", run=record("a"), asset_key=("demo", "raw")),  # the key of the external input
        Task("b", run=record("b"), asset_key=("demo", "same")),
        Task("c", run=record("c"), asset_key=("demo", "same")),
    )
    graph = TaskGraph("demo", "test", Path("demo.py"), tasks=tasks, external=(ExternalDataset("raw", kind="csv"),))
    messages = [error.message for error in check_graph(graph, DagsterTaskGraphTranslator())]
    assert messages == [
        "Pipeline 'demo': 'a' (step) and input 'raw' both become Dagster asset demo/raw.",
        "Pipeline 'demo': 'c' (step) and step 'b' both become Dagster asset demo/same.",
    ]
