"""The Python DSL builds the same pipeline as YAML; DSL modules in pipelines/ are discovered (spec §2.16)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_files
from trakt_dagster import build_definitions
from trakt_dagster.core.definitions import load_graphs
from trakt_dagster.trakt import compat_import
from trakt_dagster.trakt.errors import PipelineValidationError

compat_import.install()
from trakt import Const, artifact, ref, step, workflow  # noqa: E402 - served by the compat hook

STEPS = {
    "steps/__init__.py": "",
    "steps/scale.py": """
        from trakt import step_contract

        @step_contract(inputs=["input", "factor"], outputs=["output"])
        def run(ctx, input, factor):
            return {"output": input.assign(amount=input["amount"] * factor)}
    """,
}
YAML = """
    name: twin_yaml
    inputs:
      records: {uri: "records/*.csv"}
    steps:
      - {id: scale, uses: steps.scale, with: {input: records, factor: {const: 3}, output: records_scaled}}
    outputs:
      datasets:
        - {name: final, from: records_scaled}
"""
DSL = """
    from trakt import artifact, step, workflow

    twin = (
        workflow("twin_dsl")
        .source(artifact("records").at("records/*.csv"))
        .steps([step("scale", uses="steps.scale").input(input="records").params(factor=3).output(output="records_scaled")])
        .output("final", from_="records_scaled")
    )
"""
DATA = {"records/a.csv": "id,amount\n1,10\n", "records/b.csv": "id,amount\n2,20\n"}


def test_yaml_and_dsl_give_identical_assets_and_outputs(tmp_path: Path, instance) -> None:
    write_files(
        tmp_path,
        {
            **{f"pipelines/twin_yaml/{k}": v for k, v in {**STEPS, **DATA, "pipeline.yaml": YAML}.items()},
            **{f"pipelines/twin_dsl/{k}": v for k, v in {**STEPS, **DATA, "flow.py": DSL}.items()},
        },
    )
    defs = build_definitions(tmp_path, runs_dir=str(tmp_path / "runs"))
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    by_pipeline = {
        p: sorted(k.split("/", 1)[1] for k in keys if k.startswith(p + "/")) for p in ("twin_yaml", "twin_dsl")
    }
    assert by_pipeline["twin_yaml"] == by_pipeline["twin_dsl"] == ["final", "records", "scale"]
    for name in ("twin_yaml", "twin_dsl"):
        assert defs.resolve_job_def(name).execute_in_process(instance=instance).success
    yaml_out = tmp_path / "pipelines" / "twin_yaml" / "outputs"
    dsl_out = tmp_path / "pipelines" / "twin_dsl" / "outputs"
    assert (yaml_out / "final.csv").read_bytes() == (dsl_out / "final.csv").read_bytes() == b"id,amount\n1,30\n2,60\n"
    yaml_manifest = json.loads((yaml_out / "manifest.json").read_text())
    dsl_manifest = json.loads((dsl_out / "manifest.json").read_text())
    assert yaml_manifest["steps"][0]["outputs"] == dsl_manifest["steps"][0]["outputs"] == ["records_scaled"]
    assert yaml_manifest["inputs"]["records"] == dsl_manifest["inputs"]["records"]
    run_dir = Path(dsl_manifest["run_folder"])
    assert [p.name for p in (run_dir / "project").iterdir()] == ["flow.py"]


def test_dsl_builder_api_semantics() -> None:
    def handler(ctx, input, lookup):
        return {"output": input}

    built = (
        workflow("api")
        .sources([artifact("a"), artifact("b", uri="b.csv")])
        .step(step("s", run=handler).in_(input=ref("a"), lookup=("b",)).out(output="o"))
        .output("final", from_=ref("o"))
        .build()
    )
    (spec_step,) = built.steps
    assert spec_step.uses.endswith("test_dsl_builder_api_semantics.<locals>.handler")
    assert spec_step.bindings == {"input": "a", "lookup": ["b"], "output": "o"}
    assert built.inputs[0].uri == "a" and built.inputs[1].uri == "b.csv"
    params = step("p", run=handler).params(cfg={"k": "records"}).bindings["cfg"]
    assert params == Const({"k": "records"})
    legacy = step("l", run=handler).bind(currency="usd", n=3, c={"const": "x"}, r=ref("a")).bindings
    assert legacy == {"currency": "usd", "n": 3, "c": Const("x"), "r": "a"}
    with pytest.raises(TypeError, match=r"expects artifact references .* Use .params\(...\) for literal values."):
        step("t", run=handler).input(n=3)
    with pytest.raises(TypeError, match=r"WorkflowBuilder.step\(...\) expects a WorkflowStep instance."):
        workflow("x").step("nope")
    with pytest.raises(ValueError, match="exactly one of uses= or run="):
        step("u")


def test_dsl_build_raises_trakt_errors() -> None:
    def handler(ctx, input):
        return {"output": input}

    broken = workflow("bad").source(artifact("a")).step(step("s", run=handler).bind(input="nope", output="o"))
    with pytest.raises(PipelineValidationError, match="missing inputs=s:nope"):
        broken.build()


def test_broken_dsl_module_is_a_located_load_error(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "pipelines/bad_dsl/flow.py": """
                from trakt import artifact, step, workflow

                def handler(ctx, input):
                    return {"output": input}

                bad = (
                    workflow("bad_dsl")
                    .source(artifact("a"))
                    .steps([step("s", run=handler).input(input="missing").output(output="o")])
                )
            """,
            "pipelines/crash/flow.py": "from trakt import workflow\n\nraise RuntimeError('module crashed')\n",
        },
    )
    graphs, errors = load_graphs(tmp_path)
    assert graphs == []
    by_folder = {e.location.file.parent.name: e for e in errors}
    assert "Workflow 'bad_dsl' (bad) is invalid: missing inputs=s:missing" in by_folder["bad_dsl"].message
    assert by_folder["bad_dsl"].location.line == 7
    assert by_folder["crash"].location.line == 3 and "module crashed" in by_folder["crash"].message


def test_dsl_run_with_local_runner_script(tmp_path: Path) -> None:
    """A trakt DSL script (`python run_dsl.py`) runs unchanged: `.run(LocalRunner(...))` goes through Dagster."""
    write_files(
        tmp_path,
        {
            **STEPS,
            **DATA,
            "run_dsl.py": """
                import json, sys
                sys.path.insert(0, ".")
                from trakt_dagster.trakt import compat_import
                compat_import.install()
                from trakt import LocalRunner, artifact, step, workflow

                result = (
                    workflow("scripted")
                    .source(artifact("records").at("records/*.csv"))
                    .steps([step("scale", uses="steps.scale").input(input="records").params(factor=2).output(output="o")])
                    .output("final", from_="o")
                    .run(LocalRunner(input_dir=".", output_dir="out"), run_id="script-1")
                )
                print(json.dumps(result))
            """,
        },
    )
    done = subprocess.run([sys.executable, "run_dsl.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["run_id"] == "script-1" and result["status"] == "success"
    assert (tmp_path / "out" / "final.csv").read_text() == "id,amount\n1,20\n2,40\n"
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["runner"] == "DagsterRunner"
