"""`dagster dev` code-location load and reload time for a root of generated trakt pipelines, against Dagster's own.

Starts `dagster dev` on a root of N trakt pipelines of 8 steps (bench_load's generator) and measures from the
start of the process until the webserver reports the code location loaded (every job listed), then asks for
a reload (the UI's "Reload" button, the `reloadRepositoryLocation` mutation) and measures until it is loaded
again. Each includes the code server's own start (importing Dagster and the project) and Dagster's snapshot of
the definitions it sends to the webserver.

The floor is the same under `dagster dev` with a `definitions.py` that builds, with Dagster alone, the same
asset specs (one subsettable multi-asset per pipeline), external inputs, jobs and schedules as bench_load's
floor: the specs' values are computed by this script beforehand and written to a JSON file, from which that
`definitions.py` builds the specs as a Dagster user's code would.

Usage: python bench/bench_load_dev.py [--pipelines 500] [--dry-run]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _dagster_dev import dagster_dev, free_port, graphql  # noqa: E402
from _results import write_section  # noqa: E402
from bench_load import write_root  # noqa: E402

DEFINITIONS = "from pathlib import Path\nfrom trakt_dagster import build_definitions\n\n"
DEFINITIONS += "defs = build_definitions(Path(__file__).parent, strict_load=True)\n"
FLOOR_DEFINITIONS = """import json
from pathlib import Path

import dagster as dg
from dagster_shared.serdes import deserialize_value

plans = json.loads((Path(__file__).parent / "floor_plans.json").read_text())


def spec(fields):
    return dg.AssetSpec(
        key=dg.AssetKey(fields["key"]),
        deps=[dg.AssetKey(path) for path in fields["deps"]],
        description=fields["description"],
        metadata=deserialize_value(fields["metadata"]),
        group_name=fields["group_name"],
        kinds=set(fields["kinds"]),
        tags=fields["tags"],
        owners=fields["owners"],
        skippable=fields["skippable"],
    )


def make_body(specs):
    def body(context):
        for spec in specs:
            yield dg.MaterializeResult(asset_key=spec.key)

    return body


parts = []
for plan in plans:
    specs = [spec(fields) for fields in plan["specs"]]
    externals = [spec(fields) for fields in plan["externals"]]
    name = plan["name"]
    op = dg.multi_asset(specs=specs, can_subset=True, name=f"{name}_pipeline")(make_body(specs))
    job = dg.define_asset_job(name, selection=dg.AssetSelection.assets(*[s.key for s in specs]))
    schedules = [dg.ScheduleDefinition(name=f"{name}_schedule", cron_schedule=c, job=job) for c in plan["crons"]]
    parts.append(dg.Definitions(assets=[*externals, op], jobs=[job], schedules=schedules))
defs = dg.Definitions.merge(*parts)
"""
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


def write_floor_plans(root: Path) -> None:
    """The specs (as plain values; metadata values in Dagster's own serialization), inputs and crons of
    bench_load's floor, for the floor's definitions.py, which builds the same specs from them."""
    code = FLOOR_PLANS.format(root=str(root), out=str(root / "floor" / "floor_plans.json"))
    subprocess.run([sys.executable, "-c", code], check=True)


FLOOR_PLANS = """
import json, logging
logging.disable(logging.CRITICAL)
from pathlib import Path
from dagster_shared.serdes import serialize_value
from trakt_dagster.core.definitions import load_graphs
from trakt_dagster.core.translator import DagsterTaskGraphTranslator, TaskTranslatorData, ExternalTranslatorData
graphs, errors = load_graphs({root!r})
assert not errors, errors
translator = DagsterTaskGraphTranslator()


def fields(spec):
    return {{
        "key": list(spec.key.path), "deps": [list(d.asset_key.path) for d in spec.deps],
        "description": spec.description, "metadata": serialize_value(dict(spec.metadata)),
        "group_name": spec.group_name, "kinds": sorted(spec.kinds), "tags": dict(spec.tags),
        "owners": list(spec.owners), "skippable": spec.skippable,
    }}


def plan(graph):
    return {{
        "name": graph.name,
        "specs": [fields(translator.get_asset_spec(TaskTranslatorData(graph, t))) for t in graph.tasks if t.is_asset],
        "externals": [fields(translator.get_external_spec(ExternalTranslatorData(graph, d))) for d in graph.external],
        "crons": [t.cron for t in graph.triggers if hasattr(t, "cron")],
    }}


Path({out!r}).write_text(json.dumps([plan(graph) for graph in graphs]))
"""


def dev_times(folder: Path, jobs: int) -> tuple[float, float]:
    """(start → loaded, reload → loaded again) of `dagster dev -f definitions.py` in `folder`."""
    home = folder / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "telemetry: {enabled: false}\ncode_servers: {local_startup_timeout: 1800, reload_timeout: 1800}\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"DAGSTER_HOME": str(home), "TRAKT_DAGSTER_RUNS_DIR": str(folder / "runs")})
    port = free_port()
    t0 = time.monotonic()
    with dagster_dev(folder, env, port):
        name = wait_loaded(port, jobs, t0 + 1800)
        first = time.monotonic() - t0
        t0 = time.monotonic()
        graphql(port, RELOAD, {"name": name})  # returns once the new code server has loaded
        wait_loaded(port, jobs, t0 + 1800)
        reload = time.monotonic() - t0
    return first, reload


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pipelines", type=int, default=500)
    parser.add_argument("--dry-run", action="store_true", help="print the figures, do not write bench/RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_root(root, "trakt", args.pipelines)
        (root / "definitions.py").write_text(DEFINITIONS)
        (root / "floor").mkdir()
        (root / "floor" / "definitions.py").write_text(FLOOR_DEFINITIONS)
        write_floor_plans(root)  # also compiles the step modules, so both starts find their bytecode
        ours_first, ours_reload = dev_times(root, args.pipelines)
        floor_first, floor_reload = dev_times(root / "floor", args.pipelines)
        load = os.getloadavg()[0]
    rows = [
        (f"`dagster dev` started → code location loaded (all {args.pipelines} jobs listed)", ours_first, floor_first),
        ("reload from the UI (`reloadRepositoryLocation`) → loaded again", ours_reload, floor_reload),
    ]
    table = "\n".join(f"| {what} | {ours:.1f} s | {floor:.1f} s | {ours / floor:.2f} |" for what, ours, floor in rows)
    body = f"""## `dagster dev`: code location of {args.pipelines} trakt pipelines × 8 steps

| event | trakt-dagster | Dagster alone, same specs and jobs | ratio |
| --- | --- | --- | --- |
{table}

Both columns include `dagster dev`'s own start (webserver, daemon), the code server's process start
(importing Dagster, and trakt-dagster for the first column) and Dagster's snapshot of the definitions for the
webserver; the step modules' bytecode was compiled before. `dagster dev` waits 180 s for a code location by
default (`code_servers.local_startup_timeout` in `dagster.yaml`). Load average at the end: {load:.1f}.
"""
    if not args.dry_run:
        write_section("load_dev", body)
    print(body)


if __name__ == "__main__":
    main()
