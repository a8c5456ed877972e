"""Find pit projects (`projects/<name>/pit.toml`, one level deep) and turn them into task graphs.

The workspace's `pit_config.toml` (optional) sets the secrets file, retention and the repo cache. Every
error of every project is reported together; warnings (unknown keys, ignored settings) are returned
beside them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from trakt_dagster.core.discovery import FrontEndResult, LoadOptions
from trakt_dagster.core.errors import LoadError, PipelineLoadErrors, SourceLocation, unexpected_error

if TYPE_CHECKING:
    from trakt_dagster.pit.model import PitProject, WorkspaceConfig
    from trakt_dagster.pit.secrets import SecretsFile

TOOL = "pit"
# pit's reader, validator and secrets are imported by the functions that use them: a root without a pit
# workspace (no `projects/`, no `pit_config.toml`) never imports them.


def load_projects(
    root: Path, wants: Callable[[str], bool] | None = None
) -> tuple[WorkspaceConfig, list[PitProject], FrontEndResult]:
    """The workspace config and every valid project under `root` (with all errors and warnings); with
    `wants` (`LoadOptions.wants`: a run of one pipeline), a project whose DAG name it does not want is read for
    its name only and left out unvalidated (it cannot clash with a wanted one).

    Each error names the project it belongs to (`LoadError.pipeline`: the DAG name, or the folder when the
    file cannot be read). Problems of the workspace's own files (`pit_config.toml`, the secrets file)
    concern every project, so they are reported for each of them and no project loads with them; two
    projects with the same DAG name are both reported and neither loads.
    """
    from trakt_dagster.pit.loader import find_project_files, project_file_resolver, read_project, read_workspace
    from trakt_dagster.pit.validate import duplicate_dag_names, validate_project

    result = FrontEndResult()
    workspace, problems = read_workspace(Path(root))
    shared = list(problems.errors)
    result.warnings.extend(problems.warnings)
    projects: list[PitProject] = []
    resolve = project_file_resolver(workspace.root)
    for path in find_project_files(workspace.root):
        try:
            project, problems = read_project(path, resolved=resolve(path))
            if project is not None and wants is not None and not wants(project.name):
                continue
            result.warnings.extend(problems.warnings)
            if project is None:
                result.errors.extend(e.for_pipeline(path.parent.name) for e in problems.errors)
                continue
            project, errors, warnings = validate_project(project, workspace)
        except Exception as exc:  # noqa: BLE001 - one project's surprise must not stop the others
            result.errors.append(unexpected_error(path, exc, TOOL, pipeline=path.parent.name))
            continue
        # Everything in one pass: the type errors, then pit's rules on the rest (a key whose value had the
        # wrong type is not reported a second time as missing).
        mistyped = {e.location.key for e in problems.errors if e.location is not None}
        errors = [*problems.errors, *(e for e in errors if e.location is None or e.location.key not in mistyped)]
        result.warnings.extend(warnings)
        if errors:
            result.errors.extend(e.for_pipeline(project.name) for e in errors)
            continue
        projects.append(project)
    duplicates = duplicate_dag_names(projects)
    result.errors.extend(duplicates)
    bad = {error.location.file for error in duplicates if error.location}
    projects = [p for p in projects if p.pit_toml not in bad]
    secrets_errors, project_errors = _check_secrets(workspace, projects)
    shared.extend(secrets_errors)
    if shared and projects:
        for project in projects:
            result.errors.extend(e.for_pipeline(project.name) for e in shared)
        projects = []
    else:
        result.errors.extend(shared)
    result.errors.extend(project_errors)
    broken = {e.pipeline for e in project_errors}
    projects = [p for p in projects if p.name not in broken]
    return workspace, projects, result


def _check_secrets(workspace: WorkspaceConfig, projects: list[PitProject]) -> tuple[list[LoadError], list[LoadError]]:
    """(problems of the secrets file itself, per-project problems: webhook tokens and FTP logins that cannot
    be resolved)."""
    from trakt_dagster.pit.runtime import SECRETS_ENV
    from trakt_dagster.pit.secrets import SecretsError, load_secrets

    chosen = os.environ.get(SECRETS_ENV) or (str(workspace.secrets_path) if workspace.secrets_path else "")
    needs_token = [p for p in projects if p.webhook_token_secret]
    watches = [p for p in projects if p.ftp_watch is not None]
    if not chosen:
        return [], [
            LoadError(
                f'the webhook token secret "{p.webhook_token_secret}" cannot be resolved: there is no secrets file',
                SourceLocation(p.pit_toml, p.line_of("dag.webhook.token_secret"), "dag.webhook.token_secret"),
                f"set secrets_dir in pit_config.toml (or ${SECRETS_ENV}) to a secrets TOML holding the token",
                TOOL,
                pipeline=p.name,
            )
            for p in needs_token
        ] + [
            LoadError(
                "the FTP watch cannot log in: there is no secrets file",
                SourceLocation(p.pit_toml, p.line_of("dag.ftp_watch"), "dag.ftp_watch"),
                f"set secrets_dir in pit_config.toml (or ${SECRETS_ENV}) to a secrets TOML holding the FTP login",
                TOOL,
                pipeline=p.name,
            )
            for p in watches
        ]
    try:
        secrets = load_secrets(Path(chosen), age_identity=workspace.age_identity)
    except SecretsError as exc:
        where = SourceLocation(Path(exc.path or chosen), exc.line, exc.key)
        return [LoadError(str(exc), where, "fix the secrets file (values are strings or tables of strings)", TOOL)], []
    except OSError as exc:
        error = LoadError(
            f"cannot read the secrets file: {exc.strerror or exc}", SourceLocation(Path(chosen)), None, TOOL
        )
        return [error], []
    errors = []
    for project in needs_token:
        if not secrets.for_project(project.name).has(project.webhook_token_secret or ""):
            errors.append(
                LoadError(
                    f'the webhook token secret "{project.webhook_token_secret}" is not in [{project.name}] or [global]'
                    f" of {chosen}",
                    SourceLocation(
                        project.pit_toml, project.line_of("dag.webhook.token_secret"), "dag.webhook.token_secret"
                    ),
                    "add the token to the secrets file, or fix token_secret",
                    TOOL,
                    pipeline=project.name,
                )
            )
    for project in watches:
        problem = _ftp_secret_problem(project, secrets)
        if problem:
            errors.append(
                LoadError(
                    f"{problem} (in [{project.name}] or [global] of {chosen})",
                    SourceLocation(project.pit_toml, project.line_of("dag.ftp_watch"), "dag.ftp_watch"),
                    "add the FTP login to the secrets file: [global.my_ftp] host, user and password",
                    TOOL,
                    pipeline=project.name,
                )
            )
    return [], errors


def _ftp_secret_problem(project: PitProject, secrets: SecretsFile) -> str | None:
    """What is missing for the FTP watch's login (structured `secret`, else the legacy `password_secret`)."""
    from trakt_dagster.pit.secrets import SecretsError

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
    if not (Path(root) / "projects").is_dir() and not (Path(root) / "pit_config.toml").exists():
        return FrontEndResult()  # no pit workspace here
    from trakt_dagster.pit.translate import build_pit_graph

    workspace, projects, result = load_projects(root, options.wants if options.only is not None else None)
    for project in projects:
        try:
            result.graphs.append(build_pit_graph(project, workspace))
        except PipelineLoadErrors as exc:  # a part of the project (its dbt project) cannot be loaded
            result.errors.extend(e if e.pipeline else e.for_pipeline(project.name) for e in exc.errors)
        except Exception as exc:  # noqa: BLE001 - one project's surprise must not stop the others
            result.errors.append(unexpected_error(project.pit_toml, exc, TOOL, pipeline=project.name))
    return result
