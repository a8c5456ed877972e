"""CLI start-up: `--help` imports no heavy package, and a run loads only the pipeline it runs (plus any
pipeline of the same name, so a collision is still refused)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import write_files
from trakt_dagster.cli import main as cli
from trakt_dagster.core.definitions import load_graphs, load_graphs_for

HEAVY = ("dagster", "pandas", "polars", "yaml", "flowrun", "loom", "papermill", "jupytext", "dbt", "dagster_dbt")
PROBE = """
import sys
from trakt_dagster.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("IMPORTED", sorted(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize("args", [["--help"], ["pit", "--help"], ["flowrun", "run", "--help"], ["loom", "--help"]])
def test_help_imports_no_heavy_package(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], capture_output=True, text=True, timeout=120
    )
    assert "Usage:" in done.stdout, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "IMPORTED []"


def flowrun_module(name: str, flag: Path) -> str:
    return f"""
        from pathlib import Path
        from flowrun import build_default_engine

        Path({str(flag)!r}).write_text("imported")
        engine = build_default_engine(max_parallel=1)
        dag = engine.dag("{name}")


        @dag.task()
        def only():
            return 1
    """


def root_with(tmp_path: Path, flowrun_name: str) -> tuple[Path, Path]:
    flag = tmp_path / "flowrun_module_imported.flag"
    write_files(
        tmp_path,
        {
            "projects/hello/pit.toml": '[dag]\nname = "hello"\n[[tasks]]\nname = "say"\nscript = "say.sh"\n',
            "projects/hello/say.sh": "echo hello from pit\n",
            "projects/other/pit.toml": '[dag]\nname = "other"\n[[tasks]]\nname = "a"\nscript = "a.sh"\n',
            "projects/other/a.sh": "echo other\n",
            "pipelines/flows/dag.py": flowrun_module(flowrun_name, flag),
        },
    )
    return tmp_path, flag


def test_a_run_loads_only_its_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, flag = root_with(tmp_path, "nightly")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    graphs, errors = load_graphs_for(root, "hello")
    assert [g.name for g in graphs] == ["hello"] and errors == []
    assert not flag.exists()  # the flowrun module never mentions 'hello': not imported
    done = CliRunner().invoke(cli, ["pit", "run", "hello", "--root", str(root), "-q"])
    assert done.exit_code == 0, done.output
    assert "Status: success" in done.output
    assert not flag.exists()
    graphs, errors = load_graphs(root)  # a full load imports it (the check above can fail)
    assert sorted(g.name for g in graphs) == ["hello", "nightly", "other"]
    assert flag.exists()


def test_a_run_still_refuses_a_name_another_tool_uses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, flag = root_with(tmp_path, "hello")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    graphs, errors = load_graphs_for(root, "hello")
    assert graphs == []
    assert {e.tool for e in errors} == {"pit", "flowrun"}
    assert all("neither is loaded" in e.message for e in errors)
    done = CliRunner().invoke(cli, ["pit", "run", "hello", "--root", str(root)])
    assert done.exit_code == 1
    assert "is also used by" in done.output and "nothing was run" in done.output


def test_a_pipeline_not_found_quickly_is_looked_for_everywhere(tmp_path: Path) -> None:
    """A DAG whose name is built at run time is not mentioned in its source: the full load finds it."""
    flag = tmp_path / "imported.flag"
    module = flowrun_module("x", flag).replace('engine.dag("x")', 'engine.dag("-".join(["made", "up"]))')
    write_files(tmp_path, {"pipelines/flows/dag.py": module})
    graphs, errors = load_graphs_for(tmp_path, "made-up")
    assert [g.name for g in graphs] == ["made-up"] and errors == []
    graphs, errors = load_graphs_for(tmp_path, "missing")
    assert [g.name for g in graphs] == ["made-up"]  # everything, for the caller's "not found" message
