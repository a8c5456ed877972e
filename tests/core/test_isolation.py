"""A broken pipeline never takes the code location down: placeholders, strict mode, name collisions."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from tests.conftest import write_files
from trakt_dagster import DagsterTaskGraphTranslator, LoadError, PipelineLoadErrors, build_definitions
from trakt_dagster.cli import main as cli
from trakt_dagster.core.definitions import STRICT_LOAD_ENV, load_graphs
from trakt_dagster.core.discovery import FRONT_ENDS, discover
from trakt_dagster.core.errors import SourceLocation
from trakt_dagster.core.metadata import LoadErrorMetadataSet, TaskMetadataSet

GOOD_TRAKT = {
    "pipelines/good/pipeline.yaml": "inputs: {src: a.csv}\noutputs: {final: src}\n",
    "pipelines/good/a.csv": "id\n1\n",
}
GOOD_PIT = {
    "projects/ok/pit.toml": '[dag]\nname = "ok"\n[[tasks]]\nname = "hello"\nscript = "hello.sh"\n',
    "projects/ok/hello.sh": "echo hello\n",
}
GOOD_FLOWRUN = {
    "pipelines/flows/dag.py": """
        from flowrun import build_default_engine

        engine = build_default_engine()
        daily = engine.dag("daily")


        @daily.task()
        def extract():
            return 1
    """,
}
GOOD = {**GOOD_TRAKT, **GOOD_PIT, **GOOD_FLOWRUN}


def keys_of(defs: dg.Definitions) -> set[str]:
    return {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}


def jobs_of(defs: dg.Definitions) -> set[str]:
    return {j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")}


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def broken_root(tmp_path_factory) -> Path:
    """Good pipelines of every tool beside broken ones of every tool."""
    return write_files(
        tmp_path_factory.mktemp("broken"),
        {
            **GOOD,
            "pipelines/bad_yaml/pipeline.yaml": "inputs:\n  src: [a.csv\n",
            "pipelines/renamed/pipeline.yaml": "name: sales\ninputs: {src: a.csv}\nsteps: 3\n",
            "projects/bad_toml/pit.toml": "[dag\nname = 'x'\n",
            "pipelines/bad_module/dag.py": "import flowrun\nraise RuntimeError('boom at import')\n",
        },
    )


def test_good_pipelines_of_every_tool_load_beside_broken_ones(broken_root: Path) -> None:
    defs = build_definitions(broken_root, runs_dir=str(broken_root / "runs"))
    assert {"good", "ok", "daily"} <= jobs_of(defs)
    assert {"good/final", "ok/hello", "daily/extract"} <= keys_of(defs)
    placeholders = {k for k in keys_of(defs) if k.endswith("/load-error")}
    # named by the pipeline's own name when the file says it (sales), else by its folder
    assert placeholders == {"bad_yaml/load-error", "sales/load-error", "bad_toml/load-error", "bad_module/load-error"}
    assert defs.resolve_job_def("good").execute_in_process(raise_on_error=False).success


def test_placeholder_carries_every_error_with_file_line_key_and_fix(broken_root: Path) -> None:
    defs = build_definitions(broken_root, runs_dir=str(broken_root / "runs"))
    node = defs.resolve_asset_graph().get(dg.AssetKey(["sales", "load-error"]))
    assert node.group_name == "sales" and not node.is_materializable
    assert "Pipeline `sales` did not load" in node.description
    assert "renamed/pipeline.yaml:3 (key steps): Pipeline 'steps' must be a list." in node.description
    assert "fix: write each step as '- id: ...'" in node.description
    assert node.metadata["trakt/error_count"] == 1
    assert "renamed/pipeline.yaml" in node.metadata["trakt/files"].value
    assert "Pipeline 'steps' must be a list." in node.metadata["trakt/load_errors"].value
    # the placeholder's keys are the fields of its set (with the shared `trakt/pipeline`), read back typed
    errors = LoadErrorMetadataSet.extract(node.metadata)
    assert errors.error_count == 1 and "renamed/pipeline.yaml:3" in errors.first_error.value
    assert set(node.metadata) == {*errors.keys(), *TaskMetadataSet.extract(node.metadata).keys()}
    assert node.tags["trakt/load_error"] == "true" and "trakt" in node.kinds
    module = defs.resolve_asset_graph().get(dg.AssetKey(["bad_module", "load-error"]))
    assert "RuntimeError: boom at import" in module.description and "dag.py:2" in module.description


def test_load_errors_are_logged(broken_root: Path, caplog) -> None:
    with caplog.at_level("ERROR", logger="trakt_dagster.load"):
        build_definitions(broken_root, runs_dir=str(broken_root / "runs"))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "pipeline 'bad_toml' did not load (1 error)" in logged and "Invalid TOML" in logged
    assert "pipeline 'sales' did not load" in logged


def test_strict_load_raises_with_every_error(broken_root: Path, monkeypatch) -> None:
    with pytest.raises(PipelineLoadErrors) as caught:
        build_definitions(broken_root, strict_load=True)
    assert {e.pipeline for e in caught.value.errors} == {"bad_yaml", "sales", "bad_toml", "bad_module"}
    monkeypatch.setenv(STRICT_LOAD_ENV, "1")
    with pytest.raises(PipelineLoadErrors):
        build_definitions(broken_root)
    assert jobs_of(build_definitions(broken_root, strict_load=False)) >= {"good"}  # the argument wins


def test_validate_still_exits_1_and_run_of_a_broken_pipeline_says_why(broken_root: Path) -> None:
    done = invoke("validate", str(broken_root))
    assert done.exit_code == 1 and "4 pipeline load errors:" in done.stderr
    ran = invoke("run", "sales", "--root", str(broken_root))
    assert ran.exit_code == 1
    assert "Pipeline 'steps' must be a list." in ran.stderr and "pipeline 'sales' did not load" in ran.stderr


# -- name collisions: both reported, neither wins, in every command -----------------------------------
CLASH = {
    **GOOD_TRAKT,
    "pipelines/orders/pipeline.yaml": "inputs: {src: a.csv}\noutputs: {final: src}\n",
    "pipelines/orders/a.csv": "id\n1\n",
    "projects/orders/pit.toml": '[dag]\nname = "orders"\n[[tasks]]\nname = "t"\nscript = "t.sh"\n',
    "projects/orders/t.sh": "echo t\n",
    "pipelines/one/dag.py": """
        from trakt_dagster.flowrun import Pipeline

        twice = Pipeline("twice")


        @twice.task()
        def a():
            return 1
    """,
    "pipelines/two/dag.py": """
        from trakt_dagster.flowrun import Pipeline

        twice = Pipeline("twice")


        @twice.task()
        def b():
            return 2
    """,
}


@pytest.fixture(scope="module")
def clash_root(tmp_path_factory) -> Path:
    return write_files(tmp_path_factory.mktemp("clash"), CLASH)


def test_name_collisions_are_reported_on_both_files_and_neither_loads(clash_root: Path) -> None:
    graphs, errors = load_graphs(clash_root)
    assert sorted(g.name for g in graphs) == ["good"]
    orders = [e for e in errors if e.pipeline == "orders"]
    assert sorted(str(e.location.file.relative_to(clash_root)) for e in orders) == [
        "pipelines/orders/pipeline.yaml",
        "projects/orders/pit.toml",
    ]
    assert all("neither is loaded" in e.message for e in orders)
    twice = [e for e in errors if e.pipeline == "twice"]
    assert sorted(e.location.file.parent.name for e in twice) == ["one", "two"]
    defs = build_definitions(clash_root, runs_dir=str(clash_root / "runs"))
    assert jobs_of(defs) == {"good"}
    node = defs.resolve_asset_graph().get(dg.AssetKey(["orders", "load-error"]))
    assert node.metadata["trakt/error_count"] == 2


def test_every_command_refuses_a_colliding_name(clash_root: Path) -> None:
    for args in (
        ("run", "orders", "--root", str(clash_root)),
        ("pit", "run", "orders", "--root", str(clash_root)),
        ("flowrun", "run", "twice", "--root", str(clash_root)),
        ("flowrun", "validate", "twice", "--root", str(clash_root)),
    ):
        done = invoke(*args)
        assert done.exit_code == 1, args
        assert "neither" in done.stderr and "did not load" in done.stderr, (args, done.stderr)
    listed = invoke("flowrun", "list", str(clash_root))
    assert listed.exit_code == 1 and "twice" not in listed.stdout and "is also defined in" in listed.stderr
    validated = invoke("validate", str(clash_root))
    assert validated.exit_code == 1 and validated.stderr.count("neither is loaded") == 4
    pit = invoke("pit", "run", "orders", "--root", str(clash_root))
    assert "pipelines/orders/pipeline.yaml" in pit.stderr  # names the other file


# -- what only Dagster notices: bad schedules, clashing definitions, odd translators -------------------
def test_a_pipeline_dagster_rejects_is_isolated(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            **GOOD_TRAKT,
            "pipelines/bad_cron/pipeline.yaml": "inputs: {src: a.csv}\noutputs: {final: src}\n"
            "dagster: {schedule: '0 6 * * * *'}\n",
            "pipelines/bad_cron/a.csv": "id\n1\n",
            "pipelines/bad_zone/pipeline.yaml": "inputs: {src: a.csv}\noutputs: {final: src}\n"
            "dagster: {schedule: {cron: '0 6 * * *', timezone: Mars/Olympus}}\n",
            "pipelines/bad_zone/a.csv": "id\n1\n",
        },
    )
    defs = build_definitions(tmp_path, runs_dir=str(tmp_path / "runs"))
    assert jobs_of(defs) == {"good"}
    graph = defs.resolve_asset_graph()
    assert "invalid cron schedule" in graph.get(dg.AssetKey(["bad_cron", "load-error"])).description
    assert "Mars/Olympus" in graph.get(dg.AssetKey(["bad_zone", "load-error"])).description


class SharedKeys(DagsterTaskGraphTranslator):
    """Puts every pipeline's assets under one prefix, so two pipelines with the same task names clash."""

    def get_asset_key(self, data):  # noqa: ANN001, ANN201
        return dg.AssetKey(["shared", data.task.key_name.replace(":", "_")])


