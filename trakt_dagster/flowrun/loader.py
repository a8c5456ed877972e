"""Find the flowrun DAGs in an imported pipeline module and read them into `FlowrunDag`s.

Recognised module-level objects: flowrun-dag 1.0.0 `Engine`s and `DagScope`s (every DAG of the engine;
an engine with only unscoped tasks is one DAG under a deterministic name, N9), and README-style
pipelines — trakt-dagster's `Pipeline` or any object offering the same API (`name`, `tasks`,
`dependencies`, `task`, `run_once`; detected by feature). Every problem becomes a `LoadError` with the
module, the line of the object or task, the DAG / task as key, and a fix.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

import flowrun

from trakt_dagster.core.errors import LoadError, SourceLocation, excerpt
from trakt_dagster.core.pymodules import PipelineModule, read_python_source
from trakt_dagster.core.retention import RetentionPolicy, policy_from, policy_problems
from trakt_dagster.flowrun.model import ENGINE, PIPELINE, FlowrunDag, FlowrunTask, ModuleSettings, per_key
from trakt_dagster.flowrun.signature import call_shape

TOOL = "flowrun"
_PIPELINE_FEATURES = ("name", "tasks", "dependencies", "task", "run_once")
_TASK_IN_MESSAGE = re.compile(r"^Task '?([^' ]+)'? ")
_HINTS: tuple[tuple[str, str], ...] = (
    (
        "is synchronous and cannot use timeout_s",
        "make the task `async def` (flowrun enforces timeout_s on async tasks only), or drop timeout_s and "
        "set a timeout on the client the task calls",
    ),
    (
        "cannot provide",
        "name the parameter after a task registered before this one, list it in deps=[...], annotate it "
        "RunContext, name it 'upstream', or give it a default",
    ),
    (
        "Duplicate task name",
        "flowrun 1.0.0 requires task names unique per engine, across DAGs: rename one task, or give each DAG "
        "its own README-style Pipeline (names are scoped per pipeline there)",
    ),
    (
        "which is outside DAG",
        "a task can only depend on tasks of its own DAG: register the dependency with the same DAG scope, or "
        "pass explicit deps=[...]",
    ),
    (
        "which is not registered",
        "register the dependency (before this task when deps are inferred), or fix the name in deps=[...]",
    ),
    ("Cyclic dependency", "remove one of the deps that close the cycle"),
    ("has no registered tasks", "register tasks on it (@<dag>.task()) or remove it from the module"),
    ("is not registered", "use the name of a DAG that has tasks"),
)


def hint_for(message: str, module_text: str = "") -> str | None:
    """A fix hint for one of flowrun's registration / build errors (None when the error is not flowrun's).

    Example:
        >>> hint_for("Cyclic dependency detected at a")
        'remove one of the deps that close the cycle'
    """
    for marker, hint in _HINTS:
        if marker in message:
            if marker == "cannot provide" and "from __future__ import annotations" in module_text:
                return (
                    "flowrun 1.0.0 compares annotation objects, so `from __future__ import annotations` hides "
                    "RunContext parameters: remove that import, or use trakt_dagster.flowrun.Pipeline (README API), "
                    "which resolves postponed annotations"
                )
            return hint
    return None


def improve_import_error(error: LoadError, path: Path) -> LoadError:
    """An import failure caused by a flowrun registration error, with a flowrun-specific fix."""
    hint = hint_for(error.message, _source(path))
    if hint is None:
        return error
    return LoadError(error.message, error.location, hint, TOOL)


def looks_like_pipeline(value: Any) -> bool:
    """Whether `value` offers the README `Pipeline` API (feature detection, not a type check)."""
    if type(value) is FunctionType:
        return False  # (the common case, a task: a routine, see below)
    if _is_compatible_pipeline(value):
        return True
    if isinstance(value, type) or inspect.ismodule(value) or inspect.isroutine(value):
        return False
    try:
        return all(hasattr(value, feature) for feature in _PIPELINE_FEATURES) and isinstance(value.name, str)
    except Exception:  # noqa: BLE001 - a property that raises is not our API
        return False


SETTINGS_FILE = "flowrun_settings.py"
"""A module beside the pipeline modules (for a package: in its top folder) whose `flowrun_*` names apply to
every module of that folder that does not define them itself — how a module whose `RunContext` is built in
its own `main()` gets one on Dagster without being edited."""


def settings_file_of(found: PipelineModule) -> Path:
    """Where the settings module of a pipeline module lives: `flowrun_settings.py` in its folder, or in its
    package's top folder."""
    namespace = found.namespace
    folder = namespace.root if namespace is not None and namespace.package else found.path.parent
    return folder / SETTINGS_FILE


