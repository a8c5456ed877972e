"""Broken pipelines among good ones, through the real servers: the webserver's GraphQL API shows the broken
ones' errors and launches the good jobs; a real `dagster-daemon` keeps a good pipeline's schedule ticking;
`dagster definitions validate` fails (strict) while the code location itself loads."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import REPO, dagster_home, write_files
from tests.e2e.conftest import BIN, run_cli
from tests.servers import free_port, graphql, service

INSTANCE_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"
DIRECT_LAUNCH = "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n"
FILES = {
    "pipelines/good/pipeline.yaml": "inputs: {src: a.csv}\noutputs: {final: src}\n",
    "pipelines/good/a.csv": "id\n1\n2\n",
    "projects/ok/pit.toml": '[dag]\nname = "ok"\nschedule = "@every 5s"\n[[tasks]]\nname = "hello"\nscript = "hello.sh"\n',
    "projects/ok/hello.sh": "echo hello from ok\n",
    "pipelines/broken_yaml/pipeline.yaml": "inputs: {src: a.csv}\nsteps:\n  - id: s\n    uses: [not, a, string]\n",
    "projects/broken_toml/pit.toml": '[dag]\nname = "broken_toml"\ntimeout = 5\n[[tasks]]\nname = "x"\nscript = "x.sh"\n',
    "projects/broken_toml/x.sh": "echo x\n",
    "pipelines/broken_module/dag.py": "from flowrun import build_default_engine\n\nengine = build_default_engine(\n",
}
LOCATION = """{ workspaceOrError { ... on Workspace { locationEntries { name
    locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
ASSETS = """{ assetNodes { assetKey { path } groupName description isMaterializable
    metadataEntries { label ... on TextMetadataEntry { text } ... on MarkdownMetadataEntry { mdStr }
      ... on IntMetadataEntry { intValue } } } }"""
JOBS = "{ repositoriesOrError { ... on RepositoryConnection { nodes { jobs { name } } } } }"
LAUNCH = """mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
    ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
RUN = "query Run($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }"


def code_location(root: Path) -> Path:
    """definitions.py and workspace.yaml of the repository, over `FILES`."""
    for name in ("definitions.py", "workspace.yaml"):
        shutil.copy(REPO / name, root / name)
    return write_files(root, FILES)


def instance_home(root: Path, extra: str = "") -> Path:
    """A new DAGSTER_HOME, created and migrated once before the daemon and CLI processes open it."""
    return dagster_home(root / "dagster_home", INSTANCE_YAML + extra)


def environment(home: Path) -> dict[str, str]:
    env = {**os.environ, "DAGSTER_HOME": str(home), "PATH": f"{BIN}:{os.environ['PATH']}"}
    env.pop("TRAKT_DAGSTER_STRICT_LOAD", None)
    return env


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    root = code_location(tmp_path_factory.mktemp("isolated"))
    home = instance_home(root, DIRECT_LAUNCH)
    port = free_port()
    args = [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"]
    with service(args, root, environment(home), home / "webserver.log") as process:
        deadline = time.monotonic() + 240
        while True:
            try:
                entries = graphql(port, LOCATION)["workspaceOrError"]["locationEntries"]
                if entries and entries[0]["locationOrLoadError"] is not None:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("webserver did not come up:\n" + (home / "webserver.log").read_text()[-4000:])
            time.sleep(1)
        yield port, root


def test_the_code_location_loads_and_shows_each_broken_pipeline_as_an_asset(webserver) -> None:
    port, _ = webserver
    entry = graphql(port, LOCATION)["workspaceOrError"]["locationEntries"][0]
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
    nodes = {"/".join(n["assetKey"]["path"]): n for n in graphql(port, ASSETS)["assetNodes"]}
    assert {"good/final", "ok/hello"} <= set(nodes)
    broken = {key for key in nodes if key.endswith("/load-error")}
    assert broken == {"broken_yaml/load-error", "broken_toml/load-error", "broken_module/load-error"}
    yaml_node = nodes["broken_yaml/load-error"]
    assert yaml_node["groupName"] == "broken_yaml" and not yaml_node["isMaterializable"]
    assert "broken_yaml/pipeline.yaml:4 (key steps[0].uses)" in yaml_node["description"]
    assert "missing string 'uses'" in yaml_node["description"]
    toml_meta = {e["label"]: e for e in nodes["broken_toml/load-error"]["metadataEntries"]}
    assert toml_meta["trakt/error_count"]["intValue"] == 1
    assert "'timeout' must be a string, not int" in toml_meta["trakt/load_errors"]["mdStr"]
    assert "pit.toml:3 (key dag.timeout)" in toml_meta["trakt/load_errors"]["mdStr"]
    assert "SyntaxError" in nodes["broken_module/load-error"]["description"]
    jobs = {j["name"] for repo in graphql(port, JOBS)["repositoriesOrError"]["nodes"] for j in repo["jobs"]}
    assert {"good", "ok"} <= jobs and not jobs & {"broken_yaml", "broken_toml", "broken_module"}


@pytest.mark.parametrize("job", ["good", "ok"])
def test_good_jobs_are_launchable_while_others_are_broken(webserver, job: str) -> None:
    port, root = webserver
    selector = {"repositoryLocationName": "trakt_dagster", "repositoryName": "__repository__", "jobName": job}
    launched = graphql(port, LAUNCH, {"params": {"selector": selector, "runConfigData": {}}})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + 300
    status = None
    while time.monotonic() < deadline:
        status = graphql(port, RUN, {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1)
    assert status == "SUCCESS", status
    manifest = root / "runs" / job / run_id / "manifest.json"
    assert manifest.is_file()


def test_definitions_validate_is_strict_and_the_switch_turns_it_off(tmp_path: Path) -> None:
    root = code_location(tmp_path)
    env = environment(instance_home(root))
    failed = run_cli(["dagster", "definitions", "validate", "-w", "workspace.yaml"], root, env)
    assert failed.returncode == 1
    assert "pipeline load errors" in failed.stdout + failed.stderr
    lenient = run_cli(
        ["dagster", "definitions", "validate", "-w", "workspace.yaml"], root, {**env, "TRAKT_DAGSTER_STRICT_LOAD": "0"}
    )
    assert lenient.returncode == 0, lenient.stdout[-3000:] + lenient.stderr[-3000:]


def test_a_good_pipelines_schedule_ticks_in_the_daemon_beside_broken_ones(tmp_path: Path) -> None:
    """A real dagster-daemon against a fresh DAGSTER_HOME: pit's `@every 5s` schedule of the good project
    (a Dagster sensor) launches runs that succeed, while three other pipelines are broken."""
    root = code_location(tmp_path)
    home = instance_home(root)
    env = environment(home)
    started = run_cli(["dagster", "sensor", "start", "ok_schedule", "-w", "workspace.yaml"], root, env)
    assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
    args = [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]
    with service(args, root, env, home / "daemon.log") as daemon:
        instance = dg.DagsterInstance.from_config(str(home))
        deadline = time.monotonic() + 300
        done: list[dg.DagsterRun] = []
        while time.monotonic() < deadline and daemon.poll() is None:
            done = instance.get_runs(dg.RunsFilter(job_name="ok", statuses=[dg.DagsterRunStatus.SUCCESS]))
            if done:
                break
            time.sleep(2)
        assert done, "no successful scheduled run:\n" + (home / "daemon.log").read_text()[-4000:]
        assert done[0].tags.get("dagster/sensor_name") == "ok_schedule"
        failed = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
        assert not failed
