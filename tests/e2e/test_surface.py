"""How the bundled examples read in Dagster, for every tool: names, descriptions, code links, metadata, and
the progress lines of a run."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import dagster as dg
import pytest

from trakt_dagster import build_definitions
from trakt_dagster.core.launch import select_asset_keys
from trakt_dagster.core.metadata import PATH_KEY, LocationMetadataSet, TableMetadataSet, TaskMetadataSet
from trakt_dagster.core.progress import print_progress
from trakt_dagster.ductaflow.metadata import DuctaflowNotebookMetadataSet, DuctaflowRunMetadataSet
from trakt_dagster.flowrun.metadata import FlowrunDagMetadataSet, FlowrunRunMetadataSet, FlowrunTaskMetadataSet
from trakt_dagster.loom.metadata import LoomPipelineMetadataSet, LoomRunMetadataSet, LoomStepMetadataSet
from trakt_dagster.pit.metadata import PitOutputMetadataSet, PitRunMetadataSet, PitTaskMetadataSet
from trakt_dagster.trakt.metadata import TraktRunMetadataSet

HASHED = re.compile(r"_[0-9a-f]{6}$")
SHARED = {"pipeline", "dag", "retries", "timeout_s", "retry_delay_s", "step", "source_file"}
"""What the shared `trakt/` keys say, which must not reappear under a tool's own prefix."""
TOOL_SETS = {
    "pit": (PitTaskMetadataSet, PitOutputMetadataSet),
    "flowrun": (FlowrunTaskMetadataSet, FlowrunDagMetadataSet),
    "loom": (LoomStepMetadataSet, LoomPipelineMetadataSet),
    "ductaflow": (DuctaflowNotebookMetadataSet,),
}
RUN_SETS = {
    "trakt": (TraktRunMetadataSet,),
    "pit": (PitRunMetadataSet, PitOutputMetadataSet),  # an output's run records its fields as written
    "flowrun": (FlowrunRunMetadataSet,),
    "loom": (LoomRunMetadataSet,),
    "ductaflow": (DuctaflowRunMetadataSet,),
}
LABELS = {
    "trakt": {"input orders", "clean_orders", "output orders_clean", "output customer_totals"},
    "pit": {"daily-report", "output daily_report"},
    "loom": {"DailySummary"},
}
"""Names some progress lines of each example's run show."""
STEP_METRICS = {"rows_dropped", "customers"}
"""The `__metrics__` the bundled trakt example's steps return (shown under their own names)."""
RUNS = {
    "trakt": ("sales_multi_file", None),
    "flowrun": ("api_ingest", None),
    "pit": ("sqlite_reports", None),
    "ductaflow": ("demand_scenarios__prepare_demand", "first"),
    "loom": ("OrdersNightly", "2026-03-30"),
}


