"""Atomic file writes: a temp file in the target folder, renamed into place only when complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, make_parents: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target`, on error it is removed.

    The temporary name keeps the target's suffix, so writers that look at it behave the same.

    Readers never see a half-written file and a failed write leaves any older file untouched.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "final.csv"
        >>> with atomic_path(out) as tmp:
        ...     _ = tmp.write_text("id\\n1\\n")
        >>> out.read_text()
        'id\\n1\\n'
    """
    target = Path(target)
    if make_parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


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
