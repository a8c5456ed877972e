"""trakt stream mode on a generated CSV of at least 1 GB: peak memory and wall time.

(a) native: the same two step functions over `pandas.read_csv(chunksize=...)`, chunks appended to the
    output with `to_csv` (what trakt's stream mode does), in a new process.
(b) `trakt-dagster trakt run` on the pipeline, in a new process.
Peak RSS is the child's `ru_maxrss`; both run at chunk size 100,000, best of N wall times.

Usage: python bench/bench_trakt_stream.py [--gigabytes 1.0] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
PIPELINE = HERE / "trakt_stream" / "pipelines" / "bench_stream"
sys.path.insert(0, str(HERE))
from _results import write_section  # noqa: E402

CHUNK = 100_000
NATIVE = """
import sys, types, importlib
import pandas as pd
sys.path.insert(0, {pipeline!r})
sys.modules.setdefault("trakt", types.SimpleNamespace(step_contract=lambda **kw: (lambda f: f)))
enrich = importlib.import_module("steps.enrich").run
keep = importlib.import_module("steps.keep_large").run
chunks = pd.read_csv({data!r}, chunksize={chunk})
out = keep(None, input=enrich(None, input=chunks, rate=0.92)["output"], threshold=100.0)["output"]
with open({out!r}, "w", newline="") as fh:
    for i, chunk in enumerate(out):
        chunk.to_csv(fh, header=i == 0, index=False)
"""
MEASURE = """
import resource, subprocess, sys, time
t0 = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def generate(path: Path, gigabytes: float) -> None:
    target = int(gigabytes * 2**30)
    if path.exists() and path.stat().st_size >= target:
        return
    rng = np.random.default_rng(11)
    block = 500_000
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        fh.write("event_id,user_id,amount,kind,occurred_at\n")
        start = 0
        while fh.tell() < target:
            frame = pd.DataFrame(
                {
                    "event_id": np.arange(start, start + block),
                    "user_id": rng.integers(1, 1_000_000, block),
                    "amount": rng.gamma(2.0, 60.0, block).round(2),
                    "kind": rng.choice(["view", "click", "purchase", "refund"], block),
                    "occurred_at": "2026-11-01T12:00:00",
                }
            )
            frame.to_csv(fh, header=False, index=False)
            start += block


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if done.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed:\n{done.stderr[-4000:]}")
    seconds, peak = done.stdout.split()
    return float(seconds), float(peak)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gigabytes", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    data = HERE / "data" / "trakt_stream" / "events.csv"
    generate(data, args.gigabytes)
    size_gb = data.stat().st_size / 2**30
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        script = out / "native.py"
        script.write_text(
            NATIVE.format(pipeline=str(PIPELINE), data=str(data), chunk=CHUNK, out=str(out / "native.csv"))
        )
        trakt_cmd = [
            str(bin_dir / "trakt-dagster"),
            "trakt",
            "run",
            "--pipeline-file",
            str(PIPELINE / "pipeline.yaml"),
            "--input-dir",
            str(data.parent),
            "--output-dir",
            str(out / "td"),
            "--stream-chunk-size",
            str(CHUNK),
            "-q",
        ]
        native, ours = [], []
        for _ in range(args.repeat):
            native.append(measure([sys.executable, str(script)]))
            ours.append(measure(trakt_cmd, env={"TRAKT_DAGSTER_RUNS_DIR": str(out / "runs")}))
        same = (out / "native.csv").read_bytes() == (out / "td" / "large_events.csv").read_bytes()
    a_time, a_peak = min(t for t, _ in native), max(p for _, p in native)
    b_time, b_peak = min(t for t, _ in ours), max(p for _, p in ours)
    body = f"""## trakt stream mode: {size_gb:.2f} GB CSV, chunk size {CHUNK:,}

| run | wall time (best of {args.repeat}) | peak RSS |
| --- | --- | --- |
| (a) native: pandas `read_csv(chunksize)` → the two steps → `to_csv` per chunk | {a_time:.1f} s | {a_peak:.0f} MB |
| (b) `trakt-dagster trakt run` (stream mode through Dagster) | {b_time:.1f} s | {b_peak:.0f} MB |
| **ratio (b)/(a)** wall time (target ≤ 1.15) | **{b_time / a_time:.2f}** | |
| **peak RSS of (b)** (target ≤ 300 MB) | | **{b_peak:.0f} MB** |

Output files identical: {"yes" if same else "NO"}. Peak RSS includes Dagster itself (about 190 MB for an
empty run); the stream adds only about one chunk.
"""
    write_section("trakt_stream", body)
    print(body)


if __name__ == "__main__":
    main()
