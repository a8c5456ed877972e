"""`trakt-dagster trakt ...` behaves like trakt's own CLI: flags, output bytes, messages, exit codes."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
from pathlib import Path

import pandas as pd

from tests.conftest import write_files
from tests.e2e.conftest import run_cli
from tests.trakt.steps_fixtures import STEP_FILES
from trakt_dagster.trakt import compat_import

TRICKY_CSV = (
    "id,amount,label,when,ratio\n"
    '1,89.125,"a, quoted",2024-01-02,0.1\n'
    "2,,plain,2024-02-03,\n"
    '3,1e-7,"say ""hi""",2024-03-04,3.0\n'
)
PIPELINE = """
    name: compat
    inputs:
      source__records: {uri: "records/*.csv"}
    steps:
      - {id: double_amount, uses: steps.double, with: {input: source__records, output: records_norm}}
    outputs:
      datasets:
        - {name: final, from: records_norm}
"""


def make_project(tmp_path: Path, extra: dict[str, str] | None = None) -> Path:
    files = {
        **{f"pipelines/compat/{k}": v for k, v in STEP_FILES.items()},
        "pipelines/compat/pipeline.yaml": PIPELINE,
        "data/records/part1.csv": "id,amount\n1,10\n2,20\n",
        "data/records/part2.csv": "id,amount\n3,30\n",
        **(extra or {}),
    }
    return write_files(tmp_path, files)


