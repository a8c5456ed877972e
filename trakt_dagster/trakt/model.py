"""A parsed trakt pipeline: inputs, steps and outputs as immutable data (trakt's names kept)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from trakt_dagster.core.errors import SourceLocation


class CombineStrategy(StrEnum):
    """How several files of one input become one DataFrame in batch mode."""

    CONCAT = "concat"
    VALIDATE_SCHEMA = "validate_schema"
    UNION_BY_NAME = "union_by_name"


class ExecutionMode(StrEnum):
    BATCH = "batch"
    STREAM = "stream"


@dataclass(frozen=True)
class Const:
    """A literal binding value (`{const: X}` in YAML, `Const(X)` / `const(X)` in Python).

    Example:
        >>> Const(1.5).value
        1.5
    """

    value: Any


def const(value: Any) -> Const:
    """Wrap a literal for a `with:` binding. Example: `step("s", uses="x").bind(factor=const(2))`."""
    return Const(value)


@dataclass(frozen=True)
class Artifact:
    """A pipeline input (trakt's `Artifact`): where to read it and how.

    Example:
        >>> Artifact("records", uri="records/*.csv").combine_strategy
        <CombineStrategy.CONCAT: 'concat'>
    """

    name: str
    kind: str = "csv"
    uri: str | None = None
    schema: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    combine_strategy: CombineStrategy = CombineStrategy.CONCAT
    location: SourceLocation | None = field(default=None, compare=False)

    @property
    def source(self) -> str:
        return self.uri if self.uri is not None else self.name

    @property
    def required(self) -> bool:
        flag = self.metadata.get("required", True)
        if isinstance(flag, bool):
            return flag
        return not (isinstance(flag, str) and flag.strip().lower() in {"false", "0", "no"})


@dataclass(frozen=True)
class OutputDataset:
    """An output dataset (trakt's `OutputDataset`): which artifact to write, where and how."""

    name: str
    source: str
    kind: str | None = None
    uri: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    location: SourceLocation | None = field(default=None, compare=False)

    @property
    def from_(self) -> str:
        return self.source


@dataclass(frozen=True)
class StepSpec:
    """One resolved step: its handler, bindings split into inputs and outputs, and capabilities.

    `bindings` holds the `with:` values with `{const: X}` already turned into `Const(X)`.
    """

    id: str
    uses: str
    index: int
    """Position in the `steps` list, counted from 1 (trakt's `Step #<i>`)."""
    handler: Callable[..., Any]
    bindings: Mapping[str, Any]
    input_keys: tuple[str, ...]
    output_keys: tuple[str, ...]
    supports_batch: bool = True
    supports_stream: bool = False
    location: SourceLocation | None = field(default=None, compare=False)

    @property
    def input_bindings(self) -> dict[str, Any]:
        return {k: self.bindings[k] for k in self.input_keys}

    @property
    def output_bindings(self) -> dict[str, Any]:
        return {k: self.bindings[k] for k in self.output_keys}

    @property
    def produces(self) -> list[str]:
        from trakt_dagster.trakt.bindings import output_names

        names: list[str] = []
        for value in self.output_bindings.values():
            names.extend(output_names(value))
        return names


@dataclass(frozen=True)
class PipelineSpec:
    """A whole trakt pipeline as loaded from `pipeline.yaml` (or built with the Python DSL).

    Example:
        >>> # spec = load_pipeline_spec(Path("pipelines/sales/pipeline.yaml"))
        >>> # [s.id for s in spec.steps]
    """

    name: str
    source_file: Path
    mode: ExecutionMode
    inputs: tuple[Artifact, ...]
    steps: tuple[StepSpec, ...]
    outputs: tuple[OutputDataset, ...]
    strict: bool = True
    settings: Mapping[str, Any] = field(default_factory=dict)
    """The optional top-level `dagster:` block (input_dir, output_dir, group, granularity...)."""
    namespace: Any = None
    """The `ModuleNamespace` the step modules were imported in."""
    file_comment: str | None = None
    """The comment `pipeline.yaml` starts with (`""` when none), read with the file; None: not read yet."""

    @property
    def directory(self) -> Path:
        return self.source_file.parent

    def input(self, name: str) -> Artifact:
        for item in self.inputs:
            if item.name == name:
                return item
        raise KeyError(name)
