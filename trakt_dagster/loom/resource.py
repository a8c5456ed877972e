"""`LoomRunnerResource`: builds loom's own `ETLRunner` for each run, from the pipeline's runner config.

The runner is built the way `ETLRunner.from_yaml` builds it (loom's `from_config` with the file's config
context, so loom wires its backends, lineage, OpenTelemetry, `FromConfig` values, agents and deploy checks
as it always does); the adapter adds its observer, and relative local paths of the config are taken
relative to the config's folder. loom accepts cloud URIs only for `storage.temp.root`; when that key is not set
the runner gets a `CheckpointStore` on a local folder instead (the resource's `temp_dir`, the config's
`dagster: {temp_root: ...}`, or `<runs dir>/<pipeline>/checkpoints`), so temps work on one machine too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from trakt_dagster.loom.config import RunnerConfig

LOOM_RUNNER_KEY = "loom_runner"


class LoomRunnerResource(dg.ConfigurableResource):
    """How trakt-dagster builds loom's `ETLRunner` for a run (resource key `loom_runner`).

    Example:
        ```python
        from trakt_dagster import build_definitions
        from trakt_dagster.loom import LoomRunnerResource

        defs = build_definitions(root, resources={"loom_runner": LoomRunnerResource(temp_dir="/data/loom-temps")})
        ```
    """

    temp_dir: str | None = Field(
        default=None,
        description="Local folder for loom temps (checkpoints) of every pipeline whose config sets no "
        "storage.temp.root; default: the config's dagster.temp_root, else <runs dir>/<pipeline>/checkpoints.",
    )
    environment: str | None = Field(
        default=None,
        description="loom environment (production, staging, development, test) for the runner; default: the "
        "config's dagster.environment, else LOOM_ENV, else loom's default (production).",
    )
    max_workers: int | None = Field(
        default=None,
        description="Threads per parallel group (loom's ThreadDispatcher); default: one per group member.",
    )

    def checkpoint_root(self, config: RunnerConfig, pipeline: str, default: Path) -> Path | None:
        """The local checkpoint folder of a pipeline, or None when loom's config has a cloud temp root."""
        if config.uses_cloud_temps:
            return None
        settings = config.settings_for(pipeline)
        if self.temp_dir:
            return Path(self.temp_dir) / pipeline
        if settings.temp_root:
            folder = config.path if config.path.is_dir() else config.path.parent
            return folder / settings.temp_root  # relative to the config's folder, like its other paths
        return default

    def environment_for(self, config: RunnerConfig, pipeline: str) -> str | None:
        return self.environment or config.settings_for(pipeline).environment

    def build_runner(
        self,
        config: RunnerConfig,
        *,
        pipeline: str,
        observers: Sequence[Any],
        default_temp_root: Path,
    ) -> Any:
        """loom's `ETLRunner` for one run of `pipeline`, with the adapter's observers added."""
        return build_runner(
            config,
            observers=observers,
            checkpoint_root=self.checkpoint_root(config, pipeline, default_temp_root),
            environment=self.environment_for(config, pipeline),
            max_workers=self.max_workers,
        )


def build_runner(
    config: RunnerConfig,
    *,
    observers: Sequence[Any] = (),
    checkpoint_root: Path | None = None,
    environment: str | None = None,
    max_workers: int | None = None,
) -> Any:
    """loom's `ETLRunner` for a runner config, built as `ETLRunner.from_yaml` builds it (same config
    context, backends, lineage, agents and deploy checks) from the config read at load, whose relative
    paths are already absolute; plus `observers`, and a local `CheckpointStore` when `checkpoint_root` is
    given (loom's config then has no `storage.temp.root`)."""
    import warnings

    from loom.etl import ETLRunner
    from loom.etl.executor import ThreadDispatcher
    from loom.etl.runner._wiring import make_agent_runner

    from trakt_dagster.loom.config import read_runner_config

    if environment is not None and environment != config.environment:
        config = read_runner_config(config.path, environment)
    runner_class = ETLRunner if checkpoint_root is None else local_checkpoints(checkpoint_root)
    folder = config.path if config.path.is_dir() else config.path.parent
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # OmegaConf's deprecation notice on every load
        agents = make_agent_runner(config.context, folder, config=config.storage)
        return runner_class.from_config(
            config.storage,
            config.observability,
            extra_observers=list(observers),
            config_context=config.context,
            agents=agents,
            environment=config.environment,
            dispatcher=ThreadDispatcher(max_workers=max_workers) if max_workers else None,
        )


def local_checkpoints(root: Path) -> type:
    """`ETLRunner` whose runners keep temps in a `CheckpointStore` on the local folder `root`.

    loom's constructor takes the checkpoint store; its config path builds one only for cloud roots. This
    subclass changes nothing but that argument, so the runner is otherwise exactly what `from_yaml` builds.
    """
    from loom.etl import CheckpointStore, ETLRunner

    store = CheckpointStore(root=str(Path(root).resolve()))

    class LocalCheckpointETLRunner(ETLRunner):
        def __init__(
            self,
            reader: Any,
            writer: Any,
            observability: Any = None,
            dispatcher: Any = None,
            checkpoint_store: Any = None,
            *args: Any,
            **kwargs: Any,
        ) -> None:
            super().__init__(reader, writer, observability, dispatcher, checkpoint_store or store, *args, **kwargs)

    return LocalCheckpointETLRunner
