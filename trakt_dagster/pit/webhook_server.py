"""The webhook receiver: pit's `POST /webhook/<dag>` outside the code location, answering as pit does.

| request | answer |
| --- | --- |
| any method but POST on `/webhook/...` | 405 `method not allowed` |
| empty name, unknown DAG, DAG without webhook, trailing slash or sub-path | 404 `not found` |
| missing or wrong `Authorization: Bearer <token>` (constant-time compare) | 401 `unauthorized` |
| accepted | 202, empty body, once the event is **on disk** (headers `Location` and `X-Trakt-Event-Id` name it) |
| the inbox cannot take it (full, or the disk refuses) | 503 `server busy` |
| `?stream=true` with `overlap = "skip"` while a run is queued, running or waiting in the inbox | 409 |
| `?stream=true` | 200 `text/event-stream`: `event: log` per task output line, then `event: complete` |
| `GET /webhook/<dag>/events/<id>` (same token) | 200 JSON: `queued`, `launched` (with the run id) or `skipped` |

The request body is never read (whatever its size, and without `100 Continue`). Tokens are resolved once at
start from each DAG's `token_secret` (project scope, then `[global]`; `.age` files too). A DAG whose token
cannot be resolved gets no route (404) and a warning. Run as `python -m trakt_dagster.pit.webhook_server`
(what `make run` does) or through `trakt-dagster pit serve`.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from trakt_dagster.core.names import dagster_name
from trakt_dagster.pit.webhook_inbox import DEFAULT_MAX_PENDING, EVENT_ID, InboxFull, WebhookInbox

LOG = logging.getLogger("trakt_dagster.pit.webhook")
DEFAULT_PORT = 9090
POLL_S = 0.25
KEEPALIVE_S = 15.0
TERMINAL = {"SUCCESS": "success", "FAILURE": "failed", "CANCELED": "failed"}

Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class WebhookRoute:
    """One DAG the receiver accepts: its name, bearer token, overlap policy and Dagster job name.

    Example:
        >>> WebhookRoute("sales", "t0k", "skip")
        WebhookRoute(dag='sales', overlap='skip')
    """

    dag: str
    token: str
    overlap: str = "allow"

    @property
    def job_name(self) -> str:
        return dagster_name(self.dag)

    def __repr__(self) -> str:
        return f"WebhookRoute(dag={self.dag!r}, overlap={self.overlap!r})"


def load_routes(root: Path, secrets_file: str | None = None) -> tuple[dict[str, WebhookRoute], list[str]]:
    """The webhook DAGs of a pit workspace with their resolved tokens, and a warning per DAG left out."""
    from trakt_dagster.pit.frontend import load_projects
    from trakt_dagster.pit.runtime import SECRETS_ENV, load_project_secrets
    from trakt_dagster.pit.secrets import SecretsError

    if secrets_file:
        os.environ[SECRETS_ENV] = str(Path(secrets_file).resolve())
    workspace, projects, result = load_projects(root)
    warnings = [f"{error.render()}" for error in result.errors]
    routes: dict[str, WebhookRoute] = {}
    for project in projects:
        if not project.webhook_token_secret:
            continue
        try:
            secrets = load_project_secrets(None, project, workspace)
            if secrets is None:
                raise SecretsError("there is no secrets file")
            token = secrets.resolve(project.webhook_token_secret)
        except SecretsError as exc:
            warnings.append(f"webhook of {project.name} disabled: its token cannot be resolved: {exc}")
            continue
        routes[project.name] = WebhookRoute(project.name, token, project.overlap_policy)
    return routes, warnings


class WebhookReceiver:
    """The ASGI application (run it with uvicorn).

    `instance` is the Dagster instance the daemon uses: its folder holds the inbox, and its runs answer
    the status endpoint and the stream.

    Example:
        >>> # app = WebhookReceiver(routes, instance); uvicorn.run(app, host="127.0.0.1", port=9090)
    """

    def __init__(
        self,
        routes: dict[str, WebhookRoute],
        instance: Any,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        verbose: bool = False,
    ) -> None:
        self.routes = routes
        self.instance = instance
        self.inbox = WebhookInbox.for_instance_dir(instance.root_directory)
        self.max_pending = max_pending
        self.verbose = verbose

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope["type"] != "http":  # uvicorn runs it with lifespan="off"
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if not path.startswith("/webhook/"):
            return await _text(send, 404, "404 page not found")
        name = path[len("/webhook/") :]
        dag, events, event_id = name.partition("/events/")
        if method == "GET" and events and dag in self.routes and "/" not in event_id:
            return await self._event_status(scope, send, self.routes[dag], event_id)
        if method != "POST":
            return await _text(send, 405, "method not allowed")
        route = self.routes.get(name)
        if not name or route is None:
            return await _text(send, 404, "not found")
        if not _authorized(scope, route.token):
            return await _text(send, 401, "unauthorized")
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if query.get("stream", [""])[0] == "true":
            return await self._stream(send, route)
        try:
            event = await asyncio.to_thread(self.inbox.accept, route.dag, max_pending=self.max_pending)
        except (InboxFull, OSError) as exc:
            LOG.warning("webhook %s refused (503): %s", route.dag, exc)
            return await _text(send, 503, "server busy")
        if self.verbose:
            LOG.info("webhook %s accepted: event %s", route.dag, event.id)
        await _respond(send, 202, b"", self._event_headers(route, event.id))

    def _event_headers(self, route: WebhookRoute, event_id: str) -> list[tuple[bytes, bytes]]:
        location = f"/webhook/{quote(route.dag)}/events/{event_id}"
        return [(b"location", location.encode()), (b"x-trakt-event-id", event_id.encode())]

    # -- status ---------------------------------------------------------------------------------------------

    def event_status(self, route: WebhookRoute, event_id: str) -> dict[str, Any] | None:
        """`queued`, `launched` (with the Dagster run id and its status) or `skipped` (with the reason)."""
        if not EVENT_ID.match(event_id):
            return None
        found = self.inbox.status(route.dag, event_id)
        run = self._run_of(event_id)
        if run is not None:
            return {
                "id": event_id,
                "dag": route.dag,
                "status": "launched",
                "run_id": run.run_id,
                "run_status": run.status.value,
            }
        if found is None:
            return None
        if found.get("status") == "requested":  # the run is being created
            found = {**found, "status": "queued"}
        return {key: found[key] for key in ("id", "dag", "status", "reason") if key in found}

    def _run_of(self, event_id: str) -> Any:
        import dagster as dg

        runs = self.instance.get_runs(filters=dg.RunsFilter(tags={"trakt/webhook_event": event_id}), limit=1)
        return runs[0] if runs else None

    async def _event_status(self, scope: dict[str, Any], send: Send, route: WebhookRoute, event_id: str) -> None:
        if not _authorized(scope, route.token):
            return await _text(send, 401, "unauthorized")
        status = await asyncio.to_thread(self.event_status, route, event_id)
        if status is None:
            return await _text(send, 404, "not found")
        body = json.dumps(status).encode()
        await _respond(send, 200, body, [(b"content-type", b"application/json")])

    # -- streaming ------------------------------------------------------------------------------------------

    def _busy(self, route: WebhookRoute) -> bool:
        from trakt_dagster.core.triggers import active_run_ids

        return bool(self.inbox.count_pending(route.dag)) or bool(active_run_ids(self.instance, route.job_name))

    async def _stream(self, send: Send, route: WebhookRoute) -> None:
        if route.overlap == "skip" and await asyncio.to_thread(self._busy, route):
            return await _text(send, 409, "DAG already running (overlap=skip)")
        try:
            event = await asyncio.to_thread(self.inbox.accept, route.dag, stream=True, max_pending=self.max_pending)
        except (InboxFull, OSError):
            return await _text(send, 503, "server busy")
        headers = [
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"no-cache"),
            (b"connection", b"keep-alive"),
            *self._event_headers(route, event.id),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        stream_file = self.inbox.stream_path(route.dag, event.id)
        try:
            await self._relay(send, route, event.id, stream_file)
        finally:
            stream_file.unlink(missing_ok=True)

    async def _relay(self, send: Send, route: WebhookRoute, event_id: str, stream_file: Path) -> None:
        last_beat = time.monotonic()
        while True:  # until the sensor launched the run (or skipped the event)
            status = await asyncio.to_thread(self.event_status, route, event_id)
            if status is not None and status["status"] == "skipped":
                return await _sse(send, "complete", {"status": "skipped", "reason": status.get("reason", "")}, True)
            if status is not None and status["status"] == "launched":
                run_id = status["run_id"]
                break
            if time.monotonic() - last_beat > KEEPALIVE_S:
                await send({"type": "http.response.body", "body": b": waiting for the sensor\n\n", "more_body": True})
                last_beat = time.monotonic()
            await asyncio.sleep(POLL_S)
        offset = 0
        final: str | None = None
        while True:
            records, offset = await asyncio.to_thread(_read_new, stream_file, offset)
            for record in records:
                if "status" in record and "message" not in record:
                    final = record["status"]
                else:
                    await _sse(send, "log", record)
            if final is not None:
                break
            run = await asyncio.to_thread(self.instance.get_run_by_id, run_id)
            if run is not None and run.status.value in TERMINAL:
                records, offset = await asyncio.to_thread(_read_new, stream_file, offset)
                for record in records:
                    if "message" in record:
                        await _sse(send, "log", record)
                    elif "status" in record:
                        final = record["status"]
                final = final or TERMINAL[run.status.value]
                break
            await asyncio.sleep(POLL_S)
        await _sse(send, "complete", {"status": final}, True)


def _read_new(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Complete JSON lines appended to `path` since `offset`."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    records = []
    for line in data[: end + 1].splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records, offset + end + 1


def _authorized(scope: dict[str, Any], token: str) -> bool:
    header = b""
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            header = value
            break
    provided = header[len(b"Bearer ") :] if header.startswith(b"Bearer ") else b""
    return hmac.compare_digest(provided, token.encode("utf-8"))


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _text(send: Send, status: int, message: str) -> None:
    """A plain-text error as Go's `http.Error` writes it."""
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"x-content-type-options", b"nosniff")]
    await _respond(send, status, (message + "\n").encode(), headers)