@pytest.fixture(scope="module")
def defs(example_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dg.Definitions:
    return build_definitions(example_root, runs_dir=str(tmp_path_factory.mktemp("runs")))


@pytest.fixture(scope="module")
def nodes(defs: dg.Definitions) -> dict[str, object]:
    graph = defs.resolve_asset_graph()
    return {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}


def task_nodes(nodes: dict[str, object]) -> dict[str, object]:
    """The assets of tasks (not external inputs or load-error placeholders)."""
    return {key: node for key, node in nodes.items() if "trakt/task" in node.metadata}


def plain(entry: object) -> object:
    return getattr(entry, "value", entry)


def value(node: object, key: str) -> object:
    entry = node.metadata[key]
    return getattr(entry, "value", entry)


def test_names_users_recognise_without_hashes(nodes: dict[str, object]) -> None:
    assert not [key for key in nodes if HASHED.search(key)], "no bundled asset needs a hash suffix"
    # pit's dashed names become the obvious valid names; the originals stay in metadata
    assert value(nodes["orders_sdk/fetch_orders"], "trakt/task") == "fetch-orders"
    assert value(nodes["orders_sdk/check_drop"], "trakt/task") == "check-drop"
    assert value(nodes["sqlite_reports/daily_report"], "trakt/task") == "daily-report"
    # the [[outputs]] entry of the same name steps aside the way pit outputs always do
    assert value(nodes["sqlite_reports/daily_report_output"], "trakt/task") == "output:daily_report"
    tools = {value(node, "trakt/tool") for node in task_nodes(nodes).values()}
    assert tools == {"trakt", "flowrun", "pit", "ductaflow", "loom"}


def test_command_line_accepts_both_names(defs: dg.Definitions, example_root: Path) -> None:
    from trakt_dagster.core.definitions import load_graphs

    graphs = {g.name: g for g in load_graphs(example_root)[0]}
    graph = graphs["orders_sdk"]
    original = select_asset_keys(defs, graph, ["fetch-orders", "check-drop"])
    dagster = select_asset_keys(defs, graph, ["fetch_orders", "check_drop"])
    assert (
        original == dagster == [dg.AssetKey(["orders_sdk", "fetch_orders"]), dg.AssetKey(["orders_sdk", "check_drop"])]
    )
    with pytest.raises(KeyError, match="has no task 'fetch'"):
        select_asset_keys(defs, graph, ["fetch"])


def test_descriptions_come_from_the_sources(defs: dg.Definitions, nodes: dict[str, object]) -> None:
    described = {key: node.description for key, node in nodes.items()}
    # trakt: the step module's docstring; the job: `dagster.description`, else the YAML's leading comment
    assert described["sales_multi_file/clean_orders"] == (
        "Drop duplicate orders, normalise currency codes and fill the missing sales channel."
    )
    assert described["customer_enrichment/join_customers"].startswith("Left-join orders to customers")
    assert defs.resolve_job_def("sales_multi_file").description == (
        "Combine monthly order exports and total them per customer."
    )
    # pit: the script's docstring, a shell script's and a SQL file's leading comment, `description`, pit.toml
    assert described["orders_sdk/fetch_orders"].startswith("Fetch the day's orders from the orders API's export")
    assert described["orders_sdk/check_drop"].startswith("Fail early when the drop folder is missing")
    assert described["sqlite_reports/daily_report"].startswith("Tickets opened and closed per team and day")
    assert described["orders_sdk/load_totals"].startswith("The customer totals, loaded into the warehouse")
    assert defs.resolve_job_def("orders_sdk").description.startswith("Daily orders: fetch the day's orders")
    # flowrun: the task function's docstring; ductaflow: the notebook's header; loom: the step's docstring
    assert described["api_ingest/normalize"].startswith("Orders with upper-case currency codes")
    assert described["demand_scenarios/prepare_demand"].startswith("Prepare demand")
    assert described["raw/orders"].startswith("Raw orders of every day")
    generic = [
        key for key, node in task_nodes(nodes).items() if re.match(r"(trakt step|pit \w+ task) '", node.description)
    ]
    assert generic == [], "no bundled task needs the generic description"


def test_every_task_asset_links_to_its_code(nodes: dict[str, object], example_root: Path) -> None:
    for key, node in task_nodes(nodes).items():
        refs = node.metadata.get("dagster/code_references")
        assert refs is not None, f"{key} has no code reference"
        for ref in refs.code_references:
            assert Path(ref.file_path).is_absolute() and Path(ref.file_path).is_file(), (key, ref.file_path)

    def links(key: str) -> list[tuple[str, int | None]]:
        refs = nodes[key].metadata["dagster/code_references"].code_references
        return [(str(Path(r.file_path).relative_to(example_root)), r.line_number) for r in refs]

    pipeline_yaml = (example_root / "pipelines/sales_multi_file/pipeline.yaml").read_text().splitlines()
    assert links("sales_multi_file/clean_orders")[0][0] == "pipelines/sales_multi_file/pipeline.yaml"
    assert pipeline_yaml[links("sales_multi_file/clean_orders")[0][1] - 1].strip() == "- id: clean_orders"
    assert links("sales_multi_file/clean_orders")[1][0] == "pipelines/sales_multi_file/steps/clean_orders.py"
    pit_toml = (example_root / "projects/orders_sdk/pit.toml").read_text().splitlines()
    (toml_file, toml_line), (script, _) = links("orders_sdk/fetch_orders")
    assert toml_file == "projects/orders_sdk/pit.toml" and script == "projects/orders_sdk/tasks/fetch_orders.py"
    assert pit_toml[toml_line - 1 : toml_line + 1] == ["[[tasks]]", 'name = "fetch-orders"']
    dag_py = (example_root / "pipelines/api_ingest/dag.py").read_text().splitlines()
    ((flow_file, flow_line),) = links("api_ingest/normalize")
    assert flow_file == "pipelines/api_ingest/dag.py"
    assert "def normalize(" in "\n".join(dag_py[flow_line - 1 : flow_line + 3])


def test_one_metadata_vocabulary(nodes: dict[str, object]) -> None:
    shared = {f"trakt/{name}" for name in TaskMetadataSet.model_fields}
    for key, node in task_nodes(nodes).items():
        tool = value(node, "trakt/tool")
        own = {k.split("/", 1)[1] for k in node.metadata if k.startswith(f"{tool}/")}
        if tool != "trakt":
            assert not own & SHARED, (key, own)
            assert "task" not in own or value(node, "trakt/task") != value(node, f"{tool}/task"), key
            known = {field for cls in TOOL_SETS[tool] for field in cls.model_fields}
            assert own <= known, f"{key}: {own - known} not in {tool}'s metadata sets"
        assert "trakt/source" not in node.metadata, key
        assert {k for k in node.metadata if k.startswith("trakt/")} - shared <= {
            "trakt/step_id",
            "trakt/uses",
            "trakt/position",
            "trakt/produces",
            "trakt/dataset",
            "trakt/from_artifact",
            "trakt/uri",
        }, key
        retry_keys = [k for k in node.metadata if k.endswith("/retries")]
        assert retry_keys in ([], ["trakt/retries"]), (key, retry_keys)
    fetch = nodes["orders_sdk/fetch_orders"].metadata
    assert (
        value(nodes["orders_sdk/fetch_orders"], "trakt/retries") == 2
        and value(nodes["orders_sdk/fetch_orders"], "trakt/timeout_s") == 300.0
    )
    assert TaskMetadataSet.extract(fetch).retry_delay_s == 30.0
    assert PitTaskMetadataSet.extract(fetch).script == "tasks/fetch_orders.py"


def test_loom_and_ductaflow_metadata_read_back_through_their_sets(nodes: dict[str, object], example_root: Path) -> None:
    step = nodes["mart/daily_sales"].metadata
    loom = LoomStepMetadataSet.extract(step)
    assert (loom.process, loom.target, loom.write_mode) == ("Transform", "table mart.daily_sales", "replace")
    assert loom.sources.value == ["paid: temp paid_orders", "regions: table staging.store_regions"]
    assert TableMetadataSet.extract(step).table_name == "mart.daily_sales"
    shared = TaskMetadataSet.extract(step)
    assert (shared.tool, shared.pipeline, shared.task) == ("loom", "OrdersNightly", "DailySummary")
    # one code link (the core's), to the step's class, labelled with the file and the class
    (ref,) = step["dagster/code_references"].code_references
    assert ref.label == "orders_nightly.py, DailySummary"
    assert Path(ref.file_path).read_text().splitlines()[ref.line_number - 1].startswith("class DailySummary(")
    flow = nodes["demand_scenarios/prepare_demand"].metadata
    notebook = DuctaflowNotebookMetadataSet.extract(flow)
    assert (notebook.project, notebook.kind, notebook.cell_timeout_s) == ("demand_scenarios", "flow", 300.0)
    (ref,) = flow["dagster/code_references"].code_references
    assert (Path(ref.file_path), ref.line_number) == (
        example_root / "pipelines/demand_scenarios/flows/prepare_demand.py",
        1,
    )
    # every key under the tool's prefix is a field of its sets: what the sets read back is all there is
    for key, sets, prefix in (
        ("mart/daily_sales", TOOL_SETS["loom"], "loom/"),
        ("files/orders_csv", TOOL_SETS["loom"], "loom/"),
        ("demand_scenarios/forecast_build", TOOL_SETS["ductaflow"], "ductaflow/"),
        ("demand_scenarios/forecast_build_config", TOOL_SETS["ductaflow"], "ductaflow/"),
    ):
        meta = nodes[key].metadata
        read = {k for cls in sets for k, v in dict(cls.extract(meta)).items() if v is not None}
        assert read == {k for k in meta if k.startswith(prefix)}, key


def run_example(defs: dg.Definitions, job_name: str, partition: str | None, instance: dg.DagsterInstance):
    job = defs.resolve_job_def(job_name)
    if partition == "first":
        partition = job.partitions_def.get_partition_keys()[0] if job.partitions_def is not None else None
    return job.execute_in_process(instance=instance, raise_on_error=False, partition_key=partition)


@pytest.mark.parametrize("tool", sorted(RUNS))
def test_runs_report_progress_and_distinct_metadata(defs: dg.Definitions, nodes: dict[str, object], tool: str) -> None:
    job_name, partition = RUNS[tool]
    lines: list[str] = []

    class Lines:
        def write(self, text: str) -> None:
            lines.append(text)

        def flush(self) -> None:
            pass

        def isatty(self) -> bool:
            return False

    with dg.DagsterInstance.ephemeral() as instance, print_progress(Lines()):
        result = run_example(defs, job_name, partition, instance)
        assert result.success, f"{job_name} failed"
        records = instance.all_logs(result.run_id)
    # the run log gathers a run's debug and info lines into entries of several lines (one per level each
    # half second or so): each line keeps its entry's level
    messages = [line for record in records for line in record.user_message.split("\n")]
    levels = {line: record.level for record in records for line in record.user_message.split("\n")}
    started = [m for m in messages if re.fullmatch(r"\[[^\]]+\] started", m)]
    ended = [m for m in messages if re.fullmatch(r"\[[^\]]+\] succeeded in [0-9.]+ s \(\d+/\d+ done\)", m)]
    assert started and len(started) == len(ended), messages
    assert all(levels[m] == logging.INFO for m in started + ended)
    total = int(re.search(r"/(\d+) done", ended[-1]).group(1))
    assert [int(re.search(r"\((\d+)/", m).group(1)) for m in ended] == list(range(1, total + 1))
    # a task is named as the user wrote it: an input or output by its name and kind, not by its internal key
    named = {re.match(r"\[([^\]]+)\]", m).group(1) for m in started}
    assert LABELS.get(tool, set()) <= named, named
    assert not [n for n in named if re.match(r"(input|output|table|file):", n)], named
    # the command-line printer got the same lines, prefixed with the pipeline (plain lines: not a terminal)
    printed = [line.rstrip("\n").split(" ", 1)[1] for line in lines]
    assert printed == [m for m in messages if m in started or m in ended]
    # materialization-time keys never reuse a definition-time key
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        definition = nodes[mat.asset_key.to_user_string()].metadata
        # a key may repeat a definition's value as recorded by the run (pit's outputs), never mean another thing
        clash = {k for k in set(mat.metadata) & set(definition) if mat.metadata[k].value != plain(definition[k])}
        assert not clash, (mat.asset_key.to_user_string(), clash)
        own = {k.split("/", 1)[1] for k in mat.metadata if k.startswith(f"{tool}/")}
        known = {field for cls in RUN_SETS[tool] for field in cls.model_fields}
        assert own <= known, (mat.asset_key.to_user_string(), own - known)
        # Dagster's own keys are those of its table set and of the location set; the one plain key is `path`
        # (and a trakt step's own `__metrics__`, by the names the step gave them)
        dagster_keys = {k for k in mat.metadata if k.startswith("dagster/")}
        typed = {*TableMetadataSet.extract(mat.metadata).keys(), *LocationMetadataSet.extract(mat.metadata).keys()}
        assert dagster_keys <= typed, (mat.asset_key.to_user_string(), dagster_keys - typed)
        plain_keys = {k for k in mat.metadata if "/" not in k} - {PATH_KEY}
        assert plain_keys <= (STEP_METRICS if tool == "trakt" else set()), (mat.asset_key.to_user_string(), plain_keys)
    by_key = {
        e.materialization.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    if tool == "trakt":
        # what the run says reads back through trakt's run set and Dagster's table set, typed
        step = TraktRunMetadataSet.extract(by_key["sales_multi_file/clean_orders"])
        assert (
            step.rows_in > 0
            and step.rows_out == TableMetadataSet.extract(by_key["sales_multi_file/clean_orders"]).row_count
        )
        assert step.outputs.value == ["orders_clean"] and step.duration_ms >= 0
        assert by_key["sales_multi_file/clean_orders"]["rows_dropped"].value >= 0  # the step's own metric
        output = by_key["sales_multi_file/customer_totals"]
        assert Path(output[PATH_KEY].value).is_file()
        table = TableMetadataSet.extract(output)
        assert table.row_count > 0 and [c.name for c in table.column_schema.columns][0] == "customer_id"
    if tool == "pit":
        run = PitRunMetadataSet.extract(by_key["sqlite_reports/daily_report"])
        assert run.run_id and run.attempt == 1 and run.trigger == "manual" and Path(run.log).name
        assert PitOutputMetadataSet.extract(by_key["sqlite_reports/daily_report_output"]).output == "daily_report"
    if tool == "flowrun":
        fetched = FlowrunRunMetadataSet.extract(by_key["api_ingest/fetch_orders"])
        assert fetched.attempt == 1 and fetched.result_type == "list" and fetched.duration_s >= 0
        assert TableMetadataSet.extract(by_key["api_ingest/fetch_orders"]).row_count > 0
        assert by_key["api_ingest/load_orders"]["path"].value.endswith("outputs/orders.csv")
        assert Path(by_key["api_ingest/load_orders"]["path"].value).is_file()


def test_run_command_prints_progress_and_takes_either_name(example_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from trakt_dagster.cli import main as cli

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    runs = {}
    for name in ("check-drop", "check_drop"):
        done = CliRunner().invoke(
            cli, ["run", "orders_sdk", "--root", str(example_root), "--select", name], catch_exceptions=False
        )
        assert done.exit_code == 0, done.output
        # not a terminal: plain progress lines, and not Dagster's whole console log
        assert "orders_sdk [check-drop] started\n" in done.stderr
        assert re.search(r"orders_sdk \[check-drop\] succeeded in [0-9.]+ s \(1/1 done\)\n", done.stderr)
        assert "STEP_START" not in done.stderr and "\r" not in done.stderr
        manifest = json.loads(Path(re.search(r"manifest: (\S+)", done.stdout).group(1)).read_text())
        runs[name] = sorted(t for t, state in manifest["tasks"].items() if state.get("status") == "success")
    assert runs["check-drop"] == runs["check_drop"] == ["check-drop"]
