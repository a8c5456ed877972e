"""CLI start-up: `--help` imports no heavy package, and a run loads only the pipeline it runs (plus any
pipeline of the same name, so a collision is still refused)."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
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


# -- `--help` loads only click and the command table; a run of one tool loads none of the others' heavy parts ------
IMPORTTIME = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", re.M)
REPO = Path(__file__).resolve().parents[2]


def imported_modules(code: str, *args: str) -> set[str]:
    """The modules a new interpreter imports running `code` (as `python -X importtime` reports them)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(IMPORTTIME.findall(done.stderr))


def test_help_imports_only_click_and_the_command_table() -> None:
    baseline = imported_modules("pass")  # the interpreter's own start (site, .pth files)
    found = imported_modules("from trakt_dagster.cli import main; main()", "--help") - baseline
    assert "click" in found and "trakt_dagster.cli" in found  # the check below can fail
    allowed = {*sys.stdlib_module_names, "click", "trakt_dagster"}
    outside = {m for m in found if m.split(".")[0] not in allowed and not m.startswith("_")}  # _x: C helpers
    assert outside == set()  # neither dagster, pandas, yaml nor any tool's package
    assert {m for m in found if m.startswith("trakt_dagster")} == {
        "trakt_dagster",
        "trakt_dagster._lazy",
        "trakt_dagster.cli",
    }