def test_trakt_run_golden_output_and_result_json(tmp_path: Path) -> None:
    make_project(tmp_path)
    done = run_cli(
        [
            "trakt-dagster",
            "trakt",
            "run",
            "--pipeline",
            "compat",
            "--input-dir",
            "data",
            "--output-dir",
            "out",
            "--run-id",
            "demo-run-1",
            "-q",
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "out" / "final.csv").read_bytes() == b"id,amount\n1,20\n2,40\n3,60\n"
    result = json.loads(done.stdout)
    assert result["run_id"] == "demo-run-1" and result["pipeline"] == "compat" and result["status"] == "success"
    assert result["outputs"] == {"final": {"kind": "csv", "path": "out/final.csv", "rows": 3, "source": "records_norm"}}
    assert result["manifest_path"] == "out/manifest.json"
    assert result["steps"][0]["step_id"] == "double_amount" and result["steps"][0]["rows_out"] == 3
    assert done.stderr.strip().endswith("Pipeline 'compat' completed successfully (1 steps, 1 outputs)")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["run_id"] == "demo-run-1" and manifest["outputs"]["final"]["path"] == "out/final.csv"
    assert manifest["inputs"]["source__records"] == {"files_read": 2, "kind": "csv", "source": "records/*.csv"}


def test_output_bytes_match_pandas_defaults_trakt_uses(tmp_path: Path) -> None:
    """trakt writes with `DataFrame.to_csv(path, index=False)`; the same step output must give the same bytes."""
    make_project(tmp_path, {"data/records/part1.csv": TRICKY_CSV, "data/records/part2.csv": TRICKY_CSV})
    done = run_cli(
        ["trakt-dagster", "trakt", "run", "--pipeline", "compat", "--input-dir", "data", "--output-dir", "out", "-q"],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    compat_import.install()
    spec = importlib.util.spec_from_file_location("double_step", tmp_path / "pipelines/compat/steps/double.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frames = [pd.read_csv(tmp_path / "data" / "records" / p) for p in ("part1.csv", "part2.csv")]
    expected_frame = module.run(None, input=pd.concat(frames, ignore_index=True))["output"]
    expected = tmp_path / "expected.csv"
    expected_frame.to_csv(expected, index=False)
    assert (tmp_path / "out" / "final.csv").read_bytes() == expected.read_bytes()
    assert b"178.25" in expected.read_bytes() and b'"a, quoted"' in expected.read_bytes()


def test_trakt_run_params_and_inputs_flags(tmp_path: Path) -> None:
    scaled = tmp_path / "pipelines" / "scaled"
    write_files(
        scaled,
        {
            **STEP_FILES,
            "pipeline.yaml": """
                inputs: {src: a.csv}
                steps:
                  - id: scale
                    uses: steps.scale
                    with: {input: src, factor: {const: 2}, currency: {const: eur}, flags: {const: {}}, output: o}
                outputs: {final: o}
            """,
        },
    )
    write_files(tmp_path, {"alt/b.csv": "id,amount\n7,5\n"})
    done = run_cli(
        [
            "trakt-dagster",
            "trakt",
            "run",
            "--pipeline-file",
            str(scaled / "pipeline.yaml"),
            "--input",
            "src=alt/b.csv",
            "--param",
            "scale.factor=3",
            "--output-dir",
            "o2",
            "--manifest-path",
            "m/run.json",
            "-q",
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "o2" / "final.csv").read_text() == "id,amount\n7,15\n"
    manifest = json.loads((tmp_path / "m" / "run.json").read_text())
    assert manifest["inputs"]["src"]["source"] == "alt/b.csv"
    assert manifest["steps"][0]["metrics"]["factor"] == 3
    assert not (tmp_path / "o2" / "manifest.json").exists()


def test_trakt_run_error_messages_and_exit_codes(tmp_path: Path) -> None:
    make_project(tmp_path)
    no_pipeline = run_cli(["trakt-dagster", "trakt", "run"], tmp_path)
    assert no_pipeline.returncode == 1 and "Error: provide --pipeline or --pipeline-file." in no_pipeline.stderr
    missing_file = run_cli(
        ["trakt-dagster", "trakt", "run", "--pipeline", "compat", "--input-dir", "nowhere", "-q"], tmp_path
    )
    assert missing_file.returncode == 1
    assert (
        "File not found: No input files found for 'source__records' using source 'records/*.csv'."
        in missing_file.stderr
    )
    assert "Use --verbose for full traceback." in missing_file.stderr
    bad_param = run_cli(["trakt-dagster", "trakt", "run", "--pipeline", "compat", "--param", "oops"], tmp_path)
    assert bad_param.returncode == 1
    assert "Invalid param override 'oops'. Expected STEP_ID.PARAM=VALUE." in bad_param.stderr
    assert "Traceback" not in bad_param.stderr
    write_files(tmp_path, {"pipelines/broken/pipeline.yaml": "inputs: {src: a.csv}\nsteps: {}\n"})
    broken = run_cli(["trakt-dagster", "trakt", "run", "--pipeline", "broken"], tmp_path)
    assert broken.returncode == 1
    assert "Error loading pipeline:" in broken.stderr and "Pipeline 'steps' must be a list." in broken.stderr
    invalid = run_cli(["trakt-dagster", "trakt", "validate", "--pipeline", "compat"], tmp_path)
    assert invalid.returncode == 0
    assert invalid.stdout.strip() == "Pipeline 'compat' is valid (1 inputs, 1 steps, 1 outputs, mode=batch)"


def test_trakt_init_scaffolds_a_pipeline_that_runs(tmp_path: Path) -> None:
    created = run_cli(["trakt-dagster", "trakt", "init", "fresh"], tmp_path)
    assert created.returncode == 0, created.stderr
    assert {p.name for p in (tmp_path / "fresh").iterdir()} == {"pipeline.yaml", "steps", "input"}
    again = run_cli(["trakt-dagster", "trakt", "init", "fresh"], tmp_path)
    assert again.returncode == 1 and "already exists" in again.stderr
    ran = run_cli(
        ["trakt-dagster", "trakt", "run", "--pipeline", "fresh/pipeline.yaml", "--input-dir", "fresh/input", "-q"],
        tmp_path,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert (tmp_path / "outputs" / "final.csv").read_text() == "id,amount\n1,20\n2,40\n3,60\n"


def test_killed_run_leaves_manifest_of_what_finished(tmp_path: Path) -> None:
    make_project(
        tmp_path,
        {
            "pipelines/killed/pipeline.yaml": """
                inputs: {src: a.csv}
                steps:
                  - {id: first, uses: steps.double, with: {input: src, output: x}}
                  - {id: suicide, uses: steps.kill, with: {input: x, output: y}}
                outputs: {final: y}
            """,
            "pipelines/killed/a.csv": "id,amount\n1,1\n",
            "pipelines/killed/steps/__init__.py": "",
            "pipelines/killed/steps/double.py": STEP_FILES["steps/double.py"],
            "pipelines/killed/steps/kill.py": f"import os\n\ndef run(ctx, input):\n    os.kill(os.getpid(), {int(signal.SIGKILL)})\n",
        },
    )
    done = run_cli(
        ["trakt-dagster", "trakt", "run", "--pipeline", "killed", "--input-dir", "pipelines/killed", "-q"], tmp_path
    )
    assert done.returncode == -signal.SIGKILL
    manifest = json.loads((tmp_path / "outputs" / "manifest.json").read_text())
    assert manifest["status"] == "running"
    assert [s["step_id"] for s in manifest["steps"]] == ["first"]
    assert manifest["tasks"]["first"]["status"] == "success"
    assert manifest["tasks"]["suicide"]["status"] == "running"
    assert manifest["tasks"]["output:final"]["status"] == "pending"
    assert not os.path.exists(tmp_path / "outputs" / "final.csv")
