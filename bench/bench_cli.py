"""CLI start-up: whole-process run commands against Dagster's own whole-process floor, and `--help`.

The root holds a copy of the bundled examples (trakt, flowrun, pit with dbt and SQL, ductaflow, loom) plus
five trivial pipelines: a pit DAG of one `echo` task, a flowrun DAG of one task, a trakt pipeline of one
step over a 2-row CSV, a ductaflow project of one one-cell flow and a loom pipeline of one step copying a
2-row CSV. Each run command runs one of them in a new process; a run loads only the pipeline it runs (and
what the name-collision check needs), so the other examples cost nothing.

(f) Dagster's floor: a new Python process that imports Dagster and materializes one trivial asset in process
    (ephemeral instance), the least any Dagster run from a command line costs.
Target per run command: ≤ (f) + 0.5 s + the pipeline's own critical path, measured natively in a new
process minus a bare Python start: the pit task alone (`bash say.sh`); the flowrun DAG on flowrun's engine;
the trakt step's work as trakt does it (pandas imported, the CSV read and written); the notebook run as
ductaflow's own `run_notebook` runs it (jupytext, papermill with a new kernel, HTML export; the original
ductaflow from the local mirror when present, else the compatible module); the loom pipeline on loom's own
`ETLRunner`. `trakt-dagster --help` ≤ 1 s.

Every process runs with bytecode caching on (`PYTHONDONTWRITEBYTECODE` is dropped from the environment),
so the warm-up round leaves compiled modules for both sides, as an installed package has them.

Usage: python bench/bench_cli.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _results import write_section  # noqa: E402

FLOOR = """
import dagster as dg

@dg.asset
def trivial():
    return 1

assert dg.materialize([trivial]).success
"""
FLOWRUN = """
from flowrun import build_default_engine

engine = build_default_engine(max_parallel=1)
dag = engine.dag("hello_flow")


@dag.task()
def only():
    return 1
"""
TRAKT_STEP = """
def run(ctx, input):
    return {"output": input}
"""
NATIVE_FLOW_RUN = "import asyncio; asyncio.run(engine.run_once('hello_flow'))"
DUCTAFLOW_FLOW = '# %% tags=["parameters"]\nconfig = {}\n\n# %%\nx = 1\n'
NATIVE_DUCTAFLOW = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import ductaflow
out = Path("native_ductaflow")
out.mkdir(exist_ok=True)
ductaflow.run_notebook("pipelines/hello_duct/flows/hello.py", config={}, execution_dir=out,
                       project_root="pipelines/hello_duct", export_html=True)
"""
LOOM_MODULE = """
import polars as pl
from loom.etl import ETLParams, ETLPipeline, ETLProcess, ETLStep, Format, FromFile, IntoFile


class HelloParams(ETLParams):
    pass


class Copy(ETLStep[HelloParams]):
    rows = FromFile.alias("rows_csv", format=Format.CSV)
    target = IntoFile.alias("copy_csv", format=Format.CSV)

    def execute(self, params: HelloParams, *, rows: pl.LazyFrame) -> pl.LazyFrame:
        return rows


class CopyRows(ETLProcess[HelloParams]):
    steps = [Copy]


class HelloLoom(ETLPipeline[HelloParams]):
    processes = [CopyRows]
"""
LOOM_CONFIG = """
storage:
  missing_table_policy: create
  defaults:
    table_path: {uri: lake}
  files:
    rows_csv: {path: {uri: rows.csv}}
    copy_csv: {path: {uri: out/copy.csv}}
observability:
  log: {enabled: false}
"""
NATIVE_LOOM = (
    "import sys; sys.path.insert(0, '.'); from hello_loom import HelloLoom, HelloParams; "
    "from loom.etl import ETLRunner; ETLRunner.from_yaml('loom.yaml').run(HelloLoom, HelloParams())"
)
NATIVE_TRAKT = "import pandas as pd; pd.read_csv('pipelines/hello_trakt/records.csv').to_csv('native.csv', index=False)"
TRAKT_YAML = """
name: hello_trakt
inputs: {records: records.csv}
steps:
  - {id: copy, uses: steps.copy, with: {input: records, output: copied}}
outputs: {final: copied}
"""


