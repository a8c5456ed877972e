"""trakt_dagster.flowrun.Pipeline: the README `Pipeline` API run natively (spec §2.8, §3, §5, §6)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
import time

import flowrun
import pytest
from flowrun import InMemoryStateStore, build_default_engine

from trakt_dagster.flowrun import Pipeline, RunContext, compat_import, fn_hook


def run(coro):
    return asyncio.run(coro)


def orders_pipeline(**kwargs) -> Pipeline:
    """The spec's §2.5 example, README style."""
    pipeline = Pipeline("orders", max_parallel=2, **kwargs)

    @pipeline.task()
    def fetch(context: RunContext[dict]) -> list[dict]:
        return [{"id": 1, "amt": 5, "region": "eu"}, {"id": 2, "amt": 7, "region": "eu"}]

    @pipeline.task(retries=1)
    def clean(fetch):
        return [r for r in fetch if r["amt"] > 5]

    @pipeline.task(deps=[clean, "fetch"])
    def summary(upstream):
        return {"kept": len(upstream["clean"]), "seen": len(upstream["fetch"])}

    @pipeline.task(deps=[summary])
    async def publish(summary):
        return summary

    return pipeline


def test_from_flowrun_import_pipeline_is_the_compatible_one_row_1() -> None:
    assert compat_import.NATIVE_PIPELINE is None  # flowrun-dag 1.0.0 ships none
    compat_import.install()
    assert flowrun.Pipeline is Pipeline
    from flowrun import Pipeline as Imported

    assert Imported is Pipeline


