"""Discover pipelines of every supported tool under a root folder.

Each front end (`trakt_dagster/<tool>/frontend.py`) exposes `load(root, options) -> FrontEndResult`;
they are imported lazily so a tool's dependencies load only when its front end is used.

A front end returns graphs for the pipelines that load and `LoadError`s for the broken ones. Here every
error gets the pipeline it belongs to (`LoadError.pipeline`: set by the front end, else the folder or
file it names), a front end that raises anyway is reported as an error instead of stopping the others,
and two pipelines whose names become the same Dagster name are both reported and both left out.
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from trakt_dagster.core.errors import LoadError, SourceLocation, cut_text, excerpt
from trakt_dagster.core.graph import TaskGraph
from trakt_dagster.core.names import dagster_name
from trakt_dagster.core.path_text import name_problem
from trakt_dagster.core.pymodules import shared_scan

FRONT_ENDS: tuple[str, ...] = (
    "trakt_dagster.trakt.frontend",
    "trakt_dagster.flowrun.frontend",
    "trakt_dagster.pit.frontend",
    "trakt_dagster.ductaflow.frontend",
    "trakt_dagster.loom.frontend",
)
PIPELINE_FOLDERS = ("pipelines", "projects")


class NamedLike(Protocol):
    """What a name collision is judged on: a pipeline's name, its tool and its file (a `TaskGraph` has them)."""

    @property
    def name(self) -> str: ...

    @property
    def tool(self) -> str: ...

    @property
    def source_file(self) -> Path: ...


@dataclass(frozen=True)
class LoadOptions:
    """Options every front end honours.

    Example:
        >>> LoadOptions(strict=False).strict
        False
    """

    strict: bool = True
    only: frozenset[str] | None = None
    """The pipelines the caller needs (names as written or as Dagster names; None: all). A front end may then
    skip the work of the others (translating, importing modules whose source never mentions a wanted name);
    `discover` returns only the wanted graphs and their errors. Pipelines sharing a wanted Dagster name are all
    kept, so the collision check still sees them."""

    def wants(self, name: str) -> bool:
        """Whether the pipeline `name` is needed (always, without `only`).

        Example:
            >>> LoadOptions(only=frozenset({"sales"})).wants("sales"), LoadOptions().wants("x")
            (True, True)
        """
        return self.only is None or name in self.only or dagster_name(name) in self.only


@dataclass
class FrontEndResult:
    """What a front end found: the graphs it could build and every error."""

    graphs: list[TaskGraph] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    warnings: list[LoadError] = field(default_factory=list)
    """Problems that do not stop loading (e.g. unknown keys a tool ignores), logged by `load_graphs`."""


def pipeline_of(error: LoadError, root: Path) -> str:
    """The pipeline an error belongs to: its own `pipeline`, else the folder (or module) it names.

    `<root>/pipelines/<folder>/...` and `<root>/projects/<folder>/...` → `<folder>`; `pipelines/<x>.py` →
    `<x>`; any other file → its name without suffix; no file → the tool (or `load_errors`).

    Example:
        >>> pipeline_of(LoadError("bad", SourceLocation(Path("/r/pipelines/sales/pipeline.yaml"))), Path("/r"))
        'sales'
        >>> pipeline_of(LoadError("bad", SourceLocation(Path("/r/pipelines/orders.py"))), Path("/r"))
        'orders'
        >>> pipeline_of(LoadError("bad", tool="pit"), Path("/r"))
        'pit'
    """
    if error.pipeline:
        return error.pipeline
    if error.location is None:
        return error.tool or "load_errors"
    path = Path(error.location.file)
    try:
        parts = path.resolve().relative_to(Path(root).resolve()).parts
    except (ValueError, OSError, RuntimeError):
        parts = path.parts
    for index, part in enumerate(parts[:-1]):
        if part in PIPELINE_FOLDERS:
            rest = parts[index + 1 :]
            return rest[0] if len(rest) > 1 else Path(rest[0]).stem
    return path.stem or path.name or (error.tool or "load_errors")


def unique_errors(errors: Iterable[LoadError]) -> list[LoadError]:
    """`errors` without repeats (the same module reported by two front ends), in first-seen order; O(N).

    Example:
        >>> unique_errors([LoadError("a"), LoadError("b"), LoadError("a")]) == [LoadError("a"), LoadError("b")]
        True
    """
    return list(dict.fromkeys(errors))


def front_end_failure(module_name: str, root: Path, exc: BaseException) -> LoadError:
    """An error for a front end that raised instead of returning errors (a bug, reported, not fatal)."""
    tool = module_name.split(".")[-2] if module_name.count(".") >= 2 else module_name
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return LoadError(
        f"The {tool} front end failed while loading {root}: {type(exc).__name__}: {cut_text(str(exc), 300)}{where}",
        None,
        "this is a bug in trakt-dagster's front end, not in your files: please report it; the other tools' "
        "pipelines are loaded",
        tool,
        pipeline=f"{tool}_front_end",
    )


def name_collisions[Named: NamedLike](graphs: Iterable[Named]) -> tuple[list[Named], list[LoadError]]:
    """Graphs whose names are unique as Dagster names, and one error per graph of every clash.

    Neither of two clashing pipelines wins: both are left out, and each gets an error naming the other.

    Example:
        >>> # kept, errors = name_collisions(graphs)
    """
    by_name: dict[str, list[Named]] = {}
    for graph in graphs:
        by_name.setdefault(dagster_name(graph.name), []).append(graph)
    kept: list[Named] = []
    errors: list[LoadError] = []
    for same in by_name.values():
        if len(same) == 1:
            kept.append(same[0])
            continue
        for graph in same:
            others = "; ".join(
                f"{other.tool} pipeline '{other.name}' ({other.source_file})" for other in same if other is not graph
            )
            errors.append(
                LoadError(
                    f"Pipeline name '{graph.name}' ({graph.tool}) is also used by {others}: neither is loaded.",
                    SourceLocation(graph.source_file),
                    "pipeline names become Dagster job and asset names and must be unique: rename one",
                    graph.tool,
                    pipeline=graph.name,
                )
            )
    return kept, errors


