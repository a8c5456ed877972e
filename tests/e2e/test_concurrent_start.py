"""Ten runs started at once against a brand-new SQLite DAGSTER_HOME all succeed (the instance is prepared
once, under a lock, before any of them touches it), with outputs identical to a run started alone."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import REPO, write_files
from tests.e2e.conftest import BIN

PIPELINE = {
    "pipelines/conc/pipeline.yaml": """
        name: conc
        inputs: {src: a.csv}
        steps:
          - {id: double, uses: steps.double, with: {input: src, output: doubled}}
        outputs: {doubled: doubled}
    """,
    "pipelines/conc/a.csv": "id,amount\n1,10\n2,20\n3,30\n",
    "pipelines/conc/steps/__init__.py": "",
    "pipelines/conc/steps/double.py": """
        def run(ctx, input):
            return {"output": input.assign(amount=input["amount"] * 2)}
    """,
}
RUNS = 10


def start(root: Path, home: Path, index: int) -> subprocess.Popen[str]:
    config = root / f"run{index}.yaml"
    config.write_text(f"ops: {{conc_pipeline: {{config: {{output_dir: {root / f'out{index}'}}}}}}}\n")
    return subprocess.Popen(
        [str(BIN / "trakt-dagster"), "run", "conc", "--root", str(root), "--config", str(config), "-q"],
        cwd=root,
        env={**os.environ, "DAGSTER_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_ten_simultaneous_runs_on_a_fresh_sqlite_instance(tmp_path: Path) -> None:
    root = write_files(tmp_path / "root", PIPELINE)
    alone_home = tmp_path / "alone_home"
    alone_home.mkdir()
    alone = start(root, alone_home, 0)
    out, _ = alone.communicate(timeout=600)
    assert alone.returncode == 0, out
    expected = (root / "out0" / "doubled.csv").read_bytes()
    assert expected == b"id,amount\n1,20\n2,40\n3,60\n"

    home = tmp_path / "fresh_home"  # nothing in it yet: the first processes race to create the instance
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    procs = [start(root, home, i) for i in range(1, RUNS + 1)]
    outputs = [proc.communicate(timeout=900)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * RUNS, "\n---\n".join(outputs)
    for i in range(1, RUNS + 1):
        assert (root / f"out{i}" / "doubled.csv").read_bytes() == expected
    with dg.DagsterInstance.from_config(str(home)) as instance:  # the instance is sound afterwards
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="conc"))
        assert len(runs) == RUNS and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    again = start(root, home, RUNS + 1)
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out
