"""pit's overlap policies on a real Dagster instance (§6 rows 11, 12, 14; N2): runs started by the
`dagster` CLI in separate processes, schedules and sensors evaluated against the same instance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import dagster_home
from tests.pit.conftest import workspace
from trakt_dagster import build_definitions

DAGSTER = str(Path(sys.executable).parent / "dagster")
DEFINITIONS = "from pathlib import Path\nfrom trakt_dagster import build_definitions\n\ndefs = build_definitions(Path(__file__).parent)\n"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = workspace(
        tmp_path_factory.mktemp("overlap"),
        {
            "definitions.py": DEFINITIONS,
            "projects/queue/pit.toml": '[dag]\nschedule = "@hourly"\noverlap = "wait"\n'
            '[[tasks]]\nname = "work"\nscript = "work.sh"\n',
            "projects/queue/work.sh": "sleep 1.5\n",
            "projects/lone/pit.toml": '[dag]\nschedule = "@hourly"\noverlap = "skip"\n'
            '[[tasks]]\nname = "work"\nscript = "work.sh"\n',
            "projects/lone/work.sh": "sleep 4\n",
            "projects/every/pit.toml": '[dag]\nschedule = "@every 1h30m"\noverlap = "skip"\n'
            '[[tasks]]\nname = "work"\nscript = "work.sh"\n',
            "projects/every/work.sh": "true\n",
        },
    )
    home = dagster_home(
        root / "home",
        "telemetry: {enabled: false}\n"
        "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n",
    )
    process_env = {**os.environ, "DAGSTER_HOME": str(home)}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield root, instance, process_env


def launch(root: Path, job: str, env: dict[str, str], tags: dict[str, str] | None = None) -> subprocess.Popen:
    args = [DAGSTER, "job", "execute", "-f", "definitions.py", "-j", job]
    if tags:
        args += ["--tags", json.dumps(tags)]
    return subprocess.Popen(args, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def span(root: Path, job: str, run_id: str) -> tuple[datetime, datetime]:
    task = json.loads((root / "runs" / job / run_id / "manifest.json").read_text())["pit"]["tasks"]["work"]
    return datetime.fromisoformat(task["started_at"]), datetime.fromisoformat(task["finished_at"])


def test_wait_queues_every_trigger_in_order_row_12(env) -> None:
    root, instance, process_env = env
    defs = build_definitions(root, runs_dir=str(root / "runs"))
    request = defs.resolve_schedule_def("queue_schedule").evaluate_tick(dg.build_schedule_context(instance=instance))
    assert request.run_requests[0].tags["trakt/overlap"] == "wait"

    procs = [launch(root, "queue", process_env, {"trakt/overlap": "wait"}) for _ in range(4)]
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(outputs)
    records = sorted(instance.get_run_records(dg.RunsFilter(job_name="queue")), key=lambda r: r.create_timestamp)
    assert len(records) == 4 and all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records)
    spans = [span(root, "queue", r.dagster_run.run_id) for r in records]
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert end <= start, "runs overlapped or ran out of trigger order"
    waited = [m.user_message for r in records[1:] for m in instance.all_logs(r.dagster_run.run_id)]
    assert any("overlap = wait: waiting for" in m for m in waited)


def test_skip_drops_a_trigger_while_a_run_is_active_rows_11_14(env) -> None:
    root, instance, process_env = env
    defs = build_definitions(root, runs_dir=str(root / "runs"))
    schedule = defs.resolve_schedule_def("lone_schedule")
    proc = launch(root, "lone", process_env)
    try:
        deadline = time.monotonic() + 120
        while not instance.get_run_records(dg.RunsFilter(job_name="lone", statuses=[dg.DagsterRunStatus.STARTED])):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        active = schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
        assert not active.run_requests and "overlap = skip: a run of lone is still active" in active.skip_message
    finally:
        proc.communicate(timeout=120)
    after = schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
    assert len(after.run_requests) == 1 and "trakt/overlap" not in after.run_requests[0].tags

    sensor = defs.resolve_sensor_def("every_schedule")
    assert sensor.minimum_interval_seconds == 5400
    tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    assert len(tick.run_requests) == 1
