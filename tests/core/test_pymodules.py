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


def _listed_as_before(root: Path) -> list[tuple[Path, Path, Path | None]]:
    """The candidate files, their resolved paths and packages as found with pathlib calls only (what the
    single-listing scan must agree with)."""
    from trakt_dagster.core.pymodules import _scanned_package, is_notebook_project, package_python_files

    folder = root / "pipelines"
    skip = ("__init__.py", "conftest.py")
    found = [p for p in folder.glob("*.py") if p.name not in skip and not p.name.startswith(("_", "test_"))]
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if (sub / "pipeline.yaml").exists() or is_notebook_project(sub) or sub.name.startswith((".", "_")):
            continue
        if (sub / "__init__.py").is_file():
            found.extend(package_python_files(sub))
            continue
        found.extend(p for p in sub.glob("*.py") if p.name not in skip and not p.name.startswith(("_", "test_")))
    return [(p, p.resolve(), _scanned_package(p, folder)) for p in sorted(p for p in found if p.is_file())]


def test_single_listing_scan_agrees_with_path_checks(tmp_path: Path) -> None:
    """The scan lists each folder once and derives resolved paths and packages from the listing; files and
    folders behind symbolic links, packages, YAML pipelines, notebook projects and odd names agree with the
    pathlib checks."""
    from trakt_dagster.core import pymodules

    elsewhere = tmp_path / "elsewhere"
    write_files(
        tmp_path,
        {
            "pipelines/top.py": "",
            "pipelines/.hidden.py": "",
            "pipelines/_private.py": "",
            "pipelines/test_top.py": "",
            "pipelines/plain/dag.py": "",
            "pipelines/plain/other.py": "",
            "pipelines/plain/conftest.py": "",
            "pipelines/plain/dir.py/inner.py": "",
            "pipelines/shop/__init__.py": "",
            "pipelines/shop/runtime.py": "",
            "pipelines/shop/tasks/extract.py": "",
            "pipelines/yaml_one/pipeline.yaml": "",
            "pipelines/yaml_one/steps.py": "",
            "pipelines/nb/flows/flow.py": "",
            "pipelines/nb/config/base.json": "{}",
            "pipelines/nb/conductor.py": "",
            "pipelines/_skipped/dag.py": "",
            "elsewhere/linked_folder/dag.py": "",
            "elsewhere/linked_file.py": "",
            "elsewhere/linked_pkg/__init__.py": "",
            "elsewhere/linked_pkg/mod.py": "",
        },
    )
    (tmp_path / "pipelines" / "linked").symlink_to(elsewhere / "linked_folder")
    (tmp_path / "pipelines" / "plain" / "via_link.py").symlink_to(elsewhere / "linked_file.py")
    (tmp_path / "pipelines" / "pkg_link").symlink_to(elsewhere / "linked_pkg")
    (tmp_path / "pipelines" / "plain" / "broken.py").symlink_to(elsewhere / "missing.py")
    (tmp_path / "pipelines" / "broken_yaml").mkdir()
    (tmp_path / "pipelines" / "broken_yaml" / "pipeline.yaml").symlink_to(elsewhere / "missing.yaml")
    (tmp_path / "pipelines" / "broken_yaml" / "dag.py").write_text("")
    expected = _listed_as_before(tmp_path)
    assert [p for p, _, _ in expected] == pipeline_python_files(tmp_path)
    (tmp_path / "pipelines" / "plain" / "flowrun_settings.py").write_text("")
    (tmp_path / "pipelines" / "plain" / "settings_dir.py").mkdir()
    expected = _listed_as_before(tmp_path)
    with pymodules.shared_scan():
        scan = pymodules._scan(tmp_path)
        got = [(p, pymodules._real(p), scan.package_of[p]) for p in scan.texts]
        for _, real, _ in expected:  # file checks answered from the listing agree with the file system
            for name in ("flowrun_settings.py", "settings_dir.py", "missing.py", "broken.py", real.name):
                assert pymodules.is_file(real.parent / name) == (real.parent / name).is_file(), (real, name)
    assert got == expected
    assert {p.name for p, _, _ in expected} >= {"via_link.py", "dag.py", "mod.py", "top.py", ".hidden.py"}


def test_source_read_agrees_with_python_for_every_encoding(tmp_path: Path) -> None:
    """The UTF-8 fast path gives the text (or the error) Python's own encoding detection gives."""
    import io
    import tokenize

    from trakt_dagster.core.pymodules import read_python_source

    cases = {
        "utf8": "name = 'café'\n".encode(),
        "bom": b"\xef\xbb\xbfname = 'caf\xc3\xa9'\n",
        "cookie1": "# -*- coding: latin-1 -*-\nname = 'café'\n".encode("latin-1"),
        "cookie2": "#!/usr/bin/env python\n# coding=latin-1\nname = 'café'\n".encode("latin-1"),
        "cookie_after_code": "x = 1\n# coding: latin-1\nname = 'café'\n".encode(),
        "latin1_no_cookie": "name = 'café'\n".encode("latin-1"),
        "latin1_later_line": "x = 1\ny = 2\nname = 'café'\n".encode("latin-1"),
        "bad_cookie": b"# coding: no-such-codec\nx = 1\n",
        "empty": b"",
        "no_newline": b"x = 1",
    }
    for name, raw in cases.items():
        path = tmp_path / f"{name}.py"
        path.write_bytes(raw)
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
            expected: object = raw.decode(encoding)
        except (SyntaxError, UnicodeDecodeError) as exc:
            expected = (type(exc), str(exc))
        try:
            got: object = read_python_source(path)
        except (SyntaxError, UnicodeDecodeError) as exc:
            got = (type(exc), str(exc))
        assert got == expected, name


def test_event_loop_calls_in_imported_siblings_are_refused(tmp_path: Path) -> None:
    """A sibling module or package a pipeline module imports is checked for a module-level event-loop run too
    (the folder listing of the scan is reused for that check)."""
    loop = "import asyncio\n\n\nasync def main():\n    pass\n\n\nasyncio.run(main())\n"
    write_files(
        tmp_path,
        {
            "pipelines/mod_sibling/dag.py": "import etl\nMARK = 'flowrun'\n",
            "pipelines/mod_sibling/etl.py": loop,
            "pipelines/pkg_sibling/dag.py": "from helpers import x\nMARK = 'flowrun'\n",
            "pipelines/pkg_sibling/helpers/__init__.py": "x = 1\n" + loop,
            "pipelines/plain_folder/dag.py": "DATA = 'data'\nMARK = 'flowrun'\n",
            "pipelines/plain_folder/data/readme.txt": "not a package\n",
        },
    )
    found = {f.path.parent.name: f for f in import_pipeline_modules(tmp_path, markers=("flowrun",))}
    for name, file, line in (("mod_sibling", "etl.py", 8), ("pkg_sibling", "__init__.py", 9)):
        error = found[name].error
        assert found[name].module is None and error is not None, name
        assert error.location.file.name == file and error.location.line == line, name
        assert f"{file} calls `asyncio.run(main())` at module level" in error.message
    assert found["plain_folder"].module.DATA == "data"
