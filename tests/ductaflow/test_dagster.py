"""ductaflow notebooks as Dagster assets, jobs and partitions, on real kernels: asset specs, flows reading each
other's folders, builds as one op, a scenario grid backfill with a failing scenario, re-running one
partition, amber checks, the conductor report, and staleness after a config edit.

One project and one Dagster instance serve the whole module; every run is shared by several tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from tests.ductaflow.conftest import NotebookRun, flow, run_notebook_job, write_project
from trakt_dagster import build_definitions
from trakt_dagster.ductaflow.launch import changed_partitions, resolve

PROJECT = "lab"
CONDUCTOR = """
# %% [markdown]
# # Lab conductor

# %%
from pathlib import Path
from ductaflow import run_notebook

model_root = Path("runs/conductor_runs")
base_config = {"rows": 3}
scenario_dimensions = {
    "mode": [{"mode": "a", "label": "A"}, {"mode": "b", "label": "B/x"}],
    "size": [{"size": 1, "label": "S 1"}, {"size": 2, "label": "S2"}],
    "flag": [{"flag": False, "label": "Off"}, {"flag": True, "label": "On"}],
}
active_dimensions = ["mode", "size", "flag"]
for scenario in []:
    run_notebook("flows/grid_flow.py", config=scenario, execution_dir="x")
