"""A loom pipeline as found in a pipeline module: plain data read from loom's compiled plan.

The plan is loom's own (`ETLCompiler().compile(pipeline)`); this module only records, per step occurrence,
what the adapter needs to describe it to Dagster (what it reads and writes, where it is defined, which
steps come before it) and how the occurrences are grouped (processes, parallel groups).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from trakt_dagster.core.modules import ModuleNamespace


class DatasetKind(StrEnum):
    """What a step reads or writes."""

    TABLE = "table"
    FILE = "file"
    TEMP = "temp"
    OTHER = "other"
    """An external system (ClickHouse, MongoDB, DynamoDB) or a client target: no Dagster asset."""


@dataclass(frozen=True)
class Dataset:
    """A table, file or temp a step reads or writes.

    `ref` is what the pipeline names: `raw.orders` for a table, the path (or `storage.files` alias) of a
    file, the name of a temp. `asset_key` is the Dagster key of tables and files (`("raw", "orders")`).

    Example:
        >>> Dataset(DatasetKind.TABLE, "raw.orders", ("raw", "orders"), format="delta").label
        'table raw.orders'
    """

    kind: DatasetKind
    ref: str
    asset_key: tuple[str, ...] | None = None
    format: str | None = None
    is_alias: bool = False
    """A file given by its `storage.files` alias (`FromFile.alias`, `IntoFile.alias`)."""
    scope: str | None = None
    """Temps: `run` or `correlation`."""
    append: bool = False
    """Temps: fan-in writer (`IntoTemp(..., append=True)`)."""
    mode: str | None = None
    """Table targets: loom's write mode (`replace`, `append`, `upsert`, ...)."""

    @property
    def label(self) -> str:
        return f"{self.kind} {self.ref}"


@dataclass(frozen=True)
class LoomSource:
    """One source of a step: its `execute()` keyword and what it reads."""

    alias: str
    dataset: Dataset


@dataclass(frozen=True)
class LoomStep:
    """One occurrence of a step class in the plan (a class listed by two processes occurs twice).

    `key` is unique in the pipeline: the class name, or `<Process>.<Step>` when the name occurs more than
    once (with `#<n>` when even that repeats). `name` is the class's `__name__`, which loom's `include`
    selects by.

    Example:
        >>> # step = pipeline.step("LoadOrders"); step.target.asset_key
    """

    key: str
    name: str
    process: str
    process_index: int
    """Which process occurrence (position in plan order) holds this step."""
    step_class: Any = field(compare=False, repr=False)
    sources: tuple[LoomSource, ...] = ()
    target: Dataset | None = None
    plan_deps: tuple[str, ...] = ()
    """Keys of the occurrences that must succeed before loom starts this one (the previous node of its
    process, or of the pipeline for a process's first node)."""
    parallel_group: int | None = None
    """Steps of the same parallel group share this number."""
    streaming: bool = False
    step_kind: str = "step"
    """`step`, `sql` (`StepSQL`) or `client` (`ClientStep`)."""
    module_path: Path | None = None
    line: int | None = None
    description: str | None = None
    qualname: str = ""
    module: str = ""

    @property
    def temp_target(self) -> Dataset | None:
        return self.target if self.target is not None and self.target.kind is DatasetKind.TEMP else None

    def reads(self, kind: DatasetKind) -> tuple[Dataset, ...]:
        return tuple(s.dataset for s in self.sources if s.dataset.kind is kind)


@dataclass(frozen=True)
class ParamField:
    """One field of the pipeline's `ETLParams` class (a msgspec struct field).

    Example:
        >>> ParamField("region", str, default="eu", has_default=True).required
        False
    """

    name: str
    type: Any
    default: Any = None
    has_default: bool = False
    default_factory: Any = None

    @property
    def required(self) -> bool:
        return not self.has_default and self.default_factory is None


@dataclass(frozen=True)
class LoomPipeline:
    """One `ETLPipeline` subclass of a pipeline module, compiled by loom.

    Example:
        >>> # pipeline = load_module_pipelines(found, ...)[0]; [s.key for s in pipeline.steps]
    """

    name: str
    pipeline_class: Any = field(compare=False, repr=False)
    plan: Any = field(compare=False, repr=False)
    params_class: Any = field(compare=False, repr=False)
    params: tuple[ParamField, ...]
    steps: tuple[LoomStep, ...]
    """Every step occurrence in plan order."""
    processes: tuple[tuple[str, tuple[str, ...]], ...]
    """`(process name, step keys)` for every process occurrence in plan order."""
    module_path: Path
    attribute: str
    line: int | None
    config: Any = field(compare=False, repr=False)
    """The runner config (`trakt_dagster.loom.config.RunnerConfig`)."""
    settings: Any = field(compare=False, repr=False)
    """This pipeline's adapter settings (`trakt_dagster.loom.config.PipelineSettings`)."""
    namespace: ModuleNamespace | None = field(default=None, compare=False, repr=False)
    description: str | None = None
    qualname: str = ""
    same_name_steps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Step class names shared by different classes (loom's `include` cannot tell them apart)."""
    observers: Any = field(default=None, compare=False, repr=False)
    """The module's `loom_observers` (a list, or a callable returning one per run), or None."""

    @property
    def by_key(self) -> dict[str, LoomStep]:
        return {step.key: step for step in self.steps}

    def step(self, key: str) -> LoomStep:
        return self.by_key[key]

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(step.name for step in self.steps))

    @property
    def process_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for name, _ in self.processes))

    def occurrences(self, name: str) -> tuple[LoomStep, ...]:
        """The step occurrences loom's `include={name}` keeps: the steps of that class name, or every step
        of the processes of that name."""
        if name in self.process_names:
            keys = {key for process, keys in self.processes if process == name for key in keys}
            return tuple(step for step in self.steps if step.key in keys)
        return tuple(step for step in self.steps if step.name == name)
