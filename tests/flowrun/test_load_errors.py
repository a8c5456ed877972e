"""Discovery of flowrun DAGs and load errors (file, line, key, fix), both API generations (spec §6)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from tests.conftest import write_files
from tests.flowrun.conftest import run_dag
from trakt_dagster import PipelineLoadErrors, build_definitions, load_graphs
from trakt_dagster.cli import main as cli

BROKEN = {
    "pipelines/sync_timeout/dag.py": """
        from flowrun import build_default_engine

        engine = build_default_engine()


        @engine.task(timeout_s=5.0)
        def fetch_api():
            return 1
    """,
    "pipelines/duplicate/dag.py": """
        from flowrun import build_default_engine

        engine = build_default_engine()


        @engine.dag("a").task(name="extract")
        def extract_a():
            return 1


        @engine.dag("b").task(name="extract")
        def extract_b():
            return 2
    """,
    "pipelines/cross_dag/dag.py": """
        from flowrun import build_default_engine

        engine = build_default_engine()
        a = engine.dag("xa")
        b = engine.dag("xb")


        @a.task()
        def extract():
            return 1


        @b.task()
        def uses_extract(extract):
            return extract
    """,
    "pipelines/forward/dag.py": """
        from flowrun import build_default_engine

        engine = build_default_engine()


        @engine.task()
        def transform(extract):
            return extract


        @engine.task()
        def extract():
            return 1
    """,
    "pipelines/postponed/dag.py": """
        from __future__ import annotations

        from flowrun import RunContext, build_default_engine

        engine = build_default_engine()


        @engine.task()
        def needs_context(context: RunContext[dict]):
            return context.deps
    """,
    "pipelines/empty/dag.py": """
        from flowrun import build_default_engine

        engine = build_default_engine()
    """,
    "pipelines/cycle/dag.py": """
        from flowrun import build_default_engine

        engine = build_default_engine()
        loop = engine.dag("loop")


        @loop.task(deps=["b"])
        def a():
            return 1


        @loop.task(deps=["a"])
        def b():
            return 2
    """,
    "pipelines/readme_broken/dag.py": """
        from trakt_dagster.flowrun import Pipeline

        missing = Pipeline("missing_dep")


        @missing.task(deps=["nowhere"])
        def load():
            return 1


        empty = Pipeline("empty_pipeline")
    """,
}

GOOD = {
    "pipelines/legacy/dag.py": """
        from flowrun import build_default_engine

        engine = build_default_engine()
        other = build_default_engine()
        flowrun_dag_name = {"other": "renamed_legacy"}


        @engine.task()
        def fetch():
            return [1, 2]


        @engine.task()
        def count(fetch):
            return len(fetch)


        @other.task()
        def only():
            return "x"
    """,
    "pipelines/readme_style/dag.py": '''
        """README code unchanged: `from flowrun import Pipeline` on flowrun-dag 1.0.0."""
        from flowrun import Pipeline, RunContext

        first = Pipeline("first")
        second = Pipeline("second")


        @first.task()
        def extract():
            """Read the source rows.

            Second paragraph of the docstring."""
            return [10, 20]


        @first.task()
        def sum_values(extract):
            return sum(extract)


        @second.task()
        def extract():  # the same task name in another pipeline is fine
            return [1]


        overridden = Pipeline("overridden")


        @overridden.task()
        def source():
            raise RuntimeError("must not run: replaced by the override")


        @overridden.task()
        def doubled(source):
            return [v * 2 for v in source]


        overridden = overridden.override_tasks(source=[10, 20])
    ''',
    "pipelines/foreign/dag.py": """
        from flowrun import TaskRegistry, TaskSpec


        class ThirdPartyPipeline:
            '''Offers the README Pipeline API without being trakt-dagster's class.'''

            def __init__(self, name):
                self.name = name
                self._registry = TaskRegistry()

            def task(self, name=None, deps=None, timeout_s=None, retries=0):
                def register(func):
                    self._registry.register(TaskSpec(name or func.__name__, func, list(deps or []), dag=self.name))
                    return func
                return register

            @property
            def tasks(self):
                return tuple(self._registry)

            @property
            def dependencies(self):
                return {n: tuple(self._registry.get(n).deps) for n in self._registry}

            async def run_once(self, context=None):
                raise NotImplementedError


        flow = ThirdPartyPipeline("third_party")


        @flow.task()
        def alpha():
            return 1


        @flow.task(deps=["alpha"])
        def beta(upstream):
            return upstream["alpha"] + 1
    """,
}


@pytest.fixture(scope="module")
def broken_errors(tmp_path_factory) -> list:
    root = write_files(tmp_path_factory.mktemp("broken"), {**BROKEN, **GOOD})
    with pytest.raises(PipelineLoadErrors) as caught:
        build_definitions(root, strict_load=True)
    return list(caught.value.errors)


def test_broken_modules_are_isolated_by_default(tmp_path: Path) -> None:
    root = write_files(tmp_path, {**BROKEN, **GOOD})
    defs = build_definitions(root, runs_dir=str(root / "runs"))
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"first/extract", "first/sum_values", "second/extract"} <= keys  # the good DAGs load
    placeholders = {k for k in keys if k.endswith("/load-error")}
    # a module that fails to import is named by its folder; a broken DAG of a module that imports, by its name
    assert placeholders == {
        f"{name}/load-error"
        for name in ("sync_timeout", "duplicate", "xb", "forward", "postponed", "empty_engine", "loop")
        + ("missing_dep", "empty_pipeline")
    }
    cycle = graph.get(dg.AssetKey(["loop", "load-error"]))
    assert "Cyclic dependency detected at a" in cycle.description and cycle.group_name == "loop"
    assert cycle.metadata["trakt/error_count"] == 1
    assert "first" in {j.name for j in defs.resolve_all_job_defs()}


def _error(errors: list, folder: str):
    found = [e for e in errors if e.location is not None and e.location.file.parent.name == folder]
    assert len(found) == 1, [e.render() for e in errors]
    return found[0]


def test_every_broken_module_is_reported_once_and_good_ones_are_not(broken_errors) -> None:
    folders = sorted(e.location.file.parent.name for e in broken_errors)
    assert folders == sorted(
        ["sync_timeout", "duplicate", "cross_dag", "forward", "postponed", "empty", "cycle"] + ["readme_broken"] * 2
    )


def test_sync_task_with_timeout_row_2(broken_errors) -> None:
    error = _error(broken_errors, "sync_timeout")
    assert "Importing dag.py failed" in error.message
    assert "Task 'fetch_api' is synchronous and cannot use timeout_s" in error.message
    assert error.location.line == 6  # the decorator of fetch_api
    assert "async def" in error.hint and error.tool == "flowrun"


def test_duplicate_task_names_across_dags_of_one_engine_row_3(broken_errors) -> None:
    error = _error(broken_errors, "duplicate")
    assert "Duplicate task name: 'extract'" in error.message
    assert "unique per engine" in error.hint


def test_dependency_outside_its_dag_row_4(broken_errors) -> None:
    error = _error(broken_errors, "cross_dag")
    assert "Task uses_extract depends on extract which is outside DAG 'xb'" in error.message
    assert error.location.line == 13 and error.location.key == "dag 'xb'"  # uses_extract
    assert "same DAG" in error.hint


def test_forward_reference_cannot_be_inferred_row_6(broken_errors) -> None:
    error = _error(broken_errors, "forward")
    assert "Task 'transform' has required parameters that flowrun cannot provide: extract" in error.message
    assert "registered before this one" in error.hint


def test_postponed_annotations_break_1_0_engines_row_13(broken_errors) -> None:
    error = _error(broken_errors, "postponed")
    assert "cannot provide: context" in error.message
    assert "from __future__ import annotations" in error.hint and "trakt_dagster.flowrun.Pipeline" in error.hint


def test_engine_without_tasks_row_23(broken_errors) -> None:
    error = _error(broken_errors, "empty")
    assert error.message == "DAG 'empty_engine' has no registered tasks."
    assert error.location.line == 3 and error.location.key == "engine 'engine'"


def test_cycle_at_load_row_36(broken_errors) -> None:
    error = _error(broken_errors, "cycle")
    assert error.message == "Cyclic dependency detected at a"
    assert error.location.line == 7 and error.location.key == "dag 'loop'"
    assert "cycle" in error.hint


def test_readme_pipeline_errors(broken_errors) -> None:
    messages = {e.message for e in broken_errors if e.location.file.parent.name == "readme_broken"}
    assert "DAG 'empty_pipeline' has no registered tasks." in messages
    assert any(m.startswith("Task load depends on nowhere which is not registered") for m in messages)


@pytest.fixture(scope="module")
def good_root(tmp_path_factory) -> Path:
    return write_files(tmp_path_factory.mktemp("good"), GOOD)


def test_legacy_unscoped_engine_gets_a_deterministic_name_row_22(good_root, instance) -> None:
    graphs, errors = load_graphs(good_root)
    assert errors == []
    names = {g.name for g in graphs}
    assert {"legacy_engine", "renamed_legacy"} <= names  # list_dags() == [] does not hide them
    run = run_dag(good_root, "legacy_engine", instance)
    assert run.success and run.task("count")["result"] == 2


def test_readme_pipelines_load_with_flowrun_import_rows_1_3(good_root, instance) -> None:
    defs = build_definitions(good_root, runs_dir=str(good_root / "runs"))
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"first/extract", "first/sum_values", "second/extract"} <= keys  # same name, two keys (row 3)
    extract = graph.get(dg.AssetKey(["first", "extract"]))
    assert extract.description == "Read the source rows.\n\nSecond paragraph of the docstring."
    assert "flowrun" in extract.kinds
    run = run_dag(good_root, "first", instance)
    assert run.success and run.task("sum_values")["result"] == 30


def test_override_snapshot_runs_with_the_constant_row_33(good_root, instance) -> None:
    run = run_dag(good_root, "overridden", instance)
    assert run.success
    assert run.task("source")["result"] == [10, 20]
    assert run.task("doubled")["result"] == [20, 40]


def test_foreign_pipeline_detected_by_feature(good_root, instance) -> None:
    run = run_dag(good_root, "third_party", instance)
    assert run.success and run.task("beta")["result"] == 2
    assert run.materialized() == ["third_party/alpha", "third_party/beta"]


def test_cli_validate_names_the_closest_dag_row_35(good_root) -> None:
    runner = CliRunner()
    done = runner.invoke(cli, ["flowrun", "validate", "frist", "--root", str(good_root)])
    assert done.exit_code == 1
    assert "DAG 'frist' is not registered. Did you mean 'first'? Available DAGs:" in done.output
    assert "first, legacy_engine, overridden, renamed_legacy, second, third_party." in done.output
    ok = runner.invoke(cli, ["flowrun", "validate", "first", "--root", str(good_root)])
    assert ok.exit_code == 0 and "1 flowrun DAG(s) valid: first" in ok.output


def test_cli_run_of_a_dag_in_a_module_that_did_not_load_shows_why(tmp_path: Path) -> None:
    source = 'from flowrun import build_default_engine\n\ndag = build_default_engine().dag("lost")\n@dag.task(\n'
    root = write_files(tmp_path, {"pipelines/lost/dag.py": source})
    done = CliRunner().invoke(cli, ["flowrun", "run", "lost", "--root", str(root)])
    assert done.exit_code == 1
    assert f"{root / 'pipelines' / 'lost' / 'dag.py'}:4: Importing dag.py failed: SyntaxError" in done.output
    assert "DAG 'lost' is not registered." in done.output
    assert "It may be defined in a module that did not load (see above); nothing was run." in done.output
