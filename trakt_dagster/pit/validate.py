"""pit's validation rules (spec §2.4 with the §5 decisions), plus runner dispatch.

`validate_project` returns the project with each task's `kind` decided (`python`, `bash`, `sql`, `dbt`,
`custom`, `load`, `save`) and every problem as a `LoadError` with file, line, key and a fix. Differences
from pit: a dangling `depends_on` is reported once, with a suggestion, not also as a cycle (N4); the FTP
watch accepts `secret` alone (N5); `retries` must be ≥ 0 (N7).
"""

from __future__ import annotations

import difflib
import functools
import os
import stat
from dataclasses import replace
from pathlib import Path, PurePosixPath

from trakt_dagster.core.errors import LoadError, SourceLocation
from trakt_dagster.core.path_text import path_text_problem
from trakt_dagster.core.paths import escapes_folder, folder_name_problem
from trakt_dagster.core.retention import policy_problems
from trakt_dagster.pit.model import LOAD_MODES, OVERLAPS, PitProject, PitTask, WorkspaceConfig
from trakt_dagster.pit.schedule import ScheduleError, parse_schedule

TOOL = "pit"
EXTENSIONS = {".py": "python", ".sh": "bash", ".sql": "sql"}


class _Checker:
    def __init__(self, project: PitProject) -> None:
        self.project = project
        self.errors: list[LoadError] = []
        self.warnings: list[LoadError] = []
        self._is_file: dict[str, bool] = {}

    def script_exists(self, script: str) -> bool:
        """Whether `script` (relative to the project folder) is a file; each path is looked at once per
        check, since the tasks of a project often run the same script."""
        found = self._is_file.get(script)
        if found is None:
            found = self._is_file[script] = (self.project.folder / script).is_file()
        return found

    def where(self, key: str, line: int | None) -> SourceLocation:
        return SourceLocation(self.project.pit_toml, line, key)

    def dag_where(self, key: str) -> SourceLocation:
        """Where a DAG-level key is written (its own line; else its table's; else `[dag]`)."""
        return self.where(key, self.project.line_of(key))

    def task_where(self, task: PitTask, key: str | None = None) -> SourceLocation:
        line = task.key_lines.get(key, task.line) if key else task.line
        return self.where(f"tasks[{task.index}]" + (f".{key}" if key else ""), line)

    def error(self, message: str, where: SourceLocation, hint: str) -> None:
        self.errors.append(LoadError(message, where, hint, TOOL))

    def warn(self, message: str, where: SourceLocation, hint: str) -> None:
        self.warnings.append(LoadError(message, where, hint, TOOL))


def _q(text: object, limit: int = 60) -> str:
    """A value as quoted in a message: at most `limit` characters of it.

    Example:
        >>> _q("x" * 100)[-20:]
        'xxxxx... (100 chars)'
    """
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def dispatch(task: PitTask) -> tuple[str, tuple[str, ...], str | None]:
    """(kind, custom command words, error message or None) for a task, by pit's runner rules.

    Example:
        >>> dispatch(PitTask("a", kind="", script="a.py"))[0]
        'python'
        >>> dispatch(PitTask("e", kind="", script="e.txt", runner="$ python3 -u"))[:2]
        ('custom', ('python3', '-u'))
    """
    if task.type in ("load", "save"):
        return task.type, (), None
    runner = task.runner
    if runner:
        if runner in ("python", "bash", "sql", "dbt"):
            return runner, (), None
        if runner.startswith("$ ") and runner[2:].split():
            return "custom", tuple(runner[2:].split()), None
        if runner.startswith("$"):
            return (
                "",
                (),
                f'unknown runner "{_q(runner)}" for task "{_q(task.name)}": a custom runner is "$ <command> [args]"',
            )
        return (
            "",
            (),
            f'unknown runner "{_q(runner)}" for task "{_q(task.name)}": use python, bash, sql, dbt or "$ <command>"',
        )
    suffix = _suffix(task.script or "")
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix], (), None
    return (
        "",
        (),
        (
            f'cannot pick a runner for task "{_q(task.name)}": unknown script extension '
            f'"{_q(suffix or task.script or "")}" (.py, .sh and .sql are known)'
        ),
    )


@functools.lru_cache(maxsize=4096)  # a pure function of the text; a project's tasks often share a script
def _suffix(script: str) -> str:
    return PurePosixPath(script).suffix


@functools.lru_cache(maxsize=4096)  # projects often name their scripts alike
def _parts(relative: str) -> tuple[str, ...]:
    return PurePosixPath(relative.replace("\\", "/")).parts


