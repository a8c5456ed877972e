"""Bad loom input at definition load: compile errors, runner config errors, settings, versions (spec §6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.loom.conftest import CONFIG, HEADER, ORDERS_FLOW, loom_folder, run_loom
from trakt_dagster import PipelineLoadErrors, build_definitions
from trakt_dagster.core.definitions import load_graphs
from trakt_dagster.loom.frontend import load_pipelines, loom_version_problem


def errors_of(root: Path) -> list:
    graphs, errors = load_graphs(root)
    return errors


def only(errors: list):
    assert len(errors) == 1, "\n".join(e.render() for e in errors)
    return errors[0]


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


BROKEN_CLASSES = {
    "missing_generic": """
class NoGeneric(ETLStep):
    orders = FromFile.alias("orders_csv", format=Format.CSV)
    target = IntoTable("raw.orders")

    def execute(self, params, *, orders):
        return orders
""",
    "missing_source": """
class MissingSource(ETLStep[P]):
    orders = FromFile.alias("orders_csv", format=Format.CSV)
    stores = FromTable("raw.stores")
    target = IntoTable("raw.orders")

    def execute(self, params: P, *, orders):
        return orders
""",
    "extra_source": """
class ExtraSource(ETLStep[P]):
    orders = FromFile.alias("orders_csv", format=Format.CSV)
    target = IntoTable("raw.orders")

    def execute(self, params: P, *, orders, stores):
        return orders
""",
}
CODES = {
    "missing_generic": ("MISSING_GENERIC_PARAM", "NoGeneric", "use ETLStep[YourParams]"),
    "missing_source": ("MISSING_SOURCE_PARAMS", "MissingSource", "source(s) ['stores'] declared in sources"),
    "extra_source": ("EXTRA_SOURCE_PARAMS", "ExtraSource", "parameter(s) ['stores'] declared after '*'"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_CLASSES))
def test_compile_errors_name_code_class_file_and_line(tmp_path: Path, case: str) -> None:
    name = CODES[case][1]
    text = (
        HEADER
        + BROKEN_CLASSES[case]
        + f"\n\nclass Proc(ETLProcess[P]):\n    steps = [{name}]\n\n\nclass Broken(ETLPipeline[P]):\n    processes = [Proc]\n"
    )
    folder = loom_folder(tmp_path, "broken", {"flow.py": text})
    error = only(errors_of(tmp_path))
    code, component, fragment = CODES[case]
    assert error.message.startswith(f"loom compile error {code} in {component} (pipeline Broken): ")
    assert fragment in error.message
    assert error.location.file == folder / "flow.py"
    assert error.location.line == line_of(folder / "flow.py", f"class {component}(")
    assert error.location.key == component and error.tool == "loom" and error.hint


TEMP_RULES = (
    HEADER
    + """

class Prod(ETLStep[P]):
    target = IntoTemp("y")

    def execute(self, params: P) -> pl.LazyFrame:
        return pl.LazyFrame({"a": [1]})


class Cons(ETLStep[P]):
    y = FromTemp("y")
    target = IntoTable("mart.y")

    def execute(self, params: P, *, y: pl.LazyFrame) -> pl.LazyFrame:
        return y


class FanA(ETLStep[P]):
    target = IntoTemp("parts", append=True)

    def execute(self, params: P) -> pl.LazyFrame:
        return pl.LazyFrame({"a": [1]})


class FanB(ETLStep[P]):
    target = IntoTemp("parts", append=True)

    def execute(self, params: P) -> pl.LazyFrame:
        return pl.LazyFrame({"a": [2]})


class ReadParts(ETLStep[P]):
    parts = FromTemp("parts")
    target = IntoTable("mart.parts")

    def execute(self, params: P, *, parts: pl.LazyFrame) -> pl.LazyFrame:
        return parts


class Needy(ETLStep[P]):
    target = IntoTable("mart.needy")

    def execute(self, params: P) -> pl.LazyFrame:
        return pl.LazyFrame({"a": [1]})


