"""Run folder retention for every tool: how many run folders a pipeline keeps, for how long, and which of
their sub-folders survive a finished run.

A pipeline's own setting wins field by field over the root default (the `trakt_run_storage` resource).
Retention is applied when a run ends; it never touches a run that is still going: a folder whose
Dagster run is not finished, or (for runs the instance does not know) whose manifest still says
`running`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ARTIFACTS = ("logs", "project", "data", "values")
"""Sub-folders of a run folder retention may remove (`manifest.json` always stays)."""
SECONDS_PER_DAY = 86400.0
KEEP_RUNS_ENV = "TRAKT_DAGSTER_KEEP_RUNS"
KEEP_DAYS_ENV = "TRAKT_DAGSTER_KEEP_DAYS"
KEEP_ARTIFACTS_ENV = "TRAKT_DAGSTER_KEEP_ARTIFACTS"


@dataclass(frozen=True)
class RetentionPolicy:
    """How long a pipeline's run folders live.

    `keep_runs`: the newest finished run folders kept (older ones are removed); `keep_days`: finished run
    folders older than this are removed; `keep_artifacts`: the sub-folders of a finished run that stay
    (of `logs`, `project`, `data`, `values`; the others are removed, `manifest.json` always stays).
    None means "no limit" / "keep everything".

    Example:
        >>> RetentionPolicy(keep_runs=50).over(RetentionPolicy(keep_runs=10, keep_days=7))
        RetentionPolicy(keep_runs=50, keep_days=7, keep_artifacts=None)
    """

    keep_runs: int | None = None
    keep_days: float | None = None
    keep_artifacts: tuple[str, ...] | None = None

    def over(self, default: RetentionPolicy | None) -> RetentionPolicy:
        """This policy, with the fields it leaves unset taken from `default`."""
        if default is None:
            return self
        return replace(
            self,
            keep_runs=self.keep_runs if self.keep_runs is not None else default.keep_runs,
            keep_days=self.keep_days if self.keep_days is not None else default.keep_days,
            keep_artifacts=self.keep_artifacts if self.keep_artifacts is not None else default.keep_artifacts,
        )

    @property
    def active(self) -> bool:
        return self.keep_runs is not None or self.keep_days is not None or self.keep_artifacts is not None


def env_default() -> RetentionPolicy:
    """The deployment's default from `$TRAKT_DAGSTER_KEEP_RUNS`, `$TRAKT_DAGSTER_KEEP_DAYS` and
    `$TRAKT_DAGSTER_KEEP_ARTIFACTS` (comma-separated); unset or invalid values mean no limit.

    Example:
        >>> env_default().keep_runs is None or env_default().keep_runs >= 1
        True
    """
    values: dict[str, Any] = {}
    for key, env, parse in (
        ("keep_runs", KEEP_RUNS_ENV, int),
        ("keep_days", KEEP_DAYS_ENV, float),
        ("keep_artifacts", KEEP_ARTIFACTS_ENV, lambda t: [p.strip() for p in t.split(",") if p.strip()]),
    ):
        text = os.environ.get(env, "").strip()
        if text:
            try:
                values[key] = parse(text)
            except ValueError:
                continue
    bad = {key for key, _ in policy_problems(values)}
    return policy_from({k: v for k, v in values.items() if k not in bad})


def policy_problems(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Problems of a retention mapping (`keep_runs`, `keep_days`, `keep_artifacts`) as (key, message).

    Example:
        >>> for key, message in policy_problems({"keep_runs": 0, "keep_artifacts": ["logs", "cache"]}):
        ...     print(key, "-", message)
        keep_runs - must be a whole number of at least 1
        keep_artifacts - unknown folder(s): cache (known: logs, project, data, values)
    """
    found: list[tuple[str, str]] = []
    for key in values:
        if key not in ("keep_runs", "keep_days", "keep_artifacts"):
            found.append((key, "unknown retention key (known: keep_runs, keep_days, keep_artifacts)"))
    runs = values.get("keep_runs")
    if runs is not None and (isinstance(runs, bool) or not isinstance(runs, int) or runs < 1):
        found.append(("keep_runs", "must be a whole number of at least 1"))
    days = values.get("keep_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int | float) or days <= 0):
        found.append(("keep_days", "must be a number of days above 0"))
    artifacts = values.get("keep_artifacts")
    if artifacts is not None:
        if not isinstance(artifacts, list | tuple) or not all(isinstance(a, str) for a in artifacts):
            found.append(("keep_artifacts", f"must be a list of folder names ({', '.join(ARTIFACTS)})"))
        else:
            unknown = [a for a in artifacts if a not in ARTIFACTS]
            if unknown:
                found.append(
                    ("keep_artifacts", f"unknown folder(s): {', '.join(unknown)} (known: {', '.join(ARTIFACTS)})")
                )
    return found


def policy_from(values: Mapping[str, Any]) -> RetentionPolicy:
    """A policy from a mapping already checked by `policy_problems`."""
    artifacts = values.get("keep_artifacts")
    days = values.get("keep_days")
    return RetentionPolicy(
        keep_runs=values.get("keep_runs"),
        keep_days=float(days) if days is not None else None,
        keep_artifacts=tuple(artifacts) if artifacts is not None else None,
    )


@dataclass(frozen=True)
class RunFolderInfo:
    """One run folder of a pipeline, as retention sees it."""

    path: Path
    run_id: str
    started: float
    """Seconds since the epoch (the manifest's `started_at`, else the folder's modification time)."""
    status: str
    """The manifest's status (`running`, `success`, `failed`), or `unknown`."""


def list_run_folders(pipeline_dir: Path) -> list[RunFolderInfo]:
    """The run folders (those holding a `manifest.json`) of one pipeline, newest first."""
    found: list[RunFolderInfo] = []
    try:
        entries = list(os.scandir(pipeline_dir))
    except OSError:
        return found
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False) or entry.name.startswith("."):
            continue
        manifest = Path(entry.path) / "manifest.json"
        try:
            stat = manifest.stat()
        except OSError:
            continue
        started, status = stat.st_mtime, "unknown"
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            status = str(data.get("status", "unknown"))
            if data.get("started_at"):
                from datetime import datetime

                started = datetime.fromisoformat(data["started_at"]).timestamp()
        except (OSError, ValueError, TypeError, AttributeError):
            pass
        found.append(RunFolderInfo(Path(entry.path), entry.name, started, status))
    found.sort(key=lambda info: (info.started, info.run_id), reverse=True)
    return found


