"""Find loom pipelines in the Python modules under `pipelines/` and turn them into task graphs.

Candidates are the modules whose source mentions `loom.etl` or `ETLPipeline` (`core.pymodules`:
`pipelines/*.py` and `pipelines/<folder>/*.py`, each folder in its own module namespace; modules of other
tools are imported once and shared). A module counts as a loom module when it exposes `ETLPipeline`
subclasses; its runner config is `loom.yaml` beside it (or `loom_config`). Broken modules, configs and
pipelines are reported as load errors and the good pipelines still load.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import TYPE_CHECKING

from trakt_dagster.core.discovery import FrontEndResult, LoadOptions
from trakt_dagster.core.errors import LoadError, SourceLocation, unexpected_error
from trakt_dagster.core.pymodules import PipelineModule, import_pipeline_modules

if TYPE_CHECKING:
    from trakt_dagster.loom.config import ConfigProblem, RunnerConfig
    from trakt_dagster.loom.model import LoomPipeline
# loom's config reader and model are imported by the functions that use them: a root without loom modules
# never imports them.

MARKERS = ("loom.etl", "ETLPipeline")
TOOL = "loom"
SUPPORTED = "loom-kernel>=9,<10"


def loom_version_problem(version: str | None = None) -> str | None:
    """Why the installed loom-kernel cannot be used (None when it can).

    Example:
        >>> loom_version_problem("9.0.0") is None, loom_version_problem("0.12.3")[:31]
        (True, 'loom-kernel 0.12.3 is installed')
    """
    if version is None:
        try:
            version = importlib.metadata.version("loom-kernel")
        except importlib.metadata.PackageNotFoundError:
            return (
                f"loom-kernel is not installed: install {SUPPORTED} with its Polars backend (loom-kernel[etl-polars])"
            )
    major = version.split(".")[0]
    if not major.isdigit() or int(major) != 9:
        return (
            f"loom-kernel {version} is installed; trakt-dagster runs loom pipelines with {SUPPORTED} (the 9.x "
            "API: compiler iterators, rejected unknown config keys, templated file paths)"
        )
    return None


def load_pipelines(root: Path, options: LoadOptions | None = None) -> tuple[list[LoomPipeline], FrontEndResult]:
    """Every loom pipeline under `root` (and every load error and warning), before translation."""
    only = options.only if options is not None else None
    return pipelines_of_modules(import_pipeline_modules(root, MARKERS, mentions=only))


def pipelines_of_modules(found_modules: list[PipelineModule]) -> tuple[list[LoomPipeline], FrontEndResult]:
    """The loom pipelines of imported pipeline modules (e.g. one file a Dagster component points at).

    Example:
        >>> # from trakt_dagster.core.pymodules import import_pipeline_module
        >>> # pipelines, result = pipelines_of_modules([import_pipeline_module(Path("pipelines/x/nightly.py"))])
    """
    result = FrontEndResult()
    modules = [m for m in found_modules if _mentions_loom(m)]
    if not modules:
        return [], result
    problem = loom_version_problem()
    if problem is not None:
        result.errors.extend(
            LoadError(problem, SourceLocation(m.path), f"pip install '{SUPPORTED}'", TOOL) for m in modules
        )
        return [], result
    candidates: list[tuple[PipelineModule, str, type]] = []
    from trakt_dagster.loom.config import RunnerConfig
    from trakt_dagster.loom.loader import defined_in, inspecting, pipeline_classes

    for found in modules:
        if found.error is not None:
            result.errors.append(_import_error(found.error))
            continue
        candidates.extend((found, attribute, cls) for attribute, cls in pipeline_classes(found))
    chosen: dict[int, tuple[PipelineModule, str, type]] = {}
    for found, attribute, cls in candidates:
        current = chosen.get(id(cls))
        if current is not None:
            with inspecting(current[0]):
                keep = defined_in(cls, current[0].path)
            if keep:
                continue
        with inspecting(found):
            here = defined_in(cls, found.path)
        if current is None or here:
            chosen[id(cls)] = (found, attribute, cls)
    loaded: list[LoomPipeline] = []
    configs: dict[Path, RunnerConfig | ConfigProblem | LoadError] = {}
    names_by_config: dict[Path, list[str]] = {}
    for found, attribute, cls in sorted(chosen.values(), key=lambda c: (str(c[0].path), c[2].__name__)):
        name = cls.__name__
        try:
            pipeline = _load_one(found, attribute, cls, configs, names_by_config, result)
        except Exception as exc:  # noqa: BLE001 - one odd pipeline class must not stop the others
            result.errors.append(unexpected_error(found.path, exc, TOOL, pipeline=name))
            continue
        if pipeline is not None:
            loaded.append(pipeline)
    stopped: set[str] = set()
    for path, config in configs.items():
        if not isinstance(config, RunnerConfig):
            continue
        users = names_by_config.get(path, [])
        for name, line in config.pipeline_lines.items():
            if name in users:
                continue
            error = LoadError(
                f"dagster.pipelines names {name}, which no module using this config defines.",
                SourceLocation(config.source, line, f"dagster.pipelines.{name}"),
                "use the class name of an ETLPipeline subclass, or remove the entry (its settings apply to nothing)",
                TOOL,
            )
            result.errors.extend(error.for_pipeline(user) for user in users)
            stopped.update(users)
    return [p for p in loaded if p.name not in stopped], result


def _load_one(
    found: PipelineModule,
    attribute: str,
    cls: type,
    configs: dict[Path, RunnerConfig | ConfigProblem | LoadError],
    names_by_config: dict[Path, list[str]],
    result: FrontEndResult,
) -> LoomPipeline | None:
    """One pipeline class: its config, loom's compilation, the adapter's settings. Every error (also a config's
    shared by several pipelines) is attributed to this pipeline."""
    from trakt_dagster.loom.config import ConfigProblem, RunnerConfig
    from trakt_dagster.loom.loader import load_pipeline

    name = cls.__name__
    config = _config_for(found, configs)
    if not isinstance(config, RunnerConfig):
        problems = config.errors if isinstance(config, ConfigProblem) else [config]
        result.errors.extend(e.for_pipeline(name) for e in problems)
        return None
    names_by_config.setdefault(config.path, []).append(name)
    pipeline, errors, warnings = load_pipeline(found, attribute, cls, config)
    result.errors.extend(e.for_pipeline(name) for e in errors)
    result.warnings.extend(w.for_pipeline(name) for w in warnings)
    if pipeline is None:
        return None
    settings_errors = check_settings(pipeline)
    if settings_errors:
        result.errors.extend(e.for_pipeline(name) for e in settings_errors)
        return None
    if not pipeline.steps:
        result.warnings.append(
            LoadError(
                f"loom pipeline {pipeline.name} has no steps: nothing to show or run in Dagster.",
                SourceLocation(pipeline.module_path, pipeline.line, pipeline.qualname),
                "list processes (with steps) in `processes`",
                TOOL,
                pipeline=name,
            )
        )
        return None
    return pipeline


def check_settings(pipeline: LoomPipeline) -> list[LoadError]:
    """Adapter settings that name params fields: they must exist (and the partition field must be a date)."""
    import datetime

    from trakt_dagster.loom.config import CORRELATION_NONE, CORRELATION_RUN

    settings = pipeline.settings
    config = pipeline.config
    line = config.pipeline_lines.get(pipeline.name)
    prefix = f"dagster.pipelines.{pipeline.name}" if pipeline.name in config.per_pipeline else "dagster"
    fields = {f.name: f for f in pipeline.params}
    errors = []
    key = settings.correlation_key
    if key not in (CORRELATION_RUN, CORRELATION_NONE) and key not in fields:
        errors.append(
            LoadError(
                f"correlation_key {key!r} is not a field of {pipeline.params_class.__name__} "
                f"(pipeline {pipeline.name}).",
                SourceLocation(config.source, line, f"{prefix}.correlation_key"),
                f"use run, none, or one of: {', '.join(fields) or '(no fields)'}",
                TOOL,
            )
        )
    partitions = settings.partitions
    if partitions is not None:
        field = fields.get(partitions.field)
        if field is None or field.type is not datetime.date:
            errors.append(
                LoadError(
                    f"partitions.field {partitions.field!r} must be a date field of "
                    f"{pipeline.params_class.__name__} (pipeline {pipeline.name}).",
                    SourceLocation(config.source, line, f"{prefix}.partitions.field"),
                    "name a field declared as `<name>: date` in the params class",
                    TOOL,
                )
            )
    return errors


def load(root: Path, options: LoadOptions) -> FrontEndResult:
    """Load every loom pipeline under `root`; errors of all of them are returned together."""
    pipelines, result = load_pipelines(root, options)
    if not pipelines:
        return result  # nothing to translate: loom's runtime modules stay unimported
    from trakt_dagster.loom.translate import build_loom_graphs

    graphs, warnings, errors = build_loom_graphs(pipelines)
    result.graphs.extend(graphs)
    result.warnings.extend(warnings)
    result.errors.extend(errors)
    return result


def _config_for(
    found: PipelineModule, configs: dict[Path, RunnerConfig | ConfigProblem | LoadError]
) -> RunnerConfig | ConfigProblem | LoadError:
    """The module's runner config (read once per file), or what is wrong with it."""
    from trakt_dagster.loom.config import ConfigProblem, find_config, read_runner_config

    located = find_config(found.path, found.module)
    if isinstance(located, LoadError):
        return located
    located = located.resolve()
    if located not in configs:
        try:
            configs[located] = read_runner_config(located)
        except ConfigProblem as problem:
            configs[located] = problem
    return configs[located]


def _mentions_loom(found: PipelineModule) -> bool:
    if found.error is not None:
        return _source_mentions(found.path)
    module = found.module
    if any(getattr(value, "__module__", "").startswith("loom.") for value in vars(module).values()):
        return True
    return _source_mentions(found.path)


def _source_mentions(path: Path) -> bool:
    try:
        raw = path.read_bytes()  # bytes: a module that is not UTF-8 is still recognised (and its error reported)
    except OSError:
        return False
    return b"loom.etl" in raw or b"from loom" in raw


def _import_error(error: LoadError) -> LoadError:
    """The import error of a module (shared with other front ends, so reported once), with loom's install hint
    when loom itself is missing."""
    if "No module named 'loom" in error.message:
        return LoadError(error.message, error.location, f"install {SUPPORTED} (loom-kernel[etl-polars])", TOOL)
    return error
