"""The load of a root grows linearly with its pipelines: 200 cost about twice 100, never the square.

CPU time of this process (not wall time, which other work on the machine would move), best of two, in fresh
roots of trakt pipelines (each with its own step modules, in its own module namespace), pit projects and
flowrun modules. Linear growth gives a ratio near 2; a cost per pipeline growing with the pipelines loaded
before (quadratic) gives 4. The bound, 3, leaves room for noise.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from tests.conftest import write_files
from trakt_dagster import build_definitions

STEP = "def run(ctx, input):\n    return {{'output': input.assign(n={i})}}\n"
PIPELINE = """name: {name}
inputs: {{src: data.csv}}
steps:
  - {{id: first, uses: steps.first, with: {{input: src, output: a}}}}
  - {{id: second, uses: steps.second, with: {{input: a, output: b}}}}
outputs: {{final: b}}
"""
PIT = '[dag]\nname = "{name}"\n[[tasks]]\nname = "a"\nscript = "a.sh"\n[[tasks]]\nname = "b"\nscript = "a.sh"\n'
FLOWRUN = """from flowrun import build_default_engine

engine = build_default_engine()
dag = engine.dag("{name}")


@dag.task()
def a():
    return 1


@dag.task(deps=["a"])
def b(a):
    return a + 1
"""


def write_root(root: Path, count: int) -> Path:
    files: dict[str, str] = {}
    for i in range(count):
        kind = ("trakt", "trakt", "pit", "flowrun")[i % 4]
        name = f"{kind}_{i:04d}"
        if kind == "trakt":
            base = f"pipelines/{name}"
            files[f"{base}/pipeline.yaml"] = PIPELINE.format(name=name)
            files[f"{base}/steps/__init__.py"] = ""
            files[f"{base}/steps/first.py"] = STEP.format(i=1)
            files[f"{base}/steps/second.py"] = STEP.format(i=2)
            files[f"{base}/data.csv"] = "id\n1\n"
        elif kind == "pit":
            files[f"projects/{name}/pit.toml"] = PIT.format(name=name)
            files[f"projects/{name}/a.sh"] = "echo a\n"
        else:
            files[f"pipelines/{name}/dag.py"] = FLOWRUN.format(name=name)
    return write_files(root, files)


def cpu_time_of_load(root: Path) -> float:
    t0 = time.process_time()
    defs = build_definitions(root, runs_dir=str(root / "runs"), strict_load=True)
    defs.get_repository_def()
    return time.process_time() - t0


def test_load_time_grows_linearly_with_the_pipelines(tmp_path: Path) -> None:
    logging.getLogger("trakt_dagster.load").setLevel(logging.CRITICAL)
    cpu_time_of_load(write_root(tmp_path / "warm", 8))  # imports and first-use caches
    small, large = [], []
    for attempt in range(2):
        small.append(cpu_time_of_load(write_root(tmp_path / f"small{attempt}", 100)))
        large.append(cpu_time_of_load(write_root(tmp_path / f"large{attempt}", 200)))
    ratio = min(large) / min(small)
    assert 1.2 < ratio < 3.0, f"200 pipelines took {min(large):.2f} s of CPU, 100 took {min(small):.2f} s"
