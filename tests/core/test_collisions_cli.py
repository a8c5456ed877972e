"""Name collisions in every tool's own commands: both files reported, neither pipeline listed, validated or run.

The code location leaves out both pipelines of a clash; the tool commands (`trakt-dagster <tool> list|validate|run`)
load only their own tool's pipelines, so they must ask the other tools for their names to agree with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import write_files
from tests.ductaflow.conftest import flow, write_project
from tests.loom.conftest import ORDERS_FLOW, loom_folder
from trakt_dagster.cli import main as cli
from trakt_dagster.core.discovery import NamedPipeline, clashes_with, clashing_names

TRAKT = "inputs: {{src: a.csv}}\noutputs: {{final: src}}\n"
PIT = '[dag]\nname = "{name}"\n[[tasks]]\nname = "t"\nscript = "t.sh"\n'
FLOWRUN = """
from trakt_dagster.flowrun import Pipeline

flow = Pipeline("{name}")


@flow.task()
def one():
    return 1
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """Clashes within loom, loom against trakt, flowrun against pit, ductaflow against trakt, trakt within trakt;
    one good pipeline of each tool."""
    root = tmp_path_factory.mktemp("clashes")
    loom_folder(root, "loom_a", {"flow.py": ORDERS_FLOW})
    loom_folder(root, "loom_b", {"flow.py": ORDERS_FLOW})
    loom_folder(root, "loom_c", {"flow.py": ORDERS_FLOW.replace("class Nightly(", "class Weekly(")})
    loom_folder(root, "loom_ok", {"flow.py": ORDERS_FLOW.replace("class Nightly(", "class Monthly(")})
    write_project(
        root,
        "demand",
        {"flows/prepare.py": flow("print('prepare')\n"), "flows/report.py": flow("print('report')\n")},
    )
    files = {
        "pipelines/t_weekly/pipeline.yaml": "name: Weekly\n" + TRAKT.format(),
        "pipelines/t_demand/pipeline.yaml": "name: demand__prepare\n" + TRAKT.format(),
        "pipelines/sales_one/pipeline.yaml": "name: sales\n" + TRAKT.format(),
        "pipelines/sales_two/pipeline.yaml": "name: sales\n" + TRAKT.format(),
        "pipelines/good/pipeline.yaml": TRAKT.format(),
        "pipelines/flows/dag.py": FLOWRUN.format(name="shared"),
        "pipelines/flows_ok/dag.py": FLOWRUN.format(name="fine"),
        "projects/shared/pit.toml": PIT.format(name="shared"),
        "projects/ok/pit.toml": PIT.format(name="ok"),
    }
    for folder in ("t_weekly", "t_demand", "sales_one", "sales_two", "good"):
        files[f"pipelines/{folder}/a.csv"] = "id\n1\n"
    for folder in ("shared", "ok"):
        files[f"projects/{folder}/t.sh"] = "echo t\n"
    return write_files(root, files)


