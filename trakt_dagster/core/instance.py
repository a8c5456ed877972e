"""Prepare a Dagster instance folder (`DAGSTER_HOME`) once, before anything concurrent touches it.

Several processes opening a brand-new SQLite instance at the same moment each create its tables and
stamp its schema version, which can leave it with two schema heads and every later run failing (a known
Dagster race). `prepare_dagster_home` creates and migrates the instance under a file lock the first
time, then leaves a marker naming the Dagster version, so later calls cost one small file read.
`make run`, the command line and the tests call it before they start runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
from collections.abc import Iterator
from pathlib import Path

MARKER = ".trakt-dagster-instance"
LOCK = ".trakt-dagster-instance.lock"


def _version() -> str:
    from dagster.version import __version__

    return __version__


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_dagster_home(home: str | os.PathLike[str] | None = None) -> Path:
    """Create (if needed) and migrate the instance in `home` (default `$DAGSTER_HOME`) exactly once.

    Safe to call from many processes at once: one prepares the instance, the others wait for it.
    Returns the folder.

    Example:
        >>> import tempfile
        >>> home = prepare_dagster_home(tempfile.mkdtemp())
        >>> (home / ".trakt-dagster-instance").is_file()
        True
    """
    folder = Path(home or os.environ["DAGSTER_HOME"]).expanduser().resolve()
    marker = folder / MARKER
    version = _version()
    if _marked(marker, version):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / LOCK):
        if _marked(marker, version):
            return folder
        from dagster import DagsterInstance

        # the storages print their progress; a command's own output stays clean
        with contextlib.redirect_stdout(io.StringIO()), DagsterInstance.from_config(str(folder)) as instance:
            instance.upgrade(print_fn=lambda *args, **kwargs: None)
        marker.write_text(version + "\n", encoding="utf-8")
    return folder


def _marked(marker: Path, version: str) -> bool:
    try:
        return marker.read_text(encoding="utf-8").strip() == version
    except OSError:
        return False
