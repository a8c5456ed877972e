"""Step module isolation between pipelines (N1/N2) and entry-point aliases and adapters (K3, K12)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import run_trakt, write_files
from trakt_dagster import build_definitions

TRANSFORM = """
    def run(ctx, input):
        out = input.copy()
        out["who"] = "{who}"
        return {{"output": out}}
"""
PIPELINE = """
    name: {name}
    inputs: {{src: records.csv}}
    steps:
      - {{id: t, uses: steps.transform, with: {{input: src, output: o}}}}
    outputs: {{final: o}}
"""


def make_pair(root: Path, namespace: bool = False) -> None:
    for who in ("alpha", "beta"):
        files = {
            f"pipelines/{who}/pipeline.yaml": PIPELINE.format(name=who),
            f"pipelines/{who}/records.csv": "id\n1\n",
        }
        if namespace:  # no __init__.py anywhere; a shared sub-module name
            files[f"pipelines/{who}/steps/common.py"] = f'WHO = "{who}"\n'
            files[f"pipelines/{who}/steps/transform.py"] = (
                "from steps.common import WHO\n\n"
                "def run(ctx, input):\n    out = input.copy()\n    out['who'] = WHO\n    return {'output': out}\n"
            )
        else:
            files[f"pipelines/{who}/steps/__init__.py"] = ""
            files[f"pipelines/{who}/steps/transform.py"] = TRANSFORM.format(who=who)
        write_files(root, files)


@pytest.mark.parametrize("namespace", [False, True], ids=["packages", "namespace-packages"])
def test_two_pipelines_with_steps_packages_run_their_own_code_row1(tmp_path: Path, instance, namespace) -> None:
    make_pair(tmp_path, namespace)
    path_before = list(sys.path)
    defs = build_definitions(tmp_path, runs_dir=str(tmp_path / "runs"))
    assert sys.path == path_before
    for who in ("alpha", "beta"):
        result = defs.resolve_job_def(who).execute_in_process(
            instance=instance, run_config={"ops": {f"{who}_pipeline": {"config": {"output_dir": str(tmp_path / who)}}}}
        )
        assert result.success
    assert (tmp_path / "alpha" / "final.csv").read_text() == "id,who\n1,alpha\n"
    assert (tmp_path / "beta" / "final.csv").read_text() == "id,who\n1,beta\n"
    assert sys.path == path_before
    assert "steps" not in sys.modules


def make_dist(site: Path, name: str, entry_points: str, modules: dict[str, str]) -> None:
    """A real installed distribution (dist-info with entry_points.txt) on a sys.path folder."""
    dist = site / f"{name}-0.1.dist-info"
    write_files(
        site,
        {
            f"{dist.name}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n",
            f"{dist.name}/entry_points.txt": entry_points,
            **modules,
        },
    )


def test_entry_point_alias_wins_over_local_module_row42_row57(tmp_path: Path, instance, monkeypatch) -> None:
    site = tmp_path / "site"
    make_dist(
        site,
        "shadow_steps",
        "[trakt.steps]\nsteps.shadow = shadow_steps_impl:run\n",
        {
            "shadow_steps_impl.py": "def run(ctx, input):\n    out = input.copy()\n    out['by'] = 'alias'\n    return {'output': out}\n"
        },
    )
    monkeypatch.syspath_prepend(str(site))
    write_files(
        tmp_path / "p",
        {
            "pipeline.yaml": """
                name: shadowed
                inputs: {src: records.csv}
                steps:
                  - {id: s, uses: steps.shadow, with: {input: src, output: o}}
                outputs: {final: o}
            """,
            "records.csv": "id\n1\n",
            "steps/__init__.py": "",
            "steps/shadow.py": "def run(ctx, input):\n    out = input.copy()\n    out['by'] = 'local'\n    return {'output': out}\n",
        },
    )
    run = run_trakt(tmp_path / "p" / "pipeline.yaml", instance)
    assert run.success
    assert run.output("final.csv") == "id,by\n1,alias\n"


def test_custom_adapter_gets_parent_dir_row41(tmp_path: Path, instance, monkeypatch) -> None:
    site = tmp_path / "site"
    make_dist(
        site,
        "fancy_adapter",
        "[trakt.artifact_adapters]\nfancy = fancy_adapter_impl:FancyAdapter\n",
        {
            "fancy_adapter_impl.py": """
                from trakt import ArtifactAdapter

                class FancyAdapter(ArtifactAdapter):
                    file_extension = ".fancy"

                    def read_many(self, paths, *, artifact, execution_mode="batch", chunk_size=None):
                        raise NotImplementedError

                    def write(self, data, uri, *, artifact_name=None, execution_mode="batch", artifact=None, **kw):
                        with open(uri, "w") as fh:
                            fh.write(f"{artifact_name}:{len(data)} rows\\n")
            """
        },
    )
    monkeypatch.syspath_prepend(str(site))
    write_files(
        tmp_path / "p",
        {
            "pipeline.yaml": """
                name: fancy
                inputs: {src: records.csv}
                outputs:
                  datasets:
                    - {name: final, from: src, kind: fancy, uri: special/final.fancy}
            """,
            "records.csv": "id\n1\n2\n",
        },
    )
    run = run_trakt(tmp_path / "p" / "pipeline.yaml", instance)
    assert run.success, run.failure_message()
    assert run.output("special/final.fancy") == "final:2 rows\n"
    assert run.manifest["outputs"]["final"]["kind"] == "fancy"


def test_pipeline_folders_behind_links_are_resolved_as_path_resolve_does(tmp_path: Path, instance) -> None:
    from trakt_dagster.trakt.frontend import _pipeline_folders

    make_pair(tmp_path / "real")
    root = tmp_path / "root"
    (root / "pipelines").mkdir(parents=True)
    (root / "pipelines" / "alpha").symlink_to(tmp_path / "real" / "pipelines" / "alpha")  # a linked folder
    (root / "pipelines" / "beta").mkdir()
    for name in ("pipeline.yaml", "records.csv", "steps"):
        (root / "pipelines" / "beta" / name).symlink_to(tmp_path / "real" / "pipelines" / "beta" / name)
    (tmp_path / "via").symlink_to(root)  # and the whole root reached through a link
    for where in (root, tmp_path / "via"):
        folders = _pipeline_folders(where)
        assert list(folders) == sorted(p for p in (where / "pipelines").glob("*/pipeline.yaml") if p.is_file())
        assert [p.name for p in folders] == ["pipeline.yaml", "pipeline.yaml"]
        assert list(folders.values()) == [p.parent.resolve() for p in folders]
    defs = build_definitions(tmp_path / "via", runs_dir=str(tmp_path / "runs"))
    for who in ("alpha", "beta"):
        result = defs.resolve_job_def(who).execute_in_process(
            instance=instance, run_config={"ops": {f"{who}_pipeline": {"config": {"output_dir": str(tmp_path / who)}}}}
        )
        assert result.success
        assert (tmp_path / who / "final.csv").read_text() == f"id,who\n1,{who}\n"
