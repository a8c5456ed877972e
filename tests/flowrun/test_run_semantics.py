"""flowrun's execution semantics on Dagster (spec §3, §5, §6): injection, retries, timeouts, skips, hooks."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import write_files
from tests.flowrun.conftest import module_of, run_dag
from trakt_dagster import build_definitions

ENGINE_DAGS = """
    import asyncio
    import threading
    import time

    from flowrun import RunCancelledError, RunContext, RunHook, build_default_engine, fn_hook

    EVENTS = []
    SEEN = {}
    ACTIVE = []
    PEAK = []
    LOCK = threading.Lock()
    CANCEL = threading.Event()


    class Recorder(RunHook):
        def on_dag_start(self, e): EVENTS.append(("dag_start", e.dag_name))
        def on_dag_end(self, e): EVENTS.append(("dag_end", e.dag_name))
        def on_task_start(self, e): EVENTS.append(("start", e.task_name, e.attempt))
        def on_task_success(self, e): EVENTS.append(("success", e.task_name, e.attempt))
        def on_task_failure(self, e): EVENTS.append(("failure", e.task_name, e.attempt))
        def on_task_retry(self, e): EVENTS.append(("retry", e.task_name, e.next_attempt, e.max_attempts))
        def on_task_skip(self, e): EVENTS.append(("skip", e.task_name, e.reason))


    class Broken(RunHook):
        def on_task_start(self, e):
            raise RuntimeError("hook bug")


    RECORDER = Recorder()
    engine = build_default_engine(max_parallel=4, hooks=[RECORDER, Broken()])

    # -- injection (rows 7-11, 14, 20) ------------------------------------------------------
    inject = engine.dag("inject")


    @inject.task()
    def base():
        return 10


    @inject.task()
    def with_default(base=5):
        return base


    @inject.task()
    def extract():
        return [1, 2, 3]


    @inject.task()
    def total_sum(extract):
        return sum(extract)


    @inject.task(deps=["extract", "total_sum"])
    def combine(upstream):
        SEEN["combine"] = sorted(upstream)
        return upstream["total_sum"] * 2


    @inject.task(deps=[combine, "extract"])
    def load(combine):
        return combine


    @inject.task(deps=["base"])
    def kwargs_only(**kwargs):
        return len(kwargs)


    @inject.task()
    def second(extract, context: RunContext[dict]):
        return {"first": extract, "deps": context.deps, "batch": context.metadata.get("batch")}


    @inject.task(deps=["base"])
    def pos_only(base, /):
        return base + 1


    def flowrun_context(dag, metadata):
        if dag == "nocontext":
            return None
        CANCEL.clear()
        return RunContext({"region": "eu", "api_token": "tok-very-secret-42"}, metadata).with_cancel_event(CANCEL)


    # -- no context at all (row 14) ----------------------------------------------------------
    nocontext = engine.dag("nocontext")


    @nocontext.task()
    def combine_nc():
        return 7


    @nocontext.task()
    def optional_ctx(combine_nc, context: RunContext[dict] = None):
        return {"combine": combine_nc, "context": context}


    @nocontext.task(retries=1)
    def required_ctx(context: RunContext[dict]):
        return "never"


    # -- failures, retries, skips and hooks (rows 15, 17, 18, 19, 21, 32) ---------------------
    failing = engine.dag("failing")
    ATTEMPTS = {"flaky": 0}


    @failing.task(retries=2)
    def flaky():
        ATTEMPTS["flaky"] += 1
        if ATTEMPTS["flaky"] < 3:
            raise RuntimeError(f"flaky attempt {ATTEMPTS['flaky']}")
        return "ok"


    @failing.task(retries=1)
    def bad():
        raise RuntimeError("always bad")


    @failing.task()
    def after_bad(bad):
        return bad


    @failing.task()
    def after_after(after_bad):
        return after_bad


    @failing.task()
    def independent():
        return "fine"


    @failing.task()
    def api_timeout():
        raise TimeoutError("upstream api")


    @failing.task()
    def deadline_zero(context: RunContext[dict]):
        context.with_deadline_s(0).raise_if_cancelled()


    @failing.task()
    def leaky(context: RunContext[dict]):
        raise ValueError(f"login refused for token {context.deps['api_token']}")


    @failing.task()
    def exits():
        raise SystemExit(3)


    @failing.task()
    def after_exit(exits):
        return "never"


    # -- cooperative cancellation (rows 18, 21) ------------------------------------------------
    cancel = engine.dag("cancel")


    @cancel.task()
    def trip(context: RunContext[dict]):
        CANCEL.set()
        return "tripped"


    @cancel.task(deps=[trip])
    def after_cancel(context: RunContext[dict]):
        context.raise_if_cancelled()
        return "not cancelled"


    @cancel.task(deps=[trip])
    def ignores_cancel():
        return "ran"


    # -- async timeouts (row 16) -------------------------------------------------------------
    timeouts = engine.dag("timeouts")
    DEADLINES = []


    @timeouts.task(timeout_s=0.05, retries=1)
    async def slow(context: RunContext[dict]):
        DEADLINES.append(context.time_remaining_s())
        await asyncio.sleep(120)


    @timeouts.task(timeout_s=5)
    async def quick(context: RunContext[dict]):
        await asyncio.sleep(0.01)
        return {"deadline_left": context.time_remaining_s() > 4, "loop": id(asyncio.get_running_loop())}


    @timeouts.task(timeout_s=5)
    async def quick_too():
        return id(asyncio.get_running_loop())


    # -- concurrency (row 24) ----------------------------------------------------------------
    parallel = build_default_engine(max_parallel=2).dag("parallel")


    def _sleeper(i):
        def work():
            with LOCK:
                ACTIVE.append(i)
                PEAK.append(len(ACTIVE))
            time.sleep(0.05)
            with LOCK:
                ACTIVE.remove(i)
            return i

        work.__name__ = f"sleep_{i}"
        return parallel.task()(work)


    SLEEPERS = [_sleeper(i) for i in range(5)]

    # -- values by reference (rows 25, 26) -----------------------------------------------------
    values = engine.dag("values")


    @values.task()
    def produce():
        return {"rows": [1, 2]}


    @values.task()
    def mutate(produce):
        produce["rows"].append(99)
        return len(produce["rows"])


    @values.task()
    def numbers():
        return (n * n for n in range(4))


    @values.task()
    def consume(numbers):
        return sum(numbers)
