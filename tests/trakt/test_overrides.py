"""Run-time overrides through Dagster run config: --param (const) and --input (spec §2.14, rows 38–40)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_trakt, write_files
from tests.trakt.steps_fixtures import STEP_FILES
from trakt_dagster.trakt.errors import ConfigError
from trakt_dagster.trakt.overrides import parse_input_overrides, parse_param_overrides

YAML = """
    name: overrides
    inputs: {src: a.csv}
    steps:
      - id: scale
        uses: steps.scale
        with:
          input: src
          factor: {const: 2}
          currency: {const: eur}
          flags: {const: {}}
          output: o
      - {id: plain, uses: steps.metrics, with: {input: src, output: p}}
    outputs: {final: o, other: p}
"""


@pytest.fixture
def pipeline_file(tmp_path: Path) -> Path:
    write_files(
        tmp_path,
        {
            **STEP_FILES,
            "a.csv": "id,amount\n1,10\n",
            "alt/b.csv": "id,amount\n2,1\n",
            "notes.txt": "x\n",
            "pipeline.yaml": YAML,
        },
    )
    return tmp_path / "pipeline.yaml"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"scale.factor": "3"}, {"factor": 3}),
        ({"scale.currency": "'007'"}, {"currency": "007"}),
        ({"scale.flags": "{x: 1, y: [2]}"}, {"flags": {"x": 1, "y": [2]}}),
        ({"scale.flags": "yes"}, {"flags": True}),
    ],
)
def test_const_overrides_parsed_as_yaml_row38(pipeline_file: Path, instance, params, expected) -> None:
    run = run_trakt(pipeline_file, instance, config={"params": params})
    assert run.success, run.failure_message()
    metrics = run.manifest["steps"][0]["metrics"]
    for key, value in expected.items():
        if key == "flags":
            assert metrics["flags"] == repr(value)
        else:
            assert metrics[key] == value


def test_const_override_null_fails_in_step_code_row38(pipeline_file: Path, instance) -> None:
    run = run_trakt(pipeline_file, instance, config={"params": {"scale.factor": "null"}})
    assert not run.success
    assert run.manifest["error"]["step_id"] == "scale"
    assert run.manifest["error"]["type"] == "TypeError"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"nosuch.x": "1"}, "Unknown step id 'nosuch' in param overrides."),
        ({"scale.input": "x"}, "Step 'scale' binding 'input' is not a const binding."),
        ({"plain.input": "x"}, "Step 'plain' binding 'input' is not a const binding."),
        ({"scale.nothere": "1"}, "Step 'scale' has no binding named 'nothere' to override."),
    ],
)
def test_const_override_errors_row39(pipeline_file: Path, instance, params, message) -> None:
    run = run_trakt(pipeline_file, instance, config={"params": params})
    assert not run.success
    assert run.manifest["error"]["message"] == message
    assert run.manifest["steps"] == [] and run.manifest["tasks"]["scale"]["status"] == "pending"
    assert message in run.failure_message()


def test_bare_literal_is_not_const_row39(tmp_path: Path, instance) -> None:
    write_files(
        tmp_path,
        {
            **STEP_FILES,
            "a.csv": "id,amount\n1,10\n",
            "pipeline.yaml": """
                name: bare
                inputs: {src: a.csv}
                steps:
                  - {id: scale, uses: steps.split_list, with: {input: src, count: 3, outputs: [x]}}
            """,
        },
    )
    run = run_trakt(tmp_path / "pipeline.yaml", instance, config={"params": {"scale.count": "2"}})
    assert run.manifest["error"]["message"] == "Step 'scale' binding 'count' is not a const binding."


@pytest.mark.parametrize(
    "item",
    ["scalefactor=1", "scale.factor=", "=1", ".x=1", "scale.=1"],
    ids=["no-dot", "empty", "no-target", "no-step", "no-param"],
)
def test_malformed_param_override_row39(item: str) -> None:
    with pytest.raises(ConfigError, match=r"Invalid param override '.*'. Expected STEP_ID.PARAM=VALUE."):
        parse_param_overrides([item])


@pytest.mark.parametrize("item", ["src", "=a.csv", "src="])
def test_malformed_input_override(item: str) -> None:
    with pytest.raises(ConfigError, match=r"Invalid input override '.*'. Expected NAME=PATH."):
        parse_input_overrides([item])


def test_input_overrides_row40(pipeline_file: Path, instance) -> None:
    base = pipeline_file.parent
    absolute = str(base / "alt" / "b.csv")
    run = run_trakt(pipeline_file, instance, config={"inputs": {"src": f"a.csv, {absolute}"}})
    assert run.success
    assert run.manifest["inputs"]["src"] == {"source": f"a.csv, {absolute}", "files_read": 2, "kind": "csv"}
    run = run_trakt(pipeline_file, instance, config={"inputs": {"src": "alt"}})
    assert run.success and run.manifest["inputs"]["src"]["files_read"] == 1
    run = run_trakt(pipeline_file, instance, config={"inputs": {"src": "alt/*"}})
    assert run.success and run.output("final.csv") == "id,amount\n2,2\n"
    run = run_trakt(pipeline_file, instance, config={"inputs": {"src": "notes.txt"}})
    assert "does not match expected file extension '.csv'" in run.manifest["error"]["message"]
    run = run_trakt(pipeline_file, instance, config={"inputs": {"src": "missing.csv"}})
    assert run.manifest["error"]["message"] == (
        f"No input files found for 'src' using source 'missing.csv'. (searched in {base.resolve()})"
    )
    run = run_trakt(pipeline_file, instance, config={"inputs": {"nosuch": "a.csv"}})
    assert not run.success
    assert run.manifest["error"]["message"] == (
        "Unknown input 'nosuch' in input overrides; pipeline 'overrides' has inputs: src."
    )
