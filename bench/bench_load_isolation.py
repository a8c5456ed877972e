"""Load isolation: what broken pipelines cost when the code location loads.

Two roots with the same 450 good pipelines (300 trakt YAML pipelines with a step module, 100 pit projects,
50 flowrun modules); one of them also holds 50 broken pipelines, broken in ten different ways (YAML syntax,
wrong types, an alias bomb, nesting thousands deep, bytes that are not UTF-8, an unresolvable step module, a
cron Dagster rejects, TOML syntax, a TOML integer out of range, a Python module failing at import). Each
`build_definitions(root)` runs in a fresh process (so no module cache helps either side), timed inside it
without the interpreter's and Dagster's import time. Target: the root with the broken pipelines loads within
1.10 x the time of the root without them.

Usage: python bench/bench_load_isolation.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import write_section  # noqa: E402

GOOD_TRAKT, GOOD_PIT, GOOD_FLOWRUN = 300, 100, 50
STEP = """from trakt import step_contract


@step_contract(inputs=["input", "factor"], outputs=["output"])
def run(ctx, input, factor):
    return {"output": input.assign(amount=input["amount"] * factor)}
"""
PIPELINE = """name: {name}
inputs: {{src: data.csv}}
steps:
  - id: scale
    uses: steps.scale
    with: {{input: src, factor: {{const: 2}}, output: scaled}}
outputs:
  datasets:
    - {{name: scaled, from: scaled}}
"""
PIT = '[dag]\nname = "{name}"\nschedule = "0 6 * * *"\n[[tasks]]\nname = "extract"\nscript = "t.sh"\n' + (
    '[[tasks]]\nname = "load"\nscript = "t.sh"\ndepends_on = ["extract"]\n'
)
FLOWRUN = """from trakt_dagster.flowrun import Pipeline

flow = Pipeline("{name}")


@flow.task()
def extract():
    return [1, 2, 3]


@flow.task()
def total(extract):
    return sum(extract)
