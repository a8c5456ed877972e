"""A load pauses Python's garbage collector and then promotes its objects to the oldest generation.

What a user relies on: the collector is on again after a load, nothing a load makes is kept frozen (garbage
among it is still collected by the next full collection), and objects someone else froze stay frozen.
"""

from __future__ import annotations

import gc
import sys
import weakref
from pathlib import Path

import pytest

from tests.conftest import write_files
from trakt_dagster import build_definitions

STEP = """
import sys


class Node:
    pass


_cycle = Node()
_cycle.self = _cycle  # a reference cycle that is garbage once the module has run
sys.modules["tests_collector_probe"].nodes.append(_cycle)
del _cycle


def run(ctx, input):
    return {"output": input}
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_files(
        tmp_path,
        {
            "pipelines/cycle/pipeline.yaml": (
                "name: cycle\ninputs: {src: data.csv}\nsteps:\n"
                "  - {id: s, uses: steps.make_cycle, with: {input: src, output: o}}\noutputs: {final: o}\n"
            ),
            "pipelines/cycle/data.csv": "id\n1\n",
            "pipelines/cycle/steps/__init__.py": "",
            "pipelines/cycle/steps/make_cycle.py": STEP,
        },
    )
    return tmp_path


@pytest.fixture
def probe(monkeypatch) -> list[weakref.ref]:
    """The step module hands its cycle to this list; the test keeps only weak references to it."""
    holder = type(sys)("tests_collector_probe")
    holder.nodes = []
    monkeypatch.setitem(sys.modules, "tests_collector_probe", holder)
    return holder.nodes


def test_after_a_load_the_collector_is_on_and_young_generations_are_empty(root: Path, probe) -> None:
    frozen_before = gc.get_freeze_count()
    defs = build_definitions(root, runs_dir=str(root / "runs"))
    assert defs.resolve_job_def("cycle") is not None
    assert gc.isenabled()
    assert gc.get_freeze_count() <= frozen_before  # nothing of the load is left frozen
    assert gc.get_count()[0] < 700  # the load's objects left the young generation (700: its threshold)
    assert any(obj is defs for obj in gc.get_objects(generation=2))


def test_garbage_made_during_a_load_is_collected_by_the_next_full_collection(root: Path, probe) -> None:
    build_definitions(root, runs_dir=str(root / "runs"))
    assert len(probe) == 1
    cycle = weakref.ref(probe.pop())  # now only the cycle refers to itself
    gc.collect()
    assert cycle() is None


def test_objects_frozen_by_someone_else_stay_frozen(root: Path, probe) -> None:
    sentinel = [object()]  # a tracked object; frozen ones are in no generation gc.get_objects lists
    gc.freeze()  # as a server does before it forks
    try:
        assert not any(obj is sentinel for obj in gc.get_objects())
        build_definitions(root, runs_dir=str(root / "runs"))
        assert not any(obj is sentinel for obj in gc.get_objects())  # still frozen
        assert gc.get_count()[0] < 700  # the load's own objects were collected into older generations
    finally:
        gc.unfreeze()
    assert any(obj is sentinel for obj in gc.get_objects())