def prune_artifacts(run_dir: Path, keep: Iterable[str] | None) -> list[str]:
    """Remove the sub-folders of a finished run not in `keep` (None: keep all); returns those removed."""
    if keep is None:
        return []
    kept = set(keep)
    removed = []
    for name in ARTIFACTS:
        folder = run_dir / name
        if name not in kept and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(name)
    return removed


def apply_retention(
    pipeline_dir: Path,
    policy: RetentionPolicy,
    *,
    current_run_id: str | None = None,
    prune_current: bool = True,
    finished: Callable[[list[str]], Mapping[str, bool]] | None = None,
    now: float | None = None,
) -> list[str]:
    """Apply `policy` to the run folders of one pipeline; returns the run ids whose folders were removed.

    `current_run_id` (the run now ending) is never removed, and pruned only when `prune_current` (in step
    granularity later ops still need its folders). `finished(run_ids)` tells, for the runs the Dagster
    instance knows, whether each is finished; a run it does not know counts as going while its manifest
    says `running`. Runs still going are never touched and do not count towards `keep_runs`.

    Example:
        >>> import tempfile
        >>> apply_retention(Path(tempfile.mkdtemp()), RetentionPolicy(keep_runs=3))
        []
    """
    if not policy.active:
        return []
    now = time.time() if now is None else now
    folders = list_run_folders(pipeline_dir)
    known = dict(finished([f.run_id for f in folders])) if finished is not None else {}
    removed: list[str] = []
    kept = 0
    for info in folders:
        if info.run_id == current_run_id:
            kept += 1
            if prune_current:
                prune_artifacts(info.path, policy.keep_artifacts)
            continue
        done = known.get(info.run_id)
        if done is False or (done is None and info.status == "running"):
            continue  # still going
        too_many = policy.keep_runs is not None and kept >= policy.keep_runs
        too_old = policy.keep_days is not None and now - info.started > policy.keep_days * SECONDS_PER_DAY
        if too_many or too_old:
            shutil.rmtree(info.path, ignore_errors=True)
            removed.append(info.run_id)
            continue
        kept += 1
        prune_artifacts(info.path, policy.keep_artifacts)
    return removed
