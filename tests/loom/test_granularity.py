"""loom in step granularity: one op per step (each its own `ETLRunner.run` call), Delta tables carry the data."""

from __future__ import annotations

from pathlib import Path

from tests.loom.conftest import CONFIG, ORDERS_FLOW, loom_folder, run_loom, table
from trakt_dagster import build_definitions

PARAMS = {"run_date": "2026-03-30"}


def test_both_granularities_give_the_same_tables_file_and_manifest(tmp_path: Path, instance) -> None:
    runs = {}
    for granularity in ("pipeline", "step"):
        root = tmp_path / granularity
        loom_folder(root, "orders", {"flow.py": ORDERS_FLOW})
        run = run_loom(root, "Nightly", instance, params=PARAMS, granularity=granularity)
        assert run.success, run.failure()
        runs[granularity] = (run, root / "pipelines" / "orders")
    (pipe, pipe_dir), (step, step_dir) = runs["pipeline"], runs["step"]
    for ref in ("raw.orders", "mart.stores", "mart.summary"):
        assert table(pipe_dir, ref).to_dicts() == table(step_dir, ref).to_dicts()
    assert table(step_dir, "mart.summary").to_dicts() == [
        {"store": "s1", "revenue": 15.0},
        {"store": "s3", "revenue": 7.0},
    ]
    name = "summary_2026-03-30.csv"
    assert (pipe_dir / "out" / name).read_text() == (step_dir / "out" / name).read_text()
    assert pipe.tasks() == step.tasks() and set(step.tasks().values()) == {"success"}
    assert sorted(pipe.manifest["asset_keys"]) == sorted(step.manifest["asset_keys"])
    pipe_steps = {k: v["status"] for k, v in pipe.manifest["loom"]["steps"].items()}
    step_steps = {k: v["status"] for k, v in step.manifest["loom"]["steps"].items()}
    assert pipe_steps == step_steps
    assert step.manifest["loom"]["correlation_id"] == f"Nightly-{step.run_id}"  # one correlation id per run
    assert set(pipe.materializations()) == set(step.materializations())
    ops = {node.name for node in step.result.job_def.graph.nodes}
    assert len(ops) == 4 and len(pipe.result.job_def.graph.nodes) == 1


def test_runner_config_selects_step_granularity_and_its_retries_apply_per_op(tmp_path: Path) -> None:
    config = CONFIG + "dagster:\n  granularity: step\n  retries: 2\n  retry_delay: 1\n"
    loom_folder(tmp_path, "orders", {"flow.py": ORDERS_FLOW}, config=config)
    defs = build_definitions(tmp_path, runs_dir=str(tmp_path / "runs"))
    job = defs.resolve_job_def("Nightly")
    assert len(job.graph.nodes) == 4
    assert {(n.definition.retry_policy.max_retries, n.definition.retry_policy.delay) for n in job.graph.nodes} == {
        (2, 1.0)
    }


def test_a_bad_granularity_in_the_runner_config_is_a_load_error(tmp_path: Path) -> None:
    from trakt_dagster.core.definitions import load_graphs

    loom_folder(tmp_path, "orders", {"flow.py": ORDERS_FLOW}, config=CONFIG + "dagster:\n  granularity: steps\n")
    _, errors = load_graphs(tmp_path)
    text = "\n".join(e.render() for e in errors)
    assert "granularity must be pipeline or step, got 'steps'" in text and "loom.yaml" in text
