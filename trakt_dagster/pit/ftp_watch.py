"""pit's `[dag.ftp_watch]` on Dagster: the sensor `<dag>_ftp_watch` and the run's download and archive.

The sensor ticks every `poll_interval` (see `sensor_interval`), lists `directory`, keeps the plain files whose
names match `pattern` (Go `path.Match`: case-sensitive, `[!x]` is not a negation, a malformed pattern matches
nothing) and tracks each file's size and time. A file is stable once unchanged for `stable_seconds` (exactly
at the threshold counts; a new file therefore needs two ticks at least); every stable file not run yet goes into **one**
run request for the batch, sorted by name. A file's identity is (name, size, modification time): an
identity that has had a run never triggers again — not after a success without `archive_dir`, not after a
failed run (unlike pit, which re-triggers such files forever) — and a changed file (new size or time) is
new. The cursor (tracked files, launched identities) survives daemon restarts; a connection or listing
error is logged and the next tick retries with the tracked state intact.

The run downloads the batch into its `data/` (by base name) before the first task; when the whole run
succeeded and `archive_dir` is set, the files are moved there on the server (folder created when missing)
unless they changed since the download. After a failure they stay where they are.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from trakt_dagster.core.names import dagster_name
from trakt_dagster.core.redact import Redactor
from trakt_dagster.core.triggers import default_status, overlap_skip_reason, overlap_tags
from trakt_dagster.pit.ftp_client import (
    FtpWatchError,
    RemoteFile,
    download,
    ftp_credentials,
    ftp_session,
    list_files,
    make_dirs,
    move,
    remote_path,
)
from trakt_dagster.pit.model import FtpWatchSettings, PitProject, WorkspaceConfig
from trakt_dagster.pit.secrets import ProjectSecrets, SecretsError

FILES_TAG = "trakt/ftp_files"
TRIGGER_TAG = "trakt/trigger"
LogFn = Callable[[str, str], None]


def ftp_sensor_name(dag: str) -> str:
    """`<dag>_ftp_watch`.

    Example:
        >>> ftp_sensor_name("sales")
        'sales_ftp_watch'
    """
    return f"{dagster_name(dag)}_ftp_watch"


@dataclass
class WatchState:
    """The sensor's cursor: tracked files (`{name: {size, mtime, first_seen}}`) and launched identities.

    Example:
        >>> state = WatchState()
        >>> state.observe([RemoteFile("a.csv", 10)], now=0.0, stable_seconds=30)
        []
        >>> state.observe([RemoteFile("a.csv", 20)], now=30.0, stable_seconds=30)  # still growing
        []
        >>> [f.name for f in state.observe([RemoteFile("a.csv", 20)], now=60.0, stable_seconds=30)]
        ['a.csv']
    """

    tracking: dict[str, dict[str, Any]] = field(default_factory=dict)
    launched: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> WatchState:
        if not cursor:
            return cls()
        data = json.loads(cursor)
        return cls(dict(data.get("tracking", {})), dict(data.get("launched", {})))

    def to_cursor(self) -> str:
        return json.dumps({"tracking": self.tracking, "launched": self.launched}, sort_keys=True)

    def observe(self, listing: list[RemoteFile], *, now: float, stable_seconds: float) -> list[RemoteFile]:
        """Take one listing into account; returns the stable files that have not had a run yet."""
        tracking: dict[str, dict[str, Any]] = {}
        for item in listing:
            previous = self.tracking.get(item.name)
            if previous is not None and previous["size"] == item.size and previous["mtime"] == item.mtime:
                tracking[item.name] = previous
            else:  # new, or changed: the stability timer starts again
                tracking[item.name] = {"size": item.size, "mtime": item.mtime, "first_seen": now}
        self.tracking = tracking  # vanished files are forgotten
        listed = {item.key for item in listing}
        self.launched = {key: at for key, at in self.launched.items() if key in listed}
        return [
            item
            for item in listing
            if now - tracking[item.name]["first_seen"] >= stable_seconds and item.key not in self.launched
        ]

    def mark_launched(self, files: list[RemoteFile], now: float) -> None:
        for item in files:
            self.launched[item.key] = now


def sensor_interval(poll_interval: float) -> int:
    """The sensor's minimum interval for pit's `poll_interval`: one second less (at least one), so that ticks come
    every `poll_interval` — the daemon starts a loop about every 5 s and skips a sensor whose last tick is a hair
    less than its minimum interval ago, which would stretch a 5 s poll to 10 s.

    Example:
        >>> sensor_interval(30), sensor_interval(5), sensor_interval(1)
        (29, 4, 1)
    """
    return max(1, math.ceil(poll_interval) - 1)


def batch_run_key(files: list[RemoteFile]) -> str:
    """The run key of a batch: derived from every file's (name, size, time).

    Example:
        >>> batch_run_key([RemoteFile("a.csv", 1, "t")]) == batch_run_key([RemoteFile("a.csv", 1, "t")])
        True
    """
    digest = hashlib.sha256("\n".join(sorted(f.key for f in files)).encode()).hexdigest()
    return f"ftp:{digest[:40]}"


def secrets_for(resource: Any, project: PitProject, workspace: WorkspaceConfig) -> ProjectSecrets | None:
    """The project's secrets as the pit_secrets resource finds them (also `.age`)."""
    from trakt_dagster.pit.runtime import load_project_secrets

    return load_project_secrets(resource, project, workspace)


