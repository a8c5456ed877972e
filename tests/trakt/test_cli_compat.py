"""`trakt-dagster trakt ...` behaves like trakt's own CLI: flags, output bytes, messages, exit codes."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from tests.conftest import write_files
from tests.e2e.conftest import run_cli
from tests.trakt.steps_fixtures import STEP_FILES
from trakt_dagster.trakt import compat_import
from trakt_dagster.trakt.cli import trakt_group

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


ERROR_CASES = {
    "pipelines/boom/pipeline.yaml": PIPELINE.replace("name: compat", "name: boom").replace(
        "steps.double", "steps.boom"
    ),
    "pipelines/boom/steps/boom.py": "def run(ctx, input):\n    raise ValueError('boom at row 3')\n",
    "pipelines/keyerr/pipeline.yaml": PIPELINE.replace("name: compat", "name: keyerr").replace(
        "steps.double", "steps.keyerr"
    ),
    "pipelines/keyerr/steps/keyerr.py": "def run(ctx, input):\n    return {'output': input['nosuchcol']}\n",
    "pipelines/unresolved/pipeline.yaml": PIPELINE.replace("name: compat", "name: unresolved").replace(
        "steps.double", "steps.nosuch"
    ),
    "pipelines/dtypes/pipeline.yaml": PIPELINE.replace("name: compat", "name: dtypes").replace(
        '{uri: "records/*.csv"}', '{uri: "records/*.csv", schema: {id: int64, amount: str}}'
    ),
    "pipelines/chunks/pipeline.yaml": """
        name: chunks
        execution: {mode: stream}
        inputs: {src: {uri: "records/*.csv"}}
        steps:
          - {id: s, uses: steps.streamy, with: {input: src, output: o}}
        outputs:
          datasets:
            - {name: final, from: o, metadata: {write_options: {mode: a}}}
    """,
    "pipelines/chunks/steps/streamy.py": """
        from trakt import step_contract

        @step_contract(inputs=["input"], outputs=["output"], supports_stream=True)
        def run(ctx, input):
            return {"output": (chunk for chunk in input)}
    """,
    "pipelines/invalid/pipeline.yaml": PIPELINE.replace("name: compat", "name: invalid").replace(
        "input: source__records", "input: nope"
    ),
}
for _name in ("boom", "keyerr", "unresolved", "dtypes", "chunks", "invalid"):
    ERROR_CASES[f"pipelines/{_name}/steps/__init__.py"] = ""
    ERROR_CASES[f"pipelines/{_name}/steps/double.py"] = STEP_FILES["steps/double.py"]
HINT = "Use --verbose for full traceback."
PART1 = "{root}/data/records/part1.csv"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["Error: provide --pipeline or --pipeline-file."]),
        (  # a failing step: trakt's progress lines, its concise error and the --verbose hint
            ["--pipeline", "boom"],
            [
                "Running pipeline 'boom' (batch mode)...",
                "Running step 'double_amount'...",
                "Error: ValueError: boom at row 3",
                HINT,
            ],
        ),
        (["--pipeline", "keyerr", "-q"], ["Missing artifact: 'nosuchcol'"]),
        (
            ["--pipeline", "compat", "--input-dir", "nowhere", "-q"],
            ["File not found: No input files found for 'source__records' using source 'records/*.csv'."],
        ),
        (  # a missing pipeline file, in trakt's words
            ["--pipeline", "nosuch"],
            [
                "Error loading pipeline: Failed to read pipeline file 'pipelines/nosuch/pipeline.yaml': [Errno 2] No "
                "such file or directory: 'pipelines/nosuch/pipeline.yaml'"
            ],
        ),
        (
            ["--pipeline", "unresolved"],
            [
                "Error loading pipeline: Failed to resolve step 'double_amount' using 'steps.nosuch': No module named "
                "'steps.nosuch'"
            ],
        ),
        (
            ["--pipeline", "invalid"],
            [
                "Error loading pipeline: Pipeline 'invalid' is invalid: missing inputs=double_amount:nope; unused "
                "inputs=source__records; suspected literal bindings (use {const: value})=double_amount.input='nope'"
            ],
        ),
        (
            ["--pipeline", "dtypes", "-q"],
            [
                f"Error: ValueError: Artifact 'source__records' source '{PART1}' schema dtypes mismatch: amount "
                "expected=str got=int64.",
                HINT,
            ],
        ),
        (
            ["--pipeline", "chunks", "-q"],
            [
                "Error: ValueError: CSV stream mode does not allow write_options.mode; Trakt controls chunk write mode.",
                HINT,
            ],
        ),
        # override mistakes are rejected before anything runs
        (
            ["--pipeline", "compat", "--param", "oops"],
            ["Error: ValueError: Invalid param override 'oops'. Expected STEP_ID.PARAM=VALUE.", HINT],
        ),
        (
            ["--pipeline", "compat", "--param", "nosuch.x=1"],
            ["Error: ValueError: Unknown step id 'nosuch' in param overrides.", HINT],
        ),
        (
            ["--pipeline", "compat", "--param", "double_amount.input=x"],
            ["Error: ValueError: Step 'double_amount' binding 'input' is not a const binding.", HINT],
        ),
        (
            ["--pipeline", "compat", "--param", "double_amount.nothere=1"],
            ["Error: ValueError: Step 'double_amount' has no binding named 'nothere' to override.", HINT],
        ),
        (
            ["--pipeline", "compat", "--input", "nosuch=a.csv"],
            [
                "Error: ValueError: Unknown input 'nosuch' in input overrides; pipeline 'compat' has inputs: "
                "source__records.",
                HINT,
            ],
        ),
        (
            ["--pipeline", "compat", "--input", "=a.csv"],
            ["Error: ValueError: Invalid input override '=a.csv'. Expected NAME=PATH.", HINT],
        ),
    ],
)
def test_trakt_run_errors_read_as_trakts(tmp_path: Path, monkeypatch, args: list[str], expected: list[str]) -> None:
    """The first lines of stderr are trakt's CLI lines (trakt-dagster may add `at <file:line>` / `fix:` lines
    after a load error); nothing else, no Dagster output, exit code 1."""
    make_project(tmp_path, ERROR_CASES)
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(
        trakt_group, ["run", *args, "--input-dir", "data"] if "--input-dir" not in args and args else ["run", *args]
    )
    assert done.exit_code == 1, done.output
    lines = done.stderr.splitlines()
    expected = [line.replace("{root}", str(tmp_path.resolve())) for line in expected]
    assert lines[: len(expected)] == expected
    assert all(line.startswith(("  at ", "  fix: ", "  pipelines/", "    fix: ")) for line in lines[len(expected) :])
    assert done.stdout == ""
    if "--param" in args or "--input" in args:
        assert not (tmp_path / ".trakt-dagster").exists()  # rejected before a run was launched
    validated = CliRunner().invoke(trakt_group, ["validate", *args[:2]]) if args else None
    if validated is not None and args[1] in ("nosuch", "unresolved", "invalid"):
        assert validated.exit_code == 1
        assert validated.stderr.splitlines()[0] == expected[0].replace("Error loading pipeline:", "Validation failed:")


def test_trakt_run_prints_trakts_lines_not_dagsters(tmp_path: Path) -> None:
    make_project(tmp_path, ERROR_CASES)
    ok = run_cli(["trakt-dagster", "trakt", "run", "--pipeline", "compat", "--input-dir", "data"], tmp_path)
    assert ok.returncode == 0, ok.stderr[-3000:]
    pattern = (
        r"Running pipeline 'compat' \(batch mode\)\.\.\.\n"
        r"Running step 'double_amount'\.\.\.\n"
        r"Step 'double_amount' completed \(\d+ms, 3 rows in -> 3 rows out\)\n"
        r"Pipeline 'compat' completed in \d+ms \(1 steps, status=success\)\n"
        r"Pipeline 'compat' completed successfully \(1 steps, 1 outputs\)\n"
    )
    assert re.fullmatch(pattern, ok.stderr), ok.stderr
    assert json.loads(ok.stdout)["status"] == "success"
    failed = run_cli(["trakt-dagster", "trakt", "run", "--pipeline", "boom", "--input-dir", "data", "-q"], tmp_path)
    assert failed.returncode == 1
    assert failed.stderr == f"Error: ValueError: boom at row 3\n{HINT}\n"
    verbose = run_cli(["trakt-dagster", "trakt", "run", "--pipeline", "boom", "--input-dir", "data", "-v"], tmp_path)
    assert verbose.returncode == 1
    assert (
        "Traceback (most recent call last)" in verbose.stderr and "raise ValueError('boom at row 3')" in verbose.stderr
    )
    assert "STEP_FAILURE" in verbose.stderr and HINT not in verbose.stderr
    invalid = run_cli(["trakt-dagster", "trakt", "validate", "--pipeline", "compat"], tmp_path)
    assert invalid.returncode == 0
    assert invalid.stdout == "Pipeline 'compat' is valid (1 inputs, 1 steps, 1 outputs, mode=batch)\n"


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
