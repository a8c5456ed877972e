"""Dagster Components for `dg` projects: one per tool, one trakt pipeline, or every pipeline of a folder.

Each tool's component loads the pipelines of that tool under its `root` folder (laid out as for
`build_definitions`: `pipelines/<name>/...` for trakt, flowrun, ductaflow and loom, `projects/<name>/pit.toml`
for pit). Shared attributes: `granularity`, `retries`/`retry_delay` (Dagster retries of each op), `pool`,
`runs_dir`, `strict_load` and `translation` (asset attributes templated per task: `{{ task.key }}`,
`{{ pipeline }}`, `{{ tool }}`, `{{ spec }}`). A setting in a pipeline's own file (trakt's `dagster:` block, pit's
`[dag.dagster]`, `flowrun_dagster`, loom's `dagster:` config block, a notebook's `dagster:` header) wins over the
component's attribute for that pipeline.

Example:
    ```yaml
    # defs/orders/defs.yaml (dg scaffold defs trakt_dagster.PitProjectComponent defs/orders)
    type: trakt_dagster.PitProjectComponent
    attributes:
      root: .                      # holds projects/<name>/pit.toml
      granularity: step
      pool: warehouse
      translation:
        group_name: "pit_{{ pipeline }}"
        tags: {team: data}
    ```
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

import dagster as dg
from dagster.components.utils.translation import TranslationFn, TranslationFnResolver
from pydantic import BaseModel, Field

from trakt_dagster.core.builder import build_graph_definitions
from trakt_dagster.core.definitions import (
    build_definitions,
    default_runs_dir,
    load_error_definitions,
    strict_load_default,
)
from trakt_dagster.core.errors import PipelineLoadErrors
from trakt_dagster.core.graph import Granularity, OpRetries, TaskGraph
from trakt_dagster.core.resources import RunStorage
from trakt_dagster.core.translator import DagsterTaskGraphTranslator, TaskTranslatorData

LOG = logging.getLogger("trakt_dagster.load")

Translation = Annotated[
    TranslationFn[TaskTranslatorData],
    TranslationFnResolver(
        template_vars_for_translation_fn=lambda data: {
            "task": data.task,
            "pipeline": data.graph.name,
            "tool": data.graph.tool,
        }
    ),
]


class TranslatedTranslator(DagsterTaskGraphTranslator):
    """The default translator with a Component's `translation:` applied to every task's asset spec.

    Example:
        >>> # TranslatedTranslator(lambda spec, data: spec.replace_attributes(group_name="g"))
    """

    def __init__(self, translation: TranslationFn[TaskTranslatorData]) -> None:
        self.translation = translation
        self._raw = False

    def _base_spec(self, data: TaskTranslatorData) -> dg.AssetSpec:
        self._raw = True
        try:
            return super().get_asset_spec(data)
        finally:
            self._raw = False

    def get_asset_key(self, data: TaskTranslatorData) -> dg.AssetKey:
        if self._raw:
            return super().get_asset_key(data)
        return self.translation(self._base_spec(data), data).key

    def get_asset_spec(self, data: TaskTranslatorData) -> dg.AssetSpec:
        base = self._base_spec(data)
        spec = self.translation(base, data)
        if spec.deps == base.deps:  # upstream keys as translated too
            spec = spec.replace_attributes(deps=super().get_asset_spec(data).deps)
        return spec


class SampleScaffolder(dg.Scaffolder):
    """`dg scaffold defs trakt_dagster.<Component> <path>`: the defs.yaml and a sample pipeline of the
    component's tool (named after the folder) that loads and materializes at once."""

    kind: ClassVar[str] = "trakt"

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        from dagster.components.component_scaffolding import scaffold_component

        from trakt_dagster.scaffold import scaffold

        target = Path(request.target_path)
        name = re.sub(r"[^A-Za-z0-9_]", "_", target.name) or "sample"
        name = name if name[0].isalpha() else f"p_{name}"
        if self.kind == "trakt" and request.type_name.endswith("TraktPipelineComponent"):
            scaffold_component(request, {"pipeline_path": f"pipelines/{name}/pipeline.yaml"})
        else:
            scaffold_component(request, {"root": "."})
        scaffold(self.kind, target, name)


def _scaffolder(kind: str) -> type[SampleScaffolder]:
    return type(f"{kind.capitalize()}SampleScaffolder", (SampleScaffolder,), {"kind": kind})


