"""The provided `ductaflow` module without kernels: config flattening, status scan, JSON form, project root,
CLI mode of a flow run as a script, the status report, and reading conductors without running them."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from trakt_dagster.ductaflow.compat import ductaflow as compat
from trakt_dagster.ductaflow.compat.ductaflow._config import normalize_config
from trakt_dagster.ductaflow.compat.ductaflow._engine import resolve_project_root
from trakt_dagster.ductaflow.compat.ductaflow._status import classify_line
from trakt_dagster.ductaflow.grid import GridError, expand_grid, partition_key
from trakt_dagster.ductaflow.runtime import COMPAT_DIR
from trakt_dagster.ductaflow.static_eval import read_module_values


def test_unpack_config_flattens_one_level_later_keys_win_and_paths() -> None:
    first = {"db": {"host": "h1"}, "host": "TOP"}
    assert compat.unpack_config(first)["host"] == "TOP"
    assert compat.unpack_config({"host": "TOP", "db": {"host": "h1"}})["host"] == "h1"
    nested = compat.unpack_config({"a": {"b": {"c": 1}}})
    assert nested["b"] == {"c": 1} and "c" not in nested
    paths = compat.unpack_config({"paths": {"data_dir": "x"}, "_project_root": "/p", "run_folder": None})
    assert paths["data_dir"] == Path("x") and paths["_project_root"] == Path("/p") and paths["run_folder"] is None
    assert first == {"db": {"host": "h1"}, "host": "TOP"}
    caller: dict = {}
    compat.unpack_config({"k": 1}, None, caller)
    assert caller == {"k": 1}


def test_unpack_config_without_config_warns_and_returns_nothing(capsys) -> None:
    assert compat.unpack_config({}) == {}
    assert capsys.readouterr().out.startswith("⚠️ No config found")


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("Warning: low", "warning"),
        ("  ⚠️ indented", "warning"),
        ("Processing data with warning: inside", None),
        ("2026-01-01 10:00:00 - x - WARNING - ⚠️ y", "warning"),
        ("2026-01-01 10:00:00 - flow:x - ERROR - ❌ Execution failed: boom", "error"),
        ("2026-01-01 10:00:00 - flow:x - WARNING - all fine", None),
        ("Failed: x", "error"),
        ("ERROR: y", "error"),
        ("ValueError: bad", "error"),
        ("ZeroDivisionError: division by zero", None),
    ],
)
def test_scan_judges_the_message_of_each_line(line: str, kind: str | None) -> None:
    assert classify_line(line) == kind


def test_scan_of_a_tree(tmp_path: Path) -> None:
    assert compat.analyze_execution_logs(tmp_path / "missing") == "success"
    (tmp_path / "empty").mkdir()
    assert compat.analyze_execution_logs(tmp_path / "empty") == "success"
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x_execution_output.txt").write_text("2026-01-01 10:00:00 - x - INFO - Warning: low\n")
    assert compat.analyze_execution_logs(tmp_path / "a") == "warning"
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / "b" / "deep" / "y_execution_output.txt").write_text("ERROR: y\n")
    assert compat.analyze_execution_logs(tmp_path) == "error"
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "z_execution_output.txt").write_bytes(b"\xff\xfe broken utf-8 \xff")
    assert compat.analyze_execution_logs(tmp_path / "c") == "error"


def test_one_json_form_for_the_kernel_and_the_saved_file() -> None:
    data = normalize_config({"t": (1, 2), "p": Path("a/b"), "n": float("nan"), "camelCaseKey": {"innerKey": 1}})
    assert data["t"] == [1, 2] and data["p"] == "a/b" and math.isnan(data["n"])
    assert data["camelCaseKey"] == {"innerKey": 1}


def test_project_root_precedence() -> None:
    cwd = Path("/proj")
    assert resolve_project_root(None, {"_project_root": "."}, cwd) == Path("/proj")
    assert resolve_project_root(None, {}, cwd) == Path("/proj")
    assert resolve_project_root(None, {"_project_root": "sub"}, cwd) == Path("/proj/sub")
    assert resolve_project_root("/other", {"_project_root": "."}, cwd) == Path("/other")


def test_is_notebook_execution_is_false_in_a_plain_process() -> None:
    assert compat.is_notebook_execution() is False


CLI_FLOW = """\
# %% tags=["parameters"]
config = {}

# %%
from ductaflow import is_notebook_execution, load_cli_config, unpack_config
if not is_notebook_execution():
    config = load_cli_config("config/flows/cli_flow.json", "CLI flow")
vars().update(unpack_config(config, None, locals()))
with open("greeting.txt", "w") as handle:
    handle.write(f"{greeting} from {_project_root.name}")