def test_pipelines_whose_definitions_clash_are_both_left_out(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            **GOOD_PIT,
            "projects/twin/pit.toml": '[dag]\nname = "twin"\n[[tasks]]\nname = "hello"\nscript = "hello.sh"\n',
            "projects/twin/hello.sh": "echo hello\n",
            "projects/other/pit.toml": '[dag]\nname = "other"\n[[tasks]]\nname = "solo"\nscript = "s.sh"\n',
            "projects/other/s.sh": "echo solo\n",
        },
    )
    defs = build_definitions(tmp_path, runs_dir=str(tmp_path / "runs"), translator=SharedKeys())
    assert jobs_of(defs) == {"other"}
    graph = defs.resolve_asset_graph()
    twin = graph.get(dg.AssetKey(["twin", "load-error"]))
    assert "both define the Dagster asset 'shared/hello'" in twin.description
    assert dg.AssetKey(["ok", "load-error"]) in graph.get_all_asset_keys()


class RawNames(DagsterTaskGraphTranslator):
    """Uses task names as they are, so a task may be called `load-error`."""

    def get_asset_key(self, data):  # noqa: ANN001, ANN201
        return dg.AssetKey([data.graph.name, data.task.key_name])


def test_a_placeholder_never_takes_a_real_asset_key(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "projects/p/pit.toml": '[dag]\nname = "p"\n[[tasks]]\nname = "load-error"\nscript = "t.sh"\n',
            "projects/p/t.sh": "echo t\n",
            "pipelines/p/dag.py": "import flowrun\nraise ValueError('broken')\n",
        },
    )
    defs = build_definitions(tmp_path, runs_dir=str(tmp_path / "runs"), translator=RawNames())
    graph = defs.resolve_asset_graph()
    real = graph.get(dg.AssetKey(["p", "load-error"]))
    assert real.is_materializable and real.metadata["trakt/task"] == "load-error"
    placeholder = graph.get(dg.AssetKey(["p", "load-error-2"]))
    assert "ValueError: broken" in placeholder.description and not placeholder.is_materializable
    # with the default translator task names are Dagster names, which never contain '-'
    default = build_definitions(tmp_path, runs_dir=str(tmp_path / "runs"))
    assert {"p/load-error"} < keys_of(default) and "p/load-error-2" not in keys_of(default)


