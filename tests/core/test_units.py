"""Small core pieces: names, atomic writes, redaction, errors, YAML lines, snapshots."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from trakt_dagster.core.atomic import atomic_path, atomic_write_text
from trakt_dagster.core.errors import ErrorCollector, LoadError, PipelineLoadErrors, SourceLocation
from trakt_dagster.core.graph import SnapshotSpec
from trakt_dagster.core.names import dagster_name, find_collisions, hashed_name, unique_dagster_names
from trakt_dagster.core.redact import Redactor
from trakt_dagster.core.run_folder import copy_tree


def test_dagster_names_are_the_obvious_names_and_distinct_row15() -> None:
    assert dagster_name("normalize_v2") == "normalize_v2"
    assert dagster_name("normalize-v2") == "normalize_v2" and dagster_name("stg.orders") == "stg_orders"
    assert dagster_name("input") == "input_" and dagster_name("meta") == "meta_"
    assert dagster_name("größe") == "groe" and dagster_name("--") == "unnamed"
    # a hash only where two different originals would be the same name; the one spelled so keeps it
    names = unique_dagster_names(["normalize-v2", "normalize_v2", "fetch-orders", "a.b", "a-b"])
    assert names["normalize_v2"] == "normalize_v2" and names["fetch-orders"] == "fetch_orders"
    assert names["normalize-v2"] == hashed_name("normalize-v2") and names["normalize-v2"].startswith("normalize_v2_")
    assert names["a.b"] != names["a-b"] and {names["a.b"][:4], names["a-b"][:4]} == {"a_b_"}
    assert len(set(names.values())) == 5
    assert unique_dagster_names(["normalize-v2"]) == {"normalize-v2": "normalize_v2"}
    assert find_collisions(["a-b", "a_b", "c"]) == {"a_b": ["a-b", "a_b"]}


def test_atomic_path_keeps_old_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.csv"
    atomic_write_text(target, "old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        assert tmp.suffix == ".csv"
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.csv"]


def test_redactor_masks_nested_values() -> None:
    r = Redactor(["hunter22", "ab"])
    assert r.text("pw=hunter22;") == "pw=***;"
    assert r.data({"k": ["x hunter22"], "ab": "ab"}) == {"k": ["x ***"], "ab": "ab"}


def test_load_errors_render_every_error() -> None:
    errors = ErrorCollector()
    errors.add("first", SourceLocation(Path("a.yaml"), 3, "steps[0].id"), hint="fix a")
    errors.add("second", SourceLocation(Path("b.yaml")))
    with pytest.raises(PipelineLoadErrors) as info:
        errors.raise_if_any()
    text = str(info.value)
    assert text.startswith("2 pipeline load errors:")
    assert "- a.yaml:3 (key steps[0].id): first\n    fix: fix a" in text
    assert "- b.yaml: second" in text
    assert LoadError("x").render() == "x"


def test_snapshot_skips_data_caches_and_runs_folder(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    for rel in ["pipeline.yaml", "steps/a.py", "data.csv", "__pycache__/x.py", "runs/r1/project/p.yaml", "out/m.json"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    (root / "link.py").symlink_to(root / "steps" / "a.py")
    target = root / "runs" / "r1" / "project"
    spec = SnapshotSpec(root, suffixes=(".py", ".yaml", ".json"), exclude_dirs=(root / "out",))
    copy_tree(spec, target)
    copied = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file() and p.name != "p.yaml")
    assert copied == ["pipeline.yaml", "steps/a.py"]


def test_progress_prints_a_live_line_on_a_terminal_and_plain_lines_otherwise() -> None:
    from trakt_dagster.core.progress import ProgressTracker, print_progress

    def run(live: bool) -> str:
        out = io.StringIO()
        logged: list[str] = []
        with print_progress(out, live=live):
            tracker = ProgressTracker("sales", total=3, log=logged.append)
            tracker.started("load")
            tracker.ended("load", "succeeded", 1.25)
            tracker.started("boom")
            tracker.ended("boom", "failed", 0.5)
            tracker.ended("after", "skipped")
        assert logged == [
            "[load] started",
            "[load] succeeded in 1.2 s (1/3 done)",
            "[boom] started",
            "[boom] failed after 0.50 s (2/3 done)",
            "[after] skipped (3/3 done)",
        ]
        return out.getvalue()

    plain = run(live=False)
    assert plain.splitlines() == [
        "sales [load] started",
        "sales [load] succeeded in 1.2 s (1/3 done)",
        "sales [boom] started",
        "sales [boom] failed after 0.50 s (2/3 done)",
        "sales [after] skipped (3/3 done)",
    ]
    live = run(live=True)
    # one line rewritten in place; failures and skips stay on screen; nothing printed after the block
    assert live.count("\r\x1b[K") == 5 and live.endswith("\n")
    assert "sales [boom] failed after 0.50 s (2/3 done)\n" in live
    assert live.split("\r\x1b[K")[2] == "sales [load] succeeded in 1.2 s (1/3 done)"


def test_a_live_line_keeps_the_programs_other_output_above_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from trakt_dagster.core.progress import ProgressTracker, print_progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    with print_progress(plain=False, transient=True):
        tracker = ProgressTracker("p", total=2, log=lambda _line: None)
        tracker.started("a")
        print("user print")  # two writes: the text, then its newline
        sys.stderr.write("partial ")  # part of a line: the live line waits for its end
        tracker.ended("a", "succeeded", 0.1)
        sys.stderr.write("done\n")
    assert sys.stdout is terminal and sys.stderr is terminal  # given back after the block
    erase = "\r\x1b[K"
    assert terminal.getvalue() == (
        f"{erase}p [a] started{erase}user print\n{erase}p [a] started{erase}partial done\n"
        f"{erase}p [a] succeeded in 0.10 s (1/2 done){erase}"  # transient: erased at the end
    )
