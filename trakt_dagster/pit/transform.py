"""pit's SQL transform engine: `models/**/*.sql` compiled into `compiled_models/<model>.sql`, one `sql` task per
model that is not ephemeral.

Discovery and configuration follow pit: every `*.sql` under `models/` is a model named after its file (names
are unique across folders); every `*.toml` under `models/` may hold `[defaults]` (applied from `models/` down
to the model's folder, the deeper one winning) and tables named after models (applied when the file is in the
model's folder or above it). Keys: `materialization` (view, table, incremental, ephemeral), `strategy` (merge,
delete_insert), `unique_key`, `columns`, `schema`, `connection`. Dependencies come from `{{ ref "x" }}` and
from `depends_on` of a `[[tasks]]` entry named after a model; models compile in pit's order (dependencies
first, otherwise by name). The compiled SQL is pit's, character for character (see `pit.transform_sql`).

Problems are `TransformError`s naming the file (and line and key where known), found at load rather than
when a run starts.
"""

from __future__ import annotations

import difflib
import heapq
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from trakt_dagster.core.atomic import atomic_path
from trakt_dagster.pit.gofmt import go_quote
from trakt_dagster.pit.toml_source import TomlDocument, TomlSyntaxError
from trakt_dagster.pit.transform_sql import (
    MATERIALIZATIONS,
    STRATEGIES,
    ModelSql,
    extract_refs,
    materialize,
    qualified_name,
    render_model,
    stored_procedure,
)

MODELS_DIR = "models"
COMPILED_DIR = "compiled_models"
DIALECTS = ("mssql",)
CONFIG_KEYS = {
    "materialization": str,
    "strategy": str,
    "unique_key": list,
    "columns": list,
    "schema": str,
    "connection": str,
}


class TransformError(ValueError):
    """A transform project that cannot compile: pit's message, with where it is and how to fix it.

    Example:
        >>> str(TransformError('model "x" has no schema configured', Path("models/x.sql")))
        'model "x" has no schema configured'
    """

    def __init__(
        self, message: str, file: Path | None = None, line: int | None = None, key: str | None = None, hint: str = ""
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.key = key
        self.hint = hint


@dataclass(frozen=True)
class ModelConfig:
    """A model's resolved configuration (empty values are unset, as in pit)."""

    materialization: str = ""
    strategy: str = ""
    unique_key: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    schema: str = ""
    connection: str = ""

    def merged(self, overlay: ModelConfig) -> ModelConfig:
        """`overlay`'s non-empty values over this config (pit's mergeConfig).

        Example:
            >>> ModelConfig(materialization="view", schema="dbo").merged(ModelConfig(schema="mart")).schema
            'mart'
        """
        return ModelConfig(
            **{name: getattr(overlay, name) or getattr(self, name) for name in CONFIG_KEYS},
        )


@dataclass(frozen=True)
class Model:
    """One model: its file, configuration, dependencies and compiled SQL (`None` for ephemeral models)."""

    name: str
    path: Path
    rel_path: str
    config: ModelConfig
    sql: str
    depends_on: tuple[str, ...] = ()
    rendered: str | None = None
    compiled: str | None = None

    @property
    def ephemeral(self) -> bool:
        return self.config.materialization == "ephemeral"

    @property
    def relation(self) -> str:
        """`[schema].[name]`, what `{{ ref }}` resolves to."""
        return qualified_name(self.config.schema, self.name)


@dataclass(frozen=True)
class CompileResult:
    """Every model (ephemeral ones too) in pit's execution order."""

    models_dir: Path
    order: tuple[str, ...]
    models: Mapping[str, Model] = field(default_factory=dict)

    @property
    def compiled(self) -> list[Model]:
        """The models that compile to SQL (not ephemeral), in order."""
        return [self.models[name] for name in self.order if not self.models[name].ephemeral]

    def task_deps(self, name: str) -> tuple[str, ...]:
        """A model task's dependencies: its model dependencies that are tasks themselves (not ephemeral)."""
        return tuple(dep for dep in self.models[name].depends_on if not self.models[dep].ephemeral)

    def write(self, out_dir: Path) -> list[Path]:
        """Write `<out_dir>/<model>.sql` for every compiled model; returns the paths."""
        written = []
        for model in self.compiled:
            path = Path(out_dir) / f"{model.name}.sql"
            with atomic_path(path) as tmp:  # a reader (or a run's sql task) never sees half a model
                tmp.write_bytes((model.compiled or "").encode("utf-8", errors="surrogateescape"))
            written.append(path)
        return written

    def stored_procedure(self, name: str, schema: str = "dbo") -> str:
        """`pit compile --stored-procedure`: all compiled models as one MSSQL procedure `[schema].[name]`."""
        compiled = {m.name: (m.config.materialization, m.compiled or "") for m in self.compiled}
        return stored_procedure(name, schema, self.order, compiled)


def walk_files(root: Path) -> Iterator[Path]:
    """Files under `root` in the order Go's `filepath.WalkDir` visits them (names sorted, depth first; links to
    folders are not followed)."""
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name.encode("utf-8", errors="surrogateescape"))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from walk_files(Path(entry.path))
        else:
            yield Path(entry.path)


