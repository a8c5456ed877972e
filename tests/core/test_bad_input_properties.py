"""Property tests: mutated copies of the bundled examples, loaded next to one good pipeline of each tool.

Each case writes one mutated file (bytes, lines, values of other types, deep nesting, YAML aliases, Python
encodings) into a fresh folder beside the good pipelines and loads the whole root. Whatever the mutation,
loading returns (no exception escapes, within a generous time bound), the good pipelines load, and the
mutated pipeline either loads or has a load error naming the mutated file. Seeded (derandomized), a few
hundred cases in all.
"""

from __future__ import annotations

import ast
import itertools
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO, write_files
from tests.ductaflow.conftest import flow, write_project
from tests.loom.conftest import ORDERS_FLOW, loom_folder
from trakt_dagster.core.definitions import load_graphs

CASE_SECONDS = 30
"""Bound for one load of the root (usually well under a second; generous for a loaded machine)."""
GOOD = {
    "pipelines/anchor_trakt/pipeline.yaml": "inputs: {src: a.csv}\noutputs: {final: src}\n",
    "pipelines/anchor_trakt/a.csv": "id\n1\n",
    "projects/anchor_pit/pit.toml": '[dag]\nname = "anchor_pit"\n[[tasks]]\nname = "t"\nscript = "t.sh"\n',
    "projects/anchor_pit/t.sh": "echo t\n",
    "pipelines/anchor_flowrun/dag.py": (
        "from flowrun import build_default_engine\n\nengine = build_default_engine()\n"
        'anchor = engine.dag("anchor_flowrun")\n\n\n@anchor.task()\ndef one():\n    return 1\n'
    ),
}
GOOD_NAMES = {"anchor_trakt", "anchor_pit", "anchor_flowrun", "anchor_ductaflow__clean", "AnchorLoom"}
SETTINGS = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
_counter = itertools.count()
PIPELINE_CALLS = ("Pipeline", ".dag", "workflow")
"""How the example modules define their pipelines besides loom's classes (a flowrun DAG, a trakt workflow)."""


