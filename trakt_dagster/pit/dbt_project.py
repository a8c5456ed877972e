"""A dbt project's models, seeds and snapshots (with their tests) read from dbt's own manifest, cached.

`dbt parse` costs seconds and Dagster loads definitions in every process, so the manifest is cached under a
key made of the project's files, the adapter and the dbt-core version (a copy of the project elsewhere hits
the same entry).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from trakt_dagster.core.atomic import atomic_path
from trakt_dagster.core.guard import guard_process
from trakt_dagster.pit.dbt_cli import error_text, installed_version, make_dbt_cli, read_events, start_dbt, stop_dbt
from trakt_dagster.pit.dbt_manifest import DbtProjectInfo, project_info
from trakt_dagster.pit.dbt_profiles import ADAPTERS, DbtProfileError, adapter_type, write_placeholder_profiles

CACHE_FORMAT = "pit-dbt-manifest-1"
# dbt's own output folders (top level) and tool folders (any depth): not part of the cache key
SKIP_TOP = frozenset({"target", "logs", "dbt_packages"})
SKIP_ANY = frozenset({".venv", "__pycache__", ".git", "node_modules"})
# pit's task variables, so `env_var('PIT_RUN_ID')` without a default still parses at load time
PARSE_ENV = dict.fromkeys(("PIT_RUN_ID", "PIT_TASK_NAME", "PIT_DAG_NAME", "PIT_SOCKET"), "pit-parse")
PARSE_ENV["PIT_DATA_DIR"] = os.fspath(Path(tempfile.gettempdir()) / "pit-parse-data")


class DbtProjectError(Exception):
    """A dbt project cannot be read: dbt's own error text, the file it points at (when known) and a hint.

    Example:
        >>> e = DbtProjectError("dbt parse failed: Compilation Error", Path("models/x.sql"), "fix the Jinja")
        >>> str(e), e.file.name
        ('dbt parse failed: Compilation Error (hint: fix the Jinja)', 'x.sql')
    """

    def __init__(self, message: str, file: Path | None = None, hint: str = "") -> None:
        super().__init__(f"{message} (hint: {hint})" if hint else message)
        self.message = message
        self.file = file
        self.hint = hint


def default_cache_dir() -> Path:
    """`$TRAKT_DAGSTER_CACHE_DIR/dbt`, else `~/.cache/trakt-dagster/dbt`.

    Example:
        >>> default_cache_dir().name
        'dbt'
    """
    root = os.environ.get("TRAKT_DAGSTER_CACHE_DIR")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "trakt-dagster") / "dbt"


def project_files(project_dir: Path) -> list[Path]:
    """The project's files (relative, sorted) that make up the cache key: dbt's outputs and tool dirs skipped.

    Example:
        >>> project_files(Path("/path/to/dbt_project"))  # doctest: +SKIP
        [PosixPath('dbt_project.yml'), PosixPath('models/orders.sql'), ...]
    """
    found: list[Path] = []
    for root, dirs, files in os.walk(project_dir):
        rel_root = Path(root).relative_to(project_dir)
        dirs[:] = [d for d in dirs if d not in SKIP_ANY and not (rel_root == Path(".") and d in SKIP_TOP)]
        found.extend(rel_root / name for name in files)
    return sorted(found, key=lambda p: p.as_posix())


def manifest_cache_key(project_dir: Path, *, adapter: str, extra: Mapping[str, str] | None = None) -> str:
    """sha256 over the project's files (paths and contents), the adapter and the dbt-core version.

    Example:
        >>> manifest_cache_key(Path("/path/to/dbt_project"), adapter="dbt-duckdb")  # doctest: +SKIP
        '4f0c…'
    """
    kind = adapter_type(adapter)
    digest = hashlib.sha256()
    header = {
        "format": CACHE_FORMAT,
        "adapter": kind,
        "adapter_version": installed_version(next((k for k, v in ADAPTERS.items() if v == kind), "")),
        "dbt_core": installed_version("dbt-core"),
        "extra": dict(sorted((extra or {}).items())),
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    for rel in project_files(project_dir):
        data = (project_dir / rel).read_bytes()
        digest.update(f"\0{rel.as_posix()}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def _read_project_yml(project_dir: Path) -> dict[str, Any]:
    yml = project_dir / "dbt_project.yml"
    if not yml.is_file():
        raise DbtProjectError(
            f"no dbt project in {project_dir}: dbt_project.yml not found",
            yml,
            "set [dag.dbt] project_dir to the folder (relative to the pit project) that holds dbt_project.yml",
        )
    try:
        data = yaml.safe_load(yml.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DbtProjectError(f"{yml} is not valid YAML: {exc}", yml, "fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise DbtProjectError(f"{yml} is not a mapping of dbt project settings", yml, "see dbt's dbt_project.yml docs")
    return data


_FILE_PATTERNS = (
    re.compile(r"\(([^()\n]+\.(?:sql|ya?ml|csv|py|md))\)"),
    re.compile(r"Error reading [^:\n]+: ([^\s]+\.ya?ml)"),
)


def _error_file(text: str, project_dir: Path) -> Path | None:
    for pattern in _FILE_PATTERNS:
        match = pattern.search(text)
        if match:
            return project_dir / match.group(1)
    return None


def _hint(text: str, project_dir: Path, adapter: str, file: Path | None) -> str:
    if "Compilation Error" in text:
        return f"fix the Jinja/SQL in {file or 'the file named above'}; dbt's message shows the line"
    if "Could not find adapter type" in text or "No module named 'dbt.adapters" in text:
        return f"install the adapter package {adapter!r} in the environment that runs Dagster"
    if "dbt deps" in text or "packages.yml" in text:
        return f"run `dbt deps` in {project_dir} first: packages are not downloaded when definitions load"
    if "Env var required but not provided" in text:
        return "set that environment variable where Dagster loads definitions, or give env_var() a default"
    return f"run `dbt parse` in {project_dir} to see the full error"


def _parse_manifest(
    project_dir: Path, work: Path, *, adapter: str, profile: str, target: str, env: Mapping[str, str]
) -> dict[str, Any]:
    """Run `dbt parse` with a placeholder profile, everything it writes kept in `work`; returns the manifest."""
    profiles_dir = work / "profiles"
    write_placeholder_profiles(profiles_dir, profile=profile, target=target, adapter=adapter)
    target_path = work / "target"
    try:
        cli = make_dbt_cli(project_dir, profiles_dir=profiles_dir, profile=profile, target=target)
        invocation = start_dbt(cli, ["parse"], target_path=target_path, env=env)
    except (ValueError, OSError) as exc:
        raise DbtProjectError(f"cannot start dbt for {project_dir}: {exc}", None, "install dbt-core") from None
    errors: list[str] = []
    raw: list[str] = []
    release = guard_process(invocation.process.pid, group=False)
    try:
        for event in read_events(invocation):
            if event.is_error:
                errors.append(event.text)
            elif event.is_raw and event.text.strip():
                raw.append(event.text)
        returncode = invocation.process.wait()
    except BaseException:
        stop_dbt(invocation.process)
        raise
    finally:
        release()
    manifest = target_path / "manifest.json"
    if returncode != 0 or not manifest.is_file():
        text = error_text(errors) or "\n".join(raw[-20:]) or f"dbt parse exited with code {returncode}"
        file = _error_file(text, project_dir)
        raise DbtProjectError(
            f"dbt parse failed for {project_dir}:\n{text}", file, _hint(text, project_dir, adapter, file)
        )
    return json.loads(manifest.read_bytes())


def read_dbt_project(
    project_dir: Path,
    *,
    adapter: str,
    cache_dir: Path | None = None,
    target: str = "prod",
    env: Mapping[str, str] | None = None,
) -> DbtProjectInfo:
    """Read a dbt project's models, seeds and snapshots (topological order) and their tests.

    The manifest comes from `dbt parse` (through dagster-dbt, with a placeholder profile named like the
    `profile:` of `dbt_project.yml`: DuckDB in memory, dummy credentials otherwise; no database is
    contacted) and is cached in `cache_dir` (default `default_cache_dir()`). `target` is the target name
    dbt sees while parsing; `env` adds variables for the parse (pit's `PIT_*` variables get placeholders).
    Both are part of the cache key; other environment variables a project reads while parsing are not.

    Tests: a generic test belongs to its `attached_node`; a test reading several nodes (a singular test)
    belongs to the one that comes last in the topological order, so its check runs once, after all its
    inputs; all of them are in `DbtTest.depends_on`. Tests reading no node (sources only) are in
    `unattached_tests` (see `pit.dbt_manifest`).

    Errors (no `dbt_project.yml`, dbt failing to parse) raise `DbtProjectError` with dbt's own message.

    Example:
        >>> info = read_dbt_project(Path("projects/sales/dbt"), adapter="dbt-duckdb")  # doctest: +SKIP
        >>> [n.name for n in info.nodes]  # doctest: +SKIP
        ['raw_orders', 'stg_orders', 'orders']
    """
    project_dir = Path(project_dir).absolute()
    settings = _read_project_yml(project_dir)
    profile = str(settings.get("profile") or "")
    try:
        adapter_type(adapter)
    except DbtProfileError as exc:
        raise DbtProjectError(str(exc), None, "set [dag.dbt] adapter to one of the supported pip names") from None
    parse_env = {**{k: v for k, v in PARSE_ENV.items() if k not in os.environ}, **(env or {})}
    key = manifest_cache_key(project_dir, adapter=adapter, extra={"target": target, **parse_env})
    cache_file = Path(cache_dir or default_cache_dir()) / f"{key}.json"
    manifest = _load_cached(cache_file)
    if manifest is None:
        with tempfile.TemporaryDirectory(prefix="trakt-dbt-parse-") as work:
            manifest = _parse_manifest(
                project_dir, Path(work), adapter=adapter, profile=profile or "default", target=target, env=parse_env
            )
        _store(manifest, cache_file)
    stored = cache_file if cache_file.is_file() else None
    return project_info(manifest, project_dir=project_dir, profile_name=profile, manifest_path=stored)


def _load_cached(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "nodes" in data else None


def _store(manifest: Mapping[str, Any], cache_file: Path) -> None:
    try:
        with atomic_path(cache_file) as tmp:
            tmp.write_text(json.dumps(manifest), encoding="utf-8")
    except OSError:
        pass  # an unwritable cache only costs time