def flowrun_objects(module: Any) -> list[tuple[str, int]]:
    """`(attribute, id)` of the module's flowrun objects (engines, DAG scopes by their engine, pipelines)."""
    found = []
    for attribute, value in list(vars(module).items()):
        if attribute.startswith("__"):
            continue
        if isinstance(value, flowrun.Engine):
            found.append((attribute, id(value)))
        elif isinstance(value, flowrun.DagScope):
            found.append((attribute, id(value._engine)))
        elif looks_like_pipeline(value):
            found.append((attribute, id(value)))
    return found


def object_owners(modules: Iterable[PipelineModule]) -> dict[int, Path]:
    """Which module a flowrun object is read from when several modules hold it (`from .runtime import engine`):
    the first module that assigns it (`engine = ...`), else the first that has it. Its DAGs then carry that
    module's file and lines."""
    owners: dict[int, Path] = {}
    fallback: dict[int, Path] = {}
    for found in modules:
        text = _module_text(found)
        for attribute, key in flowrun_objects(found.module):
            fallback.setdefault(key, found.path)
            if key not in owners and _assignment_line(text, attribute) is not None:
                owners[key] = found.path
    return {**fallback, **owners}


def load_module_dags(
    found: PipelineModule,
    seen: set[int],
    *,
    owners: dict[int, Path] | None = None,
    settings_module: PipelineModule | None = None,
) -> tuple[list[FlowrunDag], list[LoadError]]:
    """Every flowrun DAG of one imported module (objects already in `seen`, or owned by another module
    per `owners`, e.g. an engine imported from a sibling module, are skipped). `flowrun_*` names of
    `settings_module` (the folder's `flowrun_settings.py`) apply where the module has none of its own."""
    module = found.module
    path = found.path
    text = _module_text(found)
    shared = {}
    if settings_module is not None and settings_module.module is not None and settings_module.path != path:
        shared = {k: v for k, v in vars(settings_module.module).items() if k.startswith("flowrun_")}
    own = vars(module)
    # (ModuleSettings reads only `flowrun_*` names: the module's other names need not be copied)
    settings, problems = ModuleSettings.read({**shared, **{k: v for k, v in own.items() if k.startswith("flowrun_")}})
    dags: list[FlowrunDag] = []
    errors: list[LoadError] = []
    for setting, problem in problems:
        name = setting.split("[", 1)[0]
        where = (path, text) if name in own else (settings_module.path, _source(settings_module.path))
        errors.append(
            LoadError(
                f"Module setting {setting} {problem}.",
                SourceLocation(where[0], _assignment_line(where[1], name), name),
                "see docs/flowrun.md, 'Other module settings', for what each flowrun_* name takes",
                TOOL,
            )
        )
    engines: dict[int, tuple[str, Any]] = {}
    scopes: dict[int, list[tuple[str, str]]] = {}
    pipelines: list[tuple[str, Any]] = []
    for attribute, value in list(vars(module).items()):
        if attribute.startswith("__") or id(value) in seen:
            continue
        key = id(value._engine) if isinstance(value, flowrun.DagScope) else id(value)
        owner = owners.get(key) if owners is not None else None
        if owner is not None and owner != path:
            continue  # read from the module that owns it
        if isinstance(value, flowrun.Engine):
            engines.setdefault(id(value), (attribute, value))
        elif isinstance(value, flowrun.DagScope):
            engine = value._engine
            engines.setdefault(id(engine), (attribute, engine))
            scopes.setdefault(id(engine), []).append((attribute, value.name))
        elif looks_like_pipeline(value):
            pipelines.append((attribute, value))
    reader = _Reader(found, settings, text, errors)
    for key, (attribute, engine) in engines.items():
        if key in seen:
            continue
        seen.add(key)
        dags.extend(reader.engine_dags(attribute, engine, scopes.get(key, [])))
    members = {id(value) for _, value in pipelines}
    for attribute, value in pipelines:
        if id(value) in seen:
            continue
        seen.add(id(value))
        parent = getattr(value, "snapshot_of", None)
        if parent is not None and id(parent) in members | seen:
            continue  # an override_tasks / subgraph snapshot of a pipeline that is exposed itself
        dag = reader.pipeline_dag(attribute, value)
        if dag is not None:
            dags.append(dag)
    return [dag for dag in dags if dag.name not in reader.invalid], errors


