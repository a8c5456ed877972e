"""Per-run state of a ductaflow notebook on Dagster: which instances run, where, with which provenance.

The project's `runs/` folder of the original lives at `<runs_dir>/<project>/` (the **work root**): a flow's
instance `runs/<flow>/<instance>/` becomes `<runs_dir>/<project>/<flow>/<instance>/`, a conductor's scenario
`runs/conductor_runs/Model_Runs/<scenario>/` becomes `<runs_dir>/<project>/conductor_runs/Model_Runs/<scenario>/`.
Flows keep finding each other through relative paths; `_project_root` is the project's source folder.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from trakt_dagster.core.names import dagster_name
from trakt_dagster.core.session import PipelineSession, SessionRequest
from trakt_dagster.ductaflow.grid import partition_key
from trakt_dagster.ductaflow.model import DuctaflowProject, Instance, Notebook
from trakt_dagster.ductaflow.versions import instance_fingerprint

COMPAT_DIR = Path(__file__).resolve().parent / "compat"
"""The folder holding the compatible `ductaflow` package (put on kernels' PYTHONPATH when needed)."""
REPORT_KEY = "ductaflow"
MAX_DEFAULT_WORKERS = 4


class DuctaflowRunConfig(dg.Config):
    """Run config of a ductaflow notebook's job (launchpad); every field is optional.

    Example:
        ```yaml
        ops:
          demo__scenario_build_pipeline:
            config:
              workers: 2
        ```
    """

    workers: int = Field(
        default=0, description="Instances run at once (0: the notebook's dagster.workers, else CPUs up to 4)."
    )
    kernel_name: str = Field(default="", description="Jupyter kernel (empty: this environment's own 'trakt-dagster').")
    timeout: float = Field(default=0, description="Per-cell timeout in seconds (0: the notebook's dagster.timeout).")
    export_html: bool = Field(default=True, description="Export <flow>_executed.html after a successful run.")
    instance: str = Field(
        default="", description="Unpartitioned notebooks: run this instance name instead of 'default'."
    )
    config_file: str = Field(
        default="",
        description="Run with this JSON config instead of the configured one (e.g. a saved <flow>_config.json).",
    )


ADHOC_SUFFIX = "+adhoc"
"""Appended to the code version recorded by runs that deviate from the configured instance (another instance
name or config file): Dagster then shows the configured instance as changed until it runs as configured."""


@dataclass(frozen=True)
class AssetKeys:
    """The Dagster keys a notebook's run reads and writes."""

    asset: dg.AssetKey
    config: dg.AssetKey | None
    deps: tuple[dg.AssetKey, ...] = ()
    flows: dict[str, dg.AssetKey] = field(default_factory=dict)
    """Unpartitioned flows of the project (a build reports their materializations when it runs them)."""


def asset_key(project: DuctaflowProject, name: str) -> dg.AssetKey:
    """`[<project>, <name>]`, sanitised like every other asset key.

    Example:
        >>> asset_key(DuctaflowProject("demo", Path("p")), "clean").to_user_string()
        'demo/clean'
    """
    return dg.AssetKey([dagster_name(project.name), dagster_name(name)])


def real_ductaflow_installed() -> bool:
    """Whether a `ductaflow` other than ours is importable in this environment."""
    try:
        spec = importlib.util.find_spec("ductaflow")
    except (ImportError, ValueError):
        return False
    if spec is None or spec.origin is None:
        return False
    return not Path(spec.origin).resolve().is_relative_to(COMPAT_DIR)


def kernel_pythonpath(project: DuctaflowProject) -> list[str]:
    """What a project's kernels get in front of `PYTHONPATH`: the project folder when it has its own
    `ductaflow.py`, else our compatible package when no real `ductaflow` is installed, else nothing."""
    if project.own_ductaflow:
        return [str(project.folder)]
    if real_ductaflow_installed():
        return []
    return [str(COMPAT_DIR)]


def default_workers() -> int:
    return max(1, min(MAX_DEFAULT_WORKERS, os.cpu_count() or 1))


@dataclass
class InstanceOutcome:
    """How one instance ended (kept for the manifest, the report and the CLI)."""

    key: str
    name: str
    folder: Path
    status: str
    """`success`, `warning` or `error`."""
    started_at: float = 0.0
    duration_s: float = 0.0
    error: str | None = None
    failure: dict[str, Any] | None = None
    files: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    flows: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 1

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "instance": self.name,
            "partition": self.key,
            "folder": str(self.folder),
            "status": self.status,
            "duration_s": round(self.duration_s, 3),
            "attempts": self.attempts,
            **self.files,
        }
        if self.warnings:
            data["marked_lines"] = self.warnings[:50]
        if self.flows:
            data["flows"] = self.flows
        if self.error:
            data["error"] = self.error
        if self.failure:
            data["failure"] = self.failure
        return data


