"""The Dagster Components (`dg` projects): one per tool, a trakt pipeline, a whole pipelines folder; their
attributes (granularity, retries, pool, translation), the tools' own files winning, `dg` scaffold/check."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster.components.testing import create_defs_folder_sandbox

from tests.conftest import REPO
from tests.e2e.conftest import BIN, run_cli
from trakt_dagster import (
    DuctaflowComponent,
    FlowrunComponent,
    LoomPipelineComponent,
    PipelinesFolderComponent,
    PitProjectComponent,
    TraktPipelineComponent,
)
from trakt_dagster.scaffold import scaffold

COMPONENTS = {
    "TraktPipelineComponent": "One trakt `pipeline.yaml` as assets and a job.",
    "PipelinesFolderComponent": "Every pipeline of every tool under a folder",
    "FlowrunComponent": "flowrun DAGs",
    "PitProjectComponent": "pit projects",
    "DuctaflowComponent": "ductaflow projects",
    "LoomPipelineComponent": "loom.etl pipelines",
}


TEXT_ATTRIBUTES = {"runs_dir", "pool", "root", "pipeline_path", "translation"}
"""The attributes whose values are text (any text is a valid value, not only a template)."""


@pytest.mark.parametrize(
    "component",
    [
        TraktPipelineComponent,
        PipelinesFolderComponent,
        FlowrunComponent,
        PitProjectComponent,
        DuctaflowComponent,
        LoomPipelineComponent,
    ],
    ids=lambda c: c.__name__,
)
def test_the_schema_dg_check_yaml_validates_against_checks_attribute_values(component: type) -> None:
    """`dg check yaml` validates `attributes:` against `get_model_cls().model_json_schema()` (with jsonschema's
    Draft 2020-12 validator, as here): bad values are rejected naming the allowed ones, templates pass."""
    from jsonschema import Draft202012Validator

    schema = component.get_model_cls().model_json_schema()
    validator = Draft202012Validator(schema)

    def errors(attributes: dict[str, object]) -> set[tuple[str, str]]:
        return {(".".join(map(str, e.absolute_path)), e.message) for e in validator.iter_errors(attributes)}

    assert errors({"granularity": "per-task"}) == {("granularity", "'per-task' is not one of ['pipeline', 'step']")}
    assert errors({"retries": "many", "retry_delay": -1, "strict_load": "sometimes", "granulariti": "step"}) == {
        ("retries", "'many' is not of type 'integer'"),
        ("retry_delay", "-1 is less than the minimum of 0"),
        ("strict_load", "'sometimes' is not of type 'boolean'"),
        ("", "Additional properties are not allowed ('granulariti' was unexpected)"),
    }
    good = {"granularity": "step", "retries": 2, "retry_delay": 0.5, "strict_load": True, "pool": "db", "runs_dir": "r"}
    assert errors(good) == set()
    assert errors(dict.fromkeys(good)) == set()  # every one may be left unset (null)
    templated = {"granularity": "{{ env.GRANULARITY }}", "retries": "{{ env.RETRIES }}", "strict_load": "{{ env.S }}"}
    assert errors(templated) == set()  # known only when the component loads: `dg check defs` checks the value
    # no attribute takes any text unless its values are text, and each one says what it is for
    for name, prop in schema["properties"].items():
        assert {"type": "string"} not in prop.get("anyOf", []) or name in TEXT_ATTRIBUTES, (name, prop)
        assert prop.get("description"), name


def click_unstyled(text: str) -> str:
    """`text` without terminal colour codes (dg colours the file:line and the attribute)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def keys_of(defs: dg.Definitions) -> set[str]:
    return {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}