class _Reader:
    def __init__(self, found: PipelineModule, settings: ModuleSettings, text: str, errors: list[LoadError]) -> None:
        self.found = found
        self.path = found.path
        self.settings = settings
        self.text = text
        self.errors = errors
        self.invalid: set[str] = set()
        """DAGs whose module settings are invalid (reported; the DAG is not loaded)."""
        self.root = found.namespace.root if found.namespace is not None else None

    def retention(self, dag_name: str) -> RetentionPolicy | None:
        """The DAG's `flowrun_retention` (one mapping for all DAGs, or one per DAG name); problems are errors."""
        raw = self.settings.retention
        if raw is None:
            return None
        if isinstance(raw, Mapping) and raw and not set(raw) & {"keep_runs", "keep_days", "keep_artifacts"}:
            raw = raw.get(dag_name)  # {dag name: {...}}
            if raw is None:
                return None
        line = _assignment_line(self.text, "flowrun_retention")
        if not isinstance(raw, Mapping):
            self.invalid.add(dag_name)
            self.error(
                f"flowrun_retention of DAG '{dag_name}' must be a dict",
                line,
                "flowrun_retention",
                'e.g. flowrun_retention = {"keep_runs": 50}',
            )
            return None
        problems = policy_problems(raw)
        if problems:
            self.invalid.add(dag_name)
        for key, message in problems:
            self.error(
                f"flowrun_retention['{key}'] {message}", line, "flowrun_retention", "see docs/faults.md, 'Retention'"
            )
        return None if problems else policy_from(raw)

    # -- errors -------------------------------------------------------------------------------
    def error(
        self,
        message: str,
        line: int | None,
        key: str,
        hint: str | None = None,
        *,
        pipeline: str | None = None,
        file: Path | None = None,
    ) -> None:
        hint = hint or hint_for(message, self.text) or "fix the DAG in this module"
        where = SourceLocation(file or self.path, line, key)
        self.errors.append(LoadError(message, where, hint, TOOL, pipeline))

    def place(self, func: Callable[..., Any]) -> tuple[Path, int | None]:
        """The file and first line of a task function: this module, or another module of its folder or package."""
        return _function_place(func, self.path, self.root)

    def task_line(self, funcs: dict[str, Callable[..., Any]], message: str, fallback: int | None) -> int | None:
        match = _TASK_IN_MESSAGE.match(message)
        if match and match.group(1) in funcs:
            return _function_line(funcs[match.group(1)], self.path) or fallback
        cycle = re.search(r"Cyclic dependency detected at (\S+)", message)
        if cycle and cycle.group(1) in funcs:
            return _function_line(funcs[cycle.group(1)], self.path) or fallback
        return fallback

    # -- 1.0.0 engines ------------------------------------------------------------------------
    def engine_dags(self, attribute: str, engine: Any, scopes: list[tuple[str, str]]) -> Iterable[FlowrunDag]:
        line = _assignment_line(self.text, attribute)
        explicit = list(engine.list_dags())
        specs = dict(engine.registry.task_specs)
        for scope_attribute, scope_name in scopes:
            if scope_name not in explicit:
                self.error(
                    f"DAG '{scope_name}' has no registered tasks.",
                    _assignment_line(self.text, scope_attribute),
                    f"dag '{scope_name}'",
                    pipeline=scope_name,
                )
        if explicit:
            names = explicit
        else:
            configured = per_key(self.settings.dag_name, attribute)
            legacy = configured if isinstance(configured, str) else _legacy_name(self.found, attribute)
            if not specs:
                self.error(f"DAG '{legacy}' has no registered tasks.", line, f"engine '{attribute}'", pipeline=legacy)
                return
            names = [legacy]
        for name in names:
            try:
                order = engine.list_tasks(name)
            except (ValueError, KeyError, TypeError, RecursionError) as exc:
                funcs = {task: spec.func for task, spec in specs.items()}
                self.error(str(exc), self.task_line(funcs, str(exc), line), f"dag '{name}'", pipeline=name)
                continue
            tasks = []
            for task_name in order:
                spec = engine.registry.get(task_name)
                shape = call_shape(
                    spec.func, spec.deps, named_deps=spec.named_deps, accepts_upstream=spec.accepts_upstream
                )
                tasks.append(self.task(task_name, spec.func, spec.deps, shape, spec.timeout_s, spec.retries, name))
            if any(task is None for task in tasks) or self.context_missing(name, tasks):
                continue
            yield self.dag(name, ENGINE, attribute, line, tasks, engine, **_engine_settings(engine))

    # -- README pipelines ---------------------------------------------------------------------
    def pipeline_dag(self, attribute: str, pipeline: Any) -> FlowrunDag | None:
        line = _pipeline_line(pipeline, self.path) or _assignment_line(self.text, attribute)
        key = f"pipeline '{attribute}'"
        known = getattr(pipeline, "_name", None)
        known = known if isinstance(known, str) else None
        try:
            name = pipeline.name
            order = list(pipeline.tasks)
            edges = {task: tuple(deps) for task, deps in dict(pipeline.dependencies).items()}
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            funcs = _pipeline_funcs(pipeline)
            self.error(str(exc), self.task_line(funcs, str(exc), line), key, pipeline=known)
            return None
        tasks = []
        for task_name in order:
            spec = _pipeline_spec(pipeline, task_name)
            if spec is None:
                self.error(
                    f"Cannot read task '{task_name}' of pipeline '{name}': the object offers the Pipeline API but "
                    "no task specs (task_spec(name) or a registry).",
                    line,
                    key,
                    "use trakt_dagster.flowrun.Pipeline, or a flowrun version whose Pipeline keeps a task registry",
                    pipeline=name,
                )
                return None
            deps = edges.get(task_name, tuple(spec.deps))
            shape = getattr(spec, "shape", None) or call_shape(spec.func, deps)
            tasks.append(self.task(task_name, spec.func, deps, shape, spec.timeout_s, spec.retries, name))
        if any(task is None for task in tasks) or self.context_missing(name, tasks):
            return None
        return self.dag(name, PIPELINE, attribute, line, tasks, pipeline, **_pipeline_settings(pipeline))

    # -- shared -------------------------------------------------------------------------------
    def context_factory(self, dag: str) -> Any:
        context = self.settings.context
        factory = per_key(context, dag) if isinstance(context, dict) else context
        return factory if callable(factory) else None

    def batch_source(self, dag: str) -> Any:
        batches = self.settings.batches
        source = per_key(batches, dag) if isinstance(batches, dict) else batches
        return source if callable(source) else None

    def context_missing(self, dag: str, tasks: list[FlowrunTask]) -> bool:
        """A task requires a `RunContext` but nothing supplies one on Dagster (flowrun code builds it in its
        own `main()`, which Dagster never calls): a load error pointing at the context factory. A batch source
        counts as a supply (its runs carry their batch's metadata as the context)."""
        if self.context_factory(dag) is not None or self.batch_source(dag) is not None:
            return False
        needy = [task for task in tasks if task.shape.context_required]
        if not needy:
            return False
        names = ", ".join(f"'{task.name}'" for task in needy)
        self.error(
            f"Task '{needy[0].name}' requires a RunContext but none was provided: no context factory supplies "
            f"one on Dagster for DAG '{dag}' (tasks needing it: {names}).",
            needy[0].line,
            f"task '{needy[0].name}'",
            "define `def flowrun_context(metadata): return RunContext(<your deps>, metadata)` in "
            f"{SETTINGS_FILE} beside this module (the module stays as it is) or in the module itself; Dagster "
            "calls it once per run (docs/flowrun.md, 'The run's RunContext')",
            pipeline=dag,
            file=needy[0].file,
        )
        return True

    def task(
        self,
        name: str,
        func: Callable[..., Any],
        deps: Iterable[str],
        shape: Any,
        timeout_s: float | None,
        retries: int,
        dag: str,
    ) -> FlowrunTask | None:
        file, line = self.place(func)
        if retries is not None and (
            isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 1000
        ):
            self.error(
                f"Task '{name}' of DAG '{dag}': retries must be a whole number from 0 to 1000, not {excerpt(retries)}.",
                line,
                f"task '{name}'",
                "write retries=2 in the task decorator",
                pipeline=dag,
                file=file,
            )
            return None
        if timeout_s is not None and (
            isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not 0 < timeout_s <= 1e9
        ):
            self.error(
                f"Task '{name}' of DAG '{dag}': timeout_s must be a positive number of seconds, not "
                f"{excerpt(timeout_s)}.",
                line,
                f"task '{name}'",
                "write timeout_s=30 in the task decorator (async tasks only)",
                pipeline=dag,
                file=file,
            )
            return None
        doc = _docstring(func)
        return FlowrunTask(
            name=name,
            func=func,
            deps=tuple(deps),
            shape=shape,
            timeout_s=timeout_s,
            retries=int(retries or 0),
            retry_delay_s=_per_task(self.settings.retry_delay_s, name, 0.0),
            retry_backoff=_per_task(self.settings.retry_backoff, name, 1.0),
            line=line,
            file=file,
            description=doc.strip() if doc else None,
        )

    def dag(
        self,
        name: str,
        style: str,
        attribute: str,
        line: int | None,
        tasks: list[FlowrunTask],
        source: Any,
        *,
        max_parallel: int,
        max_workers: int | None,
        hooks: tuple[Any, ...],
    ) -> FlowrunDag:
        settings = self.settings
        factory = self.context_factory(name)
        batches = self.batch_source(name)
        module = self.found.module
        doc = None if type(module) is ModuleType and module.__doc__ is None else inspect.getdoc(module)
        return FlowrunDag(
            name=name,
            style=style,
            module_path=self.path,
            attribute=attribute,
            line=line,
            tasks=tuple(tasks),
            max_parallel=max_parallel,
            max_workers=max_workers,
            hooks=hooks,
            context_factory=factory,
            batches=batches,
            batch_interval_s=settings.batch_interval_s,
            persist_values=settings.persist_values,
            retention=self.retention(name),
            granularity=settings.dagster.get("granularity", "pipeline"),
            pool=settings.dagster.get("pool"),
            file_settings=frozenset(settings.dagster),
            namespace=self.found.namespace,
            description=doc.split("\n\n")[0].replace("\n", " ") if doc else None,
            source=source,
        )


