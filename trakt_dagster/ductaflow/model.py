"""A ductaflow project as plain data: its flows, builds, conductors, instances and scenarios.

Nothing here imports Dagster or runs a notebook; `loader` fills these records from the project's files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOOL = "ductaflow"
DEFAULT_INSTANCE = "default"
DEFAULT_MODEL_ROOT = "runs/conductor_runs"


@dataclass(frozen=True)
class Instance:
    """One configured run of a flow or build: a partition of its asset (or the only run when unpartitioned).

    `key` is the Dagster partition key, `name` what the original calls the instance (a scenario's
    `Scenario_<labels>` name), `folder` the instance folder relative to the project's work root.

    Example:
        >>> Instance("eu", "eu", "runs/clean/eu", {"region": "eu"}).folder
        'runs/clean/eu'
    """

    key: str
    name: str
    folder: str
    config: Mapping[str, Any]
    source: Path | None = None
    """The file the instance's config comes from (an instance JSON, the conductor)."""
    line: int | None = None
    scenario: Mapping[str, Any] | None = None
    """For a conductor scenario: the scenario row (overrides and `scenario_name`, without labels)."""
    extra_files: Mapping[str, Any] = field(default_factory=dict)
    """Files written into the instance folder before it runs (the conductor's `config.json`)."""


@dataclass(frozen=True)
class Notebook:
    """A flow (`flows/<name>.py`) or a build (`builds/<name>.py`).

    Example:
        >>> Notebook("flow", "clean", Path("p/flows/clean.py")).asset_name
        'clean'
    """

    kind: str
    name: str
    path: Path
    description: str | None = None
    config_file: Path | None = None
    base_config: Mapping[str, Any] = field(default_factory=dict)
    instances: tuple[Instance, ...] = ()
    partitioned: bool = False
    partitioned_by: str | None = None
    """`instances` (files in `config/<kind>s/<name>/`) or the conductor's file name."""
    deps: tuple[str, ...] = ()
    """Other flows/builds of the project this one reads (declared in its `dagster:` metadata)."""
    references: tuple[str, ...] = ()
    """String constants of the notebook's code (a build's references to the flows it runs)."""
    runs: tuple[str, ...] = ()
    """Notebook files the code runs by a literal name (`run_notebook("flows/x.py")`, `flows_dir / "x.py"`)."""
    timeout: float | None = None
    """papermill's per-cell timeout in seconds."""
    kernel_name: str | None = None
    export_html: bool = True
    retries: int = 0
    pool: str | None = None
    granularity: str = "pipeline"
    """`pipeline` or `step`: the same definitions (a flow or build is one op either way)."""
    workers: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """The notebook's `dagster:` metadata block as written."""

    @property
    def asset_name(self) -> str:
        return self.name

    @property
    def config_asset_name(self) -> str:
        return f"{self.name}_config"


@dataclass(frozen=True)
class Conductor:
    """A conductor's scenario grid, read from its module-level definitions without running it.

    Example:
        >>> Conductor("conductor", Path("p/conductor.py"), target=("build", "model")).target
        ('build', 'model')
    """

    name: str
    path: Path
    target: tuple[str, str]
    """(kind, name) of the flow or build it runs per scenario."""
    model_root: str = DEFAULT_MODEL_ROOT
    base_config: Mapping[str, Any] = field(default_factory=dict)
    dimensions: Mapping[str, Any] = field(default_factory=dict)
    active_dimensions: tuple[str, ...] = ()
    scenarios: tuple[Instance, ...] = ()


@dataclass(frozen=True)
class DuctaflowProject:
    """One ductaflow project folder (`pipelines/<name>/` with `flows/` and `config/`).

    Example:
        >>> DuctaflowProject("demo", Path("pipelines/demo")).notebooks
        ()
    """

    name: str
    folder: Path
    flows: tuple[Notebook, ...] = ()
    builds: tuple[Notebook, ...] = ()
    conductors: tuple[Conductor, ...] = ()
    own_ductaflow: bool = False
    """The project has its own `ductaflow.py` (or package), which its kernels import instead of ours."""

    @property
    def notebooks(self) -> tuple[Notebook, ...]:
        return (*self.flows, *self.builds)

    def notebook(self, name: str) -> Notebook | None:
        return next((n for n in self.notebooks if n.name == name), None)

    def conductor_of(self, notebook: Notebook) -> Conductor | None:
        return next((c for c in self.conductors if c.target == (notebook.kind, notebook.name)), None)