def build_ftp_sensor(project: PitProject, workspace: WorkspaceConfig, job: Any) -> dg.SensorDefinition:
    """The FTP-watch sensor of a pit DAG (running by default, like pit's watcher under `pit serve`).

    Example:
        >>> # build_ftp_sensor(project, workspace, job).evaluate_tick(dg.build_sensor_context(...))
    """
    from trakt_dagster.pit.runtime import SECRETS_RESOURCE_KEY

    settings = project.ftp_watch
    assert settings is not None
    dag = project.name
    overlap = project.overlap_policy
    interval = sensor_interval(settings.poll_interval)

    @dg.sensor(
        name=ftp_sensor_name(dag),
        job=job,
        minimum_interval_seconds=interval,
        default_status=default_status(True),
        required_resource_keys={SECRETS_RESOURCE_KEY},
        description=(
            f"pit FTP watch of '{dag}': {settings.directory}/{settings.pattern}, stable for "
            f"{settings.stable_seconds}s (overlap: {overlap})"
        ),
        tags={"trakt/pipeline": dagster_name(dag)},
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        state = WatchState.from_cursor(context.cursor)
        redactor = Redactor()
        try:
            secrets = secrets_for(getattr(context.resources, SECRETS_RESOURCE_KEY), project, workspace)
            if secrets is not None:
                redactor.add(secrets.values())
            creds = ftp_credentials(settings, secrets)
            with ftp_session(creds) as ftp:
                listing = list_files(ftp, settings.directory, settings.pattern)
        except (FtpWatchError, SecretsError, OSError) as exc:
            message = redactor.text(f"FTP watch of {dag}: {exc}; tracked files kept, retrying next tick")
            context.log.error(message)
            return dg.SensorResult(skip_reason=message, cursor=context.cursor)
        now = time.time()
        fresh = state.observe(listing, now=now, stable_seconds=settings.stable_seconds)
        growing = [f.name for f in listing if now - state.tracking[f.name]["first_seen"] < settings.stable_seconds]
        if not fresh:
            detail = f"; waiting for {', '.join(growing)} to stay unchanged" if growing else ""
            return dg.SensorResult(
                skip_reason=f"no new stable file in {settings.directory}{detail}", cursor=state.to_cursor()
            )
        reason = overlap_skip_reason(context.instance, job.name, overlap)
        if reason:  # the files stay tracked and run once the active run is over
            names = ", ".join(f.name for f in fresh)
            return dg.SensorResult(skip_reason=f"{reason}; {names} will run after it", cursor=state.to_cursor())
        state.mark_launched(fresh, now)
        names = [f.name for f in fresh]
        context.log.info(f"FTP watch of {dag}: {len(names)} stable file(s): {', '.join(names)}")
        tags = {
            "trakt/pipeline": dagster_name(dag),
            TRIGGER_TAG: "ftp_watch",
            FILES_TAG: json.dumps(names),
            "trakt/ftp_directory": settings.directory,
        }
        request = dg.RunRequest(run_key=batch_run_key(fresh), tags=overlap_tags(overlap, tags))
        return dg.SensorResult(run_requests=[request], cursor=state.to_cursor())

    return _sensor


# --- the run's side --------------------------------------------------------------------------------------------


@dataclass
class FtpBatch:
    """The files an FTP-triggered run downloaded, with their identities at download time."""

    settings: FtpWatchSettings
    files: list[RemoteFile] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    archive_error: str | None = None

    def report(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "source": "ftp_watch",
            "directory": self.settings.directory,
            "files": [{"name": f.name, "size": f.size, "mtime": f.mtime} for f in self.files],
        }
        if self.settings.archive_dir:
            found["archive_dir"] = self.settings.archive_dir
            found["archived"] = list(self.archived)
        if self.archive_error:
            found["archive_error"] = self.archive_error
        return found


def batch_names(tags: dict[str, str]) -> list[str] | None:
    """The file names an FTP-triggered run must fetch (from its tags), or None for other runs."""
    if tags.get(TRIGGER_TAG) != "ftp_watch" or FILES_TAG not in tags:
        return None
    names = json.loads(tags[FILES_TAG])
    return sorted(str(Path(str(n)).name) for n in names)


def download_batch(
    settings: FtpWatchSettings, secrets: ProjectSecrets | None, names: list[str], data_dir: Path, log: LogFn
) -> FtpBatch:
    """Fetch the batch into `data_dir` (by base name); raises `FtpWatchError` when a file cannot be had."""
    creds = ftp_credentials(settings, secrets)
    batch = FtpBatch(settings)
    with ftp_session(creds) as ftp:
        listed = {f.name: f for f in list_files(ftp, settings.directory, "*")}
        for name in names:
            if name not in listed:
                raise FtpWatchError(f'"{remote_path(settings.directory, name)}" is no longer on the server')
            size = download(ftp, settings.directory, name, data_dir / name)
            batch.files.append(listed[name])
            log("info", f"[ftp_watch] downloaded {remote_path(settings.directory, name)} to data/{name} ({size} bytes)")
    return batch


def archive_batch(batch: FtpBatch, secrets: ProjectSecrets | None, log: LogFn) -> None:
    """Move the batch's files to `archive_dir` (created when missing); files changed since the download stay."""
    settings = batch.settings
    if not settings.archive_dir or not batch.files:
        return
    try:
        with ftp_session(ftp_credentials(settings, secrets)) as ftp:
            current = {f.name: f for f in list_files(ftp, settings.directory, "*")}
            make_dirs(ftp, settings.archive_dir)
            for item in batch.files:
                now = current.get(item.name)
                if now is None or now.key != item.key:
                    log("warning", f"[ftp_watch] {item.name} changed on the server since the run fetched it: kept")
                    continue
                move(ftp, remote_path(settings.directory, item.name), remote_path(settings.archive_dir, item.name))
                batch.archived.append(item.name)
                log("info", f"[ftp_watch] archived {item.name} to {settings.archive_dir}/")
    except FtpWatchError as exc:
        batch.archive_error = str(exc)
        log("error", f"[ftp_watch] archiving failed: {exc} (the files stay on the server and do not run again)")
