"""The runner config of loom pipelines: loom's own YAML (`ETLRunner.from_yaml`) plus a `dagster:` block.

A pipeline module's config is `loom.yaml` (or `loom.yml`) in its folder, or the file or config directory
named by the module attribute `loom_config` (relative to the module's folder). The file is read with
loom's own loader and rules (OmegaConf interpolation, `includes`, config directories with `base.yaml` +
`<environment>.yaml`, unknown keys rejected), so what loads here is exactly what `ETLRunner.from_yaml`
accepts. Every problem becomes a `LoadError` with the file, the line and the key.

Relative local paths in the config (`storage.defaults.table_path.uri`, `storage.tables[].path.uri`,
`storage.files[].path.uri`, `observability.lineage.root`) are taken relative to the config's folder, so a
pipeline folder works wherever Dagster is started; cloud URIs and absolute paths are used as written.

loom ignores top-level keys it does not know, so the adapter's own settings live beside loom's under
`dagster:` (see `PipelineSettings`); `dagster: {pipelines: {<PipelineClass>: {...}}}` overrides them for
one pipeline.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from trakt_dagster.core.errors import LoadError, SourceLocation
from trakt_dagster.core.text_files import TextFileError, read_config_text
from trakt_dagster.core.triggers import is_timezone
from trakt_dagster.trakt.yaml_source import YamlDocument, YamlLimitError

TOOL = "loom"
CONFIG_NAMES = ("loom.yaml", "loom.yml")
CONFIG_ATTRIBUTE = "loom_config"
SETTINGS_KEY = "dagster"
CORRELATION_RUN = "run"
CORRELATION_NONE = "none"
_CLOUD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_AT_PATH = re.compile(r"at `\$\.?([^`]*)`")
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")
_SECTION = re.compile(r"Config section '([^']+)'")


class ConfigProblem(Exception):
    """A runner config that loom (or the adapter) rejects; carries the load errors."""

    def __init__(self, errors: list[LoadError]) -> None:
        self.errors = errors
        super().__init__("\n".join(e.render() for e in errors))


@dataclass(frozen=True)
class DailyPartitions:
    """`partitions: {field: run_date, start: 2026-01-01}`: one Dagster partition per day, whose key
    (`YYYY-MM-DD`) becomes the date field of the run's params.

    Example:
        >>> DailyPartitions("run_date", date(2026, 1, 1)).field
        'run_date'
    """

    field: str
    start: date
    end_offset: int = 0
    timezone: str | None = None


@dataclass(frozen=True)
class PipelineSettings:
    """The adapter's settings for one pipeline (the `dagster:` block of the runner config).

    * `temp_root`: local folder for temps when loom's `storage.temp.root` is not set (loom accepts only
      cloud URIs there); default `<runs dir>/<pipeline>/checkpoints`;
    * `retries` / `retry_delay`: Dagster retries of the pipeline's op; each attempt is one
      `ETLRunner.run` call with `attempt` / `last_attempt`;
    * `correlation_key`: `run` (default: one correlation id per Dagster run, kept by its retries and
      re-executions), a params field (`run_date`: one per value), or `none` (no correlation id);
    * `partitions`: daily partitions driving a date field of the params;
    * `schedule`: `{cron: "0 2 * * *", timezone: Europe/Berlin}` (not with partitions);
    * `environment`: loom's environment (`LOOM_ENV`) for the runner: picks the overlay of a config
      directory and whether loom's deploy checks run.
    * `pool`: the Dagster concurrency pool of the pipeline's op(s);
    * `granularity`: `pipeline` (default: one op, one `ETLRunner.run` call per run) or `step` (one op per
      step, each its own `run` call with `include` = that step and the temps' writers it reads; tables
      carry the data between ops).

    Example:
        >>> PipelineSettings(retries=1).correlation_key
        'run'
    """

    temp_root: str | None = None
    retries: int = 0
    retry_delay: float | None = None
    correlation_key: str = CORRELATION_RUN
    partitions: DailyPartitions | None = None
    schedule: tuple[str, str | None] | None = None
    environment: str | None = None
    granularity: str = "pipeline"
    pool: str | None = None

    @property
    def file_settings(self) -> frozenset[str]:
        """The Component-overridable settings this config sets (those not at their default)."""
        names = {"granularity": "granularity", "pool": "pool", "retries": "retries"}
        default = PipelineSettings()
        return frozenset(k for k, f in names.items() if getattr(self, f) != getattr(default, f))


@dataclass(frozen=True)
class RunnerConfig:
    """A loom runner config as loom reads it, plus the adapter's settings.

    `path` is what `ETLRunner.from_yaml` receives (a file or a config directory); `source` the file whose
    lines errors point at (the file itself, or the directory's `base.yaml`).

    Example:
        >>> # config = read_runner_config(Path("pipelines/orders/loom.yaml"))
        >>> # config.storage.missing_table_policy, config.settings_for("Nightly").retries
    """

    path: Path
    source: Path
    storage: Any = field(compare=False, repr=False)
    """loom's `StorageConfig`, relative local paths made absolute against the config's folder."""
    observability: Any = field(compare=False, repr=False)
    context: Any = field(default=None, compare=False, repr=False)
    """loom's `ConfigContext` of the whole file (what the steps' `FromConfig` values come from)."""
    environment: str | None = None
    defaults: PipelineSettings = PipelineSettings()
    per_pipeline: Mapping[str, PipelineSettings] = field(default_factory=dict)
    pipeline_lines: Mapping[str, int | None] = field(default_factory=dict)
    uses_cloud_temps: bool = False

    def settings_for(self, pipeline: str) -> PipelineSettings:
        return self.per_pipeline.get(pipeline, self.defaults)

    def table_location(self, ref: str) -> tuple[str, dict[str, str]] | None:
        """`(uri, storage_options)` of a table under loom's path routing, or None (catalog tables)."""
        from loom.etl import TableRef

        try:
            location = self.storage.to_path_locator().locate(TableRef(ref))
        except Exception:  # noqa: BLE001 - catalog-only configs have no path locator
            return None
        return location.uri, dict(location.storage_options or {})

    def file_template(self, alias: str) -> str | None:
        """The URI template of a `storage.files` alias."""
        for route in self.storage.files:
            if route.name == alias:
                return route.path.uri
        return None