def test_trakt_pipeline_component_from_defs_yaml(tmp_path: Path) -> None:
    with create_defs_folder_sandbox() as sandbox:
        defs_path = sandbox.scaffold_component(
            component_cls=TraktPipelineComponent,
            defs_yaml_contents={
                "type": "trakt_dagster.TraktPipelineComponent",
                "attributes": {
                    "pipeline_path": "pipeline.yaml",
                    "runs_dir": str(tmp_path / "runs"),
                    "granularity": "step",
                    "retries": 2,
                    "retry_delay": 5,
                    "translation": {"group_name": "sales_{{ tool }}", "tags": {"owner_team": "{{ pipeline }}"}},
                },
            },
        )
        source = REPO / "pipelines" / "customer_enrichment"
        shutil.copytree(source, defs_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("outputs"))
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (component, defs):
            assert isinstance(component, TraktPipelineComponent)
            assert "customer_enrichment/orders_enriched" in keys_of(defs)
            job = defs.resolve_job_def("customer_enrichment")
            assert len(job.graph.nodes) > 1  # step granularity: one op per step
            assert {n.definition.retry_policy for n in job.graph.nodes} == {dg.RetryPolicy(max_retries=2, delay=5)}
            spec = next(s for s in defs.resolve_all_asset_specs() if s.key.path[-1] == "orders_enriched")
            assert spec.group_name == "sales_trakt" and spec.tags["owner_team"] == "customer_enrichment"
            result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral())
            assert result.success
            assert (defs_path / "outputs" / "orders_enriched.csv").exists()


def test_pit_component_attributes_and_translation_then_a_run(tmp_path: Path) -> None:
    with create_defs_folder_sandbox() as sandbox:
        defs_path = sandbox.scaffold_component(
            component_cls=PitProjectComponent,
            defs_yaml_contents={
                "type": "trakt_dagster.PitProjectComponent",
                "attributes": {
                    "root": ".",
                    "runs_dir": str(tmp_path / "runs"),
                    "granularity": "step",
                    "pool": "warehouse",
                    "translation": {
                        "key": "shop/{{ task.key }}",
                        "group_name": "pit_{{ pipeline }}",
                        "description": "{{ spec.description }} (shop)",
                    },
                },
            },
            defs_path="orders",  # the scaffolder writes the sample project projects/orders/
        )
        scaffold("trakt", defs_path, "not_pit")  # another tool's pipeline in the folder is not this component's
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (_, defs):
            assert keys_of(defs) == {"shop/hello"}
            spec = next(iter(defs.resolve_all_asset_specs()))
            assert spec.group_name == "pit_orders" and spec.description.endswith(" (shop)")
            job = defs.resolve_job_def("orders")
            assert [n.definition.pool for n in job.graph.nodes] == ["warehouse"]
            # the sample task's retries are the op's Dagster retry policy in step granularity
            assert job.graph.nodes[0].definition.retry_policy == dg.RetryPolicy(max_retries=1, delay=10)
            result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral())
            assert result.success
            (event,) = result.get_asset_materialization_events()
            assert event.asset_key == dg.AssetKey(["shop", "hello"])


def test_a_pipelines_own_file_wins_over_the_component(tmp_path: Path) -> None:
    with create_defs_folder_sandbox() as sandbox:
        attributes = {"root": ".", "runs_dir": str(tmp_path / "runs"), "granularity": "step", "pool": "component"}
        pit_path = sandbox.scaffold_component(
            component_cls=PitProjectComponent,
            defs_yaml_contents={"type": "trakt_dagster.PitProjectComponent", "attributes": attributes},
            defs_path="orders",
        )
        with (pit_path / "projects" / "orders" / "pit.toml").open("a") as fh:
            fh.write('\n[dag.dagster]\ngranularity = "pipeline"\n')
        flow_path = sandbox.scaffold_component(
            component_cls=FlowrunComponent,
            defs_yaml_contents={"type": "trakt_dagster.FlowrunComponent", "attributes": attributes},
            defs_path="totals",
        )
        dag = flow_path / "pipelines" / "totals" / "dag.py"
        dag.write_text(dag.read_text() + '\nflowrun_dagster = {"pool": "own_pool"}\n')
        with sandbox.load_component_and_build_defs(defs_path=pit_path) as (_, defs):
            nodes = defs.resolve_job_def("orders").graph.nodes
            assert len(nodes) == 1 and nodes[0].definition.pool == "component"  # granularity from pit.toml
        with sandbox.load_component_and_build_defs(defs_path=flow_path) as (_, defs):
            nodes = defs.resolve_job_def("totals").graph.nodes
            assert len(nodes) == 3 and {n.definition.pool for n in nodes} == {"own_pool"}  # pool from the module