"""

PIPELINE_DAGS = """
    from __future__ import annotations

    from trakt_dagster.flowrun import Pipeline, RunContext

    names = Pipeline("names")


    @names.task(name="load-data")
    def first():
        return 1


    @names.task(name="a.b", deps=["load-data"])
    def second(upstream):
        return {"seen": sorted(upstream), "value": upstream["load-data"] + 1}


    @names.task(name="load_data", deps=["a.b"])
    def third(upstream):
        return sorted(upstream)


    readme = Pipeline("readme")


    @readme.task()
    def kwonly(*, context: RunContext[dict]):
        return context.metadata["batch"]


    @readme.task()
    def postponed(kwonly, context: RunContext[dict]):
        return f"{kwonly}-{context.deps['region']}"


    def flowrun_context(metadata):
        return RunContext({"region": "eu"}, metadata)
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return write_files(
        tmp_path_factory.mktemp("flowrun_semantics"),
        {"pipelines/eng/dag.py": ENGINE_DAGS, "pipelines/readme/dag.py": PIPELINE_DAGS},
    )


def test_named_injection_defaults_kwargs_upstream_and_ordering_only_deps_rows_7_to_11_20(root, instance) -> None:
    run = run_dag(root, "inject", instance, tags={"trakt/batch": "b-1"})
    assert run.success
    tasks = run.report["tasks"]
    assert tasks["with_default"]["result"] == 5  # row 7: a default is never injected
    assert tasks["kwargs_only"]["result"] == 0  # row 8: **kwargs receives nothing
    assert tasks["load"]["result"] == 12  # row 9: only combine's value
    assert module_of(root, "pipelines/eng/dag.py").SEEN["combine"] == ["extract", "total_sum"]  # row 10
    assert tasks["second"]["result"] == {
        "first": [1, 2, 3],
        "deps": {"region": "eu", "api_token": "***"},
        "batch": "b-1",
    }
    assert tasks["pos_only"]["result"] == 11  # row 20
    defs = build_definitions(root, runs_dir=str(root / "runs"))
    graph = defs.resolve_asset_graph()
    parents = {k.path[-1]: {p.path[-1] for p in graph.get(k).parent_keys} for k in graph.get_all_asset_keys()}
    assert parents["with_default"] == set()  # row 7: no edge
    assert parents["load"] == {"combine", "extract"}  # row 9: the ordering-only edge is in the graph too
    assert parents["kwargs_only"] == {"base"}
    load_meta = graph.get(dg.AssetKey(["inject", "load"])).metadata
    assert load_meta["flowrun/ordering_only_deps"].value == ["extract"]


