"""The `trakt` names user code imports, served as `trakt` when the original is not installed.

`from trakt import step_contract, Context, Const, ...` in existing step modules resolves here through
the import hook in `trakt_dagster.trakt.compat_import` (see docs/trakt.md).
"""

from trakt_dagster.trakt.adapters import ArtifactAdapter, ArtifactAdapterRegistry, CsvArtifactAdapter
from trakt_dagster.trakt.context import Context
from trakt_dagster.trakt.contract import step_contract
from trakt_dagster.trakt.csv_io import combine_frames as combine_artifact_frames
from trakt_dagster.trakt.errors import PipelineLoadError, PipelineValidationError, StepBindingError
from trakt_dagster.trakt.model import Artifact, CombineStrategy, Const, OutputDataset, const
from trakt_dagster.trakt.registry import StepRegistry

__all__ = [
    "Artifact",
    "ArtifactAdapter",
    "ArtifactAdapterRegistry",
    "CombineStrategy",
    "Const",
    "Context",
    "CsvArtifactAdapter",
    "OutputDataset",
    "PipelineLoadError",
    "PipelineValidationError",
    "StepBindingError",
    "StepRegistry",
    "combine_artifact_frames",
    "const",
    "step_contract",
]
