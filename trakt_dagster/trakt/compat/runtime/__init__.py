"""`trakt.runtime`: trakt's runner classes (they run the pipeline through Dagster in this process)."""

from trakt_dagster.trakt.local_runner import GlueRunner, LambdaRunner, LocalRunner, RunnerBase

__all__ = ["GlueRunner", "LambdaRunner", "LocalRunner", "RunnerBase"]