class _Attributes(dg.Model):
    """The attributes every trakt-dagster component takes."""

    runs_dir: str | None = Field(
        default=None,
        description="Where run folders go (default: $TRAKT_DAGSTER_RUNS_DIR, else runs/ in the dg project); "
        "the same for every component of a project, as their run-storage resource is shared.",
    )
    granularity: Literal["pipeline", "step"] | None = Field(
        default=None,
        description="'pipeline' (one op per pipeline) or 'step' (one op per task); a pipeline's own file wins.",
    )
    retries: int | None = Field(
        default=None, ge=0, description="Dagster retries of each op (RetryPolicy); a pipeline's own file wins."
    )
    retry_delay: float | None = Field(default=None, ge=0, description="Seconds between those retries.")
    pool: str | None = Field(
        default=None, description="Dagster concurrency pool of every op; a pipeline's own file wins."
    )
    strict_load: bool | None = Field(
        default=None,
        description="Raise on any load error instead of showing broken pipelines as load-error assets "
        "(default: $TRAKT_DAGSTER_STRICT_LOAD, else true under `dg check defs`, false elsewhere).",
    )
    translation: Translation | None = Field(
        default=None,
        description="Asset attributes for every task's asset (key, group_name, tags, kinds, description, "
        "metadata, owners...), templated with {{ task.key }}, {{ pipeline }}, {{ tool }} and {{ spec }}.",
    )

    def adjust(self, graph: TaskGraph) -> TaskGraph:
        """`graph` with this component's attributes where its own file set none."""
        changes: dict[str, Any] = {}
        own = graph.file_settings
        if self.granularity and "granularity" not in own:
            wanted = Granularity(self.granularity)
            if wanted in graph.allowed_granularities:
                changes["granularity"] = wanted
            else:
                LOG.warning(
                    "warning: pipeline '%s' must run in one process; the component's granularity '%s' is ignored",
                    graph.name,
                    wanted,
                )
        if self.pool and "pool" not in own:
            changes["pool"] = self.pool
        if self.retries and "retries" not in own:
            changes["op_retries"] = OpRetries(self.retries, self.retry_delay)
        return replace(graph, **changes) if changes else graph

    def translator(self) -> DagsterTaskGraphTranslator:
        return TranslatedTranslator(self.translation) if self.translation else DagsterTaskGraphTranslator()


TEMPLATE_PATTERN = r"\{\{.*\}\}"
"""A Dagster template (`{{ env.GRANULARITY }}`): its value is known only when the component loads."""


def checked_model(component: type[dg.Resolvable]) -> type[BaseModel]:
    """The attributes model Dagster derives for `component`, with a JSON schema that checks the values.

    Dagster 1.13 lets every non-text attribute also be any text (so that a template can stand for it), so
    the schema `dg check yaml` validates against accepts `granularity: per-task` or `retries: many`. Here
    text is accepted only where the attribute is text or the text is a template; any other value must
    match the attribute's own type (`'per-task' is not one of ['pipeline', 'step']`). Templates are still
    resolved and checked when the component loads (`dg check defs`). The schema also gets back the
    attributes' descriptions, which the derived model drops.

    Example:
        >>> schema = checked_model(PitProjectComponent).model_json_schema()
        >>> schema["properties"]["granularity"]["else"]
        {'enum': ['pipeline', 'step'], 'type': 'string'}
    """
    model = component.model()
    if not getattr(model, "_values_checked", False):
        base = model.model_config.get("json_schema_extra")
        extra = dict(base) if isinstance(base, dict) else {}

        def check_values(schema: dict[str, Any]) -> None:
            schema.update(extra)
            _check_attribute_values(component, schema)

        model.model_config["json_schema_extra"] = check_values
        model._values_checked = True  # type: ignore[attr-defined]
    return model


def _check_attribute_values(component: type[dg.Resolvable], schema: dict[str, Any]) -> None:
    fields = getattr(component, "model_fields", {})
    for name, prop in schema.get("properties", {}).items():
        field = fields.get(name)
        if field is None:
            continue
        if field.description and not prop.get("description"):
            prop["description"] = field.description
        branches = prop.get("anyOf")
        if not _typed_value(field.annotation) or not branches or {"type": "string"} not in branches:
            continue
        own = [b for b in branches if b != {"type": "string"}]
        values = [b for b in own if b != {"type": "null"}]
        exempt: list[dict[str, Any]] = [{"type": "string", "pattern": TEMPLATE_PATTERN}]
        if len(values) < len(own):
            exempt.append({"type": "null"})
        del prop["anyOf"]
        prop["if"] = {"anyOf": exempt}
        prop["then"] = True
        prop["else"] = values[0] if len(values) == 1 else {"anyOf": values}


