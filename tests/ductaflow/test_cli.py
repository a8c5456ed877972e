"""`trakt-dagster ductaflow ...` against a persistent Dagster instance: conduct a grid (in parallel, with a
failing scenario), re-run only what changed, regenerate the report, run and prepare single instances."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.ductaflow.conftest import flow, write_project
from trakt_dagster.cli import main

CONDUCTOR = """
from ductaflow import run_notebook
scenario_dimensions = {"who": [{"who": "ok", "label": "A"}, {"who": "bad", "label": "B"}]}
run_notebook("flows/grid.py", config={})
"""
FILES = {
    "flows/hello.py": flow("""
        # %%
        with open("hello.txt", "w") as handle:
            handle.write(greeting)
        """),
    "config/flows/hello.json": '{"greeting": "hi"}',
    "flows/grid.py": flow("""
        # %%
        if who == "bad":
            raise RuntimeError("scenario B is broken")
        with open("done.txt", "w") as handle:
            handle.write(scenario_name)
        """),
    "conductor.py": CONDUCTOR,
}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    write_project(root, "tiny", FILES)
    return root


@pytest.fixture(scope="module")
def cli(root: Path, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    runner = CliRunner()
    env = {"DAGSTER_HOME": str(home), "TRAKT_DAGSTER_RUNS_DIR": str(root / "runs")}

    def invoke(*args: str):
        return runner.invoke(main, ["ductaflow", *args, "--root", str(root)], env=env, catch_exceptions=False)

    return invoke


@pytest.fixture(scope="module")
def conducted(cli):
    first = cli("conduct", "--workers", "2", "-q")
    changed = cli("conduct", "--changed", "-q")
    return first, changed


def test_list_shows_notebooks_partitions_and_jobs(cli) -> None:
    done = cli("list")
    assert done.exit_code == 0, done.output
    assert "flow: grid  (2 partitions (conductor.py))  job: tiny__grid" in done.output
    assert "flow: hello  (1 instance)  job: tiny__hello" in done.output
    assert "conductor: conductor  (2 scenarios of who -> flow grid)" in done.output


def test_conduct_runs_the_grid_and_prints_each_scenario(conducted, root: Path) -> None:
    first, _ = conducted
    assert first.exit_code == 1
    assert "conductor conductor: flow grid, 2 scenario(s)" in first.output
    lines = first.output.splitlines()
    assert any(line.startswith("  ✅ Scenario_A ") and "success" in line for line in lines)
    assert any(line.startswith("  ❌ Scenario_B ") and "error" in line for line in lines)
    assert "scenario B is broken" in first.output
    assert "status: FAILURE (1 green, 0 amber, 1 red)" in first.output
    assert (
        root / "runs" / "tiny" / "conductor_runs" / "Model_Runs" / "Scenario_A" / "done.txt"
    ).read_text() == "Scenario_A"


def test_conduct_changed_reruns_only_what_is_missing_or_stale(conducted) -> None:
    _, changed = conducted
    assert "1 of 2 scenario(s) changed or missing" in changed.output
    assert "Scenario_B" in changed.output and "Scenario_A " not in changed.output
    assert changed.exit_code == 1


def test_report_is_rebuilt_from_the_instance(conducted, cli, root: Path) -> None:
    done = cli("report")
    assert done.exit_code == 0, done.output
    assert "2 scenario(s): 1 successful, 1 failed" in done.output
    results = json.loads((root / "runs" / "tiny" / "conductor_runs" / "conductor_results.json").read_text())
    assert [(r["scenario"], r["status"]) for r in results["results"]] == [
        ("Scenario_A", "success"),
        ("Scenario_B", "failed"),
    ]
    assert "scenario B is broken" in results["results"][1]["error"]


def test_run_a_flow_and_an_unknown_one(cli, root: Path) -> None:
    done = cli("run", "hello")
    assert done.exit_code == 0, done.output
    assert "status: SUCCESS (1 green, 0 amber, 0 red)" in done.output
    assert (root / "runs" / "tiny" / "hello" / "default" / "hello.txt").read_text() == "hi"
    missing = cli("run", "nope")
    assert missing.exit_code == 1 and "no ductaflow flow or build 'nope'" in missing.output
    bad = cli("run", "grid", "--instance", "Scenario_Z")
    assert bad.exit_code == 1 and "has no instance 'Scenario_Z'. Instances: Scenario_A, Scenario_B" in bad.output


def test_prepare_then_rerun_the_failed_instance_with_its_fixed_config(
    conducted, cli, root: Path, tmp_path: Path
) -> None:
    done = cli("prepare", "grid", "--instance", "Scenario_B")
    assert done.exit_code == 0, done.output
    folder = root / "runs" / "tiny" / "debug" / "grid" / "Scenario_B"
    saved = json.loads((folder / "grid_config.json").read_text())
    assert saved["who"] == "bad" and saved["scenario_name"] == "Scenario_B"
    assert (folder / "grid_executed.ipynb").is_file() and not (folder / "grid_execution_output.txt").exists()
    launch = json.loads((folder / "launch.json").read_text())["configurations"][0]
    assert launch["program"].endswith("flows/grid.py") and "PYTHONPATH" in launch["env"]
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps({**saved, "who": "ok"}))
    rerun = cli("run", "grid", "--instance", "Scenario_B", "--config", str(fixed))
    assert rerun.exit_code == 0, rerun.output
    out = root / "runs" / "tiny" / "conductor_runs" / "Model_Runs" / "Scenario_B" / "done.txt"
    assert out.read_text() == "Scenario_B"
