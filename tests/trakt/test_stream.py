"""Stream mode (`execution.mode: stream`): chunked reading, lazy steps, atomic outputs (spec §2.13, rows 31–37, 58)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_trakt, write_files
from tests.e2e.conftest import BIN
from trakt_dagster.core.definitions import load_graphs
from trakt_dagster.trakt.loader import load_pipeline_spec

STREAM_STEPS = {
    "steps/__init__.py": "",
    "steps/count.py": """
        import pandas as pd
        from trakt import step_contract

        @step_contract(inputs=["input"], outputs=["output"], supports_stream=True)
        def run(ctx, input):
            sizes = [len(chunk) for chunk in input]
            ctx.add_metadata("chunk_sizes", sizes)
            return {"output": [pd.DataFrame({"n": [sum(sizes)], "chunks": [",".join(map(str, sizes))]})]}
    """,
    "steps/double.py": """
        from trakt import step_contract

        @step_contract(inputs=["input"], outputs=["output"], supports_stream=True)
        def run(ctx, input):
            return {"output": (chunk.assign(amount=chunk["amount"] * 2) for chunk in input)}
    """,
    "steps/explode.py": """
        from trakt import step_contract

        @step_contract(inputs=["input"], outputs=["output"], supports_stream=True)
        def run(ctx, input):
            def chunks():
                for chunk in input:
                    if (chunk["id"] > 3).any():
                        raise ValueError("id above 3 is not allowed")
                    yield chunk
            return {"output": chunks()}
    """,
    "steps/single.py": """
        import pandas as pd
        from trakt import step_contract

        @step_contract(inputs=["input", "shape"], outputs=["output"], supports_stream=True)
        def run(ctx, input, shape):
            frames = list(input)
            if shape == "frame":
                return {"output": pd.concat(frames)}
            if shape == "list":
                return {"output": frames}
            return {"output": iter([])}
    """,
    "steps/batch_only.py": """
        def run(ctx, input):
            return {"output": input}
    """,
    "p1.csv": "id,amount\n1,10\n2,20\n3,30\n",
    "p2.csv": "id,amount\n4,40\n5,50\n",
}


def pipeline(tmp_path: Path, yaml_text: str) -> Path:
    write_files(tmp_path, {**STREAM_STEPS, "pipeline.yaml": yaml_text})
    return tmp_path / "pipeline.yaml"


def test_chunks_restart_at_every_file_row31(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            """
            name: stream_count
            execution: {mode: stream}
            inputs: {src: "p1.csv, p2.csv"}
            steps:
              - {id: count, uses: steps.count, with: {input: src, output: counted}}
            outputs: {final: counted}
            """,
        ),
        instance,
        config={"stream_chunk_size": 2},
    )
    assert run.success, run.failure_message()
    assert run.output("final.csv") == 'n,chunks\n5,"2,1,2"\n'
    manifest = run.manifest
    assert manifest["steps"][0]["rows_in"] is None  # a stream counts nothing
    assert manifest["steps"][0]["rows_out"] == 1  # a list of frames counts its rows, as in trakt
    assert run.materializations()["stream_count/final"]["dagster/row_count"] == 1


def test_stream_doubling_writes_all_chunks(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            """
            name: stream_double
            execution: {mode: stream}
            inputs: {src: "p1.csv, p2.csv"}
            steps:
              - {id: double, uses: steps.double, with: {input: src, output: doubled}}
            outputs: {final: doubled}
            """,
        ),
        instance,
        config={"stream_chunk_size": 2},
    )
    assert run.success
    assert run.output("final.csv") == "id,amount\n1,20\n2,40\n3,60\n4,80\n5,100\n"
    assert run.manifest["steps"][0]["rows_out"] is None and run.manifest["outputs"]["final"]["rows"] is None
    assert run.materializations()["stream_double/final"]["dagster/row_count"] == 5


def test_second_consumer_of_a_stream_is_a_load_error_row32(tmp_path: Path) -> None:
    path = pipeline(
        tmp_path,
        """
        execution: {mode: stream}
        inputs: {src: p1.csv}
        steps:
          - {id: double, uses: steps.double, with: {input: src, output: doubled}}
        outputs: {doubled: doubled, raw: src}
        """,
    )
    _, errors = load_pipeline_spec(path)
    text = "\n".join(e.render() for e in errors)
    assert "stream artifact 'src' has more than one consumer (step 'double', output 'raw')" in text


def test_error_inside_stream_attributed_to_step_and_old_file_kept_row33(tmp_path: Path, instance) -> None:
    yaml_text = """
        name: stream_fail
        execution: {mode: stream}
        inputs: {src: "p1.csv, p2.csv"}
        steps:
          - {id: explode, uses: steps.explode, with: {input: src, output: checked}}
        outputs: {final: checked}
    """
    out = tmp_path / "out"
    out.mkdir()
    (out / "final.csv").write_text("older,file\n")
    run = run_trakt(pipeline(tmp_path, yaml_text), instance, config={"stream_chunk_size": 2})
    assert not run.success
    manifest = run.manifest
    assert manifest["status"] == "failed"
    assert manifest["error"] == {"type": "ValueError", "message": "id above 3 is not allowed", "step_id": "explode"}
    assert manifest["steps"] == [] and manifest["outputs"] == {}
    assert manifest["tasks"]["explode"]["status"] == "failed"
    assert (out / "final.csv").read_text() == "older,file\n"
    assert sorted(p.name for p in out.iterdir()) == ["final.csv", "manifest.json"]
    assert run.materializations() == {}


@pytest.mark.parametrize(
    ("shape", "expected"),
    [("list", "id,amount\n1,10\n2,20\n3,30\n"), ("empty", "")],
)
def test_stream_output_shapes_row34(tmp_path: Path, instance, shape: str, expected: str) -> None:
    yaml_text = f"""
        name: stream_shapes
        execution: {{mode: stream}}
        inputs: {{src: p1.csv}}
        steps:
          - {{id: s, uses: steps.single, with: {{input: src, shape: {{const: {shape}}}, output: o}}}}
        outputs: {{final: o}}
    """
    run = run_trakt(pipeline(tmp_path, yaml_text), instance)
    assert run.success, run.failure_message()
    assert run.output("final.csv") == expected


def test_single_dataframe_rejected_row34(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            """
            name: stream_frame
            execution: {mode: stream}
            inputs: {src: p1.csv}
            steps:
              - {id: s, uses: steps.single, with: {input: src, shape: {const: frame}, output: o}}
            outputs: {final: o}
            """,
        ),
        instance,
    )
    assert not run.success
    assert (
        run.manifest["error"]["message"] == "CSV stream writing expects an iterable of chunks, not a single DataFrame."
    )


def test_gate_and_batch_steps_rejected_in_stream_mode_row35(tmp_path: Path) -> None:
    path = pipeline(
        tmp_path,
        """
        execution: {mode: stream}
        inputs: {src: p1.csv}
        steps:
          - {id: gate, uses: trakt.steps.quality_gate, with: {input: src, policy: {const: {mode: warn}}, output: o}}
          - {id: plain, uses: steps.batch_only, with: {input: o, output: p}}
        outputs: {final: p}
        """,
    )
    _, errors = load_pipeline_spec(path)
    assert "mode incompatible steps=gate:stream, plain:stream" in "\n".join(e.message for e in errors)


def test_union_by_name_rejected_in_stream_mode_row36(tmp_path: Path) -> None:
    path = pipeline(
        tmp_path,
        """
        execution: {mode: stream}
        inputs:
          src: {uri: p1.csv, combine_strategy: union_by_name}
        outputs: {final: src}
        """,
    )
    _, errors = load_pipeline_spec(path)
    assert "mode incompatible inputs=src:combine_strategy=union_by_name" in "\n".join(e.message for e in errors)


def test_chunk_size_zero_fails_row37(tmp_path: Path, instance) -> None:
    run = run_trakt(
        pipeline(
            tmp_path,
            """
            name: stream_zero
            execution: {mode: stream}
            inputs: {src: p1.csv}
            steps:
              - {id: double, uses: steps.double, with: {input: src, output: doubled}}
            outputs: {final: doubled}
            """,
        ),
        instance,
        config={"stream_chunk_size": 0},
    )
    assert not run.success
    assert run.manifest["error"]["message"] == "Stream chunk_size must be a positive integer."
    assert run.manifest["error"]["step_id"] is None


def test_stream_pipeline_refuses_step_granularity(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            **{f"pipelines/s/{k}": v for k, v in STREAM_STEPS.items()},
            "pipelines/s/pipeline.yaml": """
                execution: {mode: stream}
                inputs: {src: p1.csv}
                outputs: {final: src}
                dagster: {granularity: step}
            """,
        },
    )
    graphs, errors = load_graphs(tmp_path)
    assert graphs == []
    assert "cannot run with granularity 'step'" in errors[0].message
    assert errors[0].location.key == "dagster.granularity"


def test_stream_pipeline_under_multiprocess_executor_row58(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            **{f"pipelines/streamed/{k}": v for k, v in STREAM_STEPS.items()},
            "pipelines/streamed/pipeline.yaml": """
                execution: {mode: stream}
                inputs: {src: "p1.csv, p2.csv"}
                steps:
                  - {id: double, uses: steps.double, with: {input: src, output: doubled}}
                outputs: {final: doubled}
            """,
            "definitions.py": "from pathlib import Path\nfrom trakt_dagster import build_definitions\n\n"
            "defs = build_definitions(Path(__file__).parent)\n",
            "run.yaml": "execution: {config: {multiprocess: {max_concurrent: 2}}}\n",
        },
    )
    done = subprocess.run(
        [str(BIN / "dagster"), "job", "execute", "-f", "definitions.py", "-j", "streamed", "-c", "run.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "multiprocess" in done.stdout + done.stderr
    out = tmp_path / "pipelines" / "streamed" / "outputs"
    assert (out / "final.csv").read_text() == "id,amount\n1,20\n2,40\n3,60\n4,80\n5,100\n"
    assert json.loads((out / "manifest.json").read_text())["status"] == "success"


def test_stream_memory_stays_bounded(tmp_path: Path) -> None:
    """A CSV many times the chunk size: the process's peak RSS grows far less than the file."""
    rows = 2_000_000
    big = tmp_path / "big.csv"
    with open(big, "w") as fh:
        fh.write("id,amount,label\n")
        block = "".join(f"{i},{i % 997}.5,label-{i % 13:02d}-xxxxxxxxxxxxxxxx\n" for i in range(10_000))
        for _ in range(rows // 10_000):
            fh.write(block)
    size_mb = big.stat().st_size / 2**20
    write_files(
        tmp_path,
        {
            **{f"p/{k}": v for k, v in STREAM_STEPS.items()},
            "p/pipeline.yaml": """
                name: stream_mem
                execution: {mode: stream}
                inputs: {src: big.csv}
                steps:
                  - {id: double, uses: steps.double, with: {input: src, output: doubled}}
                outputs: {final: doubled}
            """,
        },
    )

    def peak_rss_mb(input_dir: Path) -> float:
        script = (
            "import resource, subprocess, sys\n"
            "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n"
        )
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                script,
                str(BIN / "trakt-dagster"),
                "trakt",
                "run",
                "--pipeline-file",
                str(tmp_path / "p" / "pipeline.yaml"),
                "--input-dir",
                str(input_dir),
                "--output-dir",
                str(tmp_path / "out"),
                "--stream-chunk-size",
                "20000",
                "-q",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return float(done.stdout.strip().splitlines()[-1])

    small_dir = tmp_path / "small"
    write_files(small_dir, {"big.csv": "id,amount,label\n1,1.5,x\n"})
    baseline = peak_rss_mb(small_dir)
    peak = peak_rss_mb(tmp_path)
    assert size_mb > 60
    with open(tmp_path / "out" / "final.csv") as fh:
        assert sum(1 for _ in fh) == rows + 1
    # Reading the file whole would need more than its size on top of the baseline; streaming needs a few MB.
    assert peak - baseline < 50, f"peak {peak:.0f} MB vs baseline {baseline:.0f} MB for a {size_mb:.0f} MB file"