def test_a_front_end_that_raises_does_not_stop_the_others(tmp_path: Path, monkeypatch) -> None:
    write_files(tmp_path, GOOD)
    broken = types.ModuleType("tests.core.raising_frontend")

    def load(root, options):  # noqa: ANN001, ANN202
        raise KeyError("surprise")

    broken.load = load
    monkeypatch.setitem(sys.modules, broken.__name__, broken)
    found = discover(tmp_path, front_ends=(*FRONT_ENDS, broken.__name__, "tests.core.no_such_frontend"))
    assert sorted(g.name for g in found.graphs) == ["daily", "good", "ok"]
    assert [e.pipeline for e in found.errors] == ["core_front_end", "core_front_end"]
    assert "KeyError: 'surprise'" in found.errors[0].message
    assert "ModuleNotFoundError" in found.errors[1].message


def test_many_errors_are_deduplicated_in_linear_time(tmp_path: Path, monkeypatch) -> None:
    """De-duplication compares each error with at most its equals (a dict), never with all the others."""
    from trakt_dagster.core import discovery

    count = 4000
    errors = [LoadError(f"bad {i}", SourceLocation(Path(f"f{i % 7}.yaml"), i)) for i in range(count)]
    result = discovery.FrontEndResult(errors=errors + errors[:10])
    front = types.ModuleType("tests.core.many_errors")
    front.load = lambda root, options: result
    monkeypatch.setitem(sys.modules, front.__name__, front)
    calls = 0
    original = LoadError.__eq__

    def counting(self, other):  # noqa: ANN001, ANN202
        nonlocal calls
        calls += 1
        return original(self, other)

    monkeypatch.setattr(LoadError, "__eq__", counting)
    found = discover(tmp_path, front_ends=(front.__name__,))
    assert len(found.errors) == count
    assert calls <= 2 * count  # a list-based `not in` check makes ~count**2 / 2 comparisons
