"""Read `pit_config.toml` and `projects/<name>/pit.toml` into the model, with every problem located.

Type mismatches are errors (pit fails the load); unknown keys are **warnings** naming the file, table and
key with the closest known key (`depend_on` → `depends_on`, N6) — pit ignores them silently. The rules
that need the whole project (dependencies, scripts, schedules) are in `pit.validate`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trakt_dagster.core.errors import LoadError, SourceLocation, excerpt
from trakt_dagster.core.path_text import path_text_problem
from trakt_dagster.core.text_files import TextFileError
from trakt_dagster.pit.durations import DurationError, optional_timeout, parse_go_duration
from trakt_dagster.pit.model import DbtSettings, FtpWatchSettings, PitOutput, PitProject, PitTask, WorkspaceConfig
from trakt_dagster.pit.toml_source import TomlDocument, TomlSyntaxError

TOOL = "pit"
WORKSPACE_FILE = "pit_config.toml"
PROJECT_FILE = "pit.toml"

STR, INT, BOOL, STR_LIST = "string", "integer", "boolean", "array of strings"
NUMBER = "number"
STR_OR_LIST = "string or array of strings"
LIST_OR_TABLE = "array of strings or table"
TABLE, TABLES = "table", "array of tables"

SCHEMA: dict[str, dict[str, str]] = {
    "": {"dag": TABLE, "tasks": TABLES, "outputs": TABLES},
    "dag": {
        "name": STR,
        "schedule": STR,
        "overlap": STR,
        "timeout": STR,
        "requires": LIST_OR_TABLE,
        "keep_artifacts": STR_LIST,
        "git_url": STR,
        "git_ref": STR,
        "sql": TABLE,
        "transform": TABLE,
        "ftp_watch": TABLE,
        "webhook": TABLE,
        "dbt": TABLE,
        "dagster": TABLE,
        "description": STR,
    },
    "dag.sql": {"connection": STR},
    "dag.transform": {"dialect": STR},
    "dag.ftp_watch": {
        "secret": STR,
        "host": STR,
        "user": STR,
        "password_secret": STR,
        "port": INT,
        "tls": BOOL,
        "directory": STR,
        "pattern": STR,
        "archive_dir": STR,
        "poll_interval": STR,
        "stable_seconds": INT,
    },
    "dag.webhook": {"token_secret": STR},
    "dag.dbt": {
        "version": STR,
        "adapter": STR,
        "extra_deps": STR_LIST,
        "project_dir": STR,
        "profile": STR,
        "target": STR,
        "threads": STR,
        "connection": STR,
    },
    "dag.dagster": {"max_parallel": INT, "pool": STR, "keep_runs": INT, "keep_days": NUMBER, "granularity": STR},
    "tasks": {
        "name": STR,
        "script": STR,
        "runner": STR,
        "depends_on": STR_LIST,
        "timeout": STR,
        "retries": INT,
        "retry_delay": STR,
        "type": STR,
        "source": STR,
        "output": STR,
        "table": STR,
        "mode": STR,
        "connection": STR,
        "description": STR,
    },
    "outputs": {"name": STR, "type": STR, "location": STR, "recipients": STR_OR_LIST},
}

NO_EFFECT = {
    "runs_dir": "run folders go to runs/ beside definitions.py, or $TRAKT_DAGSTER_RUNS_DIR",
    "metadata_db": "Dagster's instance storage keeps the run history",
    "api_token": "pit's REST API is replaced by the Dagster UI and its GraphQL API",
    "secrets_recipients": "trakt-dagster only reads secrets files; encrypt them with age yourself",
}
"""pit_config.toml keys pit uses that trakt-dagster reads but does not act on (warned at load)."""

WORKSPACE_SCHEMA: dict[str, str] = {
    "secrets_dir": STR,
    "secrets_recipients": STR_LIST,
    "age_identity": STR,
    "runs_dir": STR,
    "repo_cache_dir": STR,
    "metadata_db": STR,
    "api_token": STR,
    "dbt_driver": STR,
    "keep_artifacts": STR_LIST,
}


@dataclass
class Problems:
    """Errors and warnings found while reading one file."""

    errors: list[LoadError] = field(default_factory=list)
    warnings: list[LoadError] = field(default_factory=list)


def _matches(kind: str, value: Any) -> bool:
    if kind == STR:
        return isinstance(value, str)
    if kind == INT:  # pit (Go) reads integers as int64
        return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    if kind == NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == STR_LIST:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == STR_OR_LIST:
        return isinstance(value, str) or _matches(STR_LIST, value)
    if kind == LIST_OR_TABLE:
        return _matches(STR_LIST, value) or isinstance(value, dict)
    if kind == TABLE:
        return isinstance(value, dict)
    if kind == TABLES:
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    return True


def _example(kind: str, key: str) -> str:
    return {
        STR: f'{key} = "..."',
        INT: f"{key} = 3",
        NUMBER: f"{key} = 7",
        BOOL: f"{key} = true",
        STR_LIST: f'{key} = ["a", "b"]',
        STR_OR_LIST: f'{key} = "a@example.com"',
        LIST_OR_TABLE: f'{key} = ["other_dag"]',
        TABLE: f"[{key}]",
        TABLES: f"[[{key}]]",
    }[kind]


class _TableReader:
    """Checks one table of a document against its schema: types (errors) and unknown keys (warnings)."""

    def __init__(self, doc: TomlDocument, problems: Problems, schema: Mapping[str, Mapping[str, str]]) -> None:
        self.doc = doc
        self.problems = problems
        self.schema = schema

    def location(self, table: str, key: str | None, index: int | None) -> SourceLocation:
        shown = table if index is None else f"{table}[{index}]"
        key_path = ".".join(p for p in (shown, key) if p) or None
        return SourceLocation(self.doc.path, self.doc.line_of(table, key, index=index), key_path)

    def read(self, table: str, values: Any, index: int | None = None) -> dict[str, Any]:
        """The keys of `values` that have the right type (others reported)."""
        if not isinstance(values, dict):
            return {}
        known = self.schema.get(table, {})
        good: dict[str, Any] = {}
        for key, value in values.items():
            kind = known.get(key)
            if kind is None:
                close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6) if len(key) < 100 else []
                hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(sorted(known))}"
                where = f"[{table}]" if table else "the top level"
                if index is not None and isinstance(values.get("name"), str):
                    where = f"[[{table}]] {excerpt(values['name'])}"
                self.problems.warnings.append(
                    LoadError(
                        f"Unknown key {excerpt(key)} in {where}: pit ignores it.",
                        self.location(table, key, index),
                        hint,
                        TOOL,
                    )
                )
                continue
            if not (kind == STR and type(value) is str) and not _matches(kind, value):  # most keys are text
                wrong = "an integer out of range" if kind == INT and isinstance(value, int) else type(value).__name__
                self.problems.errors.append(
                    LoadError(
                        f"'{key}' must be a {kind}, not {wrong}.",
                        self.location(table, key, index),
                        f"write it as {_example(kind, key)}",
                        TOOL,
                    )
                )
                continue
            good[key] = value
        return good

    def duration(self, table: str, key: str, text: str | None, index: int | None, *, timeout: bool) -> float | None:
        if text is None:
            return None
        try:
            if timeout:
                return optional_timeout(text)
            return max(0.0, parse_go_duration(text)) if text.strip() else 0.0
        except DurationError as exc:
            self.problems.errors.append(
                LoadError(str(exc), self.location(table, key, index), "Go durations: 90s, 45m, 1h30m, 300ms", TOOL)
            )
            return None


def read_workspace(root: Path) -> tuple[WorkspaceConfig, Problems]:
    """`<root>/pit_config.toml` (defaults when there is none)."""
    root = Path(root).resolve()
    problems = Problems()
    path = root / WORKSPACE_FILE
    if not path.is_file():
        return WorkspaceConfig(root=root), problems
    doc = _parse(path, problems)
    if doc is None:
        return WorkspaceConfig(root=root, path=path), problems
    values = _TableReader(doc, problems, {"": WORKSPACE_SCHEMA}).read("", doc.data)

    def resolved(key: str) -> Path | None:
        text = values.get(key)
        if not text:
            return None
        problem = path_text_problem(text)
        if problem:
            problems.errors.append(
                LoadError(
                    f"'{key}' {excerpt(text)} {problem}.",
                    SourceLocation(path, doc.line_of("", key), key),
                    "write a path of ordinary file and folder names",
                    TOOL,
                )
            )
            return None
        return (root / text).resolve()

    for key, reason in NO_EFFECT.items():
        if key in values:
            problems.warnings.append(
                LoadError(
                    f"'{key}' has no effect in trakt-dagster: {reason}.",
                    SourceLocation(path, doc.line_of("", key), key),
                    "remove it, or keep it for pit itself",
                    TOOL,
                )
            )
    keep = values.get("keep_artifacts")
    if keep is not None:
        _check_artifacts(keep, SourceLocation(path, doc.line_of("", "keep_artifacts"), "keep_artifacts"), problems)
    config = WorkspaceConfig(
        root=root,
        path=path,
        secrets_path=resolved("secrets_dir"),
        age_identity=values.get("age_identity"),
        repo_cache_dir=resolved("repo_cache_dir"),
        dbt_driver=values.get("dbt_driver") or "ODBC Driver 17 for SQL Server",
        keep_artifacts=tuple(keep) if keep is not None else None,
    )
    return config, problems


def find_project_files(root: Path) -> list[Path]:
    """`<root>/projects/*/pit.toml` (exactly one level deep, as pit), sorted.

    Example:
        >>> find_project_files(Path("/nonexistent"))
        []
    """
    folder = Path(root) / "projects"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"*/{PROJECT_FILE}") if p.is_file())


def project_file_resolver(root: Path) -> Callable[[Path], Path]:
    """`path.resolve()` for the files `find_project_files(root)` lists (`<root>/projects/<folder>/pit.toml`),
    with the `projects/` folder resolved once: only the project folder and the file are looked at for links.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "projects" / "a").mkdir(parents=True); (root / "projects" / "a" / "pit.toml").touch()
        >>> [project_file_resolver(root)(p) == p.resolve() for p in find_project_files(root)]
        [True]
    """
    listed = str(Path(root) / "projects")
    real = os.path.realpath(listed)

    def resolved(path: Path) -> Path:
        above, _, file = str(path).rpartition(os.sep)
        parent, _, name = above.rpartition(os.sep)
        if file != PROJECT_FILE or parent != listed or name in ("", ".", ".."):
            return Path(path).resolve()  # not a file the listing gives: the whole path is looked at
        project = os.path.join(real, name)
        if os.path.islink(project):
            project = os.path.realpath(project)
        found = os.path.join(project, PROJECT_FILE)
        return Path(os.path.realpath(found) if os.path.islink(found) else found)

    return resolved


def read_project(path: Path, *, resolved: Path | None = None) -> tuple[PitProject | None, Problems]:
    """One `pit.toml` into a `PitProject` (None when the file cannot be parsed at all); `resolved`: the path
    with its symbolic links resolved, when the caller has it (`project_file_resolver`)."""
    path = resolved if resolved is not None else Path(path).resolve()
    folder = path.parent
    problems = Problems()
    doc = _parse(path, problems)
    if doc is None:
        return None, problems
    reader = _TableReader(doc, problems, SCHEMA)
    top = reader.read("", doc.data)
    dag = reader.read("dag", top.get("dag", {}))
    sub = {
        name: reader.read(f"dag.{name}", dag[name])
        for name in ("sql", "transform", "webhook", "dagster")
        if name in dag
    }
    tasks = [_task(reader, values, i) for i, values in enumerate(top.get("tasks", []))]
    outputs = [_output(reader, values, i) for i, values in enumerate(top.get("outputs", []))]
    keep = dag.get("keep_artifacts", [])
    _check_artifacts(keep, reader.location("dag", "keep_artifacts", None), problems)
    requires = dag.get("requires", [])
    if requires:
        problems.warnings.append(
            LoadError(
                "[dag] requires is not enforced: pit parses it but never checks it, and neither does trakt-dagster.",
                reader.location("dag", "requires", None),
                "use a Dagster sensor or asset dependencies if the DAG must wait for others",
                TOOL,
            )
        )
    webhook = sub.get("webhook")
    granularity = sub.get("dagster", {}).get("granularity")
    if granularity not in (None, "pipeline", "step"):
        problems.errors.append(
            LoadError(
                f"[dag.dagster] granularity must be 'pipeline' or 'step', not {granularity!r}.",
                reader.location("dag.dagster", "granularity", None),
                'write granularity = "step" (one Dagster op per task) or "pipeline" (one op per DAG)',
                TOOL,
            )
        )
        granularity = None
    project = PitProject(
        name=dag.get("name") or folder.name,
        folder=folder,
        pit_toml=path,
        schedule=dag.get("schedule", ""),
        overlap=dag.get("overlap", ""),
        timeout=reader.duration("dag", "timeout", dag.get("timeout"), None, timeout=True),
        requires=tuple(requires) if isinstance(requires, list) else tuple(requires),
        keep_artifacts=tuple(keep),
        git_url=dag.get("git_url", ""),
        git_ref=dag.get("git_ref", ""),
        sql_connection=sub.get("sql", {}).get("connection", ""),
        transform="transform" in sub,
        transform_dialect=sub.get("transform", {}).get("dialect", ""),
        ftp_watch=_ftp(reader, dag["ftp_watch"]) if "ftp_watch" in dag else None,
        webhook_token_secret=webhook.get("token_secret", "") if webhook is not None else None,
        dbt=_dbt(reader, dag["dbt"]) if "dbt" in dag else None,
        tasks=tuple(tasks),
        outputs=tuple(outputs),
        max_parallel=sub.get("dagster", {}).get("max_parallel"),
        pool=sub.get("dagster", {}).get("pool"),
        keep_runs=sub.get("dagster", {}).get("keep_runs"),
        keep_days=sub.get("dagster", {}).get("keep_days"),
        description=dag.get("description", ""),
        granularity=granularity,
        name_line=doc.line_of("dag", "name") or doc.line_of("dag"),
        file_comment=doc.leading_comment() or "",
        key_lines=_dag_key_lines(doc),
    )
    return project, problems


def _dag_key_lines(doc: TomlDocument) -> dict[str, int]:
    """`{"dag.overlap": 4, "dag.ftp_watch": 9, "dag.ftp_watch.pattern": 12, ...}` as written."""
    lines: dict[str, int] = {}
    dag = doc.data.get("dag")
    tables = [("dag", dag)] if isinstance(dag, dict) else []
    tables += [(f"dag.{k}", v) for k, v in (dag or {}).items() if isinstance(v, dict)] if isinstance(dag, dict) else []
    for table, values in tables:
        header = doc.line_of(table)
        if header is not None:
            lines[table] = header
        for key in values:
            line = doc.key_line(table, str(key))
            if line is not None:
                lines[f"{table}.{key}"] = line
    return lines


def _parse(path: Path, problems: Problems) -> TomlDocument | None:
    try:
        return TomlDocument.read(path)
    except TomlSyntaxError as exc:
        problems.errors.append(
            LoadError(
                f"Invalid TOML: {exc}",
                SourceLocation(path, exc.line),
                "fix the syntax at that line (quotes, brackets, one key = value per line)",
                TOOL,
            )
        )
    except TextFileError as exc:
        problems.errors.append(
            LoadError(f"Cannot read the file: {exc}", SourceLocation(path, exc.line), "save it as UTF-8 text", TOOL)
        )
    except OSError as exc:
        problems.errors.append(
            LoadError(f"Cannot read the file: {exc.strerror or exc}", SourceLocation(path), None, TOOL)
        )
    return None


def _check_artifacts(values: list[str], where: SourceLocation, problems: Problems) -> None:
    for value in values:
        if value not in ("logs", "project", "data"):
            problems.errors.append(
                LoadError(
                    f'invalid keep_artifacts value {excerpt(value)}: must be "logs", "project" or "data"',
                    where,
                    'e.g. keep_artifacts = ["logs", "data"]',
                    TOOL,
                )
            )


def _task(reader: _TableReader, raw: dict[str, Any], index: int) -> PitTask:
    values = reader.read("tasks", raw, index)
    retries = values.get("retries", 0)
    # each key's line, else the entry's header line (`TomlDocument.line_of`)
    header, keys = reader.doc.line_of("tasks", index=index), reader.doc.key_lines_of()
    return PitTask(
        name=values.get("name", ""),
        kind="",  # decided by pit.validate (runner dispatch)
        script=values.get("script"),
        runner=values.get("runner"),
        depends_on=tuple(values.get("depends_on", ())),
        timeout=reader.duration("tasks", "timeout", values.get("timeout"), index, timeout=True),
        retries=retries,
        retry_delay=reader.duration("tasks", "retry_delay", values.get("retry_delay"), index, timeout=False) or 0.0,
        type=values.get("type", ""),
        source=values.get("source"),
        output=values.get("output"),
        table=values.get("table"),
        mode=values.get("mode"),
        connection=values.get("connection"),
        description=values.get("description", ""),
        line=header,
        index=index,
        key_lines={key: line for key in raw if (line := keys.get(("tasks", index, key), header)) is not None},
    )


def _output(reader: _TableReader, raw: dict[str, Any], index: int) -> PitOutput:
    values = reader.read("outputs", raw, index)
    recipients = values.get("recipients", "")
    return PitOutput(
        name=values.get("name", ""),
        type=values.get("type", ""),
        location=values.get("location", ""),
        recipients=recipients if isinstance(recipients, str) else tuple(recipients),
        line=reader.doc.line_of("outputs", index=index),
    )


def _ftp(reader: _TableReader, raw: Any) -> FtpWatchSettings:
    values = reader.read("dag.ftp_watch", raw)
    poll = reader.duration("dag.ftp_watch", "poll_interval", values.get("poll_interval"), None, timeout=True)
    return FtpWatchSettings(
        secret=values.get("secret", ""),
        host=values.get("host", ""),
        user=values.get("user", ""),
        password_secret=values.get("password_secret", ""),
        port=values.get("port") or 21,
        tls=values.get("tls", False),
        directory=values.get("directory", ""),
        pattern=values.get("pattern", ""),
        archive_dir=values.get("archive_dir", ""),
        poll_interval=poll or 30.0,
        stable_seconds=values.get("stable_seconds") or 30,
    )


def _dbt(reader: _TableReader, raw: Any) -> DbtSettings:
    values = reader.read("dag.dbt", raw)
    return DbtSettings(
        version=values.get("version", ""),
        adapter=values.get("adapter", ""),
        extra_deps=tuple(values.get("extra_deps", ())),
        project_dir=values.get("project_dir", ""),
        profile=values.get("profile", ""),
        target=values.get("target") or "prod",
        threads=values.get("threads", ""),
        connection=values.get("connection", ""),
    )
