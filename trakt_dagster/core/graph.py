"""The neutral task graph every front end produces and the core turns into Dagster definitions.

Nothing here imports Dagster: a `TaskGraph` is plain, immutable data plus the callables that run
each task. The runner (`core.runner`) executes it; the builder (`core.builder`) describes it to Dagster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trakt_dagster.core.errors import SourceLocation
from trakt_dagster.core.retention import RetentionPolicy

if TYPE_CHECKING:
    from trakt_dagster.core.context import TaskContext


class TaskRole(StrEnum):
    """What a task stands for in the manifest: loading an input, a step, or writing an output dataset."""

    INPUT = "input"
    STEP = "step"
    OUTPUT = "output"


class Granularity(StrEnum):
    """How a pipeline maps onto Dagster ops: one op for the whole pipeline, or one op per task."""

    PIPELINE = "pipeline"
    STEP = "step"


class FailurePolicy(StrEnum):
    """What the runner does after a task fails.

    `continue`: mark the failed task's descendants upstream-failed and let independent branches finish.
    `stop`: start no further task (trakt: the first exception stops the run).
    """

    CONTINUE = "continue"
    STOP = "stop"


@dataclass
class TaskResult:
    """What a task callable returns to the runner.

    Example:
        >>> TaskResult(value={"records": [1, 2]}, metadata={"rows": 2}, record={"rows_out": 2})
        TaskResult(value={'records': [1, 2]}, metadata={'rows': 2}, record={'rows_out': 2}, checks=[], materialize=True)
    """

    value: Any = None
    """Passed to downstream tasks (in memory, or through the IO manager in step granularity)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Dagster materialization metadata."""
    record: dict[str, Any] = field(default_factory=dict)
    """Fields for this task's manifest entry (e.g. rows_in, rows_out, metrics, path)."""
    checks: list[CheckOutcome] = field(default_factory=list)
    """Asset check results measured while the task ran."""
    materialize: bool = True
    """False: the task succeeded without producing its asset this run (e.g. a dbt model the command did not
    select); no materialization is reported."""


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one quality check on a task's asset.

    Example:
        >>> CheckOutcome("unique_keys", passed=False, severity="warn", metadata={"duplicates": 2}).passed
        False
    """

    name: str
    passed: bool
    severity: str = "error"
    description: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckDefinition:
    """A check declared on a task's asset (becomes a Dagster `AssetCheckSpec`).

    Example:
        >>> CheckDefinition("gate", description="quality gate", blocking=True).blocking
        True
    """

    name: str
    description: str | None = None
    blocking: bool = False


TaskCallable = Callable[["TaskContext", Mapping[str, Any]], TaskResult | None]
"""`run(ctx, upstream_values)`: `upstream_values` maps each dependency's task key to its result value.
May also be an `async def`: the runner then awaits it with the task's timeout."""


@dataclass(frozen=True)
class ExternalDataset:
    """Data a pipeline reads but does not produce (a trakt input file pattern, a source table).

    Becomes an external (non-materializable) asset that the pipeline's tasks depend on.

    Example:
        >>> ExternalDataset("records", kind="csv", metadata={"pattern": "records/*.csv"}).name
        'records'
    """

    name: str
    asset_name: str | None = None
    kind: str | None = None
    description: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    asset_key: tuple[str, ...] | None = None
    """The whole Dagster asset key path (instead of `[<pipeline>, <asset_name>]`), e.g. a table shared by
    several pipelines (`("raw", "orders")`)."""

    @property
    def key_name(self) -> str:
        return self.asset_name or self.name


