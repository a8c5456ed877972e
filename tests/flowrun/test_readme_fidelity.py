"""flowrun's README code runs unchanged: the context from a sibling settings file, packages with relative
imports, module-level `asyncio.run(main())` refused before import, and the run report as flowrun writes it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import write_files
from tests.flowrun.conftest import module_of, run_dag
from trakt_dagster import load_graphs
from trakt_dagster.cli import main as cli
from trakt_dagster.flowrun.frontend import load_dags

# flowrun's README Quick Start, verbatim: tasks take a RunContext that `main()` builds; `main()` runs the DAG.
QUICKSTART = """
    import asyncio
    from dataclasses import dataclass

    from flowrun import RunContext, build_default_engine

    engine = build_default_engine(max_workers=4, max_parallel=3)


    @dataclass(frozen=True)
    class Deps:
        source_path: str


    @engine.task(name="extract", dag="daily_etl")
    def extract(context: RunContext[Deps]) -> list[dict]:
        # In real jobs, read from file/API/db
        return [{"id": 1, "amount": 10}, {"id": 2, "amount": 15}]


    @engine.task(name="transform", dag="daily_etl", deps=[extract])
    def transform(extract: list[dict]) -> dict[str, int]:
        total = sum(row["amount"] for row in extract)
        return {"rows": len(extract), "total": total}


    @engine.task(name="load", dag="daily_etl", deps=[transform])
    def load(transform: dict[str, int]) -> str:
        # Persist results
        return f"loaded rows={transform['rows']} total={transform['total']}"


    async def main() -> None:
        ctx = RunContext(Deps(source_path="/tmp/data.json"))
        async with engine:
            engine.validate("daily_etl")
            run_id = await engine.run_once("daily_etl", context=ctx)
            report = engine.get_run_report(run_id)
            print(report["status"])  # SUCCESS | FAILED | RUNNING


    asyncio.run(main())
"""
# The one edit loading needs (see test_module_level_asyncio_run_is_refused_before_import).
GUARDED = QUICKSTART.replace(
    "\n    asyncio.run(main())", '\n    if __name__ == "__main__":\n        asyncio.run(main())'
)
# The README's "Context injection" snippet (with the engine it assumes), in a second module of the folder.
PULL = """
    from dataclasses import dataclass

    from flowrun import RunContext, build_default_engine

    engine = build_default_engine()


    @dataclass(frozen=True)
    class Deps:
        api_base: str


    @engine.task(name="pull", dag="etl")
    def pull(context: RunContext[Deps]) -> dict:
        return {"base": context.api_base}
"""
# Beside the modules, which stay as they are: one factory per DAG.
SETTINGS = """
    import etl
    import pull
    from flowrun import RunContext


    def daily_context(metadata):
        return RunContext(etl.Deps(source_path="/data/in.json"), metadata)


    flowrun_context = {
        "daily_etl": daily_context,
        "etl": lambda metadata: RunContext(pull.Deps(api_base="https://api.example"), metadata),
    }
