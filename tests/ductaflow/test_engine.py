"""Notebook execution on real kernels (papermill), without Dagster: failures, warnings, parameters, timeouts,
concurrency in threads, paired notebooks, debug folders, re-runs and HTML export failures.

One module-scoped batch runs most notebooks two at a time (kernel start-up dominates); the tests assert on it.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.conftest import write_files
from tests.ductaflow.conftest import flow
from trakt_dagster.ductaflow.compat import ductaflow as compat
from trakt_dagster.ductaflow.compat.ductaflow._engine import (
    FlowExecutionError,
    NotebookRequest,
    NotebookResult,
    execute_notebook,
)
from trakt_dagster.ductaflow.runtime import COMPAT_DIR

FLOWS = {
    "flows/div_zero.py": flow("""
        # %%
        print("partial output before the failure")
        # %%
        1 / 0
        """),
    "flows/missing_file.py": flow("""
        # %%
        open("nope.csv")
        """),
    "flows/value_error.py": flow("""
        # %%
        raise ValueError("bad")
        """),
    "flows/boom.py": flow("""
        # %%
        class Boom(Exception):
            pass
        raise Boom("custom")
        """),
    "flows/noisy.py": flow("""
        # %%
        import logging
        logger = logging.getLogger("noisy")
        logger.info("x")
        logger.warning("⚠️ y")
        print("Warning: z")
        """),
    "flows/types.py": """\
# %%
import json, math
import ductaflow
seen = {
    "compat": getattr(ductaflow, "TRAKT_DAGSTER_COMPAT", False),
    "t": config["t"], "p": config["p"], "nan": math.isnan(config["n"]),
    "camel": config["camelCaseKey"], "root": config["_project_root"],
}
with open("seen.json", "w") as handle:
    json.dump(seen, handle)
