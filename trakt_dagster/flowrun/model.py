"""A flowrun DAG as found in a pipeline module: plain data read from flowrun's own objects.

Both API generations end up here: a 1.0.0 `Engine` (or `DagScope`) DAG and a README `Pipeline`. The
edges are the DAG's own (`TaskSpec.deps` in registration order, explicit, inferred and ordering-only),
never re-derived from signatures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trakt_dagster.core.errors import excerpt
from trakt_dagster.core.modules import ModuleNamespace
from trakt_dagster.core.retention import RetentionPolicy
from trakt_dagster.flowrun.signature import CallShape

ENGINE = "engine"
MAX_INTERVAL_S = 366 * 24 * 3600
"""Longest batch interval / retry delay a module may set (one year)."""
PIPELINE = "pipeline"


@dataclass(frozen=True)
class FlowrunTask:
    """One flowrun task.

    Example:
        >>> # FlowrunTask("clean", func=clean, deps=("fetch",), shape=call_shape(clean, ["fetch"]))
    """

    name: str
    func: Callable[..., Any]
    deps: tuple[str, ...]
    shape: CallShape
    timeout_s: float | None = None
    retries: int = 0
    retry_delay_s: float = 0.0
    retry_backoff: float = 1.0
    line: int | None = None
    """First line of the task function in its file."""
    file: Path | None = None
    """The file of the task function (None: the DAG's module); tasks of a package often live in other modules."""
    description: str | None = None

    @property
    def ordering_only_deps(self) -> tuple[str, ...]:
        """Deps whose results the task does not receive (no parameter names them, no `upstream`)."""
        if self.shape.accepts_upstream:
            return ()
        return tuple(dep for dep in self.deps if dep not in self.shape.named_deps)


@dataclass(frozen=True)
class ModuleSettings:
    """What a pipeline module tells trakt-dagster besides its DAGs (module-level names, all optional).

    * `flowrun_context`: the context factory (callable, or `{dag name: callable}`), called once per run;
    * `flowrun_batches`: the micro-batch source (callable, or `{dag name: callable}`) behind a sensor;
    * `flowrun_batch_interval_s`: how often that sensor looks for new batches (default 30);
    * `flowrun_dag_name`: the DAG name of an engine's unscoped tasks (str, or `{attribute: name}`);
    * `flowrun_retry_delay_s` / `flowrun_retry_backoff`: a delay between retries (number, or
      `{task name: number}`); default 0 = immediate, as flowrun;
    * `flowrun_persist_values`: store task results in the run folder so re-executions (resume) reuse them
      (default True);
    * `flowrun_retention`: run folder retention, `{"keep_runs": 50, "keep_days": 30, "keep_artifacts":
      ["logs"]}` for every DAG of the module, or `{dag name: {...}}` (default: the root's);
    * `flowrun_dagster`: Dagster settings of the module's DAGs, `{"granularity": "step", "pool": "api"}`
      (`granularity`: `pipeline`, the default, one op per DAG, or `step`, one op per task; `pool`: the
      Dagster concurrency pool of the DAG's ops).
    """

    context: Any = None
    batches: Any = None
    batch_interval_s: int = 30
    dag_name: Any = None
    retry_delay_s: Any = 0.0
    retry_backoff: Any = 1.0
    persist_values: bool = True
    retention: Any = None
    dagster: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, module: Any) -> ModuleSettings:
        """The settings of a module; raises `SettingError` naming the first setting of the wrong type."""
        settings, problems = cls.read(module)
        if problems:
            raise SettingError(*problems[0])
        return settings

    @classmethod
    def read(cls, module: Any) -> tuple[ModuleSettings, list[tuple[str, str]]]:
        """The settings of a module (or a mapping of its names; defaults where a value is unusable) and every
        `(setting, problem)`.

        Example:
            >>> import types
            >>> m = types.SimpleNamespace(flowrun_batch_interval_s="often", flowrun_retry_delay_s={"a": 2})
            >>> settings, problems = ModuleSettings.read(m)
            >>> settings.batch_interval_s, settings.retry_delay_s, problems[0][0]
            (30, {'a': 2.0}, 'flowrun_batch_interval_s')
        """
        values = module if isinstance(module, Mapping) else vars(module)
        problems: list[tuple[str, str]] = []

        def number(key: str, value: Any, default: float, low: float, high: float) -> float:
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                problems.append((key, f"must be a number from {low:g} to {high:g}, not {excerpt(value)}"))
                return default
            return float(value)

        def numbers(key: str, default: float, low: float, high: float) -> Any:
            value = values.get(key, default)
            if isinstance(value, Mapping):
                return {str(k): number(f"{key}[{k!r}]", v, default, low, high) for k, v in value.items()}
            return number(key, value, default, low, high)

        def kind(key: str, test: Callable[[Any], bool], what: str) -> Any:
            value = values.get(key)
            if value is None:
                return None
            if isinstance(value, Mapping):
                bad = [k for k, v in value.items() if not isinstance(k, str) or not test(v)]
                if bad:
                    problems.append((key, f"must map DAG names to {what}; {excerpt(bad[0])} does not"))
                    return None
                return dict(value)
            if not test(value):
                problems.append((key, f"must be {what} (or a mapping of DAG name to {what}), not {excerpt(value)}"))
                return None
            return value

        interval = values.get("flowrun_batch_interval_s", 30)
        persist = values.get("flowrun_persist_values", True)
        if not isinstance(persist, bool):
            problems.append(("flowrun_persist_values", f"must be True or False, not {excerpt(persist)}"))
            persist = True
        dagster = values.get("flowrun_dagster") or {}
        if not isinstance(dagster, Mapping):
            problems.append(("flowrun_dagster", f"must be a dict of Dagster settings, not {excerpt(dagster)}"))
            dagster = {}
        dagster = dict(dagster)
        for key in [k for k in dagster if k not in DAGSTER_SETTINGS]:
            problems.append(("flowrun_dagster", f"has unknown key {key!r} (known: {', '.join(DAGSTER_SETTINGS)})"))
            dagster.pop(key)
        if dagster.get("granularity", "pipeline") not in ("pipeline", "step"):
            problems.append(
                ("flowrun_dagster", f"granularity must be 'pipeline' or 'step', not {excerpt(dagster['granularity'])}")
            )
            dagster.pop("granularity")
        if not isinstance(dagster.get("pool", ""), str):
            problems.append(("flowrun_dagster", f"pool must be a string, not {excerpt(dagster['pool'])}"))
            dagster.pop("pool")
        settings = cls(
            dagster=dagster,
            context=kind("flowrun_context", callable, "a callable"),
            batches=kind("flowrun_batches", callable, "a callable"),
            batch_interval_s=int(number("flowrun_batch_interval_s", interval, 30, 1, MAX_INTERVAL_S)),
            dag_name=kind("flowrun_dag_name", lambda v: isinstance(v, str) and bool(v.strip()), "a DAG name"),
            retry_delay_s=numbers("flowrun_retry_delay_s", 0.0, 0.0, MAX_INTERVAL_S),
            retry_backoff=numbers("flowrun_retry_backoff", 1.0, 0.0, 1000.0),
            persist_values=persist,
            retention=values.get("flowrun_retention"),
        )
        return settings, problems


