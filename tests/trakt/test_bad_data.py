"""Bad data at run time names the file: unreadable inputs (empty, not UTF-8, ragged rows, binary) in batch and
stream mode, a wrong delimiter and a missing column as warnings, inputs that find no files."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import run_trakt, write_files
from trakt_dagster.cli import main as cli

STEPS = {
    "steps/__init__.py": "",
    "steps/total.py": """
        import pandas as pd
        from trakt import step_contract

        @step_contract(inputs=["input"], outputs=["output"])
        def run(ctx, input):
            return {"output": pd.DataFrame({"total": [input["amount"].sum()]})}
    """,
    "steps/passthrough.py": """
        from trakt import step_contract

        @step_contract(inputs=["input"], outputs=["output"], supports_stream=True)
        def run(ctx, input):
            return {"output": (chunk for chunk in input)}
    """,
}
BATCH = """
    name: bad_data
    inputs: {src: data.csv}
    steps:
      - {id: total, uses: steps.total, with: {input: src, output: summed}}
    outputs: {final: summed}
"""
STREAM = """
    name: bad_stream
    execution: {mode: stream}
    inputs: {src: "good.csv, data.csv"}
    steps:
      - {id: copy, uses: steps.passthrough, with: {input: src, output: copied}}
    outputs: {final: copied}
"""
BAD_FILES = {
    "empty": (b"", "the file is empty (no header line, no rows)", None),
    "not-utf8": (b"id,amount\n1,10\n2,caf\xe9\n", "it is not utf-8 text (byte b'\\xe9')", 3),
    "ragged": (b"id,amount\n1,10\n2,20,99\n", "Expected 2 fields in line 3, saw 3", 3),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\xff\xd8\xff", "it is not utf-8 text", 1),
}


def write(tmp_path: Path, yaml_text: str, data: bytes) -> Path:
    write_files(tmp_path, {**STEPS, "pipeline.yaml": yaml_text, "good.csv": "id,amount\n1,10\n"})
    (tmp_path / "data.csv").write_bytes(data)
    return tmp_path / "pipeline.yaml"


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_unreadable_input_names_the_file_and_line_batch(tmp_path: Path, instance, case: str) -> None:
    data, reason, line = BAD_FILES[case]
    run = run_trakt(write(tmp_path, BATCH, data), instance)
    assert not run.success
    error = run.manifest["error"]
    assert error["type"] == "InputFileError" and error["step_id"] is None
    assert f"Cannot read input 'src' file {tmp_path / 'data.csv'}" in error["message"]
    assert reason in error["message"]
    if line is not None:
        assert f"line {line}" in error["message"]
    assert run.manifest["tasks"]["input:src"]["status"] == "failed"
    assert str(tmp_path / "data.csv") in run.failure_message()  # the Dagster step failure names it too


@pytest.mark.parametrize("case", ["ragged", "not-utf8"])
def test_stream_mode_attributes_read_errors_to_the_input(tmp_path: Path, instance, case: str) -> None:
    data, reason, line = BAD_FILES[case]
    run = run_trakt(write(tmp_path, STREAM, data), instance, config={"stream_chunk_size": 1})
    assert not run.success
    error = run.manifest["error"]
    assert error["type"] == "InputFileError" and error["step_id"] is None  # not the output's, not a step's
    assert f"Cannot read input 'src' file {tmp_path / 'data.csv'}" in error["message"] and reason in error["message"]
    tasks = run.manifest["tasks"]
    assert tasks["input:src"]["status"] == "failed" and tasks["input:src"]["error"] == error
    assert str(tmp_path / "data.csv") in run.failure_message()


def test_a_wrong_delimiter_is_warned_about(tmp_path: Path, instance) -> None:
    path = write(tmp_path, BATCH.replace("steps:", "steps:", 1), b"id;amount\n1;10\n")
    run = run_trakt(path, instance)
    assert not run.success  # the step looks for 'amount', which the one-column frame lacks
    logs = [r.user_message for r in instance.all_logs(run.result.run_id)]
    assert any(
        "input 'src' was read as one column 'id;amount' with delimiter ',', but looks ';'-separated" in m for m in logs
    )
    assert any("step 'total' failed looking up 'amount', which none of its input frames has" in m for m in logs)
    assert any("columns input: id;amount" in m for m in logs)


def test_validate_warns_when_inputs_find_no_files_and_the_run_names_the_folder(tmp_path: Path, instance) -> None:
    write_files(
        tmp_path,
        {
            **{f"pipelines/lost/{k}": v for k, v in STEPS.items()},
            "pipelines/lost/pipeline.yaml": BATCH.replace("name: bad_data", "name: lost")
            + "    dagster: {input_dir: wrong_folder}\n",
        },
    )
    done = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    folder = (tmp_path / "pipelines" / "lost" / "wrong_folder").resolve()
    assert done.exit_code == 0, done.stderr
    assert f"Input 'src' finds no files: source 'data.csv' searched in {folder}" in done.stderr
    assert "pipelines/lost/pipeline.yaml:2 (key inputs.src)" in done.stderr
    run = run_trakt(tmp_path / "pipelines" / "lost" / "pipeline.yaml", instance, input_dir=folder)
    assert run.manifest["error"]["message"] == (
        f"No input files found for 'src' using source 'data.csv'. (searched in {folder})"
    )