def _per_task(setting: Any, task: str, default: float) -> float:
    """A number setting for one task (`per_key`; one number for all tasks, the usual case, read at once)."""
    if type(setting) is float:
        return setting or default
    return float(per_key(setting, task, default) or default)


def _docstring(func: Callable[..., Any]) -> str | None:
    """`inspect.getdoc(func)`; for a plain module-level function without a docstring, None at once (getdoc would
    look for an inherited one, which only methods have)."""
    if type(func) is FunctionType and func.__doc__ is None and "." not in func.__qualname__:
        return None
    return inspect.getdoc(func)


def _legacy_name(found: PipelineModule, attribute: str) -> str:
    """`<folder>_<attribute>` for `pipelines/<folder>/x.py` (and any module of the package `pipelines/<folder>/`),
    `<module>_<attribute>` for `pipelines/x.py`."""
    path, namespace = found.path, found.namespace
    if namespace is not None and namespace.package:
        return f"{namespace.root.name}_{attribute}"
    stem = path.stem if path.parent.name == "pipelines" else path.parent.name
    return f"{stem}_{attribute}"


def _engine_settings(engine: Any) -> dict[str, Any]:
    scheduler = getattr(engine, "scheduler", None)
    config = getattr(scheduler, "_cfg", None)
    dispatcher = getattr(scheduler, "_hooks", None)
    pool = getattr(getattr(engine, "task_executor", None), "executor", None)
    return {
        "max_parallel": int(getattr(config, "max_parallel", 4)),
        "max_workers": getattr(pool, "_max_workers", None),
        "hooks": tuple(getattr(dispatcher, "hooks", ()) or ()),
    }


