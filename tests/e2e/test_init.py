"""`trakt-dagster init --type <tool> NAME`: a pipeline with sample data that loads and materializes at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from trakt_dagster import build_definitions
from trakt_dagster.cli import main
from trakt_dagster.core.definitions import load_graphs

CASES = {  # tool -> (name, job, the folder written, a file the run writes, relative to the folder)
    "trakt": ("orders", "orders", "pipelines/orders", "outputs/final.csv"),
    "flowrun": ("orders", "orders", "pipelines/orders", "outputs/region_totals.csv"),
    "pit": ("orders", "orders", "projects/orders", None),
    "ductaflow": ("lab", "lab__region_totals", "pipelines/lab", None),
    "loom": ("orders", "OrdersPipeline", "pipelines/orders", "lake/mart/region_totals/_delta_log"),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_init_scaffolds_a_pipeline_that_loads_and_materializes(kind: str, tmp_path: Path, instance) -> None:
    name, job, folder, written = CASES[kind]
    done = CliRunner().invoke(main, ["init", "--type", kind, "--root", str(tmp_path), name])
    assert done.exit_code == 0, done.output
    assert f"Created {kind} pipeline '{name}'" in done.output
    graphs, errors = load_graphs(tmp_path)
    assert not errors, "\n".join(e.render() for e in errors)
    assert [g.tool for g in graphs] == [kind]
    defs = build_definitions(tmp_path, runs_dir=str(tmp_path / "runs"))
    result = defs.resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=False)
    assert result.success
    assert result.get_asset_materialization_events()
    if written:
        assert (tmp_path / folder / written).exists()
    again = CliRunner().invoke(main, ["init", "--type", kind, "--root", str(tmp_path), name])
    assert again.exit_code == 1 and "already exists" in again.output


def test_init_rejects_a_bad_name_and_type(tmp_path: Path) -> None:
    bad = CliRunner().invoke(main, ["init", "--type", "loom", "--root", str(tmp_path), "9lives"])
    assert bad.exit_code == 1 and "invalid name '9lives'" in bad.output
    unknown = CliRunner().invoke(main, ["init", "--type", "airflow", "x"])
    assert unknown.exit_code == 2 and "airflow" in unknown.output
