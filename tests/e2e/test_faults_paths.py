"""Names and paths that would leave their folder are refused when pipelines load (pit and trakt)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import write_files
from tests.pit.conftest import load_errors, run_pit, workspace
from trakt_dagster.core.definitions import load_graphs
from trakt_dagster.core.paths import path_inside
from trakt_dagster.pit.model import PitProject, WorkspaceConfig
from trakt_dagster.pit.runtime import sync_git_source


def git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.email=a@b", "-c", "user.name=a", *args], cwd=cwd, check=True, capture_output=True
    )


@pytest.mark.parametrize("name", ["..", ".", "../elsewhere", "a/b", "a\\\\b"])
def test_a_git_backed_dag_named_like_a_path_is_refused_and_the_workspace_is_untouched(
    tmp_path: Path, name: str
) -> None:
    source = tmp_path / "source"
    write_files(source, {"t.sh": "echo from git\n"})
    git("init", "-q", "-b", "main", cwd=source)
    git("add", ".", cwd=source)
    git("commit", "-qm", "v1", cwd=source)
    root = workspace(
        tmp_path / "ws",
        {
            "projects/g/pit.toml": (
                f'[dag]\nname = "{name}"\ngit_url = "{source.as_uri()}"\ngit_ref = "main"\n'
                '[[tasks]]\nname = "t"\nscript = "t.sh"\n'
            ),
            "work.txt": "committed\n",
        },
    )
    # the workspace is a git repository with uncommitted work: `git reset --hard` there would destroy it
    git("init", "-q", "-b", "main", cwd=root)
    git("add", ".", cwd=root)
    git("commit", "-qm", "ws", cwd=root)
    (root / "work.txt").write_text("uncommitted edit\n")
    errors = load_errors(root)
    shown = name.replace("\\\\", "\\")
    assert f'invalid DAG name "{shown}"' in errors and "dag.name" in errors, errors
    project = PitProject(
        shown, root / "projects/g", root / "projects/g/pit.toml", git_url=source.as_uri(), git_ref="main"
    )
    with pytest.raises(ValueError, match="would leave"):  # and the run-time guard, should a name get through
        sync_git_source(project, WorkspaceConfig(root).repo_cache, lambda level, text: None)
    assert (root / "work.txt").read_text() == "uncommitted edit\n"


def test_load_and_save_paths_leaving_the_data_folder_are_load_errors(tmp_path: Path) -> None:
    root = workspace(
        tmp_path,
        {
            "projects/p/pit.toml": """
                [[tasks]]
                name = "ld"
                type = "load"
                source = "../../../etc/orders.parquet"
                table = "orders"
                connection = "db"
                [[tasks]]
                name = "sv"
                type = "save"
                script = "q.sql"
                output = "/tmp/stolen.parquet"
                connection = "db"
                [[tasks]]
                name = "fine"
                type = "save"
                script = "q.sql"
                output = "sub/../ok.parquet"
                connection = "db"
            """,
            "projects/p/q.sql": "select 1\n",
        },
    )
    errors = load_errors(root)
    assert 'task "ld": source "../../../etc/orders.parquet" is outside the run\'s data folder' in errors
    assert "tasks[0].source" in errors
    assert 'task "sv": output "/tmp/stolen.parquet" is outside the run\'s data folder' in errors
    assert '"fine"' not in errors


def test_a_symlinked_script_is_refused_at_load_and_a_real_file_runs(tmp_path: Path, instance) -> None:
    root = workspace(
        tmp_path,
        {
            "projects/p/pit.toml": '[[tasks]]\nname = "t"\nscript = "tasks/run.sh"\n',
            "shared/run.sh": "echo shared\n",
        },
    )
    (root / "projects/p/tasks").mkdir()
    os.symlink(root / "shared/run.sh", root / "projects/p/tasks/run.sh")
    errors = load_errors(root)
    assert 'task "t": script "tasks/run.sh" is reached through the symbolic link "tasks/run.sh"' in errors
    # a linked folder is refused the same way
    (root / "projects/p/tasks/run.sh").unlink()
    (root / "projects/p/tasks").rmdir()
    os.symlink(root / "shared", root / "projects/p/tasks")
    assert 'through the symbolic link "tasks"' in load_errors(root)
    # the file itself works at run time (the snapshot holds it)
    (root / "projects/p/tasks").unlink()
    write_files(root, {"projects/p/tasks/run.sh": "echo real\n"})
    assert load_errors(root) == ""
    run = run_pit(root, "p", instance)
    assert run.success and "real" in run.log("t")


@pytest.mark.parametrize("name", ["..", "a/b", "."])
def test_trakt_pipeline_names_that_are_not_folder_names_are_load_errors(tmp_path: Path, name: str) -> None:
    write_files(
        tmp_path,
        {
            "pipelines/p/pipeline.yaml": f'name: "{name}"\ninputs: {{src: a.csv}}\noutputs: {{out: src}}\n',
            "pipelines/p/a.csv": "id\n1\n",
        },
    )
    graphs, errors = load_graphs(tmp_path)
    assert graphs == []
    text = "\n".join(e.render() for e in errors)
    assert f"Pipeline name '{name}' cannot be a folder name" in text and "pipelines/p/pipeline.yaml" in text


def test_trakt_dataset_and_dsl_names_that_leave_their_folder_are_load_errors(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "pipelines/p/pipeline.yaml": """
                name: p
                inputs: {src: a.csv}
                outputs:
                  datasets:
                    - {name: ../../escaped, from: src}
                    - {name: explicit_target, from: src, uri: /tmp/explicit.csv}
            """,
            "pipelines/p/a.csv": "id\n1\n",
            "pipelines/d/flow.py": """
                from trakt import artifact, workflow

                bad = workflow("../d").source(artifact("a").at("a.csv")).output("o", from_="a")
            """,
        },
    )
    graphs, errors = load_graphs(tmp_path)
    text = "\n".join(e.render() for e in errors)
    assert "Output dataset '../../escaped' would be written outside the output folder." in text
    assert "explicit_target" not in text  # an explicit uri is the user's choice, as in trakt
    assert "Pipeline name '../d' cannot be a folder name" in text and "flow.py" in text
    assert graphs == []


def test_path_inside_refuses_names_that_leave_the_root(tmp_path: Path) -> None:
    assert path_inside(tmp_path, "sales") == tmp_path / "sales"
    for bad in ("..", ".", "../x", "/etc", "a/b", ""):
        with pytest.raises(ValueError):
            path_inside(tmp_path, bad)