def test_context_optional_and_required_without_context_row_14(root, instance) -> None:
    run = run_dag(root, "nocontext", instance)
    assert not run.success
    assert run.task("optional_ctx")["result"] == {"combine": 7, "context": None}
    required = run.task("required_ctx")
    assert required["status"] == "FAILED" and required["attempt"] == 2  # retried like any failure
    # flowrun's error type and text, then a note saying where the context comes from on Dagster
    lines = required["error"].rstrip().splitlines()
    assert "RuntimeError: Task 'required_ctx' requires a RunContext but none was provided." in lines
    assert lines[-1].startswith("trakt-dagster: the context factory (flowrun_context) of DAG 'nocontext' gave no")
    assert run.manifest["tasks"]["required_ctx"]["error"] == {
        "message": "Task 'required_ctx' requires a RunContext but none was provided.",
        "step_id": "required_ctx",
        "type": "RuntimeError",
    }
    assert run.manifest["tasks"]["required_ctx"]["attempts"] == 2


def test_failures_retries_skips_hooks_and_report_rows_15_17_18_19_32(root, instance) -> None:
    module = module_of(root, "pipelines/eng/dag.py")
    module.EVENTS.clear()
    module.ATTEMPTS["flaky"] = 0
    run = run_dag(root, "failing", instance)
    assert not run.success  # the Dagster run fails
    tasks = run.report["tasks"]
    assert run.report["status"] == "FAILED"
    assert (tasks["flaky"]["status"], tasks["flaky"]["attempt"]) == ("SUCCESS", 3)
    assert (tasks["bad"]["status"], tasks["bad"]["attempt"]) == ("FAILED", 2)
    assert "RuntimeError: always bad" in tasks["bad"]["error"] and "Traceback" in tasks["bad"]["error"]
    for name in ("after_bad", "after_after", "after_exit"):
        assert tasks[name] == {**tasks[name], "status": "SKIPPED", "attempt": 0, "started_at": None}
        assert tasks[name]["error"] == "UPSTREAM_FAILED"
    assert tasks["independent"]["status"] == "SUCCESS"
    # row 17: a TimeoutError raised by task code keeps its type, message and traceback (N2)
    assert "TimeoutError: upstream api" in tasks["api_timeout"]["error"]
    assert 'in api_timeout\n    raise TimeoutError("upstream api")' in tasks["api_timeout"]["error"]
    # row 18: the context's deadline
    assert "TimeoutError: RunContext deadline exceeded." in tasks["deadline_zero"]["error"]
    assert "raise_if_cancelled" in tasks["deadline_zero"]["error"]
    # row 19: SystemExit fails the task, not the process (N3)
    assert tasks["exits"]["status"] == "FAILED" and "SystemExit: 3" in tasks["exits"]["error"]
    # hooks: flowrun's per-task order, retries announced, skips after the final failure
    events = module.EVENTS
    assert events[0] == ("dag_start", "failing") and events[-1] == ("dag_end", "failing")
    assert [e for e in events if e[1:2] == ("flaky",)] == [
        ("start", "flaky", 1),
        ("failure", "flaky", 1),
        ("retry", "flaky", 2, 3),
        ("start", "flaky", 2),
        ("failure", "flaky", 2),
        ("retry", "flaky", 3, 3),
        ("start", "flaky", 3),
        ("success", "flaky", 3),
    ]
    assert [e for e in events if e[1:2] == ("bad",)] == [
        ("start", "bad", 1),
        ("failure", "bad", 1),
        ("retry", "bad", 2, 2),
        ("start", "bad", 2),
        ("failure", "bad", 2),
    ]
    assert events.index(("skip", "after_bad", "UPSTREAM_FAILED")) > events.index(("failure", "bad", 2))
    assert events.index(("skip", "after_after", "UPSTREAM_FAILED")) > events.index(
        ("skip", "after_bad", "UPSTREAM_FAILED")
    )
    # Dagster: three attempts for flaky, the retries in the run log, skipped tasks not materialized
    assert run.manifest["tasks"]["flaky"]["attempts"] == 3
    assert run.metadata_of("flaky")["flowrun/attempt"] == 3
    assert "failing/after_bad" not in run.materialized() and "failing/independent" in run.materialized()
    logs = run.log_messages()
    assert any("[flaky] --- retry attempt 3/3 ---" in line for line in logs)
    # row 32: a broken hook is logged and changes nothing
    assert any("Hook 'Broken' raised in on_task_start" in line and "hook bug" in line for line in logs)
    # secrets of the context never reach the manifest or the logs
    assert "tok-very-secret-42" not in (run.folder / "manifest.json").read_text()
    assert not any("tok-very-secret-42" in line for line in logs)
    assert "login refused for token ***" in tasks["leaky"]["error"]