@functools.lru_cache(maxsize=4096)  # a pure function of the text, asked twice per task
def escapes_project(script: str) -> bool:
    """Whether a script path leaves the project folder (absolute, or `..` past the top).

    Example:
        >>> escapes_project("../outside.py"), escapes_project("tasks/../run.sh"), escapes_project("/etc/x.sh")
        (True, False, True)
    """
    path = PurePosixPath(script.replace("\\", "/"))
    if path.is_absolute():
        return True
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            return True
    return False


def validate_project(
    project: PitProject, workspace: WorkspaceConfig
) -> tuple[PitProject, list[LoadError], list[LoadError]]:
    """(project with task kinds, errors, warnings).

    A transform project (`[dag.transform]`) has its models compiled here; their `sql` tasks come first in the
    returned project's tasks, as pit runs them.
    """
    check = _Checker(project)
    models: set[str] = set()
    if project.transform:
        project, models = _merge_transform(check, project)
    # a model's own [[tasks]] entry needs no script; when the models did not compile, it is not checked either
    tasks = [
        task
        if task.model is not None or (task.name in models and not task.script)
        else _check_task(check, project, task)
        for task in project.tasks
    ]
    project = _evolved(project, tasks=tuple(tasks))
    _check_names_and_deps(check, project)
    _check_dag(check, project)
    _check_paths(check, project)
    _check_retention(check, project)
    return project, check.errors, check.warnings


def _check_retention(check: _Checker, project: PitProject) -> None:
    """`[dag.dagster] keep_runs` / `keep_days`: how many run folders, and for how long, the DAG keeps."""
    values = {"keep_runs": project.keep_runs, "keep_days": project.keep_days}
    for key, message in policy_problems({k: v for k, v in values.items() if v is not None}):
        check.error(
            f"[dag.dagster] {key} {message}",
            check.where(f"dag.dagster.{key}", project.name_line),
            "e.g. keep_runs = 50 or keep_days = 30 (unset: the root default, see docs/faults.md)",
        )


def _check_paths(check: _Checker, project: PitProject) -> None:
    """Names and paths that would leave their folder: the DAG name (the repo cache folder of git-backed
    projects), load/save files (the run's data folder), and scripts reached through a symbolic link (the
    run's snapshot does not copy links, so the task could not find its script)."""
    problem = folder_name_problem(project.name)
    if problem:
        check.error(
            f'invalid DAG name "{project.name}": {problem}',
            check.dag_where("dag.name"),
            "a DAG name becomes a folder name (repo cache, run ids): use letters, digits, '-', '_' or '.'",
        )
    links: dict[str, str | None] = {}  # a script shared by several tasks is looked at once
    for task in project.tasks:
        for key in ("source", "output"):
            value = getattr(task, key)
            if task.type in ("load", "save") and value and escapes_folder(value):
                check.error(
                    f'task "{task.name}": {key} "{value}" is outside the run\'s data folder',
                    check.task_where(task, key),
                    f'{key} names a file in the run\'s data/ folder, e.g. {key} = "orders.parquet"',
                )
        script = task.script or ""
        if project.is_git or task.kind in ("dbt", "load", "") or not script or escapes_project(script):
            continue
        if path_text_problem(script):  # reported by _check_task; such a path cannot even be looked at
            continue
        if script not in links:
            links[script] = _symlink_on_the_way(project.folder, script)
        link = links[script]
        if link is not None:
            check.error(
                f'task "{task.name}": script "{script}" is reached through the symbolic link "{link}"',
                check.task_where(task, "script"),
                "runs copy the project without symbolic links (as pit does): put the file itself in the project",
            )


def _symlink_on_the_way(folder: Path, relative: str) -> str | None:
    """The first part of `folder/relative` (below `folder`) that is a symbolic link, or None."""
    current = str(folder)
    parts = _parts(relative)
    for index, part in enumerate(parts):
        current = os.path.join(current, part)
        try:
            if stat.S_ISLNK(os.lstat(current).st_mode):
                return str(PurePosixPath(*parts[: index + 1]))
        except (OSError, ValueError):
            continue  # missing (reported elsewhere) or not a valid path: not a link
    return None


