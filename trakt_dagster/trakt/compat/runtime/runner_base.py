"""`trakt.runtime.runner_base`: trakt's `RunnerBase` (the class every runner derives from)."""

from trakt_dagster.trakt.local_runner import RunnerBase

__all__ = ["RunnerBase"]