"""
# A package: modules that never name flowrun, relative imports, tasks registered from a sub-package.
PACKAGE = {
    "pipelines/shop/__init__.py": '"""The shop DAG, laid out as a package."""\n',
    "pipelines/shop/runtime.py": """
        from dataclasses import dataclass

        from flowrun import RunContext, build_default_engine

        engine = build_default_engine(max_parallel=2)
        orders = engine.dag("shop_orders")

        __all__ = ["RunContext", "ShopDeps", "engine", "orders"]


        @dataclass(frozen=True)
        class ShopDeps:
            factor: int
    """,
    "pipelines/shop/helpers.py": """
        def scaled(rows, factor):
            return [row * factor for row in rows]
    """,
    "pipelines/shop/tasks/__init__.py": "from . import extract, transform\n",
    "pipelines/shop/tasks/extract.py": """
        from ..runtime import orders


        @orders.task()
        def extract():
            return [1, 2, 3]
    """,
    "pipelines/shop/tasks/transform.py": """
        from ..helpers import scaled
        from ..runtime import RunContext, ShopDeps, orders
        from .extract import extract


        @orders.task(deps=[extract])
        def transform(extract, context: RunContext[ShopDeps]):
            return scaled(extract, context.factor)
    """,
    "pipelines/shop/tasks/publish.py": """
        from ..runtime import orders


        @orders.task()
        def publish(transform):
            return {"total": sum(transform), "count": len(transform)}
    """,
    "pipelines/shop/flowrun_settings.py": """
        from flowrun import RunContext

        from .runtime import ShopDeps


        def flowrun_context(metadata):
            return RunContext(ShopDeps(factor=10), metadata)
    """,
}
REPORTED = {
    "pipelines/reported/dag.py": """
        from flowrun import build_default_engine

        engine = build_default_engine()
        dag = engine.dag("reported")


        @dag.task()
        def summary():
            return {"seen": 2, "kept": 1, "by_region": {"eu": 1, "us": 0}}


        @dag.task()
        def big():
            return [{"id": i, "value": i * 1.5} for i in range(1500)]


        @dag.task(deps=[summary])
        def pair():
            return (1, "a")


        @dag.task()
        def stream():
            return (n for n in range(3))


        @dag.task(deps=[big])
        def broken():
            raise ValueError("warehouse unavailable")
    """,
}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return write_files(
        tmp_path_factory.mktemp("readme"),
        {
            "pipelines/quickstart/etl.py": GUARDED,
            "pipelines/quickstart/pull.py": PULL,
            "pipelines/quickstart/flowrun_settings.py": SETTINGS,
            **PACKAGE,
            **REPORTED,
        },
    )


def test_readme_quickstart_runs_with_a_sibling_context_factory(root: Path, instance) -> None:
    run = run_dag(root, "daily_etl", instance, tags={"trakt/batch_id": "b-1"})
    assert run.result.success
    assert run.task("transform")["result"] == {"rows": 2, "total": 25}
    assert run.task("load")["result"] == "loaded rows=2 total=25"
    # the factory's RunContext reached the run: the run metadata was merged into it
    assert run.report["metadata"] == {"batch_id": "b-1"}
    pulled = run_dag(root, "etl", instance)  # the README's context-injection snippet: its deps from the factory
    assert pulled.result.success and pulled.task("pull")["result"] == {"base": "https://api.example"}
    # the module itself still runs as the script it is
    native = subprocess.run(
        [sys.executable, "etl.py"], cwd=root / "pipelines" / "quickstart", capture_output=True, text=True, timeout=120
    )
    assert native.returncode == 0 and native.stdout.strip() == "SUCCESS", native.stderr


def test_missing_context_is_a_load_error_pointing_at_the_factory(tmp_path: Path) -> None:
    write_files(tmp_path, {"pipelines/nocontext/etl.py": GUARDED})
    _, errors = load_graphs(tmp_path)
    (error,) = errors
    assert error.message.startswith("Task 'extract' requires a RunContext but none was provided: ")
    assert "DAG 'daily_etl'" in error.message and error.pipeline == "daily_etl"
    decorator = (
        textwrap.dedent(GUARDED).lstrip("\n").splitlines().index('@engine.task(name="extract", dag="daily_etl")')
    )
    assert error.location.file.name == "etl.py" and error.location.line == decorator + 1  # the task's decorator
    assert "flowrun_settings.py" in error.hint and "flowrun_context" in error.hint
    done = CliRunner().invoke(cli, ["flowrun", "validate", "--root", str(tmp_path)])
    assert done.exit_code == 1
    assert "requires a RunContext but none was provided" in done.output and "flowrun_settings.py" in done.output


def test_module_level_asyncio_run_is_refused_before_import(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    unguarded = QUICKSTART.replace(
        "async def main() -> None:\n", f"async def main() -> None:\n        open({str(marker)!r}, 'w').close()\n"
    )
    write_files(
        tmp_path,
        {
            "pipelines/unguarded/etl.py": unguarded,
            "pipelines/unguarded/flowrun_settings.py": "from etl import Deps\n\nflowrun_context = lambda: Deps('x')\n",
        },
    )
    _, errors = load_graphs(tmp_path)
    assert not marker.exists()  # nothing ran, the module was never imported
    # the settings file imports the module, so its import is refused too, with the same error (reported once)
    (error,) = errors
    assert error.location.file.name == "etl.py"
    assert error.location.line == unguarded.strip("\n").count("\n") + 1  # the asyncio.run line (the last one)
    assert "calls `asyncio.run(main())` at module level" in error.message
    assert 'if __name__ == "__main__":' in error.hint
    # in a package, one module with the call keeps the whole package from being imported
    publish = textwrap.dedent(PACKAGE["pipelines/shop/tasks/publish.py"]).lstrip() + "\nimport asyncio\n"
    publish += "asyncio.run(asyncio.sleep(0))\n"
    write_files(tmp_path, {**PACKAGE, "pipelines/shop/tasks/publish.py": publish})
    _, errors = load_graphs(tmp_path)
    shop = [e for e in errors if "shop" in str(e.location.file)]
    assert [(e.location.file.name, e.location.line) for e in shop] == [("publish.py", publish.count("\n"))]


def test_package_with_relative_imports_is_one_dag(root: Path, instance) -> None:
    dags, result = load_dags(root)
    assert not result.errors, [e.render() for e in result.errors]
    shop = next(d for d in dags if d.name == "shop_orders")
    assert [t.name for t in shop.tasks] == ["extract", "transform", "publish"]
    assert shop.edges == {"extract": (), "transform": ("extract",), "publish": ("transform",)}
    assert shop.module_path.name == "runtime.py" and shop.attribute == "engine"  # where it is assigned
    places = {t.name: (t.file.relative_to(root / "pipelines").as_posix(), t.line) for t in shop.tasks}
    assert places == {"extract": ("shop/tasks/extract.py", 4), "transform": ("shop/tasks/transform.py", 6)} | {
        "publish": ("shop/tasks/publish.py", 4)
    }
    assert module_of(root, "pipelines/shop/tasks/extract.py").__name__ == "shop.tasks.extract"
    assert "shop" not in sys.modules and "shop.runtime" not in sys.modules  # private to the package's namespace
    run = run_dag(root, "shop_orders", instance)
    assert run.result.success
    assert run.task("publish")["result"] == {"total": 60, "count": 3}


def test_report_keeps_flowruns_key_order_and_whole_results(root: Path, instance) -> None:
    run = run_dag(root, "reported", instance)
    assert not run.result.success
    written = json.loads((run.folder / "flowrun_report.json").read_text())
    # flowrun itself, on the very same engine
    engine = module_of(root, "pipelines/reported/dag.py").engine
    native = engine.get_run_report(asyncio.run(engine.run_once("reported")))
    assert (
        list(written)
        == list(native)
        == ["run_id", "dag_name", "metadata", "created_at", "finished_at", "status", "tasks"]
    )
    assert list(written["tasks"]) == list(native["tasks"])
    for name, state in written["tasks"].items():
        assert list(state) == list(native["tasks"][name]), name
        assert (
            state["status"] == native["tasks"][name]["status"] and state["attempt"] == native["tasks"][name]["attempt"]
        )
    for name in ("summary", "big"):
        assert written["tasks"][name]["result"] == native["tasks"][name]["result"]
    assert list(written["tasks"]["summary"]["result"]) == ["seen", "kept", "by_region"]
    assert len(written["tasks"]["big"]["result"]) == 1500  # whole, although far beyond 4,000 characters
    assert written["tasks"]["pair"]["result"] == [1, "a"]  # a tuple, as JSON writes it
    assert written["tasks"]["stream"]["result"]["type"] == "generator"
    assert written["tasks"]["broken"]["error"].rstrip().endswith("ValueError: warehouse unavailable")
    assert written["status"] == native["status"] == "FAILED"
    done = CliRunner().invoke(cli, ["flowrun", "report", run.run_id, "--root", str(root)])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == written and list(json.loads(done.output)["tasks"]["summary"]["result"]) == [
        "seen",
        "kept",
        "by_region",
    ]