def _check_task(check: _Checker, project: PitProject, task: PitTask) -> PitTask:
    if not task.name:
        check.error("task name must not be empty", check.task_where(task, "name"), 'give the task a name = "..."')
    if task.retries < 0:
        check.error(
            f'task "{_q(task.name)}": retries must be >= 0 (got {task.retries})',
            check.task_where(task, "retries"),
            "retries = 0 runs the task once; pit would silently run it zero times",
        )
    if task.type not in ("", "load", "save"):
        check.error(
            f'task "{_q(task.name)}": invalid type "{_q(task.type)}"',
            check.task_where(task, "type"),
            'use "load" or "save"',
        )
        return task
    if task.mode is not None and task.type != "load":
        check.error(
            f'task "{_q(task.name)}": mode is only valid for load tasks', check.task_where(task, "mode"), "remove mode"
        )
    if task.type == "load":
        _check_load(check, task)
    elif task.type == "save":
        _check_save(check, task)
    if task.type in ("load", "save") and (task.retries > 0 or task.timeout is not None):
        check.warn(
            f'task "{_q(task.name)}": retries and timeout are ignored for {_q(task.type)} tasks (they run once)',
            check.task_where(task, "retries" if task.retries else "timeout"),
            "remove retries/timeout from this task",
        )
    kind, command, problem = dispatch(task)
    if problem:
        check.error(problem, check.task_where(task, "runner" if task.runner else "script"), "set runner explicitly")
        return task
    task = _evolved(task, kind=kind, command=command)
    if kind == "dbt":
        if not (task.script or "").strip():
            check.error(
                f'task "{_q(task.name)}": a dbt task needs the dbt command in script (e.g. script = "build")',
                check.task_where(task, "script"),
                'script = "build" or "run --select my_model"',
            )
        if project.dbt is None:
            check.error(
                f'task "{_q(task.name)}": dbt tasks need a [dag.dbt] table (version, adapter, project_dir)',
                check.task_where(task),
                'add [dag.dbt] with adapter = "dbt-duckdb" and project_dir = "dbt"',
            )
        return task
    if kind == "load":
        return task
    script = task.script or ""
    if not script:
        check.error(f'task "{_q(task.name)}": script is required', check.task_where(task, "script"), 'script = "..."')
    elif path_text_problem(script):
        check.error(
            f'task "{_q(task.name)}": script "{_q(script)}" {path_text_problem(script)}',
            check.task_where(task, "script"),
            "write the script's path of ordinary file and folder names, relative to the project",
        )
    elif escapes_project(script):
        check.error(
            f'task "{_q(task.name)}": script "{_q(script)}" is outside the project',
            check.task_where(task, "script"),
            "scripts must live inside the project folder (no '..' or absolute paths)",
        )
    elif not project.is_git and not check.script_exists(script):
        check.error(
            f'task "{_q(task.name)}": script "{_q(script)}" not found',
            check.task_where(task, "script"),
            f"create {project.folder / script} or fix the path (relative to the project folder)",
        )
    return task


def _evolved[R: (PitTask, PitProject)](record: R, **changes: object) -> R:
    """`dataclasses.replace(record, **changes)` for pit's frozen model records, without running the dataclass's
    `__init__` again (one `object.__setattr__` per field; a load does this for every task): a new object with
    the same field values and `changes`. The records have no `__post_init__`, `__slots__`, `InitVar`s or
    cached properties, so the result is the same (`tests/pit/test_load_validation.py` checks that).

    Example:
        >>> task = PitTask("a", kind="", script="a.py", key_lines={"name": 2})
        >>> _evolved(task, kind="python", command=()) == replace(task, kind="python", command=())
        True
    """
    evolved = object.__new__(type(record))
    evolved.__dict__.update(record.__dict__, **changes)
    return evolved


def _check_load(check: _Checker, task: PitTask) -> None:
    if not task.source or not task.table:
        check.error(
            f'task "{_q(task.name)}": load tasks need source and table',
            check.task_where(task),
            'source = "orders.parquet" (in the run\'s data/) and table = "schema.table"',
        )
    if task.script:
        check.error(
            f'task "{_q(task.name)}": load tasks take no script', check.task_where(task, "script"), "remove script"
        )
    if task.mode is not None and task.mode not in LOAD_MODES:
        check.error(
            f'task "{_q(task.name)}": invalid load mode "{_q(task.mode)}"',
            check.task_where(task, "mode"),
            f"use one of {', '.join(LOAD_MODES)}",
        )


def _check_save(check: _Checker, task: PitTask) -> None:
    if not task.script or not task.output:
        check.error(
            f'task "{_q(task.name)}": save tasks need script and output',
            check.task_where(task),
            'script = "query.sql" and output = "result.parquet"',
        )
    if task.source or task.table:
        check.error(
            f'task "{_q(task.name)}": save tasks take no source or table',
            check.task_where(task, "source" if task.source else "table"),
            "remove source/table",
        )


