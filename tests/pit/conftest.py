"""Helpers for pit tests: write a workspace of projects, run a DAG through Dagster, read its run folder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from tests.conftest import DagRun, dagster_home, execute_dag, write_files
from trakt_dagster.core.definitions import load_graphs
from trakt_dagster.core.names import dagster_name


def workspace(root: Path, files: Mapping[str, str]) -> Path:
    """Write a pit workspace (`projects/<name>/pit.toml`, scripts, pit_config.toml, secrets) under `root`."""
    return write_files(root, files)


@dataclass
class PitRun(DagRun):
    """One run of a pit DAG through Dagster (`execute_in_process`)."""

    @property
    def report(self) -> dict[str, Any]:
        return self.manifest["pit"]

    def status(self, task: str) -> str:
        return self.report["tasks"][task]["status"]

    def log(self, task: str) -> str:
        return Path(self.report["tasks"][task]["log"]).read_text()

    def metadata_of(self, task: str) -> dict[str, Any]:
        for event in self.result.all_events:
            if event.event_type_value == "ASSET_MATERIALIZATION":
                mat = event.event_specific_data.materialization
                if mat.metadata.get("pit/run_id") is not None and mat.asset_key.path[-1] == dagster_name(task):
                    return {k: v.value for k, v in mat.metadata.items()}
        raise KeyError(task)

    def dagster_log_text(self) -> str:
        return "\n".join(self.log_messages())


def run_pit(
    root: Path,
    dag: str,
    instance: dg.DagsterInstance,
    *,
    select: Sequence[str] | None = None,
    config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    granularity: str | None = None,
) -> PitRun:
    """Build the root's definitions and execute the DAG's job in this process."""
    result = execute_dag(root, dag, instance, select=select, config=config, tags=tags, granularity=granularity)
    return PitRun(result, root, dag, instance)


def load_errors(root: Path) -> str:
    """Every load error of a workspace, rendered."""
    _, errors = load_graphs(root)
    return "\n".join(e.render() for e in errors)


# --- trigger tests: a Dagster instance folder, the webhook receiver, sensor ticks -----------------------------

DEFINITIONS_PY = "from pathlib import Path\nfrom trakt_dagster import build_definitions\n\ndefs = build_definitions(Path(__file__).parent)\n"
INSTANCE_YAML = (
    "telemetry: {enabled: false}\n"
    "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n"
)


def instance_home(folder: Path) -> Path:
    """A `DAGSTER_HOME` folder (SQLite, runs launched directly) for tests that share an instance across processes,
    created and migrated once before any of them opens it."""
    return dagster_home(folder, INSTANCE_YAML)


@dataclass
class Receiver:
    """A webhook receiver process (`python -m trakt_dagster.pit.webhook_server`) on 127.0.0.1."""

    process: Any
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int | None = None) -> None:
        import signal as signals

        if self.process.poll() is None:
            self.process.send_signal(sig or signals.SIGTERM)
        self.process.wait(timeout=60)


def start_receiver(root: Path, home: Path, *extra: str, env: Mapping[str, str] | None = None) -> Receiver:
    """Start the receiver for the workspace `root` against the instance in `home`; waits until it answers."""
    import os
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    from tests.servers import free_port

    port = free_port()
    log_path = home / f"receiver-{port}.log"
    handle = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "trakt_dagster.pit.webhook_server", "--root", str(root), "--port", str(port), *extra],
        cwd=root,
        env={**os.environ, "DAGSTER_HOME": str(home), **(env or {})},
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    handle.close()
    receiver = Receiver(process, port, log_path)
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{receiver.url}/", timeout=5)
        except urllib.error.HTTPError:
            return receiver  # it answers (404 outside /webhook/)
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            receiver.stop()
            raise AssertionError("the webhook receiver did not start:\n" + receiver.log())
        time.sleep(0.2)


def tick(defs: dg.Definitions, sensor: str, instance: dg.DagsterInstance, cursor: str | None) -> Any:
    """Evaluate one tick of a sensor as the daemon would (its run requests are not launched)."""
    definition = defs.resolve_sensor_def(sensor)
    resources = {key: defs.resources[key] for key in definition.required_resource_keys}
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs, resources=resources)
    return definition.evaluate_tick(context)


def launch_request(root: Path, dag: str, instance: dg.DagsterInstance, request: dg.RunRequest) -> PitRun:
    """Run what a sensor requested (its tags, in this process), as the daemon's run launcher would."""
    return run_pit(root, dag, instance, tags={**request.tags, "dagster/run_key": request.run_key or ""})