async def _sse(send: Send, event: str, data: dict[str, Any], last: bool = False) -> None:
    text = f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"
    await send({"type": "http.response.body", "body": text.encode("utf-8"), "more_body": not last})


# --- running it ----------------------------------------------------------------------------------------------


def open_instance() -> Any:
    """The Dagster instance of `$DAGSTER_HOME` (the one the daemon uses)."""
    import dagster as dg

    from trakt_dagster.core.instance import prepare_dagster_home

    if not os.environ.get("DAGSTER_HOME"):
        raise SystemExit("error: set DAGSTER_HOME to the folder of the Dagster instance the daemon uses")
    prepare_dagster_home()  # a new instance is created once, not raced for by the receiver and the daemon
    return dg.DagsterInstance.get()


def build_server(
    root: Path,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    secrets_file: str | None = None,
    max_pending: int = DEFAULT_MAX_PENDING,
    verbose: bool = False,
    instance: Any = None,
) -> Any:
    """A `uvicorn.Server` running the receiver for the pit workspace `root` (call `.run()`)."""
    import uvicorn

    routes, warnings = load_routes(root, secrets_file)
    for warning in warnings:
        LOG.warning("warning: %s", warning)
    app = WebhookReceiver(routes, instance or open_instance(), max_pending=max_pending, verbose=verbose)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        access_log=verbose,
        log_level="info" if verbose else "warning",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    dags = ", ".join(sorted(routes)) or "(no DAG has [dag.webhook])"
    LOG.warning("pit webhook receiver on http://%s:%d/webhook/<dag> for: %s", host, port, dags)
    return server


def main(argv: list[str] | None = None) -> None:
    """`python -m trakt_dagster.pit.webhook_server [--root .] [--host 127.0.0.1] [--port 9090] [--secrets F]`."""
    parser = argparse.ArgumentParser(
        prog="python -m trakt_dagster.pit.webhook_server", description="pit's webhook receiver on Dagster."
    )
    parser.add_argument("--root", default=".", help="workspace folder holding projects/ (and pit_config.toml)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (pit listens on all: 0.0.0.0)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--secrets", default=None, help="secrets TOML (default: $PIT_SECRETS_FILE or secrets_dir)")
    parser.add_argument("--max-pending", type=int, default=DEFAULT_MAX_PENDING, help="events per DAG before 503")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    server = build_server(
        Path(args.root).resolve(),
        host=args.host,
        port=args.port,
        secrets_file=args.secrets,
        max_pending=args.max_pending,
        verbose=args.verbose,
    )
    server.run()
    if not server.started:
        sys.exit(1)


if __name__ == "__main__":
    main()
