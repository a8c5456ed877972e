"""The load's cheap ways of building metadata give exactly what Dagster's validating constructors give."""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg
from dagster._serdes import deserialize_value, serialize_value

from trakt_dagster.core.errors import SourceLocation
from trakt_dagster.core.metadata import TaskMetadataSet, code_references, metadata_entries
from trakt_dagster.pit.metadata import PitTaskMetadataSet


def validated(*refs: tuple[str, int | None, str]) -> dg.CodeReferencesMetadataValue:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.CodeReferencesMetadataValue(
            code_references=[dg.LocalFileCodeReference(file_path=p, line_number=n, label=label) for p, n, label in refs]
        )


def test_code_references_equal_the_validated_value_and_serialize_the_same() -> None:
    found = code_references(
        [
            SourceLocation(Path("/p/projects/a/pit.toml"), 12, "tasks[0]"),
            SourceLocation(Path("/p/projects/a/tasks/t.sh"), 1, "script"),
            SourceLocation(Path("/p/projects/a/tasks/t.sh"), 1, "script"),  # a duplicate: once
            None,
            SourceLocation(Path("/p/projects/a/notes.md")),
        ]
    )
    expected = validated(
        ("/p/projects/a/pit.toml", 12, "pit.toml, tasks[0]"),
        ("/p/projects/a/tasks/t.sh", 1, "t.sh, script"),
        ("/p/projects/a/notes.md", None, "notes.md"),
    )
    assert found == expected
    assert serialize_value(found) == serialize_value(expected)
    assert deserialize_value(serialize_value(found), dg.CodeReferencesMetadataValue) == expected
    assert found.model_fields_set == expected.model_fields_set
    assert [r.model_fields_set for r in found.code_references] == [r.model_fields_set for r in expected.code_references]
    assert code_references([None]) is None


def test_a_relative_path_or_a_line_of_another_type_goes_through_dagsters_constructor() -> None:
    relative = code_references([SourceLocation(Path("pit.toml"), 3, "dag")])
    assert relative == validated((str(Path("pit.toml").absolute()), 3, "pit.toml, dag"))
    coerced = code_references([SourceLocation(Path("/p/pit.toml"), 3.0, None)])  # type: ignore[arg-type]
    assert coerced == validated(("/p/pit.toml", 3, "pit.toml"))
    assert type(coerced.code_references[0].line_number) is int


def test_metadata_entries_equal_the_metadata_set() -> None:
    values = {"tool": "pit", "pipeline": "p", "task": "t", "defined_at": "p.toml:3", "retries": None}
    assert metadata_entries(TaskMetadataSet, **values) == dict(TaskMetadataSet(**values))
    assert list(metadata_entries(TaskMetadataSet, task="t", tool="pit")) == ["trakt/tool", "trakt/task"]
    pit = {"kind": "bash", "depends_on": dg.MetadataValue.json(["a"]), "script": "t.sh", "runner": None}
    assert metadata_entries(PitTaskMetadataSet, **pit) == dict(PitTaskMetadataSet(**pit))
    # an unknown field, even when None, goes to the model, which rejects it
    try:
        metadata_entries(TaskMetadataSet, nonsense=None)
    except Exception as exc:  # noqa: BLE001 - pydantic's error type
        assert "nonsense" in str(exc)
    else:
        raise AssertionError("an unknown field was accepted")
