"""The Dagster Components (`dg` projects): a trakt pipeline and a whole pipelines folder from defs.yaml."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
from dagster.components.testing import create_defs_folder_sandbox

from tests.conftest import REPO
from tests.e2e.conftest import run_cli
from trakt_dagster import PipelinesFolderComponent, TraktPipelineComponent


def test_trakt_pipeline_component_from_defs_yaml(tmp_path: Path) -> None:
    with create_defs_folder_sandbox() as sandbox:
        defs_path = sandbox.scaffold_component(
            component_cls=TraktPipelineComponent,
            defs_yaml_contents={
                "type": "trakt_dagster.TraktPipelineComponent",
                "attributes": {"pipeline_path": "pipeline.yaml", "runs_dir": str(tmp_path / "runs")},
            },
        )
        source = REPO / "pipelines" / "customer_enrichment"
        shutil.copytree(source, defs_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("outputs"))
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (component, defs):
            assert isinstance(component, TraktPipelineComponent)
            keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
            assert "customer_enrichment/orders_enriched" in keys
            result = defs.resolve_job_def("customer_enrichment").execute_in_process(
                instance=dg.DagsterInstance.ephemeral()
            )
            assert result.success
            assert (defs_path / "outputs" / "orders_enriched.csv").exists()


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
            assert {"sales_multi_file", "customer_enrichment", "returns_dsl"} <= jobs


def test_dg_lists_the_components(tmp_path: Path) -> None:
    listed = run_cli(["dg", "list", "components"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "trakt_dagster.TraktPipelineComponent" in listed.stdout
    assert "trakt_dagster.PipelinesFolderComponent" in listed.stdout
