"""pit's webhook on Dagster (§3.6, K13, K11, N12; §6 rows 23, 24, 41, 42): the receiver as a real HTTP server
process, its durable inbox, and the `<dag>_webhook` sensor evaluated against the same SQLite instance; the
requested runs are executed in this process as the daemon's launcher would."""

from __future__ import annotations

import json
import signal
import socket
import textwrap
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pyrage
import pytest
from pyrage import x25519

from tests.pit.conftest import (
    DEFINITIONS_PY,
    instance_home,
    launch_request,
    start_receiver,
    tick,
    workspace,
)
from trakt_dagster import build_definitions
from trakt_dagster.pit.webhook_inbox import WebhookInbox
from trakt_dagster.pit.webhook_server import load_routes

TOKEN = "hook-token-5d1e9"
LONE_TOKEN = "lone-token-77a0"
PLAIN_SECRET = "plain-secret-v41"
TASK = 'echo "hello from $PIT_RUN_ID"\necho "WARN: careful"\necho "secret $HOOK_SECRET"\n'

SECRETS = f"""
[global]
hook_token = "{TOKEN}"
other = "{PLAIN_SECRET}"

[lone]
hook_token = "{LONE_TOKEN}"
"""


def project(name: str, overlap: str = "", script: str = "t.sh", webhook: bool = True) -> str:
    text = "[dag]\n" + (f'overlap = "{overlap}"\n' if overlap else "")
    if webhook:
        text += '[dag.webhook]\ntoken_secret = "hook_token"\n'
    return text + f'[[tasks]]\nname = "echo"\nscript = "{script}"\n'


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("webhook")
    root = workspace(
        base / "ws",
        {
            "definitions.py": DEFINITIONS_PY,
            "pit_config.toml": 'secrets_dir = "secrets.toml"\n',
            "secrets.toml": SECRETS,
            "projects/hooks/pit.toml": project("hooks"),
            "projects/hooks/t.sh": TASK,
            "projects/lone/pit.toml": project("lone", "skip"),
            "projects/lone/t.sh": "echo lone\n",
            "projects/queue/pit.toml": project("queue", "wait"),
            "projects/queue/t.sh": "echo queued\n",
            "projects/full/pit.toml": project("full"),
            "projects/full/t.sh": "true\n",
            "projects/plain/pit.toml": project("plain", webhook=False),
            "projects/plain/t.sh": "true\n",
        },
    )
    home = instance_home(base / "home")
    receiver = start_receiver(root, home, "--max-pending", "25")
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            yield root, home, instance, receiver, build_definitions(root, runs_dir=str(root / "runs"))
    finally:
        receiver.stop()


