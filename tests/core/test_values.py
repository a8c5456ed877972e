"""Stored task values: the `latest/<task>` pointers and the pointer files earlier versions wrote."""

from __future__ import annotations

import json
from pathlib import Path

from trakt_dagster.core.values import ValueStore


def test_links_replace_the_pointer_files_of_earlier_versions_one_task_at_a_time(tmp_path: Path) -> None:
    latest = tmp_path / "latest"
    latest.mkdir()
    for task, run_id in (("a", "old-a"), ("b", "old-b")):  # what earlier versions left
        (latest / f"{task}.json").write_text(json.dumps({"run_id": run_id}))
    store = ValueStore(tmp_path)
    assert store.latest_run("a") == "old-a" and store.latest_run("b") == "old-b"

    store.save("new-run", "a", [1, 2])

    assert not (latest / "a.json").exists()  # replaced by the link
    assert (latest / "a").is_symlink() and store.latest_run("a") == "new-run"
    assert store.load("a", store.find("a", [])) == [1, 2]
    assert store.latest_run("b") == "old-b"  # a task this run did not store keeps its pointer
    assert (latest / "b.json").exists()
    store.save("newer-run", "b", {"x": 1})
    assert not (latest / "b.json").exists() and store.latest_run("b") == "newer-run"
    assert store.stored_files("newer-run", "b") == ["0000_x.pkl"]
