"""trakt batch pipelines run through Dagster: binding results, metrics, manifests, failures (spec §6)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from tests.conftest import run_trakt, write_files
from tests.trakt.steps_fixtures import STEP_FILES

RECORDS = "id,amount\n1,10\n2,20\n3,30\n4,5\n"


def pipeline(tmp_path: Path, yaml_text: str, extra: dict[str, str] | None = None) -> Path:
    write_files(tmp_path, {**STEP_FILES, "records.csv": RECORDS, **(extra or {}), "pipeline.yaml": yaml_text})
    return tmp_path / "pipeline.yaml"


def test_list_output_binding_length_mismatch_row8(tmp_path: Path, instance) -> None:
    yaml_text = """
        name: lists
        inputs: {src: records.csv}
        steps:
          - id: split
            uses: steps.split_list
            with: {input: src, count: {const: 1}, outputs: [first, last]}
        outputs: {a: first, b: last}
    """
    run = run_trakt(pipeline(tmp_path, yaml_text), instance)
    assert not run.success
    assert "returned 1 values for 2 output targets" in run.manifest["error"]["message"]
    assert run.manifest["error"]["step_id"] == "split"
    ok = run_trakt(pipeline(tmp_path, yaml_text.replace("{const: 1}", "{const: 2}")), instance)
    assert ok.success
    assert ok.output("a.csv") == "id,amount\n1,10\n"
    assert ok.output("b.csv") == "id,amount\n4,5\n"


def test_mapping_output_binding_row9(tmp_path: Path, instance) -> None:
    yaml_text = """
        name: maps
        inputs: {src: records.csv}
        steps:
          - id: split
            uses: steps.split_map
            with: {input: src, with_lo: {const: false}, outputs: {hi: records_hi, lo: records_lo}}
        outputs: {hi: records_hi, lo: records_lo}
    """
    run = run_trakt(pipeline(tmp_path, yaml_text), instance)
    assert not run.success
    assert "missing nested output key 'lo'" in run.manifest["error"]["message"]
    ok = run_trakt(pipeline(tmp_path, yaml_text.replace("{const: false}", "{const: true}")), instance)
    assert ok.success
    step = ok.manifest["steps"][0]
    assert step["outputs"] == ["records_hi", "records_lo"]
    assert ok.output("hi.csv") == "id,amount\n2,20\n3,30\n"
    assert ok.output("lo.csv") == "id,amount\n1,10\n4,5\n"


def test_metrics_in_manifest_and_metadata_row10(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            """
            name: metrics
            inputs: {src: records.csv}
            steps:
              - {id: m, uses: steps.metrics, with: {input: src, output: o}}
            outputs: {final: o}
            """,
        ),
        instance,
    )
    assert run.success
    step = run.manifest["steps"][0]
    assert step["metrics"] == {"k": 1, "rows_dropped": 2}
    assert step["rows_dropped"] == 2 and step["rows_unmatched"] is None
    meta = run.materializations()["metrics/m"]
    assert meta["rows_dropped"] == 2 and meta["k"] == 1


@pytest.mark.parametrize(
    ("module", "error_type", "fragment"),
    [
        ("steps.bad_metrics", "TypeError", "'__metrics__' of type list; it must be a mapping"),
        ("steps.returns_list", "TypeError", "Step 's' must return a dict, got list."),
    ],
)
def test_bad_return_values_rows11_12(tmp_path: Path, instance, module: str, error_type: str, fragment: str) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            f"""
            name: badreturn
            inputs: {{src: records.csv}}
            steps:
              - {{id: s, uses: {module}, with: {{input: src, output: o}}}}
            outputs: {{final: o}}
            """,
        ),
        instance,
    )
    assert not run.success
    assert run.manifest["error"]["type"] == error_type
    assert fragment in run.manifest["error"]["message"]
    assert fragment in run.failure_message()


def test_input_used_only_by_output_row17(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(tmp_path, "name: passthrough\ninputs: {src: records.csv}\noutputs: {final: src}\n"), instance
    )
    assert run.success
    assert run.output("final.csv") == RECORDS
    assert run.manifest["outputs"]["final"]["rows"] == 4


def test_optional_input_still_loaded_row18(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            """
            name: optional
            inputs:
              src: records.csv
              other: {uri: missing.csv, metadata: {required: false}}
            outputs: {final: src}
            """,
        ),
        instance,
    )
    assert not run.success
    assert run.manifest["error"] == {
        "type": "FileNotFoundError",
        "message": f"No input files found for 'other' using source 'missing.csv'. (searched in {tmp_path.resolve()})",
        "step_id": None,
    }
    assert run.manifest["outputs"] == {}


def test_ctx_metadata_shared_between_steps_row45(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            """
            name: shared_meta
            inputs: {src: records.csv}
            steps:
              - {id: a, uses: steps.remember, with: {input: src, output: x}}
              - {id: b, uses: steps.recall, with: {input: src, output: y}}
            outputs: {final: y}
            """,
        ),
        instance,
    )
    assert run.success
    frame = pd.read_csv(run.output_dir / "final.csv")
    assert list(frame["seen_rows"]) == [4, 4, 4, 4]


def test_row_count_of_plain_list_is_null_row46(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            """
            name: plain_list
            inputs: {src: records.csv}
            steps:
              - {id: s, uses: steps.plain_list, with: {input: src, output: o}}
            """,
        ),
        instance,
    )
    assert run.success
    assert run.manifest["steps"][0]["rows_out"] is None
    assert run.manifest["steps"][0]["rows_in"] == 4


def test_rows_in_sums_dict_inputs_row47(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            """
            name: join_rows
            inputs: {records: records.csv, lookup: lookup.csv}
            steps:
              - {id: j, uses: steps.join, with: {frames: {records: records, lookup: lookup}, output: o}}
            outputs: {final: o}
            """,
            {"lookup.csv": "id,name\n1,a\n2,b\n"},
        ),
        instance,
    )
    assert run.success
    assert run.manifest["steps"][0]["rows_in"] == 6
    assert run.manifest["steps"][0]["rows_out"] == 4


def test_failing_step_manifest_keeps_what_finished_rows48_56(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            """
            name: fails
            inputs: {src: records.csv}
            steps:
              - {id: first, uses: steps.double, with: {input: src, output: doubled}}
              - {id: boom, uses: steps.raises, with: {input: doubled, output: o}}
            outputs: {ok: doubled, final: o}
            """,
        ),
        instance,
    )
    assert not run.success
    manifest = run.manifest
    assert manifest["status"] == "failed"
    assert manifest["error"] == {"type": "RuntimeError", "message": "step exploded on purpose", "step_id": "boom"}
    assert [s["step_id"] for s in manifest["steps"]] == ["first"]
    assert manifest["outputs"] == {}
    assert manifest["inputs"]["src"]["files_read"] == 1
    assert manifest["tasks"]["boom"]["status"] == "failed"
    assert manifest["tasks"]["output:ok"]["status"] == "skipped"
    assert not (run.output_dir / "ok.csv").exists() and not (run.output_dir / "final.csv").exists()
    assert "Task 'boom' failed: RuntimeError: step exploded on purpose" in run.failure_message()
    assert run.trakt_manifest == manifest
    assert set(run.materializations()) == {"fails/first"}


def test_events_reach_log_and_manifest(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            """
            name: evented
            inputs: {src: records.csv}
            steps:
              - {id: e, uses: steps.events, with: {input: src, output: o}}
            outputs: {final: o}
            """,
        ),
        instance,
    )
    assert run.success
    records = instance.all_logs(run.result.run_id)
    text = [r.user_message for r in records]
    matching = [r for r in records if "warning.amount_coercion" in r.user_message]
    assert matching and matching[0].level == 30  # logging.WARNING
    assert "column=amount" in matching[0].user_message and "count=2" in matching[0].user_message
    assert any("info.progress" in t for t in text)
    events = run.manifest["tasks"]["e"]["events"]
    names = [e["name"] for e in events]
    assert "warning.amount_coercion" in names and "step.started" in names and "step.completed" in names
    coercion = next(e for e in events if e["name"] == "warning.amount_coercion")
    assert coercion["attributes"] == {"column": "amount", "count": 2} and coercion["level"] == "warning"


def test_manifest_format_matches_trakt(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            """
            name: multi_file_demo
            inputs:
              source__records: {uri: "records/*.csv"}
            steps:
              - {id: double_amount, uses: steps.double, with: {input: source__records, output: records_norm}}
            outputs:
              datasets:
                - {name: final, from: records_norm}
            """,
            {"records/a.csv": "id,amount\n1,10\n2,20\n", "records/b.csv": "id,amount\n3,30\n"},
        ),
        instance,
        config={"run_id": "demo-run-1"},
    )
    assert run.success
    text = (run.output_dir / "manifest.json").read_text()
    assert text.endswith("}\n") and text.startswith('{\n  "asset_keys"')
    manifest = run.trakt_manifest
    base_keys = {
        "run_id",
        "status",
        "pipeline",
        "runner",
        "started_at",
        "finished_at",
        "duration_ms",
        "inputs",
        "steps",
        "outputs",
        "error",
    }
    assert base_keys <= set(manifest)
    assert manifest["run_id"] == "demo-run-1"
    assert manifest["dagster_run_id"] == run.result.run_id
    assert manifest["pipeline"] == {"name": "multi_file_demo", "version": None}
    assert manifest["status"] == "success" and manifest["error"] is None
    assert manifest["started_at"].endswith("+00:00") and isinstance(manifest["duration_ms"], float)
    assert manifest["inputs"] == {"source__records": {"files_read": 2, "kind": "csv", "source": "records/*.csv"}}
    assert manifest["outputs"] == {
        "final": {"kind": "csv", "path": str(run.output_dir / "final.csv"), "rows": 3, "source": "records_norm"}
    }
    (step,) = manifest["steps"]
    assert set(step) == {
        "duration_ms",
        "files_read",
        "metrics",
        "outputs",
        "rows_dropped",
        "rows_in",
        "rows_out",
        "rows_unmatched",
        "step_id",
    }
    assert step["step_id"] == "double_amount" and step["rows_in"] == 3 and step["rows_out"] == 3
    assert step["files_read"] is None and step["outputs"] == ["records_norm"]
    assert run.output("final.csv") == "id,amount\n1,20\n2,40\n3,60\n"
    assert manifest["tool"] == "trakt" and manifest["granularity"] == "pipeline"
    assert manifest["asset_keys"] == ["multi_file_demo/double_amount", "multi_file_demo/final"]
    assert manifest["tasks"]["double_amount"]["attempts"] == 1


def test_output_metadata_has_path_rows_schema(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(tmp_path, "name: metadata_demo\ninputs: {src: records.csv}\noutputs: {final: src}\n"), instance
    )
    meta = run.materializations()["metadata_demo/final"]
    assert meta["path"] == str((run.output_dir / "final.csv").resolve())
    assert meta["dagster/row_count"] == 4
    schema = meta["dagster/column_schema"]
    assert [(c.name, c.type) for c in schema.columns] == [("id", "int64"), ("amount", "int64")]


def test_run_folder_has_logs_snapshot_and_manifest(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            """
            name: folder
            inputs: {src: records.csv}
            steps:
              - {id: d, uses: steps.double, with: {input: src, output: o}}
            outputs: {final: o}
            """,
        ),
        instance,
    )
    folder = run.runs_dir / "folder" / run.result.run_id
    assert (folder / "manifest.json").exists()
    assert "succeeded" in (folder / "logs" / "d.log").read_text()
    assert (folder / "project" / "pipeline.yaml").read_text() == (tmp_path / "pipeline.yaml").read_text()
    assert (folder / "project" / "steps" / "double.py").exists()
    assert not (folder / "project" / "records.csv").exists()
    assert (folder / "data").is_dir()


def test_subset_selection_runs_needed_upstream_only(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            """
            name: subset
            inputs: {src: records.csv, other: missing.csv}
            steps:
              - {id: d, uses: steps.double, with: {input: src, output: o}}
              - {id: m, uses: steps.metrics, with: {input: other, output: p}}
            outputs: {final: o, second: p}
            """,
        ),
        instance,
        select=["output:final"],
    )
    assert run.success, run.failure_message()
    assert set(run.materializations()) == {"subset/final"}
    tasks = run.manifest["tasks"]
    assert tasks["d"]["status"] == "success" and tasks["d"]["selected"] is False
    assert "m" not in tasks and "input:other" not in tasks
    assert run.output("final.csv") == "id,amount\n1,20\n2,40\n3,60\n4,10\n"


def test_ids_differing_only_in_punctuation_row15(tmp_path: Path, instance) -> None:
    path = pipeline(
        tmp_path,
        """
        name: near_twins
        inputs: {src: records.csv}
        steps:
          - id: normalize-v2
            uses: steps.scale
            with: {input: src, factor: {const: 2}, currency: {const: eur}, flags: {const: {}}, output: a}
          - id: normalize_v2
            uses: steps.scale
            with: {input: a, factor: {const: 3}, currency: {const: eur}, flags: {const: {}}, output: b}
        outputs: {final: b}
        """,
    )
    run = run_trakt(path, instance, config={"params": {"normalize-v2.factor": "10"}})
    assert run.success, run.failure_message()
    keys = set(run.materializations())
    dashed = next(k for k in keys if k.startswith("near_twins/normalize_v2_"))
    assert {"near_twins/normalize_v2", dashed, "near_twins/final"} == keys
    assert [s["step_id"] for s in run.manifest["steps"]] == ["normalize-v2", "normalize_v2"]
    assert run.manifest["steps"][0]["metrics"]["factor"] == 10
    assert run.output("final.csv") == "id,amount\n1,300\n2,600\n3,900\n4,150\n"
    node = run.result.job_def.asset_layer.asset_graph.get(dg.AssetKey(dashed.split("/")))
    assert node.metadata["trakt/step_id"] == "normalize-v2"
