"""trakt's import paths and script entry points work unchanged (`trakt-dagster exec`), nothing installed as `trakt`."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_files
from tests.e2e.conftest import run_cli
from trakt_dagster.core.scripts import run_python
from trakt_dagster.trakt import compat_import
from trakt_dagster.trakt.entrypoints import glue_main
from trakt_dagster.trakt.errors import PipelineLoadError

DEMO = {
    "demo/pipeline.yaml": """
        name: multi_file_demo
        inputs:
          source__records: {uri: "records/*.csv", combine_strategy: concat}
        steps:
          - id: double_amount
            uses: steps.normalize.double_amount
            with: {input: source__records, factor: {const: 2}, output: records_norm}
        outputs:
          datasets:
            - {name: final, from: records_norm}
    """,
    "demo/steps/__init__.py": "",
    "demo/steps/normalize/__init__.py": "",
    "demo/steps/normalize/double_amount.py": """
        from trakt import step_contract

        @step_contract(inputs=["input", "factor"], outputs=["output"])
        def run(ctx, input, factor):
            frame = input.copy()
            frame["amount"] = frame["amount"] * factor
            who = ";".join(f"{k}={ctx.metadata[k]}" for k in ("runtime", "client_id", "batch_id") if k in ctx.metadata)
            if who:
                frame["who"] = who
            return {"output": frame}
    """,
    "demo/input/records/part1.csv": "id,amount\n1,10\n2,20\n",
    "demo/input/records/part2.csv": "id,amount\n3,30\n",
    # A DSL script in the shape of trakt's own `run_python_dsl.py`: argparse, a sibling step module imported
    # by its package path, `trakt.runtime.local_runner.LocalRunner`, the result printed as JSON.
    "demo/run_dsl.py": """
        import argparse
        import json

        from steps.normalize.double_amount import run as double_amount
        from trakt import artifact, ref, step, workflow
        from trakt.runtime.local_runner import LocalRunner


        def build():
            records = artifact("source__records").at("records/*.csv").combine("concat")
            doubled = step("double_amount", run=double_amount).input(input=records).params(factor=3)
            return (
                workflow("multi_file_demo")
                .source(records)
                .steps([doubled.output(output=ref("records_norm"))])
                .output("final", from_="records_norm")
            )


        def main():
            parser = argparse.ArgumentParser()
            parser.add_argument("--input-dir", required=True)
            parser.add_argument("--output-dir", required=True)
            args = parser.parse_args()
            result = build().run(LocalRunner(input_dir=args.input_dir, output_dir=args.output_dir), run_id="dsl-1")
            print(json.dumps(result, indent=2, sort_keys=True))


        if __name__ == "__main__":
            main()
    """,
    # trakt's README "Run from Python API" snippet, with a failing variant.
    "api.py": """
        import sys

        from trakt import load_pipeline_from_yaml
        from trakt.runtime.local_runner import LocalRunner

        pipeline = load_pipeline_from_yaml("demo/pipeline.yaml", strict_unknown_keys=True)
        runner = LocalRunner(input_dir=sys.argv[1], output_dir="api_out")
        result = runner.run(pipeline, run_id="local-dev")

        print(result["status"])
        print(result["manifest_path"])
    """,
}


def test_trakt_module_paths_resolve_to_the_compat_layer() -> None:
    compat_import.install()
    from trakt_dagster.trakt.local_runner import GlueRunner, LambdaRunner, LocalRunner, RunnerBase

    assert importlib.import_module("trakt.runtime.local_runner").LocalRunner is LocalRunner
    runtime = importlib.import_module("trakt.runtime")
    assert (runtime.GlueRunner, runtime.LambdaRunner, runtime.RunnerBase) == (GlueRunner, LambdaRunner, RunnerBase)
    assert importlib.import_module("trakt.runtime.glue_runner").GlueRunner is GlueRunner
    assert importlib.import_module("trakt.runtime.lambda_runner").LambdaRunner is LambdaRunner
    assert callable(importlib.import_module("trakt.runtime.glue_main").main)
    assert callable(importlib.import_module("trakt.run_local").main)
    cli = importlib.import_module("trakt.cli")
    assert cli.resolve_pipeline_file("sales", None).as_posix() == "pipelines/sales/pipeline.yaml"
    assert cli.parse_input_overrides(["src = a.csv"]) == {"src": "a.csv"}
    # nothing named trakt is installed: a plain interpreter of the venv cannot import it
    plain = subprocess.run(
        [sys.executable, "-c", "import importlib.util; print(importlib.util.find_spec('trakt'))"],
        capture_output=True,
        text=True,
        cwd="/",
    )
    assert plain.stdout.strip() == "None", plain.stderr


def test_exec_runs_a_dsl_script_and_python_m_run_local_unchanged(tmp_path: Path) -> None:
    write_files(tmp_path, DEMO)
    done = run_cli(
        ["trakt-dagster", "exec", "demo/run_dsl.py", "--input-dir", "demo/input", "--output-dir", "dsl_out"], tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["run_id"] == "dsl-1" and result["pipeline"] == "multi_file_demo" and result["status"] == "success"
    assert result["outputs"]["final"] == {
        "kind": "csv",
        "path": "dsl_out/final.csv",
        "rows": 3,
        "source": "records_norm",
    }
    assert (tmp_path / "dsl_out" / "final.csv").read_text() == "id,amount\n1,30\n2,60\n3,90\n"
    assert json.loads((tmp_path / "dsl_out" / "manifest.json").read_text())["run_id"] == "dsl-1"

    local = run_cli(
        [
            "trakt-dagster",
            "exec",
            "-m",
            "trakt.run_local",
            "--pipeline-file",
            "demo/pipeline.yaml",
            "--input-dir",
            "demo/input",
            "--output-dir",
            "local_out",
            "--param",
            "double_amount.factor=5",
            "--input",
            "source__records=records/part2.csv",
            "--run-id",
            "rl-1",
        ],
        tmp_path,
        env={"PYTHONPATH": str(tmp_path / "demo")},  # as trakt's example README runs it
    )
    assert local.returncode == 0, local.stderr[-3000:]
    result = json.loads(local.stdout)
    assert list(result) == sorted(result) and result["run_id"] == "rl-1"  # trakt prints sort_keys=True
    assert (tmp_path / "local_out" / "final.csv").read_text() == "id,amount\n3,150\n"
    assert json.loads((tmp_path / "local_out" / "manifest.json").read_text())["inputs"]["source__records"] == {
        "files_read": 1,
        "kind": "csv",
        "source": "records/part2.csv",
    }


def test_python_api_snippet_and_glue_main_in_process(tmp_path: Path, monkeypatch, capsys) -> None:
    write_files(tmp_path, DEMO)
    monkeypatch.chdir(tmp_path)
    installs = (compat_import.install,)
    run_python("api.py", ["demo/input"], prepare=installs)
    assert capsys.readouterr().out.splitlines() == ["success", "api_out/manifest.json"]
    assert (tmp_path / "api_out" / "final.csv").read_text() == "id,amount\n1,20\n2,40\n3,60\n"

    # a failure is raised as trakt raises it: PipelineLoadError with trakt's one-line message first
    write_files(tmp_path, {"api_fail.py": DEMO["api.py"].replace('"demo/pipeline.yaml"', '"demo/broken.yaml"')})
    write_files(
        tmp_path, {"demo/broken.yaml": DEMO["demo/pipeline.yaml"].replace("input: source__records", "input: nope")}
    )
    with pytest.raises(PipelineLoadError) as raised:
        run_python("api_fail.py", ["demo/input"], prepare=installs)
    assert str(raised.value).splitlines()[0] == (
        "Pipeline 'multi_file_demo' is invalid: missing inputs=double_amount:nope; unused inputs=source__records; "
        "suspected literal bindings (use {const: value})=double_amount.input='nope'"
    )

    glue_argv = ["--pipeline-file", "demo/pipeline.yaml", "--client-id", "acme", "--batch-id", "b-7"]
    glue_argv += ["--input-dir", "demo/input", "--output-dir", "glue_out", "--job-name", "nightly"]
    glue_main(glue_argv)
    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == "success" and printed["manifest_path"] == "glue_out/manifest.json"
    lines = (tmp_path / "glue_out" / "final.csv").read_text().splitlines()
    assert lines[:2] == ["id,amount,who", "1,20,runtime=glue;client_id=acme;batch_id=b-7"]
    lambda_runner = importlib.import_module("trakt.runtime.lambda_runner").LambdaRunner
    pipeline = importlib.import_module("trakt").load_pipeline_from_yaml("demo/pipeline.yaml")
    with pytest.raises(
        ValueError, match=r"^Lambda runner input exceeds max_batch_rows \(3 > 2\) for 'source__records'\.$"
    ):
        lambda_runner(input_dir="demo/input", output_dir="lambda_out", max_batch_rows=2).run(pipeline)
    with pytest.raises(SystemExit) as exited:
        glue_main(["--pipeline", "demo", "--input-dir", "x"])
    assert exited.value.code == 2
    assert "the following arguments are required: --client-id, --batch-id, --output-dir" in capsys.readouterr().err