def test_flowrun_loom_and_ductaflow_components_load_their_pipelines(tmp_path: Path) -> None:
    cases = [
        (FlowrunComponent, "flowrun", "totals", {"totals/orders", "totals/region_totals", "totals/write_totals"}),
        (LoomPipelineComponent, "loom", "shop", {"raw/orders", "mart/region_totals", "files/orders_csv"}),
        (DuctaflowComponent, "ductaflow", "lab", {"lab/region_totals"}),
    ]
    with create_defs_folder_sandbox() as sandbox:
        for cls, kind, name, expected in cases:
            defs_path = sandbox.scaffold_component(
                component_cls=cls,
                defs_yaml_contents={
                    "type": f"trakt_dagster.{cls.__name__}",
                    "attributes": {"root": ".", "runs_dir": str(tmp_path / "runs"), "retries": 1},
                },
                defs_path=name,
            )
            with sandbox.load_component_and_build_defs(defs_path=defs_path) as (component, defs):
                assert type(component) is cls
                assert keys_of(defs) == expected
                if kind == "flowrun":
                    result = defs.resolve_job_def("totals").execute_in_process(instance=dg.DagsterInstance.ephemeral())
                    assert result.success
                    assert (defs_path / "pipelines/totals/outputs/region_totals.csv").read_text().splitlines() == [
                        "region,amount",
                        "apac,12.0",
                        "eu,18.0",
                        "us,4.0",
                    ]


def test_pipelines_folder_component_loads_every_pipeline(example_root: Path) -> None:
    with create_defs_folder_sandbox() as sandbox:
        defs_path = sandbox.scaffold_component(
            component_cls=PipelinesFolderComponent,
            defs_yaml_contents={
                "type": "trakt_dagster.PipelinesFolderComponent",
                "attributes": {"root": str(example_root)},
            },
        )
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (_, defs):
            jobs = {j.name for j in defs.resolve_all_job_defs()}
            assert {"sales_multi_file", "customer_enrichment", "returns_dsl", "sqlite_reports"} <= jobs