@dataclass
class DuctaflowSession(PipelineSession):
    """What the task of one ductaflow run shares with the bridge and the report."""

    project: DuctaflowProject | None = None
    notebook: Notebook | None = None
    keys: AssetKeys | None = None
    work_root: Path = Path(".")
    instances: list[Instance] = field(default_factory=list)
    inputs: dict[str, dict[dg.AssetKey, tuple[str, int | None]]] = field(default_factory=dict)
    """Per instance: the provenance of its inputs (data version, event record id) at the start of the run."""
    code_version: str = ""
    workers: int = 1
    kernel_name: str | None = None
    timeout: float | None = None
    export_html: bool = True
    pythonpath: list[str] = field(default_factory=list)
    instance: Any = None
    dagster_run_id: str = ""
    log: Any = None
    results: dict[str, InstanceOutcome] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, outcome: InstanceOutcome) -> None:
        with self._lock:
            self.results[outcome.key] = outcome

    def folder_of(self, instance: Instance) -> Path:
        return self.work_root / instance.folder

    def manifest_extra(self) -> dict[str, Any]:
        if self.notebook is None or self.project is None:
            return {}
        with self._lock:
            instances = {key: outcome.as_dict() for key, outcome in self.results.items()}
        pending = {i.key: {"instance": i.name, "status": "pending"} for i in self.instances if i.key not in instances}
        return {
            REPORT_KEY: {
                "project": self.project.name,
                "kind": self.notebook.kind,
                "notebook": str(self.notebook.path),
                "work_root": str(self.work_root),
                "code_version": self.code_version,
                "instances": {**instances, **pending},
            }
        }

    def close(self, success: bool) -> None:
        """Regenerate the conductor's results and status report when this notebook is a conductor's target."""
        if self.project is None or self.notebook is None or self.instance is None:
            return
        conductor = self.project.conductor_of(self.notebook)
        if conductor is None:
            return
        from trakt_dagster.ductaflow.report import write_conductor_report

        try:
            write_conductor_report(self.project, conductor, self.work_root, self.instance, current=self.results)
        except Exception as exc:  # noqa: BLE001 - the report never fails the run
            if self.log is not None:
                self.log("warning", f"conductor report not written: {type(exc).__name__}: {exc}")


def work_root(runs_dir: Path, project: DuctaflowProject) -> Path:
    """`<runs_dir>/<project>/`: where the project's instance folders live."""
    return Path(runs_dir) / dagster_name(project.name)


def _latest_version(instance: Any, key: dg.AssetKey, is_source: bool, partition: str | None) -> tuple[str, int | None]:
    from dagster._core.definitions.data_version import DEFAULT_DATA_VERSION, extract_data_version_from_entry

    record = instance.get_latest_data_version_record(key, is_source, partition)
    if record is None:
        return DEFAULT_DATA_VERSION.value, None
    version = extract_data_version_from_entry(record.event_log_entry)
    return (version.value if version else DEFAULT_DATA_VERSION.value), record.storage_id


def observe_configs(instance: Any, key: dg.AssetKey, instances: list[Instance]) -> dict[str, tuple[str, int | None]]:
    """Report (as runless observations) the config data version of every instance whose config differs from
    the last one observed; returns each instance's (data version, record id)."""
    from dagster._core.definitions.data_version import DATA_VERSION_TAG

    found: dict[str, tuple[str, int | None]] = {}
    for inst in instances:
        fingerprint = instance_fingerprint(inst)
        version, storage_id = _latest_version(instance, key, True, inst.key)
        if version != fingerprint:
            instance.report_runless_asset_event(
                dg.AssetObservation(key, partition=inst.key, tags={DATA_VERSION_TAG: fingerprint})
            )
            version, storage_id = _latest_version(instance, key, True, inst.key)
        found[inst.key] = (version, storage_id)
    return found


def make_session_factory(project: DuctaflowProject, notebook: Notebook, keys: AssetKeys, code_version: str):  # noqa: ANN201
    """The `session_factory` of a notebook's graph."""

    def factory(request: SessionRequest) -> DuctaflowSession:
        config: DuctaflowRunConfig = request.config or DuctaflowRunConfig()
        by_key = {i.key: i for i in notebook.instances}
        if notebook.partitioned:
            wanted = list(request.run.partition_keys)
            if not wanted:
                raise ValueError(
                    f"{notebook.kind} '{notebook.name}' is partitioned: choose partitions to run (a backfill, or "
                    f"'trakt-dagster ductaflow run {notebook.name} --instance NAME')"
                )
            unknown = [k for k in wanted if k not in by_key]
            if unknown:
                raise ValueError(f"unknown partition(s) of '{notebook.name}': {', '.join(unknown)}")
            instances = [by_key[k] for k in wanted]
        else:
            instances = list(notebook.instances)
        adhoc = False
        if config.instance and not notebook.partitioned:
            folder = partition_key(config.instance)
            instances = [replace(instances[0], key=folder, name=config.instance, folder=f"{notebook.name}/{folder}")]
            adhoc = True
        if config.config_file:
            override = _read_override(Path(config.config_file))
            instances = [replace(i, config=override) for i in instances]
            adhoc = True
        session = DuctaflowSession(
            run_id=request.run.run_id,
            project=project,
            notebook=notebook,
            keys=keys,
            work_root=work_root(request.run.run_dir.parent.parent, project),
            instances=instances,
            code_version=code_version + (ADHOC_SUFFIX if adhoc else ""),
            workers=config.workers or notebook.workers or default_workers(),
            kernel_name=config.kernel_name or notebook.kernel_name,
            timeout=config.timeout or notebook.timeout,
            export_html=config.export_html and notebook.export_html,
            pythonpath=kernel_pythonpath(project),
            instance=request.instance,
            dagster_run_id=request.run.run_id,
            log=request.log,
        )
        session.snapshot_exclude.append(project.folder / "runs")
        if request.instance is not None:
            configs = observe_configs(request.instance, keys.config, instances) if keys.config else {}
            for inst in instances:
                inputs: dict[dg.AssetKey, tuple[str, int | None]] = {}
                if keys.config is not None:
                    inputs[keys.config] = configs[inst.key]
                for dep in keys.deps:
                    partition = inst.key if _dep_partitioned(project, dep) else None
                    inputs[dep] = _latest_version(request.instance, dep, False, partition)
                session.inputs[inst.key] = inputs
        return session

    return factory


def _read_override(path: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the config file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"the config file {path} must hold a JSON object")
    return data


def _dep_partitioned(project: DuctaflowProject, key: dg.AssetKey) -> bool:
    for notebook in project.notebooks:
        if asset_key(project, notebook.name) == key:
            return notebook.partitioned
    return False
