"""The one-pass libyaml reader gives exactly what PyYAML's node-based safe loading gives: the same values (YAML
1.1 types included) and the same line for every key path; documents it does not take go to the slow path.

Compared on hand-written edge cases, on every YAML file of the repository, and on generated documents (random
nested values dumped in block, flow and mixed styles, with comments), seeded.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO
from trakt_dagster.trakt import yaml_source
from trakt_dagster.trakt.yaml_fast import NotFast, load_with_lines


def slow(text: str) -> tuple[object, dict]:
    """PyYAML's pure-Python composer and safe constructor, with the key lines the slow path indexes."""
    loader = yaml_source._BoundedLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    lines: dict = {}
    if node is not None:
        yaml_source._index(node, (), lines)
    return data, lines


def same(a: object, b: object) -> bool:
    """Equal values of equal types (NaN equals NaN; dict key order counts)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def check_same(text: str) -> bool:
    """True when the fast path took the document (and then it must agree), False when it left it."""
    try:
        fast = load_with_lines(text, 100, 100_000)
    except NotFast:
        return False
    data, lines = slow(text)
    assert same(fast[0], data), (text, fast[0], data)
    assert fast[1] == lines, (text, fast[1], lines)
    return True


FAST_CASES = [
    "a: yes\nb: No\nc: on\nd: OFF\ne: ~\nf: null\ng:\nh: ''\n",
    "i: 0x1F\nj: 0o17\nk: 017\nl: 1_000\nm: 1:30\nn: -12\no: +3\np: 0b101\n",
    "f1: 1.5\nf2: .inf\nf3: -.Inf\nf4: .nan\nf5: 1e3\nf6: 6.8523015e+5\nf8: 190:20:30.15\n",
    "d1: 2024-01-02\nd2: 2024-01-02T03:04:05Z\nd3: 2001-12-14 21:59:43.10 -5\n",
    "k: 1\nk: 2\n1: int\ntrue: b\n? x\n: y\n",
    "s: |\n  line1\n  line2\nt: >\n  folded\n  text\nu: 'q'\nv: \"d\\n\"\n",
    "- a\n- b: 1\n  c: [x, y]\n-\n  - nested\n",
    "steps:\n  - id: a\n    uses: steps.a\n    with: {input: src, factor: {const: 2}, output: v}\n",
    "",
    "# only a comment\n",
    "---\nx: 1\n...\n",
    "plain scalar",
    "x:\n  - - - - deep\n",
    "é: ü\n",
    "on: off\ny: n\n",
]
SLOW_CASES = [
    "x: 1\n---\ny: 2\n",  # two documents
    "a: &x 1\nb: *x\n",  # anchors and aliases
    "<<: {a: 1}\nb: 2\n",  # a merge key
    "t: !!str 12\n",  # an explicit tag
    "=: v\n",  # the value key
    "x: 2024-02-30\n",  # a date that does not exist
    "n: " + "9" * 5000 + "\n",  # more digits than int() converts
    "key: value: colon\n",  # a syntax error
    "[a, b]: c\n",  # a list as a key
    "a:\n" + "".join("  " * i + "- \n" for i in range(1, 120)),  # deeper than the bound
    "a: \x07\n",  # a character YAML does not allow
]


@pytest.mark.parametrize("text", FAST_CASES)
def test_plain_documents_are_read_in_one_pass_with_the_same_values_and_lines(text: str) -> None:
    assert check_same(text)


@pytest.mark.parametrize("text", SLOW_CASES)
def test_unusual_documents_go_to_the_pure_python_path(text: str) -> None:
    assert not check_same(text)


def test_the_repositorys_yaml_files_read_the_same() -> None:
    files = [p for p in REPO.rglob("*.y*ml") if ".venv" not in p.parts and "node_modules" not in p.parts]
    assert files
    taken = sum(check_same(p.read_text(encoding="utf-8", errors="replace")) for p in files)
    assert taken >= len(files) // 2  # most are plain; whichever are not were compared by the slow path only


def test_values_limits_the_fast_path_to_the_callers_bound() -> None:
    text = "items: [" + ", ".join(str(i) for i in range(50)) + "]\n"
    with pytest.raises(NotFast):
        load_with_lines(text, 100, 20)
    assert load_with_lines(text, 100, 100)[0]["items"][49] == 49


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=True, width=32),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 1, 1)),
    st.sampled_from(["yes", "No", "on", "off", "~", "null", "0x1f", "017", "1_000", "1:30", ".inf", "2024-01-02"]),
    st.text(alphabet="abcxyz_-. :#'\"019é", max_size=12),
)
KEYS = st.one_of(st.text(alphabet="abcxyz_019", min_size=1, max_size=8), st.integers(0, 99), st.booleans())
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(value=VALUES, flow=st.sampled_from([None, True, False]), comment=st.booleans())
def test_generated_documents_read_the_same(value: object, flow: bool | None, comment: bool) -> None:
    text = yaml.safe_dump(value, default_flow_style=flow, allow_unicode=True, sort_keys=False)
    if comment:
        text = "# a pipeline\n" + text.replace("\n", "  # note\n", 1) if "\n" in text[:-1] else text
    try:
        slow(text)
    except yaml.YAMLError:
        return  # a comment inside a flow or block scalar: not a document to compare
    check_same(text)


def test_parse_reports_errors_with_pyyamls_message_and_line(tmp_path: Path) -> None:
    with pytest.raises(yaml.YAMLError) as raised:
        yaml_source.YamlDocument.parse("steps:\n  - id: a\n   uses: b\n")
    assert raised.value.problem_mark.line + 1 == 3
    with pytest.raises(yaml_source.YamlLimitError, match="a value YAML cannot construct"):
        yaml_source.YamlDocument.parse("d: 2024-02-30\n")
