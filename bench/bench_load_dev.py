"""`dagster dev` code-location load and reload time for a root of generated trakt pipelines.

Starts `dagster dev` on a root of N trakt pipelines of 8 steps (bench_load's generator), measures from the
start of the process until the webserver reports the code location loaded (every job listed), then asks for
a reload (the UI's "Reload" button, the `reloadRepositoryLocation` mutation) and measures until it is loaded
again. Each includes the code server's own start (importing Dagster and the project).

Usage: python bench/bench_load_dev.py [--pipelines 500]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import write_section  # noqa: E402
from bench_load import write_root  # noqa: E402
from bench_run_start import free_port, graphql  # noqa: E402

DEFINITIONS = "from pathlib import Path\nfrom trakt_dagster import build_definitions\n\n"
DEFINITIONS += "defs = build_definitions(Path(__file__).parent, strict_load=True)\n"
STATUS = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on RepositoryLocation { repositories { jobs { name } } } } } } } }"""
RELOAD = """mutation Reload($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) {
    __typename } }"""


def loaded_jobs(port: int) -> tuple[str | None, int]:
    """(location name, jobs) once the location is loaded, else (None, 0)."""
    try:
        entries = graphql(port, STATUS)["workspaceOrError"]["locationEntries"]
    except (OSError, RuntimeError, KeyError, TypeError):
        return None, 0
    for entry in entries:
        location = entry.get("locationOrLoadError") or {}
        if entry.get("loadStatus") == "LOADED" and location.get("__typename") == "RepositoryLocation":
            return entry["name"], sum(len(r["jobs"]) for r in location["repositories"])
        if location.get("__typename") == "PythonError":
            raise SystemExit("the code location failed to load")
    return None, 0


def wait_loaded(port: int, jobs: int, deadline: float) -> str:
    while time.monotonic() < deadline:
        name, found = loaded_jobs(port)
        if name is not None and found >= jobs:
            return name
        time.sleep(0.5)
    raise SystemExit("the code location did not load in time")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pipelines", type=int, default=500)
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_root(root, "trakt", args.pipelines)
        (root / "definitions.py").write_text(DEFINITIONS)
        home = root / "home"
        home.mkdir()
        (home / "dagster.yaml").write_text(
            "telemetry: {enabled: false}\ncode_servers: {local_startup_timeout: 1800, reload_timeout: 1800}\n"
        )
        env = {**os.environ, "DAGSTER_HOME": str(home), "TRAKT_DAGSTER_RUNS_DIR": str(root / "runs")}
        port = free_port()
        log = open(root / "dev.log", "w")  # noqa: SIM115 - closed below
        t0 = time.monotonic()
        dev = subprocess.Popen(
            [str(bin_dir / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port), "-f", "definitions.py"],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            name = wait_loaded(port, args.pipelines, t0 + 1800)
            first = time.monotonic() - t0
            t0 = time.monotonic()
            graphql(port, RELOAD, {"name": name})
            wait_loaded(port, args.pipelines, t0 + 1800)
            reload = time.monotonic() - t0
            load = os.getloadavg()[0]
        finally:
            os.killpg(dev.pid, signal.SIGTERM)
            try:
                dev.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(dev.pid, signal.SIGKILL)
                dev.wait(timeout=30)
            log.close()
    body = f"""## `dagster dev`: code location of {args.pipelines} trakt pipelines × 8 steps

| event | time |
| --- | --- |
| `dagster dev` started → code location loaded (all {args.pipelines} jobs listed) | {first:.1f} s |
| reload from the UI (`reloadRepositoryLocation`) → loaded again | {reload:.1f} s |

Both include the code server's process start (importing Dagster and trakt-dagster); the first start also
compiles the step modules. `dagster dev` waits 180 s for a code location by default
(`code_servers.local_startup_timeout` in `dagster.yaml`). Load average at the end: {load:.1f}.
"""
    write_section("load_dev", body)
    print(body)


if __name__ == "__main__":
    main()
