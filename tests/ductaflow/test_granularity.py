"""ductaflow and granularity: a flow (or build) is one Dagster op in both granularities, so `granularity: step`
(in the notebook's `dagster:` header, or for the whole code location) builds and runs the same job."""

from __future__ import annotations

from pathlib import Path

from tests.ductaflow.conftest import flow, load_errors, run_notebook_job, write_project
from trakt_dagster import build_definitions

STEP_HEADER = "# ---\n# jupyter:\n#   dagster:\n#     granularity: step\n# ---\n\n"
BODY = """
    # %%
    from pathlib import Path
    Path("doubled.txt").write_text(str(2 * config.get("n", 21)))
"""


def test_a_flow_runs_the_same_in_both_granularities(tmp_path: Path, instance) -> None:
    outputs = {}
    for granularity in ("pipeline", "step"):
        root = tmp_path / granularity
        header = STEP_HEADER if granularity == "step" else ""
        write_project(root, "lab", {"flows/double.py": header + flow(BODY)})
        defs = build_definitions(root, runs_dir=str(root / "runs"))
        job = defs.resolve_job_def("lab__double")
        assert [node.name for node in job.graph.nodes] == ["lab__double_pipeline"]
        run = run_notebook_job(defs, root, "lab", "double", instance)
        assert run.success, run.failure_message()
        folder = Path(run.instances["default"]["folder"])
        outputs[granularity] = ((folder / "doubled.txt").read_text(), run.manifest["tasks"]["double"]["status"])
    assert outputs["pipeline"] == outputs["step"] == ("42", "success")


def test_a_bad_granularity_in_the_header_is_a_load_error(tmp_path: Path) -> None:
    header = STEP_HEADER.replace("granularity: step", "granularity: cells")
    write_project(tmp_path, "lab", {"flows/double.py": header + flow(BODY)})
    text = load_errors(tmp_path)
    assert "'dagster.granularity' must be 'pipeline' or 'step', not 'cells'" in text and "double.py" in text