def write_root(root: Path) -> None:
    for folder in ("pipelines", "projects"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("runs", "outputs", "__pycache__"))
    shutil.copy(REPO / "pit_config.toml", root / "pit_config.toml")
    files = {
        "projects/hello/pit.toml": '[dag]\nname = "hello"\n[[tasks]]\nname = "say"\nscript = "say.sh"\n',
        "projects/hello/say.sh": "echo hello\n",
        "pipelines/hello_flow/dag.py": FLOWRUN,
        "pipelines/hello_trakt/pipeline.yaml": TRAKT_YAML,
        "pipelines/hello_trakt/steps/__init__.py": "",
        "pipelines/hello_trakt/steps/copy.py": TRAKT_STEP,
        "pipelines/hello_trakt/records.csv": "id,amount\n1,10\n2,20\n",
        "pipelines/hello_duct/flows/hello.py": DUCTAFLOW_FLOW,
        "pipelines/hello_duct/config/flows/hello.json": "{}\n",
        "pipelines/hello_loom/hello_loom.py": LOOM_MODULE,
        "pipelines/hello_loom/loom.yaml": LOOM_CONFIG,
        "pipelines/hello_loom/rows.csv": "id,amount\n1,10\n2,20\n",
        "pipelines/hello_loom/lake/.keep": "",  # loom writes into existing folders
        "pipelines/hello_loom/out/.keep": "",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


def ductaflow_source(tmp: Path) -> tuple[Path, str]:
    """The folder to import `ductaflow` from: the original (local mirror) if present, else the compatible module."""
    from bench_ductaflow import original_source

    from trakt_dagster.ductaflow.runtime import COMPAT_DIR

    source = original_source(tmp)
    return (source, "the original ductaflow") if source is not None else (COMPAT_DIR, "the compatible module")


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tool = str(Path(sys.executable).parent / "trakt-dagster")
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as other:
        root = Path(tmp)
        write_root(root)
        ductaflow_from, ductaflow_name = ductaflow_source(Path(other))
        env = {**os.environ, "TRAKT_DAGSTER_RUNS_DIR": str(root / "runs")}
        env.pop("DAGSTER_HOME", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # the warm-up compiles every module once, for both sides
        commands = {
            "floor": [sys.executable, "-c", FLOOR],
            "native_task": ["bash", "projects/hello/say.sh"],
            "python": [sys.executable, "-c", "pass"],
            "native_flow": [sys.executable, "-c", FLOWRUN + NATIVE_FLOW_RUN],
            "native_trakt": [sys.executable, "-c", NATIVE_TRAKT],
            "native_ductaflow": [sys.executable, "-c", NATIVE_DUCTAFLOW, str(ductaflow_from)],
            "native_loom": [sys.executable, "-c", NATIVE_LOOM],
            "help": [tool, "--help"],
            "pit": [tool, "pit", "run", "hello", "--root", ".", "-q"],
            "flowrun": [tool, "flowrun", "run", "hello_flow", "--root", ".", "-q"],
            "run": [tool, "run", "hello_trakt", "--root", ".", "-q"],
            "trakt": [
                tool,
                "trakt",
                "run",
                "--pipeline-file",
                "pipelines/hello_trakt/pipeline.yaml",
                "--input-dir",
                "pipelines/hello_trakt",
                "--output-dir",
                "out",
                "-q",
            ],  # fmt: skip
            "ductaflow": [tool, "ductaflow", "run", "hello_duct/hello", "--root", ".", "-q"],
            "loom": [tool, "loom", "run", "HelloLoom", "--root", ".", "-q"],
        }
        folders = {"native_loom": root / "pipelines" / "hello_loom"}  # loom's relative paths: its folder
        for key, cmd in commands.items():  # warm up (bytecode, file cache)
            timed(cmd, folders.get(key, root), env)
        times: dict[str, list[float]] = {key: [] for key in commands}
        for _ in range(args.repeat):  # interleaved: machine load affects all alike
            for key, cmd in commands.items():
                times[key].append(timed(cmd, folders.get(key, root), env))
        load = os.getloadavg()[0]
    best = {key: min(values) for key, values in times.items()}
    floor, python = best["floor"], best["python"]
    own = {  # each pipeline's own work, natively, without the Python start
        "pit": best["native_task"],
        "flowrun": max(0.0, best["native_flow"] - python),
        "run": max(0.0, best["native_trakt"] - python),
        "trakt": max(0.0, best["native_trakt"] - python),
        "ductaflow": max(0.0, best["native_ductaflow"] - python),
        "loom": max(0.0, best["native_loom"] - python),
    }
    rows = []
    for key, label in (
        ("pit", "`trakt-dagster pit run hello` (one `echo` task)"),
        ("flowrun", "`trakt-dagster flowrun run hello_flow` (one task)"),
        ("run", "`trakt-dagster run hello_trakt` (one step, 2 rows)"),
        ("trakt", "`trakt-dagster trakt run --pipeline-file ...` (the same pipeline)"),
        ("ductaflow", "`trakt-dagster ductaflow run hello_duct/hello` (one one-cell flow)"),
        ("loom", "`trakt-dagster loom run HelloLoom` (one step, 2 rows)"),
    ):
        target = floor + 0.5 + own[key]
        met = "met" if best[key] <= target else "**not met**"
        rows.append(
            f"| {label} | {best[key]:.2f} s | {best[key] - floor:+.2f} s | {best[key] / floor:.2f} | "
            f"≤ {target:.2f} s: {met} |"
        )
    help_met = "met" if best["help"] <= 1.0 else "**not met**"
    body = f"""## CLI start-up: a run in a new process against Dagster's own floor

The root holds the bundled examples (trakt, flowrun, pit with dbt and SQL, ductaflow, loom) and five trivial
pipelines; each command runs one of them in a new process (ephemeral instance), best of {args.repeat},
interleaved, after a warm-up round (bytecode caching on for every process).

| process | wall time | − floor | / floor | target |
| --- | --- | --- | --- | --- |
| (f) Dagster's floor: `import dagster` + `materialize` of one trivial asset | {floor:.2f} s | | 1.00 | |
{chr(10).join(rows)}
| `trakt-dagster --help` | {best["help"]:.2f} s | | | ≤ 1 s: {help_met} |

The pipelines' own critical path, run natively (without the {python * 1000:.0f} ms of a bare Python start):
the pit task alone (`bash say.sh`) {own["pit"] * 1000:.0f} ms; the flowrun DAG on flowrun's engine
{own["flowrun"] * 1000:.0f} ms (importing flowrun included); the trakt step as pandas reading and writing the
CSV {own["run"] * 1000:.0f} ms (importing pandas included); the notebook through {ductaflow_name}'s
`run_notebook` (jupytext, papermill and a new kernel, HTML export) {own["ductaflow"] * 1000:.0f} ms; the loom
pipeline on loom's `ETLRunner` {own["loom"] * 1000:.0f} ms (importing loom and Polars included).
Target per run: ≤ floor + 0.5 s + that time.
A run loads only its own pipeline: the front ends read only what the name-collision check needs (pipeline
files' names; Python modules only when their source mentions the name), so a run of one tool loads none of
the other examples' dbt, loom, Polars, notebooks or pandas.
`--help` imports only click and the command table (each tool's commands are imported when invoked; Dagster,
pandas and the tools load inside the command that uses them). Load average at the end: {load:.1f}.
"""
    write_section("cli", body)
    print(body)


if __name__ == "__main__":
    main()