"""
FILES = {
    "flows/produce.py": flow("""
        # %% [markdown]
        # # Produce
        # Writes results.csv for the others.

        # %%
        import pandas as pd
        pd.DataFrame({"value": list(range(rows))}).to_csv("results.csv", index=False)
        """),
    "config/flows/produce.json": '{"rows": 4}',
    "flows/consume.py": "# ---\n# jupyter:\n#   dagster:\n#     deps: [produce]\n# ---\n\n"
    + flow("""
        # %%
        import pandas as pd
        total = int(pd.read_csv(source_csv)["value"].sum())
        with open("total.txt", "w") as handle:
            handle.write(str(total))
        """),
    "config/flows/consume.json": '{"source_csv": "../../produce/default/results.csv", "_no_execute": true}',
    "flows/warn.py": flow("""
        # %%
        import logging
        logging.getLogger("lab.warn").info("x")
        logging.getLogger("lab.warn").warning("⚠️ y")
        print("Warning: z")
        """),
    "flows/fails.py": flow("""
        # %%
        raise RuntimeError("second flow broke")
        """),
    "builds/chain.py": flow("""
        # %% [markdown]
        # # Chain
        # produce then consume, one folder each.

        # %%
        from ductaflow import run_notebook, run_step_flow
        run_step_flow(_project_root / "flows" / "produce.py", "produce", "instance", config)
        run_notebook(_project_root / "flows" / "consume.py",
                     config={**config, "source_csv": "../../produce/instance/results.csv"},
                     execution_dir="runs/consume/instance", project_root=_project_root)
        """),
    "config/builds/chain.json": '{"rows": 5}',
    "builds/broken_chain.py": flow("""
        # %%
        from ductaflow import run_notebook
        run_notebook(_project_root / "flows" / "produce.py", config=config, execution_dir="runs/produce_instance")
        run_notebook(_project_root / "flows" / "fails.py", config=config, execution_dir="runs/fails_instance")
        """),
    "config/builds/broken_chain.json": '{"rows": 2}',
    "flows/grid_flow.py": flow("""
        # %%
        import json, time
        time.sleep(0.3)
        if mode == "b" and size == 2 and flag:
            raise ValueError(f"scenario {scenario_name} is broken")
        with open("out.json", "w") as handle:
            json.dump({"scenario": scenario_name, "rows": rows, "size": size}, handle)
        """),
    "flows/per_instance.py": flow("""
        # %%
        with open("value.txt", "w") as handle:
            handle.write(str(value))
        """),
    "config/flows/per_instance/a.json": '{"value": 1}',
    "config/flows/per_instance/b.json": '{"value": 2}',
    "config/flows/per_instance/c.json": '{"value": 3}',
    "conductor.py": CONDUCTOR,
}
SCENARIOS = [
    f"Scenario_{m}_{s}_{f}" for m in ("A", "B_x") for s in ("S 1", "S2") for f in ("Off", "On")
]  # partition keys: "B/x" becomes "B_x"
FAILING = "Scenario_B_x_S2_On"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lab")
    write_project(root, PROJECT, FILES)
    return root


@pytest.fixture(scope="module")
def instance():
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture(scope="module")
def defs(root: Path) -> dg.Definitions:
    return build_definitions(root, runs_dir=str(root / "runs"))


def _run(defs, root, instance, name, **kw) -> NotebookRun:
    return run_notebook_job(defs, root, PROJECT, name, instance, **kw)


@pytest.fixture(scope="module")
def flows_run(defs, root, instance) -> dict[str, NotebookRun]:
    return {name: _run(defs, root, instance, name) for name in ("produce", "consume", "warn")}


@pytest.fixture(scope="module")
def builds_run(defs, root, instance) -> dict[str, NotebookRun]:
    return {name: _run(defs, root, instance, name) for name in ("chain", "broken_chain")}


@pytest.fixture(scope="module")
def grid_run(defs, root, instance) -> NotebookRun:
    return _run(defs, root, instance, "grid_flow", partitions=SCENARIOS, config={"workers": 2})


@pytest.fixture(scope="module")
def work(root: Path) -> Path:
    return root / "runs" / PROJECT


def test_asset_specs(defs) -> None:
    graph = defs.resolve_asset_graph()
    produce = graph.get(dg.AssetKey([PROJECT, "produce"]))
    assert produce.group_name == PROJECT
    assert {"ductaflow", "ipynb"} <= set(produce.kinds)
    assert produce.description.startswith("Produce\nWrites results.csv")
    refs = produce.metadata["dagster/code_references"].code_references
    assert refs[0].file_path.endswith("flows/produce.py")
    assert produce.code_version and not produce.is_partitioned
    consume = graph.get(dg.AssetKey([PROJECT, "consume"]))
    assert {k.to_user_string() for k in consume.parent_keys} == {"lab/produce"}
    grid = graph.get(dg.AssetKey([PROJECT, "grid_flow"]))
    assert grid.partitions_def.get_partition_keys() == SCENARIOS
    assert {k.to_user_string() for k in grid.parent_keys} == {"lab/grid_flow_config"}
    config_asset = graph.get(dg.AssetKey([PROJECT, "grid_flow_config"]))
    assert not config_asset.is_materializable and config_asset.partitions_def == grid.partitions_def
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    assert {"lab__produce", "lab__consume", "lab__chain", "lab__broken_chain", "lab__grid_flow"} <= jobs
    sensors = {s.name for s in defs.sensors}
    assert {"lab__grid_flow_config_changes", "lab__per_instance_config_changes"} <= sensors


def test_a_grid_of_any_size_is_one_step_and_one_run_per_backfill(defs) -> None:
    job = defs.resolve_job_def("lab__grid_flow")
    assert [node.name for node in job.graph.nodes] == ["lab__grid_flow_pipeline"]
    assets_def = defs.resolve_assets_def(dg.AssetKey([PROJECT, "grid_flow"]))
    assert assets_def.backfill_policy == dg.BackfillPolicy.single_run()


def test_flows_read_each_other_through_relative_paths(flows_run, work: Path) -> None:
    assert flows_run["produce"].success and flows_run["consume"].success
    assert (work / "consume" / "default" / "total.txt").read_text() == "6"
    meta = flows_run["consume"].materializations()[("lab/consume", None)]
    assert meta["ductaflow/status"] == "success"
    assert meta["ductaflow/executed_notebook"] == str(work / "consume" / "default" / "consume_executed.ipynb")
    assert Path(meta["ductaflow/html"]).is_file() and Path(meta["ductaflow/config"]).is_file()
    saved = json.loads(Path(meta["ductaflow/config"]).read_text())
    assert saved["_project_root"] == str((work.parent.parent / "pipelines" / PROJECT).resolve())
    assert "_no_execute" not in saved  # a Dagster run always executes (with a warning)
    assert "the config sets _no_execute: ignored" in flows_run["consume"].log_text()


def test_amber_status_is_a_warning_check_and_lines_reach_the_dagster_log(flows_run) -> None:
    run = flows_run["warn"]
    assert run.success
    assert run.materializations()[("lab/warn", None)]["ductaflow/status"] == "warning"
    check = run.checks()[0]
    assert check.check_name == "ductaflow_status" and not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    marked = check.metadata["ductaflow/marked_lines"].value["default"]
    assert any("⚠️ y" in line for line in marked) and any("Warning: z" in line for line in marked)
    text = run.log_text()
    assert "lab.warn: x" in text and "lab.warn: ⚠️ y" in text and "Warning: z" in text
    green = flows_run["produce"].checks()[0]
    assert green.passed


def test_manifest_and_snapshot_of_a_run(flows_run, root: Path) -> None:
    run = flows_run["produce"]
    manifest = run.manifest
    assert manifest["status"] == "success" and manifest["tool"] == "ductaflow"
    instance = manifest["ductaflow"]["instances"]["default"]
    assert instance["status"] == "success" and instance["folder"].endswith("runs/lab/produce/default")
    folder = root / "runs" / "lab__produce" / run.result.run_id
    assert (folder / "project" / "flows" / "produce.py").is_file()


def test_build_runs_as_one_op_with_nested_flows_reported(builds_run, work: Path, instance) -> None:
    run = builds_run["chain"]
    assert run.success, run.failure_message()
    assert [s.step_key for s in run.result.get_step_success_events()] == ["lab__chain_pipeline"]
    folder = work / "chain" / "default"
    assert (folder / "runs" / "consume" / "instance" / "total.txt").read_text() == "10"
    mats = run.materializations()
    flows = mats[("lab/chain", None)]["ductaflow/flows"]
    assert [f["flow"] for f in flows] == ["consume", "produce"]
    assert all(f["status"] == "success" and Path(f["notebook"]).is_file() for f in flows)
    assert mats[("lab/produce", None)]["ductaflow/via_build"] == "chain"
    assert mats[("lab/consume", None)]["ductaflow/instance_dir"] == str(folder / "runs" / "consume" / "instance")


def test_build_whose_second_flow_fails(builds_run, work: Path) -> None:
    run = builds_run["broken_chain"]
    assert not run.success
    message = run.failure_message()
    assert "Flow 'broken_chain' failed in cell" in message and "Flow 'fails' failed in cell" in message
    assert "second flow broke" in message
    folder = work / "broken_chain" / "default"
    assert (folder / "runs" / "produce_instance" / "results.csv").read_text().startswith("value\n0\n1")
    assert (folder / "runs" / "fails_instance" / "fails_executed.ipynb").is_file()
    state = run.instances["default"]
    assert state["status"] == "error" and state["failure"]["ename"] == "FlowExecutionError"
    assert {f["flow"]: f["status"] for f in state["flows"]} == {"produce": "success", "fails": "error"}


def test_grid_backfill_isolates_the_failing_scenario(grid_run, work: Path) -> None:
    assert not grid_run.success
    mats = grid_run.materializations()
    assert sorted(p for (_, p) in mats) == sorted(s for s in SCENARIOS if s != FAILING)
    statuses = {k: v["status"] for k, v in grid_run.instances.items()}
    assert statuses[FAILING] == "error" and sum(s == "success" for s in statuses.values()) == 7
    failed = work / "conductor_runs" / "Model_Runs" / FAILING
    assert (failed / "grid_flow_executed.ipynb").is_file() and (failed / "grid_flow_config.json").is_file()
    assert not (failed / "grid_flow_executed.html").exists() and not (failed / "out.json").exists()
    ok = work / "conductor_runs" / "Model_Runs" / "Scenario_B_x_S 1_On"
    out = json.loads((ok / "out.json").read_text())
    assert out == {"scenario": "Scenario_B/x_S 1_On", "rows": 3, "size": 1}
    assert json.loads((ok / "config.json").read_text())["run_folder"] == "runs/Scenario_B/x_S 1_On"
    assert "1 of 8 instance(s) of 'grid_flow' failed" in grid_run.failure_message()
    assert "Scenario_B/x_S2_On: Flow 'grid_flow' failed in cell" in grid_run.failure_message()


def test_conductor_report_is_regenerated_from_dagster(grid_run, work: Path) -> None:
    results = json.loads((work / "conductor_runs" / "conductor_results.json").read_text())
    assert len(results["results"]) == 8
    assert sum(r["status"] == "success" for r in results["results"]) == 7
    assert [r["scenario"] for r in results["results"] if r["status"] == "failed"] == ["Scenario_B/x_S2_On"]
    assert results["scenario_dimensions"]["flag"][1] == {"flag": True, "label": "On"}
    html = (work / "conductor_status_report.html").read_text()
    assert "<strong>Total scenarios:</strong> 8" in html
    assert "<strong>Successful:</strong> 7" in html and "<strong>Failed:</strong> 1" in html


def test_rerunning_one_partition_touches_no_other_scenario(grid_run, defs, root, instance, work: Path) -> None:
    folders = {s: work / "conductor_runs" / "Model_Runs" / s for s in SCENARIOS}
    before = {s: sorted((p.name, p.stat().st_mtime_ns) for p in f.iterdir()) for s, f in folders.items()}
    target = "Scenario_A_S2_On"
    run = _run(defs, root, instance, "grid_flow", partitions=[target])
    assert run.success
    assert list(run.materializations()) == [("lab/grid_flow", target)]
    after = {s: sorted((p.name, p.stat().st_mtime_ns) for p in f.iterdir()) for s, f in folders.items()}
    assert [s for s in SCENARIOS if before[s] != after[s]] == [target]
    results = json.loads((work / "conductor_runs" / "conductor_results.json").read_text())["results"]
    assert len(results) == 8 and sum(r["status"] == "failed" for r in results) == 1


def _stale(defs, instance, name: str) -> list[str]:
    from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
    from dagster._core.definitions.data_version import CachingStaleStatusResolver
    from dagster._time import get_current_datetime

    graph = defs.resolve_asset_graph()
    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=instance,
        asset_graph=graph,
    )
    resolver = CachingStaleStatusResolver(instance, graph, view)
    key = dg.AssetKey([PROJECT, name])
    return [
        p for p in graph.get(key).partitions_def.get_partition_keys() if resolver.get_status(key, p).value == "STALE"
    ]


def test_editing_one_instance_config_marks_only_that_partition_stale(root, instance) -> None:
    defs = build_definitions(root, runs_dir=str(root / "runs"))
    run = run_notebook_job(defs, root, PROJECT, "per_instance", instance, partitions=["a", "c"], config={"workers": 2})
    assert run.success and sorted(p for _, p in run.materializations()) == ["a", "b", "c"]
    assert _stale(defs, instance, "per_instance") == []
    (root / "pipelines" / PROJECT / "config" / "flows" / "per_instance" / "b.json").write_text('{"value": 20}')
    target = resolve(root, f"{PROJECT}/per_instance")
    assert changed_partitions(target, instance) == ["b"]  # observes the edited config first
    assert _stale(target.defs, instance, "per_instance") == ["b"]
    again = run_notebook_job(target.defs, root, PROJECT, "per_instance", instance, partitions=["b"])
    assert again.success
    assert changed_partitions(target, instance) == []
    value = root / "runs" / PROJECT / "per_instance" / "b" / "value.txt"
    assert value.read_text() == "20"


def test_editing_a_grid_option_marks_its_scenarios_stale(grid_run, root, instance) -> None:
    conductor = root / "pipelines" / PROJECT / "conductor.py"
    original = conductor.read_text()
    conductor.write_text(original.replace('{"size": 1, "label": "S 1"}', '{"size": 10, "label": "S 1"}'))
    try:
        target = resolve(root, f"{PROJECT}/grid_flow")
        changed = changed_partitions(target, instance)
    finally:
        conductor.write_text(original)
    assert sorted(changed) == sorted([s for s in SCENARIOS if "S 1" in s] + [FAILING])


def test_rerun_with_a_saved_config_shows_the_configured_instance_changed(grid_run, root, instance, work: Path) -> None:
    """`--config` re-runs an instance from its saved config; the configured instance then shows changed."""
    saved = work / "conductor_runs" / "Model_Runs" / "Scenario_A_S 1_Off" / "grid_flow_config.json"
    config = json.loads(saved.read_text())
    assert config["scenario_name"] == "Scenario_A_S 1_Off"
    target = resolve(root, f"{PROJECT}/grid_flow")
    run = run_notebook_job(
        target.defs,
        root,
        PROJECT,
        "grid_flow",
        instance,
        partitions=["Scenario_A_S 1_Off"],
        config={"config_file": str(saved)},
    )
    assert run.success
    assert "Scenario_A_S 1_Off" in changed_partitions(target, instance)