def post(url: str, token: str | None = TOKEN, method: str = "POST") -> tuple[int, bytes, dict[str, str]]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    request = urllib.request.Request(url, method=method, headers=headers, data=b"{}" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read(), {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, error.read(), {k.lower(): v for k, v in error.headers.items()}


def status_of(receiver, dag: str, event_id: str, token: str = TOKEN) -> dict:
    code, body, _ = post(f"{receiver.url}/webhook/{dag}/events/{event_id}", token, method="GET")
    assert code == 200, body
    return json.loads(body)


def test_status_codes_row_23(env) -> None:
    root, _, _, receiver, _ = env
    url = receiver.url
    assert post(f"{url}/webhook/hooks", method="GET")[:2] == (405, b"method not allowed\n")
    assert post(f"{url}/webhook/unknown", method="PUT")[0] == 405
    for path in ("/webhook/unknown", "/webhook/hooks/", "/webhook/", "/webhook/hooks/x", "/webhook/plain"):
        assert post(url + path)[:2] == (404, b"not found\n"), path
    assert post(f"{url}/elsewhere")[0] == 404
    assert post(f"{url}/webhook/hooks", token=None)[:2] == (401, b"unauthorized\n")
    assert post(f"{url}/webhook/hooks", token="wrong")[0] == 401
    assert post(f"{url}/webhook/hooks", token=TOKEN + "x")[0] == 401
    assert post(f"{url}/webhook/lone", token=TOKEN)[0] == 401, "the project's own token shadows [global]"
    code, body, headers = post(f"{url}/webhook/full")
    assert (code, body) == (202, b"")
    event_id = headers["x-trakt-event-id"]
    assert headers["location"] == f"/webhook/full/events/{event_id}"
    assert status_of(receiver, "full", event_id) == {"id": event_id, "dag": "full", "status": "queued"}
    assert post(f"{url}/webhook/full/events/{event_id}", token="wrong", method="GET")[0] == 401
    assert post(f"{url}/webhook/full/events/20990101T000000_000000_00000000", method="GET")[0] == 404
    codes = [post(f"{url}/webhook/full")[0] for _ in range(25)]
    assert codes[:24] == [202] * 24 and codes[24] == 503, "the inbox holds 25 events of a DAG at most"
    assert post(f"{url}/webhook/full")[:2] == (503, b"server busy\n")
    assert TOKEN not in receiver.log()


def test_the_body_is_never_read(env) -> None:
    receiver = env[3]
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=60) as sock:
        sock.sendall(
            (
                "POST /webhook/hooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                f"Authorization: Bearer {TOKEN}\r\nExpect: 100-continue\r\nContent-Length: 1000000000000\r\n\r\n"
            ).encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            assert chunk, answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 202"), answer
    assert b"100 Continue" not in answer


def test_twenty_concurrent_events_twenty_runs_overlap_allow(env) -> None:
    root, _, instance, receiver, defs = env
    inbox = WebhookInbox.for_instance_dir(instance.root_directory)
    already = {e.id for e in inbox.pending("hooks")}
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: post(f"{receiver.url}/webhook/hooks"), range(20)))
    assert [code for code, _, _ in answers] == [202] * 20
    ids = {headers["x-trakt-event-id"] for _, _, headers in answers}
    assert len(ids) == 20
    first = tick(defs, "hooks_webhook", instance, None)
    requested = {r.run_key for r in first.run_requests}
    assert requested == ids | already and len(first.run_requests) == len(requested)
    assert all(
        r.tags["trakt/trigger"] == "webhook" and r.tags["trakt/webhook_event"] == r.run_key for r in first.run_requests
    )
    # a tick whose cursor was never committed is evaluated again: the same run keys, nothing new
    again = tick(defs, "hooks_webhook", instance, None)
    assert {r.run_key for r in again.run_requests} == requested
    runs = [launch_request(root, "hooks", instance, r) for r in first.run_requests if r.run_key in ids]
    assert all(run.success for run in runs)
    assert len({run.run_id for run in runs}) == 20 and len({run.folder for run in runs}) == 20
    assert all(run.folder.is_dir() and run.log("echo").startswith("hello from 20") for run in runs)
    events = {run.manifest["pit"]["trigger"]["event_id"] for run in runs}
    assert events == ids and all(run.manifest["pit"]["trigger"]["source"] == "webhook" for run in runs)
    second = tick(defs, "hooks_webhook", instance, first.cursor)
    assert not second.run_requests and "no webhook event waiting" in second.skip_message
    assert not inbox.pending("hooks")
    by_event = {run.manifest["pit"]["trigger"]["event_id"]: run.run_id for run in runs}
    for event_id, run_id in by_event.items():
        status = status_of(receiver, "hooks", event_id)
        assert status["status"] == "launched" and status["run_id"] == run_id and status["run_status"] == "SUCCESS"


def test_skip_one_run_and_nineteen_recorded_skips_and_409(env) -> None:
    root, _, instance, receiver, defs = env
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: post(f"{receiver.url}/webhook/lone", LONE_TOKEN), range(20)))
    assert [code for code, _, _ in answers] == [202] * 20
    code, body, _ = post(f"{receiver.url}/webhook/lone?stream=true", LONE_TOKEN)
    assert (code, body) == (409, b"DAG already running (overlap=skip)\n"), "events wait in the inbox"
    result = tick(defs, "lone_webhook", instance, None)
    assert len(result.run_requests) == 1
    run = launch_request(root, "lone", instance, result.run_requests[0])
    assert run.success
    statuses = [status_of(receiver, "lone", h["x-trakt-event-id"], LONE_TOKEN) for _, _, h in answers]
    assert sum(s["status"] == "launched" for s in statuses) == 1
    skipped = [s for s in statuses if s["status"] == "skipped"]
    assert len(skipped) == 19
    assert all("overlap = skip: this evaluation already requested a run of lone" in s["reason"] for s in skipped)
    assert not tick(defs, "lone_webhook", instance, result.cursor).run_requests


