"""trakt's Python DSL: `workflow(...).source(...).steps([...]).output(...)` builds the same pipeline as YAML.

Example:
    ```python
    # pipelines/orders_dsl.py
    from trakt import artifact, step, workflow

    def double(ctx, input):
        return {"output": input.assign(amount=input["amount"] * 2)}

    orders = (
        workflow("orders_dsl")
        .source(artifact("records").at("records/*.csv"))
        .steps([step("double", run=double).input(input="records").output(output="records_norm")])
        .output("final", from_="records_norm")
    )
    ```
Modules under `pipelines/` that define workflows at module level are discovered like `pipeline.yaml`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from trakt_dagster.core.errors import SourceLocation
from trakt_dagster.core.modules import ModuleNamespace
from trakt_dagster.trakt.bindings import normalize_binding, output_binding_error, split_bindings
from trakt_dagster.trakt.contract import handler_contract
from trakt_dagster.trakt.errors import PipelineValidationError, StepBindingError
from trakt_dagster.trakt.model import Artifact, CombineStrategy, Const, OutputDataset, PipelineSpec, StepSpec
from trakt_dagster.trakt.registry import StepRegistry
from trakt_dagster.trakt.validate import validate_pipeline


def _caller() -> SourceLocation | None:
    for frame in inspect.stack()[2:]:
        if not frame.filename.endswith("dsl.py"):
            return SourceLocation(Path(frame.filename), frame.lineno)
    return None


@dataclass(frozen=True)
class WorkflowRef:
    """A reference to an artifact by name (`ref("records")`)."""

    name: str


@dataclass(frozen=True)
class WorkflowArtifact:
    """A pipeline input declared in Python (`artifact("records").at("records/*.csv")`)."""

    name: str
    kind: str = "csv"
    uri: str | None = None
    schema: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    combine_strategy: str = "concat"

    def as_kind(self, kind: str) -> WorkflowArtifact:
        return replace(self, kind=kind)

    def at(self, uri: str) -> WorkflowArtifact:
        return replace(self, uri=uri)

    def combine(self, strategy: str) -> WorkflowArtifact:
        return replace(self, combine_strategy=strategy)

    def with_schema(self, schema: Any) -> WorkflowArtifact:
        return replace(self, schema=schema)

    def meta(self, **values: Any) -> WorkflowArtifact:
        return replace(self, metadata={**self.metadata, **values})

    def to_artifact(self) -> Artifact:
        return Artifact(
            name=self.name,
            kind=self.kind,
            uri=self.uri if self.uri is not None else self.name,
            schema=self.schema,
            metadata=dict(self.metadata),
            combine_strategy=CombineStrategy(self.combine_strategy),
        )


def artifact(
    name: str,
    *,
    kind: str = "csv",
    uri: str | None = None,
    schema: Any = None,
    metadata: Mapping[str, Any] | None = None,
    combine_strategy: str = "concat",
) -> WorkflowArtifact:
    """Declare an input artifact; `uri` defaults to the name. Example: `artifact("records").at("in/*.csv")`."""
    return WorkflowArtifact(name, kind, uri, schema, dict(metadata or {}), combine_strategy)


def ref(target: str | WorkflowRef | WorkflowArtifact | Artifact) -> WorkflowRef:
    """A reference to an artifact. Example: `step("s", uses="steps.x").input(input=ref("records"))`."""
    if isinstance(target, WorkflowRef):
        return target
    if isinstance(target, str):
        return WorkflowRef(target)
    if isinstance(target, WorkflowArtifact | Artifact):
        return WorkflowRef(target.name)
    raise TypeError(f"ref() expects a name, ref, or artifact, got {type(target).__name__}.")


def _references(step_id: str, method: str, key: str, value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, WorkflowRef | WorkflowArtifact | Artifact):
        return value.name
    if isinstance(value, list | tuple):
        return [_references(step_id, method, key, v) for v in value]
    if isinstance(value, Mapping):
        return {k: _references(step_id, method, key, v) for k, v in value.items()}
    raise TypeError(
        f"Step '{step_id}' {method}() expects artifact references (str, ref(), artifact()) for '{key}', "
        f"got {type(value).__name__}. Use .params(...) for literal values."
    )


def _legacy(value: Any) -> Any:
    if isinstance(value, WorkflowRef | WorkflowArtifact | Artifact):
        return value.name
    if isinstance(value, Const):
        return value
    if isinstance(value, Mapping) and len(value) == 1 and "const" in value:
        return Const(value["const"])
    if isinstance(value, list | tuple):
        return [_legacy(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _legacy(v) for k, v in value.items()}
    return value


class WorkflowStep:
    """One step of a workflow: `step(id, uses=... | run=...)` then `.input()`, `.params()`, `.output()`."""

    def __init__(self, step_id: str, *, uses: str | None = None, run: Callable[..., Any] | None = None) -> None:
        if (uses is None) == (run is None):
            raise ValueError(f"Step '{step_id}' needs exactly one of uses= or run=.")
        self.step_id = step_id
        self.handler = run
        self.uses = uses if uses is not None else f"{run.__module__}.{run.__qualname__}"
        self.bindings: dict[str, Any] = {}
        self.location = _caller()

    def input(self, **bindings: Any) -> WorkflowStep:
        """Bind inputs to artifact references (strings, `ref()`, `artifact()`, or containers of them)."""
        self.bindings.update({k: _references(self.step_id, "input", k, v) for k, v in bindings.items()})
        return self

    def params(self, **values: Any) -> WorkflowStep:
        """Bind literal values; each value is a const as a whole (nothing inside is a reference)."""
        self.bindings.update({k: v if isinstance(v, Const) else Const(v) for k, v in values.items()})
        return self

    def output(self, **bindings: Any) -> WorkflowStep:
        """Name the artifacts the step produces (a string, list or mapping per output key)."""
        self.bindings.update({k: _references(self.step_id, "output", k, v) for k, v in bindings.items()})
        return self

    def bind(self, **bindings: Any) -> WorkflowStep:
        """Legacy binding: bare strings are references, primitives literals, `{const: v}` a const."""
        self.bindings.update({k: _legacy(v) for k, v in bindings.items()})
        return self

    in_ = input
    out = output


def step(step_id: str, *, uses: str | None = None, run: Callable[..., Any] | None = None) -> WorkflowStep:
    """A workflow step running `uses` (alias or module with `run`) or the function `run`."""
    return WorkflowStep(step_id, uses=uses, run=run)


class WorkflowBuilder:
    """Builds a pipeline in Python; `.build()` gives the same pipeline as the equivalent YAML."""

    def __init__(self, name: str, *, execution_mode: str = "batch", registry: StepRegistry | None = None) -> None:
        self.name = name
        self.execution_mode = execution_mode
        self.registry = registry
        self._inputs: list[WorkflowArtifact] = []
        self._steps: list[WorkflowStep] = []
        self._outputs: list[OutputDataset] = []
        self.location = _caller()

    def source(self, spec: WorkflowArtifact | Artifact | str) -> WorkflowBuilder:
        if isinstance(spec, str):
            spec = artifact(spec)
        elif isinstance(spec, Artifact):
            spec = WorkflowArtifact(
                spec.name, spec.kind, spec.uri, spec.schema, dict(spec.metadata), spec.combine_strategy.value
            )
        self._inputs.append(spec)
        return self

    def sources(self, specs: Iterable[WorkflowArtifact | Artifact | str]) -> WorkflowBuilder:
        for spec in specs:
            self.source(spec)
        return self

    def input(
        self,
        name: str,
        *,
        uri: str | None = None,
        kind: str = "csv",
        schema: Any = None,
        metadata: Mapping[str, Any] | None = None,
        combine_strategy: str = "concat",
    ) -> WorkflowBuilder:
        return self.source(
            artifact(name, kind=kind, uri=uri, schema=schema, metadata=metadata, combine_strategy=combine_strategy)
        )

    def step(self, workflow_step: WorkflowStep) -> WorkflowBuilder:
        if not isinstance(workflow_step, WorkflowStep):
            raise TypeError("WorkflowBuilder.step(...) expects a WorkflowStep instance.")
        self._steps.append(workflow_step)
        return self

    def steps(self, workflow_steps: Iterable[WorkflowStep]) -> WorkflowBuilder:
        for workflow_step in workflow_steps:
            self.step(workflow_step)
        return self

    def output(
        self,
        name: str,
        *,
        from_: str | WorkflowRef | WorkflowArtifact,
        kind: str | None = None,
        uri: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> WorkflowBuilder:
        source = from_ if isinstance(from_, str) else ref(from_).name
        self._outputs.append(OutputDataset(name, source, kind, uri, dict(metadata or {}), location=_caller()))
        return self

    def build(self, *, registry: StepRegistry | None = None, namespace: ModuleNamespace | None = None) -> PipelineSpec:
        """The pipeline; raises `PipelineValidationError`, `StepBindingError` or `ValueError` like trakt."""
        registry = registry or self.registry or StepRegistry.from_entry_points()
        source_file = self.location.file if self.location else Path("<python>")
        seen: set[str] = set()
        steps = []
        for position, ws in enumerate(self._steps, start=1):
            if ws.step_id in seen:
                raise ValueError(f"Duplicate step id '{ws.step_id}' in workflow '{self.name}'.")
            seen.add(ws.step_id)
            steps.append(_build_step(ws, position, registry, namespace))
        names = [o.name for o in self._outputs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Output dataset '{duplicates[0]}' is defined more than once in workflow '{self.name}'.")
        spec = PipelineSpec(
            name=self.name,
            source_file=source_file,
            mode=(self.execution_mode or "batch").strip().lower() or "batch",
            inputs=tuple(a.to_artifact() for a in self._inputs),
            steps=tuple(steps),
            outputs=tuple(self._outputs),
            namespace=namespace,
        )
        parts = [part for part, _, _ in validate_pipeline(spec)]
        if parts:
            raise PipelineValidationError("; ".join(parts))
        return spec

    def run(self, runner: Any, *, registry: StepRegistry | None = None, **run_kwargs: Any) -> dict[str, Any]:
        """Build and run with a runner (`LocalRunner()`); returns trakt's result dict."""
        return runner.run(self.build(registry=registry), **run_kwargs)


def workflow(name: str, *, execution_mode: str = "batch", registry: StepRegistry | None = None) -> WorkflowBuilder:
    """Start a pipeline in Python. Example: `workflow("orders").source(artifact("raw")).steps([...])`."""
    return WorkflowBuilder(name, execution_mode=execution_mode, registry=registry)


def _build_step(ws: WorkflowStep, position: int, registry: StepRegistry, namespace: ModuleNamespace | None) -> StepSpec:
    handler = ws.handler if ws.handler is not None else registry.resolve_uses(ws.uses, namespace)
    bindings = {k: normalize_binding(v, step_id=ws.step_id, key=k) for k, v in ws.bindings.items()}
    declared_in, declared_out, batch, stream = handler_contract(handler)
    input_keys, output_keys = split_bindings(ws.step_id, bindings, declared_in, declared_out)
    for key in output_keys:
        message = output_binding_error(key, bindings[key])
        if message:
            raise StepBindingError(f"Step '{ws.step_id}' {message}")
    return StepSpec(
        id=ws.step_id,
        uses=ws.uses,
        index=position,
        handler=handler,
        bindings=bindings,
        input_keys=input_keys,
        output_keys=output_keys,
        supports_batch=batch,
        supports_stream=stream,
        location=ws.location,
    )