@dataclass(frozen=True)
class Task:
    """One unit of work of a pipeline.

    `key` is unique within the graph and names the task in the runner and the manifest; `asset_name`
    (default: `key`) is the last part of its Dagster asset key before sanitising. Tasks with
    `is_asset=False` run when a selected task needs them but are not shown as assets.

    Example:
        >>> t = Task("clean", run=lambda ctx, upstream: TaskResult(value=1), deps=("load",))
        >>> t.deps, t.is_asset, t.role
        (('load',), True, <TaskRole.STEP: 'step'>)
    """

    key: str
    run: TaskCallable
    deps: tuple[str, ...] = ()
    external_deps: tuple[str, ...] = ()
    role: TaskRole = TaskRole.STEP
    is_asset: bool = True
    asset_name: str | None = None
    description: str | None = None
    source: SourceLocation | None = None
    kinds: frozenset[str] = frozenset()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    checks: tuple[CheckDefinition, ...] = ()
    retries: int = 0
    retry_delay: float = 0.0
    retry_backoff: float = 1.0
    timeout: float | None = None
    pool: str | None = None
    asset_deps: tuple[str, ...] = ()
    """Dagster asset keys (user strings such as `"proj/clean"`) of assets of other graphs this asset reads."""
    code_references: tuple[SourceLocation, ...] = ()
    """More source locations the UI links to besides `source` (a step's module, a task's script)."""
    code_version: str | None = None
    """The asset's Dagster code version (a change marks its materializations stale)."""
    asset_key: tuple[str, ...] | None = None
    """The whole Dagster asset key path (instead of `[<prefix>, <asset_name>]`), e.g. the table a loom
    step writes (`("mart", "sales")`)."""
    selection_pulls: tuple[str, ...] | None = None
    """When a selection runs only the selected tasks (`TaskGraph.subset_runs_ancestors=False`), the helper
    tasks (`is_asset=False`) among `deps` run with this task and the other deps count as done; this narrows
    which helper deps run with it (None: all of them), e.g. only the step writing a temp it reads, not a
    step that merely comes before it."""
    dagster_retries: int = 0
    """Step granularity with `TaskGraph.step_retry_policy`: the task's retries are its op's Dagster
    `RetryPolicy` (this holds the original `retries`; the runner then runs one attempt per op attempt,
    numbered from Dagster's retry number)."""
    label: str | None = None
    """How the run log's lines name the task when its `key` is not the name the user wrote, e.g.
    `output daily_report` for pit's `output:daily_report` (None: the key)."""

    @property
    def key_name(self) -> str:
        return self.asset_name or self.key


@dataclass(frozen=True)
class CronTrigger:
    """Run the pipeline on a cron schedule (5 fields or an `@daily`-style macro) in a time zone.

    Example:
        >>> CronTrigger("0 6 * * *", timezone="Europe/Berlin").overlap
        'allow'
    """

    cron: str
    timezone: str | None = None
    overlap: str = "allow"
    """`allow` (start another run), `skip` (no run while one is active) or `wait` (queue: one at a time)."""
    name: str | None = None
    default_running: bool = False
    """Start the schedule running (Dagster's default is stopped until turned on)."""


@dataclass(frozen=True)
class IntervalTrigger:
    """Run the pipeline every `seconds` (a sensor; pit's `@every 1h30m`).

    Example:
        >>> IntervalTrigger(5400, source="@every 1h30m").seconds
        5400
    """

    seconds: float
    overlap: str = "allow"
    name: str | None = None
    source: str | None = None
    """The schedule as the tool wrote it."""
    default_running: bool = False
    """Start the sensor running (Dagster's default is stopped until turned on)."""


@dataclass(frozen=True)
class OpRetries:
    """A Dagster `RetryPolicy` for the pipeline's op (pipeline granularity): a failed op runs again as a
    whole, with `context.retry_number` counting the attempts (loom's `attempt` / `last_attempt`).

    Example:
        >>> OpRetries(max_retries=2, delay=5.0).max_retries
        2
    """

    max_retries: int
    delay: float | None = None


FILE_SETTINGS = frozenset({"granularity", "pool", "retries"})
"""Settings a pipeline's own file can set in its `dagster:` block (trakt YAML, `[dag.dagster]` of pit.toml,
`flowrun_dagster`, loom's runner config, a notebook header); they win over a Component's attributes."""