def discover(
    root: Path, options: LoadOptions | None = None, front_ends: tuple[str, ...] = FRONT_ENDS
) -> FrontEndResult:
    """Load the pipelines of every front end under `root`; every error is attributed to a pipeline.

    Example:
        >>> # found = discover(Path(".")); [g.name for g in found.graphs]
    """
    root = Path(root)
    found = _load_front_ends(root, options or LoadOptions(), front_ends)
    graphs, errors, warnings = found.graphs, found.errors, found.warnings
    if options is not None and options.only is not None:
        graphs = [graph for graph in graphs if options.wants(graph.name)]
    named: list[TaskGraph] = []
    for graph in graphs:
        problem = name_problem(graph.name)
        if problem is None:
            named.append(graph)
            continue
        errors.append(
            LoadError(
                f"The {graph.tool} pipeline name {excerpt(graph.name)} {problem}.",
                SourceLocation(graph.source_file),
                "give the pipeline a short name of letters, digits, '_' or '-'",
                graph.tool,
            )
        )
    kept, clashes = name_collisions(named)
    errors.extend(clashes)
    attributed = [e if e.pipeline else e.for_pipeline(pipeline_of(e, root)) for e in errors]
    if options is not None and options.only is not None:
        attributed = [e for e in attributed if options.wants(e.pipeline or "")]
    return FrontEndResult(graphs=kept, errors=unique_errors(attributed), warnings=unique_errors(warnings))


def _load_front_ends(root: Path, options: LoadOptions, front_ends: tuple[str, ...]) -> FrontEndResult:
    """Every front end's result, concatenated; a front end that raises becomes one error."""
    found = FrontEndResult()
    with shared_scan():  # the front ends that import Python modules list and read them once
        _run_front_ends(root, options, front_ends, found)
    return found


def _run_front_ends(root: Path, options: LoadOptions, front_ends: tuple[str, ...], found: FrontEndResult) -> None:
    for module_name in front_ends:
        try:
            module = importlib.import_module(module_name)
            result = module.load(root, options)
        except Exception as exc:  # noqa: BLE001 - one front end must not take the others down
            found.errors.append(front_end_failure(module_name, root, exc))
            continue
        found.graphs.extend(result.graphs)
        found.errors.extend(result.errors)
        found.warnings.extend(getattr(result, "warnings", ()))


def _tool_of(module_name: str) -> str:
    """`trakt_dagster.loom.frontend` -> `loom`."""
    parts = module_name.split(".")
    return parts[-2] if len(parts) >= 2 else module_name


@dataclass(frozen=True)
class NamedPipeline:
    """A pipeline known by name only (what a tool's own command loaded), for `clashes_with`.

    Example:
        >>> NamedPipeline("orders", "loom", Path("pipelines/orders/nightly.py")).tool
        'loom'
    """

    name: str
    tool: str
    source_file: Path


def clashes_with(
    root: Path,
    tool: str,
    own: Iterable[NamedLike],
    options: LoadOptions | None = None,
    *,
    same_tool: bool = False,
) -> list[LoadError]:
    """The name collisions `discover` reports for `own` (the pipelines one tool's command loaded by itself),
    among them and against every other tool's pipelines under `root` (whose front ends are loaded to learn
    their names); with `same_tool`, also against `tool`'s other pipelines under `root` (for a command that
    loaded one file only). A clash is reported on every file involved, so neither pipeline silently wins.
    The other front ends look only for pipelines that may carry one of `own`'s names (`LoadOptions.only`),
    so a command of one tool does not pay for translating the others (or importing their modules).

    Example:
        >>> # clashes = clashes_with(root, "loom", [NamedPipeline(p.name, "loom", p.module_path) for p in found])
        >>> # found = [p for p in found if dagster_name(p.name) not in clashing_names(clashes)]
    """
    mine = list(own)
    if not mine:
        return []
    others = tuple(m for m in FRONT_ENDS if same_tool or _tool_of(m) != tool)
    options = options or LoadOptions()
    if options.only is None:  # only a pipeline that may carry one of these Dagster names can clash
        options = replace(options, only=frozenset(n for p in mine for n in (p.name, dagster_name(p.name))))
    found = _load_front_ends(Path(root), options, others)
    itself = {(p.tool, dagster_name(p.name), _resolved(p.source_file)) for p in mine}
    theirs = [
        g
        for g in found.graphs
        if name_problem(g.name) is None and (g.tool, dagster_name(g.name), _resolved(g.source_file)) not in itself
    ]
    _, errors = name_collisions([*mine, *theirs])
    wanted = {dagster_name(p.name) for p in mine}
    return [e for e in errors if e.pipeline is not None and dagster_name(e.pipeline) in wanted]


def _resolved(path: Path) -> Path:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):
        return Path(path)


def clashing_names(errors: Iterable[LoadError]) -> set[str]:
    """The Dagster names of the pipelines that the collision errors `errors` leave out.

    Example:
        >>> sorted(clashing_names([LoadError("clash", pipeline="sales")]))
        ['sales']
    """
    return {dagster_name(e.pipeline) for e in errors if e.pipeline is not None}
