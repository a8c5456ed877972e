"""Input resolution, CSV read/write options, schema checks and output writing (spec §2.10–§2.12)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_trakt, write_files
from tests.trakt.steps_fixtures import STEP_FILES
from trakt_dagster.trakt.csv_io import check_schema, normalize_header, resolve_input_paths


def pipeline(tmp_path: Path, yaml_text: str, files: dict[str, str]) -> Path:
    write_files(tmp_path, {**STEP_FILES, **files, "pipeline.yaml": yaml_text})
    return tmp_path / "pipeline.yaml"


def test_lenient_mode_side_effects_row22(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            """
            name: lenient
            inputs:
              src: {uri: a.csv, delimiter: ";"}
            steps:
              - {id: s, uses: steps.double, retries: 2, with: {input: src, output: o}}
            outputs:
              datasets:
                - {name: x, from: o, delimiter: "|", header: false}
            """,
            {"a.csv": "id;amount\n1;10\n2;20\n"},
        ),
        instance,
        strict=False,
    )
    assert run.success, run.failure_message()
    assert run.output("x.csv") == "1|20\n2|40\n"


def test_concat_column_mismatch_and_union_by_name_row25(tmp_path: Path, instance) -> None:
    files = {"records/a.csv": "id,amount\n1,10\n", "records/b.csv": "amount,id\n20,2\n"}
    yaml_text = """
        name: combine
        inputs:
          src: {uri: "records/*.csv", combine_strategy: concat}
        outputs: {final: src}
    """
    run = run_trakt(pipeline(tmp_path, yaml_text, files), instance)
    assert not run.success
    assert run.manifest["error"]["message"] == (
        "Column mismatch while combining frames: frame 0 columns=('id', 'amount'), frame 1 columns=('amount', 'id')"
    )
    run = run_trakt(pipeline(tmp_path, yaml_text.replace("concat", "union_by_name"), files), instance)
    assert run.success
    assert run.output("final.csv") == "id,amount\n1,10\n2,20\n"


def test_union_by_name_fills_missing_columns(tmp_path: Path, instance) -> None:
    files = {"r/a.csv": "id,amount\n1,10\n", "r/b.csv": "id,amount,channel\n2,20,web\n"}
    run = run_trakt(
        pipeline(
            tmp_path,
            "name: union\ninputs:\n  src: {uri: 'r/*.csv', combine_strategy: union_by_name}\noutputs: {final: src}\n",
            files,
        ),
        instance,
    )
    assert run.output("final.csv") == "id,amount,channel\n1,10,\n2,20,web\n"


def test_validate_schema_strategy_rejects_dtype_change(tmp_path: Path, instance) -> None:
    files = {"r/a.csv": "id,amount\n1,10\n", "r/b.csv": "id,amount\n2,2.5\n"}
    run = run_trakt(
        pipeline(
            tmp_path,
            "name: vs\ninputs:\n  src: {uri: 'r/*.csv', combine_strategy: validate_schema}\noutputs: {final: src}\n",
            files,
        ),
        instance,
    )
    assert not run.success
    assert "Schema mismatch while combining frames" in run.manifest["error"]["message"]


def test_glob_skips_other_extensions_explicit_file_rejected_row26(tmp_path: Path) -> None:
    write_files(tmp_path, {"in/a.csv": "id\n1\n", "in/notes.txt": "hello\n"})
    assert resolve_input_paths("src", "in/*", tmp_path, ".csv") == [tmp_path / "in" / "a.csv"]
    with pytest.raises(ValueError, match=r"Input spec 'in/notes.txt' does not match expected file extension '.csv'."):
        resolve_input_paths("src", "in/notes.txt", tmp_path, ".csv")


def test_comma_list_and_directory_not_recursive_row27(tmp_path: Path) -> None:
    write_files(tmp_path, {"a.csv": "x\n", "b.csv": "x\n", "in/x.csv": "x\n", "in/sub/y.csv": "x\n"})
    assert resolve_input_paths("src", "a.csv, b.csv", tmp_path, ".csv") == [tmp_path / "a.csv", tmp_path / "b.csv"]
    assert resolve_input_paths("src", "in", tmp_path, ".csv") == [tmp_path / "in" / "x.csv"]
    assert resolve_input_paths("src", "a.csv,a.csv", tmp_path, ".csv") == [tmp_path / "a.csv"]


def test_comma_always_separates_row59(tmp_path: Path) -> None:
    write_files(tmp_path, {"a,b.csv": "x\n"})
    with pytest.raises(FileNotFoundError, match=r"No input files found for 'src' using source 'a,b.csv'."):
        resolve_input_paths("src", "a,b.csv", tmp_path, ".csv")


def test_delimiter_auto_sniffs_row28(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            "name: sniff\ninputs:\n  src: {uri: a.csv, metadata: {delimiter: auto}}\noutputs: {final: src}\n",
            {"a.csv": "id;amount\n1;10\n2;20\n"},
        ),
        instance,
    )
    assert run.success
    assert run.output("final.csv") == "id,amount\n1,10\n2,20\n"
    with pytest.raises(ValueError, match="Unsupported CSV header value: maybe"):
        normalize_header("maybe")


def test_header_option_values() -> None:
    assert normalize_header(True) == "infer"
    assert normalize_header(False) is None
    assert normalize_header("none") is None
    assert normalize_header("0") == 0


def test_schema_order_matters_mapping_form_does_not_row29() -> None:
    frame = pd.DataFrame({"amount": [1], "id": [2]})
    with pytest.raises(
        ValueError, match=r"schema columns mismatch: expected=\['id', 'amount'\], got=\['amount', 'id'\]"
    ):
        check_schema("src", "a.csv", frame, ["id", "amount"])
    check_schema("src", "a.csv", frame, {"id": "int64", "amount": "int64"})
    check_schema("src", "a.csv", frame, {"columns": ["amount", "id"], "dtypes": {"id": "int64"}})


def test_schema_text_dtype_is_str_on_pandas_3_row30() -> None:
    frame = pd.read_csv(pd.io.common.StringIO("name\nada\n"))
    with pytest.raises(ValueError, match="name expected=object got=str"):
        check_schema("src", "a.csv", frame, {"name": "object"})
    check_schema("src", "a.csv", frame, {"name": "str"})


def test_schema_failure_fails_the_run_naming_the_file(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            "name: schema_run\ninputs:\n  src: {uri: a.csv, schema: [id, amount]}\noutputs: {final: src}\n",
            {"a.csv": "amount,id\n1,2\n"},
        ),
        instance,
    )
    assert not run.success
    assert f"Artifact 'src' source '{tmp_path / 'a.csv'}' schema columns mismatch" in run.manifest["error"]["message"]


def test_output_kind_as_typed_row43_and_uri_with_write_options_row44(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            """
            name: writes
            inputs: {src: a.csv}
            outputs:
              datasets:
                - {name: upper, from: src, kind: CSV}
                - name: piped
                  from: src
                  uri: exports/final.psv
                  metadata: {write_options: {delimiter: "|"}}
            """,
            {"a.csv": "id,amount\n1,10\n"},
        ),
        instance,
    )
    assert run.success
    assert run.manifest["outputs"]["upper"]["kind"] == "CSV"
    assert run.output("upper.csv") == "id,amount\n1,10\n"
    assert run.output("exports/final.psv") == "id|amount\n1|10\n"
    assert run.manifest["outputs"]["piped"]["path"] == str(run.output_dir / "exports" / "final.psv")


def test_legacy_output_forms_row55(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            """
            name: legacy
            inputs: {src: a.csv}
            outputs:
              plain: src
              placed: {from: src, uri: f.csv}
            """,
            {"a.csv": "id\n1\n"},
        ),
        instance,
    )
    assert run.success
    assert run.output("plain.csv") == "id\n1\n" and run.output("f.csv") == "id\n1\n"


def test_relative_output_dir_gives_relative_manifest_paths(tmp_path: Path, instance, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = run_trakt(
        pipeline(tmp_path, "name: relpaths\ninputs: {src: a.csv}\noutputs: {final: src}\n", {"a.csv": "id\n1\n"}),
        instance,
        output_dir=Path("rel_out"),
    )
    assert run.success
    assert run.manifest["outputs"]["final"]["path"] == "rel_out/final.csv"
    assert (tmp_path / "rel_out" / "final.csv").read_text() == "id\n1\n"


def test_failed_write_leaves_older_file_untouched(tmp_path: Path, instance) -> None:
    files = {"a.csv": "id,amount\n1,10\n"}
    yaml_text = "name: atomic\ninputs: {src: a.csv}\noutputs: {final: src}\n"
    run = run_trakt(pipeline(tmp_path, yaml_text, files), instance)
    assert run.success
    before = run.output("final.csv")
    bad = yaml_text.replace(
        "outputs: {final: src}", "outputs: {final: {from: src, metadata: {write_options: {nosuch: 1}}}}"
    )
    run = run_trakt(pipeline(tmp_path, bad, files), instance)
    assert not run.success
    assert run.output("final.csv") == before
    assert [p.name for p in run.output_dir.iterdir() if p.name.startswith(".")] == []


def test_paths_resource_roots_and_run_config_precedence(tmp_path: Path, instance) -> None:
    from trakt_dagster import build_definitions
    from trakt_dagster.trakt.runtime import TraktPaths

    write_files(
        tmp_path,
        {
            "pipelines/rooted/pipeline.yaml": "inputs: {src: a.csv}\noutputs: {final: src}\n",
            "pipelines/rooted/a.csv": "id\nbeside\n",
            "data_in/rooted/a.csv": "id\nfrom_root\n",
            "elsewhere/a.csv": "id\nfrom_run_config\n",
        },
    )
    paths = TraktPaths(input_root=str(tmp_path / "data_in"), output_root=str(tmp_path / "data_out"))
    defs = build_definitions(tmp_path, runs_dir=str(tmp_path / "runs"), resources={"trakt_paths": paths})
    job = defs.resolve_job_def("rooted")
    assert job.execute_in_process(instance=instance).success
    assert (tmp_path / "data_out" / "rooted" / "final.csv").read_text() == "id\nfrom_root\n"
    config = {
        "ops": {
            "rooted_pipeline": {"config": {"input_dir": str(tmp_path / "elsewhere"), "output_dir": str(tmp_path / "o")}}
        }
    }
    assert job.execute_in_process(instance=instance, run_config=config).success
    assert (tmp_path / "o" / "final.csv").read_text() == "id\nfrom_run_config\n"
    default = build_definitions(tmp_path, runs_dir=str(tmp_path / "runs")).resolve_job_def("rooted")
    assert default.execute_in_process(instance=instance).success
    assert (tmp_path / "pipelines" / "rooted" / "outputs" / "final.csv").read_text() == "id\nbeside\n"