@dataclass
class _TomlFile:
    path: Path
    doc: TomlDocument
    defaults: ModelConfig | None
    models: dict[str, ModelConfig]


def _read_config(doc: TomlDocument, table: str, values: Any, warnings: list[TransformError]) -> ModelConfig:
    if not isinstance(values, dict):
        raise TransformError(
            f"parsing model config {go_quote(str(doc.path))}: {table!r} must be a table of model settings",
            doc.path,
            doc.line_of("", table),
            table,
            f"write [{table}] with materialization, schema, ... below it",
        )
    found: dict[str, Any] = {}
    for key, value in values.items():
        kind = CONFIG_KEYS.get(key)
        if kind is None:
            close = difflib.get_close_matches(key, list(CONFIG_KEYS), n=1, cutoff=0.6)
            warnings.append(
                TransformError(
                    f"Unknown key '{key}' in [{table}]: pit ignores it.",
                    doc.path,
                    doc.line_of(table, key),
                    f"{table}.{key}",
                    f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(CONFIG_KEYS)}",
                )
            )
            continue
        good = (
            isinstance(value, str)
            if kind is str
            else isinstance(value, list) and all(isinstance(v, str) for v in value)
        )
        if not good:
            example = f'{key} = "..."' if kind is str else f'{key} = ["id"]'
            raise TransformError(
                f"parsing model config {go_quote(str(doc.path))}: {key} must be "
                f"{'a string' if kind is str else 'an array of strings'}, not {type(value).__name__}",
                doc.path,
                doc.line_of(table, key),
                f"{table}.{key}",
                f"write it as {example}",
            )
        found[key] = tuple(value) if kind is list else value
    return ModelConfig(**found)


