"""Dagster resources shared by every pipeline: where run folders go and how long they are kept."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from trakt_dagster.core.retention import RetentionPolicy

RUN_STORAGE_KEY = "trakt_run_storage"


class RunStorage(dg.ConfigurableResource):
    """Where run folders are written (`<runs_dir>/<pipeline>/<dagster run id>/`) and the root default of
    their retention (a pipeline's own retention setting wins, field by field).

    Bound by `build_definitions` (default `runs/` beside definitions.py); change it per deployment with
    `TRAKT_DAGSTER_RUNS_DIR` (and `TRAKT_DAGSTER_KEEP_RUNS` / `TRAKT_DAGSTER_KEEP_DAYS`) or per run in the
    launchpad:

    Example:
        ```yaml
        resources:
          trakt_run_storage:
            config:
              runs_dir: /data/dagster-runs
              keep_runs: 100
              keep_artifacts: [logs]
        ```
    """

    runs_dir: str
    keep_runs: int | None = Field(
        default=None, description="Newest finished run folders kept per pipeline (older ones removed); unset: all."
    )
    keep_days: float | None = Field(
        default=None, description="Finished run folders older than this many days are removed; unset: no limit."
    )
    keep_artifacts: list[str] | None = Field(
        default=None,
        description="Sub-folders of a finished run that stay (of logs, project, data, values); unset: all.",
    )

    def retention(self) -> RetentionPolicy:
        """The root default retention."""
        return RetentionPolicy(
            keep_runs=self.keep_runs,
            keep_days=self.keep_days,
            keep_artifacts=tuple(self.keep_artifacts) if self.keep_artifacts is not None else None,
        )


_SHARED: dict[tuple[type, str], object] = {}
_CANONICAL: dict[int, object] = {}
"""The objects in `_SHARED`, by id (kept alive there, so an id is never reused for another object)."""


def shared_resource(resource: object) -> object:
    """One object per resource type and configuration, so the definitions of several Components (each built
    on its own) merge: Dagster accepts a resource key twice only when it is the very same object.

    Example:
        >>> shared_resource(RunStorage(runs_dir="runs")) is shared_resource(RunStorage(runs_dir="runs"))
        True
    """
    if _CANONICAL.get(id(resource)) is resource:
        return resource  # already the shared one (a load passes the same objects for every pipeline)
    dump = getattr(resource, "model_dump", None)
    if dump is None:
        return resource
    try:
        key = (type(resource), repr(sorted(dump().items())))
    except Exception:  # noqa: BLE001 - a configuration that cannot be compared stays its own object
        return resource
    shared = _SHARED.setdefault(key, resource)
    _CANONICAL[id(shared)] = shared
    return shared