"""
BOMB = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
    f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]\n" for p, c in zip("abcdefgh", "bcdefghi")
)
BROKEN: list[tuple[str, str, bytes]] = [
    ("pipelines", "pipeline.yaml", b"inputs:\n  src: [data.csv\n"),
    ("pipelines", "pipeline.yaml", b"inputs: {src: data.csv}\nsteps: 3\n"),
    ("pipelines", "pipeline.yaml", BOMB.encode() + b"steps: *i\n"),
    ("pipelines", "pipeline.yaml", b"steps: " + b"[" * 5000 + b"]" * 5000 + b"\n"),
    ("pipelines", "pipeline.yaml", b"name: caf\xe9\ninputs: {src: data.csv}\n"),
    (
        "pipelines",
        "pipeline.yaml",
        b"inputs: {src: data.csv}\nsteps:\n  - {id: s, uses: steps.nothere, with: {input: src, output: o}}\n",
    ),
    (
        "pipelines",
        "pipeline.yaml",
        b"inputs: {src: data.csv}\noutputs: {final: src}\ndagster: {schedule: '61 * * * *'}\n",
    ),
    ("projects", "pit.toml", b"[dag\nname = 'x'\n"),
    ("projects", "pit.toml", b"[dag]\ntimeout = 5\n[dag.dagster]\nmax_parallel = 99999999999999999999\n"),
    ("pipelines", "dag.py", b"from trakt_dagster.flowrun import Pipeline\n\nraise RuntimeError('not today')\n"),
]


def write_root(root: Path, *, broken: bool) -> None:
    for i in range(GOOD_TRAKT):
        folder = root / "pipelines" / f"orders_{i:03d}"
        (folder / "steps").mkdir(parents=True)
        (folder / "pipeline.yaml").write_text(PIPELINE.format(name=f"orders_{i:03d}"))
        (folder / "steps" / "scale.py").write_text(STEP)
        (folder / "data.csv").write_text("id,amount\n1,10\n")
    for i in range(GOOD_PIT):
        folder = root / "projects" / f"job_{i:03d}"
        folder.mkdir(parents=True)
        (folder / "pit.toml").write_text(PIT.format(name=f"job_{i:03d}"))
        (folder / "t.sh").write_text("echo ok\n")
    for i in range(GOOD_FLOWRUN):
        folder = root / "pipelines" / f"flow_{i:03d}"
        folder.mkdir(parents=True)
        (folder / "dag.py").write_text(FLOWRUN.format(name=f"flow_{i:03d}"))
    if not broken:
        return
    for i in range(50):
        top, name, data = BROKEN[i % len(BROKEN)]
        folder = root / top / f"broken_{i:02d}"
        folder.mkdir(parents=True)
        (folder / name).write_bytes(data)
        (folder / "data.csv").write_text("id,amount\n1,10\n")


TIMED = """
import json, logging, sys, time
logging.disable(logging.CRITICAL)
import dagster as dg
from trakt_dagster import build_definitions
t0 = time.perf_counter()
defs = build_definitions(sys.argv[1], runs_dir=sys.argv[2])
keys = defs.resolve_asset_graph().get_all_asset_keys()
elapsed = time.perf_counter() - t0
jobs = [j for j in defs.resolve_all_job_defs() if not j.name.startswith("__")]
broken = [k for k in keys if k.path[-1] == "load-error"]
print(json.dumps({"seconds": elapsed, "jobs": len(jobs), "placeholders": len(broken)}))
"""


def timed_load(root: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", TIMED, str(root), str(root / "runs")],
        capture_output=True,
        text=True,
        check=True,
        env={"TRAKT_DAGSTER_STRICT_LOAD": "0", "PATH": "/usr/bin:/bin"},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        good, mixed = Path(tmp) / "good", Path(tmp) / "mixed"
        write_root(good, broken=False)
        write_root(mixed, broken=True)
        good_runs, mixed_runs = [], []
        for _ in range(args.repeat):  # alternate, so a busy moment of the machine hits both
            good_runs.append(timed_load(good))
            mixed_runs.append(timed_load(mixed))
    fast_good = min(good_runs, key=lambda r: r["seconds"])
    fast_mixed = min(mixed_runs, key=lambda r: r["seconds"])
    ratio = fast_mixed["seconds"] / fast_good["seconds"]
    assert fast_good["jobs"] == fast_mixed["jobs"] == GOOD_TRAKT + GOOD_PIT + GOOD_FLOWRUN, (fast_good, fast_mixed)
    assert fast_good["placeholders"] == 0 and fast_mixed["placeholders"] == 50, (fast_good, fast_mixed)
    met = "met" if ratio <= 1.10 else "**not met**"
    mixed_row = (
        f"| (b) the same 450 plus 50 broken ones (ten kinds of breakage) | {fast_mixed['seconds']:.2f} s | "
        f"{fast_mixed['jobs']} | {fast_mixed['placeholders']} |"
    )
    body = f"""## Load isolation: 500 pipelines, 50 of them broken

| root (`build_definitions` in a fresh process, best of {args.repeat}) | load time | jobs | load-error assets |
| --- | --- | --- | --- |
| (a) 450 good pipelines (300 trakt, 100 pit, 50 flowrun) | {fast_good["seconds"]:.2f} s | {fast_good["jobs"]} | 0 |
{mixed_row}
| **ratio (b)/(a)** (target ≤ 1.10: {met}) | **{ratio:.2f}** | | |

The broken pipelines stop at their first unrecoverable problem (a syntax error, a refused alias bomb or
nesting, an import failure) and each becomes one external `load-error` asset; every good pipeline keeps its
job. Load time is measured inside each process after importing Dagster, and includes resolving the
definitions once.
"""
    write_section("load_isolation", body)
    print(body)


if __name__ == "__main__":
    main()