def _parse_toml(path: Path, warnings: list[TransformError]) -> _TomlFile:
    try:
        doc = TomlDocument.read(path)
    except TomlSyntaxError as exc:
        raise TransformError(
            f"parsing model config {go_quote(str(path))}: {exc}", path, exc.line, None, "fix the TOML syntax"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TransformError(f"reading model config {go_quote(str(path))}: {exc}", path) from None
    defaults = None
    models: dict[str, ModelConfig] = {}
    for key, values in doc.data.items():
        config = _read_config(doc, key, values, warnings)
        if key == "defaults":
            defaults = config
        else:
            models[key] = config
    return _TomlFile(path, doc, defaults, models)


def _is_ancestor_or_equal(folder: Path, target: Path) -> bool:
    rel = os.path.relpath(target, folder)
    return not rel.startswith("..")


def resolve_configs(
    models_dir: Path, warnings: list[TransformError] | None = None
) -> dict[str, tuple[Path, ModelConfig]]:
    """Every model under `models_dir`: (its .sql file, its configuration after pit's cascade).

    Example:
        >>> resolve_configs(Path("/nonexistent/models"))
        {}
    """
    warnings = warnings if warnings is not None else []
    models_dir = Path(models_dir)
    files = list(walk_files(models_dir))
    sql_files: dict[str, Path] = {}
    for path in files:
        if not path.name.endswith(".sql"):
            continue
        name = path.name[: -len(".sql")]
        if name in sql_files:
            raise TransformError(
                f"duplicate model name {go_quote(name)}: {sql_files[name]} and {path}",
                path,
                hint="model names are file names and must be unique across the folders of models/",
            )
        sql_files[name] = path
    if not sql_files:
        return {}
    tomls = [_parse_toml(path, warnings) for path in files if path.name.endswith(".toml")]
    resolved: dict[str, tuple[Path, ModelConfig]] = {}
    for name, path in sql_files.items():
        folder = path.parent
        chain = [models_dir]
        rel = os.path.relpath(folder, models_dir)
        if rel != ".":
            for part in Path(rel).parts:
                chain.append(chain[-1] / part)
        config = ModelConfig()
        for level in chain:
            for toml in tomls:
                if toml.path.parent == level and toml.defaults is not None:
                    config = config.merged(toml.defaults)
        for toml in tomls:
            override = toml.models.get(name)
            if override is not None and _is_ancestor_or_equal(toml.path.parent, folder):
                config = config.merged(override)
        resolved[name] = (path, config)
    return resolved


def _check(name: str, path: Path, config: ModelConfig, dialect: str) -> None:
    def fail(message: str, key: str, hint: str) -> None:
        raise TransformError(message, path, None, key, hint)

    if not config.materialization:
        fail(
            f"model {go_quote(name)} has no materialization configured",
            "materialization",
            'set materialization = "view" (or table, incremental, ephemeral) in [defaults] of a models/*.toml',
        )
    if config.materialization not in MATERIALIZATIONS:
        fail(
            f"model {go_quote(name)}: unknown materialization {go_quote(config.materialization)}",
            "materialization",
            f"use one of {', '.join(MATERIALIZATIONS)}",
        )
    if config.materialization != "ephemeral" and not config.schema:
        fail(f"model {go_quote(name)} has no schema configured", "schema", 'set schema = "dbo" for the model')
    if config.materialization == "incremental":
        if not config.unique_key:
            fail(
                f"model {go_quote(name)} is incremental but has no unique_key configured",
                "unique_key",
                'set unique_key = ["id"]',
            )
        strategy = config.strategy or "merge"
        if strategy not in STRATEGIES:
            fail(
                f"model {go_quote(name)}: unknown incremental strategy {go_quote(strategy)}",
                "strategy",
                f"use one of {', '.join(STRATEGIES)}",
            )
        if strategy == "merge" and not config.columns:
            fail(
                f"model {go_quote(name)} uses incremental merge strategy but has no columns configured",
                "columns",
                'list every column: columns = ["id", "amount"]',
            )
    if config.materialization != "ephemeral" and dialect not in DIALECTS:
        fail(
            f"loading materialization template {dialect}/{config.materialization}: no such dialect",
            "dialect",
            'pit has MSSQL templates only: dialect = "mssql"',
        )


def model_order(edges: Mapping[str, Sequence[str]]) -> list[str]:
    """pit's execution order: Kahn's algorithm, always taking the smallest ready name; raises on a cycle.

    Example:
        >>> model_order({"b": ["a"], "a": [], "c": []})
        ['a', 'b', 'c']
    """
    indegree = {node: len(deps) for node, deps in edges.items()}
    dependents: dict[str, list[str]] = {}
    for node, deps in edges.items():
        for dep in deps:
            dependents.setdefault(dep, []).append(node)
    ready = [node for node, degree in indegree.items() if degree == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for dependent in sorted(dependents.get(node, ())):
            indegree[dependent] -= 1
            if indegree[dependent] == 0:
                heapq.heappush(ready, dependent)
    if len(order) != len(indegree):
        stuck = sorted(node for node, degree in indegree.items() if degree > 0)
        raise TransformError(
            f"building model DAG: cycle detected in model dependencies ({', '.join(stuck)})",
            hint="remove one of the refs or depends_on entries that close the cycle",
        )
    return order


def compile_models(
    project_dir: Path,
    dialect: str,
    explicit_deps: Mapping[str, Sequence[str]] | None = None,
    warnings: list[TransformError] | None = None,
) -> CompileResult:
    """Compile `<project_dir>/models` as pit does (raises `TransformError`).

    `explicit_deps` are the `depends_on` of `[[tasks]]` entries named after models (only deps on models count).

    Example:
        >>> compile_models(Path("/nonexistent"), "mssql").order
        ()
    """
    models_dir = Path(project_dir) / MODELS_DIR
    configs = resolve_configs(models_dir, warnings)
    texts: dict[str, str] = {}
    for name, (path, config) in sorted(configs.items()):
        _check(name, path, config, dialect)
        try:
            texts[name] = path.read_bytes().decode("utf-8", errors="surrogateescape")
        except OSError as exc:
            raise TransformError(f"reading model {go_quote(name)}: {exc.strerror or exc}", path) from None
    edges: dict[str, list[str]] = {name: [] for name in configs}
    for name in sorted(configs):
        for ref in extract_refs(texts[name]):
            if ref not in configs:
                close = difflib.get_close_matches(ref, list(configs), n=1)
                raise TransformError(
                    f"building model DAG: model {go_quote(name)} references unknown model {go_quote(ref)} via ref()",
                    configs[name][0],
                    _line_of(texts[name], ref),
                    None,
                    f'did you mean "{close[0]}"?' if close else "every ref names a models/**/<name>.sql file",
                )
            if ref not in edges[name]:
                edges[name].append(ref)
    for name, deps in (explicit_deps or {}).items():
        if name in configs:
            for dep in deps:
                if dep in configs and dep not in edges[name]:
                    edges[name].append(dep)
    order = model_order(edges)
    sources = {
        name: ModelSql(texts[name], config.schema, config.materialization) for name, (_, config) in configs.items()
    }
    models: dict[str, Model] = {}
    for name in order:
        path, config = configs[name]
        model = Model(name, path, path.relative_to(models_dir).as_posix(), config, texts[name], tuple(edges[name]))
        if not model.ephemeral:
            rendered = render_model(name, sources)
            compiled = materialize(
                config.materialization,
                this=model.relation,
                sql=rendered,
                unique_key=config.unique_key,
                columns=config.columns,
                strategy=config.strategy,
            )
            model = replace(model, rendered=rendered, compiled=compiled)
        models[name] = model
    return CompileResult(models_dir, tuple(order), models)


def _line_of(text: str, ref: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if ref in line and "ref" in line:
            return number
    return None
