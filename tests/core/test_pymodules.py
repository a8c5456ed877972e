"""Discovery of pipeline modules written in Python (shared by the code-defined front ends)."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import write_files
from trakt_dagster.core.pymodules import import_pipeline_modules, pipeline_python_files


def test_candidates_skip_yaml_pipelines_and_private_files(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "pipelines/top.py": "",
            "pipelines/flows/dag.py": "",
            "pipelines/flows/_helper.py": "",
            "pipelines/flows/test_dag.py": "",
            "pipelines/flows/sub/deep.py": "",
            "pipelines/yaml_one/pipeline.yaml": "",
            "pipelines/yaml_one/steps.py": "",
        },
    )
    names = [str(p.relative_to(tmp_path / "pipelines")) for p in pipeline_python_files(tmp_path)]
    assert names == ["flows/dag.py", "top.py"]


def test_modules_imported_once_isolated_and_errors_located(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "pipelines/a/dag.py": "import helper\nMARK = 'flowrun'\nWHO = helper.WHO\n",
            "pipelines/a/helper.py": "WHO = 'a'\n",
            "pipelines/b/dag.py": "import helper\nMARK = 'flowrun'\nWHO = helper.WHO\n",
            "pipelines/b/helper.py": "WHO = 'b'\n",
            "pipelines/c/dag.py": "MARK = 'flowrun'\n\n\nraise RuntimeError('broken on purpose')\n",
            "pipelines/d/dag.py": "UNRELATED = 1\n",
        },
    )
    path_before = list(sys.path)
    found = import_pipeline_modules(tmp_path, markers=("flowrun",))
    assert [f.path.parent.name for f in found] == ["a", "b", "c"]
    assert found[0].module.WHO == "a" and found[1].module.WHO == "b"
    assert found[2].module is None
    assert found[2].error.location.line == 4
    assert "Importing dag.py failed: RuntimeError: broken on purpose" in found[2].error.message
    again = import_pipeline_modules(tmp_path, markers=("flowrun",))
    assert again[0].module is found[0].module
    assert sys.path == path_before and "helper" not in sys.modules and "dag" not in sys.modules


def test_packages_are_imported_whole_and_siblings_run_once(tmp_path: Path) -> None:
    ran = tmp_path / "ran.txt"
    write_files(
        tmp_path,
        {
            "pipelines/shop/__init__.py": "",
            "pipelines/shop/runtime.py": f"open({str(ran)!r}, 'a').write('runtime ')\nMARK = 'flowrun'\n",
            "pipelines/shop/tasks/extract.py": "from ..runtime import MARK\n",  # a namespace sub-package
            "pipelines/shop/tasks/test_extract.py": "raise AssertionError('tests are not imported')\n",
            "pipelines/shop/__main__.py": "raise AssertionError('__main__ is not imported')\n",
            "pipelines/shop/_private.py": "",
            "pipelines/plain/dag.py": "import shared\nMARK = 'flowrun'\n",
            "pipelines/plain/shared.py": f"open({str(ran)!r}, 'a').write('shared ')\nMARK = 'flowrun'\n",
        },
    )
    names = [str(p.relative_to(tmp_path / "pipelines")) for p in pipeline_python_files(tmp_path)]
    assert names == ["plain/dag.py", "plain/shared.py", "shop/__init__.py", "shop/runtime.py", "shop/tasks/extract.py"]
    found = {
        str(f.path.relative_to(tmp_path / "pipelines")): f for f in import_pipeline_modules(tmp_path, ("flowrun",))
    }
    assert all(f.error is None for f in found.values()), [f.error.render() for f in found.values() if f.error]
    assert found["shop/tasks/extract.py"].module.__name__ == "shop.tasks.extract"
    assert found["shop/runtime.py"].module.__name__ == "shop.runtime"
    assert found["shop/__init__.py"].module.__name__ == "shop"
    # `shared` was imported by `dag`: it is the same module, executed once (a second copy would split state)
    assert found["plain/shared.py"].module is found["plain/dag.py"].module.shared
    assert ran.read_text() == "shared runtime "
    assert "shop" not in sys.modules and "shared" not in sys.modules