def _is_compatible_pipeline(value: Any) -> bool:
    """Whether `value` is trakt-dagster's own `Pipeline` (none exists unless some module imported its class)."""
    module = sys.modules.get("trakt_dagster.flowrun.pipeline")
    return module is not None and isinstance(value, module.Pipeline)


def _pipeline_settings(pipeline: Any) -> dict[str, Any]:
    if _is_compatible_pipeline(pipeline):
        return {"max_parallel": pipeline.max_parallel, "max_workers": pipeline.max_workers, "hooks": pipeline.hooks}
    engine = getattr(pipeline, "_engine", None)
    found = _engine_settings(engine) if engine is not None else {}
    return {
        "max_parallel": int(getattr(pipeline, "max_parallel", found.get("max_parallel", 4))),
        "max_workers": getattr(pipeline, "max_workers", found.get("max_workers")),
        "hooks": tuple(getattr(pipeline, "hooks", found.get("hooks", ())) or ()),
    }


def _pipeline_spec(pipeline: Any, name: str) -> Any:
    """The task spec of a README-style pipeline: `task_spec(name)`, else its registry (feature detection)."""
    getter = getattr(pipeline, "task_spec", None)
    if callable(getter):
        return getter(name)
    for attribute in ("_registry", "registry"):
        registry = getattr(pipeline, attribute, None)
        if registry is None:
            continue
        for call in (lambda r: r.get(name, pipeline.name), lambda r: r.get(name), lambda r: r.task_specs[name]):
            try:
                spec = call(registry)
            except (TypeError, KeyError, AttributeError):
                continue
            if hasattr(spec, "func"):
                return spec
    return None