def defines_no_pipeline(data: bytes) -> bool:
    """A Python module that names no tool at all, or that parses but no longer defines a pipeline (e.g. cut
    down to its imports): no front end has anything to load or to report, which is right."""
    if not any(tool in data for tool in (b"loom", b"flowrun", b"trakt", b"ductaflow")):
        return True
    try:
        tree = ast.parse(data.decode("utf-8"))
    except (UnicodeDecodeError, SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any("ETLPipeline" in ast.unparse(b) for b in node.bases):
            return False
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith(PIPELINE_CALLS):
            return False
    return True


# -- values of the wrong kind, written as they would appear in a file ------------------------------------
YAML_VALUES = [
    "",
    "null",
    "~",
    "[]",
    "{}",
    "[1, 2]",
    "{a: 1}",
    "1" * 5000,
    "2024-02-30",
    "!!binary '@@@'",
    "!!python/object:os.system x",
    "!!timestamp nope",
    "!!int abc",
    '"' + "x" * 20000 + '"',
    '"a\\0b"',
    "-1",
    "1e999",
    "yes",
    "&a [*a]",
    "*undefined",
    "? [a]\n  : b",
]
TOML_VALUES = [
    '""',
    "5",
    "-1",
    "1" * 5000,
    "9223372036854775808",
    '[1, "a"]',
    "{a = 1}",
    "1979-02-30",
    "true",
    '"\\u0000"',
    '"' + "y" * 20000 + '"',
    "[" * 3000 + "]" * 3000,
    '"99999999999999999999h"',
    "nan",
    "[]",
]
PYTHON_LINES = [
    "raise SystemExit(3)",
    "import no_such_module_anywhere",
    "x = (",
    "\x00",
    "(" * 300 + ")" * 300,
    "x = " + "[" * 150 + "]" * 150,
    "def f(:",
    "flowrun_batch_interval_s = 'often'",
    "flowrun_retry_delay_s = -1",
    "flowrun_context = 5",
    "flowrun_persist_values = 'no'",
    "raise RecursionError('deep')",
    "raise MemoryError",
    "name = '" + "z" * 30000 + "'",
    "\udcff",
]


@st.composite
def text_mutation(draw, text: str, values: list[str], fmt: str) -> bytes:
    """One mutation of `text`: bytes, lines, a value of another type, deep nesting, aliases, encodings."""
    lines = text.splitlines(keepends=True) or ["\n"]
    kind = draw(st.sampled_from(["bytes", "lines", "value", "nesting", "special"]))
    raw = text.encode("utf-8")
    if kind == "bytes":
        at = draw(st.integers(0, len(raw)))
        junk = draw(st.sampled_from([b"\x00", b"\xff\xfe", b"\xc3", b"\x80abc", b"\t", b"\r", b"\x1b[", b"}{]["]))
        cut = draw(st.integers(0, 4))
        return raw[:at] + junk + raw[at + cut :]
    if kind == "lines":
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "truncate", "dedent", "indent"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "truncate":
            lines = lines[:i]
        elif op == "dedent":
            lines[i] = lines[i].lstrip()
        else:
            lines[i] = "   " + lines[i]
        return "".join(lines).encode("utf-8", "surrogateescape")
    if kind == "value":
        sep = ":" if fmt in ("yaml", "json") else "="
        candidates = [n for n, line in enumerate(lines) if sep in line]
        value = draw(st.sampled_from(values))
        if fmt == "python" or not candidates:
            lines.insert(draw(st.integers(0, len(lines))), value + "\n")
        else:
            n = draw(st.sampled_from(candidates))
            head = lines[n].split(sep, 1)[0]
            lines[n] = f"{head}{sep} {value}\n"
        return "".join(lines).encode("utf-8", "surrogateescape")
    if kind == "nesting":
        depth = draw(st.sampled_from([50, 120, 1000, 5000]))
        if fmt == "json":
            return ('{"x": ' + "[" * depth + "1" + "]" * depth + "}").encode("utf-8")
        if fmt == "yaml":
            block = "".join("  " * d + f"k{d}:\n" for d in range(min(depth, 400)))
            nested = draw(st.sampled_from(["x: " + "[" * depth + "]" * depth, "x:\n" + block]))
        elif fmt == "toml":
            nested = "x = " + "[" * depth + "1" + "]" * depth
        else:
            nested = "x = " + "(" * depth + "1" + ")" * depth
        return (text + "\n" + nested + "\n").encode("utf-8")
    if fmt == "yaml":
        special = draw(
            st.sampled_from(
                [
                    'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
                    + "".join(f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]\n" for p, c in zip("abcdefgh", "bcdefghi")),
                    "loop: &loop\n  self: *loop\n",
                    "inputs: &i\n  again: *i\n",
                    "%YAML 1.1\n---\n" + text + "\n---\nsecond: doc\n",
                    "\ufeff" + text,
                ]
            )
        )
        return special.encode("utf-8") if special.startswith(("%", "\ufeff")) else (text + "\n" + special).encode()
    if fmt == "python":
        choice = draw(st.sampled_from(["latin1", "bogus", "nocookie", "bom"]))
        body = text + "\nlabel = 'café'\n"
        if choice == "latin1":
            return ("# -*- coding: latin-1 -*-\n" + body).encode("latin-1", "replace")
        if choice == "bogus":
            return ("# -*- coding: no-such-codec -*-\n" + body).encode("utf-8")
        if choice == "nocookie":
            return body.encode("latin-1", "replace")
        return b"\xef\xbb\xbf" + body.encode("utf-8")
    value = draw(st.sampled_from(values))
    if fmt == "json":
        return draw(st.sampled_from([value, "[" + value + "]", '{"a": 1, "a": ' + value + "}"])).encode("utf-8")
    return (text + "\n[extra]\nkey = " + value + "\n").encode("utf-8")


def write_good(root: Path) -> Path:
    """One good pipeline of each tool (trakt, pit, flowrun, ductaflow, loom) under `root`."""
    write_files(root, GOOD)
    write_project(
        root, "anchor_ductaflow", {"flows/clean.py": flow("print('clean')\n"), "config/flows/clean.json": '{"a": 1}'}
    )
    loom_folder(root, "anchor_loom", {"flow.py": ORDERS_FLOW.replace("class Nightly(", "class AnchorLoom(")})
    return root


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """The good pipelines, loaded once first: the first load imports every tool's libraries (seconds on a busy
    machine), which the per-case time bound is not about."""
    root = write_good(tmp_path_factory.mktemp("props"))
    graphs, errors = load_graphs(root)
    assert {g.name for g in graphs} == GOOD_NAMES and not errors, [e.render() for e in errors]
    return root


def victim_folder(root: Path, kind: str, example: Path) -> Path:
    """A fresh copy of an example folder (each case its own path: no module cache can hide a change)."""
    folder = root / kind / f"victim_{next(_counter)}"
    shutil.copytree(example, folder, ignore=shutil.ignore_patterns("outputs", "__pycache__", "runs", "target"))
    return folder


def check_case(root: Path, kind: str, example: Path, name: str, data: bytes) -> None:
    """Load `root` with a fresh copy of `example` whose file `name` holds `data` (the copy is removed after;
    it is made only once the case is drawn, so a case hypothesis abandons leaves nothing behind)."""
    folder = victim_folder(root, kind, example)
    mutated = folder / name
    mutated.write_bytes(data)
    started = time.monotonic()
    try:
        graphs, errors = load_graphs(root)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    elapsed = time.monotonic() - started
    assert elapsed < CASE_SECONDS, f"loading took {elapsed:.1f}s"
    names = {g.name for g in graphs}
    assert names >= GOOD_NAMES, [e.render() for e in errors if e.pipeline in GOOD_NAMES]
    loaded = [g for g in graphs if folder in Path(g.source_file).parents or Path(g.source_file) == mutated]
    named = [e for e in errors if e.location is not None and Path(e.location.file) == mutated]
    no_longer_a_pipeline = mutated.suffix == ".py" and defines_no_pipeline(data)
    assert loaded or named or no_longer_a_pipeline, (data[:300], [e.render() for e in errors])
    for error in named:
        assert len(error.message) <= 2100  # short excerpts, never the whole bad value


TRAKT_EXAMPLES = ["customer_enrichment", "inventory_quality", "web_events_stream", "sales_multi_file"]


@SETTINGS
@given(data=st.data(), example=st.sampled_from(TRAKT_EXAMPLES))
def test_mutated_trakt_yaml(root: Path, data, example: str) -> None:
    source = REPO / "pipelines" / example
    text = (source / "pipeline.yaml").read_text(encoding="utf-8")
    check_case(root, "pipelines", source, "pipeline.yaml", data.draw(text_mutation(text, YAML_VALUES, "yaml")))


@SETTINGS
@given(data=st.data(), example=st.sampled_from(["orders_sdk", "sqlite_reports"]))
def test_mutated_pit_toml(root: Path, data, example: str) -> None:
    source = REPO / "projects" / example
    text = (source / "pit.toml").read_text(encoding="utf-8")
    check_case(root, "projects", source, "pit.toml", data.draw(text_mutation(text, TOML_VALUES, "toml")))


PYTHON_EXAMPLES = [("api_ingest", "dag.py"), ("event_batches", "dag.py"), ("returns_dsl", "flow.py")]


@SETTINGS
@given(data=st.data(), example=st.sampled_from(PYTHON_EXAMPLES))
def test_mutated_python_modules(root: Path, data, example: tuple[str, str]) -> None:
    source = REPO / "pipelines" / example[0]
    text = (source / example[1]).read_text(encoding="utf-8")
    check_case(root, "pipelines", source, example[1], data.draw(text_mutation(text, PYTHON_LINES, "python")))


@settings(SETTINGS, max_examples=40)
@given(data=st.data(), which=st.sampled_from(["pit_config.toml", "secrets.toml"]))
def test_mutated_pit_workspace_files(tmp_path_factory, data, which: str) -> None:
    """A broken workspace file stops the pit projects (each gets the error naming that file), never the
    other tools' pipelines."""
    root = write_good(tmp_path_factory.mktemp("ws"))
    config = 'secrets_dir = "secrets.toml"\nkeep_artifacts = ["logs"]\n'
    secrets = '[global]\ntoken = "t0ken"\n\n[global.db]\nhost = "h"\nuser = "u"\npassword = "p"\n'
    (root / "pit_config.toml").write_text(config)
    (root / "secrets.toml").write_text(secrets)
    text = config if which == "pit_config.toml" else secrets
    mutated = root / which
    mutated.write_bytes(data.draw(text_mutation(text, TOML_VALUES, "toml")))
    started = time.monotonic()
    graphs, errors = load_graphs(root)
    assert time.monotonic() - started < CASE_SECONDS
    names = {g.name for g in graphs}
    assert GOOD_NAMES - {"anchor_pit"} <= names
    if "anchor_pit" not in names:
        pit = [e for e in errors if e.pipeline == "anchor_pit"]
        assert pit and all(e.location is not None for e in pit)
        assert any(Path(e.location.file).name in (which, "secrets.toml") for e in pit), [e.render() for e in pit]


JSON_VALUES = [
    "null",
    "[]",
    "{}",
    '"x"',
    "1" * 5000,
    "1e999",
    "NaN",
    '"\\ud800"',
    "tru",
    '{"a": }',
    '"' + "j" * 20000 + '"',
]


@SETTINGS
@given(data=st.data(), which=st.sampled_from(["config/flows/prepare_demand.json", "flows/prepare_demand.py"]))
def test_mutated_ductaflow_projects(root: Path, data, which: str) -> None:
    """ductaflow: a flow's JSON config and the notebook itself (read statically, never imported at load)."""
    source = REPO / "pipelines" / "demand_scenarios"
    text = (source / which).read_text(encoding="utf-8")
    fmt = "json" if which.endswith(".json") else "python"
    values = JSON_VALUES if fmt == "json" else PYTHON_LINES
    check_case(root, "pipelines", source, which, data.draw(text_mutation(text, values, fmt)))


@SETTINGS
@given(data=st.data(), which=st.sampled_from(["orders_nightly.py", "loom.yaml"]))
def test_mutated_loom_pipelines(root: Path, data, which: str) -> None:
    """loom: the pipeline module (imported) and its runner config (YAML)."""
    source = REPO / "pipelines" / "loom_orders"
    text = (source / which).read_text(encoding="utf-8")
    fmt = "yaml" if which.endswith(".yaml") else "python"
    values = YAML_VALUES if fmt == "yaml" else PYTHON_LINES
    check_case(root, "pipelines", source, which, data.draw(text_mutation(text, values, fmt)))
