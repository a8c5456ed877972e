"""The compiled TOML reader (toml-rs) is used only where it reads exactly what `tomllib` reads: the same values
of the same types in the same key order; every document tomllib rejects goes to tomllib, so errors and their
lines stay tomllib's.

Compared on hand-written edge cases (TOML 1.1 syntax that tomllib 1.0 rejects, byte-order marks, deep nesting,
huge numbers, dates with offsets), on every TOML file of the repository, and on generated documents, seeded.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO
from trakt_dagster.pit import toml_source
from trakt_dagster.pit.toml_source import TomlDocument, TomlSyntaxError, _fast_loads


def same(a: object, b: object) -> bool:
    """Equal values of exactly equal types (NaN equals NaN of the same sign; -0.0 is not 0.0; dict key order
    and the time zone objects count)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))  # type: ignore[arg-type]
    if isinstance(a, float):
        assert isinstance(b, float)
        if math.copysign(1.0, a) != math.copysign(1.0, b):
            return False
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dt.datetime | dt.time):
        return a == b and repr(a) == repr(b)
    return a == b


def agree(text: str) -> str:
    """Assert the fast reader agrees with tomllib on `text`; returns which of them read it ("fast", "tomllib"
    or "error": tomllib rejects it and the fast reader left it to tomllib)."""
    fast = _fast_loads(text)
    try:
        expected = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        assert fast is None, f"tomllib rejects it, the fast reader read it: {text[:200]!r}"
        return "error"
    if fast is None:
        return "tomllib"
    assert same(fast, expected), (text[:300], fast, expected)
    return "fast"


def test_the_fast_reader_reads_an_ordinary_pit_toml() -> None:
    text = '[dag]\nname = "x"\nschedule = "0 6 * * *"\n[[tasks]]\nname = "a"\nscript = "a.sh"\n'
    assert toml_source._toml_rs is not None, "toml-rs is a pinned dependency"
    assert agree(text) == "fast"


@pytest.mark.parametrize(
    "text",
    [
        "a = {x = 1,\n y = 2}\n",  # TOML 1.1: newlines in inline tables
        "a = {x = 1, y = 2,}\n",  # TOML 1.1: trailing comma in an inline table
        'a = "\\e"\n',  # TOML 1.1 escape
        'a = "\\x41"\n',  # TOML 1.1 escape
        "a = 07:32\n",  # TOML 1.1: time without seconds
        "a = 1979-05-27T07:32Z\n",
        "\ufeffa = 1\n",  # a byte-order mark tomllib rejects (read_config_text strips one)
        "a = " + "[" * 5000,
        "a = " + "[" * 5000 + "]" * 5000,  # too deep for tomllib
        "a = " + "[" * 300 + "]" * 300,
        "a = " + "{b = " * 200 + "1" + "}" * 200,
        "a = " + "[" * 100_000,  # would overflow toml-rs's stack
        "a = " + "1" * 5000,  # more digits than Python converts
        "a = 1\na = 2\n",
        "[a]\n[a]\n",
        "[a.b]\nc = 1\n[a]\nb.d = 2\n",
        "a = {b = 1}\na.c = 2\n",
        'a = "\x01"\n',
        "a = 1\rb = 2\n",
        'a = "\\uD800"\n',
        "a = 01\n",
        "a = 1979-02-30\n",
        "a = \n",
        "= 1\n",
        "[[t]]\n[t]\n",
        "a = [1, 2,,]\n",
    ],
)
def test_documents_tomllib_rejects_are_left_to_it(text: str) -> None:
    assert agree(text) in ("error", "tomllib")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# only a comment\n",
        'a = 1\nb = "x"\n[t]\nc = [1, 2]\n',
        "a = 99999999999999999999\nb = 9223372036854775807\nc = -9223372036854775808\n",
        "a = 1979-05-27T00:32:00.999999-07:00\nb = 1979-05-27T00:32:00.5\nc = 1979-05-27\nd = 00:32:00.123456789\n",
        "a = 1979-05-27t07:32:00z\nb = 1979-05-27 07:32:00\nc = 1979-05-27T07:32:00+00:00\n",
        "a = inf\nb = -nan\nc = +inf\nd = nan\ne = -0.0\nf = 1e1000\ng = 6.626e-34\nh = 0.1e-400\n",
        "a = 0xDEAD\nb = 0o17\nc = 0b101\nd = 1_000\ne = 1_000.000_1\n",
        '"ü" = 1\n"" = 2\n\'lit\' = 3\na.b.c = 4\n[x.y]\nz = 5\n',
        '[[t]]\nn = 1\n[[t]]\nn = 2\n[t.sub]\nq = 1\n[[t.sub2]]\nr = "s"\n',
        'a = """\nline\\\n  more"""\nb = \'\'\'\nraw\\n\'\'\'\nc = "tab\there"\n',
        'a = [1, "x", 1.0, [2], {b = 3}]\nb = []\nc = {}\n',
        'a = "\\U0001F600 \\u00e9"\nb = "\\"q\\" \\\\ \\b\\f\\n\\r\\t"\n',
        "a = true\nb = false\n# [not a table]\n  [ spaced . table ]  # comment\nc = 1\n",
        "a = 1\r\nb = 2\r\n",
        "a = " + "[" * 90 + "]" * 90,
        "a = 0x" + "f" * 5000,  # no digit limit for hexadecimal integers
        "a = " + "1" * 700 + ".5\n",
        "a = [" + ", ".join(f"[{i}]" for i in range(300)) + "]\n",  # many brackets, shallow
    ],
)
def test_documents_both_read_give_the_same_values(text: str) -> None:
    assert agree(text) in ("fast", "tomllib")