def _typed_value(annotation: Any) -> bool:
    """Whether an attribute holds a typed value (a Literal, bool, int, float, optionally None), not text."""
    members = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    found = [m for m in members if m is not type(None)]
    return bool(found) and all(m in (bool, int, float) or get_origin(m) is Literal for m in found)


class _ToolComponent(dg.Component, _Attributes, dg.Resolvable):
    tool: ClassVar[str | None] = None

    @classmethod
    def get_model_cls(cls) -> type[BaseModel]:
        return checked_model(cls)

    root: str = Field(
        default=".", description="The folder holding the tool's pipelines, relative to this defs.yaml or absolute."
    )
    strict: bool = Field(default=True, description="trakt: reject unknown keys (false = trakt's lenient mode).")

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        root = (context.path / self.root).resolve()
        return build_definitions(
            root,
            runs_dir=self.runs_dir or default_runs_dir(Path(context.project_root)),
            strict=self.strict,
            strict_load=self.strict_load,
            translator=self.translator(),
            tools=None if self.tool is None else (self.tool,),
            adjust=self.adjust,
        )


@dg.scaffold_with(_scaffolder("trakt"))
class PipelinesFolderComponent(_ToolComponent):
    """Every pipeline of every tool under a folder (`pipelines/`, `projects/`), as `build_definitions` builds them.

    Example:
        ```yaml
        type: trakt_dagster.PipelinesFolderComponent
        attributes:
          root: "{{ context.project_root }}"
        ```
    """


@dg.scaffold_with(_scaffolder("flowrun"))
class FlowrunComponent(_ToolComponent):
    """flowrun DAGs (`pipelines/*.py`, `pipelines/<name>/`) under a folder, one job per DAG.

    Example:
        ```yaml
        type: trakt_dagster.FlowrunComponent
        attributes: {root: ., granularity: step}
        ```
    """

    tool: ClassVar[str | None] = "flowrun"


@dg.scaffold_with(_scaffolder("pit"))
class PitProjectComponent(_ToolComponent):
    """pit projects (`projects/<name>/pit.toml`, with the workspace's `pit_config.toml`) under a folder.

    Example:
        ```yaml
        type: trakt_dagster.PitProjectComponent
        attributes: {root: ., granularity: step}
        ```
    """

    tool: ClassVar[str | None] = "pit"


@dg.scaffold_with(_scaffolder("ductaflow"))
class DuctaflowComponent(_ToolComponent):
    """ductaflow projects (`pipelines/<name>/` with `flows/` and `config/`) under a folder, one job per notebook.

    Example:
        ```yaml
        type: trakt_dagster.DuctaflowComponent
        attributes: {root: ., pool: kernels}
        ```
    """

    tool: ClassVar[str | None] = "ductaflow"


@dg.scaffold_with(_scaffolder("loom"))
class LoomPipelineComponent(_ToolComponent):
    """loom.etl pipelines (`ETLPipeline` classes with a `loom.yaml` runner config) under a folder.

    Example:
        ```yaml
        type: trakt_dagster.LoomPipelineComponent
        attributes: {root: ., retries: 1}
        ```
    """

    tool: ClassVar[str | None] = "loom"


@dg.scaffold_with(_scaffolder("trakt"))
class TraktPipelineComponent(dg.Component, _Attributes, dg.Resolvable):
    """One trakt `pipeline.yaml` as assets and a job.

    Example:
        ```yaml
        type: trakt_dagster.TraktPipelineComponent
        attributes:
          pipeline_path: pipeline.yaml     # relative to this defs.yaml
          granularity: step
        ```
    """

    pipeline_path: str = Field(default="pipeline.yaml", description="The pipeline file, relative to this defs.yaml.")
    strict: bool = Field(default=True, description="Reject unknown keys (false = trakt's lenient mode).")

    @classmethod
    def get_model_cls(cls) -> type[BaseModel]:
        return checked_model(cls)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        from trakt_dagster.trakt.loader import load_pipeline_spec
        from trakt_dagster.trakt.translate import build_trakt_graph

        path = (context.path / self.pipeline_path).resolve()
        spec, errors = load_pipeline_spec(path, strict=self.strict)
        if errors:
            strict_load = strict_load_default() if self.strict_load is None else self.strict_load
            if strict_load:
                raise PipelineLoadErrors(errors)
            return load_error_definitions(errors)
        graph = self.adjust(build_trakt_graph(spec))
        runs_dir = self.runs_dir or default_runs_dir(Path(context.project_root))
        return build_graph_definitions(graph, translator=self.translator(), run_storage=RunStorage(runs_dir=runs_dir))