def _check_names_and_deps(check: _Checker, project: PitProject) -> None:
    seen: dict[str, PitTask] = {}
    for task in project.tasks:
        if task.name and task.name in seen:
            check.error(
                f'duplicate task name "{_q(task.name)}"', check.task_where(task, "name"), "task names must be unique"
            )
        seen.setdefault(task.name, task)
    names = list(seen)
    for task in project.tasks:
        for dep in task.depends_on:
            if dep not in seen:
                close = difflib.get_close_matches(dep, names, n=1)
                hint = f'did you mean "{close[0]}"?' if close else f"known tasks: {', '.join(names) or '(none)'}"
                check.error(
                    f'task "{_q(task.name)}" depends on unknown task "{_q(dep)}"',
                    check.task_where(task, "depends_on"),
                    hint,
                )
    cycle = find_cycle({t.name: tuple(d for d in t.depends_on if d in seen) for t in project.tasks})
    if cycle:
        first = seen[cycle[0]]
        check.error(
            f"cycle detected: {' -> '.join(cycle)}",
            check.task_where(first, "depends_on"),
            "remove one of the depends_on entries that close the cycle",
        )


def find_cycle(edges: dict[str, tuple[str, ...]]) -> list[str] | None:
    """A dependency cycle as a path that starts and ends at the same task, or None.

    Example:
        >>> find_cycle({"a": ("b",), "b": ("a",)})
        ['a', 'b', 'a']
    """
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in edges.get(node, ()):
            if state.get(dep) == 1:
                return stack[stack.index(dep) :] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in edges:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _check_dag(check: _Checker, project: PitProject) -> None:
    if bool(project.git_url) != bool(project.git_ref):
        check.error(
            "dag.git_url and dag.git_ref must both be set or both be empty",
            check.dag_where("dag.git_url" if project.git_url else "dag.git_ref"),
            'set both, e.g. git_ref = "main"',
        )
    if project.overlap not in OVERLAPS:
        check.error(
            f'invalid overlap "{_q(project.overlap)}"',
            check.dag_where("dag.overlap"),
            'use "skip", "wait" or "allow"',
        )
    if project.schedule:
        try:
            parse_schedule(project.schedule, default_timezone="UTC")
        except ScheduleError as exc:
            check.error(
                str(exc),
                check.dag_where("dag.schedule"),
                'e.g. "0 6 * * *", "TZ=Europe/Paris 0 6 * * 1-5", "@daily" or "@every 1h30m"',
            )
    ftp = project.ftp_watch
    if ftp is not None:
        if not ftp.secret and not (ftp.host and ftp.user and ftp.password_secret):
            check.error(
                "ftp_watch needs either secret (a structured secret with host, user, password) or all of host, "
                "user and password_secret",
                check.dag_where("dag.ftp_watch"),
                'add secret = "my_ftp" to [dag.ftp_watch]',
            )
        for key in ("directory", "pattern"):
            if not getattr(ftp, key):
                check.error(f"ftp_watch.{key} is required", check.dag_where(f"dag.ftp_watch.{key}"), f"set {key} = ...")
    if project.webhook_token_secret is not None and not project.webhook_token_secret:
        check.error(
            "webhook.token_secret is required",
            check.dag_where("dag.webhook.token_secret"),
            'name the secret that holds the bearer token: token_secret = "sales_webhook"',
        )
    if project.dbt is not None:
        _check_dbt(check, project)