def test_wait_tags_runs_to_queue_in_arrival_order(env) -> None:
    _, _, instance, receiver, defs = env
    ids = [post(f"{receiver.url}/webhook/queue")[2]["x-trakt-event-id"] for _ in range(3)]
    result = tick(defs, "queue_webhook", instance, None)
    assert [r.run_key for r in result.run_requests] == ids
    assert all(r.tags["trakt/overlap"] == "wait" for r in result.run_requests)


def test_receiver_killed_after_accepting_loses_nothing(env) -> None:
    root, home, instance, _, defs = env
    doomed = start_receiver(root, home)
    code, _, headers = post(f"{doomed.url}/webhook/hooks")
    doomed.stop(signal.SIGKILL)
    assert code == 202 and doomed.process.returncode == -signal.SIGKILL
    event_id = headers["x-trakt-event-id"]
    cursor = None
    result = tick(defs, "hooks_webhook", instance, cursor)
    assert [r.run_key for r in result.run_requests] == [event_id]
    assert launch_request(root, "hooks", instance, result.run_requests[0]).success
    assert not tick(defs, "hooks_webhook", instance, result.cursor).run_requests
    revived = start_receiver(root, home)
    try:
        assert status_of(revived, "hooks", event_id)["status"] == "launched"
    finally:
        revived.stop()


def read_sse(url: str, token: str, events: list[tuple[str, dict]], done: threading.Event) -> None:
    request = urllib.request.Request(url, method="POST", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            assert response.status == 200 and response.headers["Content-Type"] == "text/event-stream"
            name = None
            for raw in response:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    name = line[len("event: ") :]
                elif line.startswith("data: ") and name:
                    events.append((name, json.loads(line[len("data: ") :])))
                    if name == "complete":
                        return
    finally:
        done.set()


def test_stream_delivers_log_events_and_the_final_status_row_24(env) -> None:
    root, _, instance, receiver, defs = env
    events: list[tuple[str, dict]] = []
    done = threading.Event()
    reader = threading.Thread(
        target=read_sse, args=(f"{receiver.url}/webhook/hooks?stream=true", TOKEN, events, done), daemon=True
    )
    reader.start()
    inbox = WebhookInbox.for_instance_dir(instance.root_directory)
    cursor = None
    request = None
    for _ in range(600):
        result = tick(defs, "hooks_webhook", instance, cursor)
        cursor = result.cursor
        if result.run_requests:
            request = result.run_requests[0]
            break
        done.wait(0.1)
    assert request is not None and "trakt/webhook_stream" in request.tags
    run = launch_request(root, "hooks", instance, request)
    assert run.success
    assert done.wait(120), events
    logs = [data for name, data in events if name == "log"]
    assert events[-1] == ("complete", {"status": "success"})
    assert [e["message"] for e in logs] == [f"hello from {run.report['run_id']}", "WARN: careful", "secret "]
    assert [e["level"] for e in logs] == ["info", "warn", "info"]
    first = logs[0]
    assert set(first) == {"timestamp", "run_id", "dag_name", "task_name", "level", "message", "attempt", "duration"}
    assert (first["run_id"], first["dag_name"], first["task_name"], first["attempt"]) == (
        run.report["run_id"],
        "hooks",
        "echo",
        1,
    )
    assert first["duration"].endswith(("ms", "s"))
    deadline = time.monotonic() + 60  # the receiver removes the stream file once it sent the last event
    while inbox.stream_path("hooks", request.run_key).exists():
        assert time.monotonic() < deadline, "the receiver left the stream file behind"
        time.sleep(0.1)


def test_tokens_from_an_age_file_row_42(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    identity = x25519.Identity.generate()
    root = workspace(
        tmp_path,
        {
            "pit_config.toml": 'secrets_dir = "secrets.toml.age"\n',
            "projects/hooks/pit.toml": project("hooks"),
            "projects/hooks/t.sh": "true\n",
        },
    )
    (root / "secrets.toml.age").write_bytes(pyrage.encrypt(textwrap.dedent(SECRETS).encode(), [identity.to_public()]))
    monkeypatch.setenv("PIT_AGE_KEY", str(identity))
    monkeypatch.delenv("PIT_SECRETS_FILE", raising=False)
    routes, warnings = load_routes(root)
    assert not warnings and routes["hooks"].token == TOKEN
    assert TOKEN not in repr(routes)