@dataclass(frozen=True)
class SnapshotSpec:
    """Which source files a run folder's `project/` snapshot copies.

    Example:
        >>> SnapshotSpec(Path("pipelines/sales"), suffixes=(".py", ".yaml")).root.name
        'sales'
    """

    root: Path
    suffixes: tuple[str, ...] | None = None
    """Only files with these suffixes (None: every file)."""
    exclude_dirs: tuple[Path, ...] = ()
    max_file_bytes: int = 5_000_000
    files: tuple[Path, ...] = ()
    """When given, only these files (under `root`) are copied."""


@dataclass(frozen=True)
class TaskGraph:
    """A pipeline of one tool, in neutral form.

    `tasks` are in declaration order, which is a topological order (the builder checks it).
    `session_factory(run_info, run_config)` creates the per-run state shared by the tasks (e.g. trakt's
    `Context`); `config_class` is the Dagster `Config` class of the pipeline's run config, if any.

    Example:
        >>> g = TaskGraph("sales", tool="trakt", source_file=Path("pipelines/sales/pipeline.yaml"),
        ...               tasks=(Task("a", run=lambda c, u: None),))
        >>> [t.key for t in g.tasks]
        ['a']
    """

    name: str
    tool: str
    source_file: Path
    tasks: tuple[Task, ...]
    external: tuple[ExternalDataset, ...] = ()
    description: str | None = None
    version: str | None = None
    triggers: tuple[CronTrigger | IntervalTrigger, ...] = ()
    max_parallel: int = 4
    failure_policy: FailurePolicy = FailurePolicy.CONTINUE
    granularity: Granularity = Granularity.PIPELINE
    allowed_granularities: frozenset[Granularity] = frozenset(Granularity)
    run_timeout: float | None = None
    deadline_fails_pending: bool = False
    """When `run_timeout` expires, tasks that never started count as failed (pit) instead of skipped."""
    subset_runs_ancestors: bool = True
    """Selecting some tasks also runs the upstream tasks they need (trakt, flowrun's `run_subgraph`); when
    False only the selected tasks run and their dependencies count as done (pit's `run dag/task`)."""
    session_factory: Callable[..., Any] | None = None
    config_class: type | None = None
    resources: Mapping[str, Any] = field(default_factory=dict)
    """Dagster resources (key → default instance) the pipeline's tasks use."""
    partitions_def: Any = None
    """A Dagster `PartitionsDefinition` shared by every asset of the pipeline (e.g. micro-batches)."""
    persist_values: bool = False
    """Store every task value in the run folder (pipeline granularity too), so runs that select only
    downstream tasks, and re-executions, reload upstream results instead of recomputing them."""
    reuse_values: Callable[..., Any] | None = None
    """With `persist_values`: `reuse_values(ReuseRequest) -> ReusePlan | None` decides, when a run starts,
    which tasks it takes over from earlier runs instead of running them (e.g. flowrun's `resume` on a
    re-execution). See `core.reuse`."""
    pool: str | None = None
    """Dagster concurrency pool of the pipeline's op (pipeline granularity)."""
    op_retries: OpRetries | None = None
    """Dagster retries of the pipeline's op (pipeline granularity); task retries (`Task.retries`) are the
    runner's, inside one attempt of the op."""
    step_as_pipeline: bool = False
    """The graph's one op already is its unit of work (a ductaflow flow or build): step granularity builds the
    same job as pipeline granularity."""
    file_settings: frozenset[str] = frozenset()
    """Which of `FILE_SETTINGS` the pipeline's own file set (a Component's attributes do not override them)."""
    step_retry_policy: bool = False
    """Step granularity: each task's `retries` / `retry_delay` become its op's Dagster `RetryPolicy` (one
    attempt per op attempt, so Dagster's UI shows and re-runs each retry) instead of the runner's retries."""
    in_process: bool = False
    """Pipeline granularity: use Dagster's plain `in_process_executor` (its flat run config). Without it a job
    of one op still runs in the run worker by default (`core.executors.single_op_executor`, which also
    accepts `multiprocess` in the run config); only jobs of several ops get a process per op."""
    defer_materializations: bool = False
    """Report assets only when the whole run is done, and only those whose task still counts as
    succeeded (lazy tools such as trakt stream mode run a step's code while later tasks consume it)."""
    materialization_events: bool = False
    """Pipeline granularity: report each task's asset as an `AssetMaterialization` event instead of a
    `MaterializeResult` output. Dagster then skips the per-output bookkeeping (step output events,
    data-version provenance), which costs several ms per asset in pipelines of many small tasks; the
    assets still show as materialized by the run, with the same metadata and check results."""
    extra_definitions: Callable[..., Any] | None = None
    """`extra_definitions(build_context) -> dagster.Definitions`: sensors, schedules or checks a front end
    adds beyond what the core builds (see `core.builder.BuildContext`)."""
    snapshot: SnapshotSpec | None = None
    task_log_files: bool = True
    """Whether the core writes `logs/<task>.log` (timestamped lines: start, output, retries, outcome). False when
    the tool's tasks write their own log files in the tool's format (pit: the task's raw output only); the Dagster
    log gets every line either way."""
    asset_prefix: str | None = None
    """First part of the graph's asset keys (default: the graph's name), so several graphs (e.g. one per
    ductaflow flow, each with its own partitions) can share one key prefix and group."""
    backfill_policy: Any = None
    """A Dagster `BackfillPolicy` for the graph's op (e.g. `single_run()`: a backfill is one run whose
    op receives every selected partition, `RunInfo.partition_keys`)."""
    retention: RetentionPolicy | None = None
    """How many run folders the pipeline keeps and which of their sub-folders survive (fields it leaves
    unset come from the root default, the `trakt_run_storage` resource). See `core.retention`."""
    group_name: str | None = None
    owners: tuple[str, ...] = ()
    kinds: frozenset[str] = frozenset()
    tags: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def by_key(self) -> dict[str, Task]:
        """Tasks by key (computed once)."""
        return {task.key: task for task in self.tasks}

    @cached_property
    def dagster_names(self) -> dict[str, str]:
        """The Dagster name of each task's and external dataset's asset name (`key_name`): the obvious valid
        name, with a short hash only where two different originals of this graph would collide."""
        from trakt_dagster.core.names import unique_dagster_names

        return unique_dagster_names(
            [t.key_name for t in self.tasks if t.asset_key is None]
            + [d.key_name for d in self.external if d.asset_key is None]
        )

    @cached_property
    def labels(self) -> dict[str, str]:
        """The `label` of each task that has one, by key: how run-log lines name it (computed once)."""
        return {task.key: task.label for task in self.tasks if task.label}

    @cached_property
    def name_collisions(self) -> dict[str, list[str]]:
        """Dagster names that several different asset names of this graph turn into (see `dagster_names`)."""
        from trakt_dagster.core.names import find_collisions

        return find_collisions(self.dagster_names)

    @cached_property
    def external_by_name(self) -> dict[str, ExternalDataset]:
        """External datasets by name (computed once)."""
        return {dataset.name: dataset for dataset in self.external}

    @cached_property
    def children(self) -> dict[str, tuple[str, ...]]:
        """Direct downstream tasks of each task."""
        found: dict[str, list[str]] = {task.key: [] for task in self.tasks}
        for task in self.tasks:
            for dep in task.deps:
                found[dep].append(task.key)
        return {key: tuple(value) for key, value in found.items()}

    def task(self, key: str) -> Task:
        try:
            return self.by_key[key]
        except KeyError:
            raise KeyError(f"Pipeline '{self.name}' has no task '{key}'.") from None

    @property
    def task_keys(self) -> tuple[str, ...]:
        return tuple(task.key for task in self.tasks)

    def descendants(self, keys: set[str]) -> set[str]:
        """Every task downstream of `keys` (not including them)."""
        found: set[str] = set()
        stack = [child for key in keys for child in self.children[key]]
        while stack:
            key = stack.pop()
            if key not in found:
                found.add(key)
                stack.extend(self.children[key])
        return found

    def ancestors(self, keys: set[str]) -> set[str]:
        """Every task upstream of `keys` (not including them)."""
        found: set[str] = set()
        stack = [dep for key in keys for dep in self.by_key[key].deps]
        while stack:
            key = stack.pop()
            if key not in found:
                found.add(key)
                stack.extend(self.by_key[key].deps)
        return found