def test_every_toml_file_of_the_repository() -> None:
    files = [
        p
        for p in REPO.rglob("*.toml")
        if not any(part in (".venv", "runs", ".git", "node_modules") or part.startswith(".tmp") for part in p.parts)
    ]
    assert len(files) >= 10, files
    read = {"fast": 0, "tomllib": 0, "error": 0}
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        read[agree(text.removeprefix("\ufeff"))] += 1
    assert read["fast"] >= 10, read


def test_errors_keep_tomllibs_message_and_line() -> None:
    with pytest.raises(TomlSyntaxError) as caught:
        TomlDocument.parse('[dag]\nname = "x"\n[[tasks]]\nname = \n', Path("pit.toml"))
    assert caught.value.line == 4
    assert str(caught.value) == "Invalid value (at line 4, column 8)"
    with pytest.raises(TomlSyntaxError, match="nested too deeply") as deep:
        TomlDocument.parse("a = 1\nb = " + "[" * 600 + "]" * 600 + "\n", Path("pit.toml"))
    assert deep.value.line == 2


# -- generated documents -----------------------------------------------------------------------------------

BARE = st.text("abcXYZ019_-", min_size=1, max_size=6)
QUOTED = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6).map(
    lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
)
KEY = st.one_of(BARE, BARE, QUOTED, st.builds(lambda a, b: f"{a}.{b}", BARE, BARE))
SCALAR = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(
        lambda f: "nan" if math.isnan(f) else ("inf" if f > 0 else "-inf") if math.isinf(f) else repr(f)
    ),
    st.sampled_from(["true", "false", "0x1F", "0o7", "0b11", "1_000", "+1", "-0", "1e3", "1E-3", "3.0e+2"]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8).map(
        lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    ),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="'"), max_size=8).map(
        lambda s: f"'{s}'"
    ),
    st.datetimes(timezones=st.sampled_from([None, dt.UTC, dt.timezone(dt.timedelta(hours=-7, minutes=-30))])).map(
        lambda d: d.isoformat()
    ),
    st.dates().map(str),
    st.times().map(str),
)
JUNK = st.sampled_from(["=", "[", "]", "{", "}", ",", '"', "'", "\\", "#", " ", "\t", "\n", "\r\n", "\x00", "."])