"""


def test_flow_as_a_script_uses_the_default_config_and_logs_in_the_output_dir(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "config" / "flows").mkdir(parents=True)
    (tmp_path / "flows" / "cli_flow.py").write_text(CLI_FLOW)
    (tmp_path / "config" / "flows" / "cli_flow.json").write_text('{"greeting": "hello"}')
    env = {**os.environ, "PYTHONPATH": str(COMPAT_DIR)}
    plain = subprocess.run([sys.executable, "flows/cli_flow.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr
    assert (tmp_path / "greeting.txt").read_text() == f"hello from {tmp_path.name}"
    assert (tmp_path / "cli_flow_execution_output.txt").exists()
    out = subprocess.run(
        [sys.executable, "flows/cli_flow.py", "--output-dir", "out"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "out" / "greeting.txt").exists()
    log = (tmp_path / "out" / "cli_flow_execution_output.txt").read_text()
    assert "Loaded config from" in log and str(tmp_path / "config" / "flows" / "cli_flow.json") in log
    saved = json.loads((tmp_path / "out" / "cli_flow_config.json").read_text())
    assert saved == {"greeting": "hello", "_project_root": str(tmp_path.resolve())}


def test_import_is_light() -> None:
    code = f"import sys; sys.path.insert(0, {str(COMPAT_DIR)!r}); import ductaflow; print(sorted(m for m in ('papermill', 'jupytext', 'nbconvert', 'pandas', 'dagster') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_status_report_counts_and_details(tmp_path: Path) -> None:
    ok = tmp_path / "Model_Runs" / "Scenario_A" / "runs" / "f_instance"
    ok.mkdir(parents=True)
    (ok / "f_execution_output.txt").write_text("⚠️ careful\n")
    html = compat.generate_status_report(
        [
            {"scenario": "Scenario_A", "status": "success", "duration_minutes": 0.5},
            {"scenario": "Scenario_B", "status": "failed", "error": "boom <b>"},
        ],
        tmp_path,
    )
    assert "<strong>Total scenarios:</strong> 2" in html
    assert "<strong>Successful:</strong> 1" in html and "<strong>Failed:</strong> 1" in html
    assert 'class="flow warning">⚠️ f_instance' in html
    assert "boom &lt;b&gt;" in html


def test_grid_expansion_names_and_collisions() -> None:
    dims = {
        "a": [{"x": 1, "label": "A1"}, {"x": 2, "label": "A2"}],
        "b": [{"y": 1, "label": "B 1"}, {"y": 2, "label": "B/2"}],
        "c": [{"z": 1, "label": "C1"}, {"z": 2, "x": 9, "label": "C2"}],
    }
    scenarios = expand_grid(dims, ["a", "b", "c"])
    assert len(scenarios) == 8
    assert scenarios[0].name == "Scenario_A1_B 1_C1"
    assert scenarios[-1].row == {"x": 9, "y": 2, "z": 2, "scenario_name": "Scenario_A2_B/2_C2"}
    assert partition_key("Scenario_A2_B/2_C2") == "Scenario_A2_B_2_C2"
    assert [s.name for s in expand_grid(dims, ["a"])] == ["Scenario_A1", "Scenario_A2"]
    with pytest.raises(GridError, match="both give the scenario name"):
        expand_grid({"p": [{"label": "a_b"}, {"label": "a"}], "q": [{"label": "c"}, {"label": "b_c"}]})
    with pytest.raises(GridError, match="both become the partition key") as caught:
        expand_grid({"p": [{"label": "x/y"}, {"label": "x_y"}]})
    assert caught.value.key == "scenario_dimensions"
    with pytest.raises(GridError, match="has no 'label'") as missing:
        expand_grid({"p": [{"v": 1}]})
    assert missing.value.key == "scenario_dimensions.p[0].label"
    with pytest.raises(GridError, match="not in scenario_dimensions"):
        expand_grid(dims, ["a", "nope"])


def test_conductor_values_are_read_without_running_it(tmp_path: Path) -> None:
    text = """
from pathlib import Path
open("must_not_exist.txt", "w").write("ran")
model_root = Path("./runs/conductor_runs")
base_config = {"model_root": str(model_root), "n": 1, "out": model_root / "x", "tag": f"v{1 + 1}"}
dims = {"a": [{"label": "A"}]}
active = list(dims.keys())
computed = len(dims)
"""
    values = read_module_values(text, tmp_path / "conductor.py")
    assert values.values["base_config"] == {
        "model_root": "runs/conductor_runs",
        "n": 1,
        "out": PurePosixPath("runs/conductor_runs/x"),
        "tag": "v2",
    }
    assert values.values["active"] == ["a"]
    assert "computed" in values.unreadable and values.unreadable["computed"][1] == 8
    assert not (tmp_path / "must_not_exist.txt").exists()


def test_kernel_path_prefers_the_projects_own_or_an_installed_ductaflow(tmp_path: Path, monkeypatch) -> None:
    from trakt_dagster.ductaflow.model import DuctaflowProject
    from trakt_dagster.ductaflow.runtime import kernel_pythonpath

    plain = DuctaflowProject("p", tmp_path / "p")
    own = DuctaflowProject("q", tmp_path / "q", own_ductaflow=True)
    assert kernel_pythonpath(plain) == [str(COMPAT_DIR)]
    assert kernel_pythonpath(own) == [str(tmp_path / "q")]
    installed = tmp_path / "site"
    (installed / "ductaflow").mkdir(parents=True)
    (installed / "ductaflow" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(installed))
    assert kernel_pythonpath(plain) == []
