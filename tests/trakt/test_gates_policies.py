"""Quality gates as Dagster asset checks (rows 48, 49) and the policy helpers (spec §2.17)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from tests.conftest import load_trakt_graph, run_trakt, write_files
from tests.trakt.steps_fixtures import STEP_FILES
from trakt_dagster.trakt.loader import load_pipeline_spec
from trakt_dagster.trakt.policies import (
    DedupePolicy,
    JoinPolicy,
    RenamePolicy,
    apply_dedupe_policy,
    apply_join_policy,
    apply_rename_policy,
    evaluate_quality_gates,
)

GATED = """
    name: gated
    inputs: {src: records.csv}
    steps:
      - {id: scale, uses: steps.metrics, with: {input: src, output: records_scaled}}
      - id: gate
        uses: trakt.steps.quality_gate
        with:
          input: records_scaled
          policy: {const: POLICY}
          output: records_checked
    outputs: {final: records_checked}
"""


def gated(tmp_path: Path, policy: str, records: str) -> Path:
    write_files(tmp_path, {**STEP_FILES, "records.csv": records, "pipeline.yaml": GATED.replace("POLICY", policy)})
    return tmp_path / "pipeline.yaml"


def test_fail_gate_blocks_and_reports_row48(tmp_path: Path, instance) -> None:
    path = gated(tmp_path, "{mode: fail, required_columns: [id], unique_keys: [id]}", "id,amount\n1,1\n1,2\n2,3\n3,4\n")
    graph = load_trakt_graph(path)
    gate = graph.by_key["gate"]
    assert [(c.name, c.blocking) for c in gate.checks] == [("required_columns", True), ("unique_keys__id", True)]
    run = run_trakt(path, instance)
    assert not run.success
    manifest = run.manifest
    assert manifest["error"] == {
        "type": "ValueError",
        "message": "Found 1 duplicate rows for unique keys ['id'].",
        "step_id": "gate",
    }
    assert [s["step_id"] for s in manifest["steps"]] == ["scale"]
    assert manifest["steps"][0]["metrics"] == {"k": 1, "rows_dropped": 2}
    assert manifest["outputs"] == {}
    assert "Found 1 duplicate rows for unique keys ['id']." in run.failure_message()
    evaluations = {e.check_name: e for e in run.result.get_asset_check_evaluations()}
    assert evaluations["required_columns"].passed
    failed = evaluations["unique_keys__id"]
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    assert failed.metadata["duplicate_rows"].value == 1
    assert failed.asset_key == dg.AssetKey(["gated", "gate"])
    assert [c["name"] for c in manifest["tasks"]["gate"]["checks"]] == ["required_columns", "unique_keys__id"]
    assert set(run.materializations()) == {"gated/scale"}
    assert not (run.output_dir / "final.csv").exists()


def test_warn_gate_counts_and_warns_row49(tmp_path: Path, instance) -> None:
    path = gated(
        tmp_path,
        "{mode: warn, unique_keys: [id], required_columns: [id], max_null_ratio: {amount: 0.2}}",
        "id,amount\n1,1\n1,\n2,\n3,4\n",
    )
    run = run_trakt(path, instance)
    assert run.success, run.failure_message()
    step = next(s for s in run.manifest["steps"] if s["step_id"] == "gate")
    assert step["metrics"] == {"quality_checks": 3, "quality_violations": 2, "quality_warnings": 2}
    events = [e for e in run.manifest["tasks"]["gate"]["events"] if e["name"] == "warning.quality_gate"]
    assert [e["attributes"]["gate"] for e in events] == ["unique_keys", "max_null_ratio"]
    evaluations = {e.check_name: e for e in run.result.get_asset_check_evaluations()}
    assert set(evaluations) == {"required_columns", "unique_keys__id", "max_null_ratio__amount"}
    assert evaluations["max_null_ratio__amount"].severity == dg.AssetCheckSeverity.WARN
    assert not evaluations["max_null_ratio__amount"].passed
    assert evaluations["max_null_ratio__amount"].metadata["null_ratio"].value == 0.5
    warnings = [r for r in instance.all_logs(run.result.run_id) if "warning.quality_gate" in r.user_message]
    assert len(warnings) == 2 and all(r.level == 30 for r in warnings)
    assert run.output("final.csv") == "id,amount\n1,1.0\n1,\n2,\n3,4.0\n"


def test_gate_policy_checked_at_load(tmp_path: Path) -> None:
    path = gated(tmp_path, "{mode: maybe}", "id\n1\n")
    _, errors = load_pipeline_spec(path)
    assert "invalid quality gate policy: Quality gate mode must be 'warn' or 'fail', got 'maybe'." in errors[0].message
    assert errors[0].location.key == "steps[1].with.policy"


def test_per_gate_modes_and_row_bounds() -> None:
    frame = pd.DataFrame({"id": [1, 2]})
    with pytest.raises(ValueError, match="Row count 2 is below the minimum 5."):
        evaluate_quality_gates(frame, {"mode": "warn", "row_count": {"min": 5}, "gate_modes": {"row_count": "fail"}})
    _, metrics = evaluate_quality_gates(
        frame, {"mode": "fail", "row_count": {"max": 1}, "gate_modes": {"row_count": "warn"}}
    )
    assert metrics == {"quality_checks": 1, "quality_violations": 1, "quality_warnings": 1}
    with pytest.raises(ValueError, match="row_count.min must be an integer"):
        evaluate_quality_gates(frame, {"row_count": {"min": True}})


def test_join_policy_unmatched_modes() -> None:
    left = pd.DataFrame({"id": [1, 2, 3], "v": [1, 2, 3]})
    right = pd.DataFrame({"id": [1, 2], "v": [9, 8]})
    events = []

    class Ctx:
        def emit_event(self, name, **attrs):
            events.append((name, attrs))

    joined = apply_join_policy(left, right, JoinPolicy(keys=["id"], unmatched="warn"), ctx=Ctx())
    assert list(joined.columns) == ["id", "v_left", "v_right"] and len(joined) == 3
    assert events == [("warning.join_unmatched", {"unmatched_count": 1, "keys": ["id"]})]
    assert len(apply_join_policy(left, right, JoinPolicy(keys=["id"], unmatched="drop"))) == 2
    with pytest.raises(ValueError, match="Join policy failed due to 1 unmatched rows."):
        apply_join_policy(left, right, JoinPolicy(keys=["id"], unmatched="fail"))
    with pytest.raises(ValueError, match="Join keys missing"):
        apply_join_policy(left, right, JoinPolicy(keys=["nope"]))
    with pytest.raises(Exception):  # noqa: B017 - pandas refuses overlapping columns without suffixes
        apply_join_policy(left, right, JoinPolicy(keys=["id"], collision="none"))


def test_dedupe_policy_winners() -> None:
    frame = pd.DataFrame({"id": [1, 1, 2], "ts": [1, 5, 3], "x": [None, "a", None]})
    assert apply_dedupe_policy(frame, DedupePolicy(["id"], "latest", "ts"))["ts"].tolist() == [5, 3]
    assert apply_dedupe_policy(frame, DedupePolicy(["id"], "earliest", "ts"))["ts"].tolist() == [1, 3]
    assert apply_dedupe_policy(frame, DedupePolicy(["id"], "first"))["ts"].tolist() == [1, 3]
    assert apply_dedupe_policy(frame, DedupePolicy(["id"], "last"))["ts"].tolist() == [5, 3]
    assert apply_dedupe_policy(frame, DedupePolicy(["id"], "non_null"))["x"].tolist()[0] == "a"
    with pytest.raises(ValueError, match="requires 'order_by'"):
        apply_dedupe_policy(frame, DedupePolicy(["id"], "max"))


def test_rename_policy() -> None:
    frame = pd.DataFrame({"a": [1], "b": [2]})
    events = []

    class Ctx:
        def emit_event(self, name, **attrs):
            events.append((name, attrs))

    renamed = apply_rename_policy(frame, RenamePolicy({"a": "x", "z": "y"}, required=["a"], optional=["z"]), ctx=Ctx())
    assert list(renamed.columns) == ["x", "b"]
    assert events == [("warning.rename_optional_missing", {"columns": ["z"]})]
    with pytest.raises(ValueError, match=r"Missing required columns for rename: \['q'\]."):
        apply_rename_policy(frame, RenamePolicy({}, required=["q"]))
    with pytest.raises(ValueError, match="duplicate target columns"):
        apply_rename_policy(frame, RenamePolicy({"a": "b"}))


def test_policies_importable_from_trakt_in_step_code(tmp_path: Path, instance) -> None:
    write_files(
        tmp_path,
        {
            "pipeline.yaml": """
                name: policy_step
                inputs: {left: l.csv, right: r.csv}
                steps:
                  - {id: j, uses: steps.j, with: {frames: [left, right], output: o}}
                outputs: {final: o}
            """,
            "l.csv": "id,v\n1,a\n2,b\n",
            "r.csv": "id,w\n1,x\n",
            "steps/__init__.py": "",
            "steps/j.py": """
                from trakt import JoinPolicy, apply_join_policy

                def run(ctx, frames):
                    left, right = frames
                    return {"output": apply_join_policy(left, right, JoinPolicy(keys=["id"], unmatched="warn"), ctx=ctx)}
            """,
        },
    )
    run = run_trakt(tmp_path / "pipeline.yaml", instance)
    assert run.success, run.failure_message()
    assert run.output("final.csv") == "id,v,w\n1,a,x\n2,b,\n"
    names = [e["name"] for e in run.manifest["tasks"]["j"]["events"]]
    assert "warning.join_unmatched" in names