def test_compatible_pipeline_is_imported_only_when_a_module_asks_for_it(tmp_path) -> None:
    """A load of engine-style modules never imports the compatible `Pipeline`; the first `from flowrun import
    Pipeline` does, and flowrun's other missing names still raise AttributeError (fresh process)."""
    engine_dag = tmp_path / "pipelines" / "orders" / "dag.py"
    engine_dag.parent.mkdir(parents=True)
    engine_dag.write_text(
        "from flowrun import build_default_engine\n\nengine = build_default_engine()\ndag = engine.dag('orders')\n\n\n"
        "@dag.task()\ndef fetch():\n    return 1\n"
    )
    script = f"""
import sys
import flowrun
from trakt_dagster import build_definitions
defs = build_definitions({str(tmp_path)!r}, runs_dir={str(tmp_path / "runs")!r}, strict_load=True)
assert defs.resolve_job_def("orders") is not None
print("after load:", "trakt_dagster.flowrun.pipeline" in sys.modules, "Pipeline" in vars(flowrun))
from flowrun import Pipeline
print("after import:", Pipeline.__module__, flowrun.Pipeline is Pipeline, "Pipeline" in flowrun.__all__)
try:
    flowrun.NoSuchName
except AttributeError as exc:
    print("missing:", exc)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == [
        "after load: False False",
        "after import: trakt_dagster.flowrun.pipeline True True",
        "missing: module 'flowrun' has no attribute 'NoSuchName'",
    ]


def test_run_report_shape_and_introspection_row_37() -> None:
    pipeline = orders_pipeline()
    assert pipeline.tasks == ("fetch", "clean", "summary", "publish")
    assert pipeline.dependencies == {
        "fetch": (),
        "clean": ("fetch",),
        "summary": ("clean", "fetch"),
        "publish": ("summary",),
    }
    run_id = run(pipeline.run_once(RunContext({}, {"batch_id": "2026-04-01"})))
    report = pipeline.get_run_report(run_id)
    pipeline.close()
    assert set(report) == {"run_id", "dag_name", "metadata", "created_at", "finished_at", "status", "tasks"}
    assert (report["run_id"], report["dag_name"], report["status"]) == (run_id, "orders", "SUCCESS")
    assert report["metadata"] == {"batch_id": "2026-04-01"}
    assert list(report["tasks"]) == ["fetch", "clean", "summary", "publish"]  # topological order
    assert report["tasks"]["summary"] == {
        **report["tasks"]["summary"],
        "status": "SUCCESS",
        "attempt": 1,
        "error": None,
    }
    assert report["tasks"]["summary"]["result"] == {"kept": 1, "seen": 2}
    assert isinstance(report["created_at"], float) and report["finished_at"] >= report["created_at"]


def test_task_names_scoped_per_pipeline_and_functions_stay_callable_rows_3_k12() -> None:
    a, b = Pipeline("a"), Pipeline("b")

    @a.task(name="extract")
    def extract_a():
        return "a"

    @b.task(name="extract")
    def extract_b():
        return "b"

    @b.task()
    def uses(extract):  # inference looks only into pipeline b
        return extract * 2

    assert extract_a() == "a" and extract_b.__flowrun_task_name__ == "extract"
    assert b.dependencies == {"extract": (), "uses": ("extract",)}
    report = b.get_run_report(run(b.run_once()))
    assert report["tasks"]["uses"]["result"] == "bb"


def test_context_by_name_keyword_only_positional_only_rows_11_12_20() -> None:
    pipeline = Pipeline("ctx")

    @pipeline.task()
    def first():
        return 1

    @pipeline.task()
    def second(first, context: RunContext[dict]):  # flowrun 1.0.0: "multiple values for argument 'first'"
        return first + context.deps["add"]

    @pipeline.task()
    def kwonly(*, context: RunContext[dict]):
        return context.metadata["m"]

    @pipeline.task(deps=["first"])
    def pos_only(first, /):
        return first * 10

    @pipeline.task()
    def optional(first, context: RunContext[dict] = None):
        return context is None

    report = pipeline.get_run_report(run(pipeline.run_once(RunContext({"add": 41}, {"m": "meta"}))))
    assert [report["tasks"][t]["result"] for t in ("second", "kwonly", "pos_only", "optional")] == [
        42,
        "meta",
        10,
        False,
    ]
    without = pipeline.get_run_report(run(pipeline.run_once()))
    assert without["tasks"]["optional"]["result"] is True  # row 14: optional context → default
    assert "requires a RunContext but none was provided" in without["tasks"]["second"]["error"]


def test_registration_errors() -> None:
    pipeline = Pipeline("errors")
    with pytest.raises(ValueError, match="is synchronous and cannot use timeout_s"):

        @pipeline.task(timeout_s=5.0)
        def blocking():
            return 1

    with pytest.raises(ValueError, match="cannot provide: extract"):

        @pipeline.task()
        def transform(extract):  # forward reference without deps (row 6)
            return extract

    @pipeline.task()
    def base():
        return 1

    with pytest.raises(ValueError, match="Duplicate task name: 'base'"):
        pipeline.task(name="base")(lambda: 2)
    with pytest.raises(ValueError, match="DAG 'nothing' has no registered tasks."):
        Pipeline("nothing").validate()


def test_failures_timeouts_exits_and_hook_order_rows_15_16_17_19_32(caplog) -> None:
    events: list[tuple] = []
    deadlines: list[float] = []
    attempts = {"flaky": 0}
    record = fn_hook(
        on_dag_start=lambda e: events.append(("dag_start",)),
        on_dag_end=lambda e: events.append(("dag_end",)),
        on_task_start=lambda e: events.append(("start", e.task_name, e.attempt)),
        on_task_success=lambda e: events.append(("success", e.task_name, e.attempt)),
        on_task_failure=lambda e: events.append(("failure", e.task_name, e.attempt)),
        on_task_retry=lambda e: events.append(("retry", e.task_name, e.next_attempt, e.max_attempts)),
        on_task_skip=lambda e: events.append(("skip", e.task_name, e.reason)),
    )

    class Broken(flowrun.RunHook):
        def on_task_start(self, event):
            raise RuntimeError("hook bug")

    pipeline = Pipeline("failing", max_parallel=4, hooks=[record, Broken()])

    @pipeline.task(retries=2)
    def flaky():
        attempts["flaky"] += 1
        if attempts["flaky"] < 3:
            raise RuntimeError("not yet")
        return "ok"

    @pipeline.task(retries=1)
    def bad():
        raise RuntimeError("always")

    @pipeline.task()
    def after_bad(bad):
        return bad

    @pipeline.task()
    def after_after(after_bad):
        return after_bad

    @pipeline.task()
    def independent():
        return "fine"

    @pipeline.task(timeout_s=0.05, retries=1)
    async def slow(context: RunContext[dict]):
        deadlines.append(context.time_remaining_s())
        await asyncio.sleep(1)

    @pipeline.task()
    def api():
        raise TimeoutError("upstream api")

    @pipeline.task()
    def exits():
        raise SystemExit(3)

    with caplog.at_level(logging.ERROR, logger="flowrun"):
        report = pipeline.get_run_report(run(pipeline.run_once(RunContext({}))))
    tasks = report["tasks"]
    assert report["status"] == "FAILED"
    assert (tasks["flaky"]["status"], tasks["flaky"]["attempt"]) == ("SUCCESS", 3)
    assert (tasks["bad"]["status"], tasks["bad"]["attempt"]) == ("FAILED", 2)
    assert tasks["after_after"] == {
        **tasks["after_after"],
        "status": "SKIPPED",
        "attempt": 0,
        "error": "UPSTREAM_FAILED",
    }
    assert tasks["independent"]["status"] == "SUCCESS"
    assert (tasks["slow"]["attempt"], tasks["slow"]["error"]) == (2, "Timeout after 0.05s")
    # 0.0 when a loaded machine starts the attempt only after its 50 ms deadline passed
    assert len(deadlines) == 2 and all(0 <= d <= 0.05 for d in deadlines)
    assert "TimeoutError: upstream api" in tasks["api"]["error"] and "Traceback" in tasks["api"]["error"]
    assert tasks["exits"]["status"] == "FAILED" and "SystemExit: 3" in tasks["exits"]["error"]
    assert events[0] == ("dag_start",) and events[-1] == ("dag_end",)
    assert [e for e in events if e[1:2] == ("bad",)] == [
        ("start", "bad", 1),
        ("failure", "bad", 1),
        ("retry", "bad", 2, 2),
        ("start", "bad", 2),
        ("failure", "bad", 2),
    ]
    assert events.index(("skip", "after_bad", "UPSTREAM_FAILED")) > events.index(("failure", "bad", 2))
    assert "Hook 'Broken' raised in on_task_start" in caplog.text


def test_max_parallel_and_cooperative_cancel_rows_21_24() -> None:
    active, peak, lock = [], [], threading.Lock()
    pipeline = Pipeline("par", max_parallel=2)
    for i in range(5):

        def work(i=i):
            with lock:
                active.append(i)
                peak.append(len(active))
            time.sleep(0.05)
            with lock:
                active.remove(i)

        work.__name__ = f"w{i}"
        pipeline.task()(work)
    run(pipeline.run_once())
    assert max(peak) == 2

    event = threading.Event()
    cancel = Pipeline("cancel")

    @cancel.task()
    def trip():
        event.set()

    @cancel.task(deps=[trip])
    def after_cancel(context: RunContext[dict]):
        context.raise_if_cancelled()

    @cancel.task(deps=[trip])
    def ignores_cancel():
        return "ran"

    report = cancel.get_run_report(run(cancel.run_once(RunContext({}).with_cancel_event(event))))
    assert "RunCancelledError: RunContext was cancelled." in report["tasks"]["after_cancel"]["error"]
    assert report["tasks"]["ignores_cancel"]["result"] == "ran"


def test_run_many_with_sync_and_async_contexts_row_27() -> None:
    pipeline = Pipeline("many")

    @pipeline.task()
    def square(context: RunContext[dict]):
        if context.metadata["n"] == 3:
            raise RuntimeError("bad batch")
        return context.metadata["n"] ** 2

    async def more():
        yield RunContext({}, {"n": 4})

    async def both():
        first = await pipeline.run_many([RunContext({}, {"n": 2}), RunContext({}, {"n": 3})])
        return first + await pipeline.run_many(more())

    reports = [pipeline.get_run_report(r) for r in run(both())]
    assert [r["metadata"]["n"] for r in reports] == [2, 3, 4]
    assert [r["status"] for r in reports] == ["SUCCESS", "FAILED", "SUCCESS"]
    assert reports[2]["tasks"]["square"]["result"] == 16


def square_pipeline(calls: list[str], store: InMemoryStateStore) -> Pipeline:
    pipeline = Pipeline("sq", state_store=store)

    @pipeline.task()
    def src(context: RunContext[dict]):
        calls.append("src")
        return context.metadata.get("n", 2)

    @pipeline.task()
    def sq(src):
        calls.append("sq")
        return src * src

    @pipeline.task()
    def publish(sq, context: RunContext[dict]):
        calls.append("publish")
        if context.deps.get("fail"):
            raise RuntimeError("warehouse unavailable")
        return sq

    @pipeline.task()
    def side():
        calls.append("side")
        return "side"

    return pipeline


def test_run_subgraph_resume_and_their_errors_rows_28_to_31() -> None:
    calls: list[str] = []
    store = InMemoryStateStore()
    pipeline = square_pipeline(calls, store)
    sub_id = run(pipeline.run_subgraph(["sq"], RunContext({}, {"n": 3})))
    assert list(pipeline.get_run_report(sub_id)["tasks"]) == ["src", "sq"] and calls == ["src", "sq"]
    with pytest.raises(ValueError, match="Task 'nope' is not in the DAG"):
        run(pipeline.run_subgraph(["nope"]))
    calls.clear()
    failed = run(pipeline.run_once(RunContext({"fail": True}, {"n": 2})))
    assert pipeline.get_run_report(failed)["status"] == "FAILED"
    calls.clear()
    resumed = run(pipeline.resume(failed, context=RunContext({})))
    assert calls == ["publish"]  # only what failed runs again
    report = pipeline.get_run_report(resumed)
    assert report["status"] == "SUCCESS" and report["metadata"] == {"n": 2}  # empty metadata keeps the old one
    calls.clear()
    again = run(pipeline.resume(resumed, from_tasks=["sq"], context=RunContext({}, {"n": 10})))
    assert sorted(calls) == ["publish", "sq"]
    report = pipeline.get_run_report(again)
    assert report["tasks"]["src"]["result"] == 2 and report["tasks"]["publish"]["result"] == 4  # src preserved
    assert report["metadata"] == {"n": 10}
    with pytest.raises(ValueError, match="Cannot resume from unknown tasks: nope"):  # N7
        run(pipeline.resume(again, from_tasks=["nope"]))
    calls.clear()
    sub_resumed = run(pipeline.resume(sub_id, from_tasks=["sq"], context=RunContext({}, {"n": 3})))
    assert calls == ["sq"] and list(pipeline.get_run_report(sub_resumed)["tasks"]) == ["src", "sq"]  # N8
    with pytest.raises(KeyError):
        run(pipeline.resume("unknown"))
    other = Pipeline("other", state_store=store)  # runs of both pipelines in one store
    other.task()(lambda: 1)
    with pytest.raises(ValueError, match="belongs to DAG 'sq'"):
        run(other.resume(failed))


def test_override_tasks_row_33() -> None:
    seen: list[str] = []
    pipeline = Pipeline("etl", max_workers=2, max_parallel=2)

    @pipeline.task(name="extract")
    def extract() -> list[int]:
        seen.append("extract")
        return [1, 2]

    @pipeline.task(name="sum_values", deps=[extract])
    def sum_values(extract: list[int]) -> int:
        seen.append(f"sum:{sum(extract)}")
        return sum(extract)

    test_pipeline = pipeline.override_tasks(extract=[10, 20])
    report = test_pipeline.get_run_report(run(test_pipeline.run_once()))
    assert report["tasks"]["sum_values"]["result"] == 30 and seen == ["sum:30"]
    replaced = pipeline.override_tasks({"sum_values": lambda extract: max(extract)})
    assert replaced.get_run_report(run(replaced.run_once()))["tasks"]["sum_values"]["result"] == 2
    with pytest.raises(
        ValueError, match=r"Cannot override unknown pipeline tasks: nope\. Available tasks: extract, sum_values\."
    ):
        pipeline.override_tasks(nope=1)
    with pytest.raises(TypeError, match="Cannot register tasks on a built pipeline snapshot."):
        test_pipeline.task()(lambda: 1)
    assert test_pipeline.is_snapshot and test_pipeline.snapshot_of is pipeline
    pipeline.close()


def test_display_of_a_diamond_row_34() -> None:
    pipeline = Pipeline("diamond")
    engine = build_default_engine()
    scope = engine.dag("diamond")
    for target in (pipeline, scope):

        @target.task()
        def top():
            return 1

        @target.task()
        def left(top):
            return top

        @target.task()
        def right(top):
            return top

        @target.task()
        def bottom(left, right):
            return left + right

    shown = pipeline.display()
    assert shown == engine.display_dag("diamond")  # the same picture as flowrun's own
    assert "bottom [shared]" in shown
    assert shown.splitlines()[0] == "diamond"