class Q(ETLParams):
    other: int = 1


class SameGroup(ETLProcess[P]):
    steps = [[Prod, Cons]]


class Twice(ETLProcess[P]):
    steps = [Prod, Prod, Cons]


class Fans(ETLProcess[P]):
    steps = [FanA, FanB, ReadParts]


class NeedsP(ETLProcess[Q]):
    steps = [Needy]


class ProducerInGroup(ETLPipeline[P]):
    processes = [SameGroup]


class DuplicateTemp(ETLPipeline[P]):
    processes = [Twice]


class FanIn(ETLPipeline[P]):
    processes = [Fans]


class ParamsMismatch(ETLPipeline[Q]):
    processes = [NeedsP]
"""
)


def test_temp_rules_and_params_compatibility_are_load_errors(tmp_path: Path, instance) -> None:
    folder = loom_folder(tmp_path, "temps", {"flow.py": TEMP_RULES})
    pipelines, result = load_pipelines(tmp_path)
    errors = {e.message.split(" in ")[0]: e for e in result.errors}
    assert set(errors) == {
        "loom compile error TEMP_NOT_PRODUCED",
        "loom compile error DUPLICATE_TEMP_NAME",
        "loom compile error MISSING_PARAMS_FIELDS",
    }
    same_group = errors["loom compile error TEMP_NOT_PRODUCED"]  # row 10
    assert "Cons: source 'y' references FromTemp('y') but no prior IntoTemp('y')" in same_group.message
    assert (
        same_group.location.line == line_of(folder / "flow.py", "class Cons(") and "parallel group" in same_group.hint
    )
    duplicate = errors["loom compile error DUPLICATE_TEMP_NAME"]  # row 11
    assert "Prod: IntoTemp('y') already written by a prior step" in duplicate.message
    assert duplicate.location.key == "Prod.y"
    needs = errors["loom compile error MISSING_PARAMS_FIELDS"]  # row 19
    assert "Needy requires params fields ['fail', 'region', 'run_date'] not present in Q" in needs.message
    assert [p.name for p in pipelines] == ["FanIn"]  # the good pipeline of the module still loads
    run = run_loom(tmp_path, "FanIn", instance, params={"run_date": "2026-03-30"}, only=True)
    assert run.success, run.failure()
    import polars as pl

    parts = pl.read_delta(str(folder / "lake" / "mart" / "parts"))
    assert sorted(parts["a"].to_list()) == [1, 2]  # two append=True writers: the consumer sees both parts


CONFIG_CASES = {
    "tmp_root": (
        "storage:\n  missing_table_policy: create\n  tmp_root: /tmp/x\n  defaults:\n    table_path: {uri: lake}\n",
        3,
        "storage.tmp_root",
        "unknown field `tmp_root`",
    ),
    "bad_yaml": ("storage:\n  defaults: [1\n", 3, None, "not valid YAML"),
    "unknown_nested": (
        "storage:\n  defaults:\n    table_path: {uri: lake, urj: 2}\n",
        3,
        "storage.defaults.table_path.urj",
        "unknown field `urj`",
    ),
    "local_temp_root": (
        "storage:\n  temp: {root: /tmp/checkpoints}\n  defaults:\n    table_path: {uri: lake}\n",
        2,
        "storage.temp.root",
        "must be a cloud URI",
    ),
    "missing_root": (
        "storage:\n  missing_table_policy: create\n  defaults:\n    table_path:\n      uri: no_such_lake\n",
        5,
        "storage.defaults.table_path.uri",
        "does not exist",
    ),
    "spark": (
        "storage:\n  engine: spark\n  defaults:\n    table_path: {uri: lake}\n",
        2,
        "storage.engine",
        "Spark backend",
    ),
    "no_storage": ("observability: {log: {enabled: false}}\n", None, None, "Config section not found: 'storage'"),
    "bad_setting": (CONFIG + "dagster:\n  retrys: 2\n", 11, "dagster.retrys", "Unknown key 'retrys' in dagster"),
    "bad_partitions": (
        CONFIG + "dagster:\n  partitions: {field: run_date, start: someday}\n",
        11,
        "dagster.partitions",
        "partitions.start must be a date",
    ),
    "unknown_pipeline": (
        CONFIG + "dagster:\n  pipelines:\n    Nightlyy: {retries: 1}\n",
        12,
        "dagster.pipelines.Nightlyy",
        "no module",
    ),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_runner_config_errors_name_file_line_and_key(tmp_path: Path, case: str) -> None:
    text, line, key, fragment = CONFIG_CASES[case]
    folder = loom_folder(tmp_path, "orders", {"flow.py": ORDERS_FLOW}, config=text)
    error = only(errors_of(tmp_path))
    assert fragment in error.message, error.render()
    assert error.location.file == folder / "loom.yaml"
    assert error.location.line == line, error.render()
    assert error.location.key == key
    assert error.hint and error.tool == "loom"
    assert "Traceback" not in error.render()


def test_settings_that_name_params_fields_are_checked(tmp_path: Path) -> None:
    config = CONFIG + "dagster:\n  correlation_key: run_day\n  partitions: {field: region, start: 2026-01-01}\n"
    loom_folder(tmp_path, "orders", {"flow.py": ORDERS_FLOW}, config=config)
    errors = errors_of(tmp_path)
    messages = sorted(e.message for e in errors)
    assert messages == [
        "correlation_key 'run_day' is not a field of P (pipeline Nightly).",
        "partitions.field 'region' must be a date field of P (pipeline Nightly).",
    ]
    assert {e.location.key for e in errors} == {"dagster.correlation_key", "dagster.partitions.field"}


def test_missing_runner_config_and_import_errors(tmp_path: Path) -> None:
    folder = tmp_path / "pipelines" / "orders"
    folder.mkdir(parents=True)
    (folder / "flow.py").write_text(ORDERS_FLOW)
    (tmp_path / "pipelines" / "broken.py").write_text("from loom.etl import ETLPipeline\nraise ValueError('no')\n")
    errors = sorted(errors_of(tmp_path), key=lambda e: str(e.location.file))
    assert len(errors) == 2
    broken, missing = errors
    assert broken.location.file.name == "broken.py" and broken.location.line == 2
    assert "Importing broken.py failed: ValueError: no" in broken.message
    assert missing.message.startswith("No loom runner config for flow.py")
    assert "loom.yaml" in missing.hint


def test_good_loom_pipelines_load_beside_broken_ones(tmp_path: Path) -> None:
    loom_folder(tmp_path, "good", {"flow.py": ORDERS_FLOW})
    loom_folder(
        tmp_path, "bad", {"flow.py": ORDERS_FLOW.replace("class Nightly", "class Other")}, config="storage: [\n"
    )
    graphs, errors = load_graphs(tmp_path)
    assert [g.name for g in graphs] == ["Nightly"]
    assert [(e.location.file.parent.name, e.pipeline) for e in errors] == [("bad", "Other")]
    defs = build_definitions(tmp_path, runs_dir=str(tmp_path / "runs"))
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw/orders", "mart/summary", "Other/load-error"} <= keys  # the broken one is a placeholder
    with pytest.raises(PipelineLoadErrors) as raised:
        build_definitions(tmp_path, strict_load=True)
    assert "bad/loom.yaml:2" in str(raised.value) and "not valid YAML" in str(raised.value)


def test_an_error_of_a_shared_config_stops_every_pipeline_using_it(tmp_path: Path) -> None:
    two = ORDERS_FLOW + "\n\nclass Again(ETLPipeline[P]):\n    processes = [Daily]\n"
    loom_folder(tmp_path, "orders", {"flow.py": two}, config=CONFIG + "dagster:\n  retries: -1\n")
    graphs, errors = load_graphs(tmp_path)
    assert graphs == []
    assert sorted(e.pipeline for e in errors) == ["Again", "Nightly"]
    text = str(PipelineLoadErrors(errors))
    assert text.startswith("1 pipeline load error:") and "(this stops pipelines Again, Nightly)" in text


SAME_NAME = {
    "steps_a.py": """
        import polars as pl
        from loom.etl import ETLParams, ETLStep, Format, FromFile, IntoTable


        class P(ETLParams):
            pass


        class Load(ETLStep[P]):
            orders = FromFile.alias("orders_csv", format=Format.CSV)
            target = IntoTable("raw.a")

            def execute(self, params: P, *, orders: pl.LazyFrame) -> pl.LazyFrame:
                return orders
    """,
    "steps_b.py": """
        import polars as pl
        from loom.etl import ETLStep, Format, FromFile, IntoTable

        from steps_a import P


        class Load(ETLStep[P]):
            orders = FromFile.alias("orders_csv", format=Format.CSV)
            target = IntoTable("raw.b")

            def execute(self, params: P, *, orders: pl.LazyFrame) -> pl.LazyFrame:
                return orders
    """,
    "flow.py": """
        import steps_a
        import steps_b
        from loom.etl import ETLPipeline, ETLProcess

        from steps_a import P


        class A(ETLProcess[P]):
            steps = [steps_a.Load]


        class B(ETLProcess[P]):
            steps = [steps_b.Load]


        class TwoLoads(ETLPipeline[P]):
            processes = [A, B]


        class Empty(ETLPipeline[P]):
            processes = []
    """,
}


def test_same_named_steps_warn_and_run_together_and_empty_pipelines_are_skipped(tmp_path: Path, instance) -> None:
    folder = loom_folder(tmp_path, "names", SAME_NAME)
    pipelines, result = load_pipelines(tmp_path)
    assert not result.errors, [e.render() for e in result.errors]
    assert [p.name for p in pipelines] == ["TwoLoads"]  # Empty has no steps: a warning, no assets (row 24)
    warnings = [w.message for w in result.warnings]
    assert any("different step classes are all named Load (steps_a.Load, steps_b.Load)" in w for w in warnings)
    assert any("loom pipeline Empty has no steps" in w for w in warnings)
    assert [s.key for s in pipelines[0].steps] == ["A.Load", "B.Load"]
    run = run_loom(tmp_path, "TwoLoads", instance, select=["raw/a"])
    assert run.success, run.failure()
    assert (folder / "lake" / "raw" / "b").exists()  # selecting one runs both: include is by class name (row 25)
    assert set(run.materializations()) == {"raw/a"}
    assert run.manifest["loom"]["steps"]["B.Load"]["status"] == "success"


def test_loom_version_gate() -> None:
    assert loom_version_problem() is None  # the locked loom-kernel 9.0.0
    old = loom_version_problem("0.12.3")  # row 26
    assert old.startswith("loom-kernel 0.12.3 is installed; trakt-dagster runs loom pipelines with loom-kernel>=9,<10")
    assert loom_version_problem("10.0.0") is not None


def test_loom_modules_and_flowrun_modules_are_told_apart(tmp_path: Path) -> None:
    loom_folder(tmp_path, "orders", {"flow.py": ORDERS_FLOW})
    (tmp_path / "pipelines" / "dag.py").write_text(
        "from trakt_dagster.flowrun import Pipeline\n"
        "pipeline = Pipeline('flow_dag')\n\n"
        "@pipeline.task()\n"
        "def one():\n    return 1\n"
    )
    (tmp_path / "pipelines" / "helpers.py").write_text("# mentions loom.etl and ETLPipeline in a comment only\nX = 1\n")
    graphs, errors = load_graphs(tmp_path)
    assert not errors, [e.render() for e in errors]
    assert sorted((g.name, g.tool) for g in graphs) == [("Nightly", "loom"), ("flow_dag", "flowrun")]
