"""Every class of bad input is a load error naming the file (and line, key), never an escaping exception or
a stall: encodings, NUL bytes, nesting, YAML aliases, values the parsers cannot construct, wrong types, names
and paths no file system takes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import write_files
from trakt_dagster.cli import main as cli
from trakt_dagster.core.definitions import load_graphs
from trakt_dagster.core.errors import LoadError
from trakt_dagster.trakt.loader import load_pipeline_spec

BOUND_S = 20
"""Generous bound for loads that must not stall (each takes well under a second)."""
TRAKT_OK = "inputs: {src: a.csv}\noutputs: {final: src}\n"


def trakt_errors(tmp_path: Path, text: str | bytes) -> list[LoadError]:
    path = tmp_path / "pipelines" / "p" / "pipeline.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    started = time.monotonic()
    spec, errors = load_pipeline_spec(path)
    assert time.monotonic() - started < BOUND_S
    assert spec is None and errors
    assert all(e.location is not None and e.location.file == path for e in errors)
    return errors


def one(errors: list[LoadError]) -> LoadError:
    assert len(errors) == 1, [e.render() for e in errors]
    return errors[0]


# -- trakt YAML --------------------------------------------------------------------------------------------
def test_yaml_not_utf8_names_the_line(tmp_path: Path) -> None:
    error = one(trakt_errors(tmp_path, b"name: p\ninputs: {src: caf\xe9.csv}\n"))
    assert error.location.line == 2 and "line 2 is not valid UTF-8 (byte 0xe9 at column 18)" in error.message


def test_yaml_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = write_files(tmp_path, {"p/a.csv": "id\n1\n"}) / "p" / "pipeline.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + TRAKT_OK.encode())
    spec, errors = load_pipeline_spec(path)
    assert errors == [] and spec.inputs[0].name == "src"


def test_yaml_nul_byte_names_the_line(tmp_path: Path) -> None:
    error = one(trakt_errors(tmp_path, "name: p\nsteps:\n  - id: a\x00\n"))
    assert error.location.line == 3 and "unacceptable character #x0000" in error.message


@pytest.mark.parametrize(
    "text",
    ["steps: " + "[" * 5000 + "]" * 5000, "steps:\n" + "".join("  " * d + f"k{d}:\n" for d in range(3000))],
    ids=["flow", "block"],
)
def test_yaml_nested_thousands_deep_is_refused_quickly(tmp_path: Path, text: str) -> None:
    error = one(trakt_errors(tmp_path, text))
    assert "nested more than 100 levels deep" in error.message and error.location.line is not None


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    error = one(trakt_errors(tmp_path, "inputs: {src: a.csv}\nsteps: &s\n  - *s\n"))
    assert "recursive alias" in error.message and error.location.line == 2  # the anchored value


def test_alias_bomb_is_refused_in_bounded_time(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")  # 9**9 values when expanded
    lines.append("steps: *i")
    error = one(trakt_errors(tmp_path, "\n".join(lines) + "\n"))
    assert "expands to more than 100000 values through aliases" in error.message


def test_small_aliases_still_work(tmp_path: Path) -> None:
    path = write_files(tmp_path, {"p/a.csv": "id\n1\n"}) / "p" / "pipeline.yaml"
    path.write_text("x: &src a.csv\ninputs: {src: *src}\noutputs: {final: src}\n")
    spec, errors = load_pipeline_spec(path)
    assert errors == [] and spec.inputs[0].source == "a.csv"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-02-30", "day is out of range for month"),
        ("1" * 5000, "Exceeds the limit (4300 digits)"),
        ("!!timestamp nope", "a value YAML cannot construct"),
        ("!!int abc", "invalid literal for int()"),
        ("!!python/object:os.system x", "could not determine a constructor"),
    ],
)
def test_values_yaml_cannot_construct_name_their_line(tmp_path: Path, value: str, expected: str) -> None:
    error = one(trakt_errors(tmp_path, f"name: p\ninputs: {{src: a.csv}}\nsteps:\n  - id: s\n    uses: {value}\n"))
    assert expected in error.message and error.location.line == 5
    assert len(error.message) < 600


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("steps: 3\n", "steps", "Pipeline 'steps' must be a list."),
        ("inputs: [a, b]\n", "inputs", "Pipeline 'inputs' must be a mapping."),
        ("name: [1, 2]\n", "name", "Pipeline 'name' must be a string, not list"),
        ("inputs: {src: {uri: a.csv, kind: [1]}}\n", "inputs.src.kind", "field 'kind' must be a non-empty string"),
        ("inputs: {src: {uri: {x: 1}}}\n", "inputs.src.uri", "field 'uri' must be a string, not dict"),
        ("inputs: {src: {uri: a.csv, combine_strategy: [1]}}\n", "inputs.src.combine_strategy", "invalid value [1]"),
        ("inputs: {src: {uri: a.csv, metadata: 7}}\n", "inputs.src.metadata", "must be a mapping"),
        ("dagster: {granularity: [step]}\n", "dagster.granularity", "must be 'pipeline' or 'step', got ['step']"),
        ("dagster: {input_dir: 5}\n", "dagster.input_dir", "must be a non-empty string"),
        ("dagster: {owners: team}\n", "dagster.owners", "must be a list of strings"),
        ("execution: {mode: [batch]}\n", "execution.mode", "must be a string"),
        ("steps:\n  - id: [a]\n    uses: x\n", "steps[0].id", "missing string 'id'. (got list ['a'])"),
        ("steps:\n  - id: a\n    uses: !!binary 'QUJD'\n", "steps[0].uses", "(got bytes b'ABC')"),
        ("steps:\n  - id: a\n    uses: x\n    with: [1]\n", "steps[0].with", "field 'with' must be a mapping"),
        ("outputs: {datasets: {a: b}}\n", "outputs.datasets", "must be a list"),
        ("outputs: {datasets: [{name: x, from: src, uri: [1]}]}\n", "outputs.datasets[0].uri", "must be a string"),
    ],
)
def test_wrong_types_anywhere_are_errors_at_their_key(tmp_path: Path, text: str, key: str, expected: str) -> None:
    errors = trakt_errors(tmp_path, "inputs: {src: a.csv}\n" + text if not text.startswith("inputs") else text)
    error = next((e for e in errors if e.location.key == key), None)
    assert error is not None, [e.render() for e in errors]
    assert expected in error.message, error.message
    assert error.location.line is not None and error.hint


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("{unique_keys: 5}", "unique_keys must be a list"),
        ("{row_count: [1]}", "row_count must be a mapping, got list"),
        ("{mode: 5}", "mode must be 'warn' or 'fail', got 5"),
        ("{max_null_ratio: {a: x}}", "max_null_ratio for 'a' must be a number"),
        ("{gate_modes: [1]}", "gate_modes must be a mapping"),
        ("[1, 2]", "must be a mapping, got list"),
    ],
)
def test_quality_gate_policies_of_wrong_types(tmp_path: Path, policy: str, expected: str) -> None:
    text = (
        "inputs: {src: a.csv}\nsteps:\n  - id: gate\n    uses: trakt.steps.quality_gate\n"
        f"    with: {{input: src, policy: {{const: {policy}}}, output: checked}}\noutputs: {{final: checked}}\n"
    )
    error = one(trakt_errors(tmp_path, text))
    assert expected in error.message and error.location.key == "steps[0].with.policy"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [('"a\\0b.csv"', "contains a NUL byte"), ("x" * 300 + ".csv", "has a part of 304 bytes")],
    ids=["nul", "long"],
)
def test_paths_no_file_system_takes(tmp_path: Path, uri: str, expected: str) -> None:
    error = one(trakt_errors(tmp_path, f"inputs: {{src: {uri}}}\noutputs: {{final: src}}\n"))
    assert expected in error.message and error.location.key == "inputs.src"
    assert len(error.message) < 300  # a short excerpt, not the whole value


def test_messages_quote_only_an_excerpt_of_a_bad_value(tmp_path: Path) -> None:
    error = one(trakt_errors(tmp_path, f"inputs: {{src: {{uri: a.csv, combine_strategy: {'m' * 20000}}}}}\n"))
    assert "(20000 characters)" in error.message and len(error.message) < 300


def test_files_too_large_are_not_read(tmp_path: Path) -> None:
    error = one(trakt_errors(tmp_path, b"# " + b"x" * (16 * 1024 * 1024) + b"\n"))
    assert "larger than 16 MiB" in error.message


# -- names ---------------------------------------------------------------------------------------------------
def test_names_no_file_system_or_dagster_takes(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "pipelines/nul/pipeline.yaml": 'name: "a\\0b"\n' + TRAKT_OK,
            "pipelines/nul/a.csv": "id\n1\n",
            "pipelines/long/pipeline.yaml": f"name: {'n' * 250}\n" + TRAKT_OK,
            "pipelines/long/a.csv": "id\n1\n",
            "projects/longtask/pit.toml": f'[[tasks]]\nname = "{"t" * 300}"\nscript = "t.sh"\n',
            "projects/longtask/t.sh": "echo\n",
        },
    )
    graphs, errors = load_graphs(tmp_path)
    assert graphs == []
    rendered = {e.pipeline: e.message for e in errors}
    assert "contains a NUL byte" in rendered["nul"]
    assert "is 250 bytes long (at most 200)" in rendered["long"]  # an unusable name: named by its folder
    assert "the task name" in rendered["longtask"] and "is 300 bytes long" in rendered["longtask"]


# -- pit TOML ----------------------------------------------------------------------------------------------
def pit_errors(tmp_path: Path, text: str | bytes, files: dict[str, str] | None = None) -> list[LoadError]:
    write_files(tmp_path, {"projects/p/t.sh": "echo\n", **(files or {})})
    path = tmp_path / "projects" / "p" / "pit.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    started = time.monotonic()
    graphs, errors = load_graphs(tmp_path)
    assert time.monotonic() - started < BOUND_S
    assert graphs == [] and errors
    assert all(e.pipeline == "p" for e in errors)
    return errors


TASK = '[[tasks]]\nname = "t"\nscript = "t.sh"\n'


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        (b'[dag]\nname = "caf\xe9"\n' + TASK.encode(), 2, "line 2 is not valid UTF-8"),
        ("[dag]\nx = " + "[" * 3000 + "]" * 3000 + "\n" + TASK, 2, "nested too deeply"),
        ('[dag]\nname = "p"\n\n[dag.dagster]\nmax_parallel = ' + "1" * 5000 + "\n" + TASK, 5, "Exceeds the limit"),
        ("[dag]\ntimeout = 1979-02-30\n" + TASK, 2, "Invalid date or datetime"),
        ('[dag]\nname = "x\x00"\n' + TASK, 2, "Illegal character"),
    ],
    ids=["not-utf8", "deep", "huge-int", "bad-date", "nul"],
)
def test_toml_the_parser_cannot_read_names_the_line(tmp_path: Path, text, line: int, expected: str) -> None:
    error = one(pit_errors(tmp_path, text))
    assert expected in error.message and error.location.line == line, error.render()


def test_toml_wrong_types_and_ranges(tmp_path: Path) -> None:
    text = (
        '[dag]\nname = "p"\ntimeout = "99999999999999999999h"\n[dag.dagster]\nmax_parallel = 9223372036854775808\n'
        '[[tasks]]\nname = "t"\nscript = "t.sh"\nretries = "3"\ndepends_on = "a"\n'
    )
    by_key = {e.location.key: e for e in pit_errors(tmp_path, text)}
    assert "out of range" in by_key["dag.timeout"].message and by_key["dag.timeout"].location.line == 3
    assert "must be a integer, not an integer out of range" in by_key["dag.dagster.max_parallel"].message
    assert "'retries' must be a integer, not str" in by_key["tasks[0].retries"].message
    assert by_key["tasks[0].depends_on"].location.line == 10


def test_toml_long_lines_and_long_paths_do_not_stall_or_crash(tmp_path: Path) -> None:
    text = "[" + " " * 20000 + "x\n" + '[[tasks]]\nname = "t"\nscript = "' + "s" * 5000 + '.sh"\n'
    errors = pit_errors(tmp_path, text)
    assert any("has a part of 5003 bytes" in e.message for e in errors) or any(
        "Invalid TOML" in e.message for e in errors
    )
    error = one(pit_errors(tmp_path, '[[tasks]]\nname = "t"\nscript = "' + "s" * 5000 + '.sh"\n'))
    assert "is 5003 bytes long" in error.message or "has a part of 5003 bytes" in error.message
    assert error.location.key == "tasks[0].script" and len(error.message) < 300


def test_task_name_with_a_nul_byte(tmp_path: Path) -> None:
    error = one(pit_errors(tmp_path, '[[tasks]]\nname = "a\\u0000b"\nscript = "t.sh"\n'))
    assert "contains a NUL byte" in error.message


def test_a_broken_secrets_file_stops_pit_projects_only(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "pit_config.toml": 'secrets_dir = "secrets.toml"\n',
            "secrets.toml": "[global]\nx = " + "[" * 3000 + "]" * 3000 + "\n",
            "projects/p/pit.toml": TASK,
            "projects/p/t.sh": "echo\n",
            "projects/q/pit.toml": TASK,
            "projects/q/t.sh": "echo\n",
            "pipelines/good/pipeline.yaml": TRAKT_OK,
            "pipelines/good/a.csv": "id\n1\n",
        },
    )
    graphs, errors = load_graphs(tmp_path)
    assert [g.name for g in graphs] == ["good"]
    assert {e.pipeline for e in errors} == {"p", "q"}
    assert all("secrets.toml" in str(e.location.file) and "nested too deeply" in e.message for e in errors)
    done = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert done.exit_code == 1 and "(this stops pipelines p, q)" in done.stderr


def test_pit_validate_reports_everything_in_one_pass_with_key_lines(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "projects/p/pit.toml": (
                '[dag]\nname = "p"\nschedule = "61 * * * *"\noverlap = "sometimes"\ntimeout = 5\n'
                '[[tasks]]\nname = "extract"\nscript = "missing.py"\nretries = "two"\ndepend_on = ["x"]\n'
                '[[tasks]]\nname = "load"\nscript = "t.sh"\ndepends_on = ["extrct"]\n'
            ),
            "projects/p/t.sh": "echo\n",
        },
    )
    done = CliRunner().invoke(cli, ["pit", "validate", "--root", str(tmp_path)])
    assert done.exit_code == 1
    out = done.stderr
    for where, text in [
        ("pit.toml:3 (key dag.schedule)", "61"),
        ("pit.toml:4 (key dag.overlap)", 'invalid overlap "sometimes"'),
        ("pit.toml:5 (key dag.timeout)", "'timeout' must be a string, not int"),
        ("pit.toml:8 (key tasks[0].script)", 'script "missing.py" not found'),
        ("pit.toml:9 (key tasks[0].retries)", "'retries' must be a integer, not str"),
        ("pit.toml:14 (key tasks[1].depends_on)", 'depends on unknown task "extrct"'),
    ]:
        assert where in out and text in out.split(where, 1)[1].split("\n", 1)[0], (where, out)
    assert "Unknown key 'depend_on' in [[tasks]] 'extract': pit ignores it." in out
    assert out.endswith("Error: validation found 6 error(s)\n")  # pit's own summary line, all six in one pass


# -- Python modules ----------------------------------------------------------------------------------------
FLOWRUN = (
    "from flowrun import build_default_engine\n\nengine = build_default_engine()\nflow = engine.dag('{name}')\n\n\n"
    "@flow.task()\ndef greet():\n    return 'caf\u00e9'\n"
)


def test_pep_263_latin_1_module_loads_and_runs(tmp_path: Path, instance) -> None:
    from tests.conftest import execute_dag

    path = tmp_path / "pipelines" / "latin" / "dag.py"
    path.parent.mkdir(parents=True)
    path.write_bytes(("# -*- coding: latin-1 -*-\n" + FLOWRUN.format(name="latin")).encode("latin-1"))
    graphs, errors = load_graphs(tmp_path)
    assert errors == [] and [g.name for g in graphs] == ["latin"]
    result = execute_dag(tmp_path, "latin", instance)
    assert result.success


@pytest.mark.parametrize(
    ("data", "line", "expected"),
    [
        (b"# -*- coding: no-such-codec -*-\n" + FLOWRUN.format(name="x").encode(), 1, "no-such-codec"),
        (FLOWRUN.format(name="x").encode("latin-1"), 9, "is not valid utf-8 text: byte b'\\xe9' at line 9"),
        (b"import flowrun\nx = 1\x00\n", None, "null bytes"),
        (b"import flowrun\nx = " + b"(" * 300 + b"1" + b")" * 300 + b"\n", 2, "too many nested parentheses"),
        (b"import flowrun\nraise RecursionError('deep')\n", 2, "RecursionError: deep"),
        (b"import flowrun\nraise SystemExit(3)\n", 2, "SystemExit: 3"),
    ],
    ids=["bogus-cookie", "latin1-without-cookie", "nul", "deep", "recursion", "exit"],
)
def test_python_modules_that_cannot_be_imported(tmp_path: Path, data: bytes, line, expected: str) -> None:
    path = tmp_path / "pipelines" / "m" / "dag.py"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    graphs, errors = load_graphs(tmp_path)
    assert graphs == []
    error = next(e for e in errors if e.location is not None and e.location.file.name == "dag.py")
    assert expected in error.message, error.render()
    assert error.pipeline == "m" and (line is None or error.location.line == line)


def test_flowrun_module_settings_and_task_options_of_wrong_types(tmp_path: Path) -> None:
    text = (
        "from trakt_dagster.flowrun import Pipeline\n\n"
        "flowrun_batch_interval_s = 'often'\nflowrun_retry_delay_s = {'a': -1}\nflowrun_context = 5\n"
        "flowrun_persist_values = 'no'\n\npipe = Pipeline('typed')\n\n\n"
        "@pipe.task(retries='3')\ndef a():\n    return 1\n"
    )
    path = write_files(tmp_path, {"pipelines/typed/dag.py": text}) / "pipelines" / "typed" / "dag.py"
    graphs, errors = load_graphs(tmp_path)
    assert graphs == []
    by_key = {e.location.key: e for e in errors if e.location.file == path}
    assert "must be a number from 1 to" in by_key["flowrun_batch_interval_s"].message
    assert by_key["flowrun_batch_interval_s"].location.line == 3
    assert "flowrun_retry_delay_s['a'] must be a number from 0" in by_key["flowrun_retry_delay_s"].message
    assert "must be a callable" in by_key["flowrun_context"].message
    assert "must be True or False, not 'no'" in by_key["flowrun_persist_values"].message
    assert "retries must be a whole number from 0 to 1000, not '3'" in by_key["task 'a'"].message