DAGSTER_SETTINGS = ("granularity", "pool")
"""Keys of a module's `flowrun_dagster` dict."""


class SettingError(ValueError):
    """A module-level `flowrun_*` setting of the wrong type (`setting` names it)."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting} {problem}")
        self.setting = setting


def per_key(setting: Any, key: str, default: Any = None) -> Any:
    """A module setting that is either one value for all, or a mapping keyed by DAG / task name.

    Example:
        >>> per_key({"fetch": 2.0}, "fetch"), per_key({"fetch": 2.0}, "load", 0.0), per_key(1.5, "load")
        (2.0, 0.0, 1.5)
    """
    if isinstance(setting, Mapping):
        return setting.get(key, default)
    return default if setting is None else setting


@dataclass(frozen=True)
class FlowrunDag:
    """One flowrun DAG of a pipeline module.

    Example:
        >>> # dag = FlowrunDag("orders", ENGINE, Path("pipelines/orders/dag.py"), "engine", 3, tasks=(...))
    """

    name: str
    style: str
    """`engine` (flowrun-dag 1.0.0 `Engine` / `DagScope`) or `pipeline` (README `Pipeline`)."""
    module_path: Path
    attribute: str
    line: int | None
    tasks: tuple[FlowrunTask, ...]
    """In flowrun's topological order."""
    max_parallel: int = 4
    max_workers: int | None = 8
    hooks: tuple[Any, ...] = ()
    context_factory: Callable[..., Any] | None = None
    batches: Callable[..., Any] | None = None
    batch_interval_s: int = 30
    persist_values: bool = True
    retention: RetentionPolicy | None = None
    granularity: str = "pipeline"
    pool: str | None = None
    file_settings: frozenset[str] = frozenset()
    """The keys `flowrun_dagster` set."""
    namespace: ModuleNamespace | None = None
    description: str | None = None
    source: Any = field(default=None, compare=False, repr=False)
    """The flowrun object the DAG was read from (engine or pipeline)."""

    @property
    def by_name(self) -> dict[str, FlowrunTask]:
        return {task.name: task for task in self.tasks}

    @property
    def edges(self) -> dict[str, tuple[str, ...]]:
        return {task.name: task.deps for task in self.tasks}