def test_the_command_table_shows_each_tool_groups_own_help() -> None:
    """`--help` in a new process (no tool group imported) prints what it prints with every group imported."""
    from trakt_dagster.cli import TOOL_GROUPS

    lazy = subprocess.run(
        [
            sys.executable,
            "-c",
            "from trakt_dagster.cli import main; main(prog_name='trakt-dagster', terminal_width=90)",
            "--help",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    with click.Context(cli) as ctx:
        for name, (target, text) in TOOL_GROUPS.items():
            group = cli.get_command(ctx, name)
            assert group is not None and group.name == name
            assert (group.help or "").split("\n\n")[0].strip() == text, f"TOOL_GROUPS[{name!r}] is not its docstring"
            assert target.split(":")[0] in sys.modules
    loaded = CliRunner().invoke(cli, ["--help"], prog_name="trakt-dagster", terminal_width=90)
    assert loaded.exit_code == 0 and lazy.returncode == 0, lazy.stderr
    assert "  pit        pit's commands for projects/<name>/pit.toml, run on Dagster." in lazy.stdout
    assert lazy.stdout == loaded.output


RUN_PROBE = """
import sys
from trakt_dagster.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print("EXIT", code)
print("IMPORTED", sorted(m for m in {heavy!r} if m in sys.modules))
"""
OTHER_TOOLS_HEAVY = ("dagster_dbt", "dbt", "loom", "polars", "papermill", "jupytext")
TRAKT_DIRS = ("--input-dir", "pipelines/hello_trakt", "--output-dir", "out")


@pytest.fixture(scope="module")
def mixed_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled dbt project (pit) and loom pipeline, plus one trivial pipeline of pit, flowrun and trakt."""
    root = tmp_path_factory.mktemp("mixed")
    skip = shutil.ignore_patterns("runs", "outputs", "target", "logs", "__pycache__")
    shutil.copytree(REPO / "projects" / "dbt_shop", root / "projects" / "dbt_shop", ignore=skip)
    shutil.copytree(REPO / "pipelines" / "loom_orders", root / "pipelines" / "loom_orders", ignore=skip)
    flag = root / "flowrun_module_imported.flag"
    write_files(
        root,
        {
            "projects/hello/pit.toml": '[dag]\nname = "hello"\n[[tasks]]\nname = "say"\nscript = "say.sh"\n',
            "projects/hello/say.sh": "echo hello from pit\n",
            "pipelines/flows/dag.py": flowrun_module("nightly", flag),
            "pipelines/hello_flow/dag.py": flowrun_module("hello_flow", root / "hello_flow.flag"),
            "pipelines/hello_trakt/pipeline.yaml": "name: hello_trakt\ninputs: {records: records.csv}\nsteps:\n"
            "  - {id: copy, uses: steps.copy, with: {input: records, output: copied}}\noutputs: {final: copied}\n",
            "pipelines/hello_trakt/steps/__init__.py": "",
            "pipelines/hello_trakt/steps/copy.py": "def run(ctx, input):\n    return {'output': input}\n",
            "pipelines/hello_trakt/records.csv": "id,amount\n1,10\n2,20\n",
            "pipelines/other_trakt/pipeline.yaml": "inputs: {records: records.csv}\nsteps:\n"
            "  - {id: mark, uses: steps.mark, with: {input: records, output: marked}}\noutputs: {final: marked}\n",
            "pipelines/other_trakt/steps/__init__.py": "",
            "pipelines/other_trakt/steps/mark.py": f"from pathlib import Path\nPath({str(root / 'trakt_step.flag')!r})"
            ".write_text('imported')\n\ndef run(ctx, input):\n    return {'output': input}\n",
            "pipelines/other_trakt/records.csv": "id\n1\n",
        },
    )
    return root


@pytest.mark.parametrize(
    ("args", "also_absent"),
    [
        (["pit", "run", "hello", "--root", "."], ("pandas",)),
        (["flowrun", "run", "hello_flow", "--root", ".", "-q"], ("pandas",)),
        (["run", "hello_trakt", "--root", ".", "-q"], ()),
        (["trakt", "run", "--pipeline-file", "pipelines/hello_trakt/pipeline.yaml", *TRAKT_DIRS], ()),
    ],
)
def test_a_run_of_one_tool_loads_nothing_heavy_of_the_others(
    mixed_root: Path, args: list[str], also_absent: tuple[str, ...]
) -> None:
    """A run translates only its own pipeline: no dbt (pit's dbt project), no loom/Polars, no notebooks, no step
    module of another trakt pipeline; a pit or flowrun run does not import pandas either."""
    heavy = (*OTHER_TOOLS_HEAVY, "pandas")
    flag, step_flag = mixed_root / "flowrun_module_imported.flag", mixed_root / "trakt_step.flag"
    for earlier in (flag, step_flag):  # an earlier command of this module may have imported them
        earlier.unlink(missing_ok=True)
    env = {**os.environ, "TRAKT_DAGSTER_RUNS_DIR": str(mixed_root / "runs")}
    env.pop("DAGSTER_HOME", None)
    done = subprocess.run(
        [sys.executable, "-c", RUN_PROBE.format(heavy=heavy), *args],
        cwd=mixed_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = done.stdout.strip().splitlines()
    assert lines[-2:-1] == ["EXIT 0"], done.stdout[-3000:] + done.stderr[-3000:]
    imported = set(ast.literal_eval(lines[-1].removeprefix("IMPORTED ")))
    assert imported.isdisjoint((*OTHER_TOOLS_HEAVY, *also_absent)), imported
    assert not flag.exists()  # a flowrun module that does not mention the name is not imported
    assert not step_flag.exists()  # nor the step modules of another trakt pipeline
    if args[0] in ("run", "trakt"):
        assert "pandas" in imported  # it read the CSV: the check above can fail


def test_the_quick_name_of_a_trakt_pipeline_is_the_name_the_full_load_gives(tmp_path: Path) -> None:
    from trakt_dagster.trakt.loader import load_pipeline_spec, pipeline_name

    body = "inputs: {src: a.csv}\noutputs: {final: src}\n"
    files = {
        "named": f"name: sales\n{body}",
        "unnamed": body,
        "numbered": f"name: 2026\n{body}",
        "bad_name": f"name: 'a/b'\n{body}",
        "quoted": f"name: 'sales-2'  # a comment\n{body}",
        "quoted_number": f"name: '2026'\n{body}",
        "dated": f"name: 2026-01-31\n{body}",
        "decimal": f"name: 1.5\n{body}",
        "boolean": f"name: true\n{body}",
        "empty": f"name:\n{body}",
        "last": f"{body}steps: []\nname: late\n",
        "nested": "inputs: {src: a.csv}\nsteps:\n  - {id: s, uses: x.y, with: {name: inner}}\noutputs: {final: src}\n",
        "flow": "{name: flowing, inputs: {src: a.csv}, outputs: {final: src}}\n",
        "block": f"name: >-\n  folded\n{body}",
    }
    for folder, text in files.items():
        path = write_files(tmp_path, {f"{folder}/pipeline.yaml": text}) / folder / "pipeline.yaml"
        spec, errors = load_pipeline_spec(path)
        full = spec.name if spec is not None else {e.pipeline for e in errors}.pop()
        assert pipeline_name(path) == full, folder
    for folder, text in {  # only the full parse can tell: None, so the caller loads the file in full
        "aliased": f"base: &n sales\nname: *n\n{body}",
        "tagged": f"name: !!str 5\n{body}",
        "merged": f"<<: {{name: sales}}\n{body}",
        "twice": f"name: a\nname: b\n{body}",
        "two_documents": f"name: a\n{body}---\nname: b\n",
        "a_list": "- name: a\n",
    }.items():
        path = write_files(tmp_path, {f"{folder}/pipeline.yaml": text}) / folder / "pipeline.yaml"
        assert pipeline_name(path) is None, folder
    assert [
        pipeline_name(tmp_path / "named" / "pipeline.yaml"),
        pipeline_name(tmp_path / "unnamed" / "pipeline.yaml"),
    ] == [
        "sales",
        "unnamed",
    ]
    broken = write_files(tmp_path, {"broken/pipeline.yaml": "name: [unclosed\n"}) / "broken" / "pipeline.yaml"
    assert pipeline_name(broken) is None  # the full load reports why
    assert pipeline_name(tmp_path / "missing" / "pipeline.yaml") is None


def test_a_run_validates_only_the_pit_projects_it_may_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import trakt_dagster.pit.validate as pit_validate  # the front end imports it when it loads projects

    root, _ = root_with(tmp_path, "nightly")
    validated: list[str] = []
    real = pit_validate.validate_project

    def recording(project, workspace):  # noqa: ANN001, ANN202 - the real function's arguments
        validated.append(project.name)
        return real(project, workspace)

    monkeypatch.setattr(pit_validate, "validate_project", recording)
    graphs, errors = load_graphs_for(root, "hello")
    assert [g.name for g in graphs] == ["hello"] and errors == []
    assert validated == ["hello"]  # 'other' was read for its name only
    load_graphs(root)
    assert sorted(validated) == ["hello", "hello", "other"]  # a full load validates every project