def _merge_transform(check: _Checker, project: PitProject) -> tuple[PitProject, set[str]]:
    """Compile the project's models and put one `sql` task per compiled model before the other tasks (pit's
    order), merged with a `[[tasks]]` entry of the same name (its timeout, retries, retry_delay and extra
    depends_on). Returns the project and the names of its models."""
    from trakt_dagster.pit.transform import COMPILED_DIR, MODELS_DIR, TransformError, compile_models, walk_files

    names = {p.name[:-4] for p in walk_files(project.folder / MODELS_DIR) if p.name.endswith(".sql")}
    if not project.sql_connection:
        check.error(
            "transform projects require a [dag.sql] connection",
            check.dag_where("dag.sql.connection"),
            'add [dag.sql] with connection = "<secret holding the connection URL>"',
        )
    if not project.transform_dialect:
        check.error(
            'transform projects require a dialect (e.g. "mssql")',
            check.dag_where("dag.transform.dialect"),
            'dialect = "mssql" in [dag.transform]',
        )
    if not (project.folder / MODELS_DIR).is_dir():
        check.error(
            "transform projects require a models/ directory",
            check.dag_where("dag.transform"),
            f"create {project.folder / MODELS_DIR} holding the models' .sql files",
        )
    if project.is_git:
        check.error(
            "transform models of a git-backed project are not supported: trakt-dagster reads the models when "
            "definitions load, before any clone exists",
            check.dag_where("dag.git_url"),
            "keep the transform project in projects/ (without git_url), or use a dbt project",
        )
    if check.errors:
        return project, names
    explicit = {task.name: task for task in project.tasks}
    notes: list[TransformError] = []
    try:
        result = compile_models(
            project.folder,
            project.transform_dialect,
            {name: task.depends_on for name, task in explicit.items()},
            warnings=notes,
        )
    except TransformError as exc:
        check.errors.append(
            LoadError(
                f"transform models: {exc}",
                SourceLocation(exc.file or project.pit_toml, exc.line, exc.key),
                exc.hint or "fix the model or its .toml settings",
                TOOL,
            )
        )
        return project, names
    for note in notes:
        check.warnings.append(LoadError(str(note), SourceLocation(note.file, note.line, note.key), note.hint, TOOL))
    model_tasks = []
    for model in result.compiled:
        task = PitTask(
            name=model.name,
            kind="sql",
            script=f"{COMPILED_DIR}/{model.name}.sql",
            runner="sql",
            depends_on=result.task_deps(model.name),
            connection=model.config.connection or None,
            model=model,
        )
        own = explicit.get(model.name)
        if own is not None:
            extra = tuple(dep for dep in own.depends_on if dep not in task.depends_on)
            task = replace(
                task,
                depends_on=task.depends_on + extra,
                timeout=own.timeout if own.timeout else None,
                retries=own.retries if own.retries > 0 else 0,
                retry_delay=own.retry_delay if own.retry_delay > 0 else 0.0,
                line=own.line,
                index=own.index,
                key_lines=own.key_lines,
            )
            ignored = [key for key in ("script", "runner", "type", "connection") if getattr(own, key)]
            if ignored:
                check.warn(
                    f'task "{model.name}" is a transform model: its {", ".join(ignored)} is ignored '
                    "(the compiled model runs as a sql task)",
                    check.task_where(own, ignored[0]),
                    "keep only timeout, retries, retry_delay and depends_on in a model's [[tasks]] entry",
                )
        model_tasks.append(task)
    for name, own in explicit.items():
        if name in result.models and result.models[name].ephemeral:
            check.warn(
                f'task "{name}" names an ephemeral model: pit drops it (ephemeral models are inlined, never run)',
                check.task_where(own, "name"),
                "remove the [[tasks]] entry, or give the model another materialization",
            )
    others = tuple(task for task in project.tasks if task.name not in result.models)
    merged = replace(project, tasks=(*model_tasks, *others), transform_models=result)
    return merged, set(result.models)


def _check_dbt(check: _Checker, project: PitProject) -> None:
    dbt = project.dbt
    assert dbt is not None
    for key in ("version", "adapter"):
        if not getattr(dbt, key):
            check.error(f"dbt.{key} is required", check.dag_where(f"dag.dbt.{key}"), f"set {key} in [dag.dbt]")
    problem = path_text_problem(dbt.project_dir or ".")
    if problem:
        check.error(
            f'dbt project_dir "{_q(dbt.project_dir)}" {problem}',
            check.dag_where("dag.dbt.project_dir"),
            "point project_dir at the folder holding dbt_project.yml (relative to the project)",
        )
        return
    folder = project.folder / (dbt.project_dir or ".")
    if not project.is_git and not (folder / "dbt_project.yml").is_file():
        check.error(
            f'dbt project_dir "{dbt.project_dir}" has no dbt_project.yml',
            check.dag_where("dag.dbt.project_dir"),
            "point project_dir at the folder holding dbt_project.yml (relative to the project)",
        )


def duplicate_dag_names(projects: list[PitProject]) -> list[LoadError]:
    """Two projects with the same DAG name: an error on each (pit's discovery error); neither may load.

    Example:
        >>> from pathlib import Path
        >>> a, b = PitProject("s", Path("a"), Path("a/pit.toml")), PitProject("s", Path("b"), Path("b/pit.toml"))
        >>> [str(e.location.file) for e in duplicate_dag_names([a, b])]
        ['a/pit.toml', 'b/pit.toml']
    """
    by_name: dict[str, list[PitProject]] = {}
    for project in projects:
        by_name.setdefault(project.name, []).append(project)
    errors = []
    for name, same in by_name.items():
        if len(same) < 2:
            continue
        for project in same:
            others = ", ".join(str(other.pit_toml) for other in same if other is not project)
            errors.append(
                LoadError(
                    f'duplicate DAG name "{name}": also used by {others}; neither project is loaded',
                    SourceLocation(project.pit_toml, project.line_of("dag.name"), "dag.name"),
                    "give each project its own [dag] name",
                    TOOL,
                    pipeline=name,
                )
            )
    return errors
