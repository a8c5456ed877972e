"""pit: real parallelism and per-task overhead of pit projects run through trakt-dagster.

(a) fan-in: 8 independent `sleep 1` shell tasks feeding one `sleep 1` join task (critical path 2 s); the
    wall time of one run through Dagster (`execute_in_process`, ephemeral instance) and of
    `trakt-dagster pit run` in a new process. Target: run ≤ 1.3 × 2 s.
(b) chain: 50 trivial shell tasks (`echo`) each depending on the previous one, through Dagster, against
    the same 50 scripts run one after another by a plain `bash` loop: the difference per task is what
    trakt-dagster adds (process start with pit's environment and SDK socket, log file and Dagster log
    lines, manifest rewrite, one asset materialization).

Usage: python bench/bench_pit.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import best, write_section  # noqa: E402

CHAIN = 50


def write_workspace(root: Path) -> None:
    fan = root / "projects" / "fan_in"
    fan.mkdir(parents=True)
    toml = "".join(f'[[tasks]]\nname = "sleep_{i}"\nscript = "sleep.sh"\n' for i in range(8))
    deps = ", ".join(f'"sleep_{i}"' for i in range(8))
    toml += f'[[tasks]]\nname = "join"\nscript = "sleep.sh"\ndepends_on = [{deps}]\n'
    (fan / "pit.toml").write_text(toml)
    (fan / "sleep.sh").write_text("sleep 1\n")
    chain = root / "projects" / "chain"
    (chain / "tasks").mkdir(parents=True)
    lines = []
    for i in range(CHAIN):
        (chain / "tasks" / f"t{i:02d}.sh").write_text(f'echo "step {i}"\n')
        dep = f'depends_on = ["t{i - 1:02d}"]\n' if i else ""
        lines.append(f'[[tasks]]\nname = "t{i:02d}"\nscript = "tasks/t{i:02d}.sh"\n{dep}')
    (chain / "pit.toml").write_text("".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import dagster as dg

    from trakt_dagster import build_definitions

    config = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_workspace(root)
        defs = build_definitions(root, runs_dir=str(root / "runs"))
        with dg.DagsterInstance.ephemeral() as instance:

            def run(job: str) -> None:
                assert defs.resolve_job_def(job).execute_in_process(instance=instance, run_config=config).success

            run("chain")  # warm up
            fan = best(lambda: run("fan_in"), args.repeat)
            chain = best(lambda: run("chain"), args.repeat)
        scripts = [str(root / "projects" / "chain" / "tasks" / f"t{i:02d}.sh") for i in range(CHAIN)]
        loop = "for s in " + " ".join(scripts) + '; do bash "$s" > /dev/null; done'
        native_chain = best(lambda: subprocess.run(["bash", "-c", loop], check=True), args.repeat)
        env = {**os.environ, "TRAKT_DAGSTER_RUNS_DIR": str(root / "runs_cli")}
        env.pop("DAGSTER_HOME", None)
        cli = str(Path(sys.executable).parent / "trakt-dagster")
        fan_cli = best(
            lambda: subprocess.run(
                [cli, "pit", "run", "fan_in", "--root", str(root), "-q"], check=True, env=env, capture_output=True
            ),
            max(1, args.repeat - 1),
        )
    per_task = (chain - native_chain) / CHAIN
    body = f"""## pit: parallel fan-in and per-task overhead

| run (best of {args.repeat}) | wall time | figure |
| --- | --- | --- |
| (a) 8 × `sleep 1` → `sleep 1` join, `execute_in_process` | {fan:.2f} s | **{fan / 2:.2f} × the 2 s path** (≤ 1.3) |
| (a) the same, `trakt-dagster pit run` in a new process | {fan_cli:.2f} s | {fan_cli / 2:.2f} × |
| (b) 50 chained `echo` tasks through Dagster | {chain:.2f} s | |
| (b) the same 50 scripts in a plain `bash` loop | {native_chain:.2f} s | |
| **(b) overhead per task** | | **{per_task * 1000:.0f} ms** |

The 8 sleeps run at the same time (pit has no parallelism limit; each task is its own process in its own
process group), and the join starts as soon as they all finished, so (a) stays close to the critical path.
Per task, trakt-dagster starts the process with pit's environment and a fresh SDK socket, streams its output
to `logs/<task>.log` and the Dagster log, rewrites the manifest and reports one asset materialization.
"""
    write_section("pit", body)
    print(body)


if __name__ == "__main__":
    main()