def test_dg_lists_the_components_with_their_docstrings(tmp_path: Path) -> None:
    listed = run_cli(["dg", "list", "components"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    text = " ".join(listed.stdout.split())
    for name, summary in COMPONENTS.items():
        assert f"trakt_dagster.{name}" in listed.stdout
        assert " ".join(summary.split()[:2]) in text


def test_dg_project_example_scaffolds_checks_and_materializes(tmp_path: Path) -> None:
    """docs/dg_example: `dg scaffold defs` per tool, `dg check yaml`, `dg check defs`, then every job runs."""
    project = tmp_path / "shop"
    shutil.copytree(REPO / "docs" / "dg_example", project)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "PYTHONPATH": str(project / "src")}
    env["TRAKT_DAGSTER_RUNS_DIR"] = str(tmp_path / "runs")

    def dg_cli(*args: str) -> str:
        done = subprocess.run(
            [str(BIN / "dg"), *args], cwd=project, env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, f"dg {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout + done.stderr

    dg_cli("scaffold", "defs", "trakt_dagster.PitProjectComponent", "orders")
    dg_cli("scaffold", "defs", "trakt_dagster.TraktPipelineComponent", "sales")
    defs_dir = project / "src" / "shop" / "defs"
    assert (defs_dir / "orders" / "projects" / "orders" / "pit.toml").exists()
    assert "pipeline_path: pipelines/sales/pipeline.yaml" in (defs_dir / "sales" / "defs.yaml").read_text()
    assert "validated successfully" in dg_cli("check", "yaml")
    assert "loaded successfully" in dg_cli("check", "defs")

    def dg_fails(*args: str) -> str:
        done = subprocess.run([str(BIN / "dg"), *args], cwd=project, env=env, capture_output=True, text=True)
        assert done.returncode != 0, f"dg {' '.join(args)} passed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout + done.stderr

    pit_yaml, trakt_yaml = defs_dir / "orders" / "defs.yaml", defs_dir / "sales" / "defs.yaml"
    good_pit, good_trakt = pit_yaml.read_text(), trakt_yaml.read_text()
    pit_yaml.write_text(good_pit.replace("root: .", "root: .\n  granularity: per-task"))
    trakt_yaml.write_text(good_trakt.replace("attributes:", "attributes:\n  retries: many"))
    # `dg check yaml` names the file and line, the component, the attribute and the allowed values
    checked = click_unstyled(dg_fails("check", "yaml"))
    line = good_pit.splitlines().index("  root: .") + 2
    assert f"{pit_yaml}:{line} - trakt_dagster.PitProjectComponent attributes.granularity " in checked, checked
    assert "'per-task' is not one of ['pipeline', 'step']" in checked
    assert "trakt_dagster.TraktPipelineComponent attributes.retries 'many' is not of type 'integer'" in checked
    # a documented limit of Dagster 1.13's `dg check yaml`: of several files of one component type it checks one
    twin = defs_dir / "orders_twin"
    twin.mkdir()
    (twin / "defs.yaml").write_text(pit_yaml.read_text().replace("root: .", "root: ../orders"))
    twice = click_unstyled(dg_fails("check", "yaml"))
    assert twice.count("PitProjectComponent attributes.granularity 'per-task'") == 1, twice
    shutil.rmtree(twin)
    # `dg check defs` checks the YAML the same way before it builds anything
    output = click_unstyled(dg_fails("check", "defs"))
    assert "attributes.granularity 'per-task' is not one of ['pipeline', 'step']" in output, output[-3000:]
    # a template passes `dg check yaml` (its value is known when the component loads, where it is checked)
    pit_yaml.write_text(good_pit.replace("root: .", 'root: .\n  granularity: "{{ env.SHOP_GRANULARITY }}"'))
    pit_yaml.write_text(pit_yaml.read_text() + "\nrequirements:\n  env: [SHOP_GRANULARITY]\n")
    trakt_yaml.write_text(good_trakt)
    assert "validated successfully" in dg_cli("check", "yaml")
    env["SHOP_GRANULARITY"] = "per-task"  # the template's value: `dg check defs` builds the component and says
    output = dg_fails("check", "defs")
    assert "granularity" in output and "Input should be 'pipeline' or 'step'" in output, output[-3000:]
    pit_yaml.write_text(good_pit)
    sys.path.insert(0, str(project / "src"))
    old_runs = os.environ.get("TRAKT_DAGSTER_RUNS_DIR")
    os.environ["TRAKT_DAGSTER_RUNS_DIR"] = str(tmp_path / "runs")
    try:
        defs = dg.load_from_defs_folder(path_within_project=project / "src" / "shop")
        instance = dg.DagsterInstance.ephemeral()
        for job in ("orders", "sales"):
            assert defs.resolve_job_def(job).execute_in_process(instance=instance).success
    finally:
        sys.path.remove(str(project / "src"))
        for name in [m for m in sys.modules if m == "shop" or m.startswith("shop.")]:
            del sys.modules[name]  # the example's package, so later tests can use the name for their own
        if old_runs is None:
            os.environ.pop("TRAKT_DAGSTER_RUNS_DIR", None)
        else:
            os.environ["TRAKT_DAGSTER_RUNS_DIR"] = old_runs
    assert (defs_dir / "sales" / "pipelines" / "sales" / "outputs" / "final.csv").exists()
