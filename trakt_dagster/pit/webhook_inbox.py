"""The webhook inbox: every accepted webhook event, on disk, until its DAG's sensor has turned it into a run.

The receiver writes an event (temp file, fsync, rename, fsync of the folder) *before* it answers 202, so an
accepted event survives a crash of the receiver, the daemon or the machine. The DAG's sensor reads the
pending events in arrival order and requests one run per event (run key = event id) or records why it
skipped it. Layout, under `<Dagster instance folder>/pit-webhooks/<dag>/`:

    tmp/                 events being written (never read)
    pending/<id>.json    accepted, not yet handled by the sensor
    done/<id>.json       handled: {"status": "requested"} or {"status": "skipped", "reason": ...}
    streams/<id>.jsonl   the task log lines of a `?stream=true` run, written by the run for the receiver

No Dagster import here: the receiver and the sensor both use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trakt_dagster.core.names import dagster_name

INBOX_FOLDER = "pit-webhooks"
EVENT_ID = re.compile(r"^[0-9]{8}T[0-9]{6}_[0-9]{6}_[0-9a-f]{8}$")
"""Event ids: UTC arrival time to the microsecond plus a random suffix, so they sort in arrival order."""
DEFAULT_MAX_PENDING = 10_000


class InboxFull(Exception):
    """The DAG already has the maximum number of events waiting for its sensor."""


@dataclass(frozen=True)
class WebhookEvent:
    """One accepted webhook call.

    Example:
        >>> WebhookEvent("20261123T101502_123456_0a1b2c3d", "sales", "2026-11-23T10:15:02.123456+00:00").stream
        False
    """

    id: str
    dag: str
    received_at: str
    stream: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {"id": self.id, "dag": self.dag, "received_at": self.received_at, "stream": self.stream}, sort_keys=True
        )

    @classmethod
    def from_json(cls, text: str) -> WebhookEvent:
        data = json.loads(text)
        return cls(str(data["id"]), str(data["dag"]), str(data["received_at"]), bool(data.get("stream")))


_last_ns = 0
_id_lock = threading.Lock()


def new_event_id() -> str:
    """A fresh event id, strictly increasing within this process.

    Example:
        >>> a, b = new_event_id(), new_event_id()
        >>> a < b and bool(EVENT_ID.match(a))
        True
    """
    global _last_ns
    with _id_lock:
        now = max(time.time_ns(), _last_ns + 1000)
        _last_ns = now
    stamp = datetime.fromtimestamp(now // 1000 / 1e6, UTC)
    return f"{stamp:%Y%m%dT%H%M%S}_{stamp.microsecond:06d}_{secrets.token_hex(4)}"


def durable_write(target: Path, text: str) -> None:
    """Write `text` to `target` so that it is complete and on disk once this returns (or absent on error)."""
    tmp = target.parent.parent / "tmp" / f"{target.name}.{secrets.token_hex(4)}.tmp"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_folder(target.parent)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class WebhookInbox:
    """The inbox folder shared by the receiver and the webhook sensors (one sub-folder per DAG).

    Example:
        >>> import tempfile
        >>> inbox = WebhookInbox(Path(tempfile.mkdtemp()))
        >>> event = inbox.accept("sales")
        >>> [e.id for e in inbox.pending("sales")] == [event.id], inbox.status("sales", event.id)["status"]
        (True, 'queued')
    """

    root: Path

    @classmethod
    def for_instance_dir(cls, instance_dir: str | os.PathLike[str]) -> WebhookInbox:
        """The inbox of the Dagster instance whose folder (`DAGSTER_HOME`) is `instance_dir`."""
        return cls(Path(instance_dir) / INBOX_FOLDER)

    def folder(self, dag: str) -> Path:
        return self.root / dagster_name(dag)

    def stream_path(self, dag: str, event_id: str) -> Path:
        return self.folder(dag) / "streams" / f"{event_id}.jsonl"

    def count_pending(self, dag: str) -> int:
        try:
            with os.scandir(self.folder(dag) / "pending") as entries:
                return sum(1 for entry in entries if entry.name.endswith(".json"))
        except FileNotFoundError:
            return 0

    def accept(self, dag: str, *, stream: bool = False, max_pending: int = DEFAULT_MAX_PENDING) -> WebhookEvent:
        """Store a new event durably; raises `InboxFull` when `max_pending` events already wait, `OSError`
        when the disk refuses it."""
        if self.count_pending(dag) >= max_pending:
            raise InboxFull(f"{max_pending} events of {dag} are waiting for its sensor")
        event = WebhookEvent(new_event_id(), dag, datetime.now(UTC).isoformat(), stream)
        if stream:
            path = self.stream_path(dag, event.id)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        durable_write(self.folder(dag) / "pending" / f"{event.id}.json", event.to_json())
        return event

    def pending(self, dag: str) -> list[WebhookEvent]:
        """Events waiting for the sensor, oldest first (unreadable files are left alone)."""
        folder = self.folder(dag) / "pending"
        try:
            names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))
        except FileNotFoundError:
            return []
        events = []
        for name in names:
            with contextlib.suppress(OSError, ValueError, KeyError):
                events.append(WebhookEvent.from_json((folder / name).read_text(encoding="utf-8")))
        return events

    def finish(self, dag: str, event_id: str, outcome: dict[str, Any]) -> None:
        """Record how an event was handled (`done/<id>.json`), then remove it from `pending/`."""
        record = {"id": event_id, "dag": dag, "handled_at": datetime.now(UTC).isoformat(), **outcome}
        durable_write(self.folder(dag) / "done" / f"{event_id}.json", json.dumps(record, sort_keys=True))
        with contextlib.suppress(FileNotFoundError):
            (self.folder(dag) / "pending" / f"{event_id}.json").unlink()

    def status(self, dag: str, event_id: str) -> dict[str, Any] | None:
        """What the files say about an event: `queued`, `requested`, `skipped` (with the reason), or None."""
        if not EVENT_ID.match(event_id):
            return None
        done = self.folder(dag) / "done" / f"{event_id}.json"
        with contextlib.suppress(FileNotFoundError, ValueError):
            return json.loads(done.read_text(encoding="utf-8"))
        if (self.folder(dag) / "pending" / f"{event_id}.json").exists():
            return {"id": event_id, "dag": dag, "status": "queued"}
        return None
