"""The `trakt` names user code imports, served as `trakt` when the original is not installed.

`from trakt import step_contract, Context, Const, ...` in existing step modules and DSL scripts resolves
here through the import hook in `trakt_dagster.trakt.compat_import` (see docs/trakt.md).
"""

from trakt_dagster.trakt.adapters import ArtifactAdapter, ArtifactAdapterRegistry, CsvArtifactAdapter
from trakt_dagster.trakt.context import Context
from trakt_dagster.trakt.contract import step_contract
from trakt_dagster.trakt.csv_io import combine_frames as combine_artifact_frames
from trakt_dagster.trakt.dsl import (
    WorkflowArtifact,
    WorkflowBuilder,
    WorkflowRef,
    WorkflowStep,
    artifact,
    ref,
    step,
    workflow,
)
from trakt_dagster.trakt.errors import PipelineLoadError, PipelineValidationError, StepBindingError
from trakt_dagster.trakt.local_runner import (
    GlueRunner,
    LambdaRunner,
    LocalRunner,
    RunnerBase,
    load_pipeline_from_yaml,
)
from trakt_dagster.trakt.model import Artifact, CombineStrategy, Const, OutputDataset, PipelineSpec, StepSpec, const
from trakt_dagster.trakt.policies import (
    DedupePolicy,
    JoinPolicy,
    QualityGatePolicy,
    RenamePolicy,
    apply_dedupe_policy,
    apply_join_policy,
    apply_rename_policy,
    evaluate_quality_gates,
)
from trakt_dagster.trakt.registry import StepRegistry

Pipeline = PipelineSpec
ResolvedStep = StepSpec
Step = StepSpec

__all__ = [
    "Artifact",
    "ArtifactAdapter",
    "ArtifactAdapterRegistry",
    "CombineStrategy",
    "Const",
    "Context",
    "CsvArtifactAdapter",
    "DedupePolicy",
    "GlueRunner",
    "JoinPolicy",
    "LambdaRunner",
    "LocalRunner",
    "OutputDataset",
    "Pipeline",
    "PipelineLoadError",
    "PipelineValidationError",
    "QualityGatePolicy",
    "RenamePolicy",
    "ResolvedStep",
    "RunnerBase",
    "Step",
    "StepBindingError",
    "StepRegistry",
    "WorkflowArtifact",
    "WorkflowBuilder",
    "WorkflowRef",
    "WorkflowStep",
    "apply_dedupe_policy",
    "apply_join_policy",
    "apply_rename_policy",
    "artifact",
    "combine_artifact_frames",
    "const",
    "evaluate_quality_gates",
    "load_pipeline_from_yaml",
    "ref",
    "step",
    "step_contract",
    "workflow",
]
