"""Find pit projects (`projects/<name>/pit.toml`, one level deep) and turn them into task graphs.

The workspace's `pit_config.toml` (optional) sets the secrets file, retention and the repo cache. Every
error of every project is reported together; warnings (unknown keys, ignored settings) are returned
beside them.
"""

from __future__ import annotations

import os
from pathlib import Path

from trakt_dagster.core.discovery import FrontEndResult, LoadOptions
from trakt_dagster.core.errors import LoadError, PipelineLoadErrors, SourceLocation
from trakt_dagster.pit.loader import TOOL, find_project_files, read_project, read_workspace
from trakt_dagster.pit.model import PitProject, WorkspaceConfig
from trakt_dagster.pit.runtime import SECRETS_ENV
from trakt_dagster.pit.secrets import SecretsError, SecretsFile, load_secrets
from trakt_dagster.pit.validate import duplicate_dag_names, validate_project


def load_projects(root: Path) -> tuple[WorkspaceConfig, list[PitProject], FrontEndResult]:
    """The workspace config and every valid project under `root` (with all errors and warnings)."""
    result = FrontEndResult()
    workspace, problems = read_workspace(Path(root))
    result.errors.extend(problems.errors)
    result.warnings.extend(problems.warnings)
    projects: list[PitProject] = []
    for path in find_project_files(workspace.root):
        project, problems = read_project(path)
        result.warnings.extend(problems.warnings)
        if project is None or problems.errors:
            result.errors.extend(problems.errors)
            continue
        project, errors, warnings = validate_project(project, workspace)
        result.warnings.extend(warnings)
        if errors:
            result.errors.extend(errors)
            continue
        projects.append(project)
    duplicates = duplicate_dag_names(projects)
    result.errors.extend(duplicates)
    bad = {error.location.file for error in duplicates if error.location}
    projects = [p for p in projects if p.pit_toml not in bad]
    result.errors.extend(_check_secrets(workspace, projects))
    return workspace, projects, result


def _check_secrets(workspace: WorkspaceConfig, projects: list[PitProject]) -> list[LoadError]:
    """A secrets file that cannot be read, and webhook tokens that cannot be resolved, are load errors."""
    chosen = os.environ.get(SECRETS_ENV) or (str(workspace.secrets_path) if workspace.secrets_path else "")
    needs_token = [p for p in projects if p.webhook_token_secret]
    watches = [p for p in projects if p.ftp_watch is not None]
    if not chosen:
        return [
            LoadError(
                f'the webhook token secret "{p.webhook_token_secret}" cannot be resolved: there is no secrets file',
                SourceLocation(p.pit_toml, p.name_line, "dag.webhook.token_secret"),
                f"set secrets_dir in pit_config.toml (or ${SECRETS_ENV}) to a secrets TOML holding the token",
                TOOL,
            )
            for p in needs_token
        ] + [
            LoadError(
                "the FTP watch cannot log in: there is no secrets file",
                SourceLocation(p.pit_toml, p.name_line, "dag.ftp_watch"),
                f"set secrets_dir in pit_config.toml (or ${SECRETS_ENV}) to a secrets TOML holding the FTP login",
                TOOL,
            )
            for p in watches
        ]
    try:
        secrets = load_secrets(Path(chosen), age_identity=workspace.age_identity)
    except SecretsError as exc:
        where = SourceLocation(Path(exc.path or chosen), exc.line, exc.key)
        return [LoadError(str(exc), where, "fix the secrets file (values are strings or tables of strings)", TOOL)]
    except OSError as exc:
        return [
            LoadError(f"cannot read the secrets file: {exc.strerror or exc}", SourceLocation(Path(chosen)), None, TOOL)
        ]
    errors = []
    for project in needs_token:
        if not secrets.for_project(project.name).has(project.webhook_token_secret or ""):
            errors.append(
                LoadError(
                    f'the webhook token secret "{project.webhook_token_secret}" is not in [{project.name}] or [global]'
                    f" of {chosen}",
                    SourceLocation(project.pit_toml, project.name_line, "dag.webhook.token_secret"),
                    "add the token to the secrets file, or fix token_secret",
                    TOOL,
                )
            )
    for project in watches:
        problem = _ftp_secret_problem(project, secrets)
        if problem:
            errors.append(
                LoadError(
                    f"{problem} (in [{project.name}] or [global] of {chosen})",
                    SourceLocation(project.pit_toml, project.name_line, "dag.ftp_watch"),
                    "add the FTP login to the secrets file: [global.my_ftp] host, user and password",
                    TOOL,
                )
            )
    return errors


def _ftp_secret_problem(project: PitProject, secrets: SecretsFile) -> str | None:
    """What is missing for the FTP watch's login (structured `secret`, else the legacy `password_secret`)."""
    ftp = project.ftp_watch
    assert ftp is not None
    scoped = secrets.for_project(project.name)
    name = ftp.secret or ftp.password_secret
    if not scoped.has(name):
        return f'the FTP watch secret "{name}" is not defined'
    if not ftp.secret:
        return None
    try:
        fields = scoped.structured(name)
    except SecretsError:
        return f'the FTP watch secret "{name}" must be a table with host, user and password'
    missing = [key for key in ("host", "user", "password") if not fields.get(key)]
    return f'the FTP watch secret "{name}" has no {", ".join(missing)}' if missing else None


def load(root: Path, options: LoadOptions) -> FrontEndResult:
    """Load every pit project under `root`; errors of all of them are returned together."""
    from trakt_dagster.pit.translate import build_pit_graph

    workspace, projects, result = load_projects(root)
    for project in projects:
        try:
            result.graphs.append(build_pit_graph(project, workspace))
        except PipelineLoadErrors as exc:  # a part of the project (its dbt project) cannot be loaded
            result.errors.extend(exc.errors)
    return result
