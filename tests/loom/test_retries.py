"""Retries and re-executions with loom's attempt / last_attempt and a stable correlation id (spec §6 rows 2-4, 14, 21)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from tests.loom.conftest import CONFIG, HEADER, calls, loom_folder, run_loom, table
from trakt_dagster.loom import LoomRunnerResource

PARAMS = {"run_date": "2026-03-30"}

CORRELATION_FLOW = (
    HEADER
    + '''

class Prod(ETLStep[P]):
    """Writes a CORRELATION temp (kept across the attempts of one correlation id)."""

    orders = FromFile.alias("orders_csv", format=Format.CSV)
    target = IntoTemp("shared", scope=CheckpointScope.CORRELATION)

    def execute(self, params: P, *, orders: pl.LazyFrame) -> pl.LazyFrame:
        maybe_fail(params, "Prod")
        return orders.with_columns(pl.lit(1).alias("seen"))


class Flaky(ETLStep[P]):
    orders = FromFile.alias("orders_csv", format=Format.CSV)
    target = IntoTable("mart.flaky")

    def execute(self, params: P, *, orders: pl.LazyFrame) -> pl.LazyFrame:
        maybe_fail(params, "Flaky")
        return orders


class Cons(ETLStep[P]):
    shared = FromTemp("shared")
    target = IntoTable("mart.cons")

    def execute(self, params: P, *, shared: pl.LazyFrame) -> pl.LazyFrame:
        maybe_fail(params, "Cons")
        return shared


class Produce(ETLProcess[P]):
    steps = [[Prod, Flaky]]


class Consume(ETLProcess[P]):
    steps = [Cons]


class Correlated(ETLPipeline[P]):
    processes = [Produce, Consume]
'''
)


def correlation_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("correlations/*") if p.is_dir())


def test_retry_reuses_the_correlation_temp_and_cleans_it_after_the_last_attempt(tmp_path: Path, instance) -> None:
    config = CONFIG + "dagster:\n  retries: 1\n  temp_root: temps\n"
    folder = loom_folder(tmp_path, "corr", {"flow.py": CORRELATION_FLOW}, config=config)
    (folder / "fail_once_Flaky").write_text("")  # the parallel sibling fails on the first attempt only
    run = run_loom(tmp_path, "Correlated", instance, params=PARAMS)
    assert run.success, run.failure()
    seen = calls(folder)
    assert seen.count("Prod") == 1 and seen.count("Flaky") == 2 and seen[-1] == "Cons"  # Prod ran once
    messages = run.messages()
    first = next(m for m in messages if "loom pipeline Correlated started" in m and "attempt 1," in m)
    second = next(m for m in messages if "loom pipeline Correlated started" in m and "attempt 2," in m)
    assert "last_attempt False" in first and "last_attempt True" in second
    cid = f"Correlated-{run.run_id}"
    assert f"correlation_id {cid}" in first and f"correlation_id {cid}" in second  # stable across the retry
    assert any("loom step Prod already succeeded in attempt 1" in m for m in messages)
    assert table(folder, "mart.cons").height == 4  # read the temp attempt 1 wrote
    manifest = run.manifest
    assert manifest["loom"]["attempt"] == 2 and manifest["loom"]["include"] == ["Cons", "Flaky"]
    assert manifest["loom"]["reused"] == ["Prod"]
    assert (folder / "temps" / "correlations").is_dir()  # dagster.temp_root, relative to the config's folder
    assert correlation_dirs(folder / "temps") == []  # removed after the successful last attempt
    assert not (tmp_path / "runs" / "Correlated" / "correlations" / f"{cid}.json").exists()


@pytest.fixture
def persistent(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "telemetry: {enabled: false}\n"
        "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n"
    )
    with dg.DagsterInstance.from_config(str(home)) as inst:
        yield inst


def test_failed_final_attempt_keeps_the_temp_and_reexecution_from_failure_reuses_it(
    tmp_path: Path, persistent: dg.DagsterInstance
) -> None:
    folder = loom_folder(tmp_path, "corr", {"flow.py": CORRELATION_FLOW})
    temps = tmp_path / "local_temps"
    resources = {"loom_runner": LoomRunnerResource(temp_dir=str(temps))}  # the resource's local temp dir (row 14)
    (folder / "fail_once_Cons").write_text("")
    first = run_loom(tmp_path, "Correlated", persistent, params=PARAMS, resources=resources)
    assert not first.success
    assert sorted(calls(folder)) == ["Cons", "Flaky", "Prod"]
    cid = f"Correlated-{first.run_id}"
    kept = temps / "Correlated" / "correlations" / cid / "shared.arrow"
    assert kept.exists()  # the final attempt failed: loom keeps CORRELATION temps
    assert any(
        f"loom kept the CORRELATION temps of correlation {cid}" in m and "re-execution from failure reuses them" in m
        for m in first.messages()
    )
    job = dg.build_reconstructable_job(
        "tests.loom.test_retries", "resourced_job", reconstructable_args=(str(tmp_path), str(temps))
    )
    options = dg.ReexecutionOptions.from_failure(first.run_id, persistent)
    run_config = {
        "ops": {"Correlated_pipeline": {"config": {"params": PARAMS}}},
        "execution": {"config": {"in_process": {}}},
    }
    with dg.execute_job(job, persistent, run_config=run_config, reexecution_options=options) as again:
        assert again.success
        new_id = again.run_id
    assert calls(folder) == ["Cons"]  # Prod and Flaky completed in the failed run: not run again
    assert table(folder, "mart.cons").height == 4
    assert not kept.exists()  # cleaned after the successful re-execution
    import json

    manifest = json.loads((tmp_path / "runs" / "Correlated" / new_id / "manifest.json").read_text())
    assert manifest["loom"]["correlation_id"] == cid and manifest["loom"]["reused"] == ["Flaky", "Prod"]


def resourced_job(root: str, temps: str) -> dg.JobDefinition:
    """The Correlated job with a local temp dir in the loom_runner resource (reconstructable in re-executions)."""
    from trakt_dagster.core.builder import build_graph_definitions
    from trakt_dagster.core.definitions import load_graphs
    from trakt_dagster.core.resources import RunStorage

    graph = next(g for g in load_graphs(root)[0] if g.name == "Correlated")
    defs = build_graph_definitions(
        graph,
        run_storage=RunStorage(runs_dir=str(Path(root) / "runs")),
        resources={"loom_runner": LoomRunnerResource(temp_dir=temps)},
    )
    return defs.resolve_job_def("Correlated")


def test_no_correlation_id_makes_correlation_temps_fail_at_write_time(tmp_path: Path, instance) -> None:
    config = CONFIG + "dagster:\n  correlation_key: none\n"
    loom_folder(tmp_path, "corr", {"flow.py": CORRELATION_FLOW}, config=config)
    run = run_loom(tmp_path, "Correlated", instance, params=PARAMS)
    assert not run.success
    error = run.manifest["tasks"]["Prod"]["error"]["message"]
    assert "ValueError: IntoTemp('shared', scope=CORRELATION) requires a correlation_id" in error
    assert run.manifest["loom"]["correlation_id"] is None


def test_correlation_id_from_a_params_field_and_from_run_config(tmp_path: Path, instance) -> None:
    config = CONFIG + "dagster:\n  correlation_key: run_date\n"
    loom_folder(tmp_path, "corr", {"flow.py": CORRELATION_FLOW}, config=config)
    run = run_loom(tmp_path, "Correlated", instance, params=PARAMS)
    assert run.success, run.failure()
    assert run.manifest["loom"]["correlation_id"] == "Correlated-run_date=2026-03-30"
    explicit = run_loom(tmp_path, "Correlated", instance, params=PARAMS, correlation_id="batch 7/a")
    assert explicit.success and explicit.manifest["loom"]["correlation_id"] == "batch_7_a"


def test_run_temp_between_two_processes_in_one_dagster_run(tmp_path: Path, instance) -> None:
    flow = CORRELATION_FLOW.replace('IntoTemp("shared", scope=CheckpointScope.CORRELATION)', 'IntoTemp("shared")')
    folder = loom_folder(tmp_path, "runtemp", {"flow.py": flow})
    run = run_loom(tmp_path, "Correlated", instance, params=PARAMS)
    assert run.success, run.failure()  # Cons (process Consume) read Prod's RUN temp (process Produce): row 1
    assert table(folder, "mart.cons")["seen"].to_list() == [1, 1, 1, 1]
    checkpoints = tmp_path / "runs" / "Correlated" / "checkpoints"
    assert checkpoints.is_dir() and not list(checkpoints.rglob("*.arrow"))  # gone after the run
    success = run_loom(tmp_path, "Correlated", instance, params=PARAMS, correlation_id="c-ok")
    assert success.success
    assert correlation_dirs(checkpoints) == []


def test_correlation_temp_removed_after_a_successful_run(tmp_path: Path, instance) -> None:
    loom_folder(tmp_path, "corr", {"flow.py": CORRELATION_FLOW})
    run = run_loom(tmp_path, "Correlated", instance, params=PARAMS)
    assert run.success, run.failure()  # row 2
    checkpoints = tmp_path / "runs" / "Correlated" / "checkpoints"
    assert (checkpoints / "correlations").is_dir() and correlation_dirs(checkpoints) == []