def _pipeline_funcs(pipeline: Any) -> dict[str, Callable[..., Any]]:
    registry = getattr(pipeline, "_registry", None)
    specs = getattr(registry, "task_specs", {}) if registry is not None else {}
    return {name: spec.func for name, spec in dict(specs).items()}


def _pipeline_line(pipeline: Any, path: Path) -> int | None:
    where = getattr(pipeline, "defined_at", None)
    if where and Path(where[0]).resolve() == path:
        return where[1]
    return None


def _function_place(func: Callable[..., Any], path: Path, root: Path | None) -> tuple[Path, int | None]:
    """(file, first line) of `func` when it is defined in `path` or in a module under `root`, else (path, None)."""
    code = getattr(_unwrapped(func), "__code__", None)
    if code is None:
        return path, None
    if code.co_filename == str(path):
        return path, code.co_firstlineno  # imported from the module's (resolved) file: nothing to resolve
    try:
        file = _resolved_file(code.co_filename)
        inside = file == path or (root is not None and file.is_relative_to(root) and file.is_file())
    except (OSError, ValueError):
        inside = False
    return (file, code.co_firstlineno) if inside else (path, None)


@functools.lru_cache(maxsize=4096)
def _resolved_file(filename: str) -> Path:
    """`Path(filename).resolve()`, once per file name (a module's tasks all share its file)."""
    return Path(filename).resolve()


def _unwrapped(func: Callable[..., Any]) -> Callable[..., Any]:
    """`inspect.unwrap(func)`, without its bookkeeping for the usual task: a plain function that wraps nothing."""
    return func if type(func) is FunctionType and "__wrapped__" not in func.__dict__ else inspect.unwrap(func)


def _function_line(func: Callable[..., Any], path: Path) -> int | None:
    code = getattr(_unwrapped(func), "__code__", None)
    if code is None:
        return None
    try:
        same = Path(code.co_filename).resolve() == path
    except OSError:
        same = False
    return code.co_firstlineno if same else None


@functools.lru_cache(maxsize=4096)
def _assignment_line(text: str, attribute: str) -> int | None:
    """The line of the first module-level assignment to `attribute` in `text` (once per module text and name:
    a load asks for an engine's line when it finds the engine's owner and again when it reads its DAGs)."""
    pattern = re.compile(rf"^{re.escape(attribute)}\s*(?::[^=]*)?=", re.M)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _module_text(found: PipelineModule) -> str:
    """The module's text: as read for its import, else read now."""
    return found.source if found.source is not None else _source(found.path)


def _source(path: Path) -> str:
    try:
        return read_python_source(path) or ""
    except (UnicodeDecodeError, SyntaxError):  # reported by the import already
        return ""
