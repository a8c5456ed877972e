"""Start dbt through dagster-dbt's `DbtCliResource`, with extra environment variables and without slow probes.

Shared by `pit.dbt_project` (parsing) and `pit.dbt_run` (running). dbt is the executable installed next to
the running interpreter (the venv's `bin/dbt`); nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliResource
from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation
from packaging import version

# dbt's log text is written to task logs: no ANSI colours.
BASE_ENV = {"DBT_USE_COLORS": "false"}
STOP_GRACE_SECONDS = 3.0

# `DbtCliResource.cli` copies `os.environ` for the child and changes the working directory while it starts
# it, so starts are serialised; the lock is held only until the process exists.
_START_LOCK = threading.Lock()


def installed_version(distribution: str) -> str:
    """The installed version of a Python distribution, or "" when it is not installed.

    Example:
        >>> installed_version("dbt-core").count(".") >= 1, installed_version("no-such-dist-xyz")
        (True, '')
    """
    try:
        return dist_version(distribution)
    except PackageNotFoundError:
        return ""


def dbt_executable() -> str:
    """The `dbt` executable of this environment: next to `sys.executable`, else the one on `PATH`.

    Example:
        >>> Path(dbt_executable()).name.startswith("dbt")
        True
    """
    bin_dir = Path(sys.executable).parent  # not resolved: a venv's python is a symlink
    for name in ("dbt", "dbt.exe"):
        candidate = bin_dir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("dbt") or "dbt"


class PitDbtCli(DbtCliResource):
    """`DbtCliResource` that skips two costly probes made before every command.

    dagster-dbt runs `dbt --version` (~2 s, and a network look-up of the latest release) and loads the dbt
    adapter in-process (~1.5 s) for metadata we do not use. Here the version is the installed dbt-core's and
    no in-process adapter is made. If a dagster-dbt release renames these hooks, the overrides simply stop
    applying and commands get slower, not wrong.

    Example:
        >>> cli = PitDbtCli(project_dir="/path/to/dbt_project", profiles_dir="/tmp/p")  # doctest: +SKIP
        >>> cli.cli(["parse"], target_path=Path("/tmp/t"), raise_on_error=False).wait()  # doctest: +SKIP
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(installed_version("dbt-core") or "1.11.0")

    def _initialize_dbt_core_adapter(self, *args: Any, **kwargs: Any) -> None:
        return None


def make_dbt_cli(project_dir: Path, *, profiles_dir: Path, profile: str | None, target: str | None) -> PitDbtCli:
    """A `PitDbtCli` for a project, profiles folder, profile and target, using `dbt_executable()`.

    Raises `ValueError` (pydantic's) when a folder lacks `dbt_project.yml` / `profiles.yml`.

    Example:
        >>> make_dbt_cli(Path("dbt"), profiles_dir=Path("/tmp/p"), profile="shop", target="prod")  # doctest: +SKIP
    """
    return PitDbtCli(
        project_dir=os.fspath(Path(project_dir).absolute()),
        profiles_dir=os.fspath(Path(profiles_dir).absolute()),
        profile=profile or None,
        target=target or None,
        dbt_executable=dbt_executable(),
    )


@contextlib.contextmanager
def _environ(extra: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def start_dbt(
    cli: DbtCliResource, args: Sequence[str], *, target_path: Path, env: Mapping[str, str] | None = None
) -> DbtCliInvocation:
    """Start `dbt <args>` with `env` added to the child's environment only; returns the running invocation.

    `os.environ` is extended just while dagster-dbt copies it for the child and restored right after.

    Example:
        >>> inv = start_dbt(cli, ["build"], target_path=Path("/tmp/t"), env={"PIT_RUN_ID": "r1"})  # doctest: +SKIP
        >>> events = list(read_events(inv))  # doctest: +SKIP
    """
    extra = {**BASE_ENV, **{str(k): str(v) for k, v in (env or {}).items()}}
    with _START_LOCK, _environ(extra):
        return cli.cli(list(args), raise_on_error=False, target_path=Path(target_path).absolute())


@dataclass(frozen=True)
class DbtLogEvent:
    """One line of dbt's output: a JSON log event (`name`, `level`, `text` = `info.msg`, `data`) or raw text.

    Raw (non-JSON) lines, e.g. a crash before dbt's logging starts, have `name` "" and level "info".

    Example:
        >>> e = DbtLogEvent.from_line('{"info": {"name": "MainEncounteredError", "level": "error", "msg": "boom"}}')
        >>> e.level, e.text, e.is_error, DbtLogEvent.from_line("Traceback ...").is_raw
        ('error', 'boom', True, True)
    """

    name: str
    level: str
    text: str
    data: Mapping[str, Any]

    @classmethod
    def from_line(cls, line: str) -> DbtLogEvent:
        line = line.rstrip("\r\n")
        try:
            raw = json.loads(line)
        except ValueError:
            raw = None
        if not isinstance(raw, dict) or not isinstance(raw.get("info"), dict):
            return cls(name="", level="info", text=line, data={})
        info = raw["info"]
        data = raw.get("data")
        return cls(
            name=str(info.get("name", "")),
            level=str(info.get("level", "info")),
            text=str(info.get("msg", "")),
            data=data if isinstance(data, dict) else {},
        )

    @property
    def is_raw(self) -> bool:
        return not self.name

    @property
    def is_error(self) -> bool:
        # the stack trace that follows an error repeats it, in Python's words
        return self.level == "error" and self.name != "MainStackTrace"

    @property
    def node_info(self) -> Mapping[str, Any]:
        return self.data.get("node_info") or {}


def read_events(invocation: DbtCliInvocation) -> Iterator[DbtLogEvent]:
    """dbt's output lines as events, as they come, until dbt closes its output.

    Read from the process itself rather than `stream_raw_events()`, which echoes every line to stdout:
    dbt quotes profile values in credential errors, and callers mask secrets before anything is logged.

    Example:
        >>> invocation = start_dbt(cli, ["parse"], target_path=Path("/tmp/t"))  # doctest: +SKIP
        >>> errors = [e.text for e in read_events(invocation) if e.is_error]  # doctest: +SKIP
    """
    stream = invocation.process.stdout
    if stream is None:
        return
    with stream:
        for raw_line in stream:
            yield DbtLogEvent.from_line(raw_line.decode("utf-8", errors="replace"))


def error_text(messages: Sequence[str]) -> str:
    """dbt's error messages as one text: the "Encountered an error:" prefix dropped, duplicates removed.

    Example:
        >>> error_text(["Encountered an error:\\nCompilation Error in model x (models/x.sql)", "Done."])
        'Compilation Error in model x (models/x.sql)\\nDone.'
    """
    seen: list[str] = []
    for message in messages:
        text = re.sub(r"^Encountered an error:\s*", "", message.strip())
        if text and text not in seen:
            seen.append(text)
    return "\n".join(seen)


def stop_dbt(process: subprocess.Popen[bytes], grace: float = STOP_GRACE_SECONDS) -> bool:
    """Stop a dbt process: SIGINT (dbt cancels its open queries), then terminate, then kill, `grace` apart.

    Returns True if it was still running. Returns once it exited.

    Example:
        >>> p = subprocess.Popen(["sleep", "30"])
        >>> stop_dbt(p, grace=1.0), p.poll() is not None
        (True, True)
    """
    if process.poll() is not None:
        return False
    steps = [process.terminate, process.kill]
    if os.name == "posix":
        steps.insert(0, lambda: process.send_signal(signal.SIGINT))
    for step in steps:
        try:
            step()
            process.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            break
    return True
