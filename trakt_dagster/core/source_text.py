"""Descriptions written in the sources themselves: a module's docstring, a script's or file's leading comment."""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

COMMENT_MARKS = {".sql": "--", ".lua": "--"}
"""Line-comment marker by file suffix (default `#`: Python, shell, YAML, TOML, R)."""
MAX_BYTES = 200_000
"""Larger files are not read for a description."""


def docstring_of(path: Path) -> str | None:
    """The module docstring of a Python file (None when it has none or does not parse).

    Example:
        >>> # docstring_of(Path("steps/clean.py")) -> "Drop duplicate orders ..."
    """
    text = _read(path)
    if text is None:
        return None
    try:
        doc = ast.get_docstring(ast.parse(text))
    except (SyntaxError, ValueError):
        return None
    return doc.strip() or None if doc else None


def leading_comment(path: Path) -> str | None:
    """The comment block a file starts with (after a `#!` line and blank lines), markers removed.

    Example:
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp()) / "t.sh"
        >>> _ = f.write_text("#!/bin/sh\\n# Copy the drop folder.\\n# Fails when it is empty.\\nset -e\\n")
        >>> leading_comment(f)
        'Copy the drop folder.\\nFails when it is empty.'
    """
    text = _read(path)
    return leading_comment_of(text, path.suffix) if text is not None else None


def leading_comment_of(text: str, suffix: str) -> str | None:
    """`leading_comment` of a file's text already read (`suffix`: the file's, which chooses the comment mark).

    Example:
        >>> leading_comment_of("-- Daily totals.\\nselect 1\\n", ".sql")
        'Daily totals.'
    """
    mark = COMMENT_MARKS.get(suffix.lower(), "#")
    lines: list[str] = []
    for index, line in enumerate(text.splitlines()):
        stripped = line.strip()
        if index == 0 and stripped.startswith("#!"):
            continue
        if not stripped and not lines:
            continue
        if not stripped.startswith(mark):
            break
        body = stripped[len(mark) :]
        if body.startswith(mark[-1]) and mark == "#":  # `##` banners
            body = body.lstrip("#")
        lines.append(body[1:] if body.startswith(" ") else body)
    found = "\n".join(lines).strip()
    if found.lower().startswith(("-*-", "vim:", "noqa", "type:", "pyright:", "ruff:")):
        return None
    return found or None


def source_description(path: Path) -> str | None:
    """What a source file says about itself: a Python module's docstring, else its leading comment.

    Example:
        >>> # source_description(Path("tasks/fetch_orders.py")) -> "Fetch the day's orders ..."
    """
    if path.suffix == ".py":
        return docstring_of(path) or leading_comment(path)
    return leading_comment(path)


def _read(path: Path) -> str | None:
    try:
        found = os.stat(path)
        if not stat.S_ISREG(found.st_mode) or found.st_size > MAX_BYTES:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
