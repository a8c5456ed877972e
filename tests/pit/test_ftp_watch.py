"""pit's FTP watch on Dagster (§3.6, K12, N1, N5, N15; §6 rows 17–22): the `<dag>_ftp_watch` sensor against a real
pyftpdlib server on 127.0.0.1, its ticks evaluated on a SQLite instance, the requested runs executed in this
process (downloading into `data/`, archiving on success) as the daemon's launcher would."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from tests.pit.conftest import DEFINITIONS_PY, instance_home, launch_request, tick, workspace
from tests.servers import FtpServer, free_port, self_signed_certificate
from trakt_dagster import build_definitions
from trakt_dagster.pit.ftp_client import FtpWatchError, RemoteFile, ftp_credentials, ftp_session
from trakt_dagster.pit.ftp_watch import WatchState
from trakt_dagster.pit.model import FtpWatchSettings

USER = "pit-watch"
PASSWORD = "Ftp-W4tch-Pa55-3310"
STABLE = 1
TASK = """
for f in "$PIT_DATA_DIR"/*; do echo "got $(basename "$f"): $(cat "$f")"; done
if grep -q fail "$PIT_DATA_DIR"/*; then echo "ERROR: a bad file"; exit 1; fi
"""


def watch(directory: str, pattern: str, extra: str = "", overlap: str = "") -> str:
    dag = f'[dag]\noverlap = "{overlap}"\n' if overlap else ""
    return (
        f'{dag}[dag.ftp_watch]\n{extra}directory = "{directory}"\npattern = "{pattern}"\n'
        f'poll_interval = "1s"\nstable_seconds = {STABLE}\n[[tasks]]\nname = "take"\nscript = "t.sh"\n'
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("ftp")
    ftp_home = base / "ftp"
    for folder in ("incoming", "legacy", "flaky", "pair"):
        (ftp_home / folder).mkdir(parents=True)
    flaky_port = free_port()
    with FtpServer(ftp_home, USER, PASSWORD) as server:
        secrets = (
            f'[global.ftp]\nhost = "127.0.0.1"\nuser = "{USER}"\npassword = "{PASSWORD}"\n'
            f'[global]\nftp_password = "{PASSWORD}"\n'
        )
        root = workspace(
            base / "ws",
            {
                "definitions.py": DEFINITIONS_PY,
                "pit_config.toml": 'secrets_dir = "secrets.toml"\n',
                "secrets.toml": secrets,
                "projects/sales/pit.toml": watch(
                    "/incoming", "sales_*.csv", f'secret = "ftp"\nport = {server.port}\narchive_dir = "/done/sales"\n'
                ),
                "projects/legacy/pit.toml": watch(
                    "legacy",
                    "*.txt",
                    f'host = "127.0.0.1"\nuser = "{USER}"\npassword_secret = "ftp_password"\nport = {server.port}\n',
                    overlap="skip",
                ),
                "projects/flaky/pit.toml": watch("/flaky", "*", f'secret = "ftp"\nport = {flaky_port}\n'),
                "projects/pair/pit.toml": watch("/pair", "*.csv", f'secret = "ftp"\nport = {server.port}\n'),
                **{f"projects/{name}/t.sh": TASK for name in ("sales", "legacy", "flaky", "pair")},
            },
        )
        home = instance_home(base / "home")
        with dg.DagsterInstance.from_config(str(home)) as instance:
            defs = build_definitions(root, runs_dir=str(root / "runs"))
            yield root, ftp_home, instance, defs, flaky_port


class Watch:
    """Ticks of one DAG's FTP sensor, carrying the cursor forward as the daemon does; records every message."""

    def __init__(self, env, dag: str) -> None:
        self.root, self.ftp_home, self.instance, self.defs, _ = env
        self.dag = dag
        self.cursor: str | None = None
        self.messages: list[str] = []

    def tick(self):
        result = tick(self.defs, f"{self.dag}_ftp_watch", self.instance, self.cursor)
        self.cursor = result.cursor
        self.messages.append(result.skip_message or json.dumps([r.tags for r in result.run_requests]))
        return result.run_requests

    def settle(self) -> None:
        """Let every tracked file reach `stable_seconds` (a lower bound: a slow machine only waits longer)."""
        time.sleep(STABLE + 0.2)

    def run(self, request: dg.RunRequest):
        return launch_request(self.root, self.dag, self.instance, request)


def test_stability_rules_row_17() -> None:
    state = WatchState()
    assert state.observe([RemoteFile("sales_1.csv", 10, "t1")], now=0, stable_seconds=30) == []
    assert state.observe([RemoteFile("sales_1.csv", 20, "t2")], now=30, stable_seconds=30) == []
    stable = state.observe([RemoteFile("sales_1.csv", 20, "t2")], now=60, stable_seconds=30)
    assert [f.name for f in stable] == ["sales_1.csv"], "exactly at the threshold counts"
    state.mark_launched(stable, 60)
    assert state.observe([RemoteFile("sales_1.csv", 20, "t2")], now=600, stable_seconds=30) == []
    assert state.observe([RemoteFile("sales_1.csv", 20, "t3")], now=601, stable_seconds=30) == [], "new time: new"
    assert [f.key for f in state.observe([RemoteFile("sales_1.csv", 20, "t3")], now=631, stable_seconds=30)] == [
        "sales_1.csv:20:t3"
    ]
    assert state.observe([], now=700, stable_seconds=30) == [] and not state.tracking and not state.launched
    restored = WatchState.from_cursor(state.to_cursor())
    assert restored.tracking == state.tracking and restored.launched == state.launched


def test_a_slowly_uploaded_file_runs_once_when_stable_and_is_archived_row_21(env) -> None:
    w = Watch(env, "sales")
    target = w.ftp_home / "incoming" / "sales_1.csv"
    (w.ftp_home / "incoming" / "SALES_9.csv").write_text("case differs\n")
    (w.ftp_home / "incoming" / "notes.txt").write_text("not matched\n")
    (w.ftp_home / "incoming" / "sales_dir.csv").mkdir()
    target.write_text("id,amount\n")
    assert w.tick() == []
    with target.open("a") as handle:
        handle.write("1,10\n")
    assert w.tick() == [], "the size changed: still growing"
    w.settle()
    with target.open("a") as handle:
        handle.write("2,20\n")
    assert w.tick() == [], "growing again"
    w.settle()
    (request,) = w.tick()
    assert json.loads(request.tags["trakt/ftp_files"]) == ["sales_1.csv"]
    assert request.tags["trakt/trigger"] == "ftp_watch" and request.run_key.startswith("ftp:")
    assert w.tick() == [], "one run per file identity"
    run = w.run(request)
    assert run.success
    assert run.log("take").startswith("got sales_1.csv: id,amount\n")
    assert (run.folder / "data" / "sales_1.csv").read_text() == "id,amount\n1,10\n2,20\n"
    trigger = run.manifest["pit"]["trigger"]
    assert trigger["source"] == "ftp_watch" and [f["name"] for f in trigger["files"]] == ["sales_1.csv"]
    assert trigger["archived"] == ["sales_1.csv"]
    assert run.metadata_of("take")["pit/trigger"] == "ftp_watch"
    assert not target.exists() and (w.ftp_home / "done" / "sales" / "sales_1.csv").is_file()
    w.settle()
    assert w.tick() == [] and w.tick() == []
    assert all("SALES_9" not in m and "notes" not in m and "sales_dir" not in m for m in w.messages)
    assert all(PASSWORD not in m for m in w.messages)
    assert PASSWORD not in "\n".join(run.log_messages()) + json.dumps(run.manifest)


def test_a_failed_run_does_not_retrigger_a_replaced_file_does_row_20_n1(env) -> None:
    w = Watch(env, "legacy")  # legacy credentials, no archive_dir
    target = w.ftp_home / "legacy" / "report.txt"
    target.write_text("fail\n")
    w.tick()
    w.settle()
    (request,) = w.tick()
    run = w.run(request)
    assert not run.success and target.exists(), "a failed run leaves the file on the server"
    for _ in range(3):
        w.settle()
        assert w.tick() == [], "the same file never triggers again"
    target.write_text("fixed, and longer\n")
    w.tick()
    w.settle()
    (again,) = w.tick()
    assert again.run_key != request.run_key
    rerun = w.run(again)
    assert rerun.success and target.exists(), "no archive_dir: the file stays"
    w.settle()
    assert w.tick() == []
    assert PASSWORD not in "\n".join(w.messages + run.log_messages() + rerun.log_messages())


def test_two_stable_files_one_run_sorted_row_19(env) -> None:
    w = Watch(env, "pair")
    for name in ("b.csv", "a.csv"):
        (w.ftp_home / "pair" / name).write_text(f"{name}\n")
    w.tick()
    w.settle()
    (request,) = w.tick()
    assert json.loads(request.tags["trakt/ftp_files"]) == ["a.csv", "b.csv"]
    run = w.run(request)
    assert run.success and sorted(p.name for p in (run.folder / "data").iterdir()) == ["a.csv", "b.csv"]


def test_overlap_skip_keeps_stable_files_for_later(env) -> None:
    w = Watch(env, "legacy")
    for leftover in (w.ftp_home / "legacy").iterdir():
        leftover.unlink()
    (w.ftp_home / "legacy" / "late.txt").write_text("late\n")
    w.tick()
    w.settle()
    active = dg.DagsterRun(job_name="legacy", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED)
    w.instance.add_run(active)
    try:
        assert w.tick() == []
        assert f"overlap = skip: a run of legacy is still active ({active.run_id})" in w.messages[-1]
        assert "late.txt will run after it" in w.messages[-1]
    finally:
        w.instance.delete_run(active.run_id)
    (request,) = w.tick()
    assert json.loads(request.tags["trakt/ftp_files"]) == ["late.txt"]


def test_a_broken_connection_recovers_with_the_tracked_state(env) -> None:
    w = Watch(env, "flaky")
    flaky_port = env[4]
    (w.ftp_home / "flaky" / "drop.bin").write_bytes(b"12345")
    assert w.tick() == [] and "cannot connect to " in w.messages[-1], "no server yet"
    with FtpServer(w.ftp_home, USER, PASSWORD, port=flaky_port):
        assert w.tick() == []
        tracked = w.cursor
    w.settle()
    assert w.tick() == [] and "tracked files kept" in w.messages[-1]
    assert w.cursor == tracked, "an outage keeps the cursor"
    with FtpServer(w.ftp_home, USER, PASSWORD, port=flaky_port):
        (request,) = w.tick()  # stable since before the outage: no new wait
        assert json.loads(request.tags["trakt/ftp_files"]) == ["drop.bin"]
    assert all(PASSWORD not in m for m in w.messages)


def test_wrong_password_and_tls_errors_name_no_secret(env) -> None:
    _, _, _, _, _ = env
    from trakt_dagster.pit.secrets import SecretsFile

    port = free_port()
    with FtpServer(env[1], USER, PASSWORD, port=port):
        secrets = SecretsFile(Path("s.toml"), {"global": {"pw": "Wr0ng-Pa55-0001"}}).for_project("x")
        settings = FtpWatchSettings(host="127.0.0.1", user=USER, password_secret="pw", port=port)
        with pytest.raises(FtpWatchError) as wrong, ftp_session(ftp_credentials(settings, secrets)):
            pass
        assert "login to 127.0.0.1" in str(wrong.value) and "Wr0ng" not in str(wrong.value)
        tls = FtpWatchSettings(host="127.0.0.1", user=USER, password_secret="pw", port=port, tls=True)
        with pytest.raises(FtpWatchError) as refused, ftp_session(ftp_credentials(tls, secrets)):
            pass
        assert "127.0.0.1" in str(refused.value) and "Wr0ng" not in str(refused.value)


def test_explicit_tls_with_a_checked_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trakt_dagster.pit.ftp_client import list_files
    from trakt_dagster.pit.secrets import SecretsFile

    home = tmp_path / "ftps"
    (home / "in").mkdir(parents=True)
    (home / "in" / "a.csv").write_text("id\n1\n")
    cert, key = self_signed_certificate(tmp_path / "tls")
    secrets = SecretsFile(
        Path("s.toml"), {"global": {"ftp": {"host": "127.0.0.1", "user": USER, "password": PASSWORD}}}
    )
    with FtpServer(home, USER, PASSWORD, tls=(cert, key)) as server:
        settings = FtpWatchSettings(secret="ftp", port=server.port, tls=True, directory="/in", pattern="*.csv")
        creds = ftp_credentials(settings, secrets.for_project("p"))
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
        with pytest.raises(FtpWatchError, match="certificate verify failed") as untrusted, ftp_session(creds):
            pass
        assert PASSWORD not in str(untrusted.value)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # a private CA: the server's certificate is trusted
        with ftp_session(creds) as ftp:
            assert [f.name for f in list_files(ftp, "/in", "*.csv")] == ["a.csv"]
        plain = FtpWatchSettings(secret="ftp", port=server.port, directory="/in", pattern="*.csv")
        with pytest.raises(FtpWatchError), ftp_session(ftp_credentials(plain, secrets.for_project("p"))) as ftp:
            list_files(ftp, "/in", "*.csv")  # the server requires TLS: plain FTP is refused