_cache: dict[tuple[Path, float, str | None], RunnerConfig | ConfigProblem] = {}
_lock = threading.Lock()


def find_config(module_path: Path, module: Any) -> Path | LoadError:
    """The runner config of a pipeline module: `loom_config` (module attribute), else `loom.yaml` beside it."""
    folder = module_path.parent
    named = getattr(module, CONFIG_ATTRIBUTE, None)
    if named is not None:
        if not isinstance(named, str | Path):
            return LoadError(
                f"{CONFIG_ATTRIBUTE} must be a path (str), got {type(named).__name__}.",
                SourceLocation(module_path, None, CONFIG_ATTRIBUTE),
                "name loom's runner YAML (or a config directory), relative to this module's folder",
                TOOL,
            )
        path = Path(named) if Path(named).is_absolute() else folder / named
        if not path.exists():
            return LoadError(
                f"{CONFIG_ATTRIBUTE} names {path}, which does not exist.",
                SourceLocation(module_path, None, CONFIG_ATTRIBUTE),
                "fix the path (relative to this module's folder) or create the file",
                TOOL,
            )
        return path
    for name in CONFIG_NAMES:
        if (folder / name).is_file():
            return folder / name
    return LoadError(
        f"No loom runner config for {module_path.name}: expected {folder / CONFIG_NAMES[0]}.",
        SourceLocation(module_path),
        "add loom.yaml beside the module (storage: {defaults: {table_path: {uri: ...}}, "
        "missing_table_policy: create}), or set loom_config = '<file or folder>' in the module",
        TOOL,
    )


def read_runner_config(path: Path, environment: str | None = None) -> RunnerConfig:
    """Read and check a runner config (cached per file version); raises `ConfigProblem`."""
    path = Path(path).resolve()
    source = path / "base.yaml" if path.is_dir() else path
    try:
        mtime = source.stat().st_mtime
    except OSError:
        mtime = -1.0
    key = (path, mtime, environment)
    with _lock:
        found = _cache.get(key)
        if found is None:
            try:
                found = _read(path, source, environment)
            except ConfigProblem as problem:
                found = problem
            _cache[key] = found
    if isinstance(found, ConfigProblem):
        raise found
    return found