""",
    "flows/slow_cells.py": flow("""
        # %%
        import time
        time.sleep(1.5)
        # %%
        time.sleep(1.5)
        # %%
        time.sleep(1.5)
        """),
    "flows/one_slow.py": flow("""
        # %%
        import time
        time.sleep(4)
        """),
    "flows/marker.py": flow("""
        # %%
        import os, time
        time.sleep(0.5)
        with open(f"marker_{name}.txt", "w") as handle:
            handle.write(os.getcwd())
        """),
    "flows/whose.py": flow("""
        # %%
        import ductaflow
        with open("whose.txt", "w") as handle:
            handle.write(ductaflow.__file__)
        """),
    "ductaflow.py": "def unpack_config(config, flow_name=None, caller_locals=None):\n    return dict(config)\n",
    "flows/debugged.py": flow("""
        # %%
        with open("executed.txt", "w") as handle:
            handle.write(str(camelCaseKey))
        """),
}
PAIRED = nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("the user's own pairing")]))


@dataclass
class Ran:
    result: NotebookResult | None = None
    error: FlowExecutionError | None = None
    lines: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def outcome(self) -> NotebookResult:
        return self.result if self.result is not None else self.error.result


def _run(project: Path, name: str, instance: str, config: dict[str, Any], **options: Any) -> Ran:
    ran = Ran()
    lock = threading.Lock()

    def sink(level: str, text: str) -> None:
        with lock:
            ran.lines.append((level, text))

    started = time.perf_counter()
    options = dict(options)
    own = options.pop("own", False)  # the project's own ductaflow.py (its folder on the path) instead of ours
    request = NotebookRequest(
        source=Path(f"flows/{name}.py"),
        execution_dir=Path(f"runs/{name}/{instance}"),
        config=config,
        pythonpath=[str(project)] if own else [str(COMPAT_DIR)],
        sink=sink,
        cwd=project,
        **options,
    )
    try:
        ran.result = execute_notebook(request)
    except FlowExecutionError as exc:
        ran.error = exc
    ran.seconds = time.perf_counter() - started
    return ran


BATCH = [
    ("div_zero", "x", {}, {}),
    ("missing_file", "x", {}, {}),
    ("value_error", "x", {}, {}),
    ("boom", "x", {}, {}),
    ("noisy", "x", {}, {}),
    ("types", "x", {"t": (1, 2), "p": Path("data/in.csv"), "n": float("nan"), "camelCaseKey": {"innerKey": 1}}, {}),
    ("slow_cells", "x", {}, {"timeout": 2}),
    ("one_slow", "x", {}, {"timeout": 2}),
    ("marker", "eu", {"name": "eu"}, {}),
    ("marker", "us", {"name": "us"}, {}),
    ("whose", "own", {}, {"own": True}),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("engine")
    write_files(root, FLOWS)
    (root / "flows" / "marker.ipynb").write_text(PAIRED)
    return root


@pytest.fixture(scope="module")
def batch(project: Path) -> dict[tuple[str, str], Ran]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {(n, i): pool.submit(_run, project, n, i, c, **o) for n, i, c, o in BATCH}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize(
    ("name", "ename", "evalue"),
    [
        ("div_zero", "ZeroDivisionError", "division by zero"),
        ("missing_file", "FileNotFoundError", "No such file or directory"),
        ("value_error", "ValueError", "bad"),
        ("boom", "Boom", "custom"),
    ],
)
def test_failures_are_red_with_notebook_and_config_kept(batch, name: str, ename: str, evalue: str) -> None:
    ran = batch[(name, "x")]
    assert ran.error is not None, f"{name} must fail"
    assert ran.error.failure.ename == ename and evalue in ran.error.failure.evalue
    result = ran.outcome
    assert result.status == "error" and result.html is None
    assert not result.notebook.with_suffix(".html").exists()
    assert json.loads(result.config_file.read_text())["_project_root"] == str(result.source.parent.parent)
    executed = nbformat.read(result.notebook, as_version=4)
    tracebacks = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert tracebacks and tracebacks[0].ename == ename
    log = result.log_file.read_text()
    assert f"❌ Execution failed: Flow '{name}' failed in cell" in log
    assert compat.analyze_execution_logs(result.execution_dir) == "error"
    assert str(ran.error).startswith(f"Flow '{name}' failed in cell")


def test_partial_outputs_of_a_failed_run_are_kept(batch) -> None:
    result = batch[("div_zero", "x")].outcome
    executed = nbformat.read(result.notebook, as_version=4)
    texts = ["".join(o.get("text", "")) for c in executed.cells for o in c.get("outputs", [])]
    assert any("partial output before the failure" in t for t in texts)
    assert "partial output before the failure" in result.log_file.read_text()


def test_kernel_logging_and_prints_make_the_status_amber(batch) -> None:
    ran = batch[("noisy", "x")]
    assert ran.error is None and ran.result.status == "warning"
    log = ran.result.log_file.read_text()
    assert " - noisy - INFO - x\n" in log
    assert " - noisy - WARNING - ⚠️ y\n" in log
    assert " - flow:noisy - INFO - Warning: z\n" in log
    assert log.index("🚀 Execution started") < log.index("⚠️ y") < log.index("✅ Execution completed")
    assert (
        ("info", "noisy: x") in ran.lines
        and ("warning", "noisy: ⚠️ y") in ran.lines
        and ("info", "Warning: z") in ran.lines
    )
    assert ran.result.html is not None and ran.result.html.read_text().startswith("<!DOCTYPE html>")


def test_config_reaches_the_kernel_as_saved_and_without_a_parameters_cell(batch) -> None:
    ran = batch[("types", "x")]
    assert ran.error is None, ran.error
    seen = json.loads((ran.result.execution_dir / "seen.json").read_text())
    saved = json.loads(ran.result.config_file.read_text())
    assert seen["compat"] is True
    assert seen["t"] == [1, 2] == saved["t"]
    assert seen["p"] == "data/in.csv" == saved["p"]
    assert seen["nan"] is True and saved["n"] != saved["n"]
    assert seen["camel"] == {"innerKey": 1} == saved["camelCaseKey"]
    executed = nbformat.read(ran.result.notebook, as_version=4)
    assert executed.cells[0].metadata.tags == ["injected-parameters"]
    assert "injected at the top" in ran.result.log_file.read_text()


def test_timeout_is_per_cell(batch) -> None:
    assert batch[("slow_cells", "x")].error is None
    failed = batch[("one_slow", "x")].error
    assert failed is not None and failed.failure.ename == "CellTimeoutError"
    assert failed.failure.cell_index is not None and "time.sleep(4)" in failed.failure.source


def test_concurrent_instances_in_threads_do_not_cross(batch, project: Path) -> None:
    eu, us = batch[("marker", "eu")].result, batch[("marker", "us")].result
    assert eu is not None and us is not None
    assert (eu.execution_dir / "marker_eu.txt").read_text() == str(eu.execution_dir)
    assert (us.execution_dir / "marker_us.txt").read_text() == str(us.execution_dir)
    assert not (eu.execution_dir / "marker_us.txt").exists() and not (us.execution_dir / "marker_eu.txt").exists()
    assert sorted(p.name for p in (project / "flows").iterdir() if p.suffix == ".ipynb") == ["marker.ipynb"]
    assert (project / "flows" / "marker.ipynb").read_text() == PAIRED
    assert not list(project.glob("*.ipynb")) and not list(project.glob("*_config.json"))


def test_a_projects_own_ductaflow_wins(batch, project: Path) -> None:
    ran = batch[("whose", "own")]
    assert ran.error is None, ran.error
    assert (ran.result.execution_dir / "whose.txt").read_text() == str(project / "ductaflow.py")


def test_debug_folder_then_a_normal_run_executes(project: Path, capsys) -> None:
    import os

    old = Path.cwd()
    os.chdir(project)  # debug_flow takes paths relative to the current folder, as ductaflow does
    try:
        folder = compat.debug_flow("flows/debugged.py", "runs/debug/one", {"camelCaseKey": 7, "_no_execute": True})
    finally:
        os.chdir(old)
    assert folder == project / "runs" / "debug" / "one"
    saved = json.loads((folder / "debugged_config.json").read_text())
    assert saved["camelCaseKey"] == 7 and "_no_execute" not in saved
    prepared = nbformat.read(folder / "debugged_executed.ipynb", as_version=4)
    injected = next(c for c in prepared.cells if "injected-parameters" in c.metadata.tags)
    assert '"camelCaseKey": 7' in injected.source and all(
        not c.get("outputs") for c in prepared.cells if c.cell_type == "code"
    )
    launch = json.loads((folder / "launch.json").read_text())["configurations"][0]
    assert launch["args"] == ["--config", "debugged_config.json"] and launch["cwd"].endswith("runs/debug/one")
    assert not (folder / "executed.txt").exists()
    assert '"configurations"' in capsys.readouterr().out
    ran = _run(project, "debugged", "again", saved)
    assert ran.error is None and (ran.result.execution_dir / "executed.txt").read_text() == "7"


BROKEN_TEMPLATE = {"nbconvert/templates/lab/index.html.j2": "{% if %}broken", "nbconvert/templates/lab/conf.json": "{}"}


def test_rerun_overwrites_in_place_and_a_broken_html_template_only_warns(
    batch, project: Path, tmp_path, monkeypatch
) -> None:
    first = batch[("marker", "eu")].result
    stale = first.execution_dir / "left_from_earlier.txt"
    stale.write_text("stale")
    before = first.notebook.stat().st_mtime_ns
    write_files(tmp_path, BROKEN_TEMPLATE)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    again = _run(project, "marker", "eu", {"name": "eu"})
    assert again.error is None and again.result.execution_dir == first.execution_dir
    assert again.result.notebook.stat().st_mtime_ns > before
    assert stale.read_text() == "stale"
    assert again.result.html is None and "HTML conversion failed" in again.result.html_error
    assert any(level == "warning" and "HTML export failed" in text for level, text in again.lines)
