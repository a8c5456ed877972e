"""`trakt-dagster pit serve` end to end (§3.6): one real `pit serve --no-ui` process for the module (Dagster daemon
ticking the sensors, launching runs in their own processes, plus the webhook receiver), a pyftpdlib server on
127.0.0.1, and a workspace without definitions.py. Every wait polls for the event with a generous deadline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import psutil
import pytest

from tests.pit.conftest import workspace
from tests.servers import FtpServer, free_port

BIN = Path(sys.executable).parent
TOKEN = "serve-token-8c21"
USER, PASSWORD = "serve-ftp", "Serve-Ftp-Pa55-771"
DEADLINE_S = 300


def wait_for(what: str, probe: Callable[[], Any], log: Callable[[], str], deadline_s: float = DEADLINE_S) -> Any:
    end = time.monotonic() + deadline_s
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}\n--- pit serve output ---\n{log()[-6000:]}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("serve")
    ftp_home = base / "ftp"
    (ftp_home / "in").mkdir(parents=True)
    with FtpServer(ftp_home, USER, PASSWORD) as ftp:
        root = workspace(
            base / "ws",
            {
                "pit_config.toml": 'secrets_dir = "secrets.toml"\n',
                "secrets.toml": f'[global]\ntoken = "{TOKEN}"\n[global.ftp]\nhost = "127.0.0.1"\n'
                f'user = "{USER}"\npassword = "{PASSWORD}"\n',
                "projects/inbound/pit.toml": '[dag.webhook]\ntoken_secret = "token"\n'
                '[[tasks]]\nname = "greet"\nscript = "greet.sh"\n',
                "projects/inbound/greet.sh": 'echo "hello from $PIT_DAG_NAME"\necho "WARN: almost done"\n',
                "projects/drop/pit.toml": f'[dag.ftp_watch]\nsecret = "ftp"\nport = {ftp.port}\ndirectory = "/in"\n'
                'pattern = "*.csv"\narchive_dir = "/done"\npoll_interval = "2s"\nstable_seconds = 1\n'
                '[[tasks]]\nname = "count"\nscript = "count.sh"\n',
                "projects/drop/count.sh": 'wc -l < "$PIT_DATA_DIR/orders.csv"\n',
            },
        )
        home = base / "home"  # no dagster.yaml: pit serve writes one
        log_path = base / "serve.log"
        state = {"root": root, "home": home, "ftp": ftp_home}
        state["log"] = lambda: log_path.read_text(errors="replace")
        for _ in range(3):  # a port taken by another process between free_port() and the bind: try another
            port = free_port()
            with log_path.open("w") as handle:
                process = subprocess.Popen(
                    [str(BIN / "trakt-dagster"), "pit", "serve", "--root", str(root), "--port", str(port), "--no-ui"],
                    env={**os.environ, "DAGSTER_HOME": str(home)},
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                )
            state.update(url=f"http://127.0.0.1:{port}", process=process)
            wait_for(
                "the receiver", lambda: _answers(state["url"]) or state["process"].poll() is not None, state["log"]
            )
            if process.poll() is None:
                break
        assert process.poll() is None, state["log"]()
        try:
            with dg.DagsterInstance.from_config(str(home)) as instance:
                state["instance"] = instance
                yield state
        finally:
            _cleanup(process)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url + "/", timeout=5)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def _cleanup(process: subprocess.Popen) -> None:
    """If a test failed before the SIGTERM test: stop pit serve and everything under it."""
    if process.poll() is not None:
        return
    children = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        process.kill()
    for child in children:
        if child.is_running():
            child.kill()


def post(url: str, token: str = TOKEN) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, method="POST", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, {k.lower(): v for k, v in response.headers.items()}


def event_status(url: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_triggers_start_running_under_serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trakt_dagster import build_definitions
    from trakt_dagster.pit.serve import location_args

    root = workspace(
        tmp_path,
        {
            "pit_config.toml": 'secrets_dir = "s.toml"\n',
            "s.toml": f'[global]\ntoken = "{TOKEN}"\n',
            "projects/p/pit.toml": '[dag]\nschedule = "@daily"\n[dag.webhook]\ntoken_secret = "token"\n'
            '[[tasks]]\nname = "t"\nscript = "t.sh"\n',
            "projects/p/t.sh": "true\n",
            "projects/e/pit.toml": '[dag]\nschedule = "@every 1h"\n[[tasks]]\nname = "t"\nscript = "t.sh"\n',
            "projects/e/t.sh": "true\n",
        },
    )
    monkeypatch.delenv("TRAKT_DAGSTER_PIT_SERVE", raising=False)
    plain = build_definitions(root)
    assert plain.resolve_schedule_def("p_schedule").default_status == dg.DefaultScheduleStatus.STOPPED
    assert plain.resolve_sensor_def("e_schedule").default_status == dg.DefaultSensorStatus.STOPPED
    assert plain.resolve_sensor_def("p_webhook").default_status == dg.DefaultSensorStatus.RUNNING
    monkeypatch.setenv("TRAKT_DAGSTER_PIT_SERVE", "1")
    served = build_definitions(root)
    assert served.resolve_schedule_def("p_schedule").default_status == dg.DefaultScheduleStatus.RUNNING
    assert served.resolve_sensor_def("e_schedule").default_status == dg.DefaultSensorStatus.RUNNING
    assert location_args(root) == ["-m", "trakt_dagster.pit.location"]
    (root / "definitions.py").write_text("")
    assert location_args(root) == ["-f", str(root / "definitions.py")]


def test_a_webhook_event_becomes_a_run_of_the_daemon(served) -> None:
    code, headers = post(f"{served['url']}/webhook/inbound")
    assert code == 202
    location = served["url"] + headers["location"]

    def finished() -> dict | None:
        status = event_status(location)
        return status if status.get("run_status") in ("SUCCESS", "FAILURE") else None

    status = wait_for("the webhook run", finished, served["log"])
    assert status["status"] == "launched" and status["run_status"] == "SUCCESS", status
    manifest = json.loads((served["root"] / "runs" / "inbound" / status["run_id"] / "manifest.json").read_text())
    assert manifest["pit"]["trigger"] == {"source": "webhook", "event_id": headers["x-trakt-event-id"]}
    run = served["instance"].get_run_by_id(status["run_id"])
    assert run.tags["dagster/sensor_name"] == "inbound_webhook"
    assert run.tags["dagster/run_key"] == headers["x-trakt-event-id"]


def test_an_ftp_file_runs_once_and_is_archived(served) -> None:
    (served["ftp"] / "in" / "orders.csv").write_text("id\n1\n2\n")
    archived = served["ftp"] / "done" / "orders.csv"
    instance = served["instance"]

    def finished() -> list:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="drop"))
        return runs if runs and runs[0].status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE) else []

    runs = wait_for("the FTP run", finished, served["log"])
    assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS
    assert archived.exists() and not (served["ftp"] / "in" / "orders.csv").exists()
    assert json.loads(runs[0].tags["trakt/ftp_files"]) == ["orders.csv"]
    log = (served["root"] / "runs" / "drop" / runs[0].run_id / "logs" / "count.log").read_text()
    assert log == "3\n"  # pit's log: the task's own output only
    assert PASSWORD not in served["log"]()


def test_stream_true_relays_the_run_through_the_daemon(served) -> None:
    request = urllib.request.Request(
        f"{served['url']}/webhook/inbound?stream=true", method="POST", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    events = []
    with urllib.request.urlopen(request, timeout=DEADLINE_S) as response:
        assert response.status == 200 and response.headers["Content-Type"] == "text/event-stream"
        name = None
        for raw in response:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[len("data: ") :])))
                if name == "complete":
                    break
    assert [(n, e.get("message")) for n, e in events[:-1]] == [
        ("log", "hello from inbound"),
        ("log", "WARN: almost done"),
    ]
    assert events[1][1]["level"] == "warn" and events[-1] == ("complete", {"status": "success"})


def test_sigterm_stops_everything_it_started(served) -> None:
    process = served["process"]
    children = psutil.Process(process.pid).children(recursive=True)
    assert any("dagster-daemon" in " ".join(c.cmdline()) for c in children), [c.cmdline() for c in children]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 0, served["log"]()
    end = time.monotonic() + 60
    while any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children):
        assert time.monotonic() < end, [c.cmdline() for c in children if c.is_running()]
        time.sleep(0.5)
    assert "pit serve: stopped" in served["log"]()