def values(depth: int = 2) -> st.SearchStrategy[str]:
    if depth == 0:
        return SCALAR
    inner = values(depth - 1)
    return st.one_of(
        SCALAR,
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(st.tuples(KEY, inner), max_size=3).map(lambda kv: "{" + ", ".join(f"{k} = {v}" for k, v in kv) + "}"),
    )


LINE = st.one_of(
    st.tuples(KEY, values()).map(lambda kv: f"{kv[0]} = {kv[1]}"),
    st.tuples(KEY, values()).map(lambda kv: f"{kv[0]} = {kv[1]}"),
    KEY.map(lambda k: f"[{k}]"),
    KEY.map(lambda k: f"[[{k}]]"),
    st.just("# a comment [x] = {"),
    st.just(""),
)


@settings(max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINE, max_size=12), st.lists(st.tuples(st.integers(0, 400), JUNK), max_size=2))
def test_generated_documents(lines: list[str], junk: list[tuple[int, str]]) -> None:
    text = "\n".join(lines) + "\n"
    for position, piece in junk:  # now and then a stray character, so that rejected documents are compared too
        position = min(position, len(text))
        text = text[:position] + piece + text[position:]
    agree(text)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(st.integers(1, 40), st.randoms(use_true_random=False))
def test_generated_pit_projects(tasks: int, rnd) -> None:  # noqa: ANN001 - hypothesis' Random
    text = f'# DAG of {tasks} tasks\n[dag]\nname = "p{tasks}"\nschedule = "0 6 * * *"\n'
    if rnd.random() < 0.5:
        text += '[dag.dagster]\nmax_parallel = 2\nkeep_days = 7.5\n[dag.sql]\nconnection = "db"\n'
    for i in range(tasks):
        text += f'\n[[tasks]]\nname = "t{i}"\nscript = "tasks/t{i}.{rnd.choice(["py", "sh", "sql"])}"\n'
        if i:
            deps = sorted({f"t{rnd.randrange(i)}" for _ in range(rnd.randint(1, 3))})
            text += f"depends_on = [{', '.join(repr(d).replace(chr(39), chr(34)) for d in deps)}]\n"
        if rnd.random() < 0.3:
            text += f'timeout = "{rnd.randint(1, 90)}m"\nretries = {rnd.randint(0, 3)}\n'
    text += '[[outputs]]\nname = "report"\nrecipients = ["a@example.com"]\n'
    assert agree(text) == "fast"
    doc = TomlDocument.parse(text, Path("pit.toml"))
    assert doc.line_of("tasks", "name", index=tasks - 1) is not None


@pytest.mark.parametrize(
    "raw",
    [
        b"# Daily sales.\n# Second line.\n[dag]\nname = 'x'\n",
        b"#!/usr/bin/env pit\n\n## Banner\n# text\r\n[dag]\n",
        b"\xef\xbb\xbf# With a byte-order mark.\n[dag]\n",
        b"[dag]\n# not leading\n",
        b"# -*- coding: utf-8 -*-\n[dag]\n",
        b"# caf\xc3\xa9 \xe2\x80\xa8 sep\r# cr only\r[dag]\r",
        b"# big\n" + b"# " + "é".encode() * 60_000 + b"\n[dag]\n",  # over the 200 kB a description is read from
        b"# big by characters only\n" + b"#" + b"x" * 49_990 + b"\n",
    ],
)
def test_the_files_leading_comment_is_what_reading_the_file_gives(tmp_path: Path, raw: bytes) -> None:
    from trakt_dagster.core.source_text import leading_comment

    path = tmp_path / "pit.toml"
    path.write_bytes(raw)
    try:
        doc = TomlDocument.read(path)
    except TomlSyntaxError:
        doc = TomlDocument(path=path, data={}, text=raw.decode("utf-8").removeprefix("\ufeff"))
        doc.had_bom = raw.startswith(b"\xef\xbb\xbf")
    assert doc.leading_comment() == leading_comment(path)