def _read(path: Path, source: Path, environment: str | None) -> RunnerConfig:
    if path.is_dir() and not source.is_file():
        raise _problem(f"Config directory {path} has no base.yaml.", source, None, None, "add base.yaml")
    try:
        text = read_config_text(source)
        document = YamlDocument.parse(text)
    except OSError as exc:
        raise _problem(f"Cannot read {source}: {exc}", source, None, None, "check the file") from None
    except TextFileError as exc:
        raise _problem(f"Cannot read {source}: {exc}", source, exc.line, None, "save it as UTF-8 text") from None
    except YamlLimitError as exc:
        raise _problem(
            f"The loom runner config is not valid YAML: {exc}",
            source,
            exc.line,
            None,
            "simplify the YAML at that line: quote values meant as text, avoid deep nesting and large aliases",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise _problem(
            f"The loom runner config is not valid YAML: {exc}",
            source,
            mark.line + 1 if mark is not None else None,
            None,
            "fix the YAML syntax",
        ) from None
    data = document.data if isinstance(document.data, dict) else {}
    block = data.get(SETTINGS_KEY) or {}
    defaults, per_pipeline, lines = _settings(block, document, source)
    environment = environment or defaults.environment
    storage_raw = data.get("storage") if isinstance(data.get("storage"), dict) else {}
    if storage_raw.get("engine") == "spark":
        raise _problem(
            "storage.engine: spark asks for loom's Spark backend, which trakt-dagster does not run "
            "(it runs loom with its Polars backend).",
            source,
            document.line(("storage", "engine")),
            "storage.engine",
            "remove `engine: spark` (Polars is loom's default engine) or run this pipeline with loom on Spark",
        )
    storage, observability, context = _loom_sections(path, source, document, environment)
    base = path if path.is_dir() else path.parent
    storage = absolute_storage_paths(storage, base)
    observability = absolute_lineage_root(observability, base)
    temp_root = storage.temp.root
    if temp_root and not _is_cloud(temp_root):
        raise _problem(
            "storage.temp.root must be a cloud URI (s3://, gs://, abfss://, ...): loom refuses local "
            f"checkpoint roots ({temp_root!r}).",
            source,
            document.line(("storage", "temp", "root")),
            "storage.temp.root",
            "for a local folder use `dagster: {temp_root: <folder>}` instead (or leave both out: trakt-dagster "
            "then keeps temps under runs/<pipeline>/checkpoints)",
        )
    _check_roots(storage, source, document)
    return RunnerConfig(
        path=path,
        source=source,
        storage=storage,
        observability=observability,
        context=context,
        environment=environment,
        defaults=defaults,
        per_pipeline=per_pipeline,
        pipeline_lines=lines,
        uses_cloud_temps=bool(temp_root),
    )


def _loom_sections(path: Path, source: Path, document: YamlDocument, environment: str | None) -> tuple[Any, Any, Any]:
    """`storage:` and `observability:` read by loom's own loader (what `ETLRunner.from_yaml` does first),
    then loom's deploy checks for the environment."""
    import msgspec
    from loom.core.checks import REST_CHECKS, enforce_deploy_checks
    from loom.core.environment import resolve_environment
    from loom.etl.runner.config_loader import _load_context, _parse_sections

    try:
        resolved = resolve_environment(environment)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # OmegaConf's deprecation notice on every load
            context = _load_context(str(path), environment=resolved)
            storage, observability = _parse_sections(context)
        storage.validate()
        enforce_deploy_checks(context, resolved, skip=(REST_CHECKS,))
    except (ValueError, TypeError, msgspec.ValidationError) as exc:
        message = str(exc)
        key = _key_of(message)
        raise _problem(
            f"loom rejects the runner config: {type(exc).__name__}: {message}",
            source,
            document.line(tuple(key.split("."))) if key else None,
            key,
            _hint_for(message),
        ) from None
    except Exception as exc:  # noqa: BLE001 - loom's ConfigError, DeployCheckError, ...
        message = str(exc)
        key = _key_of(message)
        raise _problem(
            f"loom rejects the runner config: {type(exc).__name__}: {message}",
            source,
            _line_of(message, document, key),
            key,
            _hint_for(message),
        ) from None
    return storage, observability, context


def absolute_storage_paths(storage: Any, base: Path) -> Any:
    """loom's `StorageConfig` with relative local table and file URIs made absolute against `base`."""
    import msgspec

    def fix(uri: str) -> str:
        local = _local(uri) if uri else None
        if local is None or local.is_absolute() or uri.startswith("file://"):
            return uri
        return str((base / local).resolve())

    changes: dict[str, Any] = {}
    default = storage.defaults.table_path
    if default is not None and fix(default.uri) != default.uri:
        changes["defaults"] = msgspec.structs.replace(
            storage.defaults, table_path=msgspec.structs.replace(default, uri=fix(default.uri))
        )
    tables = tuple(
        msgspec.structs.replace(r, path=msgspec.structs.replace(r.path, uri=fix(r.path.uri))) if r.path else r
        for r in storage.tables
    )
    if tables != storage.tables:
        changes["tables"] = tables
    files = tuple(
        msgspec.structs.replace(r, path=msgspec.structs.replace(r.path, uri=fix(r.path.uri))) for r in storage.files
    )
    if files != storage.files:
        changes["files"] = files
    return msgspec.structs.replace(storage, **changes) if changes else storage


def absolute_lineage_root(observability: Any, base: Path) -> Any:
    """loom's observability config with a relative local `lineage.root` made absolute against `base`."""
    import msgspec

    lineage = getattr(observability, "lineage", None)
    root = getattr(lineage, "root", "")
    local = _local(root) if root else None
    if local is None or local.is_absolute():
        return observability
    fixed = msgspec.structs.replace(lineage, root=str((base / local).resolve()))
    return msgspec.structs.replace(observability, lineage=fixed)


def _key_of(message: str) -> str | None:
    section = _SECTION.search(message)
    parts: list[str] = [section.group(1)] if section else []
    at = _AT_PATH.search(message)
    if at and at.group(1):
        parts.extend(p for p in re.split(r"[.\[\]]+", at.group(1)) if p)
    unknown = _UNKNOWN_FIELD.search(message)
    if unknown:
        parts.append(unknown.group(1))
    if not parts:
        found = re.search(r"\b(storage(?:\.[A-Za-z_]+)+|observability(?:\.[A-Za-z_]+)+)", message)
        return found.group(1) if found else None
    return ".".join(parts)


def _line_of(message: str, document: YamlDocument, key: str | None) -> int | None:
    found = re.search(r"line (\d+)", message)
    if found:
        return int(found.group(1))
    return document.line(tuple(key.split("."))) if key else None


def _hint_for(message: str) -> str:
    if "tmp_root" in message:
        return (
            "loom 9 keeps temps under storage.temp.root (a cloud URI); for a local folder use dagster: {temp_root: ...}"
        )
    if "unknown field" in message:
        return "remove the key or fix its spelling: loom 9 rejects keys it does not know"
    if "section not found: 'storage'" in message:
        return (
            "add a storage: section, e.g. storage: {defaults: {table_path: {uri: lake}}, missing_table_policy: create}"
        )
    if "enum value" in message:
        return "use one of the values loom accepts for this key"
    return "fix the runner config as loom's message says"


def _is_cloud(uri: str) -> bool:
    return bool(_CLOUD.match(uri)) and not uri.startswith("file://")


def _local(uri: str) -> Path | None:
    if uri.startswith("file://"):
        return Path(uri[len("file://") :])
    return None if _is_cloud(uri) else Path(uri)


def _check_roots(storage: Any, source: Path, document: YamlDocument) -> None:
    """A local table root that does not exist is a typo more often than a new lake: refuse it."""
    roots: list[tuple[str, tuple[str | int, ...], Path]] = []
    default = storage.defaults.table_path
    if default is not None and default.uri and (local := _local(default.uri)) is not None:
        roots.append(("storage.defaults.table_path.uri", ("storage", "defaults", "table_path", "uri"), local))
    for route in storage.tables:
        if route.path is not None and route.path.uri and (local := _local(route.path.uri)) is not None:
            roots.append((f"storage.tables[{route.name}].path.uri", ("storage", "tables"), local.parent))
    for key, path, folder in roots:
        if not folder.is_dir():
            raise _problem(
                f"{key}: the table root folder {folder} does not exist.",
                source,
                document.line(path),
                key,
                "create the folder (loom creates the tables inside it) or fix the path; relative paths are "
                "relative to the config file's folder",
            )


def _settings(
    block: Any, document: YamlDocument, source: Path
) -> tuple[PipelineSettings, dict[str, PipelineSettings], dict[str, int | None]]:
    if not isinstance(block, dict):
        raise _problem(
            f"{SETTINGS_KEY}: must be a mapping, got {type(block).__name__}.",
            source,
            document.line((SETTINGS_KEY,)),
            SETTINGS_KEY,
            "write the adapter's settings as keys under dagster:",
        )
    own = {k: v for k, v in block.items() if k != "pipelines"}
    defaults = _parse_settings(own, PipelineSettings(), (SETTINGS_KEY,), document, source)
    per: dict[str, PipelineSettings] = {}
    lines: dict[str, int | None] = {}
    pipelines = block.get("pipelines") or {}
    if not isinstance(pipelines, dict):
        raise _problem(
            "dagster.pipelines must map pipeline class names to settings.",
            source,
            document.line((SETTINGS_KEY, "pipelines")),
            "dagster.pipelines",
            "write dagster: {pipelines: {MyPipeline: {retries: 1}}}",
        )
    for name, values in pipelines.items():
        path = (SETTINGS_KEY, "pipelines", str(name))
        if not isinstance(values, dict):
            raise _problem(
                f"dagster.pipelines.{name} must be a mapping of settings.",
                source,
                document.line(path),
                ".".join(path),
                "e.g. dagster: {pipelines: {MyPipeline: {retries: 1}}}",
            )
        per[str(name)] = _parse_settings(values, defaults, path, document, source)
        lines[str(name)] = document.line(path)
    return defaults, per, lines


_KNOWN = (
    "temp_root",
    "retries",
    "retry_delay",
    "correlation_key",
    "partitions",
    "schedule",
    "environment",
    "granularity",
    "pool",
)


def _parse_settings(
    values: Mapping[str, Any],
    base: PipelineSettings,
    path: tuple[str, ...],
    document: YamlDocument,
    source: Path,
) -> PipelineSettings:
    def fail(key: str, message: str, hint: str) -> ConfigProblem:
        where = (*path, key)
        return _problem(message, source, document.line(where), ".".join(where), hint)

    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key not in _KNOWN:
            raise fail(
                str(key),
                f"Unknown key '{key}' in {'.'.join(path)}.",
                f"known keys: {', '.join((*_KNOWN, 'pipelines')) if len(path) == 1 else ', '.join(_KNOWN)}",
            )
        if key == "temp_root":
            if not isinstance(value, str) or not value.strip() or _is_cloud(value):
                raise fail(key, f"temp_root must be a local folder path, got {value!r}.", _TEMP_HINT)
            changes[key] = value
        elif key == "retries":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise fail(key, f"retries must be a whole number >= 0, got {value!r}.", "e.g. retries: 2")
            changes[key] = value
        elif key == "retry_delay":
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise fail(key, f"retry_delay must be seconds >= 0, got {value!r}.", "e.g. retry_delay: 30")
            changes[key] = float(value)
        elif key == "correlation_key":
            if not isinstance(value, str) or not value.strip():
                raise fail(key, f"correlation_key must be a string, got {value!r}.", _CORRELATION_HINT)
            changes[key] = value.strip()
        elif key == "environment":
            if value not in ("production", "staging", "development", "test"):
                raise fail(
                    key, f"environment must be production, staging, development or test, got {value!r}.", _ENV_HINT
                )
            changes[key] = value
        elif key == "pool":
            if not isinstance(value, str) or not value.strip():
                raise fail(key, f"pool must be a pool name, got {value!r}.", "e.g. pool: warehouse")
            changes[key] = value.strip()
        elif key == "granularity":
            if value not in ("pipeline", "step"):
                raise fail(
                    key,
                    f"granularity must be pipeline or step, got {value!r}.",
                    "step: one Dagster op per loom step (each its own ETLRunner.run call); pipeline: one op",
                )
            changes[key] = value
        elif key == "partitions":
            changes[key] = _partitions(value, fail)
        elif key == "schedule":
            changes[key] = _schedule(value, fail)
    settings = replace(base, **changes)
    if settings.partitions is not None and settings.schedule is not None:
        raise fail(
            "schedule",
            "schedule cannot be combined with partitions.",
            "drop schedule: launch partitioned runs from the UI, a backfill or a partitioned schedule",
        )
    return settings


_TEMP_HINT = "a local folder for loom temps (cloud roots go to loom's storage.temp.root)"
_CORRELATION_HINT = "run (default: one id per Dagster run), none, or the name of a params field such as run_date"
_ENV_HINT = "leave it out to use LOOM_ENV (loom's default: production)"


def _partitions(value: Any, fail: Any) -> DailyPartitions:
    if not isinstance(value, dict):
        raise fail("partitions", f"partitions must be a mapping, got {value!r}.", _PARTITIONS_HINT)
    unknown = set(value) - {"field", "start", "end_offset", "timezone", "type"}
    if unknown:
        raise fail(
            "partitions", f"Unknown key(s) in partitions: {', '.join(sorted(map(str, unknown)))}.", _PARTITIONS_HINT
        )
    if value.get("type", "daily") != "daily":
        raise fail(
            "partitions", f"Only daily partitions are supported, got type {value.get('type')!r}.", _PARTITIONS_HINT
        )
    name = value.get("field")
    if not isinstance(name, str) or not name:
        raise fail("partitions", "partitions.field must name a date field of the params.", _PARTITIONS_HINT)
    start = value.get("start")
    if isinstance(start, str):
        try:
            start = date.fromisoformat(start)
        except ValueError:
            start = None
    if not isinstance(start, date):
        raise fail(
            "partitions", f"partitions.start must be a date (YYYY-MM-DD), got {value.get('start')!r}.", _PARTITIONS_HINT
        )
    offset = value.get("end_offset", 0)
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise fail("partitions", f"partitions.end_offset must be a whole number, got {offset!r}.", _PARTITIONS_HINT)
    timezone = value.get("timezone")
    if timezone is not None and not (isinstance(timezone, str) and is_timezone(timezone)):
        raise fail("partitions", f"partitions.timezone {timezone!r} is not a known time zone.", "e.g. Europe/Berlin")
    return DailyPartitions(name, start, offset, timezone)


_PARTITIONS_HINT = "e.g. partitions: {field: run_date, start: 2026-01-01}"


def _schedule(value: Any, fail: Any) -> tuple[str, str | None]:
    if isinstance(value, str):
        value = {"cron": value}
    if not isinstance(value, dict) or not isinstance(value.get("cron"), str):
        raise fail("schedule", f"schedule must be {{cron: '...', timezone: ...}}, got {value!r}.", _SCHEDULE_HINT)
    unknown = set(value) - {"cron", "timezone"}
    if unknown:
        raise fail("schedule", f"Unknown key(s) in schedule: {', '.join(sorted(map(str, unknown)))}.", _SCHEDULE_HINT)
    timezone = value.get("timezone")
    if timezone is not None and not (isinstance(timezone, str) and is_timezone(timezone)):
        raise fail("schedule", f"schedule.timezone {timezone!r} is not a known time zone.", "e.g. Europe/Berlin")
    return value["cron"], timezone


_SCHEDULE_HINT = "e.g. schedule: {cron: '0 2 * * *', timezone: Europe/Berlin}"


def _problem(message: str, file: Path, line: int | None, key: str | None, hint: str) -> ConfigProblem:
    return ConfigProblem([LoadError(message, SourceLocation(file, line, key), hint, TOOL)])
