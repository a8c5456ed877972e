"""A parsed trakt pipeline → the neutral `TaskGraph` (inputs, steps and outputs as tasks).

Inputs become external assets (the files) plus hidden loading tasks; every step and every output
dataset becomes an asset `[<pipeline>, <name>]`. trakt runs steps strictly in YAML order in one
process, so the graph runs one task at a time and stops at the first failure.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from trakt_dagster.core.errors import SourceLocation
from trakt_dagster.core.graph import (
    FILE_SETTINGS,
    CheckDefinition,
    CronTrigger,
    ExternalDataset,
    FailurePolicy,
    Granularity,
    OpRetries,
    SnapshotSpec,
    Task,
    TaskGraph,
    TaskRole,
)
from trakt_dagster.core.metadata import metadata_entries
from trakt_dagster.core.source_text import docstring_of, leading_comment
from trakt_dagster.trakt.bindings import references
from trakt_dagster.trakt.metadata import (
    TraktInputMetadataSet,
    TraktOutputMetadataSet,
    TraktStepMetadataSet,
    json_list,
)
from trakt_dagster.trakt.model import Const, PipelineSpec, StepSpec
from trakt_dagster.trakt.policies import QualityGatePolicy, gate_check_names
from trakt_dagster.trakt.runtime import PATHS_RESOURCE_KEY, TraktPaths, TraktRunConfig, make_session_factory
from trakt_dagster.trakt.tasks import LoadInput, RunStep, WriteOutput

TOOL = "trakt"
SOURCE_SUFFIXES = (".py", ".yaml", ".yml", ".json", ".toml", ".sql", ".md", ".cfg", ".ini")
DEFAULT_PATHS = TraktPaths()


def input_task_key(name: str) -> str:
    return f"input:{name}"


def output_task_key(name: str) -> str:
    return f"output:{name}"


def asset_names(spec: PipelineSpec) -> tuple[dict[str, str], dict[str, str]]:
    """Asset names of steps and inputs: output datasets keep their names; a step or input sharing a
    name with a dataset (or an input with a step) gets a `_step` / `_input` suffix."""
    outputs = {o.name for o in spec.outputs}
    steps = {s.id: (f"{s.id}_step" if s.id in outputs else s.id) for s in spec.steps}
    taken = outputs | set(steps.values())
    inputs = {i.name: (f"{i.name}_input" if i.name in taken else i.name) for i in spec.inputs}
    return steps, inputs


def _doc_summary(obj: object) -> str | None:
    doc = getattr(obj, "__doc__", None)
    if not doc:
        return None
    return doc.strip().splitlines()[0].strip() or None


def step_description(step: StepSpec, location: SourceLocation | None = None) -> str:
    """What the step's code says about itself: its handler's docstring, else its module's docstring, else
    a generic line naming what it uses (`location`: the handler's, when the caller has it already)."""
    return (
        _doc_summary(step.handler)
        or _module_docstring(step.handler, location or step_code_location(step))
        or f"trakt step '{step.id}' (uses {step.uses})"
    )


def _module_docstring(handler: object, location: SourceLocation | None) -> str | None:
    """The docstring of the module defining `handler`: read from the imported module (its `__doc__` is the
    file's docstring), else parsed from the file."""
    function = inspect.unwrap(handler) if callable(handler) else None
    namespace = getattr(function, "__globals__", None)
    if isinstance(namespace, dict) and location is not None and namespace.get("__file__") == str(location.file):
        doc = namespace.get("__doc__")
        return (inspect.cleandoc(doc).strip() or None) if isinstance(doc, str) else None
    return docstring_of(location.file) if location is not None else None


def step_code_location(step: StepSpec) -> SourceLocation | None:
    """The file and line of the step's handler (its module), for a code link.

    A plain function's line is its code object's first line (the `def`, or its first decorator), which is
    what `inspect.getsourcelines` finds, without reading and tokenizing the file; other callables go
    through `inspect`.
    """
    handler = inspect.unwrap(step.handler) if callable(step.handler) else None
    if handler is None:
        return None
    code = getattr(handler, "__code__", None) if inspect.isfunction(handler) else None
    if code is not None and code.co_filename == getattr(handler, "__globals__", {}).get("__file__"):
        return SourceLocation(Path(code.co_filename), code.co_firstlineno, step.uses)  # its module's own file
    try:
        file = inspect.getsourcefile(handler)
        if not file:
            return None
        if inspect.isfunction(handler) or inspect.ismethod(handler):
            line = inspect.unwrap(getattr(handler, "__func__", handler)).__code__.co_firstlineno
        else:
            line = inspect.getsourcelines(handler)[1]
    except (OSError, TypeError):
        return None
    return SourceLocation(Path(file), line, step.uses)


def gate_checks(step: StepSpec) -> tuple[CheckDefinition, ...]:
    """Asset checks of a gate step: one per rule of the built-in quality gate's `policy`, or the names a
    custom gate lists in its handler's `quality_checks` attribute. Fail-mode checks are blocking."""
    handler = step.handler
    if getattr(handler, "quality_gate", False) and isinstance(step.bindings.get("policy"), Const):
        policy = QualityGatePolicy.from_value(step.bindings["policy"].value)
        return tuple(
            CheckDefinition(
                name,
                description=f"trakt quality gate '{rule}' ({policy.mode_of(rule)} mode) on step '{step.id}'",
                blocking=policy.mode_of(rule) == "fail",
            )
            for name, rule in gate_check_names(policy)
        )
    names = getattr(handler, "quality_checks", None) or ()
    return tuple(
        CheckDefinition(str(name), description=f"check reported by step '{step.id}'", blocking=True) for name in names
    )


def build_trakt_graph(
    spec: PipelineSpec, *, paths: TraktPaths | None = None, files: tuple[Path, ...] = ()
) -> TaskGraph:
    """The task graph of one trakt pipeline (`files`: snapshot only these, e.g. a DSL module).

    Example:
        >>> # spec, errors = load_pipeline_spec(path); graph = build_trakt_graph(spec)
    """
    step_names, input_names = asset_names(spec)
    producer: dict[str, str] = {i.name: input_task_key(i.name) for i in spec.inputs}
    tasks: list[Task] = []
    for artifact in spec.inputs:
        tasks.append(
            Task(
                key=input_task_key(artifact.name),
                label=f"input {artifact.name}",
                run=LoadInput(spec, artifact.name),
                external_deps=(artifact.name,),
                role=TaskRole.INPUT,
                is_asset=False,
                source=artifact.location,
            )
        )
    for step in spec.steps:
        deps = []
        for value in step.input_bindings.values():
            for name in references(value):
                if name in producer and producer[name] not in deps:
                    deps.append(producer[name])
        checks = gate_checks(step)
        code_location = step_code_location(step)
        tasks.append(
            Task(
                key=step.id,
                run=RunStep(spec, step, checks),
                checks=checks,
                deps=tuple(deps),
                role=TaskRole.STEP,
                asset_name=step_names[step.id],
                description=step_description(step, code_location),
                source=step.location,
                code_references=(code_location,) if code_location is not None else (),
                kinds=frozenset({"python"}),
                metadata=metadata_entries(
                    TraktStepMetadataSet,
                    step_id=step.id,
                    uses=step.uses,
                    position=step.index,
                    produces=json_list(step.produces),
                ),
            )
        )
        for name in step.produces:
            producer.setdefault(name, step.id)
    for output in spec.outputs:
        kind = (output.kind or "csv").lower()
        tasks.append(
            Task(
                key=output_task_key(output.name),
                label=f"output {output.name}",
                run=WriteOutput(spec, output),
                deps=(producer[output.source],),
                role=TaskRole.OUTPUT,
                asset_name=output.name,
                description=f"Output dataset '{output.name}' (from artifact '{output.source}')",
                source=output.location,
                kinds=frozenset({kind}),
                metadata=metadata_entries(
                    TraktOutputMetadataSet,
                    dataset=output.name,
                    from_artifact=output.source,
                    uri=output.uri or f"{output.name}.{kind}",
                ),
            )
        )
    external = tuple(
        ExternalDataset(
            name=artifact.name,
            asset_name=input_names[artifact.name],
            kind=artifact.kind.lower(),
            description=f"Input files of trakt pipeline '{spec.name}'",
            metadata=metadata_entries(
                TraktInputMetadataSet,
                input=artifact.name,
                pattern=artifact.source,
                combine_strategy=artifact.combine_strategy.value,
            ),
        )
        for artifact in spec.inputs
    )
    settings = spec.settings
    stream = spec.mode == "stream"
    triggers = ()
    if "schedule" in settings:
        triggers = (CronTrigger(settings["schedule"]["cron"], timezone=settings["schedule"]["timezone"]),)
    output_dir = spec.directory / settings.get("output_dir", "outputs")
    return TaskGraph(
        name=spec.name,
        tool=TOOL,
        source_file=spec.source_file,
        tasks=tuple(tasks),
        external=external,
        description=settings.get("description") or _file_description(spec),
        triggers=triggers,
        max_parallel=1,
        failure_policy=FailurePolicy.STOP,
        granularity=Granularity(settings.get("granularity", "pipeline")),
        allowed_granularities=frozenset({Granularity.PIPELINE}) if stream else frozenset(Granularity),
        defer_materializations=stream,
        session_factory=make_session_factory(spec),
        config_class=TraktRunConfig,
        resources={PATHS_RESOURCE_KEY: paths or DEFAULT_PATHS},
        snapshot=SnapshotSpec(root=spec.directory, suffixes=SOURCE_SUFFIXES, exclude_dirs=(output_dir,), files=files),
        retention=settings.get("retention"),
        group_name=settings.get("group"),
        pool=settings.get("pool"),
        op_retries=OpRetries(settings["retries"], settings.get("retry_delay")) if settings.get("retries") else None,
        file_settings=frozenset(settings) & FILE_SETTINGS,
        owners=tuple(settings.get("owners", ())),
        kinds=frozenset({"csv"}) if all(i.kind.lower() == "csv" for i in spec.inputs) else frozenset(),
        tags=settings.get("tags", {}),
        metadata={"trakt/mode": spec.mode},
    )


def _file_description(spec: PipelineSpec) -> str | None:
    """The comment a `pipeline.yaml` starts with (a DSL module's docstring comes through `settings`)."""
    path = spec.source_file
    if path.suffix not in (".yaml", ".yml"):
        return None
    return (spec.file_comment or None) if spec.file_comment is not None else leading_comment(path)
