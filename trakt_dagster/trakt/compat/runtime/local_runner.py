"""`trakt.runtime.local_runner`: `from trakt.runtime.local_runner import LocalRunner`, as trakt's docs write it."""

from trakt_dagster.trakt.local_runner import LocalRunner

__all__ = ["LocalRunner"]
