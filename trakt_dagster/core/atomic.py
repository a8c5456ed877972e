"""Atomic file writes: the file is written in a hidden staging folder (or, for files only this project writes
and reads, a hidden staging file) beside the target and renamed into place only when complete.

The staging folder is named `.<target name>.<host>-<pid>-<token>.tmp`, so a folder listing or a glob
for the target's suffix (`*.csv`, `**/*.csv`) never sees a half-written file as data, while the file
inside keeps the target's exact name for writers that look at its suffix (compression, formats).
Files get the mode an ordinary write gives (the umask applies). Staging folders left behind by killed
writers are removed by a later atomic write into the same folder (each process looks at a folder at most
once a minute): those of processes of this host that no longer run, those of other hosts after a day.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

STAGING_SUFFIX = ".tmp"
FOREIGN_STALE_AFTER_S = 24 * 3600.0
"""Staging folders of other hosts (a shared file system) count as stale after this long."""
SWEEP_EVERY_S = 60.0
"""How often one process looks for stale staging folders in a folder it writes to."""
_SWEPT: dict[str, float] = {}
_SWEPT_LOCK = threading.Lock()

_STAGING = re.compile(r"^\..+\.(?P<host>[0-9a-f]{6})-(?P<pid>\d+)-[0-9a-f]{8}\.tmp$")


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


HOST_TAG = _host_tag()


def is_staging_name(name: str) -> bool:
    """Whether a file or folder name is an atomic write's staging folder.

    Example:
        >>> is_staging_name(".orders.csv.a1b2c3-42-0011aabb.tmp"), is_staging_name("orders.csv")
        (True, False)
    """
    return bool(_STAGING.match(name))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(folder: str | os.PathLike[str], *, now: float | None = None) -> list[str]:
    """Remove the staging folders of writes that can no longer finish (their process is gone).

    Returns the names removed. Writes still going on (a live process of this host) are never touched.

    Example:
        >>> import tempfile
        >>> remove_stale_staging(tempfile.mkdtemp())
        []
    """
    removed: list[str] = []
    now = time.time() if now is None else now
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not name.startswith(".") or STAGING_SUFFIX not in name:
            continue
        match = _STAGING.match(name)
        if match is None or entry.is_symlink():
            continue
        if match["host"] == HOST_TAG:
            stale = int(match["pid"]) != os.getpid() and not _alive(int(match["pid"]))
        else:
            try:
                stale = now - entry.stat(follow_symlinks=False).st_mtime > FOREIGN_STALE_AFTER_S
            except OSError:
                continue
        if stale:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:  # a staging file (`atomic_replace_text`)
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
            removed.append(name)
    return removed


@contextlib.contextmanager
def atomic_path(
    target: str | os.PathLike[str], *, make_parents: bool = True, mode: int | None = None
) -> Iterator[Path]:
    """Yield a temporary path for `target`; on success it replaces `target`, on error it is removed.

    The temporary file has the target's own name, inside a hidden staging folder beside it. It does not
    exist yet: the writer creates it (with the umask applied), unless `mode` is given, in which case it
    is created empty with exactly that mode (e.g. `0o600` for files holding credentials).

    Readers never see a half-written file and a failed write leaves any older file untouched.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "final.csv"
        >>> with atomic_path(out) as tmp:
        ...     _ = tmp.write_text("id\\n1\\n")
        >>> out.read_text(), sorted(p.name for p in out.parent.iterdir())
        ('id\\n1\\n', ['final.csv'])
    """
    target = Path(target)
    if make_parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    _sweep(target.parent)
    staging = _make_staging(target)
    tmp = staging / target.name
    try:
        if mode is not None:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode))
            os.chmod(tmp, mode)
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        os.rmdir(staging)
    except OSError:  # the writer left something else in it
        shutil.rmtree(staging, ignore_errors=True)


def _sweep(folder: Path) -> None:
    """`remove_stale_staging(folder)`, at most once every `SWEEP_EVERY_S` per folder in this process."""
    key, now = str(folder), time.monotonic()
    with _SWEPT_LOCK:
        if now - _SWEPT.get(key, -SWEEP_EVERY_S) < SWEEP_EVERY_S:
            return
        _SWEPT[key] = now
        if len(_SWEPT) > 10_000:
            _SWEPT.clear()
    remove_stale_staging(folder)


def _make_staging(target: Path) -> Path:
    for _ in range(100):
        staging = _staging_name(target)
        try:
            staging.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return staging
    raise FileExistsError(f"cannot create a staging folder beside {target}")


def atomic_replace_text(
    target: str | os.PathLike[str],
    text: str,
    encoding: str = "utf-8",
    *,
    copies: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """Write `text` to `target` (and to each of `copies`) atomically through a staging *file* beside it.

    For files this project writes often and reads back itself (a running manifest, rewritten as tasks start
    and end): no writer needs the target's exact name inside the staging path, so the staging folder of
    `atomic_path` (two more directory operations per write) is not needed. The staging file has the same
    hidden `.<name>.<host>-<pid>-<token>.tmp` name, so globs for the target's suffix never see it, and a
    killed writer's leftover is removed like a staging folder. A missing parent folder is created. A copy on
    the same file system is a hard link to the staging file, renamed into place like the target (the text
    is written once); each copy is replaced atomically, one after the other.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "manifest.json"
        >>> atomic_replace_text(p, "{}\\n", copies=[p.parent / "out" / "manifest.json"])
        >>> p.read_text(), sorted(str(q.relative_to(p.parent)) for q in p.parent.rglob("*"))
        ('{}\\n', ['manifest.json', 'out', 'out/manifest.json'])
    """
    _replace_through_staging(Path(target), text, encoding, copies)


def _replace_through_staging(
    target: Path, content: str | bytes, encoding: str | None, copies: Iterable[str | os.PathLike[str]] = ()
) -> None:
    """`atomic_replace_text` (`content` as text) or `atomic_replace_bytes` (`content` as bytes)."""
    finals = [target, *map(Path, copies)]
    staged = [_staged_file(target, content, encoding)]
    try:
        for copy in finals[1:]:
            linked = _staging_name(copy)
            try:
                os.link(staged[0], linked)
            except FileNotFoundError:
                copy.parent.mkdir(parents=True, exist_ok=True)
                os.link(staged[0], linked)
            except OSError:  # another file system (or no hard links): write it
                linked = _staged_file(copy, content, encoding)
            staged.append(linked)
        for tmp, final in zip(staged, finals, strict=True):
            os.replace(tmp, final)
    except BaseException:
        for tmp in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise


def _staging_name(target: Path) -> Path:
    return target.parent / f".{target.name}.{HOST_TAG}-{os.getpid()}-{secrets.token_hex(4)}{STAGING_SUFFIX}"


def _staged_file(target: Path, text: str | bytes, encoding: str | None) -> Path:
    """`text` (or bytes) in a new staging file beside `target` (its folder created if missing)."""
    _sweep(target.parent)
    tmp = _staging_name(target)
    mode = "xb" if isinstance(text, bytes) else "x"
    try:
        handle = open(tmp, mode, encoding=encoding)  # noqa: SIM115 - closed below
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = open(tmp, mode, encoding=encoding)  # noqa: SIM115 - closed below
    try:
        with handle:
            handle.write(text)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def atomic_replace_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `target` atomically through a staging file beside it (as `atomic_replace_text`), for
    files only this project reads (a cache entry). A missing parent folder is created.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "cache" / "entry"
        >>> atomic_replace_bytes(p, b"entry"); p.read_bytes()
        b'entry'
    """
    _replace_through_staging(Path(target), data, None)


def atomic_write_text(target: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write `text` to `target` atomically.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.json"
        >>> atomic_write_text(p, "{}\\n"); p.read_text()
        '{}\\n'
    """
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding=encoding)
