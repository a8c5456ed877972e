"""flowrun DAGs on Dagster, and the README `Pipeline` API that flowrun-dag 1.0.0 does not ship.

README-style code runs by changing one import:

Example:
    ```python
    from trakt_dagster.flowrun import Pipeline, RunContext, fn_hook

    pipeline = Pipeline("orders", max_parallel=2, hooks=[fn_hook(on_task_failure=print)])

    @pipeline.task(retries=2)
    def extract(context: RunContext[dict]) -> list[dict]:
        return context.deps["source"]()
    ```

Modules under `pipelines/` that hold flowrun engines, DAG scopes or pipelines become Dagster assets and
jobs (see docs/flowrun.md); `RunContext`, `RunHook`, `fn_hook` and `RunCancelledError` are flowrun's own.
"""

from trakt_dagster._lazy import lazy_exports

# Imported on first use (PEP 562): the `trakt-dagster flowrun` commands' help does not import flowrun-dag.
_EXPORTS = {
    "Pipeline": "trakt_dagster.flowrun.pipeline",
    "RunCancelledError": "flowrun",
    "RunContext": "flowrun",
    "RunHook": "flowrun",
    "fn_hook": "flowrun",
}


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)


__all__ = ["Pipeline", "RunCancelledError", "RunContext", "RunHook", "fn_hook"]
