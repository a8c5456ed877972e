"""Faults around files: killed atomic writes, file modes, secrets in serialised text, secrets in snapshots."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyrage
import pytest
from click.testing import CliRunner

from tests.conftest import REPO, run_trakt, write_files
from tests.pit.conftest import run_pit, workspace
from trakt_dagster.cli import main as cli
from trakt_dagster.core.atomic import atomic_path, atomic_write_text
from trakt_dagster.ductaflow.compat.ductaflow._logfile import atomic_write as notebook_write
from trakt_dagster.trakt.csv_io import resolve_input_paths


@contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


WRITER = """
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from trakt_dagster.core.atomic import atomic_path

with atomic_path(Path({target!r})) as tmp, open(tmp, "w") as fh:
    fh.write("id,amount\\n99,")  # half a file
    fh.flush()
    print("writing", flush=True)
    sys.stdin.readline()  # until told to go on (or killed)
    fh.write("1\\n")
print("done", flush=True)
"""


def start_writer(target: Path) -> subprocess.Popen[str]:
    """A real process half-way through an atomic write of `target` (it says `writing`, then waits)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER.format(repo=str(REPO), target=str(target))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
    return proc


def test_a_killed_write_is_never_read_as_input_and_is_cleaned_up(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_files(folder, {"part1.csv": "id,amount\n1,10\n"})
    live = start_writer(folder / "part3.csv")  # a write still going on, in another process
    killed = start_writer(folder / "part2.csv")
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    try:
        leftovers = [p for p in folder.iterdir() if p.name.startswith(".")]
        assert len(leftovers) == 2  # both half-written files are still there, hidden
        # trakt's own rules (directory, globs, recursive globs) see only the complete file
        for uri in ("in", "in/*.csv", "in/**/*.csv", "**/*.csv"):
            found = resolve_input_paths("src", uri, tmp_path, ".csv")
            assert [p.name for p in found] == ["part1.csv"], uri
        assert [Path(p).name for p in glob.glob(str(folder / "*.csv"))] == ["part1.csv"]
        # the next atomic write into the folder removes what the killed writer left, not the live one's
        atomic_write_text(folder / "part4.csv", "id,amount\n4,40\n")
        hidden = sorted(p.name for p in folder.iterdir() if p.name.startswith("."))
        assert len(hidden) == 1 and hidden[0].startswith(".part3.csv.")
        assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == ["part1.csv", "part4.csv"]
        assert live.stdin is not None
        live.stdin.write("go\n")
        live.stdin.flush()
        assert live.stdout is not None and live.stdout.readline() == "done\n"
        assert (folder / "part3.csv").read_text() == "id,amount\n99,1\n"
    finally:
        live.kill()
        live.wait(timeout=60)
    assert sorted(p.name for p in folder.iterdir()) == ["part1.csv", "part3.csv", "part4.csv"]


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_atomic_files_get_the_mode_an_ordinary_write_gives(tmp_path: Path, mask: int, expected: int) -> None:
    with umask(mask):
        atomic_write_text(tmp_path / "a.json", "{}")
        with atomic_path(tmp_path / "b.csv") as tmp:
            tmp.write_text("x\n")
        with atomic_path(tmp_path / "profiles.yml", mode=0o600) as tmp:  # explicit mode: exactly that
            tmp.write_text("secret: x\n")
        (tmp_path / "plain.txt").write_text("ordinary write")
        notebook_write(tmp_path / "flow.ipynb", "{}")  # ductaflow's own atomic writes
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {
        "a.json": expected,
        "b.csv": expected,
        "profiles.yml": 0o600,
        "plain.txt": expected,
        "flow.ipynb": expected,
    }


def test_trakt_and_pit_outputs_and_manifests_get_the_umask_mode(tmp_path: Path, instance) -> None:
    trakt_dir = write_files(
        tmp_path / "trakt",
        {
            "records.csv": "id,amount\n1,10\n",
            "pipeline.yaml": "name: modes\ninputs: {src: records.csv}\noutputs: {copy: src}\n",
        },
    )
    pit_root = workspace(
        tmp_path / "pit",
        {
            "pit_config.toml": 'secrets_dir = "secrets.toml"\n',
            "secrets.toml": '[modes]\ndb = "sqlite:///warehouse/w.sqlite"\n',
            "projects/modes/pit.toml": """
                [[tasks]]
                name = "write"
                script = "write.py"
                [[tasks]]
                name = "save"
                type = "save"
                script = "query.sql"
                output = "saved.parquet"
                connection = "db"
            """,
            "projects/modes/write.py": """
                import pandas as pd
                from pit_sdk import write_output

                write_output("written", pd.DataFrame({"id": [1]}))
            """,
            "projects/modes/query.sql": "select 1 as id\n",
        },
    )
    with umask(0o027):
        trakt = run_trakt(trakt_dir / "pipeline.yaml", instance)
        pit = run_pit(pit_root, "modes", instance)
    assert trakt.success and pit.success, pit.report
    run_manifest = trakt.runs_dir / "modes" / trakt.result.run_id / "manifest.json"
    files = [
        trakt.output_dir / "copy.csv",
        trakt.output_dir / "manifest.json",
        run_manifest,
        pit.folder / "manifest.json",
        pit.folder / "data" / "written.parquet",
        pit.folder / "data" / "saved.parquet",
    ]
    assert {str(f): oct(f.stat().st_mode & 0o777) for f in files} == {str(f): "0o640" for f in files}
    hidden = [p for f in files for p in f.parent.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]
    assert hidden == []


SECRET = 'pä"ss\\wörd-€42'
"""A secret with non-ASCII characters, a quote and a backslash: JSON and repr() escape all of them."""


def forms_of(secret: str) -> list[str]:
    """How a secret can show up in serialised text: raw, JSON-escaped (ASCII or not), repr()-escaped."""
    return [secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], repr(secret)[1:-1]]


