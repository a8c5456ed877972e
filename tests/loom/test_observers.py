"""Your own loom observers and loom's lineage keep firing under Dagster (spec §6 row 22, K9)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tests.loom.conftest import CONFIG, ORDERS_FLOW, loom_folder, run_loom
from trakt_dagster.core.definitions import load_graphs

PARAMS = {"run_date": "2026-03-30"}

AUDIT = '''

import logging

AUDIT_LOG = logging.getLogger("shop.audit")


class Audit:
    """A user observer: logs every lifecycle event with Python logging, from whichever thread loom uses."""

    def __init__(self):
        self._lock = threading.Lock()

    def on_event(self, event):
        scope = str(getattr(event.scope, "value", event.scope))
        kind = str(getattr(event.kind, "value", event.kind))
        with self._lock, open(HERE / "audit.txt", "a") as fh:
            fh.write(f"{scope} {kind} {event.name} {threading.current_thread().name}\\n")
        AUDIT_LOG.info("audit %s %s %s", scope, kind, event.name)


def make_observers():
    with open(HERE / "observers.txt", "a") as fh:
        fh.write("made\\n")
    return [Audit()]


loom_observers = make_observers
'''


@pytest.fixture(scope="module")
def audit_instance():
    """An instance whose Dagster log takes the records of the `shop.audit` Python logger (any thread)."""
    settings = {"python_logs": {"managed_python_loggers": ["shop.audit"], "python_log_level": "INFO"}}
    with dg.DagsterInstance.ephemeral(settings=settings) as inst:
        yield inst


def test_a_user_observer_sees_every_event_and_its_log_lines_reach_dagster(tmp_path: Path, audit_instance) -> None:
    loom_folder(tmp_path, "orders", {"flow.py": ORDERS_FLOW + AUDIT})
    run = run_loom(tmp_path, "Nightly", audit_instance, params=PARAMS)
    assert run.success, run.failure()
    folder = tmp_path / "pipelines" / "orders"
    assert (folder / "observers.txt").read_text() == "made\n"  # the factory is called once per run
    seen = [tuple(line.split(" ", 3)) for line in (folder / "audit.txt").read_text().splitlines()]
    steps = ("LoadOrders", "Positive", "Stores", "Summary", "Export")
    assert sorted((s, k, n) for s, k, n, _ in seen if s == "step") == sorted(
        ("step", kind, name) for name in steps for kind in ("end", "start")
    )
    assert [(s, k) for s, k, _, _ in seen if s == "pipeline"] == [("pipeline", "start"), ("pipeline", "end")]
    # the parallel group [Positive, Stores] emits from loom's pool threads, not the run's own thread
    run_thread = next(t for s, _, _, t in seen if s == "pipeline")
    group_threads = {t for s, _, n, t in seen if s == "step" and n in ("Positive", "Stores")}
    assert group_threads and run_thread not in group_threads
    audit_lines = [m for m in run.messages() if m.startswith("audit ")]
    assert sorted(audit_lines) == sorted(f"audit {s} {k} {n}" for s, k, n, _ in seen)  # none lost, none twice
    # a second run gets fresh observers from the factory
    assert run_loom(tmp_path, "Nightly", audit_instance, params=PARAMS).success
    assert (folder / "observers.txt").read_text() == "made\nmade\n"
    assert len((folder / "audit.txt").read_text().splitlines()) == 2 * len(seen)


def test_unusable_loom_observers_are_load_errors(tmp_path: Path) -> None:
    folder = loom_folder(tmp_path, "orders", {"flow.py": ORDERS_FLOW + AUDIT.replace("= make_observers", "= [Audit]")})
    graphs, errors = load_graphs(tmp_path)
    assert graphs == [] and len(errors) == 1
    error = errors[0]
    assert error.message == "loom_observers[0] is the class Audit, not an observer: write Audit()."
    assert error.location.file == folder / "flow.py" and error.location.key == "loom_observers"
    lines = (folder / "flow.py").read_text().splitlines()
    assert lines[error.location.line - 1] == "loom_observers = [Audit]"
    (folder / "flow.py").write_text(ORDERS_FLOW + AUDIT.replace("= make_observers", "= 'Audit'"))
    errors = load_graphs(tmp_path)[1]
    assert [e.message for e in errors] == [
        "loom_observers must be a list of observers or a callable returning one, not str."
    ]


def test_looms_lineage_records_are_written_for_a_dagster_run(tmp_path: Path, instance) -> None:
    config = CONFIG.replace(
        "  log: {enabled: false}\n", "  log: {enabled: false}\n  lineage: {enabled: true, root: lineage}\n"
    )
    folder = loom_folder(tmp_path, "orders", {"flow.py": ORDERS_FLOW}, config=config)
    run = run_loom(tmp_path, "Nightly", instance, params=PARAMS)
    assert run.success, run.failure()
    lineage = folder / "lineage"  # relative to the config's folder
    tables = sorted(p.parent.relative_to(lineage).as_posix() for p in lineage.rglob("_delta_log"))
    assert tables == ["pipeline_runs", "process_runs", "step_runs"]
    pipeline_runs = pl.read_delta(str(lineage / "pipeline_runs")).to_dicts()
    assert [(r["run_id"], r["pipeline"], r["status"], r["attempt"]) for r in pipeline_runs] == [
        (run.run_id, "Nightly", "success", 1)
    ]
    assert pipeline_runs[0]["correlation_id"] == f"Nightly-{run.run_id}"
    steps = pl.read_delta(str(lineage / "step_runs")).sort("step")
    assert steps["step"].to_list() == ["Export", "LoadOrders", "Positive", "Stores", "Summary"]
    assert set(steps["status"].to_list()) == {"success"} and set(steps["run_id"].to_list()) == {run.run_id}
