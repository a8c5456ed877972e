"""`trakt.runtime.lambda_runner`: trakt's `LambdaRunner` (local parity, `max_batch_rows` per input)."""

from trakt_dagster.trakt.local_runner import LambdaRunner

__all__ = ["LambdaRunner"]