def test_escaped_forms_of_a_secret_cover_json_and_repr() -> None:
    from trakt_dagster.core.redact import Redactor, escaped_forms

    forms = escaped_forms(SECRET)
    assert Redactor([SECRET]).text(" ".join(forms_of(SECRET))) == "*** *** *** ***"
    assert SECRET in forms
    assert json.dumps(SECRET)[1:-1] in forms and json.dumps(SECRET, ensure_ascii=False)[1:-1] in forms
    assert repr(SECRET)[1:-1] in forms


def leaks(data: bytes) -> list[str]:
    """The forms of SECRET found in `data` (raw UTF-8, JSON-escaped ASCII or not, repr-escaped)."""
    return [form for form in forms_of(SECRET) if form.encode("utf-8") in data]


def test_secrets_with_quotes_backslashes_and_non_ascii_appear_nowhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml_value = SECRET.replace("\\", "\\\\").replace('"', '\\"')
    root = workspace(
        tmp_path / "ws",
        {
            "pit_config.toml": 'secrets_dir = "../secrets.toml"\n',
            "projects/leaky/pit.toml": """
                [[tasks]]
                name = "talk"
                script = "talk.py"
                [[tasks]]
                name = "fail"
                script = "fail.py"
                depends_on = ["talk"]
            """,
            "projects/leaky/talk.py": """
                import json
                from pit_sdk import get_secret

                token = get_secret("api_token")
                print("raw:", token)
                print("json:", json.dumps({"token": token}))
                print("ascii json:", json.dumps({"token": token}, ensure_ascii=False))
                print("repr:", repr(token))
            """,
            "projects/leaky/fail.py": """
                from pit_sdk import get_secret

                raise RuntimeError({"token": get_secret("api_token")})  # its repr in the error text
            """,
        },
    )
    (tmp_path / "secrets.toml").write_text(f'[leaky]\napi_token = "{toml_value}"\n', encoding="utf-8")
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("TRAKT_DAGSTER_RUNS_DIR", str(root / "runs"))
    result = CliRunner().invoke(cli, ["pit", "run", "leaky", "--root", str(root)], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    runs = list((root / "runs").rglob("manifest.json"))
    assert len(runs) == 1
    manifest = json.loads(runs[0].read_text())
    # the failure in pit's words (the runner and exit status); the traceback is in the task's log, masked
    assert manifest["pit"]["tasks"]["fail"]["error"].endswith("fail.py: exit status 1")
    fail_log = (runs[0].parent / "logs" / "fail.log").read_text()
    assert "RuntimeError" in fail_log and "***" in fail_log
    assert "raw: ***" in (runs[0].parent / "logs" / "talk.log").read_text()
    found = {}
    for folder in (root / "runs", home):
        for path in folder.rglob("*"):
            if path.is_file() and leaks(path.read_bytes()):
                found[str(path)] = leaks(path.read_bytes())
    assert found == {}
    assert leaks(result.output.encode()) == []


def test_secrets_file_and_age_key_inside_a_project_are_never_snapshotted(tmp_path: Path, instance) -> None:
    identity = pyrage.x25519.Identity.generate()
    root = workspace(
        tmp_path,
        {
            "pit_config.toml": 'secrets_dir = "projects/inside/secrets.toml"\n',
            "projects/inside/pit.toml": '[[tasks]]\nname = "t"\nscript = "t.py"\n',
            "projects/inside/t.py": 'from pit_sdk import get_secret\nprint(len(get_secret("k")))\n',
            "projects/inside/secrets.toml": '[inside]\nk = "plain-secret-in-the-project-77"\n',
            "projects/inside/keys/age-key.txt": f"# created: 2026-01-01\n{identity}\n",
            "projects/inside/notes.md": "source files are copied\n",
        },
    )
    run = run_pit(root, "inside", instance)
    assert run.success, run.report
    snapshot = run.folder / "project"
    assert sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if p.is_file()) == [
        "notes.md",
        "pit.toml",
        "t.py",
    ]
    texts = [p.read_bytes() for p in run.folder.rglob("*") if p.is_file()]
    assert not any(b"plain-secret-in-the-project-77" in t or b"AGE-SECRET-KEY" in t for t in texts)


def test_a_project_snapshot_also_skips_an_encrypted_secrets_file_and_its_key(tmp_path: Path, instance, monkeypatch):
    identity = pyrage.x25519.Identity.generate()
    root = workspace(
        tmp_path,
        {
            "pit_config.toml": 'secrets_dir = "projects/enc/secrets.toml.age"\n',
            "projects/enc/pit.toml": '[[tasks]]\nname = "t"\nscript = "t.sh"\n',
            "projects/enc/t.sh": "echo ok\n",
            "projects/enc/identity.txt": f"{identity}\n",
        },
    )
    secrets = textwrap.dedent('[enc]\nk = "value-77"\n').encode()
    (root / "projects/enc/secrets.toml.age").write_bytes(pyrage.encrypt(secrets, [identity.to_public()]))
    monkeypatch.setenv("PIT_AGE_KEY_FILE", str(root / "projects/enc/identity.txt"))
    run = run_pit(root, "enc", instance)
    assert run.success, run.report
    assert sorted(p.name for p in (run.folder / "project").iterdir()) == ["pit.toml", "t.sh"]