def invoke(root: Path, *args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def assert_clash(done, name: str, *files: str) -> None:
    """Exit 1, and the clash reported on every file (each error names the others)."""
    assert done.exit_code == 1, (done.stdout, done.stderr)
    text = done.stderr
    assert f"Pipeline name '{name}'" in text and "neither is loaded" in text, text
    for file in files:
        assert file in text, (file, text)


def test_clashes_with_reports_both_sides_and_only_the_pipelines_asked_about(root: Path) -> None:
    own = [NamedPipeline("shared", "flowrun", root / "pipelines/flows/dag.py")]
    own.append(NamedPipeline("fine", "flowrun", root / "pipelines/flows_ok/dag.py"))
    clashes = clashes_with(root, "flowrun", own)
    assert clashing_names(clashes) == {"shared"}
    assert sorted(e.tool for e in clashes) == ["flowrun", "pit"]
    assert {Path(e.location.file).name for e in clashes} == {"dag.py", "pit.toml"}


def test_loom_commands(root: Path) -> None:
    listed = invoke(root, "loom", "list", str(root))
    assert_clash(listed, "Nightly", "loom_a/flow.py", "loom_b/flow.py")
    assert_clash(listed, "Weekly", "loom_c/flow.py", "t_weekly/pipeline.yaml")
    assert "Monthly  [loom]" in listed.stdout
    assert "Nightly  [loom]" not in listed.stdout and "Weekly  [loom]" not in listed.stdout
    validated = invoke(root, "loom", "validate", "--root", str(root))
    assert_clash(validated, "Weekly", "loom_c/flow.py", "t_weekly/pipeline.yaml")
    assert "valid" not in validated.stdout
    one = invoke(root, "loom", "validate", "Nightly", "--root", str(root))
    assert_clash(one, "Nightly", "loom_a/flow.py", "loom_b/flow.py")
    assert "loom pipeline 'Nightly' did not load" in one.stderr
    assert invoke(root, "loom", "validate", "Monthly", "--root", str(root)).exit_code == 0
    for name, files in (("Nightly", ("loom_a", "loom_b")), ("Weekly", ("loom_c", "t_weekly"))):
        ran = invoke(root, "loom", "run", name, "--root", str(root), "--param", "run_date=2026-03-30")
        assert_clash(ran, name, *files)
        assert f"Pipeline '{name}' did not load (see above); nothing was run." in ran.stderr
        assert "run id" not in ran.stdout


def test_flowrun_commands(root: Path) -> None:
    listed = invoke(root, "flowrun", "list", str(root))
    assert_clash(listed, "shared", "pipelines/flows/dag.py", "projects/shared/pit.toml")
    assert "fine  [" in listed.stdout and "shared  [" not in listed.stdout
    assert_clash(invoke(root, "flowrun", "validate", "--root", str(root)), "shared", "projects/shared/pit.toml")
    for command in ("validate", "display", "run"):
        done = invoke(root, "flowrun", command, "shared", "--root", str(root))
        assert_clash(done, "shared", "pipelines/flows/dag.py", "projects/shared/pit.toml")
        assert "did not load" in done.stderr
    assert invoke(root, "flowrun", "validate", "fine", "--root", str(root)).exit_code == 0


def test_pit_commands(root: Path) -> None:
    validated = invoke(root, "pit", "validate", "--root", str(root))
    assert_clash(validated, "shared", "pipelines/flows/dag.py", "projects/shared/pit.toml")
    ran = invoke(root, "pit", "run", "shared", "--root", str(root))
    assert_clash(ran, "shared", "pipelines/flows/dag.py", "projects/shared/pit.toml")
    assert 'DAG "shared" did not load' in ran.stderr


def test_ductaflow_commands(root: Path) -> None:
    listed = invoke(root, "ductaflow", "list", "--root", str(root))
    assert_clash(listed, "demand__prepare", "demand/flows/prepare.py", "t_demand/pipeline.yaml")
    validated = invoke(root, "ductaflow", "validate", "--root", str(root))
    assert_clash(validated, "demand__prepare", "demand/flows/prepare.py", "t_demand/pipeline.yaml")
    ran = invoke(root, "ductaflow", "run", "demand/prepare", "--root", str(root))
    assert_clash(ran, "demand__prepare", "demand/flows/prepare.py", "t_demand/pipeline.yaml")
    assert "run id" not in ran.stdout


def test_trakt_commands_refuse_a_name_another_pipeline_has(root: Path, monkeypatch) -> None:
    monkeypatch.chdir(root)
    for command in ("validate", "run"):
        done = invoke(root, "trakt", command, "--pipeline", "sales_one")
        assert_clash(done, "sales", "pipelines/sales_one/pipeline.yaml", "pipelines/sales_two/pipeline.yaml")
        assert "Error: pipeline 'sales' did not load" in done.stderr
        weekly = invoke(root, "trakt", command, "--pipeline", "t_weekly")
        assert_clash(weekly, "Weekly", "pipelines/t_weekly/pipeline.yaml", "loom_c/flow.py")
    assert invoke(root, "trakt", "validate", "--pipeline", "good").exit_code == 0


def test_top_level_commands(root: Path) -> None:
    listed = invoke(root, "list", str(root))
    assert listed.exit_code == 1
    for name in ("Nightly", "Weekly", "shared", "sales", "demand__prepare"):
        assert f"Pipeline name '{name}'" in listed.stderr
    validated = invoke(root, "validate", str(root))
    assert validated.exit_code == 1 and validated.stderr.count("neither is loaded") == 10
    ran = invoke(root, "run", "sales", "--root", str(root))
    assert_clash(ran, "sales", "pipelines/sales_one/pipeline.yaml", "pipelines/sales_two/pipeline.yaml")