def test_cooperative_cancel_event_row_21(root, instance) -> None:
    run = run_dag(root, "cancel", instance)
    assert not run.success
    assert run.task("ignores_cancel")["result"] == "ran"
    error = run.task("after_cancel")["error"]
    assert "RunCancelledError: RunContext was cancelled." in error


def test_async_timeouts_on_one_loop_row_16(root, instance) -> None:
    module = module_of(root, "pipelines/eng/dag.py")
    module.DEADLINES.clear()
    run = run_dag(root, "timeouts", instance)
    assert not run.success
    slow = run.task("slow")
    assert (slow["status"], slow["attempt"], slow["error"]) == ("FAILED", 2, "Timeout after 0.05s")
    # 0.0 when a loaded machine starts the attempt only after its 50 ms deadline passed
    assert len(module.DEADLINES) == 2 and all(0 <= d <= 0.05 for d in module.DEADLINES)
    assert run.manifest["tasks"]["slow"]["error"]["message"] == "Timeout after 0.05s"
    quick = run.task("quick")["result"]
    assert quick["deadline_left"] is True
    assert quick["loop"] == run.task("quick_too")["result"]  # every async task of a run on one loop
    duration = run.manifest["tasks"]["slow"]["duration_ms"]
    assert duration < 60_000  # generous: the 120 s sleeps were cancelled, not waited for


def test_max_parallel_row_24(root, instance) -> None:
    module = module_of(root, "pipelines/eng/dag.py")
    module.PEAK.clear()
    run = run_dag(root, "parallel", instance)
    assert run.success
    assert max(module.PEAK) == 2


def test_results_by_reference_and_generators_rows_25_26(root, instance) -> None:
    run = run_dag(root, "values", instance)
    assert run.success
    assert run.task("produce")["result"] == {"rows": [1, 2, 99]}  # the report shows the mutated object
    assert run.task("consume")["result"] == 14
    assert run.task("numbers")["result"]["type"] == "generator"
    logs = run.log_messages()
    assert any("[numbers] value not stored for later runs" in line for line in logs)


def test_foreign_task_names_sanitised_without_collision_row_5(root, instance) -> None:
    run = run_dag(root, "names", instance)
    assert run.success
    keys = sorted(run.materialized())
    assert len(keys) == 3 and "names/load_data" in keys
    # the obvious names; a hash only for `load-data`, which would collide with `load_data`
    assert keys[0] == "names/a_b" and keys[2].startswith("names/load_data_")
    assert list(run.report["tasks"]) == ["a.b", "load-data", "load_data"]  # flowrun names (sorted JSON)
    assert run.report["task_order"] == ["load-data", "a.b", "load_data"]
    assert run.task("a.b")["result"] == {"seen": ["load-data"], "value": 2}  # upstream keyed by flowrun names
    assert run.task("load_data")["result"] == ["a.b"]
    graph = build_definitions(root, runs_dir=str(root / "runs")).resolve_asset_graph()
    tasks = {graph.get(k).metadata["trakt/task"] for k in graph.get_all_asset_keys() if k.path[0] == "names"}
    assert tasks == {"load-data", "a.b", "load_data"}


def test_readme_pipeline_keyword_only_and_postponed_context_rows_12_13(root, instance) -> None:
    run = run_dag(root, "readme", instance, config={"metadata": {"batch": "b-9"}})
    assert run.success
    assert run.task("kwonly")["result"] == "b-9"
    assert run.task("postponed")["result"] == "b-9-eu"
    assert run.report["metadata"] == {"batch": "b-9"}
