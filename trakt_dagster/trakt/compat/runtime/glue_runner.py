"""`trakt.runtime.glue_runner`: trakt's `GlueRunner` (local parity, Glue ids in `ctx.metadata`)."""

from trakt_dagster.trakt.local_runner import GlueRunner

__all__ = ["GlueRunner"]
