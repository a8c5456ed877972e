"""Bad input: each broken file is a load error naming the file (line, key, fix); the rest still loads;
conductors are read, never run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ductaflow.conftest import flow, write_project
from trakt_dagster.core.definitions import load_graphs

GOOD = flow("""
# %%
print("fine")
""")

BAD_CONDUCTOR = """
from ductaflow import run_notebook
open("conductor_ran.txt", "w").write("the conductor must never run")
scenario_dimensions = {"region": [{"region": "eu", "label": "EU"}, {"region": "us"}]}
for s in []:
    run_notebook("builds/grid_build.py", config={})
"""

COLLIDING_CONDUCTOR = """
from ductaflow import run_notebook
scenario_dimensions = {
    "a": [{"label": "x_y"}, {"label": "x"}],
    "b": [{"label": "z"}, {"label": "y_z"}],
}
active_dimensions = ["a", "b"]
run_notebook("flows/target.py", config={})
"""

COMPUTED_CONDUCTOR = """
from ductaflow import run_notebook
import itertools
scenario_dimensions = dict(itertools.chain())
run_notebook("flows/other_target.py", config={})
"""


@pytest.fixture(scope="module")
def broken_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("broken")
    write_project(
        root,
        "messy",
        {
            "flows/good.py": GOOD,
            "flows/unreadable.py": "# ---\n# jupyter:\n#   dagster: [unclosed\n# ---\n\n# %%\nx = 1\n",
            "flows/badconfig.py": GOOD,
            "config/flows/badconfig.json": '{\n  "a": 1,\n  "b": 2,\n}\n',
            "flows/badoption.py": "# ---\n# jupyter:\n#   dagster:\n#     timeout: soon\n#     colour: red\n# ---\n\n# %%\nx = 1\n",
            "flows/baddep.py": "# ---\n# jupyter:\n#   dagster:\n#     deps: [nowhere]\n# ---\n\n# %%\nx = 1\n",
            "builds/grid_build.py": GOOD,
            "builds/missing_flow.py": flow("""
                # %%
                from ductaflow import run_notebook
                run_notebook("flows/not_there.py", config=config, execution_dir="runs/x")
                """),
            "conductor.py": BAD_CONDUCTOR,
        },
    )
    write_project(
        root,
        "grids",
        {
            "flows/target.py": GOOD,
            "flows/other_target.py": GOOD,
            "flows/fine.py": GOOD,
            "conductor_collide.py": COLLIDING_CONDUCTOR,
            "conductor_computed.py": COMPUTED_CONDUCTOR,
        },
    )
    return root


@pytest.fixture(scope="module")
def loaded(broken_root: Path):
    graphs, errors = load_graphs(broken_root)
    return {g.name for g in graphs}, errors


def _error(errors, file_name: str):
    found = [e for e in errors if e.location and e.location.file.name == file_name]
    assert found, f"no error for {file_name}: {[e.render() for e in errors]}"
    return found[0]


def test_good_notebooks_still_load(loaded) -> None:
    names, _ = loaded
    assert names == {"messy__good", "grids__fine"}


def test_unreadable_flow_names_the_file(loaded) -> None:
    error = _error(loaded[1], "unreadable.py")
    assert "jupytext cannot read this flow" in error.message
    assert "percent-format" in error.hint


def test_config_json_error_has_line_and_column(loaded) -> None:
    error = _error(loaded[1], "badconfig.json")
    assert error.location.line == 4
    assert "invalid JSON at line 4, column 1" in error.message
    assert "trailing commas" in error.hint


def test_bad_dagster_options_and_unknown_deps(loaded, broken_root: Path) -> None:
    errors = loaded[1]
    option = _error(errors, "badoption.py")
    assert option.location.key == "dagster.timeout" and "'dagster.timeout' must be int or float" in option.message
    dep = _error(errors, "baddep.py")
    assert dep.location.key == "dagster.deps" and "'nowhere'" in dep.message
    colour = [w for w in _warnings(broken_root) if w.location.key == "dagster.colour"]
    assert colour and "unknown key 'dagster.colour'" in colour[0].message


def _warnings(root: Path):
    from trakt_dagster.ductaflow.frontend import load_projects

    _, result = load_projects(root)
    return result.warnings


def test_build_naming_a_missing_flow(loaded) -> None:
    error = _error(loaded[1], "missing_flow.py")
    assert "runs 'flows/not_there.py', but the project has no flow or build 'not_there'" in error.message
    assert error.location.line == 10
    assert error.location.key == "flows/not_there.py"


def test_malformed_dimensions_are_reported_without_running_the_conductor(loaded, broken_root: Path) -> None:
    error = _error(loaded[1], "conductor.py")
    assert "option 1 of dimension 'region' has no 'label'" in error.message
    assert error.location.key == "scenario_dimensions.region[1].label" and error.location.line == 3
    assert not any(broken_root.rglob("conductor_ran.txt"))
    assert "messy__grid_build" not in loaded[0]  # its partitions are unknown: left out, not loaded unpartitioned


def test_colliding_labels_and_computed_dimensions(loaded) -> None:
    collide = _error(loaded[1], "conductor_collide.py")
    assert "both give the scenario name 'Scenario_x_y_z'" in collide.message
    computed = _error(loaded[1], "conductor_computed.py")
    assert "cannot read 'scenario_dimensions' without running the conductor" in computed.message
    assert computed.location.line == 3 and "literal values" in computed.hint
    assert "grids__target" not in loaded[0] and "grids__other_target" not in loaded[0]


def test_errors_come_back_from_validate(broken_root: Path) -> None:
    from click.testing import CliRunner

    from trakt_dagster.cli import main

    done = CliRunner().invoke(main, ["ductaflow", "validate", "--root", str(broken_root)])
    assert done.exit_code == 1
    assert "badconfig.json:4: invalid JSON at line 4, column 1" in done.output
    assert "conductor.py:3 (key scenario_dimensions.region[1].label)" in done.output
    assert "WARNING:" in done.output and "dagster.colour" in done.output
