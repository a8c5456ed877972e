"""Find trakt pipelines and turn them into task graphs.

Two forms are discovered under `<root>/pipelines/`: folders with a `pipeline.yaml`, and Python modules
that build workflows with the DSL at module level (`orders = workflow("orders")...`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from trakt_dagster.core.discovery import FrontEndResult, LoadOptions
from trakt_dagster.core.errors import LoadError, SourceLocation, unexpected_error
from trakt_dagster.core.listing import subfolders
from trakt_dagster.core.pymodules import PipelineModule, import_pipeline_modules
from trakt_dagster.trakt import compat_import

if TYPE_CHECKING:
    from trakt_dagster.trakt.model import PipelineSpec
    from trakt_dagster.trakt.registry import StepRegistry
# trakt's reader and translator are imported when there is something to read: a root without trakt pipelines
# never imports them.

MARKER = "pipeline.yaml"
DSL_MARKERS = ("from trakt import", "import trakt")


def _pipeline_folders(root: Path) -> dict[Path, Path]:
    """Each `<root>/pipelines/*/pipeline.yaml` (sorted) with its folder resolved: `pipelines/` is resolved once
    and a folder that is not a link is its entry in it (a link is resolved on its own), instead of resolving
    every folder's path part by part."""
    folder = Path(root) / "pipelines"
    entries = subfolders(folder)
    if entries is None:  # no pipelines/ folder (or not a folder, or unreadable)
        return {}
    found: dict[Path, Path] = {}
    resolved_parent: Path | None = None
    for entry in entries:
        file = folder / entry.name / MARKER
        if not file.is_file():
            continue
        if entry.is_symlink():
            found[file] = file.parent.resolve()
        else:
            resolved_parent = resolved_parent or folder.resolve()
            found[file] = resolved_parent / entry.name
    return found


def load(root: Path, options: LoadOptions) -> FrontEndResult:
    """Load every trakt pipeline under `root`; errors of all of them are returned together."""
    result = FrontEndResult()
    files = _pipeline_folders(root)
    if files:
        from trakt_dagster.trakt.loader import load_pipeline_spec
        from trakt_dagster.trakt.registry import StepRegistry
        from trakt_dagster.trakt.translate import build_trakt_graph
    registry: StepRegistry | None = None  # read on first use (a run of another pipeline needs none)
    for path, folder in files.items():
        try:
            if options.only is not None and not _may_be_wanted(path, options):
                continue  # a run of another pipeline: its step modules are not imported
            if registry is None:  # once per load: its aliases are the same for every pipeline
                registry = StepRegistry.from_entry_points()
            spec, errors = load_pipeline_spec(path, strict=options.strict, registry=registry, folder=folder)
            result.errors.extend(errors)
            if spec is not None and options.wants(spec.name):
                result.graphs.append(build_trakt_graph(spec))
                result.warnings.extend(missing_input_warnings(spec))
        except Exception as exc:  # noqa: BLE001 - one pipeline's surprise must not stop the others
            result.errors.append(unexpected_error(path, exc, "trakt", pipeline=path.parent.name))
    compat_import.install()
    for found in import_pipeline_modules(root, DSL_MARKERS, mentions=options.only):
        if found.error is not None:
            result.errors.append(found.error)
            continue
        try:
            _load_workflows(found, result)
        except Exception as exc:  # noqa: BLE001
            result.errors.append(unexpected_error(found.path, exc, "trakt"))
    return result


def _may_be_wanted(path: Path, options: LoadOptions) -> bool:
    """Whether the pipeline of `path` may be one `options.only` asks for (its name, read cheaply; a file whose
    name cannot be read is loaded in full, so its errors are reported as the full load reports them)."""
    from trakt_dagster.trakt.loader import pipeline_name

    name = pipeline_name(path)
    return name is None or options.wants(name)


def missing_input_warnings(spec: PipelineSpec) -> list[LoadError]:
    """A warning per CSV input that finds no files where a run would look by default (the pipeline folder or
    its `dagster.input_dir`); runs may still point elsewhere (run config `input_dir`/`inputs`, `trakt_paths`)."""
    from trakt_dagster.trakt.csv_io import resolve_input_paths

    folder = spec.directory / spec.settings["input_dir"] if "input_dir" in spec.settings else spec.directory
    warnings = []
    for artifact in spec.inputs:
        if artifact.kind.lower() != "csv" or _plain_file_exists(artifact.source, folder):
            continue
        try:
            resolve_input_paths(artifact.name, artifact.source, folder, ".csv")
        except (OSError, ValueError) as exc:
            if not isinstance(exc, FileNotFoundError):
                continue  # e.g. an explicit file with another suffix: the run reports it
            warnings.append(
                LoadError(
                    f"Input '{artifact.name}' finds no files: source '{artifact.source}' "
                    f"searched in {folder.resolve()}",
                    artifact.location,
                    "fix the input's uri or dagster.input_dir, or give the run an input_dir / inputs in its run config",
                    "trakt",
                    spec.name,
                )
            )
    return warnings


def _plain_file_exists(source: str, folder: Path) -> bool:
    """Whether `source` names one file (no list, glob or folder) that exists: found, or a run reports its suffix."""
    if "," in source or any(ch in source for ch in "*?["):
        return False
    path = Path(source.strip())
    return (path if path.is_absolute() else folder / path).is_file()


def _load_workflows(found: PipelineModule, result: FrontEndResult) -> None:
    from trakt_dagster.trakt.dsl import WorkflowBuilder
    from trakt_dagster.trakt.loader import path_problems
    from trakt_dagster.trakt.translate import build_trakt_graph

    for attribute, value in vars(found.module).items():
        if not isinstance(value, WorkflowBuilder) or value.location is None:
            continue
        if value.location.file.resolve() != found.path:
            continue  # imported from another module, built there
        try:
            spec = value.build(namespace=found.namespace)
        except Exception as exc:  # noqa: BLE001 - any failure of the workflow's user code is its load error
            result.errors.append(
                LoadError(
                    f"Workflow '{value.name}' ({attribute}) is invalid: {exc}",
                    SourceLocation(found.path, value.location.line, f"workflow '{value.name}'"),
                    "fix the workflow's steps, bindings or outputs (the same rules as pipeline.yaml apply)",
                    "trakt",
                    pipeline=str(value.name),
                )
            )
            continue
        unsafe = path_problems(spec)
        for message, _, hint in unsafe:
            where = SourceLocation(found.path, value.location.line, f"workflow '{value.name}'")
            result.errors.append(LoadError(message, where, hint, "trakt", pipeline=str(value.name)))
        if not unsafe:
            result.graphs.append(build_trakt_graph(spec, files=(found.path,)))
