"""The parse cache beside `__pycache__`: what a later load reads back is exactly what parsing gives (values of the
same types, the same key lines, the same errors), an edited file is never read stale, and it writes only where
Python would write bytecode."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.trakt.test_yaml_fast import FAST_CASES, SLOW_CASES, same
from trakt_dagster.core import parse_cache
from trakt_dagster.core.parse_cache import cache_path, cached_parse
from trakt_dagster.trakt.loader import load_pipeline_spec
from trakt_dagster.trakt.yaml_source import YamlDocument, YamlLimitError


@pytest.fixture
def writes_bytecode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytecode writing on, as in a plain `python` (the suite may run with PYTHONDONTWRITEBYTECODE)."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setattr(sys, "pycache_prefix", None)


def _no_parse(text: str) -> object:
    raise AssertionError("parsed although a cached value was there")


def test_a_second_parse_reads_the_stored_value(tmp_path: Path, writes_bytecode: None) -> None:
    source = tmp_path / "p.json"
    assert cached_parse(source, '{"a": [1, 2.5, true, null]}', "json", lambda t: {"a": [1, 2.5, True, None]})
    assert cache_path(source).is_file()
    assert cache_path(source).parent == tmp_path / "__pycache__"
    assert cached_parse(source, '{"a": [1, 2.5, true, null]}', "json", _no_parse) == {"a": [1, 2.5, True, None]}


def test_an_edited_text_or_another_parser_is_parsed_again(tmp_path: Path, writes_bytecode: None) -> None:
    source = tmp_path / "p.yaml"
    assert cached_parse(source, "a: 1\n", "v1", yaml.safe_load) == {"a": 1}
    assert cached_parse(source, "a: 2\n", "v1", yaml.safe_load) == {"a": 2}  # same file, new text
    assert cached_parse(source, "a: 2\n", "v2", lambda t: "other parser") == "other parser"
    assert cached_parse(source, "a: 2\n", "v2", _no_parse) == "other parser"  # the newest entry is kept


def test_nothing_is_written_when_bytecode_writing_is_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    source = tmp_path / "p.yaml"
    assert cached_parse(source, "a: 1\n", "v1", yaml.safe_load) == {"a": 1}
    assert not (tmp_path / "__pycache__").exists()


def test_the_pycache_prefix_moves_it(tmp_path: Path, writes_bytecode: None, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = tmp_path / "prefix"
    monkeypatch.setattr(sys, "pycache_prefix", str(prefix))
    source = tmp_path / "project" / "p.yaml"
    source.parent.mkdir()
    cached_parse(source, "a: 1\n", "v1", yaml.safe_load)
    assert not (source.parent / "__pycache__").exists()
    stored = cache_path(source)
    assert stored.is_file() and prefix in stored.parents
    assert str(stored).endswith(str(source.parent).lstrip(os.sep) + f"/p.yaml.{sys.implementation.cache_tag}.parsed")


def test_a_damaged_entry_is_parsed_again_and_replaced(tmp_path: Path, writes_bytecode: None) -> None:
    source = tmp_path / "p.yaml"
    cached_parse(source, "a: [1, 2]\n", "v1", yaml.safe_load)
    stored = cache_path(source)
    stored.write_bytes(stored.read_bytes()[:-3])  # cut short
    assert cached_parse(source, "a: [1, 2]\n", "v1", yaml.safe_load) == {"a": [1, 2]}
    assert cached_parse(source, "a: [1, 2]\n", "v1", _no_parse) == {"a": [1, 2]}
    stored.write_bytes(b"something else entirely")
    assert cached_parse(source, "a: [1, 2]\n", "v1", yaml.safe_load) == {"a": [1, 2]}


def test_a_folder_that_cannot_hold_the_cache_is_not_cached(tmp_path: Path, writes_bytecode: None) -> None:
    (tmp_path / "__pycache__").write_text("a file where the folder would be\n")
    assert cached_parse(tmp_path / "p.yaml", "a: 1\n", "v1", yaml.safe_load) == {"a": 1}
    assert cached_parse(tmp_path / "p.yaml", "a: 1\n", "v1", yaml.safe_load) == {"a": 1}


def test_values_marshal_cannot_hold_are_parsed_every_time(tmp_path: Path, writes_bytecode: None) -> None:
    source = tmp_path / "p.yaml"
    assert cached_parse(source, "d: 2024-01-02\n", "v1", yaml.safe_load) == {"d": yaml.safe_load("d: 2024-01-02")["d"]}
    assert not cache_path(source).exists()


def test_a_broken_file_is_never_stored(tmp_path: Path, writes_bytecode: None) -> None:
    source = tmp_path / "pipeline.yaml"
    for _ in range(2):
        with pytest.raises(yaml.YAMLError) as raised:
            YamlDocument.parse_file("steps: [a\n", source)
        assert "line 2" in str(raised.value)
    with pytest.raises(YamlLimitError):
        YamlDocument.parse_file("d: 2024-02-30\n", source)
    assert not cache_path(source).exists()


def _yaml_texts() -> list[str]:
    files = [p for p in REPO.rglob("*.y*ml") if ".venv" not in p.parts and "node_modules" not in p.parts]
    assert len(files) > 10
    return [*FAST_CASES, *SLOW_CASES, *(p.read_text(encoding="utf-8") for p in files)]


def test_documents_read_back_equal_a_fresh_parse(tmp_path: Path, writes_bytecode: None) -> None:
    """Every edge case of the YAML reader's tests and every YAML file of the repository: the value read back from
    the cache has the same values, types and key order, and the same line for every key, as parsing it."""
    stored = 0
    for number, text in enumerate(_yaml_texts()):
        try:
            fresh = YamlDocument.parse(text)
        except (yaml.YAMLError, YamlLimitError):
            continue
        source = tmp_path / f"doc{number}.yaml"
        YamlDocument.parse_file(text, source)
        if not cache_path(source).exists():
            continue  # holds a value marshal cannot (a date): parsed every time
        stored += 1
        again = parse_cache.cached_parse(source, text, _parser(), _no_parse)
        assert same(again[0], fresh.data), text
        assert again[1] == fresh._lines, text
    assert stored > 10


def _parser() -> str:
    from trakt_dagster.trakt.yaml_source import _parser_version

    return _parser_version()


def test_a_cached_pipeline_reports_the_same_errors_at_the_same_lines(tmp_path: Path, writes_bytecode: None) -> None:
    folder = tmp_path / "sales"
    (folder / "steps").mkdir(parents=True)
    (folder / "steps" / "__init__.py").write_text("")
    (folder / "steps" / "double.py").write_text("def run(ctx, input):\n    return {'output': input}\n")
    (folder / "pipeline.yaml").write_text(
        "name: sales\ninputs: {src: data.csv}\nsteps:\n"
        "  - id: double\n    uses: steps.double\n    with: {input: nowhere, output: out}\n"
        "outputs:\n  datasets:\n    - {name: final, from: out}\n"
    )
    first = [error.render() for error in load_pipeline_spec(folder / "pipeline.yaml")[1]]
    assert cache_path(folder / "pipeline.yaml").is_file()
    second = [error.render() for error in load_pipeline_spec(folder / "pipeline.yaml")[1]]
    assert first and first == second
    assert "pipeline.yaml:6" in first[0], first
